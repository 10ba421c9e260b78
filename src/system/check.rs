//! `burrow system check`: can this host run rootless containers? Each check
//! says OK, WARN or FAIL and, when something is missing, the command that
//! fixes it. The probes are real (a user namespace is created, an overlay is
//! mounted), because configuration files alone do not tell.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use serde::Serialize;

use crate::netns;
use crate::paths::Paths;
use crate::userns::UserIdentity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn warn(name: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Warn,
            detail: detail.into(),
            fix,
        }
    }
    fn fail(name: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix,
        }
    }
}

/// Every check, in the order a user should fix them. `store_check` verifies
/// the image store; the caller supplies it so this module needs no store.
pub fn run_checks(paths: &Paths, store_check: impl FnOnce() -> Check) -> Vec<Check> {
    let identity = UserIdentity::current();
    let mut out = vec![check_userns()];
    out.push(check_helper("newuidmap"));
    out.push(check_helper("newgidmap"));
    match &identity {
        Ok(id) => {
            out.push(check_subids(
                "subuid",
                &id.name,
                id.subuids.iter().map(|r| (r.start, r.count)).collect(),
            ));
            out.push(check_subids(
                "subgid",
                &id.name,
                id.subgids.iter().map(|r| (r.start, r.count)).collect(),
            ));
        }
        Err(e) => out.push(Check::fail("subuid", e.to_string(), None)),
    }
    let overlay = overlay_probe(&paths.root);
    let fuse = check_fuse_overlayfs();
    out.push(match &overlay {
        Ok(()) => Check::ok("overlay", "kernel overlayfs mounts in a user namespace (userxattr, whiteouts work)"),
        Err(e) if fuse.status == CheckStatus::Ok => {
            Check::warn("overlay", format!("kernel overlayfs in a user namespace failed ({e}): fuse-overlayfs will be used"), None)
        }
        Err(e) => Check::fail(
            "overlay",
            format!("kernel overlayfs in a user namespace failed ({e}) and fuse-overlayfs is unusable"),
            Some("use a kernel ≥ 5.11, or install fuse-overlayfs and fuse3 (apt-get install fuse-overlayfs fuse3)".into()),
        ),
    });
    out.push(fuse);
    out.push(match netns::detect() {
        Ok(d) => Check::ok(
            "network",
            format!(
                "{} at {} ({})",
                d.backend.program(),
                d.path.display(),
                d.version
            ),
        ),
        Err(e) => Check::fail(
            "network",
            e.to_string(),
            Some("apt-get install passt".into()),
        ),
    });
    out.push(match netns::tun_usable() {
        Ok(()) => Check::ok("/dev/net/tun", "usable"),
        Err(e) => Check::fail(
            "/dev/net/tun",
            e,
            Some("as root: chmod 666 /dev/net/tun".into()),
        ),
    });
    out.push(check_cgroups(
        Path::new("/sys/fs/cgroup"),
        &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
    ));
    out.push(store_check());
    out
}

fn check_userns() -> Check {
    const NAME: &str = "user namespaces";
    let fix = Some("as root: sysctl -w user.max_user_namespaces=15000".to_string());
    match std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .map(|s| s.trim().parse::<u64>())
    {
        Ok(Ok(0)) => return Check::fail(NAME, "user.max_user_namespaces is 0", fix),
        Ok(_) => {}
        Err(_) => {
            return Check::fail(
                NAME,
                "the kernel has no user namespaces (/proc/sys/user missing)",
                None,
            );
        }
    }
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        && v.trim() == "0"
    {
        return Check::fail(
            NAME,
            "kernel.unprivileged_userns_clone is 0",
            Some("as root: sysctl -w kernel.unprivileged_userns_clone=1".into()),
        );
    }
    match in_child(|| nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok()) {
        Ok(true) => Check::ok(NAME, "an unprivileged user namespace can be created"),
        Ok(false) => Check::fail(
            NAME,
            "unshare(CLONE_NEWUSER) is refused (AppArmor's restrict_unprivileged_userns, seccomp or a sysctl)",
            Some("as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or allow burrow in your LSM profile".into()),
        ),
        Err(e) => Check::fail(NAME, e, None),
    }
}

