use std::time::Instant;

use super::*;
use crate::confine::caps::{CapabilityOptions, resolve};
use crate::confine::testutil::{is_helper, run_helper, status_field};

fn default_caps() -> CapSet {
    resolve(&CapabilityOptions::default()).unwrap()
}

#[test]
fn security_opts() {
    assert_eq!(
        parse_security_opt("seccomp=unconfined").unwrap(),
        SecurityOpt::Seccomp(SeccompMode::Unconfined)
    );
    assert_eq!(
        parse_security_opt("seccomp=/etc/p.json").unwrap(),
        SecurityOpt::Seccomp(SeccompMode::Profile("/etc/p.json".into()))
    );
    assert_eq!(
        parse_security_opt("seccomp:unconfined").unwrap(),
        SecurityOpt::Seccomp(SeccompMode::Unconfined)
    );
    for s in [
        "no-new-privileges",
        "no-new-privileges=true",
        "no-new-privileges:true",
    ] {
        assert_eq!(
            parse_security_opt(s).unwrap(),
            SecurityOpt::NoNewPrivileges,
            "{s}"
        );
    }
    for s in [
        "seccomp",
        "seccomp=",
        "apparmor=unconfined",
        "label=disable",
    ] {
        let e = parse_security_opt(s).unwrap_err().to_string();
        assert!(
            e.contains("seccomp=unconfined") && e.contains("no-new-privileges"),
            "{e}"
        );
        assert!(e.contains(s), "{e}");
    }
    // Every container gets no_new_privs: turning it off is refused, saying
    // why.
    let e = parse_security_opt("no-new-privileges=false")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no-new-privileges=false") && e.contains("no_new_privs"),
        "{e}"
    );
}

#[test]
fn default_filter_compiles_fast_and_knows_every_name() {
    let caps = default_caps();
    let start = Instant::now();
    let f = default_filter(&caps).unwrap();
    let first = start.elapsed();
    let warm = (0..5)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(default_filter(&caps).unwrap(), f);
            t.elapsed()
        })
        .min()
        .unwrap();
    println!(
        "default seccomp filter: {} programs, {} BPF instructions, compiled in {first:?} (first), {warm:?} (warm)",
        f.programs.len(),
        f.instructions(),
    );
    assert_eq!(
        f.ignored,
        Vec::<String>::new(),
        "names unknown on this arch"
    );
    // Allowlist filter + the clone3 ENOSYS filter.
    assert_eq!(f.programs.len(), 2);
    let mut all = resolve(&CapabilityOptions {
        privileged: true,
        ..Default::default()
    })
    .unwrap();
    let f_all = default_filter(&all).unwrap();
    // With SYS_ADMIN clone/clone3 are unconditional: no ENOSYS filter.
    assert_eq!(f_all.programs.len(), 1);
    assert_eq!(f_all.ignored, Vec::<String>::new());
    all.remove(Capability::CAP_SYS_ADMIN);
    assert_eq!(default_filter(&all).unwrap().programs.len(), 2);
}

#[test]
fn malformed_profiles_are_errors() {
    let caps = default_caps();
    let e = from_docker_json(
        "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  oops\n}",
        &caps,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("malformed seccomp profile at line 3 column"),
        "{e}"
    );
    assert!(!e.contains('\n'));
    assert_eq!(e.matches("line 3").count(), 1, "{e}");
    let e = from_docker_json(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#, &caps).unwrap_err();
    assert!(e.to_string().contains("SCMP_ACT_NOTIFY"), "{e}");
    let e = from_docker_json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#,
        &caps,
    )
    .unwrap_err();
    assert!(e.to_string().contains("SCMP_CMP_XX"), "{e}");
    assert!(from_docker_json(r#"{"syscalls":[]}"#, &caps).is_err());
}

#[test]
fn profile_unknown_names_ignored_and_includes_filtered() {
    let caps = default_caps();
    let f = from_docker_json(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["getpid","no_such_call","arm_fadvise64_64"],"action":"SCMP_ACT_ALLOW"},
            {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}},
            {"names":["reboot"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["s390x"]}},
            {"names":["keyctl"],"action":"SCMP_ACT_KILL","excludes":{"caps":["CAP_CHOWN"]}}
        ]}"#,
        &caps,
    )
    .unwrap();
    let mut ignored = f.ignored.clone();
    ignored.sort();
    assert_eq!(ignored, vec!["arm_fadvise64_64", "no_such_call"]);
    assert_eq!(f.programs.len(), 1);
    // A profile that allows everything installs nothing but no_new_privs.
    let f = from_docker_json(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#, &caps).unwrap();
    assert!(f.programs.is_empty());
}

