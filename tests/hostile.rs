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