/// newuidmap/newgidmap must exist and be setuid root or carry file caps.
fn check_helper(name: &str) -> Check {
    let fix =
        Some("as root: apt-get install uidmap (Fedora: dnf install shadow-utils)".to_string());
    let Some(path) = netns::find_program(name) else {
        return Check::fail(name, format!("{name} not found"), fix);
    };
    let md = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => return Check::fail(name, format!("{}: {e}", path.display()), fix),
    };
    let setuid_root = md.uid() == 0 && md.permissions().mode() & 0o4000 != 0;
    let has_caps = rustix::fs::getxattr(&path, "security.capability", &mut [0u8; 64]).is_ok();
    if setuid_root || has_caps {
        Check::ok(
            name,
            format!(
                "{} ({})",
                path.display(),
                if setuid_root {
                    "setuid root"
                } else {
                    "file capabilities"
                }
            ),
        )
    } else {
        Check::fail(
            name,
            format!(
                "{} is neither setuid root nor has file capabilities",
                path.display()
            ),
            Some(format!("as root: chmod u+s {}", path.display())),
        )
    }
}

fn check_subids(kind: &str, user: &str, ranges: Vec<(u32, u32)>) -> Check {
    let total: u64 = ranges.iter().map(|(_, c)| u64::from(*c)).sum();
    let file = format!("/etc/{kind}");
    let fix = Some(format!(
        "as root: usermod --add-{kind}s 100000-165535 {user}"
    ));
    if ranges.is_empty() {
        return Check::fail(
            kind,
            format!("no {kind} range for user {user} in {file}"),
            fix,
        );
    }
    let list = ranges
        .iter()
        .map(|(s, c)| format!("{s}+{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    if total < 65536 {
        Check::warn(
            kind,
            format!("{user} has only {total} ids ({list}): images with higher ids fail to unpack"),
            fix,
        )
    } else {
        Check::ok(kind, format!("{user}: {list}"))
    }
}

fn check_fuse_overlayfs() -> Check {
    const NAME: &str = "fuse-overlayfs";
    let fix = Some("as root: apt-get install fuse-overlayfs fuse3".to_string());
    let Some(path) = netns::find_program("fuse-overlayfs") else {
        return Check::warn(
            NAME,
            "not installed (only needed where kernel overlayfs fails)",
            fix,
        );
    };
    if !Path::new("/dev/fuse").exists() {
        return Check::warn(
            NAME,
            "/dev/fuse is missing",
            Some("as root: modprobe fuse".into()),
        );
    }
    if netns::find_program("fusermount3")
        .or_else(|| netns::find_program("fusermount"))
        .is_none()
    {
        return Check::warn(NAME, "fusermount3 not found", fix);
    }
    Check::ok(
        NAME,
        format!("{} ({})", path.display(), netns::program_version(&path)),
    )
}

/// Rootless resource limits need the unified cgroup v2 hierarchy and a
/// subtree delegated to the user (systemd does this for user sessions).
pub fn check_cgroups(root: &Path, proc_self_cgroup: &str) -> Check {
    const NAME: &str = "cgroups";
    let limits = "resource limits (--memory, --cpus, --pids-limit) are unavailable";
    if !root.join("cgroup.controllers").exists() {
        let how = if root.join("unified").exists() {
            "hybrid v1/v2 layout"
        } else {
            "cgroup v1"
        };
        return Check::warn(
            NAME,
            format!("{how}: cgroup v2 is not the unified hierarchy, so {limits}"),
            Some("boot with systemd.unified_cgroup_hierarchy=1".into()),
        );
    }
    let own = proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/");
    let dir = root.join(own.trim_start_matches('/'));
    let writable = rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_ok();
    if !writable {
        return Check::warn(
            NAME,
            format!("cgroup v2, but {} is not delegated to you, so {limits}", dir.display()),
            Some("run burrow from a systemd user session (loginctl enable-linger USER), or delegate with Delegate=yes".into()),
        );
    }
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    Check::ok(
        NAME,
        format!(
            "cgroup v2, delegated {} (controllers: {})",
            dir.display(),
            controllers.trim()
        ),
    )
}

/// Mount an overlay inside a fresh user+mount namespace and delete a lower
/// file through it, which makes the kernel create a whiteout: the same
/// operations `run` needs.
pub fn overlay_probe(data_root: &Path) -> Result<(), String> {
    let base = data_root.join("tmp");
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("overlay-check-")
        .tempdir_in(&base)
        .map_err(|e| format!("cannot create a temp dir in {}: {e}", base.display()))?;
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir(dir.path().join(d)).map_err(|e| e.to_string())?;
    }
    std::fs::write(dir.path().join("lower/file"), "x").map_err(|e| e.to_string())?;
    let p = dir.path().to_path_buf();
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let result = in_child(move || {
        use nix::sched::{CloneFlags, unshare};
        if unshare(CloneFlags::CLONE_NEWUSER).is_err() {
            return false;
        }
        // A process may map its own ids into a namespace it created.
        let _ = std::fs::write("/proc/self/setgroups", "deny");
        if std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).is_err()
            || std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).is_err()
            || unshare(CloneFlags::CLONE_NEWNS).is_err()
        {
            return false;
        }
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},userxattr",
            p.join("lower").display(),
            p.join("upper").display(),
            p.join("work").display()
        );
        let mounted = nix::mount::mount(
            Some("overlay"),
            &p.join("merged"),
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        );
        if mounted.is_err() || std::fs::remove_file(p.join("merged/file")).is_err() {
            return false;
        }
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(p.join("upper/file"))
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false)
    });
    // The work dir gets a 0000 subdirectory from the kernel.
    let _ = std::fs::set_permissions(
        dir.path().join("work/work"),
        std::fs::Permissions::from_mode(0o700),
    );
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err("mount or whiteout failed".into()),
        Err(e) => Err(e),
    }
}

