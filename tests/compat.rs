//! Drop-in behaviour (issue 20): the flags, exit codes and output that
//! scripts written for Docker and Podman rely on.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::{Burrow, busybox_image, stderr, stdout};

fn pulled() -> (common::Registry, Burrow, String) {
    common::pulled("test/compat", &busybox_image(|i| i))
}

fn names(b: &Burrow, args: &[&str]) -> String {
    let mut all = vec!["ps", "--format", "{{.Names}}"];
    all.extend_from_slice(args);
    b.ok(&all).lines().collect::<Vec<_>>().join(",")
}

/// The first command of a peer's test suite cleans up with every flag.
#[test]
fn the_cleanup_scripts_start_with_works() {
    let (_reg, b, img) = pulled();
    b.ok(&["rm", "-t", "0", "--all", "--force", "--ignore"]);
    b.ok(&["run", "-d", "--name", "up", &img, "sleep", "60"]);
    b.ok(&["create", "--name", "made", &img, "true"]);
    let out = b.ok(&["rm", "-t", "0", "--all", "--force", "--ignore"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    // --ignore: a name that matches nothing is no error; without it, 1.
    assert_eq!(b.ok(&["rm", "--ignore", "nosuch"]), "");
    assert_eq!(b.run(&["rm", "nosuch"]).status.code(), Some(1));
    // rm prints the name as it was typed.
    b.ok(&["create", "--name", "typed", &img, "true"]);
    assert_eq!(b.ok(&["rm", "typed"]), "typed\n");
}

#[test]
fn stop_kill_start_and_restart_take_all() {
    let (_reg, b, img) = pulled();
    for n in ["a", "b"] {
        b.ok(&["run", "-d", "--name", n, &img, "sleep", "60"]);
    }
    b.ok(&["create", "--name", "c", &img, "sleep", "60"]);
    let stopped = b.ok(&["stop", "--all", "--timeout", "0"]);
    assert_eq!(stopped.lines().count(), 2, "{stopped}");
    assert_eq!(names(&b, &[]), "");
    assert_eq!(b.ok(&["stop", "--ignore", "nosuch"]), "");
    assert_eq!(b.run(&["stop", "nosuch"]).status.code(), Some(125));

    // start --all starts what is not running; --filter narrows it.
    let started = b.ok(&["start", "--all", "--filter", "name=c"]);
    assert_eq!(started.lines().count(), 1, "{started}");
    assert_eq!(names(&b, &[]), "c");
    b.ok(&["start", "--all"]);
    assert_eq!(names(&b, &["--sort", "names"]), "a,b,c");

    b.ok(&["restart", "--all", "--running", "-t", "0"]);
    assert_eq!(names(&b, &["--sort", "names"]), "a,b,c");
    let killed = b.ok(&["kill", "-a"]);
    assert_eq!(killed.lines().count(), 3, "{killed}");
    b.ok(&["rm", "-fa"]);
}

#[test]
fn ps_and_images_take_scripts_flags() {
    let (_reg, b, img) = pulled();
    b.ok(&["run", "--name", "done", &img, "sh", "-c", "echo hi > /f"]);
    b.ok(&["run", "-d", "--name", "up", &img, "sleep", "60"]);
    // Filters other than status/exited narrow the running containers.
    assert_eq!(names(&b, &["--filter", "name=done"]), "");
    assert_eq!(names(&b, &["-a", "--filter", "name=done"]), "done");
    assert_eq!(names(&b, &["--filter", "status=exited"]), "done");

    let table = b.ok(&["ps", "-a", "--noheading"]);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(!table.contains("CONTAINER ID"), "{table}");
    let sized = b.ok(&["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"]);
    let done = sized.lines().find(|l| l.starts_with("done ")).unwrap();
    assert!(done.ends_with(" B") || done.ends_with("kB"), "{sized}");
    assert!(
        b.ok(&["ps", "-a", "--size"])
            .lines()
            .next()
            .unwrap()
            .contains("SIZE")
    );

    let images = b.ok(&["images", "-n", "-a"]);
    assert_eq!(images.lines().count(), 1, "{images}");
    assert!(!images.contains("REPOSITORY"), "{images}");
    // A second name: `images NAME` lists the image under that name only.
    b.ok(&["tag", &img, "localhost/other:v2"]);
    let listed = b.ok(&[
        "images",
        "localhost/other:v2",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(listed, "localhost/other:v2\n");
    b.ok(&["rm", "-f", "up"]);
}

/// `--format` prints values as Go's text/template does.
#[test]
fn templates_print_like_go() {
    let (_reg, b, img) = pulled();
    b.ok(&["create", "--name", "t", &img, "/bin/sh", "-c", "true"]);
    let cmd = b.ok(&["inspect", "--format", "{{.Config.Cmd}}", "t"]);
    assert_eq!(cmd, "[/bin/sh -c true]\n");
    let labels = b.ok(&["inspect", "--format", "{{.Config.Labels}}", "t"]);
    assert_eq!(labels, "map[]\n");
    let o = b.run(&["inspect", "--format", "{{.Config.Nope}}", "t"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("\"Nope\""), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("Cmd"),
        "the data is not dumped: {}",
        stderr(&o)
    );
}

/// A reader that goes away ends burrow quietly by SIGPIPE, as any Unix
/// program, not with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let b = Burrow::new();
    let mut child = b
        .cmd(&["completion", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The rest of the script has nowhere to go.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
    assert_eq!(stderr(&out), "", "no panic");
}

/// `-t` tells the command what terminal it has, unless the image or `-e`
/// does.
#[test]
fn a_terminal_sets_term() {
    let (_reg, b, img) = pulled();
    let term = |extra: &[&str]| {
        let mut args = vec!["run", "-d", "-t"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&img, "sh", "-c", "echo TERM=$TERM"]);
        let id = b.ok(&args);
        b.ok(&["wait", id.trim()]);
        let logs = b.ok(&["logs", id.trim()]);
        b.ok(&["rm", id.trim()]);
        logs.trim().to_string()
    };
    assert_eq!(term(&[]), "TERM=xterm");
    assert_eq!(term(&["-e", "TERM=vt100"]), "TERM=vt100");
    // Without a terminal nothing is set.
    let o = b.ok(&["run", "--rm", &img, "sh", "-c", "echo TERM=$TERM"]);
    assert_eq!(o, "TERM=\n");
}

/// The headline command keeps the container's exit code every time: the
/// monitor used to exit with the client's late input unread, and the
/// kernel then reported a reset before the exit message it had sent
/// (with --rm no record was left to read the code from).
#[test]
fn run_it_rm_keeps_the_exit_code_every_time() {
    let (_reg, b, img) = pulled();
    for i in 0..200 {
        let o = b.run(&["run", "-it", "--rm", &img, "sh", "-c", "exit 3"]);
        assert_eq!(o.status.code(), Some(3), "run {i}: {}", stderr(&o));
    }
    for i in 0..50 {
        let o = b.run(&["run", "-it", "--rm", &img, "echo", "hi"]);
        assert_eq!(o.status.code(), Some(0), "run {i}: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\r\n", "run {i}");
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

#[test]
fn exists_untag_version_and_go_field_names() {
    let (_reg, b, img) = pulled();
    let code = |args: &[&str]| {
        let o = b.run(args);
        assert_eq!(stdout(&o), "", "no output: {args:?}");
        o.status.code()
    };
    assert_eq!(code(&["image", "exists", &img]), Some(0));
    assert_eq!(code(&["image", "exists", "localhost/nope:1"]), Some(1));
    b.ok(&["create", "--name", "here", &img, "true"]);
    assert_eq!(code(&["container", "exists", "here"]), Some(0));
    assert_eq!(code(&["container", "exists", "gone"]), Some(1));

    let id = b.ok(&["inspect", "--format", "{{.Id}}", &img]);
    assert_eq!(b.ok(&["inspect", "--format", "{{.ID}}", &img]), id);
    let cid = b.ok(&["inspect", "--format", "{{.ID}}", "here"]);
    assert_eq!(cid.trim().len(), 64, "{cid}");

    b.ok(&["tag", &img, "localhost/extra:1", "localhost/extra:2"]);
    b.ok(&["untag", &img, "localhost/extra:1"]);
    let names = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        names.contains("localhost/extra:2") && !names.contains("localhost/extra:1"),
        "{names}"
    );
    let o = b.run(&["untag", &img, "localhost/never:1"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("is not a name of image"),
        "{}",
        stderr(&o)
    );
    b.ok(&["image", "untag", "localhost/extra:2"]);

    let v = b.ok(&["version", "--format", "{{.Client.Version}}"]);
    assert_eq!(v.trim(), env!("CARGO_PKG_VERSION"));
    assert_eq!(b.ok(&["version", "--format", "{{.Server.Version}}"]), v);
    let json = b.ok_json(&["version", "--format", "json"]);
    assert_eq!(json["Client"]["Version"], env!("CARGO_PKG_VERSION"));
    assert!(b.ok(&["version"]).starts_with("Client:"));
}

/// Podman's exit statuses and phrases for what does not exist (README's
/// exit status table).
#[test]
fn missing_objects_get_podmans_status_and_words() {
    let (_reg, b, img) = pulled();
    let no_container = "no container with name or ID \"nosuch\" found: no such container";
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["logs", "nosuch"], 125, no_container),
        (vec!["exec", "nosuch", "true"], 125, no_container),
        (vec!["stop", "nosuch"], 125, no_container),
        (vec!["kill", "nosuch"], 125, no_container),
        (vec!["start", "nosuch"], 125, no_container),
        (vec!["wait", "nosuch"], 125, no_container),
        (vec!["port", "nosuch"], 125, no_container),
        (vec!["restart", "nosuch"], 125, no_container),
        (vec!["attach", "nosuch"], 125, no_container),
        (vec!["rm", "nosuch"], 1, no_container),
        (vec!["inspect", "nosuch"], 125, "no such object: \"nosuch\""),
        (
            vec!["rmi", "localhost/nosuch"],
            1,
            "localhost/nosuch: image not known",
        ),
        (vec!["network", "rm", "nosuch"], 1, "network not found"),
        (
            vec!["run", "--pull=never", "localhost/nosuch", "true"],
            125,
            "localhost/nosuch: image not known",
        ),
        (
            vec!["--log-level=bogus", "ps"],
            1,
            "Log Level \"bogus\" is not supported",
        ),
    ];
    for (args, code, words) in cases {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(words), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("Error: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // An image a container uses: 2.
    b.ok(&["create", "--name", "user", &img, "true"]);
    assert_eq!(b.run(&["rmi", &img]).status.code(), Some(2));
    // A container whose command does not exist fails to start: 125.
    b.ok(&["create", "--name", "broken", &img, "no-such-command"]);
    assert_eq!(b.run(&["start", "broken"]).status.code(), Some(125));
}

#[test]
fn run_takes_docker_and_podman_spellings() {
    let (_reg, b, img) = pulled();
    // --replace: the container of that name goes first.
    b.ok(&["run", "-d", "--name", "svc", &img, "sleep", "60"]);
    let o = b.run(&["run", "-d", "--name", "svc", &img, "true"]);
    assert_eq!(
        o.status.code(),
        Some(125),
        "the name is taken without --replace"
    );
    let new = b.ok(&[
        "run",
        "-d",
        "--replace",
        "--name",
        "svc",
        &img,
        "sleep",
        "60",
    ]);
    assert_eq!(b.ok(&["ps", "-aq", "--no-trunc"]).trim(), new.trim());
    b.ok(&["rm", "-f", "svc"]);
    // --dns-opt is Docker's spelling of --dns-option.
    let resolv = b.ok(&[
        "run",
        "--rm",
        "--dns-opt",
        "ndots:3",
        &img,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(resolv.contains("ndots:3"), "{resolv}");
    // Docker's and Podman's default network names mean burrow's default.
    for net in ["bridge", "podman"] {
        let ifaces = b.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            &img,
            "cat",
            "/proc/net/dev",
        ]);
        assert!(ifaces.lines().count() > 3, "{net}: {ifaces}");
    }
    // keep-id with ids of the user's choosing.
    let ids = b.ok(&[
        "run",
        "--rm",
        "--userns=keep-id:uid=1234,gid=2345",
        &img,
        "sh",
        "-c",
        "id -u; id -g",
    ]);
    assert_eq!(ids, "1234\n2345\n");
    let o = b.run(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges=false",
        &img,
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("no_new_privs"), "{}", stderr(&o));
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges=true",
            &img,
            "echo",
            "ok"
        ]),
        "ok\n"
    );
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

/// One script, as users write it for Docker, run with `DOCKER=podman` and
/// `DOCKER=burrow`: every step exits the same way, and the steps whose
/// output scripts parse print the same.
#[test]
fn a_docker_script_runs_the_same_under_podman_and_burrow() {
    let (reg, b, img) = pulled();
    let p = common::podman::Podman::new();
    p.ok(&["pull", "-q", "--tls-verify=false", &img]);
    let _keep = reg;
    // (args, compare stdout too)
    let steps: Vec<(Vec<&str>, bool)> = vec![
        (
            vec!["run", "--name", "s1", &img, "sh", "-c", "exit 3"],
            true,
        ),
        (vec!["ps", "-a", "--format", "{{.Names}}"], true),
        (
            vec!["inspect", "--format", "{{.State.ExitCode}}", "s1"],
            true,
        ),
        (vec!["inspect", "--format", "{{.Config.Cmd}}", "s1"], true),
        (
            vec!["run", "-d", "--name", "s2", &img, "sleep", "60"],
            false,
        ),
        (vec!["ps", "--format", "{{.Names}}"], true),
        (vec!["exec", "s2", "sh", "-c", "exit 4"], true),
        (vec!["stop", "-t", "0", "s2"], true),
        (vec!["inspect", "--format", "{{.State.Status}}", "s2"], true),
        (vec!["rm", "s1", "s2"], true),
        (vec!["rm", "nosuch"], true),
        (vec!["stop", "nosuch"], true),
        (vec!["logs", "nosuch"], true),
        (vec!["run", "--rm", &img, "nosuchcmd"], true),
        (vec!["image", "exists", &img], true),
        (vec!["image", "exists", "localhost/nope:1"], true),
        (vec!["container", "exists", "s1"], true),
        (
            vec!["run", "--rm", "-e", "A=1", &img, "sh", "-c", "echo $A"],
            true,
        ),
        (
            vec!["run", "--rm", "--name", "a", "--name", "b", &img, "true"],
            true,
        ),
        (
            vec!["images", "--format", "{{.Repository}}:{{.Tag}}", &img],
            true,
        ),
        (vec!["ps", "-a", "-q"], true),
        (vec!["rm", "-t", "0", "--all", "--force", "--ignore"], true),
        (vec!["--log-level=bogus", "ps"], false),
        (vec!["version", "--format", "{{.Client.Version}}"], false),
    ];
    for (args, same_output) in steps {
        let (po, bo) = (p.run(&args), b.run(&args));
        assert_eq!(
            bo.status.code(),
            po.status.code(),
            "{args:?}: burrow {} / podman {}",
            stderr(&bo),
            String::from_utf8_lossy(&po.stderr)
        );
        if same_output {
            // Podman removes several containers at once, printing them in
            // the order they finish: compare the lines as a set.
            let lines = |s: &str| {
                let mut l: Vec<String> = s.lines().map(str::to_string).collect();
                l.sort();
                l
            };
            assert_eq!(
                lines(&stdout(&bo)),
                lines(&String::from_utf8_lossy(&po.stdout)),
                "{args:?}"
            );
        }
    }
}

/// `-a` attaches only the streams it names, as Docker's.
#[test]
fn attach_names_the_streams() {
    let (_reg, b, img) = pulled();
    let both = "echo out; echo err >&2";
    let o = b.run(&["run", "--rm", "-a", "stdout", &img, "sh", "-c", both]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out\n", ""));
    let o = b.run(&["run", "--rm", "-a", "stderr", &img, "sh", "-c", both]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", "err\n"));
    let o = b.run_with_stdin(
        &["run", "--rm", "-a", "stdin", "-a", "stdout", &img, "cat"],
        "typed\n",
    );
    assert_eq!(stdout(&o), "typed\n", "{}", stderr(&o));
    // Without stdin attached, even -i reads nothing.
    let o = b.run_with_stdin(
        &["run", "--rm", "-i", "-a", "stdout", &img, "cat"],
        "typed\n",
    );
    assert_eq!(stdout(&o), "");
    // burrow's own errors are seen whatever is attached.
    let o = b.run(&["run", "--rm", "-a", "stdout", &img, "no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("no-such-command"), "{}", stderr(&o));
    let o = b.run(&["run", "-d", "-a", "stdout", &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("-a and -d conflict"), "{}", stderr(&o));
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

/// A reader that goes away ends `run` as it ends the Docker and Podman
/// clients: by SIGPIPE, quietly.
#[test]
fn run_into_a_closed_pipe_ends_by_sigpipe() {
    let (_reg, b, img) = pulled();
    let mut child = b
        .cmd(&["run", "--rm", &img, "seq", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "1\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

/// The headline paths this work touched, repeated: every exit code kept,
/// nothing left behind (one green run hides races).
#[test]
fn exec_and_stop_repeated_keep_every_exit_code() {
    let (_reg, b, img) = pulled();
    b.ok(&["run", "-d", "--name", "box", &img, "sleep", "300"]);
    for i in 0..60 {
        let code = i % 7;
        let o = b.run(&["exec", "box", "sh", "-c", &format!("exit {code}")]);
        assert_eq!(o.status.code(), Some(code), "exec {i}: {}", stderr(&o));
    }
    b.ok(&["rm", "-f", "box"]);
    for i in 0..20 {
        let name = format!("s{i}");
        b.ok(&["run", "-d", "--name", &name, &img, "sleep", "60"]);
        assert_eq!(
            b.ok(&["stop", "-t", "0", &name]),
            format!("{name}\n"),
            "stop {i}"
        );
        let code = b.ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
        assert_eq!(code.trim(), "137", "stop {i}: killed at once");
        assert_eq!(b.ok(&["rm", &name]), format!("{name}\n"), "rm {i}");
    }
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}
