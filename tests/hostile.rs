//! What a hostile image or a careless script can hand burrow (issue 22):
//! each case is refused with one line and an engine exit status, and
//! nothing is left behind.

mod common;

use common::{Burrow, Compression, LayerBuilder, busybox_image, stderr, stdout};

/// The refusal is one line (no usage text) and exit 125.
fn refused(o: &std::process::Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

fn no_containers(b: &Burrow) {
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

/// (uid_t)-1 means "leave unchanged" to setresuid(2): an id of 4294967295
/// once ran the command as root. Flags, exec and the image's own User are
/// refused alike, before anything runs.
#[test]
fn ids_beyond_the_signed_range_never_run() {
    let (_reg, b, img) = common::pulled("test/hostile-ids", &busybox_image(|i| i));
    for user in [
        "4294967295",
        "0:4294967295",
        "4294967295:0",
        "-1",
        "2147483648",
    ] {
        let o = b.run(&["run", "--rm", "-u", user, &img, "id", "-u"]);
        refused(&o, "uids and gids must be in range 0-2147483647");
        assert_eq!(stdout(&o), "", "{user}: nothing ran");
    }
    no_containers(&b);
    // An id in range (and in the user's subordinate range) runs as itself.
    let o = b.run(&["run", "--rm", "-u", "1000:1000", &img, "id", "-u"]);
    assert_eq!(stdout(&o), "1000\n", "{}", stderr(&o));

    b.ok(&["run", "-d", "--name", "box", &img, "sleep", "60"]);
    let o = b.run(&["exec", "-u", "4294967295", "box", "id", "-u"]);
    refused(&o, "uids and gids must be in range 0-2147483647");
    assert_eq!(stdout(&o), "");
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn an_image_that_names_an_impossible_user_is_refused() {
    let image = busybox_image(|i| i.user("4294967295:4294967295"));
    let (_reg, b, img) = common::pulled("test/hostile-image-user", &image);
    let o = b.run(&["run", "--rm", &img, "id", "-u"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("uids and gids must be in range 0-2147483647"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "", "nothing ran");
    // A passwd entry with such an id is no better than the flag.
    let passwd = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nevil:x:4294967295:0:evil:/:/bin/sh\n",
            0o644,
            0,
            0,
        )
        .finish(Compression::Gzip);
    let (_reg2, b2, img2) =
        common::pulled("test/hostile-passwd", &busybox_image(|i| i.layer(passwd)));
    let o = b2.run(&["run", "--rm", "-u", "evil", &img2, "id", "-u"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("must be in range"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "nothing ran");
}

/// Values that start with a dash reach burrow's own checks, which answer
/// in one line, not clap's usage text.
#[test]
fn dashed_and_huge_values_get_one_line() {
    let (_reg, b, img) = common::pulled("test/hostile-args", &busybox_image(|i| i));
    let o = b.run(&["run", "--rm", "-p", "-1:80", &img, "true"]);
    refused(&o, "-1:80");
    let o = b.run(&["run", "--rm", "-u", "-1", &img, "true"]);
    refused(&o, "must be in range");
    let long = "a".repeat(120_000);
    let o = b.run(&["run", "--rm", "--name", &long, &img, "true"]);
    refused(&o, "invalid container name");
    assert!(stderr(&o).len() < 400, "the name is not echoed whole");
    let o = b.run(&["create", "--name", &"b".repeat(254), &img, "true"]);
    refused(&o, "at most 253");
    no_containers(&b);
    b.ok(&["create", "--name", &"c".repeat(253), &img, "true"]);
}

/// A cause is named once, then the fix: the message for a file owned
/// beyond the subordinate range once printed its whole text twice.
#[test]
fn an_owner_beyond_the_range_is_explained_once() {
    let reg = common::Registry::start();
    let owned = LayerBuilder::new()
        .file("far", "x\n", 0o644, 70_000, 70_000)
        .finish(Compression::Gzip);
    reg.push_image(
        "test/far-owner",
        "latest",
        &busybox_image(|i| i.layer(owned)),
    );
    let b = Burrow::new();
    let name = reg.reference("test/far-owner", "latest");
    let o = b.run(&["pull", "-q", "--tls-verify=false", &name]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert_eq!(err.matches("is owned by uid 70000").count(), 1, "{err}");
    assert_eq!(err.matches("usermod").count(), 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// SIGKILL at points spread over a command's life never leaves the store
/// inconsistent, and the same command then succeeds.
#[test]
fn commands_killed_midway_leave_a_whole_store() {
    use std::time::Duration;
    let (_reg, b, img) = common::pulled("test/hostile-kill", &busybox_image(|i| i));
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM ".to_string() + &img + "\nRUN echo one > /one\nRUN echo two > /two\n",
    )
    .unwrap();
    let ctx_path = ctx.path().to_str().unwrap().to_string();
    let store_ok = |what: &str| {
        let check = b.ok(&["system", "check"]);
        assert!(check.contains("OK    store: "), "after {what}: {check}");
    };
    // Delays in ms, from before the namespace exists to after the command.
    for (i, delay) in [0u64, 2, 5, 10, 20, 40, 80, 160].into_iter().enumerate() {
        let name = format!("k{i}");
        let scenarios: Vec<(&str, Vec<String>)> = vec![
            (
                "run -d",
                ["run", "-d", "--name", &name, &img, "sleep", "30"]
                    .map(String::from)
                    .to_vec(),
            ),
            (
                "build",
                [
                    "build",
                    "--no-cache",
                    "-q",
                    "-t",
                    &format!("localhost/k{i}"),
                    &ctx_path,
                ]
                .map(String::from)
                .to_vec(),
            ),
        ];
        for (what, args) in scenarios {
            let mut child = b.cmd(&args).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            let _ = child.kill();
            let _ = child.wait();
            store_ok(what);
        }
        // rm of what the killed run left, killed too, then for real.
        let mut rm = b.cmd(&["rm", "-f", &name]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay / 4));
        let _ = rm.kill();
        let _ = rm.wait();
        store_ok("rm -f");
        b.ok(&["rm", "-f", "--ignore", &name]);
    }
    // Every command works afterwards.
    b.ok(&["run", "-d", "--name", "after", &img, "sleep", "30"]);
    b.ok(&["build", "-q", "-t", "localhost/after", &ctx_path]);
    b.ok(&["rm", "-f", "after"]);
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    store_ok("the retries");
}

/// A container's confinement next to Podman's for the same image and
/// command: the same capabilities and seccomp mode, only stdio open, no host
/// environment or working directory. burrow differs on purpose in one
/// place: no_new_privs is always set (an unprivileged seccomp filter needs
/// it; Podman installs its filter through runc's privileges).
#[test]
fn confinement_matches_podmans() {
    let (_reg, b, img) = common::pulled("test/hostile-confine", &busybox_image(|i| i));
    let p = common::podman::Podman::new();
    p.ok(&["pull", "-q", "--tls-verify=false", &img]);
    let probe = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; \
                 ls /proc/self/fd | tr '\\n' ' '; echo; pwd; \
                 env | grep -c BURROW_SECRET; \
                 echo kcore $(wc -c < /proc/kcore 2>/dev/null); \
                 ls /proc/acpi 2>/dev/null | wc -l";
    let args = ["run", "--rm", "--network", "none", &img, "sh", "-c", probe];
    let mut bc = b.cmd(&args);
    bc.env("BURROW_SECRET", "x").current_dir("/tmp");
    let bo = bc.output().unwrap();
    // The test's containers.conf replaces the distribution's, whose
    // default_capabilities burrow's default set follows; without it Podman
    // adds NET_RAW, MKNOD and AUDIT_WRITE.
    let podman_args = [
        &args[..2],
        &["--cap-drop", "NET_RAW,MKNOD,AUDIT_WRITE"],
        &args[2..],
    ]
    .concat();
    let mut pc = p.cmd(&podman_args);
    pc.env("BURROW_SECRET", "x").current_dir("/tmp");
    let po = pc.output().unwrap();
    let burrow = stdout(&bo);
    let podman = String::from_utf8_lossy(&po.stdout).to_string();
    assert!(bo.status.success(), "{}", stderr(&bo));
    assert!(
        po.status.success(),
        "{}",
        String::from_utf8_lossy(&po.stderr)
    );
    let field = |out: &str, f: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{f}:")))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
    };
    for f in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp"] {
        assert_eq!(
            field(&burrow, f),
            field(&podman, f),
            "{f}\nburrow:\n{burrow}\npodman:\n{podman}"
        );
    }
    assert_eq!(
        field(&burrow, "NoNewPrivs").as_deref(),
        Some("1"),
        "{burrow}"
    );
    // The rest: fds 0-2 (and ls's own), /, no host variable, masked paths.
    let rest = |out: &str| {
        out.lines()
            .filter(|l| !l.contains(':'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rest(&burrow),
        rest(&podman),
        "burrow:\n{burrow}\npodman:\n{podman}"
    );
    // Masked: /proc/kcore reads as empty (or not at all).
    assert!(
        burrow.lines().any(|l| l == "kcore 0" || l == "kcore"),
        "{burrow}"
    );
}

/// burrow with `args`, given `secs` to end; its output, or a failed test
/// (after killing it) when it hangs.
fn within(b: &Burrow, args: &[&str], secs: u64) -> (std::process::Output, std::time::Duration) {
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let mut child = b
        .cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn burrow");
    let ended = common::Wait::secs(secs).for_some(|| child.try_wait().unwrap());
    if ended.is_none() {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("burrow {args:?} still ran after {secs} s: {}", stderr(&o));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

/// A container that turns its account files into a FIFO, a device or a
/// huge file cannot hold `exec` (nor make it read without end): the files
/// it controls are opened without blocking and read only when regular and
/// of sane size, and the refusal names the file.
#[test]
fn account_files_the_container_controls_cannot_hold_exec() {
    let (_reg, b, img) = common::pulled("test/hostile-exec", &busybox_image(|i| i));
    let ready = |name: &str, setup: &str| {
        let script = format!("{setup} && echo ready && exec sleep 300");
        b.ok(&["run", "-d", "--name", name, &img, "sh", "-c", &script]);
        common::Wait::secs(20).expect("the container's setup", || {
            stdout(&b.run(&["logs", name])).contains("ready")
        });
    };
    ready("fifo", "mkfifo /tmp/p && mv /tmp/p /etc/passwd");
    for args in [
        &["exec", "fifo", "true"][..],
        &["exec", "-u", "nobody", "fifo", "true"][..],
        &["exec", "-i", "fifo", "sleep", "100"][..],
    ] {
        let (o, took) = within(&b, args, 10);
        refused(&o, "/etc/passwd");
        assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
        assert!(took.as_secs() < 5, "{args:?} took {took:?}");
    }
    ready("dev", "ln -sf /dev/null /etc/group");
    let (o, _) = within(&b, &["exec", "dev", "true"], 10);
    refused(&o, "/etc/group");
    ready(
        "huge",
        "dd if=/dev/zero of=/tmp/big bs=1M count=20 2>/dev/null && cat /etc/passwd >> /tmp/big && mv /tmp/big /etc/passwd",
    );
    let (o, _) = within(&b, &["exec", "huge", "true"], 20);
    refused(&o, "/etc/passwd");
    b.ok(&["rm", "-f", "fifo", "dev", "huge"]);
}

/// `exec` ends promptly on SIGTERM, SIGINT and SIGHUP while its command
/// runs: the command gets the signal, burrow returns its status.
#[test]
fn exec_stays_interruptible() {
    let (_reg, b, img) = common::pulled("test/hostile-exec-signals", &busybox_image(|i| i));
    b.ok(&["run", "-d", "--name", "box", &img, "sleep", "300"]);
    for (sig, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let mut child = b
            .cmd(&["exec", "box", "sh", "-c", "echo started; exec sleep 100"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "started\n");
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = common::Wait::secs(5).for_some(|| child.try_wait().unwrap());
        if status.is_none() {
            let _ = child.kill();
        }
        assert_eq!(status.and_then(|s| s.code()), Some(code), "signal {sig}");
    }
    b.ok(&["rm", "-f", "box"]);
}
