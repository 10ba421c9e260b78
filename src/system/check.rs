//! `burrow system check`: what rootless containers need from this host,
//! each item with its state and, when something is wrong, the fix. The
//! command decides how to print them.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use serde::Serialize;

use crate::netns;
use crate::paths::Paths;
use crate::runtime::rootfs::{Driver, choose};
use crate::storage::Store;
use crate::storage::limits::human_size;
use crate::userns::{UserIdentity, find_host_program};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    /// Works, with a limitation the detail names.
    Warn,
    /// Something rootless containers need is missing.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(name: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Warn,
            detail: detail.into(),
            fix,
        }
    }

    pub fn fail(name: &str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix,
        }
    }
}

const USERNS_FIX: &str = "sysctl -w user.max_user_namespaces=15000";

/// All checks, in order; then `store_check` (the store's integrity,
/// supplied by the caller) and what killed commands left in its `tmp/`.
///
/// Forks: call it before any thread is started.
pub fn run_checks(
    paths: &Paths,
    requested_driver: Option<&str>,
    store_check: impl FnOnce() -> Check,
) -> Vec<Check> {
    let overlay = super::overlay::probe_overlay(paths);
    let mut checks = vec![
        check_user_namespaces(),
        check_id_helpers(),
        check_subids(),
        check_overlay(&overlay),
        check_fuse(),
        check_storage_driver(requested_driver, &overlay),
        check_network(),
        check_tun(),
        super::cgroup::check(),
    ];
    checks.push(store_check());
    checks.push(check_store_temp(paths));
    checks
}

/// What killed commands (a SIGKILLed pull, a crash) left in the store's
/// `tmp/`: entries whose owner is gone, with the space they take. Live
/// commands' entries are not counted. Creates no store.
pub fn check_store_temp(paths: &Paths) -> Check {
    const NAME: &str = "store temporary files";
    let tmp = paths.root.join("tmp");
    if !paths.root.join("storage.json").exists() {
        return Check::ok(NAME, "none (no store yet)");
    }
    let left = Store::open(&paths.root).and_then(|s| s.dead_temp());
    match left {
        Ok(l) if l.entries == 0 => Check::ok(
            NAME,
            format!("none left by killed commands in {}", tmp.display()),
        ),
        Ok(l) => Check::warn(
            NAME,
            format!(
                "{} {} left in {} by killed commands, taking {}",
                l.entries,
                if l.entries == 1 { "entry" } else { "entries" },
                tmp.display(),
                human_size(l.bytes)
            ),
            Some("the next pull, load, import, build or commit removes them".into()),
        ),
        Err(e) => Check::warn(NAME, e.to_string(), None),
    }
}

fn read_number(path: &str) -> Option<i64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn check_user_namespaces() -> Check {
    const NAME: &str = "user namespaces";
    match read_number("/proc/sys/user/max_user_namespaces") {
        Some(0) => {
            return Check::fail(
                NAME,
                "user.max_user_namespaces is 0",
                Some(USERNS_FIX.into()),
            );
        }
        None if !Path::new("/proc/self/ns/user").exists() => {
            return Check::fail(
                NAME,
                "the kernel has no user namespace support (CONFIG_USER_NS)",
                Some("use a kernel built with CONFIG_USER_NS=y".into()),
            );
        }
        _ => {}
    }
    // Debian's and older Ubuntu kernels' own switch.
    if read_number("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        return Check::fail(
            NAME,
            "kernel.unprivileged_userns_clone is 0",
            Some("sysctl -w kernel.unprivileged_userns_clone=1".into()),
        );
    }
    match try_unshare_user() {
        Ok(()) => Check::ok(NAME, "an unprivileged process can create a user namespace"),
        Err(reason) => {
            // Ubuntu 24.04+ confines unprivileged user namespaces with AppArmor.
            let fix = if read_number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
                == Some(1)
            {
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for burrow)"
            } else {
                USERNS_FIX
            };
            Check::fail(
                NAME,
                format!("unshare(CLONE_NEWUSER) failed: {reason}"),
                Some(fix.into()),
            )
        }
    }
}

/// Really create a user namespace, in a throwaway child so that this process
/// stays in the initial one.
fn try_unshare_user() -> Result<(), String> {
    // SAFETY: the child only calls async-signal-safe functions (unshare,
    // _exit) before exiting.
    match unsafe { fork() } {
        Err(e) => Err(format!("cannot fork: {e}")),
        Ok(ForkResult::Child) => {
            let code = match unshare(CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(e) => (e as i32).clamp(1, 255),
            };
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => return Ok(()),
                Ok(WaitStatus::Exited(_, errno)) => {
                    return Err(nix::errno::Errno::from_raw(errno).desc().to_string());
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    return Err(format!("probe killed by {sig}"));
                }
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("cannot wait for the probe: {e}")),
            }
        },
    }
}

