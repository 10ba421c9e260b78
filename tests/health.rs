//! Healthchecks run by the container's monitor (no daemon, no systemd
//! timer): states by Docker's rules, `healthcheck run`, `ps` and `wait
//! --condition`, `--health-on-failure`, the image's HEALTHCHECK, and bad
//! input. As the unprivileged user, against the real kernel.

mod common;

use std::fs;

use common::{Burrow, Registry, Wait, busybox_image, stderr, stdout};
use serde_json::Value;

fn pulled() -> (Registry, Burrow, String) {
    common::pulled("test/health", &busybox_image(|i| i))
}

/// `run -d --network none --name NAME OPTS IMG sleep 300`.
fn run_d(b: &Burrow, name: &str, opts: &[&str], img: &str) {
    let mut args = vec!["run", "-d", "--network", "none", "--name", name];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[img, "sleep", "300"]);
    b.ok(&args);
}

fn health(b: &Burrow, name: &str) -> Value {
    b.inspect_container(name)["State"]["Health"].clone()
}

fn health_status(b: &Burrow, name: &str) -> String {
    health(b, name)["Status"].as_str().unwrap_or("").to_string()
}

/// Waits (generously: the machine may be busy) until NAME's health is
/// `want`, failing with what inspect shows.
fn expect_health(b: &Burrow, name: &str, want: &str) {
    let ok = Wait::secs(60)
        .every_ms(100)
        .until(|| health_status(b, name) == want);
    assert!(ok, "{name} never became {want}: {}", health(b, name));
}

fn ps_status(b: &Burrow, name: &str) -> String {
    b.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ])
    .trim()
    .to_string()
}

