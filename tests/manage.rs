//! `top`, `pause`/`unpause`, `rename`, `container prune` and `exec -d`,
//! end to end as the unprivileged user.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::{Burrow, busybox_image};

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn state(b: &Burrow, name: &str) -> String {
    b.ok(&["inspect", "--format", "{{.State.Status}}", name])
        .trim()
        .to_string()
}

/// The process state letter (R, S, T, ...) of a host pid.
fn proc_state(pid: &str) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
}

#[test]
fn top_shows_the_containers_processes() {
    let (_reg, b, img) = common::pulled("test/top", &busybox_image(|i| i));
    b.ok(&[
        "run",
        "-d",
        "--name",
        "t",
        &img,
        "sh",
        "-c",
        "sleep 1000 & sleep 2000; true",
    ]);
    b.ok(&["exec", "-d", "-u", "1000:1000", "t", "sleep", "3000"]);
    let mut table = String::new();
    until("four processes in top", || {
        table = b.ok(&["top", "t"]);
        table.lines().count() == 5
    });
    let lines: Vec<&str> = table.lines().collect();
    for col in [
        "USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND",
    ] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("root") && l.ends_with("sh -c sleep 1000 & sleep 2000; true")),
        "{table}"
    );
    assert!(lines.iter().any(|l| l.ends_with("sleep 1000")), "{table}");
    // The exec'd process runs as uid 1000, "app" in the image's passwd.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("app ") && l.ends_with("sleep 3000")),
        "{table}"
    );

    // Descriptors choose the columns; pids are the container's.
    let pids = b.ok(&["top", "t", "pid,ppid,comm"]);
    let rows: Vec<Vec<&str>> = pids
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        pids.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["PID", "PPID", "COMMAND"]
    );
    assert!(rows.contains(&vec!["1", "0", "sh"]), "{pids}");
    assert!(
        rows.iter().any(|r| r[1] == "1" && r[2] == "sleep"),
        "{pids}"
    );

    let o = b.run(&["top", "t", "bogus"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        err(&o).contains("unknown descriptor \"bogus\""),
        "{}",
        err(&o)
    );
    b.ok(&["stop", "-t", "1", "t"]);
    let o = b.run(&["top", "t"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("is not running"), "{}", err(&o));
}

#[test]
fn pause_unpause_rename_and_prune() {
    let (_reg, b, img) = common::pulled("test/pause", &busybox_image(|i| i));
    b.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        &img,
        "sh",
        "-c",
        "trap 'exit 3' TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done",
    ]);
    b.ok(&["exec", "-d", "p", "sleep", "500"]);
    let hpids = || -> Vec<String> {
        b.ok(&["top", "p", "hpid"])
            .lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .collect()
    };
    until("two processes", || hpids().len() >= 2);
    assert_eq!(b.ok(&["pause", "p"]), "p\n");
    assert_eq!(state(&b, "p"), "paused");
    assert_eq!(
        b.ok(&["inspect", "--format", "{{.State.Paused}}", "p"]),
        "true\n"
    );
    assert!(
        b.ok(&["ps", "--format", "{{.Status}}"])
            .contains("(Paused)")
    );
    for pid in hpids() {
        assert_eq!(proc_state(&pid), 'T', "pid {pid} is not stopped");
    }
    let o = b.run(&["exec", "p", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("is paused"), "{}", err(&o));
    let o = b.run(&["pause", "p"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("already paused"), "{}", err(&o));

    assert_eq!(b.ok(&["unpause", "p"]), "p\n");
    assert_eq!(state(&b, "p"), "running");
    let n1 = b.ok(&["exec", "p", "cat", "/tmp/n"]);
    until("the counter to move again", || {
        b.ok(&["exec", "p", "cat", "/tmp/n"]) != n1
    });
    let o = b.run(&["unpause", "p"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("is not paused"), "{}", err(&o));
    // A paused container stops (continued first, as Docker does: its
    // trap runs, where a frozen shell would have been killed with 137).
    b.ok(&["pause", "p"]);
    b.ok(&["stop", "-t", "10", "p"]);
    assert_eq!(b.ok(&["wait", "p"]), "3\n");

    // rename: the new name finds it, the old one does not; names stay unique.
    b.ok(&["rename", "p", "q"]);
    assert_eq!(state(&b, "q"), "exited");
    let o = b.run(&["inspect", "p"]);
    assert_ne!(o.status.code(), Some(0));
    b.ok(&["create", "--name", "other", &img, "true"]);
    let o = b.run(&["rename", "q", "other"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("already in use"), "{}", err(&o));
    let o = b.run(&["rename", "q", "bad name"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("invalid container name"), "{}", err(&o));

    // prune: stopped and created ones go, running ones stay.
    b.ok(&["run", "-d", "--name", "live", &img, "sleep", "60"]);
    let o = b.run(&["container", "prune", "-f"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2);
    assert_eq!(b.ok(&["ps", "-a", "--format", "{{.Names}}"]), "live\n");
    // Without -f it asks, and "no" keeps everything.
    b.ok(&["create", "--name", "kept", &img, "true"]);
    let mut child = b
        .cmd(&["container", "prune"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(err(&o).contains("Are you sure"), "{}", err(&o));
    assert!(
        b.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("kept")
    );
    let leftovers: Vec<_> = std::fs::read_dir(b.root.path().join("containers"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().starts_with(".removing"))
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    b.ok(&["rm", "-f", "live"]);

    let o = b.run(&["exec", "-d", "-t", "kept", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(err(&o).contains("exec -d"), "{}", err(&o));
}
