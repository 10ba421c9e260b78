//! `burrow stop`, `burrow kill` and `burrow wait`.

use burrow::runtime::{ContainerRecord, ContainerStore};
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u64>,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGTERM, USR1, ...) or a number
    #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
    pub signal: String,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

fn parse_signal(s: &str) -> anyhow::Result<i32> {
    Ok(burrow::runtime::lifecycle::parse_signal(s)?)
}

fn lookup(containers: &ContainerStore, q: &str, code: &mut i32) -> Option<ContainerRecord> {
    match containers.find(q) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("Error: {e}");
            *code = (*code).max(125);
            None
        }
    }
}

pub fn stop(ctx: &Engine, args: &StopArgs) -> anyhow::Result<i32> {
    let containers = ctx.containers()?;
    let mut code = 0;
    for q in &args.containers {
        let Some(c) = lookup(&containers, q, &mut code) else {
            continue;
        };
        ctx.stop(&containers, &c, args.time);
        println!("{q}");
    }
    Ok(code)
}

pub fn kill(ctx: &Engine, args: &KillArgs) -> anyhow::Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let containers = ctx.containers()?;
    let mut code = 0;
    for q in &args.containers {
        let Some(c) = lookup(&containers, q, &mut code) else {
            continue;
        };
        match ctx.kill(&c, signal) {
            Ok(()) => println!("{q}"),
            Err(e) => code = code.max(super::report(&e.into())),
        }
    }
    Ok(code)
}

pub fn wait(ctx: &Engine, args: &WaitArgs) -> anyhow::Result<i32> {
    let containers = ctx.containers()?;
    let mut code = 0;
    for q in &args.containers {
        let Some(c) = lookup(&containers, q, &mut code) else {
            continue;
        };
        // -1, as Podman prints, when the end was never recorded.
        println!("{}", ctx.wait(&containers, &c).unwrap_or(-1));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("USR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert!(
            parse_signal("NOPE")
                .unwrap_err()
                .to_string()
                .contains("invalid signal")
        );
        assert!(parse_signal("64").is_err());
    }
}