/// Run `f` in a forked child and return its verdict. The caller must be
/// single-threaded (`system check` runs before anything starts threads).
fn in_child(f: impl FnOnce() -> bool) -> Result<bool, String> {
    // SAFETY: burrow is single-threaded here; the child only makes
    // syscalls and exits without returning into the caller.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let ok = f();
            // SAFETY: _exit skips destructors and atexit handlers that
            // belong to the parent.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(format!("waitpid: {e}")),
        },
        Err(e) => Err(format!("fork: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_layouts() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("unified")).unwrap();
        let c = check_cgroups(t.path(), "");
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("hybrid"), "{}", c.detail);

        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::create_dir_all(v2.path().join("user.slice/me")).unwrap();
        std::fs::write(
            v2.path().join("user.slice/me/cgroup.controllers"),
            "memory pids\n",
        )
        .unwrap();
        let c = check_cgroups(v2.path(), "0::/user.slice/me\n");
        assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        assert!(c.detail.contains("memory pids"));
    }

    #[test]
    fn subid_ranges() {
        assert_eq!(
            check_subids("subuid", "alice", vec![]).status,
            CheckStatus::Fail
        );
        let c = check_subids("subuid", "alice", vec![]);
        assert!(
            c.fix
                .unwrap()
                .contains("usermod --add-subuids 100000-165535 alice")
        );
        assert_eq!(
            check_subids("subuid", "alice", vec![(100000, 65536)]).status,
            CheckStatus::Ok
        );
        assert_eq!(
            check_subids("subuid", "alice", vec![(100000, 1000)]).status,
            CheckStatus::Warn
        );
    }

    #[test]
    fn helpers_missing_or_present() {
        let c = check_helper("surely-no-such-helper");
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.fix.unwrap().contains("uidmap"));
    }
}