fn check(case: &str, caps_add: &str) {
    run_helper(
        "confine::seccomp::tests::helper_install",
        false,
        &[
            ("BURROW_SECCOMP_CASE", case.to_string()),
            ("BURROW_SECCOMP_CAPS", caps_add.to_string()),
        ],
    );
}

#[test]
fn default_filter_in_child() {
    check("default", "");
}

#[test]
fn default_filter_with_sys_admin_in_child() {
    check("sys_admin", "SYS_ADMIN");
}

#[test]
fn docker_profile_in_child() {
    check("profile", "");
}

/// Podman's own profile, when podman is installed: a real-world profile
/// with errno defaults, cap excludes and arg rules.
const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";

#[test]
fn podman_profile_compiles_and_works_in_child() {
    // Installed with skopeo (package golang-github-containers-common), which
    // tests/run.sh installs: missing means the machine is not set up.
    let text = std::fs::read_to_string(PODMAN_PROFILE).unwrap_or_else(|e| {
        panic!("{PODMAN_PROFILE}: {e}: install golang-github-containers-common (bash tests/run.sh does)")
    });
    let f = from_docker_json(&text, &default_caps()).unwrap();
    // Default ERRNO(ENOSYS) + allow filter, then the ERRNO(EPERM) denials,
    // then the ERRNO(EINVAL) rule for NETLINK_AUDIT sockets.
    assert_eq!(f.programs.len(), 3);
    assert!(!f.ignored.iter().any(|n| n == "getpid" || n == "read"));
    check("podman", "");
}

fn errno_of(ret: libc::c_long) -> i32 {
    if ret == -1 {
        std::io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        0
    }
}

