//! Tests of the user namespace runner. Those that create a namespace with the
//! subordinate ranges must run as an unprivileged user with a range in
//! /etc/subuid (burrowtest on the test machines); as root they fail on
//! purpose, since root would pass them without exercising newuidmap.

use super::*;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;

fn require_unprivileged() -> (UserIdentity, IdMap) {
    assert!(
        !nix::unistd::geteuid().is_root(),
        "run the rootless tests as an unprivileged user (see README)"
    );
    let user = UserIdentity::current().unwrap();
    let (map, warning) = IdMap::for_user(&user);
    assert!(
        warning.is_none(),
        "the test user needs subuid/subgid ranges: {warning:?}"
    );
    assert!(
        map.uid_count() > 1000 && map.gid_count() > 1000,
        "the test ranges are too small: {map:?}"
    );
    (user, map)
}

/// Report a failure from inside the child, where libtest's captured output
/// would be lost with the process.
fn child_check(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(io::stderr(), "child check failed: {e}");
            1
        }
    }
}

#[test]
fn initial_uid_map_is_recognised() {
    assert!(is_initial_uid_map("         0          0 4294967295\n"));
    assert!(!is_initial_uid_map(
        "         0       1001          1\n         1     100000      65536\n"
    ));
    assert!(!is_initial_uid_map("0 1001 1\n"));
    assert!(!is_initial_uid_map(""));
}

#[test]
fn find_program_returns_absolute_executables() {
    let find_program = find_host_program;
    let sh = find_program("sh").unwrap();
    assert!(sh.is_absolute());
    assert!(find_program("no-such-program-burrow").is_none());
    // Not executable: /etc/passwd is a regular file without x bits.
    assert!(find_program("../etc/passwd").is_none());
}

#[test]
fn runs_as_root_with_the_mapping_and_chown_lands_on_subordinate_ids() {
    let (user, map) = require_unprivileged();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, "x").unwrap();
    let expected_uid_map = map.uid_lines();
    let expected_gid_map = map.gid_lines();
    let code = run_in_userns(&map, || {
        child_check((|| {
            let norm = |t: String| -> Vec<String> {
                t.lines()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect()
            };
            let uid_map =
                norm(fs::read_to_string("/proc/self/uid_map").map_err(|e| e.to_string())?);
            if uid_map != expected_uid_map {
                return Err(format!("uid_map {uid_map:?} != {expected_uid_map:?}"));
            }
            let gid_map =
                norm(fs::read_to_string("/proc/self/gid_map").map_err(|e| e.to_string())?);
            if gid_map != expected_gid_map {
                return Err(format!("gid_map {gid_map:?} != {expected_gid_map:?}"));
            }
            if !nix::unistd::geteuid().is_root() || nix::unistd::getegid().as_raw() != 0 {
                return Err("not root inside".into());
            }
            if !in_userns_already() {
                return Err("in_userns_already() is false inside".into());
            }
            if nix::unistd::getgroups()
                .map_err(|e| e.to_string())?
                .iter()
                .any(|g| g.as_raw() != 0)
            {
                return Err("supplementary groups were not dropped".into());
            }
            std::os::unix::fs::chown(&file, Some(1000), Some(1000))
                .map_err(|e| format!("chown: {e}"))
        })())
    })
    .unwrap();
    assert_eq!(code, 0, "see the child's stderr");
    assert_eq!(
        map.uids[0],
        IdMapping {
            container_id: 0,
            host_id: user.uid,
            size: 1
        }
    );
    let md = fs::metadata(&file).unwrap();
    assert_eq!(Some(md.uid()), map.to_host_uid(1000));
    assert_eq!(Some(md.gid()), map.to_host_gid(1000));
    // On the test machines burrowtest owns 100000:65536.
    if user.subuids.first()
        == Some(&IdRange {
            start: 100000,
            count: 65536,
        })
    {
        assert_eq!(md.uid(), 100999);
    }
    assert!(!in_userns_already());
}