pub fn check_id_helpers() -> Check {
    const NAME: &str = "newuidmap/newgidmap";
    let fix = Some("apt-get install uidmap".to_string());
    let mut found = Vec::new();
    for tool in ["newuidmap", "newgidmap"] {
        let Some(path) = find_host_program(tool) else {
            return Check::fail(NAME, format!("{tool} not found"), fix);
        };
        match privilege(&path) {
            Some(how) => found.push(format!("{} ({how})", path.display())),
            None => {
                return Check::fail(
                    NAME,
                    format!(
                        "{} is neither setuid root nor has file capabilities",
                        path.display()
                    ),
                    Some("apt-get install --reinstall uidmap".into()),
                );
            }
        }
    }
    Check::ok(NAME, found.join(", "))
}

/// How a helper gets the privilege to write maps, if it does.
fn privilege(path: &Path) -> Option<&'static str> {
    let md = fs::metadata(path).ok()?;
    if md.uid() == 0 && md.mode() & 0o4000 != 0 {
        return Some("setuid root");
    }
    let mut buf = [0u8; 64];
    match rustix::fs::getxattr(path, "security.capability", &mut buf[..]) {
        Ok(n) if n > 0 => Some("file capabilities"),
        _ => None,
    }
}

pub fn check_subids() -> Check {
    const NAME: &str = "subordinate ids";
    let user = match UserIdentity::current() {
        Ok(u) => u,
        Err(e) => return Check::fail(NAME, e.to_string(), None),
    };
    subid_check_for(&user)
}

fn subid_check_for(user: &UserIdentity) -> Check {
    subid_check_with(user, crate::userns::subid::usermod_fix(&user.name))
}

/// [`subid_check_for`] with the command that would fix it.
fn subid_check_with(user: &UserIdentity, fix: String) -> Check {
    const NAME: &str = "subordinate ids";
    let fix = Some(fix);
    if let Some(w) = crate::userns::idmap::missing_ranges(user) {
        return Check::warn(NAME, w, fix);
    }
    let list = |r: &[crate::userns::IdRange]| {
        r.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = format!(
        "subuid {}; subgid {}",
        list(&user.subuids),
        list(&user.subgids)
    );
    let (uids, gids) = (user.subuid_total(), user.subgid_total());
    if uids < 65536 || gids < 65536 {
        return Check::warn(
            NAME,
            format!(
                "{detail}: fewer than 65536 ids, images with files owned by ids above {} fail to unpack",
                uids.min(gids)
            ),
            fix,
        );
    }
    Check::ok(NAME, detail)
}

pub fn check_overlay(probe: &Result<(), String>) -> Check {
    const NAME: &str = "overlay in a user namespace";
    match probe {
        Ok(()) => Check::ok(NAME, "kernel overlayfs with userxattr and whiteouts works"),
        Err(reason) => match fuse_status() {
            Ok(_) => Check::warn(
                NAME,
                format!("kernel overlayfs failed ({reason}): fuse-overlayfs will be used"),
                Some("a kernel 5.11 or newer gives native rootless overlay".into()),
            ),
            Err(missing) => Check::fail(
                NAME,
                format!(
                    "kernel overlayfs failed ({reason}) and the fuse-overlayfs fallback is unusable ({missing})"
                ),
                Some("apt-get install fuse-overlayfs fuse3".into()),
            ),
        },
    }
}

/// fuse-overlayfs's version if it and what it needs are present.
pub fn fuse_status() -> Result<String, String> {
    let Some(path) = find_host_program("fuse-overlayfs") else {
        return Err("fuse-overlayfs not found".into());
    };
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist".into());
    }
    if find_host_program("fusermount3").is_none() {
        return Err("fusermount3 not found".into());
    }
    let version = netns::program_version(&path, "fuse-overlayfs").map_err(|e| e.to_string())?;
    Ok(format!("{} {version}", path.display()))
}

