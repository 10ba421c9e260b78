//! `create`, `start`, `restart`, restart policies and stop signals, end
//! to end as the unprivileged user.

mod common;

use std::time::Duration;

use common::{Burrow, Wait, busybox_image, proc_stat_fields, stderr, stdout};

/// For restarts and monitors, which take a while on a busy machine.
const WAIT: Wait = Wait::secs(30).every_ms(25);

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
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(b.ps_state("svc"), "created");
    let v = b.inspect_container("svc");
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
    assert_eq!(b.ps_state("svc"), "running");
    // Starting a running container is no error.
    assert_eq!(b.ok(&["start", "svc"]), "svc\n");
    WAIT.expect("the first start's output", || {
        b.ok(&["logs", "svc"]).contains("started")
    });
    // stop sends the image's stop signal.
    b.ok(&["stop", "-t", "20", "svc"]);
    assert_eq!(b.ok(&["wait", "svc"]), "7\n");
    assert_eq!(b.ok(&["logs", "svc"]), "started\ngot USR1\n");

    // A stopped container starts again, with the same upper layer.
    let o = b.run(&["exec", "svc", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
    b.ok(&["start", "svc"]);
    b.ok(&["exec", "svc", "sh", "-c", "echo kept > /marker"]);
    let o = b.run(&["restart", "-t", "20", "svc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "svc\n");
    assert_eq!(b.ps_state("svc"), "running");
    assert_eq!(b.ok(&["exec", "svc", "cat", "/marker"]), "kept\n");
    WAIT.expect("three starts in the log", || {
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
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    }
    assert_eq!(b.ok(&["ps", "-a", "-q"]), before);
    let o = b.run(&["start", "nosuch"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("no container with name or ID \"nosuch\" found: no such container"),
        "{}",
        stderr(&o)
    );
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
    let v = b.inspect_container("flaky");
    assert_eq!(v["RestartCount"], 2);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    assert_eq!(v["State"]["Status"], "exited");
    // In the foreground too: `run` returns at the first exit, the monitor
    // carries on.
    let o = b.run(&[
        "run",
        "--name",
        "fg",
        "--restart",
        "on-failure:1",
        &img,
        "sh",
        "-c",
        "echo fg; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "fg\n");
    assert_eq!(b.ok(&["wait", "fg"]), "4\n");
    assert_eq!(b.inspect_container("fg")["RestartCount"], 1);
    assert_eq!(b.ok(&["logs", "fg"]), "fg\nfg\n");
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
    assert_eq!(b.inspect_container("fine")["RestartCount"], 0);

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
    let first_pid = b.inspect_container("keep")["State"]["Pid"]
        .as_i64()
        .unwrap();
    b.ok(&["kill", "keep"]);
    WAIT.expect("the restart", || {
        let v = b.inspect_container("keep");
        v["RestartCount"] == 1 && v["State"]["Status"] == "running"
    });
    assert_ne!(
        b.inspect_container("keep")["State"]["Pid"]
            .as_i64()
            .unwrap(),
        first_pid
    );
    b.ok(&["stop", "-t", "1", "keep"]);
    assert_eq!(b.ps_state("keep"), "exited");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(b.ps_state("keep"), "exited", "stop is final under always");
    // ...until it is started again.
    b.ok(&["start", "keep"]);
    assert_eq!(b.ps_state("keep"), "running");
    assert_eq!(b.inspect_container("keep")["RestartCount"], 0);
    b.ok(&["rm", "-f", "keep"]);

    // A container that never ran is not restarted.
    let o = b.run(&["run", "-d", "--restart", "always", &img, "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
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
    WAIT.expect("a restart", || {
        b.inspect_container("loop")["RestartCount"].as_u64() >= Some(2)
    });
    b.ok(&["rm", "-f", "loop"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !b.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("loop")
    );
}

/// The monitor's pid: the parent of the container's process.
fn monitor_of(b: &Burrow, name: &str) -> i32 {
    let pid = b.inspect_container(name)["State"]["Pid"].as_i64().unwrap();
    proc_stat_fields(pid)[1].parse().unwrap()
}

#[test]
fn a_killed_monitor_or_a_reboot_leaves_a_container_that_starts_again() {
    let (_reg, b, img) = common::pulled("test/reboot", &busybox_image(|i| i));
    b.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--restart",
        "always",
        &img,
        "sleep",
        "600",
    ]);
    let ppid = monitor_of(&b, "svc");
    // SIGKILL of the monitor takes the container with it; the record,
    // still saying "running", is read as exited, and no policy applies.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(ppid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    WAIT.expect("the container to be seen as exited", || {
        b.ps_state("svc") == "exited"
    });
    assert_eq!(
        b.ok(&["ps", "-a", "--format", "{{.Status}}"]),
        "Exited (unknown)\n"
    );
    b.ok(&["start", "svc"]);
    assert_eq!(b.ps_state("svc"), "running");

    // A reboot: the runtime directory is gone and the boot id changed.
    b.ok(&["kill", "svc"]);
    WAIT.expect("the restart after kill", || {
        b.inspect_container("svc")["RestartCount"] == 1 && b.ps_state("svc") == "running"
    });
    let id = b.inspect_container("svc")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let mon_pid = monitor_of(&b, "svc");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mon_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let record = b
        .root
        .path()
        .join("containers")
        .join(&id)
        .join("config.json");
    WAIT.expect("the monitor to die", || {
        std::fs::read(format!("/proc/{mon_pid}/stat")).is_err()
    });
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    rec["status"] = "running".into();
    rec["monitor"] = serde_json::json!({"pid": 1, "start_time": 1, "boot_id": "before-the-reboot"});
    std::fs::write(&record, serde_json::to_vec(&rec).unwrap()).unwrap();
    for e in std::fs::read_dir(b.runroot.path()).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    assert_eq!(b.ps_state("svc"), "exited");
    b.ok(&["start", "svc"]);
    assert_eq!(b.ps_state("svc"), "running");
    // Docker scripts say rm -fv (the container has no volumes to take along).
    b.ok(&["rm", "-fv", "svc"]);
}
