//! The engine as a library: `examples/run_container.rs` creates, starts
//! and waits for a container through `burrow::engine` alone, as compose,
//! kube play and the API socket will. Run here as the unprivileged test
//! user against a store the CLI pulled into.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{Burrow, busybox_image, stderr, stdout};

/// The example's executable, built as a program by `cargo build
/// --examples` (tests/run.sh does; `cargo test --all-targets` builds it
/// only as a test harness): `target/<profile>/examples/` beside this
/// test's `deps/`.
fn example_exe() -> PathBuf {
    let me = std::env::current_exe().expect("test executable path");
    let profile_dir = me
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let exe = profile_dir.join("examples").join("run_container");
    assert!(
        exe.is_file(),
        "{} is missing: build the examples (cargo build --examples)",
        exe.display()
    );
    exe
}

/// The example with this store's environment.
fn run_example(b: &Burrow, args: &[&str]) -> Output {
    let template = b.cmd::<&str>(&[]);
    let mut cmd = Command::new(example_exe());
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn the example")
}

#[test]
fn the_example_runs_a_container_through_the_library() {
    let (_reg, b, img) = common::pulled("test/engine", &busybox_image(|i| i));

    let out = run_example(&b, &[&img, "echo", "hello from the library"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from the library\n");

    // The command's own exit code, and the engine's for a missing command.
    let out = run_example(&b, &[&img, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let out = run_example(&b, &[&img, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-command"), "{}", stderr(&out));

    // An image the store lacks, with pulls refused: a typed engine error.
    let out = run_example(&b, &["localhost:1/absent:latest", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("image not known"), "{}", stderr(&out));

    // The request asked for removal at exit: nothing is left.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}
