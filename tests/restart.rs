//! `create`, `start`, `restart`, restart policies and stop signals, end
//! to end as the unprivileged user.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Burrow, busybox_image};

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Poll `burrow inspect --format`-less JSON until `check` holds.
fn until(b: &Burrow, what: &str, mut check: impl FnMut(&Burrow) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check(b) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn state(b: &Burrow, name: &str) -> String {
    b.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.State}}",
    ])
    .trim()
    .to_string()
}

fn inspect(b: &Burrow, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["container", "inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn create_start_stop_and_restart() {
    // The image asks for SIGUSR1 as its stop signal.
    let (_reg, b, img) = common::pulled(
        "test/restart",
        &busybox_image(|i| i.stop_signal("SIGUSR1").label("from", "image")),
    );
    let script = "echo started; trap 'echo got USR1; exit 7' USR1; \
                  while :; do sleep 0.05; done";
    let o = b.run(&[
        "create", "--name", "svc", "-l", "tier=web", &img, "sh", "-c", script,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let id = out(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(state(&b, "svc"), "created");
    let v = inspect(&b, "svc");
    assert_eq!(v["State"]["Status"], "created");
    assert_eq!(v["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(v["Config"]["Labels"]["tier"], "web");
    assert_eq!(v["Config"]["Labels"]["from"], "image");
    assert_eq!(
        b.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=tier=web",
            "--format",
            "{{.Names}}"
        ]),
        "svc\n"
    );
    assert_eq!(
        b.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=tier=db",
            "--format",
            "{{.Names}}"
        ]),
        ""
    );

    assert_eq!(b.ok(&["start", "svc"]), "svc\n");
    assert_eq!(state(&b, "svc"), "running");
    // Starting a running container is no error.
    assert_eq!(b.ok(&["start", "svc"]), "svc\n");
    until(&b, "the first start's output", |b| {
        b.ok(&["logs", "svc"]).contains("started")
    });
    // stop sends the image's stop signal.
    b.ok(&["stop", "-t", "20", "svc"]);
    assert_eq!(b.ok(&["wait", "svc"]), "7\n");
    assert_eq!(b.ok(&["logs", "svc"]), "started\ngot USR1\n");

    // A stopped container starts again, with the same upper layer.
    let o = b.run(&["exec", "svc", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("is not running"), "{}", err(&o));
    b.ok(&["start", "svc"]);
    b.ok(&["exec", "svc", "sh", "-c", "echo kept > /marker"]);
    let o = b.run(&["restart", "-t", "20", "svc"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o), "svc\n");
    assert_eq!(state(&b, "svc"), "running");
    assert_eq!(b.ok(&["exec", "svc", "cat", "/marker"]), "kept\n");
    until(&b, "three starts in the log", |b| {
        b.ok(&["logs", "svc"]).matches("started").count() == 3
    });
    b.ok(&["kill", "svc"]);
    assert_eq!(b.ok(&["wait", "svc"]), "137\n");
    // --stop-signal overrides the image's.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "term",
        "--stop-signal",
        "TERM",
        &img,
        "sh",
        "-c",
        "trap 'exit 5' TERM; while :; do sleep 0.05; done",
    ]);
    b.ok(&["stop", "term"]);
    assert_eq!(b.ok(&["wait", "term"]), "5\n");

    // Bad input: one line each, nothing created.
    let before = b.ok(&["ps", "-a", "-q"]);
    for (args, needle) in [
        (
            vec!["create", "--restart", "sometimes", &img, "true"],
            "invalid restart policy",
        ),
        (
            vec!["create", "--rm", "--restart", "always", &img, "true"],
            "conflict",
        ),
        (
            vec!["create", "--stop-signal", "NOPE", &img, "true"],
            "invalid signal",
        ),
        (vec!["create", "-l", "=x", &img, "true"], "invalid label"),
    ] {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
        assert_eq!(err(&o).trim().lines().count(), 1, "{}", err(&o));
    }
    assert_eq!(b.ok(&["ps", "-a", "-q"]), before);
    let o = b.run(&["start", "nosuch"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("no such container: nosuch"), "{}", err(&o));
}

#[test]
fn restart_policies() {
    let (_reg, b, img) = common::pulled("test/policy", &busybox_image(|i| i));
    // on-failure:2 restarts a failing command exactly twice.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        &img,
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    assert_eq!(b.ok(&["wait", "flaky"]), "3\n");
    assert_eq!(b.ok(&["logs", "flaky"]), "run\nrun\nrun\n");
    let v = inspect(&b, "flaky");
    assert_eq!(v["RestartCount"], 2);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    assert_eq!(v["State"]["Status"], "exited");
    // A success is not restarted by on-failure.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "fine",
        "--restart",
        "on-failure",
        &img,
        "true",
    ]);
    assert_eq!(b.ok(&["wait", "fine"]), "0\n");
    assert_eq!(inspect(&b, "fine")["RestartCount"], 0);

    // always: a killed container comes back; a stopped one does not.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        "--restart",
        "always",
        &img,
        "sleep",
        "60",
    ]);
    let first_pid = inspect(&b, "keep")["State"]["Pid"].as_i64().unwrap();
    b.ok(&["kill", "keep"]);
    until(&b, "the restart", |b| {
        let v = inspect(b, "keep");
        v["RestartCount"] == 1 && v["State"]["Status"] == "running"
    });
    assert_ne!(
        inspect(&b, "keep")["State"]["Pid"].as_i64().unwrap(),
        first_pid
    );
    b.ok(&["stop", "-t", "1", "keep"]);
    assert_eq!(state(&b, "keep"), "exited");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(state(&b, "keep"), "exited", "stop is final under always");
    // ...until it is started again.
    b.ok(&["start", "keep"]);
    assert_eq!(state(&b, "keep"), "running");
    assert_eq!(inspect(&b, "keep")["RestartCount"], 0);
    b.ok(&["rm", "-f", "keep"]);

    // A container that never ran is not restarted.
    let o = b.run(&["run", "-d", "--restart", "always", &img, "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
    // And restarting ones show as such, then go when removed.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "loop",
        "--restart",
        "always",
        &img,
        "sh",
        "-c",
        "exit 1",
    ]);
    until(&b, "a restart", |b| {
        inspect(b, "loop")["RestartCount"].as_u64() >= Some(2)
    });
    b.ok(&["rm", "-f", "loop"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !b.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("loop")
    );
}
