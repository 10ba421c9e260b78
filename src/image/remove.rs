//! `rmi`: untag or delete images with Docker's rules, then collect the
//! layers and blobs nothing references any more.

use crate::digest::Digest;
use crate::image::lookup::{LookupError, Match, find_image_match};
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RemoveError {
    /// Podman exits 1 when an image is unknown, 125 otherwise.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoveError::Lookup(LookupError::NotFound(_)))
    }
}

/// What `remove` did, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Untagged(String),
    Deleted(Digest),
}

/// Remove what `query` names. A name of an image that has other names only
/// loses that name; otherwise the image record goes (with `force`, even if
/// it has several names). Layers are collected separately by [`Store::gc`].
pub fn remove(store: &Store, query: &str, force: bool) -> Result<Vec<Removal>, RemoveError> {
    let (image, matched) = find_image_match(store, query)?;
    if let Match::Name(name) = &matched
        && image.names.len() > 1
    {
        store.set_names(&image.id, &[], std::slice::from_ref(name))?;
        return Ok(vec![Removal::Untagged(name.clone())]);
    }
    if image.names.len() > 1 && !force {
        return Err(RemoveError::MultipleNames {
            query: query.to_string(),
            id: image.id.short().to_string(),
            names: image.names.join(", "),
        });
    }
    let removed = store.remove_image(&image.id)?;
    let mut out: Vec<Removal> = removed.names.into_iter().map(Removal::Untagged).collect();
    out.push(Removal::Deleted(removed.id));
    Ok(out)
}
