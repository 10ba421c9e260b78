//! Cgroup layout detection. Rootless resource limits need the unified (v2)
//! hierarchy at /sys/fs/cgroup and a subtree delegated to the user (systemd
//! does this for user@UID.service), so that is what we look for.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::check::{Check, CheckStatus};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Controllers the resource-limit flags need.
const WANTED: [&str; 3] = ["cpu", "memory", "pids"];
const NAME: &str = "cgroup v2 delegation";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupLayout {
    /// cgroup2 mounted at /sys/fs/cgroup.
    Unified,
    /// v1 controllers at /sys/fs/cgroup/*, cgroup2 beside them.
    Hybrid,
    /// Only v1.
    Legacy,
    /// Nothing usable mounted.
    None,
}

impl CgroupLayout {
    /// As `burrow info` shows it.
    pub fn describe(self) -> &'static str {
        match self {
            CgroupLayout::Unified => "v2",
            CgroupLayout::Hybrid => "v1 hybrid",
            CgroupLayout::Legacy => "v1",
            CgroupLayout::None => "none",
        }
    }
}

/// The layout from the text of /proc/self/mountinfo.
pub fn layout_from_mountinfo(mountinfo: &str) -> CgroupLayout {
    let (mut unified, mut v2_elsewhere, mut v1) = (false, false, false);
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(mount_point) = fields.get(4) else {
            continue;
        };
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let Some(fstype) = fields.get(sep + 1) else {
            continue;
        };
        let under_root = Path::new(mount_point).starts_with(CGROUP_ROOT);
        match *fstype {
            "cgroup2" if *mount_point == CGROUP_ROOT => unified = true,
            "cgroup2" => v2_elsewhere = true,
            "cgroup" if under_root => v1 = true,
            _ => {}
        }
    }
    match (unified, v1, v2_elsewhere) {
        (true, _, _) => CgroupLayout::Unified,
        (false, true, true) => CgroupLayout::Hybrid,
        (false, true, false) => CgroupLayout::Legacy,
        (false, false, _) => CgroupLayout::None,
    }
}

/// "systemd" when systemd runs the machine (it owns the cgroup tree and
/// delegates through user@UID.service), else "cgroupfs": PID 1 must be
/// systemd (a container or a VM whose init is something else may still
/// have /run/systemd/system).
pub fn manager() -> &'static str {
    let pid1 = fs::read_to_string("/proc/1/comm").ok();
    manager_of(
        pid1.as_deref().map(str::trim),
        Path::new("/run/systemd/system").is_dir(),
    )
}

/// [`manager`] from PID 1's command name (None when unreadable) and
/// whether /run/systemd/system exists.
fn manager_of(pid1: Option<&str>, systemd_dir: bool) -> &'static str {
    if systemd_dir && pid1.is_none_or(|c| c == "systemd") {
        "systemd"
    } else {
        "cgroupfs"
    }
}

/// This machine's layout.
pub fn current_layout() -> CgroupLayout {
    layout_from_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// The delegation check for this process.
pub fn check() -> Check {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let self_cgroup = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    check_at(
        &mountinfo,
        &self_cgroup,
        Path::new(CGROUP_ROOT),
        nix::unistd::geteuid().as_raw(),
    )
}

/// The check from the texts of /proc/self/mountinfo and /proc/self/cgroup,
/// with the cgroup2 tree found at `root` (for tests: a fixture directory).
pub fn check_at(mountinfo: &str, self_cgroup: &str, root: &Path, uid: u32) -> Check {
    let unavailable = "resource limits (--memory, --cpus, --pids-limit) unavailable";
    let boot_fix = Some("boot with systemd.unified_cgroup_hierarchy=1".to_string());
    match layout_from_mountinfo(mountinfo) {
        CgroupLayout::Hybrid => {
            return warn(
                format!("{unavailable}: cgroup v2 not mounted as the unified hierarchy"),
                boot_fix,
            );
        }
        CgroupLayout::Legacy => {
            return warn(
                format!("{unavailable}: only cgroup v1 is mounted"),
                boot_fix,
            );
        }
        CgroupLayout::None => {
            return warn(
                format!("{unavailable}: no cgroup file system at {CGROUP_ROOT}"),
                boot_fix,
            );
        }
        CgroupLayout::Unified => {}
    }
    let own = self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().trim_start_matches('/'))
        .unwrap_or("");
    let delegated = delegated_ancestor(root, &root.join(own), uid).or_else(|| {
        // Not in a delegated cgroup ourselves (e.g. a login session
        // scope), but systemd delegates user@UID.service to us.
        let service = root.join(format!("user.slice/user-{uid}.slice/user@{uid}.service"));
        owned_by(&service, uid).then_some(service)
    });
    let Some(dir) = delegated else {
        return warn(
            format!("{unavailable}: no cgroup v2 subtree is delegated to uid {uid} (/{own} belongs to root)"),
            Some("run burrow in a systemd user session (user@UID.service is delegated; loginctl enable-linger USER)".into()),
        );
    };
    let shown = format!("/{}", dir.strip_prefix(root).unwrap_or(&dir).display());
    let controllers = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let have: Vec<&str> = controllers.split_whitespace().collect();
    let missing: Vec<&str> = WANTED
        .iter()
        .copied()
        .filter(|c| !have.contains(c))
        .collect();
    if missing.is_empty() {
        Check {
            name: NAME.into(),
            status: CheckStatus::Ok,
            detail: format!(
                "cgroup v2, delegated subtree {shown} with controllers: {}",
                have.join(" ")
            ),
            fix: None,
        }
    } else {
        warn(
            format!(
                "delegated subtree {shown} lacks the {} controller(s): the matching limits are unavailable",
                missing.join(", ")
            ),
            Some(
                "delegate them: a drop-in for user@.service with Delegate=cpu cpuset io memory pids".into(),
            ),
        )
    }
}

