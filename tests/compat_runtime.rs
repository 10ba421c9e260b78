//! Drop-in behaviour inside the container (issue 20): /run/.containerenv,
//! keep-id's account entries, --tz, --group-add, --timeout, --log-driver,
//! --attach, and nothing outliving `rm -f`; each used as a script would.

mod common;

use std::time::{Duration, Instant};

use common::{Burrow, busybox_image, stderr, stdout};

fn pulled() -> (common::Registry, Burrow, String) {
    common::pulled("test/compat-runtime", &busybox_image(|i| i))
}

/// One `Error:` line, and the status.
fn refused(b: &Burrow, args: &[&str], code: i32, needle: &str) {
    let o = b.run(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {e}");
    assert!(e.contains(needle), "{args:?}: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: {e}");
}

#[test]
fn every_container_has_a_containerenv() {
    let (_reg, b, img) = pulled();
    let env = b.ok(&["run", "--name", "envd", &img, "cat", "/run/.containerenv"]);
    let id = b.ok(&["inspect", "--format", "{{.Id}}", "envd"]);
    let version = env!("CARGO_PKG_VERSION");
    for line in [
        format!("engine=\"burrow-{version}\""),
        "name=\"envd\"".to_string(),
        format!("id=\"{}\"", id.trim()),
        format!("image=\"{img}\""),
        "rootless=1".to_string(),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} not in\n{env}");
    }
    assert!(env.lines().any(|l| l.starts_with("imageid=\"")), "{env}");
    // With a read-only root (and its tmpfs on /run), and with keep-id.
    for opts in [&["--read-only"][..], &["--userns=keep-id"]] {
        let out = b.run_rm_ok(
            opts,
            &img,
            &["sh", "-c", "test -f /run/.containerenv && echo ok"],
        );
        assert_eq!(out, "ok\n", "{opts:?}");
    }
    // Nothing else appears in /run.
    let out = b.run_rm_ok(&[], &img, &["sh", "-c", "ls -A /run"]);
    assert_eq!(out, ".containerenv\n");
}

#[test]
fn keep_id_names_the_user_inside() {
    let (_reg, b, img) = pulled();
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap();
    let group = nix::unistd::Group::from_gid(nix::unistd::getgid())
        .unwrap()
        .unwrap();
    let out = b.run_rm_ok(
        &["--userns=keep-id"],
        &img,
        &["sh", "-c", "id -un; whoami; id -gn; echo $HOME"],
    );
    assert_eq!(
        out,
        format!(
            "{}\n{}\n{}\n{}\n",
            me.name,
            me.name,
            group.name,
            me.dir.display()
        )
    );
    let line = b.run_rm_ok(
        &["--userns=keep-id"],
        &img,
        &["grep", &format!("^{}:", me.name), "/etc/passwd"],
    );
    assert_eq!(
        line,
        format!(
            "{}:*:{}:{}:{}:{}:{}\n",
            me.name,
            me.uid,
            me.gid,
            me.name,
            me.dir.display(),
            me.shell.display()
        )
    );
    // keep-id with other ids: the same name, those ids.
    let out = b.run_rm_ok(
        &["--userns=keep-id:uid=1234,gid=2345"],
        &img,
        &["sh", "-c", "id -un; id -u; id -gn; id -g"],
    );
    assert_eq!(out, format!("{}\n1234\n{}\n2345\n", me.name, group.name));
    // An id the image has already keeps the image's name: app is 1000.
    let out = b.run_rm_ok(
        &["--userns=keep-id:uid=1000,gid=1000"],
        &img,
        &["id", "-un"],
    );
    assert_eq!(out, "app\n");
    // Without keep-id, and in the image, nothing changed.
    let plain = b.run_rm_ok(&[], &img, &["cat", "/etc/passwd", "/etc/group"]);
    assert!(!plain.contains(&me.name), "{plain}");
    b.ok(&["run", "--name", "kid", "--userns=keep-id", &img, "true"]);
    b.ok(&["start", "kid"]);
    let diff = b.ok(&["diff", "kid"]);
    assert!(!diff.contains("/etc/passwd"), "{diff}");
}

