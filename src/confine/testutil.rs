//! Confinement is irreversible for the process that applies it, and the test
//! harness is multithreaded, so each check re-runs one ignored helper test of
//! this binary as a fresh single-threaded child process.

use std::process::Command;

/// Env var that tells an ignored helper it was started by [`run_helper`].
pub const HELPER_ENV: &str = "BURROW_CONFINE_HELPER";

/// Runs the ignored test `name` in a child, optionally under
/// `unshare --user --map-root-user` so capabilities can be dropped without
/// depending on the caller being root. Panics with the child's output if it
/// failed.
pub fn run_helper(name: &str, in_userns: bool, env: &[(&str, String)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = if in_userns {
        let mut c = Command::new("unshare");
        c.args(["--user", "--map-root-user"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--test-threads=1",
        "--nocapture",
    ])
    .env(HELPER_ENV, "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "helper {name} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// True when running as a helper child; ignored helpers return early
/// otherwise (e.g. under `cargo test -- --ignored`).
pub fn is_helper() -> bool {
    std::env::var_os(HELPER_ENV).is_some()
}

/// A field of /proc/thread-self/status, e.g. "CapEff".
pub fn status_field(name: &str) -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {name} in /proc/thread-self/status"))
        .trim()
        .to_string()
}
