//! Facts about the host for `burrow info`. Cheap probes only; the overlay
//! probe (a real mount) is the one exception, because which storage driver
//! works is the fact users most need.

use serde::Serialize;

use crate::netns;
use crate::paths::Paths;
use crate::userns::{IdMap, UserIdentity};

#[derive(Debug, Serialize)]
pub struct HostInfo {
    pub kernel: String,
    pub os: String,
    pub arch: String,
    pub hostname: String,
    pub cgroup_version: String,
    pub rootless: bool,
    pub user: String,
    pub uid_map: Vec<String>,
    pub gid_map: Vec<String>,
    pub id_map_warning: Option<String>,
    pub storage_driver: String,
    pub network_backend: Option<String>,
    pub network_backend_version: Option<String>,
    pub fuse_overlayfs: Option<String>,
    pub newuidmap: Option<String>,
}

pub fn host_info(paths: &Paths) -> HostInfo {
    let uname = rustix::system::uname();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2"
    } else if std::path::Path::new("/sys/fs/cgroup/unified").exists() {
        "v1 (hybrid)"
    } else {
        "v1"
    };
    let (user, uid_map, gid_map, id_map_warning) = match UserIdentity::current() {
        Ok(id) => {
            let (map, warning) = IdMap::for_user(&id);
            let lines = |m: &[crate::userns::IdMapping]| {
                m.iter()
                    .map(|x| format!("{} {} {}", x.container_id, x.host_id, x.size))
                    .collect()
            };
            (id.name.clone(), lines(&map.uids), lines(&map.gids), warning)
        }
        Err(e) => (String::new(), vec![], vec![], Some(e.to_string())),
    };
    let storage_driver = match crate::system::check::overlay_probe(&paths.root) {
        Ok(()) => "overlay".to_string(),
        Err(e) => format!("overlay unavailable ({e})"),
    };
    let net = netns::detect().ok();
    HostInfo {
        kernel: uname.release().to_string_lossy().into_owned(),
        os,
        arch: std::env::consts::ARCH.to_string(),
        hostname: uname.nodename().to_string_lossy().into_owned(),
        cgroup_version: cgroup_version.into(),
        rootless: !rustix::process::geteuid().is_root(),
        user,
        uid_map,
        gid_map,
        id_map_warning,
        storage_driver,
        network_backend: net.as_ref().map(|d| d.backend.program().to_string()),
        network_backend_version: net.map(|d| d.version),
        fuse_overlayfs: netns::find_program("fuse-overlayfs").map(|p| netns::program_version(&p)),
        newuidmap: netns::find_program("newuidmap").map(|p| p.display().to_string()),
    }
}