#[test]
fn tz_sets_the_containers_localtime() {
    let (_reg, b, img) = pulled();
    let zone = b.run_rm_ok(&["--tz", "Asia/Tokyo"], &img, &["date", "+%Z %z"]);
    assert_eq!(zone, "JST +0900\n");
    let host = std::process::Command::new("date")
        .arg("+%Z %z")
        .output()
        .unwrap();
    let local = b.run_rm_ok(&["--tz=local"], &img, &["date", "+%Z %z"]);
    assert_eq!(local, stdout(&host));
    for bad in ["Mars/Olympus", "../../etc/passwd"] {
        refused(
            &b,
            &["run", "--rm", "--tz", bad, &img, "true"],
            125,
            "unknown time zone",
        );
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
fn group_add_gives_the_process_and_exec_more_groups() {
    let (_reg, b, img) = pulled();
    let groups = |out: String| -> Vec<String> {
        let mut g: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        g.sort();
        g
    };
    let out = b.run_rm_ok(
        &["--group-add", "app", "--group-add", "4242"],
        &img,
        &["id", "-G"],
    );
    assert_eq!(groups(out), ["0", "1000", "4242"]);
    let out = b.run_rm_ok(
        &["-u", "app", "--group-add", "nogroup"],
        &img,
        &["id", "-G"],
    );
    assert_eq!(groups(out), ["1000", "65534"]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "ga",
        "--group-add",
        "4242",
        &img,
        "sleep",
        "60",
    ]);
    assert_eq!(groups(b.ok(&["exec", "ga", "id", "-G"])), ["0", "4242"]);
    b.ok(&["rm", "-f", "ga"]);
    for bad in ["2147483648", "-1", "a:b"] {
        refused(
            &b,
            &["run", "--rm", "--group-add", bad, &img, "true"],
            125,
            "--group-add",
        );
    }
    refused(
        &b,
        &["run", "--rm", "--group-add", "nosuch", &img, "true"],
        125,
        "unable to find group nosuch",
    );
}

#[test]
fn timeout_stops_the_container_as_podman_reports_it() {
    let (_reg, b, img) = pulled();
    let t = Instant::now();
    let o = b.run(&["run", "--name", "t", "--timeout", "1", &img, "sleep", "30"]);
    // sleep as pid 1 ignores SIGTERM: SIGKILL follows after --stop-timeout
    // (10 by default).
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(
        b.ok(&["inspect", "--format", "{{.State.ExitCode}}", "t"]),
        "255\n"
    );
    let t = Instant::now();
    let o = b.run(&[
        "run",
        "--rm",
        "--timeout",
        "1",
        "--stop-timeout",
        "1",
        &img,
        "sleep",
        "30",
    ]);
    assert_eq!(o.status.code(), Some(255));
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    // Detached: the monitor stops it; the stop signal first.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "td",
        "--timeout",
        "1",
        &img,
        "sh",
        "-c",
        "trap 'echo stopped; exit 0' TERM; while :; do sleep 0.1; done",
    ]);
    assert_eq!(b.ok(&["wait", "td"]), "255\n");
    assert_eq!(b.ok(&["logs", "td"]), "stopped\n");
    // A command done in time keeps its own code.
    assert_eq!(
        b.run(&["run", "--rm", "--timeout", "30", &img, "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
}

/// The processes whose command line names `needle` (the store's path: a
/// container's fuse-overlayfs daemon names its directories).
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    found
}

/// Fields 3 on of `/proc/PID/stat` (state first, start time at 19), or
/// none when the process is gone.
fn stat_fields(pid: &str) -> Vec<String> {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Vec::new();
    };
    let after_name = stat.rfind(')').map_or(stat.len(), |i| i + 2);
    stat.get(after_name..)
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Whether host pid `pid` is still the live process that started at
/// `start`.
fn same_process(pid: &str, start: &str) -> bool {
    let f = stat_fields(pid);
    f.get(19).is_some_and(|s| s == start) && f.first().is_some_and(|s| s != "Z")
}

#[test]
fn nothing_outlives_rm_force() {
    let (_reg, b, img) = pulled();
    let store = b.root.path().display().to_string();
    for round in 0..20 {
        let id = b.ok(&[
            "run",
            "--user=1002",
            "--userns=keep-id",
            "-d",
            &img,
            "sleep",
            "1000",
        ]);
        let pid = b.ok(&["inspect", "--format", "{{.State.Pid}}", id.trim()]);
        let pid = pid.trim();
        let start = stat_fields(pid)[19].clone();
        assert!(
            !processes_naming(&store).is_empty(),
            "round {round}: no fuse-overlayfs"
        );
        let out = b.ok(&["rm", "--all", "--force"]);
        assert_eq!(out.trim(), id.trim(), "round {round}");
        assert!(
            !same_process(pid, &start),
            "round {round}: the container's process lives on"
        );
        let left = processes_naming(&store);
        assert!(left.is_empty(), "round {round}: {left:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(&store), "round {round}: {mounts}");
        assert_eq!(b.ok(&["ps", "-aq"]), "", "round {round}");
        assert!(b.container_dirs().is_empty(), "round {round}");
    }
}

#[test]
fn log_drivers_as_podman_has_them() {
    let (_reg, b, img) = pulled();
    for driver in ["k8s-file", "json-file"] {
        b.ok(&[
            "run",
            "-d",
            "--name",
            driver,
            "--log-driver",
            driver,
            &img,
            "echo",
            "hi",
        ]);
        assert_eq!(b.ok(&["wait", driver]), "0\n");
        assert_eq!(b.ok(&["logs", driver]), "hi\n", "{driver}");
    }
    b.ok(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        &img,
        "echo",
        "hi",
    ]);
    assert_eq!(b.ok(&["wait", "quiet"]), "0\n");
    refused(&b, &["logs", "quiet"], 125, "'none' log driver");
    let id = b.ok(&["inspect", "--format", "{{.Id}}", "quiet"]);
    let dir = b
        .container_dirs()
        .into_iter()
        .find(|d| d.ends_with(id.trim()));
    assert!(!dir.unwrap().join("ctr.log").exists());
    // In the foreground the output is the caller's, whatever the driver.
    for driver in ["none", "passthrough"] {
        assert_eq!(
            b.run_rm_ok(&["--log-driver", driver], &img, &["echo", "fg"]),
            "fg\n"
        );
    }
    refused(
        &b,
        &["run", "-d", "--log-driver", "passthrough", &img, "true"],
        125,
        "passthrough",
    );
    refused(
        &b,
        &["run", "--rm", "--log-driver", "syslog", &img, "true"],
        125,
        "unknown --log-driver \"syslog\"",
    );
    refused(
        &b,
        &[
            "run",
            "--rm",
            "--log-driver",
            "none",
            "--log-opt",
            "max-size=1m",
            &img,
            "true",
        ],
        125,
        "--log-opt max-size",
    );
}
