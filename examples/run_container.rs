//! A container created, started and waited for through burrow's library:
//! what a front end (compose, kube play, the API socket) does, in a few
//! lines.
//!
//! `cargo run --example run_container -- IMAGE [COMMAND...]` prints the
//! command's output and exits with its exit code. Run it as the
//! unprivileged user whose store holds IMAGE (or can pull it).

use burrow::engine::{Attach, ContainerRequest, Engine, PullPolicy};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(image) = args.next() else {
        eprintln!("usage: run_container IMAGE [COMMAND...]");
        std::process::exit(2);
    };
    let command: Vec<String> = args.collect();
    let code = match run(&image, command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

fn run(image: &str, command: Vec<String>) -> Result<i32, burrow::engine::EngineError> {
    // The engine forks into the user namespace: no thread may start before.
    let engine = Engine::open(None, None)?.on_warning(|w| eprintln!("WARN: {w}"));
    let request = ContainerRequest::builder(image)
        .pull(PullPolicy::Never)
        .command(command)
        .auto_remove(true)
        .network("none")?
        .build()?;
    let created = engine.create(&request, &|| Box::new(burrow::image::pull::Quiet))?;
    Ok(engine.start(created, Attach::Foreground)?.exit_code())
}
