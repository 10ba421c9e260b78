//! `burrow run`, end to end: busybox images pushed to a real registry,
//! pulled, and run on the real kernel as an unprivileged user.

mod common;

use std::process::Output;

use common::{
    Burrow, Compression, ImageBuilder, LayerBuilder, Registry, Wait, busybox_image,
    require_unprivileged, stderr, stdout,
};

fn pulled(image: common::Image) -> (Registry, Burrow, String) {
    common::pulled("test/run", &image)
}

fn busybox() -> (Registry, Burrow, String) {
    pulled(busybox_image(|b| b))
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("burrow exited normally")
}

/// Start `sleep 60` in a container, kill the container's process from the
/// host with `sig`, and return burrow's exit code.
fn kill_container(b: &Burrow, img: &str, sig: i32) -> i32 {
    // A handler makes pid 1 of a namespace killable by signals other than
    // SIGKILL from outside it.
    let script = "trap 'exit 143' TERM; sleep 60 & wait";
    let mut child = b
        .cmd(&["run", "--rm", "--network", "none", img, "sh", "-c", script])
        .spawn()
        .expect("spawn burrow");
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let target = Wait::secs(20)
        .for_some(|| {
            // burrow -> monitor -> the container's sh (which has the sleep).
            children(child.id())
                .into_iter()
                .flat_map(children)
                .find(|&p| !children(p).is_empty())
        })
        .expect("no container process");
    // SAFETY: kill(2) on a process of ours.
    assert_eq!(unsafe { libc::kill(target as i32, sig) }, 0);
    let status = child.wait().expect("wait for burrow");
    status.code().expect("burrow exited normally")
}

#[test]
fn echo_hello_and_rm_leaves_nothing() {
    let (_reg, b, img) = busybox();
    assert_eq!(b.run_rm_ok(&[], &img, &["echo", "hello"]), "hello\n");
    assert!(
        b.stored("containers").is_empty(),
        "left: {:?}",
        b.stored("containers")
    );
}

#[test]
fn image_cmd_runs_without_arguments() {
    let (_reg, b, img) = pulled(busybox_image(|i| {
        i.cmd(&[
            "sh",
            "-c",
            "echo '*** welcome to the burrow ***'; echo line two",
        ])
    }));
    assert_eq!(
        b.run_rm_ok(&[], &img, &[]),
        "*** welcome to the burrow ***\nline two\n"
    );
}

