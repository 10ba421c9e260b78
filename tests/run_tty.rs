//! `burrow run` with terminals, stdin, signals and `--init`, end to end as
//! the unprivileged user: burrow runs on a real pseudo-terminal made by the
//! test (as a user's terminal emulator would make one).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Burrow, Compression, LayerBuilder, Registry, Wait, busybox_image, stderr, stdout};
use nix::sys::termios::{self, LocalFlags};

fn pulled(image: common::Image) -> (Registry, Burrow, String) {
    common::pulled("test/tty", &image)
}

/// burrow on its own pseudo-terminal, with the test as the terminal.
struct Terminal {
    master: std::fs::File,
    /// Kept open so reads of the master never fail while burrow runs.
    slave: OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Terminal {
    fn start(b: &Burrow, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
        let mut cmd = b.cmd(args);
        cmd.stdin(Stdio::from(pty.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pty.slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn burrow");
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            slave: pty.slave,
            output,
            child,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Wait until the output has `needle` at least `count` times.
    fn expect_n(&self, needle: &str, count: usize) {
        assert!(
            Wait::secs(20).until(|| self.text().matches(needle).count() >= count),
            "no {needle:?} (x{count}) in terminal output:\n{}",
            self.text()
        );
    }

    fn expect(&self, needle: &str) {
        self.expect_n(needle, 1);
    }

    fn type_text(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
    }

    fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize; the kernel signals burrow.
        assert_eq!(
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
            0
        );
    }

    fn wait(&mut self) -> i32 {
        match Wait::secs(30).for_some(|| self.child.try_wait().unwrap()) {
            Some(st) => st.code().expect("burrow exited normally"),
            None => {
                let _ = self.child.kill();
                panic!("burrow did not exit; output:\n{}", self.text());
            }
        }
    }
}

#[test]
fn interactive_shell_on_a_real_terminal() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let mut t = Terminal::start(&b, &["run", "--rm", "-it", &img, "sh"], 24, 80);
    let before = termios::tcgetattr(t.slave.as_fd()).unwrap();
    t.expect("# ");
    // Raw mode: burrow's terminal no longer echoes or edits lines itself;
    // the container's terminal does (so the typed text shows once).
    let raw = termios::tcgetattr(t.slave.as_fd()).unwrap();
    assert!(!raw.local_flags.contains(LocalFlags::ECHO));
    assert!(!raw.local_flags.contains(LocalFlags::ISIG));
    t.type_text("echo hi; tty\r");
    t.expect("hi\r\n/dev/pts/0");
    t.type_text("stty size\r");
    t.expect("24 80");
    t.resize(40, 132);
    // The resize reaches the container's terminal asynchronously.
    assert!(
        Wait::secs(10).every_ms(0).until(|| {
            t.type_text("stty size\r");
            std::thread::sleep(Duration::from_millis(100));
            t.text().contains("40 132")
        }),
        "no resize:\n{}",
        t.text()
    );
    // ^C interrupts the foreground command, not the shell.
    t.type_text("sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    t.type_text("\x03");
    t.type_text("echo after-$((1+1))\r");
    t.expect("after-2");
    t.type_text("exit 3\r");
    assert_eq!(t.wait(), 3, "{}", t.text());
    let after = termios::tcgetattr(t.slave.as_fd()).unwrap();
    assert_eq!(
        after.local_flags, before.local_flags,
        "terminal not restored"
    );
    assert_eq!(after.input_flags, before.input_flags);
    assert_eq!(after.output_flags, before.output_flags);
}

/// Workflow 1 of the design notes: run an image as it comes (its CMD prints
/// a banner), then open a shell in it and look at the app's data.
#[test]
fn workflow_run_an_image_as_it_comes() {
    let app = LayerBuilder::new()
        .dir("var", 0o755, 0, 0)
        .dir("var/lib", 0o755, 0, 0)
        .dir("var/lib/app", 0o755, 0, 0)
        .file("var/lib/app/greeting.txt", "hello\n", 0o644, 0, 0)
        .file("var/lib/app/settings.conf", "mode=demo\n", 0o644, 0, 0)
        .finish(Compression::Gzip);
    let (_reg, b, img) = pulled(busybox_image(|i| {
        i.layer(app).cmd(&[
            "sh",
            "-c",
            "echo '=== app 1.0 ready ==='; echo \"data: $(ls /var/lib/app | tr '\\n' ' ')\"",
        ])
    }));
    let out = b.run(&["run", &img]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "=== app 1.0 ready ===\ndata: greeting.txt settings.conf \n"
    );
    let mut t = Terminal::start(&b, &["run", "-it", &img, "sh"], 24, 80);
    t.expect("# ");
    t.type_text("ls /var/lib/app\r");
    t.expect("greeting.txt");
    t.expect("settings.conf");
    t.type_text("exit\r");
    assert_eq!(t.wait(), 0, "{}", t.text());
}

#[test]
fn stdin_is_piped_with_i_and_closed_without() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let run_with_input = |args: &[&str], input: &str| b.run_with_stdin(args, input);
    let out = run_with_input(&["run", "--rm", "-i", &img, "cat"], "hi\nthere\n");
    assert_eq!(stdout(&out), "hi\nthere\n", "{}", stderr(&out));
    let out = run_with_input(&["run", "--rm", &img, "cat"], "ignored\n");
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // Without a terminal, stdout and stderr stay apart.
    let out = b.run(&["run", "--rm", &img, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(
        (stdout(&out), stderr(&out)),
        ("out\n".into(), "err\n".into())
    );
    // -it with piped input (Podman warns and goes on): the input goes
    // through the container's terminal, and its end is the terminal's
    // end-of-file character.
    let out = run_with_input(&["run", "--rm", "-i", "-t", &img, "cat"], "line\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "line\r\nline\r\n");
    assert!(
        stderr(&out).contains("the input device is not a TTY"),
        "{}",
        stderr(&out)
    );
    // -t alone: a terminal inside, output relayed, no input.
    let out = b.run(&["run", "--rm", "-t", &img, "sh", "-c", "tty; echo x"]);
    assert_eq!(stdout(&out), "/dev/pts/0\r\nx\r\n", "{}", stderr(&out));
}

/// Start `sh -c SCRIPT` under burrow (with `opts`), wait for its "ready",
/// and return the child with its stdout reader.
fn start_ready(
    b: &Burrow,
    opts: &[&str],
    img: &str,
    script: &str,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[img, "sh", "-c", script]);
    let mut child = b.cmd(&args).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn next_line(out: &mut BufReader<std::process::ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line
}

#[test]
fn signals_sent_to_burrow_reach_the_container() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let script = "trap 'echo got USR1' USR1; trap 'echo got USR2' USR2; \
                  trap 'echo got HUP' HUP; trap 'echo got TERM; exit 7' TERM; \
                  echo ready; while :; do sleep 0.05; done";
    for opts in [&[][..], &["--init"][..]] {
        let (mut child, mut out) = start_ready(&b, opts, &img, script);
        for (sig, name) in [
            (libc::SIGUSR1, "USR1"),
            (libc::SIGHUP, "HUP"),
            (libc::SIGUSR2, "USR2"),
        ] {
            signal(&child, sig);
            assert_eq!(next_line(&mut out), format!("got {name}\n"), "{opts:?}");
        }
        signal(&child, libc::SIGTERM);
        assert_eq!(next_line(&mut out), "got TERM\n");
        assert_eq!(child.wait().unwrap().code(), Some(7), "{opts:?}");
    }
}

#[test]
fn init_is_pid_1_reaps_orphans_and_keeps_exit_codes() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let run = |args: &[&str]| -> Output {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        b.run(&all)
    };
    let out = run(&["--init", &img, "sh", "-c", "echo $$; cat /proc/1/comm"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_ne!(lines[0], "1", "the command is pid 1");
    assert_eq!(lines[1], "burrow");
    let out = run(&[&img, "sh", "-c", "echo $$"]);
    assert_eq!(stdout(&out), "1\n");
    // pid 1 is burrow, and the container cannot reach its binary.
    let out = run(&["--init", &img, "readlink", "/proc/1/exe"]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    // An orphan (its parent, the subshell, exits at once) is reparented to
    // pid 1 and must be reaped, not left a zombie.
    let out = run(&[
        "--init",
        &img,
        "sh",
        "-c",
        "(sleep 0.1 &); sleep 0.6; grep -l '^State:.Z' /proc/[0-9]*/status || echo no-zombies",
    ]);
    assert_eq!(stdout(&out), "no-zombies\n", "{}", stderr(&out));
    for (script, code) in [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137)] {
        let out = run(&["--init", &img, "sh", "-c", script]);
        assert_eq!(out.status.code(), Some(code), "{script}: {}", stderr(&out));
    }
    let out = run(&["--init", &img, "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    // With a terminal the command, not pid 1, owns its foreground.
    let mut t = Terminal::start(&b, &["run", "--rm", "--init", "-it", &img, "sh"], 24, 80);
    t.expect("# ");
    t.type_text("sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    t.type_text("\x03");
    t.type_text("echo still-$$\r");
    t.expect("still-");
    t.type_text("exit 4\r");
    assert_eq!(t.wait(), 4, "{}", t.text());
}

#[test]
fn exec_it_on_a_real_terminal() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    b.ok(&["run", "-d", "--name", "box", &img, "sleep", "60"]);
    let mut t = Terminal::start(&b, &["exec", "-it", "box", "sh"], 30, 90);
    t.expect("# ");
    t.type_text("tty; stty size; ps -o comm | grep -c sleep\r");
    t.expect("/dev/pts/");
    t.expect("30 90");
    t.resize(44, 120);
    assert!(
        Wait::secs(10).every_ms(0).until(|| {
            t.type_text("stty size\r");
            std::thread::sleep(Duration::from_millis(100));
            t.text().contains("44 120")
        }),
        "no resize:\n{}",
        t.text()
    );
    t.type_text("exit 6\r");
    assert_eq!(t.wait(), 6, "{}", t.text());
    b.ok(&["rm", "-f", "box"]);
}

fn wait_for_state(b: &Burrow, name: &str, want: &str) {
    let mut state = String::new();
    assert!(
        Wait::secs(20).until(|| {
            state = b.ps_state(name);
            state == want
        }),
        "{name} is {state:?}, not {want}"
    );
}

#[test]
fn detach_keys_leave_the_container_running_and_attach_comes_back() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let mut t = Terminal::start(&b, &["run", "-it", "--name", "att", &img, "sh"], 24, 80);
    t.expect("# ");
    t.type_text("echo one-$((1+1))\r");
    t.expect("one-2");
    // ctrl-p ctrl-q: burrow returns 0, the shell lives on.
    t.type_text("\x10\x11");
    assert_eq!(t.wait(), 0, "{}", t.text());
    wait_for_state(&b, "att", "running");
    // What the shell printed is in its log, terminal output included.
    assert!(b.ok(&["logs", "att"]).contains("one-2"));

    // attach: the same shell, with a new window size; a ctrl-p that is
    // not followed by ctrl-q reaches the container.
    let mut t = Terminal::start(&b, &["attach", "att"], 30, 100);
    t.type_text("stty size\r");
    t.expect("30 100");
    t.type_text("echo two-$((2+2))\r");
    t.expect("two-4");
    t.type_text("exit 3\r");
    assert_eq!(t.wait(), 3, "{}", t.text());
    wait_for_state(&b, "att", "exited");
    let o = b.run(&["attach", "att"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("you can only attach to running containers"),
        "{}",
        stderr(&o)
    );

    // run -dit, then attach with keys of one's own; "" disables them.
    b.ok(&["run", "-dit", "--name", "bg", &img, "sh"]);
    wait_for_state(&b, "bg", "running");
    let mut t = Terminal::start(&b, &["attach", "--detach-keys", "ctrl-x", "bg"], 24, 80);
    t.type_text("echo three-$((1+2))\r");
    t.expect("three-3");
    t.type_text("\x10\x11echo still-here\r");
    t.expect("still-here");
    t.type_text("\x18");
    assert_eq!(t.wait(), 0, "{}", t.text());
    wait_for_state(&b, "bg", "running");
    let o = b.run(&["attach", "--detach-keys", "ctrl-", "bg"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("invalid detach keys"), "{}", stderr(&o));
    b.ok(&["rm", "-f", "bg"]);
}

#[test]
fn attach_without_a_terminal_and_start_attached() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    // run -di: the monitor holds cat's stdin until someone attaches.
    b.ok(&[
        "run",
        "-di",
        "--name",
        "cat",
        &img,
        "sh",
        "-c",
        "cat; echo done >&2; exit 4",
    ]);
    wait_for_state(&b, "cat", "running");
    let mut child = b
        .cmd(&["attach", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped through\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "piped through\n");
    assert_eq!(stderr(&out), "done\n");

    // start -a: output and exit code of a created container, streams apart.
    let id = b.ok(&["create", &img, "sh", "-c", "echo out; echo err >&2; exit 5"]);
    let o = b.run(&["start", "-a", id.trim()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    // ...and again: a stopped container starts again.
    let o = b.run(&["start", "-a", id.trim()]);
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(b.ok(&["logs", id.trim()]), "out\nout\n");
    // start -ai feeds stdin to a container created with -i.
    let id = b.ok(&["create", "-i", &img, "cat"]);
    let mut child = b
        .cmd(&["start", "-ai", id.trim()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"fed\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "fed\n");
    let o = b.run(&["start", "-a", id.trim(), "other"]);
    assert_eq!(o.status.code(), Some(125));
}

#[test]
fn logs_rotate_at_max_size() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    b.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        &img,
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i; done",
    ]);
    assert_eq!(b.ok(&["wait", "chatty"]), "0\n");
    let logs = b.ok(&["logs", "chatty"]);
    assert!(logs.ends_with("line 299\nline 300\n"), "{logs}");
    assert!(!logs.contains("line 1\n"), "old lines rotated away");
    let lines: Vec<&str> = logs.lines().collect();
    // Whatever is kept is a contiguous tail.
    let first: usize = lines[0].trim_start_matches("line ").parse().unwrap();
    assert_eq!(lines.len(), 300 - first + 1);
    let o = b.run(&["run", "--log-opt", "max-file=3", &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("unsupported --log-opt"),
        "{}",
        stderr(&o)
    );
    let o = b.run(&["run", "--log-opt", "max-size=lots", &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
}

#[test]
fn a_killed_attached_client_does_not_stall_the_container() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    // Far more output than a socket buffer holds, after the client is gone.
    let script =
        "sleep 1; i=0; while [ $i -lt 60000 ]; do echo line-$i; i=$((i+1)); done; echo finished";
    let mut child = b
        .cmd(&["run", "-t", "--name", "loud", &img, "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_state(&b, "loud", "running");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        Wait::secs(60)
            .every_ms(100)
            .until(|| b.ok(&["logs", "--tail", "1", "loud"]).contains("finished")),
        "the container stalled after its client died"
    );
    assert_eq!(b.ok(&["wait", "loud"]), "0\n");
}

#[test]
fn without_sig_proxy_a_signal_ends_only_burrow() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let mut child = b
        .cmd(&[
            "run",
            "--name",
            "calm",
            "--sig-proxy=false",
            &img,
            "sh",
            "-c",
            // Long enough that the signal lands while it runs, even on a
            // loaded machine (it lost that race once with 1 s).
            "trap 'echo got TERM' TERM; sleep 3; echo done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_state(&b, "calm", "running");
    signal(&child, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGTERM)
    );
    // The container saw no signal and finished on its own.
    assert_eq!(b.ok(&["wait", "calm"]), "0\n");
    assert_eq!(b.ok(&["logs", "calm"]), "done\n");
}

/// A signal can land while burrow is still starting the container: in the
/// namespace process, or while that waits for the monitor to say the
/// command runs. Whenever it lands, burrow ends by it and the container is
/// whole: never made, never started, or started and running to its own
/// end (CI once
/// caught burrow's namespace process ended by the forwarded signal after
/// the container started, and burrow then reported a failure).
#[test]
fn without_sig_proxy_a_signal_during_the_start_ends_burrow_at_any_moment() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let spawn = |name: &str| {
        b.cmd(&[
            "run",
            "--name",
            name,
            "--sig-proxy=false",
            &img,
            "sh",
            "-c",
            "sleep 1; echo done",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    };
    // How long a start takes here, to spread the signals over it.
    let begun = std::time::Instant::now();
    let mut probe = spawn("probe");
    wait_for_state(&b, "probe", "running");
    let start = begun.elapsed();
    signal(&probe, libc::SIGTERM);
    let _ = probe.wait();
    let rounds = 16u32;
    for i in 0..rounds {
        let name = format!("sig{i}");
        let mut child = spawn(&name);
        std::thread::sleep(start * 5 / 4 * i / rounds);
        signal(&child, libc::SIGTERM);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGTERM),
            "round {i}: burrow ended with {status}"
        );
    }
    for i in 0..rounds {
        let name = format!("sig{i}");
        // Ended before it made the container, or before it started it.
        let state = b
            .cmd(&["inspect", "--format", "{{.State.Status}}", &name])
            .output()
            .unwrap();
        if !state.status.success() || stdout(&state).trim() == "created" {
            continue;
        }
        assert_eq!(b.ok(&["wait", &name]), "0\n", "round {i}");
        assert_eq!(b.ok(&["logs", &name]), "done\n", "round {i}");
    }
    b.ok(&["rm", "-f", "-a"]);
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
}

/// Without `-t`, a container on the user's terminal gets pipes, never a
/// descriptor of that terminal (issue 22): it cannot change the
/// terminal's modes nor read it behind burrow's back. Output still shows,
/// and `-i` input typed on the terminal reaches it through its pipe.
#[test]
fn without_t_the_users_terminal_stays_outside_the_container() {
    let (_reg, b, img) = pulled(busybox_image(|i| i));
    let script = "for fd in 0 1 2; do [ -t $fd ] && echo fd$fd=tty || echo fd$fd=no-tty; done; \
                  printf out=; readlink /proc/self/fd/1; \
                  stty -F /proc/self/fd/1 -echo 2>/dev/null && echo stty-1-changed; \
                  stty -F /proc/self/fd/2 -echo raw 2>/dev/null && echo stty-2-changed; \
                  echo err-line >&2; echo done; exit 3";
    let check = |t: &mut Terminal, what: &str, stdin_tty_expected: bool| {
        t.expect("done");
        assert_eq!(t.wait(), 3, "{what}: {}", t.text());
        let text = t.text();
        assert!(
            text.contains("fd1=no-tty") && text.contains("fd2=no-tty"),
            "{what}: {text}"
        );
        assert_eq!(
            text.contains("fd0=tty"),
            stdin_tty_expected,
            "{what}: {text}"
        );
        assert!(text.contains("out=pipe:["), "{what}: {text}");
        assert!(!text.contains("changed"), "{what}: {text}");
        assert!(text.contains("err-line"), "{what}: {text}");
        let modes = termios::tcgetattr(t.slave.as_fd()).unwrap();
        assert!(
            modes.local_flags.contains(LocalFlags::ECHO),
            "{what}: echo left off"
        );
        assert!(
            modes.local_flags.contains(LocalFlags::ICANON),
            "{what}: left raw"
        );
    };
    let mut t = Terminal::start(&b, &["run", "--rm", &img, "sh", "-c", script], 24, 80);
    check(&mut t, "run", false);
    let mut t = Terminal::start(&b, &["run", "--rm", "-i", &img, "sh", "-c", script], 24, 80);
    check(&mut t, "run -i", false);
    // exec is no different.
    b.ok(&["run", "-d", "--name", "notty", &img, "sleep", "60"]);
    let mut t = Terminal::start(&b, &["exec", "-i", "notty", "sh", "-c", script], 24, 80);
    check(&mut t, "exec -i", false);

    // -i: what the user types (the terminal edits the line and echoes it)
    // reaches the command through the pipe, ^D is its end.
    for args in [
        &["run", "--rm", "-i", &img][..],
        &["exec", "-i", "notty"][..],
    ] {
        let mut all = args.to_vec();
        all.extend_from_slice(&[
            "sh",
            "-c",
            "echo ready; read line; echo got:$line; cat; echo eof",
        ]);
        let mut t = Terminal::start(&b, &all, 24, 80);
        t.expect("ready");
        t.type_text("hello\r");
        t.expect("got:hello");
        t.type_text("more\r\x04");
        t.expect_n("more", 2);
        t.expect("eof");
        assert_eq!(t.wait(), 0, "{args:?}: {}", t.text());
    }
    b.ok(&["rm", "-f", "notty"]);
}
