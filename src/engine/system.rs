//! `info` and `system df`: what the engine knows about the host and how
//! much of the disk its store takes, with Podman's field names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use super::Engine;
use super::error::EngineError;
use crate::runtime::rootfs::{self, Driver};
use crate::runtime::{ContainerRecord, Status};
use crate::storage::ImageRecord;
use crate::system::HostInfo;
use crate::system::info::host_info_with_overlay;
use crate::system::overlay::probe_overlay;

/// `podman info`'s object: the host, the store, the version.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub host: HostInfo,
    pub store: StoreInfo,
    pub version: VersionInfo,
}

/// The store, under Podman's names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreInfo {
    pub graph_root: PathBuf,
    pub run_root: PathBuf,
    pub config_file: PathBuf,
    /// The storage driver new containers get.
    pub graph_driver_name: String,
    /// Why that driver is a fallback, if it is.
    pub graph_driver_warning: Option<String>,
    /// None: burrow's drivers take no options.
    pub graph_options: BTreeMap<String, String>,
    pub image_store: ImageStoreInfo,
    pub container_store: ContainerStoreInfo,
    /// As `image_store.number` (burrow's older name).
    pub image_count: usize,
    pub ignore_chown_errors: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageStoreInfo {
    pub number: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerStoreInfo {
    pub number: usize,
    pub paused: usize,
    pub running: usize,
    pub stopped: usize,
}

/// burrow's version, under Podman's names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionInfo {
    #[serde(rename = "APIVersion")]
    pub api_version: String,
    pub version: String,
    /// The compiler that built burrow ("rustc 1.89.0 (...)").
    pub rust_version: String,
    /// As `rust_version`, under the name Podman's templates read.
    pub go_version: String,
    /// The source's commit ("" when built outside git).
    pub git_commit: String,
    /// When it was built: Unix seconds, and as Podman prints it.
    pub built: i64,
    pub built_time: String,
    pub os_arch: String,
    pub os: String,
}

impl VersionInfo {
    pub fn current() -> VersionInfo {
        let host = crate::registry::platform::Platform::host();
        let built: i64 = env!("BURROW_BUILT").parse().unwrap_or(0);
        let built_time = chrono::DateTime::from_timestamp(built, 0)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%a %b %e %H:%M:%S %Y")
                    .to_string()
            })
            .unwrap_or_default();
        VersionInfo {
            api_version: env!("CARGO_PKG_VERSION").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            rust_version: env!("BURROW_RUST_VERSION").to_string(),
            go_version: env!("BURROW_RUST_VERSION").to_string(),
            git_commit: env!("BURROW_GIT_COMMIT").to_string(),
            built,
            built_time,
            os_arch: format!("{}/{}", host.os, host.architecture),
            os: host.os,
        }
    }
}

/// One line of `system df`: images, containers or local volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUsage {
    /// "Images", "Containers", "Local Volumes".
    pub kind: &'static str,
    pub total: usize,
    /// Images some container uses; running containers; volumes in use.
    pub active: usize,
    pub size: u64,
    /// What removing the inactive ones would free.
    pub reclaimable: u64,
}

/// An image's share of the disk (`system df -v`).
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub image: ImageRecord,
    /// Bytes of layers other images use too.
    pub shared: u64,
    /// Containers made from it.
    pub containers: usize,
}

/// A container's share of the disk (`system df -v`).
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    pub record: ContainerRecord,
    /// What it wrote (None when its directory is gone).
    pub size: Option<u64>,
}

/// `system df`: the summary, and each image and container.
#[derive(Debug, Clone)]
pub struct DiskUsageReport {
    pub summary: Vec<DiskUsage>,
    pub images: Vec<ImageUsage>,
    pub containers: Vec<ContainerUsage>,
}

impl Engine {
    /// The host, the store and the version, as `podman info` reports
    /// them. Forks (the overlay probe): call it before starting threads.
    pub fn info(&self) -> Result<Info, EngineError> {
        let store = self.store()?;
        let images = store.images()?;
        let containers = self.containers()?.list()?;
        let overlay = probe_overlay(&self.paths);
        let requested = self
            .storage_driver
            .as_deref()
            .map(Driver::parse)
            .transpose()
            .map_err(super::RequestError::from)?;
        let (driver, why) = rootfs::choose(requested, false, || overlay.clone())
            .map_err(super::RequestError::from)?;
        let count =
            |f: fn(Status) -> bool| containers.iter().filter(|c| f(c.current_status())).count();
        Ok(Info {
            host: host_info_with_overlay(overlay),
            store: StoreInfo {
                graph_root: self.paths.root.clone(),
                run_root: self.paths.runroot.clone(),
                config_file: self.paths.config_file(),
                graph_driver_name: driver.name().to_string(),
                graph_driver_warning: why,
                graph_options: BTreeMap::new(),
                image_store: ImageStoreInfo {
                    number: images.len(),
                },
                container_store: ContainerStoreInfo {
                    number: containers.len(),
                    paused: count(|s| s == Status::Paused),
                    running: count(|s| matches!(s, Status::Running | Status::Restarting)),
                    stopped: count(|s| matches!(s, Status::Created | Status::Exited)),
                },
                image_count: images.len(),
                ignore_chown_errors: self.config.storage.ignore_chown_errors,
            },
            version: VersionInfo::current(),
        })
    }

