//! Container lifecycle commands (`ps`, `rm`) and truthful states, end to
//! end as the unprivileged user.

mod common;

use std::process::Child;

use common::{Burrow, Registry, Wait, busybox_image, stderr, stdout};

fn pulled() -> (Registry, Burrow, String) {
    common::pulled("test/life", &busybox_image(|i| i))
}

/// `burrow run --name NAME IMG sleep 60` in the background, once `ps`
/// shows it running. The caller waits for the child; a failed assertion
/// ends the whole test process, child included.
#[allow(clippy::zombie_processes)]
fn start_sleeper(b: &Burrow, img: &str, name: &str) -> Child {
    let mut child = b
        .cmd(&["run", "--name", name, img, "sleep", "60"])
        .spawn()
        .unwrap();
    // (`b.ok` may panic too, leaving the child to the runner.)
    let running = Wait::secs(20).until(|| {
        let names = b.ok(&["ps", "--format", "{{.Names}}"]);
        names.lines().any(|l| l == name)
    });
    if !running {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{name} never showed as running");
    }
    child
}

#[test]
fn ps_lists_containers_with_status_filters_and_formats() {
    let (_reg, b, img) = pulled();
    b.run(&["run", "--name", "failed", &img, "sh", "-c", "exit 3"]);
    b.run(&["run", "--name", "done", &img, "true"]);
    let mut sleeper = start_sleeper(&b, &img, "sleeper");

    // Without -a: running ones only, Podman's columns.
    let table = b.ok(&["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        lines[1].contains("Up ") && lines[1].ends_with("sleeper"),
        "{table}"
    );

    let all = b.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{.State}} {{.ExitCode}}",
    ]);
    assert_eq!(all, "sleeper running 0\ndone exited 0\nfailed exited 3\n");
    assert_eq!(b.ok(&["ps", "-a", "-q"]).lines().count(), 3);
    assert!(b.ok(&["ps", "-a", "-q"]).lines().all(|l| l.len() == 12));
    assert!(
        b.ok(&["ps", "-a", "-q", "--no-trunc"])
            .lines()
            .all(|l| l.len() == 64)
    );
    let names = |args: &[&str]| -> String {
        let mut all = vec!["ps", "--format", "{{.Names}}"];
        all.extend_from_slice(args);
        b.ok(&all).lines().collect::<Vec<_>>().join(",")
    };
    assert_eq!(names(&["--filter", "status=exited"]), "done,failed");
    assert_eq!(names(&["--filter", "exited=3"]), "failed");
    // Other filters narrow the running containers, or with -a all of them.
    assert_eq!(names(&["--filter", "name=do"]), "");
    assert_eq!(names(&["-a", "--filter", "name=do"]), "done");
    assert_eq!(names(&["--filter", "name=sle"]), "sleeper");
    assert_eq!(names(&["--filter", &format!("ancestor={img}")]), "sleeper");
    assert_eq!(
        names(&["-a", "--filter", &format!("ancestor={img}")]),
        "sleeper,done,failed"
    );
    assert_eq!(names(&["-l"]), "sleeper");
    assert_eq!(names(&["-n", "2"]), "sleeper,done");
    let json = b.ok_json(&["ps", "-a", "--format", "json"]);
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert_eq!(json[0]["Names"][0], "sleeper");
    assert_eq!(json[0]["State"], "running");
    let pid = json[0]["Pid"].as_i64().unwrap();
    let monitor = json[0]["MonitorPid"].as_i64().unwrap();
    assert!(pid > 0 && monitor > 0 && pid != monitor, "{json}");
    // The container's pid 1 runs `sleep`, a child of the monitor.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains("(sleep)"), "{stat}");
    assert_eq!(json[2]["ExitCode"], 3);
    let table = b.ok(&["ps", "-a", "--format", "table {{.Names}}\t{{.Status}}"]);
    assert!(table.starts_with("NAMES"), "{table}");
    assert!(table.contains("Exited (3)"), "{table}");
    let o = b.run(&["ps", "--filter", "volume=x"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("unknown filter \"volume\""),
        "{}",
        stderr(&o)
    );

    // rm: a running container needs -f; -f kills it (its `run` sees 137).
    let o = b.run(&["rm", "sleeper"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it is running; stop it first or use burrow rm -f"));
    let o = b.run(&["rm", "-f", "sleeper"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The container as the user named it (Docker and Podman print that).
    assert_eq!(stdout(&o).trim(), "sleeper");
    assert_eq!(sleeper.wait().unwrap().code(), Some(137));
    assert_eq!(names(&["-a"]), "done,failed");
    let o = b.run(&["rm", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no container with name or ID \"nosuch\" found: no such container"),
        "{}",
        stderr(&o)
    );
    b.ok(&["rm", "--all"]);
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    let left = b.container_dirs().len();
    assert_eq!(left, 0);
}

#[test]
fn a_killed_run_leaves_a_truthful_record() {
    let (_reg, b, img) = pulled();
    let mut run = start_sleeper(&b, &img, "victim");
    // SIGKILL the CLI: its monitor and the container die with it (parent
    // death signals), and nobody writes the exit down.
    run.kill().unwrap();
    run.wait().unwrap();
    let mut state = String::new();
    assert!(
        Wait::secs(10).until(|| {
            state = b.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}"]);
            state == "victim exited Exited (unknown)\n"
        }),
        "still: {state}"
    );
    assert_eq!(b.ok(&["ps", "-q"]), "");
    // Not running, so rm needs no -f.
    b.ok(&["rm", "victim"]);
}

#[test]
fn prefixes_and_names_find_containers() {
    let (_reg, b, img) = pulled();
    for n in 0..17 {
        b.ok(&["run", "--name", &format!("c{n}"), &img, "true"]);
    }
    let ids = b.ok(&["ps", "-a", "-q", "--no-trunc"]);
    let ids: Vec<&str> = ids.lines().collect();
    // 17 IDs, 16 hex digits: some pair shares its first digit.
    let (a, _) = ids
        .iter()
        .enumerate()
        .flat_map(|(i, a)| ids[i + 1..].iter().map(move |b| (a, b)))
        .find(|(a, b)| a[..1] == b[..1])
        .unwrap();
    let o = b.run(&["rm", &a[..1]]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is ambiguous"), "{}", stderr(&o));
    let o = b.run(&["rm", &a[..20]]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), &a[..20]);
    assert!(!b.ok(&["ps", "-aq", "--no-trunc"]).contains(*a));
    b.ok(&["rm", "c3", "c4"]);
    assert_eq!(b.ok(&["ps", "-a", "-q"]).lines().count(), 14);
}

#[test]
fn detached_containers_log_stop_kill_and_wait() {
    let (_reg, b, img) = pulled();
    let script = "echo hello; echo oops >&2; \
                  trap 'echo got USR1' USR1; trap 'echo got TERM; exit 7' TERM; \
                  while :; do sleep 0.05; done";
    // `run -d` returns once the command runs, holding none of our pipes
    // (output() would otherwise wait for the container to end).
    let o = b.run(&["run", "-d", "--name", "bg", &img, "sh", "-c", script]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(
        b.ok(&["ps", "--format", "{{.Names}} {{.State}}"]),
        "bg running\n"
    );
    let wait_for = |needle: &str| {
        Wait::secs(20)
            .for_some(|| {
                let o = b.run(&["logs", "bg"]);
                stdout(&o).contains(needle).then_some(o)
            })
            .unwrap_or_else(|| panic!("no {needle:?} in the log"))
    };
    let o = wait_for("hello");
    assert_eq!(stdout(&o), "hello\n");
    assert_eq!(stderr(&o), "oops\n", "stderr stays stderr");
    // `logs -f` follows until the container ends.
    let follower = b
        .cmd(&["logs", "-f", "bg"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    b.ok(&["kill", "-s", "USR1", "bg"]);
    wait_for("got USR1");
    assert_eq!(b.ok(&["stop", "bg"]), "bg\n");
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(stdout(&followed), "hello\ngot USR1\ngot TERM\n");
    assert_eq!(b.ok(&["wait", "bg"]), "7\n");
    assert_eq!(
        b.ok(&["ps", "-a", "--format", "{{.Status}}"])
            .split(' ')
            .take(2)
            .collect::<Vec<_>>(),
        ["Exited", "(7)"]
    );
    // Timestamps and --tail.
    let t = b.ok(&["logs", "-t", "--tail", "1", "bg"]);
    assert!(t.ends_with(" got TERM\n") && t.starts_with("20"), "{t}");
    // Stopping a stopped container is fine; one that ignores TERM is killed.
    b.ok(&["stop", "bg"]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        &img,
        "sh",
        "-c",
        "trap '' TERM; while :; do sleep 0.05; done",
    ]);
    b.ok(&["stop", "-t", "1", "stubborn"]);
    assert_eq!(b.ok(&["wait", "stubborn"]), "137\n");
    // kill defaults to KILL; a bad signal is one clear line.
    b.ok(&["run", "-d", "--name", "k", &img, "sleep", "60"]);
    let o = b.run(&["kill", "-s", "NOPE", "k"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("invalid signal \"NOPE\""),
        "{}",
        stderr(&o)
    );
    b.ok(&["kill", "k"]);
    assert_eq!(b.ok(&["wait", "k"]), "137\n");
    // A command that cannot start fails `run -d` itself.
    let o = b.run(&["run", "-d", &img, "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
    // --rm -d: gone once it exits.
    let o = b.run(&["run", "-d", "--rm", "--name", "brief", &img, "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        Wait::secs(20).until(|| !b
            .ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("brief")),
        "--rm -d container stayed"
    );
}

#[test]
fn twenty_parallel_lifecycles_keep_the_store_whole() {
    let (_reg, b, img) = pulled();
    let b = std::sync::Arc::new(b);
    let workers: Vec<_> = (0..20)
        .map(|n| {
            let b = b.clone();
            let img = img.clone();
            std::thread::spawn(move || {
                let name = format!("p{n}");
                // Everyone also races for one shared name: exactly one wins.
                let shared = b.run(&["run", "-d", "--name", "same", &img, "sleep", "60"]);
                let o = b.run(&["run", "-d", "--name", &name, &img, "sleep", "60"]);
                assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
                b.ok(&["ps", "-a", "--format", "{{.Names}}"]);
                b.ok(&["stop", "-t", "0", &name]);
                b.ok(&["rm", &name]);
                shared.status.success()
            })
        })
        .collect();
    let winners = workers
        .into_iter()
        .map(|w| w.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(winners, 1, "the name \"same\" was given {winners} times");
    assert_eq!(b.ok(&["ps", "-a", "--format", "{{.Names}}"]), "same\n");
    b.ok(&["rm", "-f", "same"]);
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    b.ok(&["system", "check"]);
}

#[test]
fn exec_joins_a_running_container() {
    let (_reg, b, img) = pulled();
    b.ok(&[
        "run", "-d", "--name", "box", "-e", "FOO=bar", "-w", "/tmp", &img, "sleep", "60",
    ]);
    // The container's processes, environment, working directory and
    // confinement.
    let out = b.ok(&[
        "exec", "box", "sh", "-c",
        "echo $FOO; pwd; ps -o pid,comm | grep -c sleep; grep -E '^(Seccomp|CapBnd):' /proc/self/status",
    ]);
    assert_eq!(
        out,
        "bar\n/tmp\n1\nCapBnd:\t00000000800405fb\nSeccomp:\t2\n"
    );
    // Files it writes are the container's.
    b.ok(&["exec", "box", "sh", "-c", "echo made > /tmp/by-exec"]);
    assert_eq!(b.ok(&["exec", "box", "cat", "/tmp/by-exec"]), "made\n");
    assert_eq!(
        b.ok(&[
            "exec",
            "-u",
            "1000",
            "-w",
            "/",
            "-e",
            "X=1",
            "box",
            "sh",
            "-c",
            "id -u; pwd; echo $X"
        ]),
        "1000\n/\n1\n"
    );
    let mut child = b
        .cmd(&["exec", "-i", "box", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"piped\n").unwrap();
    assert_eq!(stdout(&child.wait_with_output().unwrap()), "piped\n");
    for (cmd, code) in [("exit 5", 5), ("kill -9 $$", 137)] {
        let o = b.run(&["exec", "box", "sh", "-c", cmd]);
        assert_eq!(o.status.code(), Some(code), "{cmd}: {}", stderr(&o));
    }
    assert_eq!(b.run(&["exec", "box", "nosuch"]).status.code(), Some(127));
    assert_eq!(
        b.run(&["exec", "box", "/etc/passwd"]).status.code(),
        Some(126)
    );
    b.ok(&["stop", "-t", "0", "box"]);
    let o = b.run(&["exec", "box", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
    let o = b.run(&["exec", "nosuch", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("no such container"), "{}", stderr(&o));
}

#[test]
fn inspect_shows_containers_like_docker() {
    let (_reg, b, img) = pulled();
    let host = tempfile::tempdir().unwrap();
    let v = format!("{}:/data:ro", host.path().display());
    b.ok(&[
        "run", "-d", "--name", "web", "-e", "A=1", "-v", &v, &img, "sleep", "60",
    ]);
    let f = |fmt: &str| {
        b.ok(&["inspect", "--format", fmt, "web"])
            .trim()
            .to_string()
    };
    assert_eq!(
        f("{{.State.Status}} {{.State.Running}} {{.Name}}"),
        "running true web"
    );
    assert!(f("{{.State.Pid}}").parse::<i32>().unwrap() > 0);
    assert_eq!(f("{{.Path}} {{index .Args 0}}"), "sleep 60");
    assert!(f("{{json .Config.Env}}").contains("\"A=1\""));
    let mounts = f("{{json .Mounts}}");
    assert!(
        mounts.contains("\"Destination\":\"/data\"") && mounts.contains("\"RW\":false"),
        "{mounts}"
    );
    assert_eq!(f("{{.GraphDriver.Name}}"), "overlay");
    b.ok(&["stop", "-t", "0", "web"]);
    assert_eq!(f("{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    let all = b.ok_json(&["inspect", "web", &img]);
    assert_eq!(all[0]["Name"], "web");
    assert!(all[1]["RepoTags"].is_array(), "{all}");
    // --type narrows; image inspect never finds containers.
    let o = b.run(&["inspect", "--type", "image", "web"]);
    assert_eq!(o.status.code(), Some(125));
    let o = b.run(&["image", "inspect", "web"]);
    assert_eq!(o.status.code(), Some(125));
    b.ok(&["inspect", "--type", "container", "web"]);
    // The same commands grouped under `container`, as Docker and Podman have them.
    assert_eq!(
        b.ok(&["container", "ls", "-a", "--format", "{{.Names}}"]),
        "web\n"
    );
    assert_eq!(
        b.ok(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Status}}",
            "web"
        ]),
        "exited\n"
    );
    assert_eq!(
        b.run(&["container", "inspect", &img]).status.code(),
        Some(125)
    );
    b.ok(&["container", "rm", "web"]);
    assert_eq!(b.ok(&["container", "list", "-a", "-q"]), "");
}