fn warn(detail: String, fix: Option<String>) -> Check {
    Check {
        name: NAME.into(),
        status: CheckStatus::Warn,
        detail,
        fix,
    }
}

fn owned_by(dir: &Path, uid: u32) -> bool {
    let writable = |p: &Path| fs::metadata(p).is_ok_and(|m| m.uid() == uid);
    dir.is_dir() && writable(dir) && writable(&dir.join("cgroup.subtree_control"))
}

/// The highest directory from `leaf` up to (not including) `root` that is
/// delegated to `uid`: owned by it, with a subtree_control it may write.
fn delegated_ancestor(root: &Path, leaf: &Path, uid: u32) -> Option<PathBuf> {
    let mut best = None;
    let mut cur = leaf;
    while cur != root && cur.starts_with(root) {
        if owned_by(cur, uid) {
            best = Some(cur.to_path_buf());
        } else if best.is_some() {
            break;
        }
        cur = cur.parent()?;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_systemd_only_when_systemd_is_pid_1() {
        assert_eq!(manager_of(Some("systemd"), true), "systemd");
        assert_eq!(manager_of(None, true), "systemd");
        assert_eq!(manager_of(Some("init"), true), "cgroupfs");
        assert_eq!(manager_of(Some("systemd"), false), "cgroupfs");
    }

    const HYBRID: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const UNIFIED: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";
    const LEGACY: &str = "31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";

    #[test]
    fn layouts_from_mountinfo() {
        assert_eq!(layout_from_mountinfo(HYBRID), CgroupLayout::Hybrid);
        assert_eq!(layout_from_mountinfo(UNIFIED), CgroupLayout::Unified);
        assert_eq!(layout_from_mountinfo(LEGACY), CgroupLayout::Legacy);
        assert_eq!(layout_from_mountinfo("garbage\n"), CgroupLayout::None);
        assert_eq!(CgroupLayout::Hybrid.describe(), "v1 hybrid");
    }

    #[test]
    fn hybrid_warns_with_the_boot_fix() {
        let c = check_at(HYBRID, "0::/\n", Path::new("/nonexistent"), 1000);
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(
            c.detail.contains("--memory, --cpus, --pids-limit"),
            "{}",
            c.detail
        );
        assert!(
            c.fix
                .unwrap()
                .contains("systemd.unified_cgroup_hierarchy=1")
        );
    }

    fn fixture(controllers: &str) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let svc = t
            .path()
            .join("user.slice/user-1000.slice/user@1000.service/app.slice/x.scope");
        fs::create_dir_all(&svc).unwrap();
        let mut p = svc.as_path();
        while p != t.path() {
            fs::write(p.join("cgroup.subtree_control"), "").unwrap();
            fs::write(p.join("cgroup.controllers"), controllers).unwrap();
            p = p.parent().unwrap();
        }
        t
    }

    #[test]
    fn unified_with_delegation_is_ok_and_names_the_subtree() {
        // Fixture files are owned by whoever runs the test; treat that uid as
        // the delegated user and another uid as not delegated.
        let me = nix::unistd::geteuid().as_raw();
        let t = fixture("cpu io memory pids");
        let own = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope\n";
        let c = check_at(UNIFIED, own, t.path(), me);
        assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        // Every level is owned by `me` here, so the top one is reported.
        assert!(
            c.detail.contains("/user.slice with controllers"),
            "{}",
            c.detail
        );

        let c = check_at(UNIFIED, own, t.path(), me.wrapping_add(4242));
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(
            c.detail.contains("no cgroup v2 subtree is delegated"),
            "{}",
            c.detail
        );

        // A delegation boundary needs a second owner, which only root can
        // create; the boundary is user@UID.service as systemd sets it up.
        if me == 0 {
            let svc = t
                .path()
                .join("user.slice/user-1000.slice/user@1000.service");
            for p in [
                svc.clone(),
                svc.join("app.slice"),
                svc.join("app.slice/x.scope"),
            ] {
                std::os::unix::fs::chown(&p, Some(1000), None).unwrap();
                std::os::unix::fs::chown(p.join("cgroup.subtree_control"), Some(1000), None)
                    .unwrap();
            }
            let c = check_at(UNIFIED, own, t.path(), 1000);
            assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
            assert!(
                c.detail
                    .contains("subtree /user.slice/user-1000.slice/user@1000.service with"),
                "{}",
                c.detail
            );
            // From a root-owned session scope, the user's service is found.
            let c = check_at(
                UNIFIED,
                "0::/user.slice/user-1000.slice/session-1.scope\n",
                t.path(),
                1000,
            );
            assert_eq!(c.status, CheckStatus::Ok, "{}", c.detail);
        }
    }

    #[test]
    fn missing_controllers_are_named() {
        let me = nix::unistd::geteuid().as_raw();
        let t = fixture("cpu io");
        let c = check_at(UNIFIED, "0::/user.slice\n", t.path(), me);
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("memory, pids"), "{}", c.detail);
    }

    #[test]
    fn this_hybrid_machine_warns() {
        if current_layout() == CgroupLayout::Hybrid {
            assert_eq!(check().status, CheckStatus::Warn);
        }
    }
}
