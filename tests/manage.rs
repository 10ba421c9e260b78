//! `top`, `pause`/`unpause`, `rename`, `container prune` and `exec -d`,
//! end to end as the unprivileged user.

mod common;

use common::{Wait, busybox_image, proc_stat_fields, stderr, stdout};

/// For the processes and states these commands change.
const WAIT: Wait = Wait::secs(20).every_ms(25);

/// The process state letter (R, S, T, ...) of a host pid.
fn proc_state(pid: &str) -> char {
    proc_stat_fields(pid)[0].chars().next().unwrap()
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
    WAIT.expect("four processes in top", || {
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
        stderr(&o).contains("unknown descriptor \"bogus\""),
        "{}",
        stderr(&o)
    );
    b.ok(&["stop", "-t", "1", "t"]);
    let o = b.run(&["top", "t"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
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
    WAIT.expect("two processes", || hpids().len() >= 2);
    assert_eq!(b.ok(&["pause", "p"]), "p\n");
    assert_eq!(b.inspect_status("p"), "paused");
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
    assert!(stderr(&o).contains("is paused"), "{}", stderr(&o));
    let o = b.run(&["pause", "p"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("already paused"), "{}", stderr(&o));

    assert_eq!(b.ok(&["unpause", "p"]), "p\n");
    assert_eq!(b.inspect_status("p"), "running");
    let n1 = b.ok(&["exec", "p", "cat", "/tmp/n"]);
    WAIT.expect("the counter to move again", || {
        b.ok(&["exec", "p", "cat", "/tmp/n"]) != n1
    });
    let o = b.run(&["unpause", "p"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not paused"), "{}", stderr(&o));
    // A paused container stops (continued first, as Docker does: its
    // trap runs, where a frozen shell would have been killed with 137).
    b.ok(&["pause", "p"]);
    b.ok(&["stop", "-t", "10", "p"]);
    assert_eq!(b.ok(&["wait", "p"]), "3\n");

    // rename: the new name finds it, the old one does not; names stay unique.
    b.ok(&["rename", "p", "q"]);
    assert_eq!(b.inspect_status("q"), "exited");
    let o = b.run(&["inspect", "p"]);
    assert_ne!(o.status.code(), Some(0));
    b.ok(&["create", "--name", "other", &img, "true"]);
    let o = b.run(&["rename", "q", "other"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("already in use"), "{}", stderr(&o));
    let o = b.run(&["rename", "q", "bad name"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("invalid container name"),
        "{}",
        stderr(&o)
    );

    // prune: stopped and created ones go, running ones stay.
    b.ok(&["run", "-d", "--name", "live", &img, "sleep", "60"]);
    let o = b.run(&["container", "prune", "-f"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2);
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
    assert!(stderr(&o).contains("Are you sure"), "{}", stderr(&o));
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

    // image prune -a leaves the image a (stopped) container was made
    // from, and so that container's layers: it still starts.
    let o = b.run(&["image", "prune", "-a", "-f"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    b.ok(&["start", "-a", "kept"]);
    assert!(b.ok(&["images", "-q"]).lines().count() == 1);

    let o = b.run(&["exec", "-d", "-t", "kept", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("exec -d"), "{}", stderr(&o));
}

#[test]
fn cp_both_ways_running_and_stopped() {
    let (_reg, b, img) = common::pulled("test/cp", &busybox_image(|i| i));
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::create_dir_all(h.join("src/d/sub")).unwrap();
    std::fs::write(h.join("src/d/a.txt"), "alpha").unwrap();
    std::fs::write(h.join("src/d/sub/run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        h.join("src/d/sub/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(h.join("src/f"), "file").unwrap();
    let p = |rel: &str| h.join(rel).display().to_string();
    b.ok(&[
        "run", "-d", "--name", "c", &img, "sh", "-c",
        "ln -s / /escape; mkdir /data; echo mine > /data/owned; chown 1000:1000 /data/owned; sleep 300",
    ]);
    WAIT.expect("the container's setup", || {
        b.run(&["exec", "c", "test", "-f", "/data/owned"])
            .status
            .success()
            && b.run(&["exec", "c", "test", "-L", "/escape"])
                .status
                .success()
    });

    // Into a running container: files belong to its root.
    b.ok(&["cp", &p("src/f"), "c:/tmp/"]);
    b.ok(&["cp", &p("src/d"), "c:/srv"]);
    assert_eq!(b.ok(&["exec", "c", "cat", "/tmp/f"]), "file");
    assert_eq!(b.ok(&["exec", "c", "/srv/sub/run.sh"]), "ran\n");
    let ls = b.ok(&["exec", "c", "ls", "-ln", "/srv/a.txt"]);
    assert!(ls.contains(" 0        0 "), "{ls}");
    // "/." copies contents.
    b.ok(&["exec", "c", "mkdir", "/merge"]);
    b.ok(&["cp", &format!("{}/.", p("src/d")), "c:/merge"]);
    assert_eq!(b.ok(&["exec", "c", "cat", "/merge/a.txt"]), "alpha");

    // Out of it: files belong to the user; with -a, to the container's ids.
    b.ok(&["cp", "c:/srv", &p("out")]);
    assert_eq!(
        std::fs::read_to_string(h.join("out/a.txt")).unwrap(),
        "alpha"
    );
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::getuid().as_raw();
    assert_eq!(std::fs::metadata(h.join("out/a.txt")).unwrap().uid(), me);
    assert_eq!(
        std::fs::metadata(h.join("out/sub/run.sh")).unwrap().mode() & 0o777,
        0o755
    );
    b.ok(&["cp", "c:/data/owned", &p("plain")]);
    assert_eq!(std::fs::metadata(h.join("plain")).unwrap().uid(), me);
    b.ok(&["cp", "-a", "c:/data/owned", &p("kept")]);
    let kept = std::fs::metadata(h.join("kept")).unwrap().uid();
    assert_eq!(kept, common::host_subuid_start() + 999, "uid 1000 inside");

    // Symlinks in the container resolve inside it, both ways.
    b.ok(&["cp", "c:/escape/etc/passwd", &p("passwd")]);
    let passwd = std::fs::read_to_string(h.join("passwd")).unwrap();
    assert!(
        passwd.contains("app:x:1000"),
        "the container's passwd: {passwd}"
    );
    b.ok(&["cp", &p("src/f"), "c:/escape/tmp/via-link"]);
    assert_eq!(b.ok(&["exec", "c", "cat", "/tmp/via-link"]), "file");
    assert!(!std::path::Path::new("/tmp/via-link").exists());

    // Tar streams.
    let o = b.run(&["cp", "c:/srv", "-"]);
    assert_eq!(o.status.code(), Some(0));
    let mut names: Vec<String> = tar::Archive::new(&o.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["srv", "srv/a.txt", "srv/sub", "srv/sub/run.sh"]);
    let mut child = b
        .cmd(&["cp", "-", "c:/tmp"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &o.stdout).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(b.ok(&["exec", "c", "cat", "/tmp/srv/a.txt"]), "alpha");

    // Stopped: the same, through the container's own root.
    b.ok(&["stop", "-t", "0", "c"]);
    b.ok(&["cp", &p("src/f"), "c:/data/while-stopped"]);
    b.ok(&["cp", "c:/data/while-stopped", &p("back")]);
    assert_eq!(std::fs::read_to_string(h.join("back")).unwrap(), "file");
    b.ok(&["start", "c"]);
    assert_eq!(b.ok(&["exec", "c", "cat", "/data/while-stopped"]), "file");

    // Bad input: one line, exit 125.
    for (args, needle) in [
        (vec!["cp", "c:/nosuch", &p("x")], "in container c: /nosuch"),
        (vec!["cp", &p("src/f"), &p("y")], "must be CONTAINER:PATH"),
        // Between containers: each must exist.
        (vec!["cp", "c:/srv", "nosuchctr:/x"], "no such container"),
        (vec!["cp", &p("src/d"), "c:/tmp/f"], "onto the file"),
        (vec!["cp", &p("nosuch"), "c:/tmp"], "no such file"),
        (
            vec!["cp", &p("src/f"), "nosuchctr:/tmp"],
            "no such container",
        ),
    ] {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    }
    b.ok(&["rm", "-f", "c"]);
}

#[test]
fn diff_lists_what_the_container_changed() {
    let (_reg, b, img) = common::pulled("test/diff", &busybox_image(|i| i));
    let script =
        "echo x > /tmp/new; rm /etc/group; mkdir -p /a/b; touch /a/b/c; echo y >> /etc/passwd";
    for driver in ["overlay", "fuse-overlayfs"] {
        let name = format!("d-{driver}");
        b.ok(&[
            "--storage-driver",
            driver,
            "run",
            "--name",
            &name,
            &img,
            "sh",
            "-c",
            script,
        ]);
        let diff = b.ok(&["diff", &name]);
        assert_eq!(
            diff,
            "A /a\nA /a/b\nA /a/b/c\nC /etc\nD /etc/group\nC /etc/passwd\nC /tmp\nA /tmp/new\n",
            "{driver}"
        );
        let json = b.ok_json(&["diff", "--format", "json", &name]);
        assert_eq!(json["deleted"], serde_json::json!(["/etc/group"]));
    }
    b.ok(&[
        "--storage-driver",
        "vfs",
        "run",
        "--name",
        "d-vfs",
        &img,
        "true",
    ]);
    let o = b.run(&["diff", "d-vfs"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("vfs driver"), "{}", stderr(&o));
    let o = b.run(&["diff", "nosuch"]);
    assert_eq!(o.status.code(), Some(125));
}
