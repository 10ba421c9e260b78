//! `burrow info`: facts about the host as burrow sees it.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use super::cgroup;
use crate::netns;
use crate::paths::Paths;
use crate::userns::{IdMap, IdRange, UserIdentity, find_host_program};

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub kernel: String,
    pub os: String,
    pub arch: String,
    pub hostname: String,
    pub cgroup_version: String,
    pub cgroup_manager: String,
    pub user: String,
    pub uid: u32,
    pub rootless: bool,
    /// The uid_map burrow's user namespace gets, as /proc shows it.
    pub uid_map: Vec<String>,
    pub gid_map: Vec<String>,
    pub subuids: Vec<IdRange>,
    pub subgids: Vec<IdRange>,
    /// Set when the user has no subordinate range.
    pub idmap_warning: Option<String>,
    /// "native" when kernel overlay works in the user namespace, else the
    /// reason it does not.
    pub overlay: String,
    pub network_backend: Option<String>,
    pub network_backend_path: Option<PathBuf>,
    pub network_backend_version: Option<String>,
    pub fuse_overlayfs: Option<String>,
    pub newuidmap: Option<PathBuf>,
    pub newgidmap: Option<PathBuf>,
}

/// Gather the host information, running the overlay probe.
///
/// Forks: call it before any thread is started.
pub fn host_info(paths: &Paths) -> HostInfo {
    host_info_with_overlay(super::overlay::probe_overlay(paths))
}

/// Gather the host information with an overlay probe result already at hand
/// (e.g. from the checks).
pub fn host_info_with_overlay(overlay: Result<(), String>) -> HostInfo {
    let uid = nix::unistd::geteuid().as_raw();
    let user = UserIdentity::current().ok();
    let (map, warning) = match &user {
        Some(u) => {
            let (m, w) = IdMap::for_user(u);
            (Some(m), w)
        }
        None => (None, None),
    };
    let network = netns::detect().ok();
    let layout = cgroup::current_layout();
    HostInfo {
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        os: os_pretty_name(&fs::read_to_string("/etc/os-release").unwrap_or_default()),
        arch: std::env::consts::ARCH.to_string(),
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        cgroup_version: layout.describe().to_string(),
        cgroup_manager: cgroup::manager().to_string(),
        user: user
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| uid.to_string()),
        uid,
        rootless: uid != 0,
        uid_map: map.as_ref().map(IdMap::uid_lines).unwrap_or_default(),
        gid_map: map.as_ref().map(IdMap::gid_lines).unwrap_or_default(),
        subuids: user.as_ref().map(|u| u.subuids.clone()).unwrap_or_default(),
        subgids: user.as_ref().map(|u| u.subgids.clone()).unwrap_or_default(),
        idmap_warning: warning,
        overlay: match overlay {
            Ok(()) => "native".to_string(),
            Err(reason) => reason,
        },
        network_backend: network.as_ref().map(|n| n.0.to_string()),
        network_backend_path: network.as_ref().map(|n| n.1.clone()),
        network_backend_version: network.map(|n| n.2),
        fuse_overlayfs: super::check::fuse_status().ok(),
        newuidmap: find_host_program("newuidmap"),
        newgidmap: find_host_program("newgidmap"),
    }
}

fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// PRETTY_NAME from os-release text, unquoted.
fn os_pretty_name(text: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_name_is_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(os_pretty_name(text), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(os_pretty_name("PRETTY_NAME='X 1'\n"), "X 1");
        assert_eq!(os_pretty_name("ID=x\n"), "unknown");
    }

    #[test]
    fn info_without_probe_fills_the_fields() {
        let info = host_info_with_overlay(Err("probe skipped".into()));
        assert!(!info.kernel.is_empty() && info.kernel != "unknown");
        assert_eq!(info.overlay, "probe skipped");
        assert!(!info.hostname.is_empty());
        assert_eq!(
            info.uid_map
                .first()
                .map(|l| l.split(' ').nth(1).unwrap().to_string()),
            Some(info.uid.to_string())
        );
        assert_eq!(info.network_backend.as_deref(), Some("pasta"));
        assert!(info.newuidmap.is_some());
        let json = serde_json::to_value(&info).unwrap();
        assert!(json["subuids"].is_array());
    }

    #[test]
    fn rootless_info_with_the_overlay_probe() {
        assert!(
            !nix::unistd::geteuid().is_root(),
            "run the rootless tests as an unprivileged user (see README)"
        );
        let t = tempfile::tempdir().unwrap();
        let paths = Paths {
            root: t.path().join("d"),
            runroot: t.path().join("r"),
            config_dir: t.path().join("c"),
        };
        let info = host_info(&paths);
        assert_eq!(info.overlay, "native");
        assert!(info.rootless);
        assert!(info.uid_map.len() >= 2, "{:?}", info.uid_map);
        assert_eq!(info.cgroup_version, cgroup::current_layout().describe());
    }
}