#[test]
fn exit_codes_panics_and_signals_come_back() {
    let (_, map) = require_unprivileged();
    assert_eq!(run_in_userns(&map, || 42).unwrap(), 42);
    assert_eq!(run_in_userns(&map, || 0).unwrap(), 0);
    // Unwinding without the panic hook: the hook takes a lock that another
    // test thread may have held when this one forked (a test harness is
    // multi-threaded, burrow's command line is not), and the child would
    // wait for it forever.
    let code = run_in_userns(&map, || {
        std::panic::resume_unwind(Box::new("deliberate panic in the child"))
    })
    .unwrap();
    assert_ne!(code, 0);
    let code = run_in_userns(&map, || {
        let _ = nix::sys::signal::raise(Signal::SIGKILL);
        0
    })
    .unwrap();
    assert_eq!(code, 128 + 9);
}

#[test]
fn signals_to_the_parent_are_forwarded_to_the_child() {
    let (_, map) = require_unprivileged();
    let code = run_in_userns(&map, || {
        // As if the user ran `kill <burrow pid>`.
        let _ = kill(getppid(), Signal::SIGTERM);
        std::thread::sleep(std::time::Duration::from_secs(20));
        0
    })
    .unwrap();
    assert_eq!(code, 128 + Signal::SIGTERM as i32);
}

#[test]
fn self_only_map_needs_no_helper() {
    assert!(
        !nix::unistd::geteuid().is_root(),
        "run the rootless tests as an unprivileged user (see README)"
    );
    let user = UserIdentity::from_files(
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
        "x",
        "",
        "",
    );
    let (map, warning) = IdMap::for_user(&user);
    assert!(warning.is_some());
    let code = run_in_userns(&map, || {
        let setgroups = fs::read_to_string("/proc/self/setgroups").unwrap_or_default();
        i32::from(!(nix::unistd::geteuid().is_root() && setgroups.trim() == "deny"))
    })
    .unwrap();
    assert_eq!(code, 0);
}

#[test]
fn newuidmap_failure_is_a_clean_error() {
    let (user, _) = require_unprivileged();
    // A range the user does not own.
    let map = IdMap {
        uids: vec![
            IdMapping {
                container_id: 0,
                host_id: user.uid,
                size: 1,
            },
            IdMapping {
                container_id: 1,
                host_id: 900000,
                size: 1000,
            },
        ],
        gids: vec![IdMapping {
            container_id: 0,
            host_id: user.gid,
            size: 1,
        }],
    };
    let start = std::time::Instant::now();
    let err = run_in_userns(&map, || 0).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            UsernsError::HelperFailed {
                tool: "newuidmap",
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("not allowed") || msg.contains("900000"),
        "stderr missing: {msg}"
    );
    assert!(!msg.contains('\n'));
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn unshare_command_runs_commands_with_exit_codes() {
    let (_, map) = require_unprivileged();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = format!(
        "stat -c %u /etc/passwd > {} && echo \"$BURROW_X\" >> {}",
        out.display(),
        out.display()
    );
    let code = unshare_command(
        &map,
        &["sh".into(), "-c".into(), script],
        &[("BURROW_X".into(), "hello".into())],
    )
    .unwrap();
    assert_eq!(code, 0);
    // /etc/passwd, owned by host root, is unmapped: the overflow uid.
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text, "65534\nhello\n");

    // A file we own is root's inside.
    fs::write(dir.path().join("mine"), "").unwrap();
    let script = format!(
        "test $(stat -c %u {}) = 0",
        dir.path().join("mine").display()
    );
    assert_eq!(
        unshare_command(&map, &["sh".into(), "-c".into(), script], &[]).unwrap(),
        0
    );

    assert_eq!(
        unshare_command(&map, &["sh".into(), "-c".into(), "exit 7".into()], &[]).unwrap(),
        7
    );
    assert_eq!(
        unshare_command(&map, &["no-such-command-burrow".into()], &[]).unwrap(),
        127
    );
    let noexec = dir.path().join("noexec");
    fs::write(&noexec, "#!/bin/sh\n").unwrap();
    assert_eq!(
        unshare_command(&map, &[noexec.display().to_string()], &[]).unwrap(),
        126
    );
}
