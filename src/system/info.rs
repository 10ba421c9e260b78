//! `burrow info`: facts about the host as burrow sees it.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use super::cgroup;
use crate::netns;
use crate::paths::Paths;
use crate::userns::{IdMap, IdRange, UserIdentity, find_host_program};

/// The host, under Podman's names (`podman info --format json`'s `host`)
/// where Podman has the fact, burrow's own beside them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostInfo {
    pub kernel: String,
    /// "linux".
    pub os: String,
    pub distribution: Distribution,
    pub arch: String,
    pub hostname: String,
    pub cgroup_version: String,
    /// "systemd" when systemd is PID 1 and runs the machine, else
    /// "cgroupfs".
    pub cgroup_manager: String,
    /// burrow runs containers itself.
    pub oci_runtime: OciRuntime,
    /// What a container's log is kept as, as Podman names it.
    pub log_driver: String,
    pub security: Security,
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

/// The distribution, from /etc/os-release.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    /// ID ("debian").
    pub distribution: String,
    /// VERSION_ID ("12").
    pub version: String,
    /// VERSION_CODENAME ("bookworm").
    pub codename: String,
    /// PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)").
    #[serde(rename = "prettyName")]
    pub pretty_name: String,
}

/// The program that runs containers: burrow itself.
#[derive(Debug, Clone, Serialize)]
pub struct OciRuntime {
    pub name: String,
    pub path: Option<PathBuf>,
    pub version: String,
}

/// How containers are confined by default.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    pub rootless: bool,
    /// A seccomp filter unless `--security-opt seccomp=unconfined`.
    pub seccomp_enabled: bool,
    pub selinux_enabled: bool,
    pub apparmor_enabled: bool,
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
    let os_release = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let release = |key: &str| os_release_field(&os_release, key).unwrap_or_default();
    HostInfo {
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        os: std::env::consts::OS.to_string(),
        distribution: Distribution {
            distribution: release("ID"),
            version: release("VERSION_ID"),
            codename: release("VERSION_CODENAME"),
            pretty_name: os_release_field(&os_release, "PRETTY_NAME")
                .unwrap_or_else(|| "unknown".into()),
        },
        arch: crate::registry::platform::Platform::host().architecture,
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        cgroup_version: layout.describe().to_string(),
        cgroup_manager: cgroup::manager().to_string(),
        oci_runtime: OciRuntime {
            name: "burrow".to_string(),
            path: std::env::current_exe().ok(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        log_driver: "k8s-file".to_string(),
        security: Security {
            rootless: uid != 0,
            seccomp_enabled: true,
            selinux_enabled: false,
            apparmor_enabled: false,
        },
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

/// `KEY`'s value in os-release text, unquoted.
fn os_release_field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_name_is_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        let pretty = |t: &str| os_release_field(t, "PRETTY_NAME");
        assert_eq!(pretty(text).unwrap(), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(pretty("PRETTY_NAME='X 1'\n").unwrap(), "X 1");
        assert_eq!(pretty("ID=x\n"), None);
        assert_eq!(os_release_field(text, "ID").unwrap(), "debian");
        assert_eq!(os_release_field(text, "NAME").unwrap(), "Debian GNU/Linux");
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