fn names_with(b: &Burrow, filter: &str) -> Vec<String> {
    b.ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn healthcheck_run_ps_and_filters() {
    let (_reg, b, img) = pulled();
    // No scheduled check within the test: only `healthcheck run` checks.
    run_d(
        &b,
        "manual",
        &["--health-cmd", "cat /tmp/ok", "--health-interval", "1h"],
        &img,
    );
    run_d(&b, "plain", &[], &img);
    assert_eq!(health_status(&b, "manual"), "starting");
    assert!(ps_status(&b, "manual").ends_with("(health: starting)"));
    assert!(ps_status(&b, "plain").starts_with("Up "));
    assert!(!ps_status(&b, "plain").contains('('));
    assert_eq!(names_with(&b, "health=starting"), vec!["manual"]);
    assert_eq!(names_with(&b, "health=none"), vec!["plain"]);
    assert!(b.inspect_container("plain")["State"]["Health"].is_null());

    // A failed check: exit 1, the status printed, logged with its output.
    let out = b.run(&["healthcheck", "run", "manual"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "starting");
    let h = health(&b, "manual");
    assert_eq!(h["FailingStreak"], 1, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1, "{h}");
    assert!(
        h["Log"][0]["Output"].as_str().unwrap().contains("/tmp/ok"),
        "{h}"
    );

    b.ok(&["exec", "manual", "sh", "-c", "echo fine > /tmp/ok"]);
    let out = b.run(&["healthcheck", "run", "manual"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(health_status(&b, "manual"), "healthy");
    let h = health(&b, "manual");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    assert_eq!(h["Log"][1]["ExitCode"], 0, "{h}");
    assert_eq!(h["Log"][1]["Output"], "fine\n", "{h}");
    assert!(ps_status(&b, "manual").ends_with("(healthy)"));
    assert_eq!(names_with(&b, "health=healthy"), vec!["manual"]);
    assert!(names_with(&b, "health=unhealthy").is_empty());

    // Three failures (the default retries): unhealthy.
    b.ok(&["exec", "manual", "rm", "/tmp/ok"]);
    for _ in 0..2 {
        let out = b.run(&["healthcheck", "run", "manual"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stdout(&out).trim(), "healthy");
    }
    let out = b.run(&["healthcheck", "run", "manual"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), "unhealthy");
    assert!(ps_status(&b, "manual").ends_with("(unhealthy)"));
    assert_eq!(names_with(&b, "health=unhealthy"), vec!["manual"]);
    // Five results kept.
    for _ in 0..3 {
        b.run(&["healthcheck", "run", "manual"]);
    }
    assert_eq!(health(&b, "manual")["Log"].as_array().unwrap().len(), 5);

    // No check: Podman's words, 125, one line.
    let out = b.run(&["healthcheck", "run", "plain"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("has no defined healthcheck"), "{err}");
    // Not running: 125.
    b.ok(&["stop", "-t", "0", "manual"]);
    let out = b.run(&["healthcheck", "run", "manual"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    b.ok(&["rm", "-f", "plain"]);
}

#[test]
fn scheduled_checks_turn_healthy_then_unhealthy_after_the_retries() {
    let (_reg, b, img) = pulled();
    run_d(
        &b,
        "sched",
        &[
            "--health-cmd",
            "test ! -e /tmp/bad",
            "--health-interval",
            "200ms",
            "--health-retries",
            "3",
        ],
        &img,
    );
    expect_health(&b, "sched", "healthy");
    b.ok(&["exec", "sched", "touch", "/tmp/bad"]);
    // Never unhealthy before three failures in a row.
    let ok = Wait::secs(60).every_ms(50).until(|| {
        let h = health(&b, "sched");
        if h["Status"] == "unhealthy" {
            assert!(h["FailingStreak"].as_u64().unwrap() >= 3, "{h}");
            let log = h["Log"].as_array().unwrap();
            assert!(log.len() <= 5);
            assert!(
                log[log.len() - 3..].iter().all(|e| e["ExitCode"] == 1),
                "{h}"
            );
            true
        } else {
            false
        }
    });
    assert!(ok, "never unhealthy: {}", health(&b, "sched"));
    // It recovers with a success.
    b.ok(&["exec", "sched", "rm", "/tmp/bad"]);
    expect_health(&b, "sched", "healthy");
    b.ok(&["rm", "-f", "sched"]);
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    let (_reg, b, img) = pulled();
    let check = [
        "--health-cmd",
        "test ! -e /tmp/bad",
        "--health-retries",
        "1",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "200ms",
        "--health-interval",
        "200ms",
    ];
    let mut failing = vec![];
    failing.extend_from_slice(&check);
    failing[1] = "false";
    run_d(&b, "grace", &failing, &img);
    let logged = Wait::secs(60).every_ms(100).until(|| {
        health(&b, "grace")["Log"]
            .as_array()
            .is_some_and(|l| l.len() >= 3)
    });
    assert!(logged, "{}", health(&b, "grace"));
    let h = health(&b, "grace");
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");

    // A success ends the start period: the next failure counts.
    run_d(&b, "ended", &check, &img);
    expect_health(&b, "ended", "healthy");
    b.ok(&["exec", "ended", "touch", "/tmp/bad"]);
    expect_health(&b, "ended", "unhealthy");
    b.ok(&["rm", "-f", "grace", "ended"]);
}

#[test]
fn wait_condition_healthy() {
    let (_reg, b, img) = pulled();
    run_d(
        &b,
        "waited",
        &[
            "--health-cmd",
            "test -e /tmp/ok",
            "--health-interval",
            "200ms",
        ],
        &img,
    );
    let mut waiter = b
        .cmd(&[
            "wait",
            "--condition=healthy",
            "--condition",
            "exited",
            "waited",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It cannot be healthy yet: nothing made /tmp/ok.
    assert_ne!(health_status(&b, "waited"), "healthy");
    assert!(waiter.try_wait().unwrap().is_none());
    b.ok(&["exec", "waited", "touch", "/tmp/ok"]);
    let status = Wait::secs(60)
        .every_ms(50)
        .for_some(|| waiter.try_wait().unwrap());
    let Some(status) = status else {
        let _ = waiter.kill();
        panic!("wait --condition=healthy never returned");
    };
    assert!(status.success());
    assert_eq!(health_status(&b, "waited"), "healthy");
    // running holds at once; the default (stopped) prints the exit code.
    assert_eq!(
        b.ok(&["wait", "--condition", "running", "waited"]).trim(),
        "-1"
    );
    b.ok(&["kill", "waited"]);
    assert_eq!(b.ok(&["wait", "waited"]).trim(), "137");
    let err = b.fail(&["wait", "--condition", "asleep", "waited"]);
    assert!(
        err.contains("--condition") && err.contains("healthy"),
        "{err}"
    );
    b.ok(&["rm", "waited"]);
}

fn restart_count(b: &Burrow, name: &str) -> u64 {
    b.inspect_container(name)["RestartCount"].as_u64().unwrap()
}

#[test]
fn on_failure_restart_kill_and_stop() {
    let (_reg, b, img) = pulled();
    // The marker lives on a tmpfs, made afresh at each start.
    let check = |action: &'static str| {
        vec![
            "--tmpfs",
            "/run",
            "--stop-timeout",
            "1",
            "--health-cmd",
            "test ! -e /run/bad",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
            "--health-on-failure",
            action,
        ]
    };
    run_d(&b, "phoenix", &check("restart"), &img);
    expect_health(&b, "phoenix", "healthy");
    let pid = b.inspect_container("phoenix")["State"]["Pid"].clone();
    b.ok(&["exec", "phoenix", "touch", "/run/bad"]);
    let restarted = Wait::secs(60).every_ms(100).until(|| {
        let c = b.inspect_container("phoenix");
        c["RestartCount"].as_u64() >= Some(1)
            && c["State"]["Status"] == "running"
            && c["State"]["Pid"] != pid
    });
    assert!(restarted, "{}", b.inspect_container("phoenix"));
    assert_eq!(
        b.inspect_container("phoenix")["Config"]["HealthcheckOnFailureAction"],
        "restart"
    );
    expect_health(&b, "phoenix", "healthy");
    assert_eq!(restart_count(&b, "phoenix"), 1);

    run_d(&b, "killed", &check("kill"), &img);
    expect_health(&b, "killed", "healthy");
    b.ok(&["exec", "killed", "touch", "/run/bad"]);
    assert_eq!(b.ok(&["wait", "killed"]).trim(), "137");

    // stop: no restart policy brings it back.
    let mut opts = check("stop");
    opts.extend_from_slice(&["--restart", "always"]);
    run_d(&b, "stopped", &opts, &img);
    expect_health(&b, "stopped", "healthy");
    b.ok(&["exec", "stopped", "touch", "/run/bad"]);
    b.ok(&["wait", "stopped"]);
    assert_eq!(b.inspect_status("stopped"), "exited");
    assert_eq!(restart_count(&b, "stopped"), 0);
    // An exited container's checks have stopped: unhealthy, as Docker.
    assert_eq!(health_status(&b, "stopped"), "unhealthy");
    assert!(!ps_status(&b, "stopped").contains("health"));
    b.ok(&["rm", "-f", "phoenix", "killed", "stopped"]);
}

#[test]
fn the_images_healthcheck_is_honoured_and_can_be_overridden() {
    let (_reg, b, img) = pulled();
    let ctx = tempfile::tempdir().unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {img}\nHEALTHCHECK --interval=200ms --retries=2 CMD test -e /etc/passwd || test -d /tmp\n"
        ),
    )
    .unwrap();
    let out = b.run(&[
        "build",
        "--network",
        "none",
        "-t",
        "localhost/checked",
        &ctx.path().display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    run_d(&b, "from-image", &[], "localhost/checked");
    expect_health(&b, "from-image", "healthy");
    let cfg = &b.inspect_container("from-image")["Config"]["Healthcheck"];
    assert_eq!(cfg["Test"][0], "CMD-SHELL", "{cfg}");
    assert_eq!(cfg["Interval"], 200_000_000u64, "{cfg}");
    assert_eq!(cfg["Retries"], 2, "{cfg}");

    // An option over the image's check keeps the rest of it.
    run_d(
        &b,
        "retuned",
        &["--health-retries", "7", "--health-interval", "1h"],
        "localhost/checked",
    );
    let cfg = &b.inspect_container("retuned")["Config"]["Healthcheck"];
    assert_eq!(cfg["Retries"], 7, "{cfg}");
    assert_eq!(cfg["Test"][0], "CMD-SHELL", "{cfg}");

    run_d(&b, "unchecked", &["--no-healthcheck"], "localhost/checked");
    let c = b.inspect_container("unchecked");
    assert!(c["Config"]["Healthcheck"].is_null(), "{c}");
    assert!(c["State"]["Health"].is_null(), "{c}");
    assert!(!ps_status(&b, "unchecked").contains('('));
    assert_eq!(
        b.run(&["healthcheck", "run", "unchecked"]).status.code(),
        Some(125)
    );
    b.ok(&["rm", "-f", "from-image", "retuned", "unchecked"]);
}

#[test]
fn bad_healthcheck_options_are_refused_with_nothing_made() {
    let (_reg, b, img) = pulled();
    for (opts, words) in [
        (
            vec!["--health-cmd", "true", "--health-interval", "3x"],
            "--health-interval",
        ),
        (
            vec!["--health-cmd", "true", "--health-timeout", "-5s"],
            "--health-timeout",
        ),
        (
            vec!["--health-cmd", "true", "--health-interval", "30"],
            "unit",
        ),
        (
            vec!["--health-on-failure", "explode", "--health-cmd", "true"],
            "--health-on-failure",
        ),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck",
        ),
        (vec!["--health-retries", "2"], "--health-cmd"),
        (vec!["--health-cmd", "[\"CMD\"]"], "--health-cmd"),
    ] {
        let mut args = vec!["run", "-d", "--network", "none"];
        args.extend_from_slice(&opts);
        args.extend_from_slice(&[&img, "sleep", "300"]);
        let out = b.run(&args);
        assert_eq!(out.status.code(), Some(125), "{opts:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{opts:?}: {err}");
        assert!(err.contains(words), "{opts:?}: {err}");
    }
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    let err = b.fail(&["ps", "--filter", "health=sick"]);
    assert!(err.contains("health filter"), "{err}");
}

#[test]
fn a_check_past_its_timeout_is_killed_and_fails() {
    let (_reg, b, img) = pulled();
    run_d(
        &b,
        "slow",
        &[
            "--health-cmd",
            "sleep 600",
            "--health-timeout",
            "300ms",
            "--health-interval",
            "1h",
        ],
        &img,
    );
    let out = b.run(&["healthcheck", "run", "slow"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let h = health(&b, "slow");
    assert_eq!(h["Log"][0]["ExitCode"], -1, "{h}");
    assert_eq!(
        h["Log"][0]["Output"], "Health check exceeded timeout (300ms)",
        "{h}"
    );
    // The check's command is gone from the container.
    let procs = b.ok(&["exec", "slow", "ps", "-o", "args"]);
    assert!(!procs.contains("sleep 600"), "{procs}");
    b.ok(&["rm", "-f", "slow"]);
}