/// Which driver `run` would use, and why.
pub fn check_storage_driver(requested: Option<&str>, overlay: &Result<(), String>) -> Check {
    const NAME: &str = "storage driver";
    let requested = match requested.map(Driver::parse).transpose() {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                NAME,
                e.to_string(),
                Some("fix --storage-driver or [storage] driver in config.toml".into()),
            );
        }
    };
    match choose(requested, false, || overlay.clone()) {
        Ok((d, None)) => Check::ok(NAME, d.name()),
        Ok((d, Some(why))) => Check::warn(NAME, format!("{}: {why}", d.name()), None),
        Err(e) => Check::fail(NAME, e.to_string(), None),
    }
}

pub fn check_fuse() -> Check {
    const NAME: &str = "fuse-overlayfs";
    match fuse_status() {
        Ok(detail) => Check::ok(NAME, detail),
        Err(missing) => Check::warn(
            NAME,
            format!("{missing}: only needed when kernel overlay fails"),
            Some("apt-get install fuse-overlayfs fuse3".into()),
        ),
    }
}

pub fn check_network() -> Check {
    const NAME: &str = "network backend";
    match netns::detect() {
        Ok((backend, path, version)) => {
            Check::ok(NAME, format!("{backend} ({version}) at {}", path.display()))
        }
        Err(e) => Check::fail(NAME, e.to_string(), Some("apt-get install passt".into())),
    }
}

pub fn check_tun() -> Check {
    const NAME: &str = "/dev/net/tun";
    match netns::tun_usable() {
        Ok(()) => Check::ok(NAME, "usable"),
        Err(reason) => Check::fail(
            NAME,
            reason,
            Some("chmod 666 /dev/net/tun (as root)".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_check_levels() {
        let full =
            UserIdentity::from_files(1001, 1001, "bt", "bt:100000:65536\n", "bt:100000:65536\n");
        let c = subid_check_for(&full);
        assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        assert!(c.detail.contains("100000-165535"));

        let small =
            UserIdentity::from_files(1001, 1001, "bt", "bt:100000:1000\n", "bt:100000:65536\n");
        let c = subid_check_for(&small);
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("above 1000"), "{}", c.detail);

        let none = UserIdentity::from_files(1001, 1001, "bt", "", "");
        let taken = "alice:100000:65536\n";
        let c = subid_check_with(
            &none,
            crate::userns::subid::usermod_fix_from("bt", taken, taken),
        );
        assert_eq!(c.status, CheckStatus::Warn);
        assert_eq!(
            c.fix.as_deref(),
            Some("usermod --add-subuids 165536-231071 --add-subgids 165536-231071 bt")
        );
        // The fix is the fix line's, not repeated in the detail.
        assert!(!c.detail.contains("usermod"), "{}", c.detail);
    }

    #[test]
    fn overlay_failure_names_the_fallback() {
        let c = check_overlay(&Err("mount failed: EINVAL".into()));
        // This machine has fuse-overlayfs; without it the check fails.
        match fuse_status() {
            Ok(_) => {
                assert_eq!(c.status, CheckStatus::Warn);
                assert!(
                    c.detail.contains("fuse-overlayfs will be used"),
                    "{}",
                    c.detail
                );
            }
            Err(_) => assert_eq!(c.status, CheckStatus::Fail),
        }
        assert!(c.detail.contains("EINVAL"));
        assert_eq!(check_overlay(&Ok(())).status, CheckStatus::Ok);
    }

    #[test]
    fn host_tools_are_found() {
        let c = check_id_helpers();
        assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        assert!(c.detail.contains("setuid root"));
        assert_eq!(check_network().status, CheckStatus::Ok);
        assert!(
            check_fuse().detail.contains("1."),
            "{}",
            check_fuse().detail
        );
    }

    #[test]
    fn rootless_checks_on_this_machine() {
        assert!(
            !nix::unistd::geteuid().is_root(),
            "run the rootless tests as an unprivileged user (see README)"
        );
        let t = tempfile::tempdir().unwrap();
        let paths = Paths {
            root: t.path().join("data"),
            runroot: t.path().join("run"),
            config_dir: t.path().join("cfg"),
        };
        let checks = run_checks(&paths, None, || Check::ok("store", "fine"));
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "user namespaces",
                "newuidmap/newgidmap",
                "subordinate ids",
                "overlay in a user namespace",
                "fuse-overlayfs",
                "storage driver",
                "network backend",
                "/dev/net/tun",
                "cgroup v2 delegation",
                "store",
                "store temporary files"
            ]
        );
        assert_eq!(checks[5].detail, "overlay");
        for c in &checks[..4] {
            assert_eq!(c.status, CheckStatus::Ok, "{}: {}", c.name, c.detail);
        }
        // The probe cleans up after itself.
        assert_eq!(fs::read_dir(&paths.root).unwrap().count(), 0);
    }
}