    /// How much of the disk images, containers and volumes take, and what
    /// removing the unused ones would free (`system df`).
    pub fn disk_usage(&self) -> Result<DiskUsageReport, EngineError> {
        let images = self.store()?.images()?;
        let store = self.containers()?;
        let records = store.list()?;
        let ids: Vec<String> = records.iter().map(|c| c.id.clone()).collect();
        let sizes = self.container_sizes(&store, &ids)?;
        let containers: Vec<ContainerUsage> = records
            .into_iter()
            .zip(sizes)
            .map(|(record, size)| ContainerUsage { record, size })
            .collect();
        let (mut summary, images) = usage_of(images, &containers);
        let volumes = self.volume_usage()?;
        if let Some(line) = summary.iter_mut().find(|l| l.kind == "Local Volumes") {
            let unused = |v: &&super::VolumeUsage| v.users.is_empty();
            line.total = volumes.len();
            line.active = volumes.iter().filter(|v| !v.users.is_empty()).count();
            line.size = volumes.iter().map(|v| v.size).sum();
            line.reclaimable = volumes.iter().filter(unused).map(|v| v.size).sum();
        }
        Ok(DiskUsageReport {
            summary,
            images,
            containers,
        })
    }
}

/// The summary lines and each image's usage, from the store's images and
/// containers.
fn usage_of(
    images: Vec<ImageRecord>,
    containers: &[ContainerUsage],
) -> (Vec<DiskUsage>, Vec<ImageUsage>) {
    // How many images use each layer, and its size.
    let mut layer_users: HashMap<&str, (usize, u64)> = HashMap::new();
    for img in &images {
        let mut seen: HashSet<&str> = HashSet::new();
        for l in &img.layers {
            if seen.insert(l.chain_id.hex()) {
                layer_users
                    .entry(l.chain_id.hex())
                    .or_insert((0, l.unpacked_size))
                    .0 += 1;
            }
        }
    }
    let users = |img: &ImageRecord| {
        containers
            .iter()
            .filter(|c| c.record.image_id == img.id)
            .count()
    };
    let mut in_use: HashSet<&str> = HashSet::new();
    let mut active = 0;
    for img in &images {
        if users(img) > 0 {
            active += 1;
            in_use.extend(img.layers.iter().map(|l| l.chain_id.hex()));
        }
    }
    let image_size: u64 = layer_users.values().map(|(_, size)| size).sum();
    let image_reclaimable: u64 = layer_users
        .iter()
        .filter(|(chain, _)| !in_use.contains(*chain))
        .map(|(_, (_, size))| size)
        .sum();
    let usage: Vec<ImageUsage> = images
        .iter()
        .map(|img| ImageUsage {
            shared: img
                .layers
                .iter()
                .filter(|l| layer_users.get(l.chain_id.hex()).is_some_and(|u| u.0 > 1))
                .map(|l| l.unpacked_size)
                .sum(),
            containers: users(img),
            image: img.clone(),
        })
        .collect();
    let written = |c: &&ContainerUsage| c.size.unwrap_or(0);
    let running = |c: &&ContainerUsage| c.record.current_status().is_live();
    let summary = vec![
        DiskUsage {
            kind: "Images",
            total: images.len(),
            active,
            size: image_size,
            reclaimable: image_reclaimable,
        },
        DiskUsage {
            kind: "Containers",
            total: containers.len(),
            active: containers.iter().filter(running).count(),
            size: containers.iter().map(|c| written(&c)).sum(),
            reclaimable: containers
                .iter()
                .filter(|c| !running(c))
                .map(|c| written(&c))
                .sum(),
        },
        // Filled in by disk_usage from the volumes' store.
        DiskUsage {
            kind: "Local Volumes",
            total: 0,
            active: 0,
            size: 0,
            reclaimable: 0,
        },
    ];
    (summary, usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::storage::ImageLayer;

    fn digest(n: u8) -> Digest {
        Digest::from_hex(&hex::encode([n; 32])).unwrap()
    }

    fn image(id: u8, layers: &[(u8, u64)]) -> ImageRecord {
        ImageRecord {
            id: digest(id),
            names: Vec::new(),
            digests: Vec::new(),
            manifest_digest: digest(id),
            manifest_media_type: String::new(),
            config_digest: digest(id),
            layers: layers
                .iter()
                .map(|&(l, size)| ImageLayer {
                    chain_id: digest(l),
                    diff_id: digest(l),
                    blob_digest: digest(l),
                    media_type: String::new(),
                    compressed_size: size,
                    unpacked_size: size,
                })
                .collect(),
            created: None,
            added: chrono::Utc::now(),
            size: layers.iter().map(|l| l.1).sum(),
            os: "linux".into(),
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn shared_layers_count_once_and_used_ones_are_not_reclaimable() {
        // Images 1 and 2 share layer 10; image 2 has layer 20 too.
        let images = vec![image(1, &[(10, 100)]), image(2, &[(10, 100), (20, 50)])];
        let (summary, usage) = usage_of(images, &[]);
        assert_eq!(
            summary[0],
            DiskUsage {
                kind: "Images",
                total: 2,
                active: 0,
                size: 150,
                reclaimable: 150
            }
        );
        assert_eq!(usage[0].shared, 100);
        assert_eq!(usage[1].shared, 100);
        assert_eq!(summary[1].total, 0);
        assert_eq!(summary[2].kind, "Local Volumes");
    }
}
