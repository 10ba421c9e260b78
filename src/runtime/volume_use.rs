//! Which containers use which volumes (their specs say), and the removal
//! of a container with its anonymous volumes (`rm -v`, `run --rm`).

use super::container::{ContainerError, ContainerRecord, ContainerStore};
use super::mounts::{MountKind, VolumeMount};
use super::spec::ContainerSpec;
use crate::storage::volumes::{VolumeError, VolumeLock, VolumeStore};

/// The volumes container `spec` mounts.
pub fn volumes_of(spec: &ContainerSpec) -> impl Iterator<Item = &VolumeMount> {
    spec.mounts.iter().filter_map(|m| match &m.kind {
        MountKind::Volume(v) => Some(v),
        _ => None,
    })
}

/// Every container with the names of the volumes it mounts (a container
/// without a spec, half made, mounts none).
pub fn volume_users(
    containers: &ContainerStore,
) -> Result<Vec<(ContainerRecord, Vec<String>)>, ContainerError> {
    let mut out = Vec::new();
    for c in containers.list()? {
        let names = match containers.load_spec(&c.id) {
            Ok(spec) => volumes_of(&spec).map(|v| v.name().to_string()).collect(),
            // Half made, removed meanwhile, or unreadable: it mounts
            // nothing that could be found.
            Err(
                ContainerError::NoSpec(_)
                | ContainerError::Gone(_)
                | ContainerError::Corrupt { .. },
            ) => Vec::new(),
            Err(e) => return Err(e),
        };
        out.push((c, names));
    }
    Ok(out)
}

/// The names of the containers that use volume `name`.
pub fn users_of(containers: &ContainerStore, name: &str) -> Result<Vec<String>, ContainerError> {
    Ok(volume_users(containers)?
        .into_iter()
        .filter(|(_, vols)| vols.iter().any(|v| v == name))
        .map(|(c, _)| c.name)
        .collect())
}

/// Why a container's anonymous volumes could not all go.
#[derive(Debug, thiserror::Error)]
pub enum VolumeUseError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Volume(#[from] VolumeError),
}

/// Remove container `id` and then each of its anonymous volumes that no
/// other container uses (`--volumes-from` shares them). Runs in the user
/// namespace: both hold files of the container's ids. The volumes' lock
/// is held across, so no container starts using one meanwhile.
pub fn remove_with_anonymous_volumes(
    containers: &ContainerStore,
    id: &str,
) -> Result<Vec<String>, VolumeUseError> {
    let anonymous: Vec<String> = match containers.load_spec(id) {
        Ok(spec) => volumes_of(&spec)
            .filter(|v| v.anonymous)
            .map(|v| v.name().to_string())
            .collect(),
        Err(_) => Vec::new(),
    };
    if anonymous.is_empty() {
        containers.remove(id)?;
        return Ok(Vec::new());
    }
    let volumes = VolumeStore::open(containers.store_root())?;
    let lock = volumes.lock()?;
    containers.remove(id)?;
    remove_unused(containers, &volumes, &lock, &anonymous)
}

/// Remove those of `names` that no container uses; the names removed.
/// The caller holds the volumes' lock.
pub fn remove_unused(
    containers: &ContainerStore,
    volumes: &VolumeStore,
    lock: &VolumeLock,
    names: &[String],
) -> Result<Vec<String>, VolumeUseError> {
    let users = volume_users(containers)?;
    let mut removed = Vec::new();
    for name in names {
        if users.iter().any(|(_, vols)| vols.contains(name)) {
            continue;
        }
        match volumes.remove_locked(lock, name) {
            Ok(()) => removed.push(name.clone()),
            Err(VolumeError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}