#[test]
#[ignore = "helper: runs in a child process"]
fn helper_install() {
    if !is_helper() {
        return;
    }
    let case = std::env::var("BURROW_SECCOMP_CASE").unwrap();
    let add: Vec<String> = std::env::var("BURROW_SECCOMP_CAPS")
        .unwrap()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let caps = resolve(&CapabilityOptions {
        add,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(status_field("Seccomp"), "0");
    let dir = tempfile::tempdir().unwrap();
    match case.as_str() {
        "default" => {
            install(&default_filter(&caps).unwrap()).unwrap();
            assert_eq!(status_field("Seccomp"), "2");
            assert_eq!(status_field("NoNewPrivs"), "1");
            unsafe {
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)),
                    libc::EPERM
                );
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0)),
                    libc::EPERM
                );
                assert_eq!(
                    errno_of(libc::unshare(libc::CLONE_NEWUSER) as _),
                    libc::EPERM
                );
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_clone3, 0, 0)),
                    libc::ENOSYS
                );
                // clone with a namespace flag is refused before it can fork.
                let r = libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                    0,
                    0,
                    0,
                    0,
                );
                if r == 0 {
                    libc::_exit(0);
                }
                assert_eq!(errno_of(r), libc::EPERM);
                // personality: the query is allowed, other personas are not.
                assert_ne!(libc::personality(0xffff_ffff), -1);
                assert_eq!(errno_of(libc::personality(0x0040_0000) as _), libc::EPERM);
                assert_eq!(
                    errno_of(libc::socket(40, libc::SOCK_STREAM, 0) as _),
                    libc::EPERM
                );
                assert!(libc::getpid() > 0);
                // Plain fork (clone without namespace flags) still works.
                let pid = libc::fork();
                if pid == 0 {
                    libc::_exit(7);
                }
                assert!(pid > 0, "fork: {}", std::io::Error::last_os_error());
                let mut st = 0;
                assert_eq!(libc::waitpid(pid, &mut st, 0), pid);
                assert_eq!(libc::WEXITSTATUS(st), 7);
            }
            std::fs::write(dir.path().join("f"), "written").unwrap();
            std::fs::create_dir(dir.path().join("d")).unwrap();
            let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            assert!(fd >= 0);
        }
        "sys_admin" => {
            install(&default_filter(&caps).unwrap()).unwrap();
            unsafe {
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)),
                    libc::EPERM
                );
                // clone3 is no longer stubbed: a NULL args pointer is EFAULT.
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_clone3, 0, 64)),
                    libc::EFAULT
                );
                // Namespace creation is up to the kernel again: EPERM from the
                // filter is gone (EINVAL: a bad flag combination).
                assert_eq!(
                    errno_of(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_FS | 0x1) as _),
                    libc::EINVAL
                );
            }
        }
        "profile" => {
            let f = from_docker_json(
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                    {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                    {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":22,
                     "args":[{"index":0,"value":5,"op":"SCMP_CMP_EQ"}]}
                ]}"#,
                &caps,
            )
            .unwrap();
            install(&f).unwrap();
            assert_eq!(status_field("Seccomp"), "2");
            let e = std::fs::create_dir(dir.path().join("d")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM));
            std::fs::write(dir.path().join("f"), "still works").unwrap();
            unsafe {
                assert!(libc::syscall(libc::SYS_getppid, 0) > 0);
                assert_eq!(errno_of(libc::syscall(libc::SYS_getppid, 5)), libc::EINVAL);
            }
        }
        "podman" => {
            let text = std::fs::read_to_string(PODMAN_PROFILE).unwrap();
            install(&from_docker_json(&text, &caps).unwrap()).unwrap();
            assert_eq!(status_field("Seccomp"), "2");
            unsafe {
                // Not listed: the profile's default, ENOSYS.
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0)),
                    libc::ENOSYS
                );
                assert_eq!(errno_of(libc::personality(0x0040_0000) as _), libc::ENOSYS);
                // Listed as denied with errnoRet 1.
                assert_eq!(errno_of(libc::syscall(libc::SYS_swapoff, 0)), libc::EPERM);
                // Denied unless CAP_SYS_ADMIN, which the default set lacks.
                assert_eq!(errno_of(libc::syscall(libc::SYS_setns, -1, 0)), libc::EPERM);
                assert!(libc::getpid() > 0);
                assert_ne!(libc::personality(0xffff_ffff), -1);
                // An allowed syscall denied for one argument combination.
                assert_eq!(
                    errno_of(libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, 9) as _),
                    libc::EINVAL
                );
                assert!(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) >= 0);
            }
            std::fs::create_dir(dir.path().join("d")).unwrap();
        }
        "equal_default" => {
            install(&from_docker_json(&equal_default_profile(), &caps).unwrap()).unwrap();
            unsafe {
                assert_eq!(
                    errno_of(libc::socket(40, libc::SOCK_STREAM, 0) as _),
                    libc::EPERM
                );
                assert!(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) >= 0);
                assert_eq!(
                    errno_of(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)),
                    libc::EPERM
                );
            }
        }
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn prepare_reads_profiles_and_names_the_file() {
    let caps = default_caps();
    assert!(prepare(&SeccompMode::Unconfined, &caps).unwrap().is_none());
    assert_eq!(
        prepare(&SeccompMode::Default, &caps).unwrap().unwrap(),
        default_filter(&caps).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let e = prepare(&SeccompMode::Profile(missing.clone()), &caps).unwrap_err();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n\"syscalls\": [}",
    )
    .unwrap();
    let e = prepare(&SeccompMode::Profile(bad.clone()), &caps)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "malformed seccomp profile {} at line 2",
            bad.display()
        )),
        "{e}"
    );
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let f = prepare(&SeccompMode::Profile(good), &caps)
        .unwrap()
        .unwrap();
    assert_eq!(f.programs.len(), 1);
}

/// Allows what the test harness needs (the default allowlist) and socket,
/// but denies AF_VSOCK sockets with the default action's own errno.
fn equal_default_profile() -> String {
    let mut allowed: Vec<&str> = ALLOWED.to_vec();
    allowed.push("socket");
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
        ]
    })
    .to_string()
}

#[test]
fn a_denial_equal_to_the_default_still_overrides_an_allow() {
    let f = from_docker_json(&equal_default_profile(), &default_caps()).unwrap();
    assert_eq!(f.programs.len(), 2);
    check("equal_default", "");
}