#[test]
fn exit_codes() {
    let noexec = LayerBuilder::new()
        .dir("usr/local", 0o755, 0, 0)
        .dir("usr/local/bin", 0o755, 0, 0)
        .file("usr/local/bin/noexec", "echo hi\n", 0o644, 0, 0)
        .finish(Compression::Gzip);
    let (_reg, b, img) = pulled(busybox_image(|i| i.layer(noexec)));
    let c = |args: &[&str]| b.run_rm(&[], &img, args);
    assert_eq!(code(&c(&["true"])), 0);
    assert_eq!(code(&c(&["false"])), 1);
    assert_eq!(code(&c(&["sh", "-c", "exit 3"])), 3);
    // The command is pid 1 of its namespace: the kernel ignores signals it
    // sends itself without a handler, even SIGKILL (as with Docker without
    // --init), so the shell carries on and exits 0.
    assert_eq!(code(&c(&["sh", "-c", "kill -9 $$; echo survived"])), 0);
    // Killed from outside: 128 + 9.
    assert_eq!(kill_container(&b, &img, libc::SIGKILL), 137);
    assert_eq!(kill_container(&b, &img, libc::SIGTERM), 143);
    assert!(
        b.stored("containers").is_empty(),
        "left: {:?}",
        b.stored("containers")
    );

    let out = c(&["nosuch"]);
    assert_eq!(code(&out), 127);
    assert_eq!(
        stderr(&out).trim(),
        "Error: \"nosuch\": executable file not found in $PATH"
    );
    let out = c(&["/no/such"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"/no/such\": no such file"),
        "{}",
        stderr(&out)
    );

    let out = c(&["noexec"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    // One error prefix for every error (Podman's).
    assert_eq!(stderr(&out).trim(), "Error: \"noexec\": permission denied");
    let out = c(&["/usr/local/bin/noexec"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(
        b.stored("containers").is_empty(),
        "left: {:?}",
        b.stored("containers")
    );
}

#[test]
fn ids_processes_and_isolation() {
    let (_reg, b, img) = busybox();
    let uid = nix::unistd::getuid().as_raw();
    let (start, count) = common::host_subuid_range().expect("subuid range");
    let map = b.run_rm_ok(&[], &img, &["cat", "/proc/self/uid_map"]);
    let rows: Vec<Vec<u64>> = map
        .lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec![0, u64::from(uid), 1],
            vec![1, u64::from(start), u64::from(count)]
        ],
        "uid_map: {map}"
    );
    // Owners of image files are the image's ids.
    assert_eq!(
        b.run_rm_ok(&[], &img, &["stat", "-c", "%u:%g", "/home/app"]),
        "1000:1000\n"
    );
    // The command is pid 1 of its own pid namespace.
    assert_eq!(b.run_rm_ok(&[], &img, &["sh", "-c", "echo $$"]), "1\n");
    // Only stdio is open (ls itself opens the directory it lists).
    let fds = b.run_rm_ok(&[], &img, &["ls", "/proc/self/fd"]);
    let fds: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(&fds[..3], ["0", "1", "2"], "fds: {fds:?}");
    assert!(fds.len() <= 4, "fds: {fds:?}");
    // Masked and read-only kernel paths.
    let out = b.run_rm(&[], &img, &["cat", "/proc/kcore"]);
    assert_ne!(code(&out), 0, "read /proc/kcore: {}", stdout(&out));
    assert_eq!(
        b.run_rm_ok(
            &[],
            &img,
            &["stat", "-c", "%F %t:%T", "/proc/keys", "/proc/timer_list"]
        ),
        "character special file 1:3\ncharacter special file 1:3\n"
    );
    assert_eq!(b.run_rm_ok(&[], &img, &["ls", "/proc/acpi"]), "");
    let out = b.run_rm(
        &[],
        &img,
        &["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid"],
    );
    assert_ne!(code(&out), 0, "wrote /proc/sys");
    assert!(stderr(&out).contains("Read-only"), "{}", stderr(&out));
    assert_eq!(b.run_rm_ok(&[], &img, &["ls", "/sys/firmware"]), "");
    let out = b.run_rm(&[], &img, &["mkdir", "/sys/x"]);
    assert_ne!(code(&out), 0, "/sys is writable");
    assert!(stderr(&out).contains("Read-only"), "{}", stderr(&out));
    // /dev/shm and /tmp are writable; the container has its own ptys.
    assert_eq!(
        b.run_rm_ok(
            &[],
            &img,
            &[
                "sh",
                "-c",
                "echo a > /dev/shm/a && echo b > /tmp/b && cat /dev/shm/a /tmp/b && ls /dev/pts"
            ]
        ),
        "a\nb\nptmx\n"
    );
    // Network none: loopback only, up.
    let none = |cmd: &[&str]| b.run_rm_ok(&["--network", "none"], &img, cmd);
    assert_eq!(none(&["ls", "/sys/class/net"]), "lo\n");
    let link = none(&["ip", "link"]);
    assert!(link.contains("lo:") && link.contains("UP"), "{link}");
    assert!(!link.contains("eth"), "{link}");
    // Devices.
    assert_eq!(
        b.run_rm_ok(
            &[],
            &img,
            &[
                "sh",
                "-c",
                "echo x > /dev/null && head -c 3 /dev/zero | wc -c && ls /dev"
            ]
        ),
        "3\nfd\nfull\nmqueue\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n"
    );
    // Writes land in the container, not in the image.
    assert_eq!(
        b.run_rm_ok(
            &[],
            &img,
            &["sh", "-c", "echo x > /etc/new && cat /etc/new"]
        ),
        "x\n"
    );
    assert_eq!(code(&b.run_rm(&[], &img, &["cat", "/etc/new"])), 1);
}

#[test]
fn options_and_image_config_precedence() {
    let (_reg, b, img) = pulled(busybox_image(|i| {
        i.entrypoint(&["/bin/echo", "ep"])
            .cmd(&["from-cmd"])
            .env("GREETING=image")
            .env("KEEP=kept")
            .workdir("/srv/app")
    }));
    assert_eq!(b.run_rm_ok(&[], &img, &[]), "ep from-cmd\n");
    assert_eq!(b.run_rm_ok(&[], &img, &["arg"]), "ep arg\n");
    // --entrypoint drops the image's Cmd.
    let out = b.run(&["run", "--rm", "--entrypoint", "pwd", &img]);
    assert_eq!(stdout(&out), "/srv/app\n", "{}", stderr(&out));
    let out = b.run(&[
        "run",
        "--rm",
        "-w",
        "/tmp/new/dir",
        "--entrypoint",
        "pwd",
        &img,
    ]);
    assert_eq!(stdout(&out), "/tmp/new/dir\n", "{}", stderr(&out));
    let out = b.run(&[
        "run",
        "--rm",
        "-e",
        "GREETING=cli",
        "--entrypoint",
        "",
        &img,
        "sh",
        "-c",
        "echo $GREETING $KEEP $HOSTNAME",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let words: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
    assert_eq!(&words[..2], ["cli", "kept"]);
    assert_eq!(
        words[2].len(),
        12,
        "default hostname is the short id: {words:?}"
    );
    // -e NAME copies burrow's own variable; unset ones are left out.
    let out = b
        .cmd(&[
            "run",
            "--rm",
            "-e",
            "FROMHOST",
            "-e",
            "NOTSET",
            "--entrypoint",
            "",
            &img,
            "env",
        ])
        .env("FROMHOST", "host value")
        .env_remove("NOTSET")
        .output()
        .expect("spawn burrow");
    let env = stdout(&out);
    assert!(env.lines().any(|l| l == "FROMHOST=host value"), "{env}");
    assert!(!env.contains("NOTSET"), "{env}");
    assert!(env.lines().any(|l| l == "GREETING=image"), "{env}");
    let out = b.run(&[
        "run",
        "--rm",
        "--hostname",
        "box",
        "--entrypoint",
        "",
        &img,
        "sh",
        "-c",
        "hostname; cat /etc/hostname; grep box /etc/hosts",
    ]);
    assert_eq!(
        stdout(&out),
        "box\nbox\n127.0.1.1\tbox\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn records_names_and_errors() {
    let (_reg, b, img) = busybox();
    let out = b.run(&[
        "run",
        "--name",
        "keep",
        &img,
        "sh",
        "-c",
        "echo hi > /kept; exit 4",
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let ids = b.stored("containers");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let dir = b.root.path().join("containers").join(&ids[0]);
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(rec["name"], "keep");
    assert_eq!(rec["status"], "exited");
    assert_eq!(rec["exit_code"], 4);
    assert_eq!(
        rec["command"],
        serde_json::json!(["sh", "-c", "echo hi > /kept; exit 4"])
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("upper/kept")).unwrap(),
        "hi\n"
    );

    let err = b.fail(&["run", "--name", "keep", &img, "true"]);
    assert!(err.contains("\"keep\" is already in use"), "{err}");
    // (`bridge` is Docker's name of the default network, as burrow takes it.)
    let out = b.run(&["run", "--rm", "--network", "macvlan:x", &img, "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("network mode \"macvlan:x\" is not supported"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&["run", "--rm", "--pull=never", "nosuch/image", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(
            "nosuch/image: image not known (pull it first with burrow pull nosuch/image, or drop --pull=never)"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.stored("containers").len(), 1);
}

#[test]
fn pull_policies() {
    require_unprivileged();
    let reg = Registry::start();
    reg.push_image(
        "test/pol",
        "latest",
        &busybox_image(|i| i.cmd(&["echo", "version one"])),
    );
    let b = Burrow::new();
    let name = reg.reference("test/pol", "latest");
    // missing (the default): pulled on first use, progress on stderr.
    let out = b.run(&["run", "--rm", &name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "version one\n");
    assert!(!stderr(&out).is_empty(), "no pull progress shown");
    // A new version on the registry: missing and never keep the local one,
    // always fetches it; -q silences the pull.
    reg.push_image(
        "test/pol",
        "latest",
        &busybox_image(|i| i.cmd(&["echo", "version two"])),
    );
    for policy in ["--pull=missing", "--pull=never"] {
        let out = b.run(&["run", "--rm", policy, &name]);
        assert_eq!(stdout(&out), "version one\n", "{policy}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{policy} pulled");
    }
    let out = b.run(&["run", "--rm", "-q", "--pull=always", &name]);
    assert_eq!(stdout(&out), "version two\n", "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // A missing image that the registry lacks too: the pull's error, 125,
    // no container left.
    let absent = reg.reference("test/absent", "latest");
    let out = b.run(&["run", "--rm", &absent, "true"]);
    assert_eq!(code(&out), 125);
    let err = stderr(&out);
    assert!(
        err.contains("pulling") && err.contains("test/absent"),
        "{err}"
    );
    let out = b.run(&["run", "--rm", "--pull=sometimes", &name]);
    assert_eq!(code(&out), 125);
    assert!(
        b.stored("containers").is_empty(),
        "{:?}",
        b.stored("containers")
    );
}

#[test]
fn env_files() {
    let (_reg, b, img) = busybox();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("vars.env");
    std::fs::write(
        &f,
        "# settings\nA=from-file\n  B=\"quoted\" \nHOSTVAR\nMISSINGVAR\n",
    )
    .unwrap();
    let g = dir.path().join("more.env");
    std::fs::write(&g, "C=second file\n").unwrap();
    let out = b
        .cmd(&[
            "run",
            "--rm",
            "--env-file",
            f.to_str().unwrap(),
            "--env-file",
            g.to_str().unwrap(),
            "-e",
            "C=flag wins",
            &img,
            "sh",
            "-c",
            "echo \"$A|$B|$HOSTVAR|${MISSINGVAR-unset}|$C\"",
        ])
        .env("HOSTVAR", "from host")
        .env_remove("MISSINGVAR")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "from-file|\"quoted\" |from host|unset|flag wins\n",
        "{}",
        stderr(&out)
    );
    std::fs::write(&f, "GOOD=1\nBAD NAME=2\n").unwrap();
    let out = b.run(&[
        "run",
        "--rm",
        "--env-file",
        f.to_str().unwrap(),
        &img,
        "true",
    ]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("line 2: variable name \"BAD NAME\" contains whitespace"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&[
        "run",
        "--rm",
        "--env-file",
        "/nonexistent/x.env",
        &img,
        "true",
    ]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("/nonexistent/x.env"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn image_without_command_is_an_error() {
    let (_reg, b, img) = pulled(
        ImageBuilder::new()
            .layer(common::busybox_layer().clone())
            .build(),
    );
    let out = b.run(&["run", "--rm", &img]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("no command to run"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn layers_stack_with_whiteouts_and_opaque_dirs() {
    let top = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .file("etc/os-release", "ID=top\n", 0o644, 0, 0)
        .whiteout("bin/vi")
        .dir("var", 0o755, 0, 0)
        .dir("var/lib", 0o755, 0, 0)
        .opaque("var/lib")
        .dir("var/lib/new", 0o755, 0, 0)
        .finish(Compression::Gzip);
    let (_reg, b, img) = pulled(busybox_image(|i| i.layer(top)));
    assert_eq!(
        b.run_rm_ok(&[], &img, &["cat", "/etc/os-release"]),
        "ID=top\n"
    );
    assert_eq!(code(&b.run_rm(&[], &img, &["ls", "/bin/vi"])), 1);
    assert_eq!(b.run_rm_ok(&[], &img, &["ls", "/var/lib"]), "new\n");
    // Deleting a file of the image in the container hides it there only.
    assert_eq!(
        b.run_rm_ok(
            &[],
            &img,
            &["sh", "-c", "rm /etc/passwd; ls /etc/passwd || echo gone"]
        ),
        "gone\n"
    );
    assert_eq!(
        b.run_rm_ok(&[], &img, &["head", "-c", "5", "/etc/passwd"]),
        "root:"
    );
}

/// The value of `field` in /proc/self/status inside a container run with `opts`.
fn status_field(b: &Burrow, img: &str, opts: &[&str], field: &str) -> String {
    let out = b.run_rm_ok(opts, img, &["grep", field, "/proc/self/status"]);
    out.split_whitespace().nth(1).unwrap_or("").to_string()
}

#[test]
fn capabilities_seccomp_and_privileged() {
    let (_reg, b, img) = busybox();
    // Podman's default set.
    assert_eq!(status_field(&b, &img, &[], "CapBnd"), "00000000800405fb");
    assert_eq!(status_field(&b, &img, &[], "CapEff"), "00000000800405fb");
    let no_chown = status_field(&b, &img, &["--cap-drop", "CHOWN"], "CapBnd");
    assert_eq!(no_chown, "00000000800405fa");
    let out = b.run_rm(
        &["--cap-drop", "CHOWN"],
        &img,
        &["sh", "-c", "touch /tmp/x && chown 1 /tmp/x"],
    );
    assert_ne!(code(&out), 0, "chown without CAP_CHOWN succeeded");
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    b.run_rm_ok(&[], &img, &["sh", "-c", "touch /tmp/x && chown 1 /tmp/x"]);
    let sys_admin = u64::from_str_radix(
        &status_field(&b, &img, &["--cap-add", "SYS_ADMIN"], "CapBnd"),
        16,
    )
    .unwrap();
    assert_ne!(sys_admin & (1 << 21), 0, "CAP_SYS_ADMIN missing");

    assert_eq!(status_field(&b, &img, &[], "Seccomp:"), "2");
    assert_eq!(status_field(&b, &img, &[], "NoNewPrivs"), "1");
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(status_field(&b, &img, &unconfined, "Seccomp:"), "0");
    assert_eq!(status_field(&b, &img, &unconfined, "NoNewPrivs"), "1");
    assert_eq!(
        status_field(
            &b,
            &img,
            &["--security-opt", "no-new-privileges"],
            "Seccomp:"
        ),
        "2"
    );
    assert_eq!(status_field(&b, &img, &["--privileged"], "Seccomp:"), "0");

    // A profile file of Docker's format.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = b.run_rm(&["--security-opt", &opt], &img, &["mkdir", "/tmp/d"]);
    assert_ne!(code(&out), 0, "mkdir allowed");
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        status_field(&b, &img, &["--security-opt", &opt], "Seccomp:"),
        "2"
    );

    // The default filter refuses new user namespaces without CAP_SYS_ADMIN.
    let out = b.run_rm(&[], &img, &["unshare", "-U", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    b.run_rm_ok(&unconfined, &img, &["unshare", "-U", "true"]);

    // Masked paths: empty by default, the kernel's with --privileged.
    // (/proc/timer_list is root-only on the host, so unreadable rootless
    // even unmasked; /sys/firmware is world-readable.)
    assert_eq!(b.run_rm_ok(&[], &img, &["ls", "/sys/firmware"]), "");
    let out = b.run_rm(&["--privileged"], &img, &["ls", "/sys/firmware"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !stdout(&out).trim().is_empty(),
        "/sys/firmware still masked"
    );

    // Exec errors still come back through the pipe under the filter.
    let out = b.run_rm(&[], &img, &["nosuchcmd"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    let out = b.run_rm(&[], &img, &["/etc/passwd"]);
    assert_eq!(code(&out), 126, "{}", stderr(&out));
}

#[test]
fn seccomp_filters_are_cached_and_a_damaged_cache_is_rebuilt() {
    let (_reg, b, img) = busybox();
    let cache = b.runroot.path().join("seccomp");
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    };
    assert_eq!(status_field(&b, &img, &[], "Seccomp:"), "2");
    let files = entries();
    assert_eq!(files.len(), 1, "{files:?}");
    // Another capability set is another filter.
    status_field(&b, &img, &["--cap-add", "SYS_ADMIN"], "Seccomp:");
    assert_eq!(entries().len(), 2);
    // A damaged entry must never weaken the filter: it is recompiled.
    std::fs::write(&files[0], b"BSECC\0\0\x01 garbage").unwrap();
    let out = b.run_rm(&[], &img, &["unshare", "-U", "true"]);
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert_ne!(std::fs::read(&files[0]).unwrap(), b"BSECC\0\0\x01 garbage");
}

#[test]
fn nothing_in_the_container_runs_or_reaches_the_burrow_binary() {
    let (_reg, b, img) = busybox();
    // Every process the container can see is its own; none is burrow
    // (CVE-2019-5736 overwrote the runtime through /proc/PID/exe).
    let out = b.run_rm_ok(
        &[],
        &img,
        &[
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do readlink $p/exe; done",
        ],
    );
    assert!(!out.is_empty());
    for line in out.lines() {
        assert!(line.starts_with("/bin/"), "{out}");
    }
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_burrow")).unwrap();
    let out = b.run_rm(&[], &img, &["ls", bin.to_str().unwrap()]);
    assert_ne!(code(&out), 0, "the burrow binary is visible inside");
}

#[test]
fn bad_confinement_options_fail_early() {
    let (_reg, b, img) = busybox();
    for opts in [
        &["--cap-add", "FOO"][..],
        &["--cap-drop", "NOPE"],
        &["--security-opt", "seccomp=/nonexistent/profile.json"],
        &["--security-opt", "apparmor=x"],
    ] {
        let mut all = vec!["run"];
        all.extend_from_slice(opts);
        all.extend_from_slice(&[&img, "true"]);
        let out = b.run(&all);
        assert_eq!(code(&out), 125, "{opts:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{opts:?}: {err}");
        assert!(
            b.stored("containers").is_empty(),
            "{opts:?} left {:?}",
            b.stored("containers")
        );
    }
}

#[test]
fn users_and_groups() {
    let (_reg, b, img) = busybox();
    assert_eq!(b.run_rm_ok(&["-u", "1000"], &img, &["id", "-u"]), "1000\n");
    assert_eq!(
        b.run_rm_ok(&["-u", "app"], &img, &["id"]),
        "uid=1000(app) gid=1000(app)\n"
    );
    assert_eq!(
        b.run_rm_ok(&["-u", "1000:1000"], &img, &["id", "-g"]),
        "1000\n"
    );
    assert_eq!(
        b.run_rm_ok(&["-u", "4242:4343"], &img, &["id", "-u"]),
        "4242\n"
    );
    assert_eq!(
        b.run_rm_ok(&["-u", "4242:4343"], &img, &["id", "-g"]),
        "4343\n"
    );
    // HOME from passwd unless set; "/" for an id without an entry.
    assert_eq!(
        b.run_rm_ok(&["-u", "app"], &img, &["sh", "-c", "echo $HOME"]),
        "/home/app\n"
    );
    assert_eq!(
        b.run_rm_ok(&[], &img, &["sh", "-c", "echo $HOME"]),
        "/root\n"
    );
    assert_eq!(
        b.run_rm_ok(&["-u", "4242"], &img, &["sh", "-c", "echo $HOME"]),
        "/\n"
    );
    assert_eq!(
        b.run_rm_ok(
            &["-u", "app", "-e", "HOME=/x"],
            &img,
            &["sh", "-c", "echo $HOME"]
        ),
        "/x\n"
    );
    // A non-root user holds no capabilities, as with Docker.
    assert_eq!(
        status_field(&b, &img, &["-u", "1000"], "CapEff"),
        "0000000000000000"
    );
    assert_eq!(
        status_field(&b, &img, &["-u", "1000"], "CapBnd"),
        "00000000800405fb"
    );
    // The switch works without CAP_SETUID/CAP_SETGID in the set.
    assert_eq!(
        b.run_rm_ok(
            &["--cap-drop", "ALL", "-u", "app:1000"],
            &img,
            &["id", "-u"]
        ),
        "1000\n"
    );
    assert_eq!(
        status_field(&b, &img, &["--cap-drop", "ALL", "-u", "1000"], "CapBnd"),
        "0000000000000000"
    );
    assert_eq!(
        status_field(&b, &img, &["--cap-drop", "ALL", "-u", "1000"], "CapPrm"),
        "0000000000000000"
    );
    let out = b.run_rm(&["-u", "app"], &img, &["touch", "/etc/x"]);
    assert_ne!(code(&out), 0, "app could write /etc");

    let out = b.run(&["run", "-u", "nosuch", &img, "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("unable to find user nosuch: no matching entries in passwd file"),
        "{}",
        stderr(&out)
    );
    let out = b.run_rm(&["-u", "app:nogroup2"], &img, &["true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
}

#[test]
fn image_user_applies_and_u_overrides_it() {
    let groups = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .file(
            "etc/group",
            "root:x:0:\napp:x:1000:\nwheel:x:10:other,app\n",
            0o644,
            0,
            0,
        )
        .finish(Compression::Gzip);
    let (_reg, b, img) = pulled(busybox_image(|i| i.user("app").layer(groups)));
    assert_eq!(b.run_rm_ok(&[], &img, &["id", "-un"]), "app\n");
    // Supplementary groups from membership, unless a group is given.
    assert_eq!(b.run_rm_ok(&[], &img, &["id", "-G"]), "1000 10\n");
    assert_eq!(
        b.run_rm_ok(&["-u", "app:app"], &img, &["id", "-G"]),
        "1000\n"
    );
    assert_eq!(b.run_rm_ok(&["-u", "root"], &img, &["id", "-u"]), "0\n");
    assert_eq!(b.run_rm_ok(&["-u", "0"], &img, &["id", "-u"]), "0\n");
}

/// Nothing burrow ignores (Rust ignores SIGPIPE) stays ignored in the
/// container's process or exec's, as with runc: `seq | head -1` ends
/// `seq` by SIGPIPE, quietly.
#[test]
fn containers_start_with_default_signal_dispositions() {
    let (_reg, b, img) = busybox();
    // (grep itself: busybox's sh ignores SIGQUIT, and its children too.)
    let ignored = ["grep", "SigIgn", "/proc/self/status"];
    let out = b.run(&[&["run", "--rm", &img][..], &ignored].concat());
    assert_eq!(
        stdout(&out),
        "SigIgn:\t0000000000000000\n",
        "{}",
        stderr(&out)
    );
    let out = b.run(&[&["run", "--rm", "--init", &img][..], &ignored].concat());
    assert_eq!(
        stdout(&out),
        "SigIgn:\t0000000000000000\n",
        "{}",
        stderr(&out)
    );
    b.ok(&["run", "-d", "--name", "sigs", &img, "sleep", "60"]);
    let out = b.run(&[&["exec", "sigs"][..], &ignored].concat());
    assert_eq!(
        stdout(&out),
        "SigIgn:\t0000000000000000\n",
        "{}",
        stderr(&out)
    );
    b.ok(&["rm", "-f", "sigs"]);

    // The command dies by SIGPIPE and burrow reports it (141), unless it
    // is pid 1 of the container: the kernel spares a namespace's init
    // the signals it does not handle, so there `seq` sees EPIPE instead.
    for cmd in [
        &["--init", &img, "seq", "100000"][..],
        &[&img, "sh", "-c", "seq 100000; exit $?"][..],
    ] {
        let mut child = b
            .cmd(&[&["run", "--rm"][..], cmd].concat())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut first,
        )
        .unwrap();
        assert_eq!(first, "1\n");
        let out = child.wait_with_output().unwrap();
        assert_eq!(stderr(&out), "", "{cmd:?}");
        // What a shell sees: burrow reports the command's 141, or (its
        // own stdout's reader being gone too) ends by SIGPIPE itself.
        let status = {
            use std::os::unix::process::ExitStatusExt;
            out.status
                .code()
                .or_else(|| out.status.signal().map(|s| 128 + s))
        };
        assert_eq!(status, Some(141), "{cmd:?}");
    }
}
