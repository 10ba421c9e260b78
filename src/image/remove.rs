//! `rmi`: untag or delete images with Docker's rules, then collect the
//! layers and blobs nothing references any more.

use crate::digest::Digest;
use crate::image::lookup::{LookupError, Match, find_image_match};
use crate::runtime::{ContainerError, ContainerStore};
use crate::storage::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(
        "unable to delete {query} (must force): image {id} is referenced in multiple repositories ({names}); remove the names one by one or use --force"
    )]
    MultipleNames {
        query: String,
        id: String,
        names: String,
    },
    #[error(
        "image {id} is in use by container {containers}: remove it with --force, which also removes its stopped containers"
    )]
    InUse { id: String, containers: String },
    #[error(
        "image {id} is in use by running container {container}: wait for it to exit (if its burrow run was killed, remove {dir} with `burrow unshare rm -rf`)"
    )]
    InUseRunning {
        id: String,
        container: String,
        dir: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Container(#[from] ContainerError),
}

impl RemoveError {
    /// Podman exits 1 when an image is unknown, 125 otherwise.
    /// A container still uses the image.
    pub fn is_in_use(&self) -> bool {
        matches!(
            self,
            RemoveError::InUse { .. } | RemoveError::InUseRunning { .. }
        )
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoveError::Lookup(LookupError::NotFound(_)))
    }
}

/// What `remove` did, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Removal {
    Untagged(String),
    Deleted(Digest),
    /// A stopped container that used the image, removed with it (`--force`).
    RemovedContainer(String),
}

/// Remove what `query` names. A name of an image that has other names only
/// loses that name; otherwise the image record goes (with `force`, even if
/// it has several names). Layers are collected separately by [`Store::gc`].
///
/// `all_names` removes an image with several names without `force` (for
/// `rmi --all`); `force` also removes the stopped containers using it.
pub fn remove(
    store: &Store,
    query: &str,
    force: bool,
    all_names: bool,
) -> Result<Vec<Removal>, RemoveError> {
    let (image, matched) = find_image_match(store, query)?;
    if let Match::Name(name) = &matched
        && image.names.len() > 1
    {
        store.set_names(&image.id, &[], std::slice::from_ref(name))?;
        return Ok(vec![Removal::Untagged(name.clone())]);
    }
    if image.names.len() > 1 && !force && !all_names {
        return Err(RemoveError::MultipleNames {
            query: query.to_string(),
            id: image.id.short().to_string(),
            names: image.names.join(", "),
        });
    }
    // An image a container is made of stays, unless forced; then its
    // stopped containers go with it, as with Podman's `rmi --force`.
    let containers = ContainerStore::open(store.root())?;
    let users: Vec<_> = containers
        .list()?
        .into_iter()
        .filter(|c| c.image_id == image.id)
        .collect();
    let mut out = Vec::new();
    if !users.is_empty() {
        if !force {
            return Err(RemoveError::InUse {
                id: image.id.short().to_string(),
                containers: users
                    .iter()
                    .map(|c| format!("{} ({})", &c.id[..12], c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if let Some(c) = users.iter().find(|c| c.current_status().is_live()) {
            return Err(RemoveError::InUseRunning {
                id: image.id.short().to_string(),
                container: format!("{} ({})", &c.id[..12], c.name),
                dir: containers.dir_of(&c.id).display().to_string(),
            });
        }
        for c in users {
            containers.remove(&c.id)?;
            out.push(Removal::RemovedContainer(c.id));
        }
    }
    let removed = store.remove_image(&image.id)?;
    out.extend(removed.names.into_iter().map(Removal::Untagged));
    out.push(Removal::Deleted(removed.id));
    Ok(out)
}
