//! Unpacked layers: one directory per chain id, created once under the
//! layer's lock and published by a single rename.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BlobWriter, Store, StoreError, atomic};
use crate::digest::Digest;

/// What the caller knows about a layer before unpacking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    pub chain_id: Digest,
    pub parent: Option<Digest>,
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub media_type: String,
    pub compressed_size: u64,
}

/// `layers/<hex>/layer.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub parent: Option<Digest>,
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub media_type: String,
    pub compressed_size: u64,
    pub unpacked_size: u64,
    pub created: DateTime<Utc>,
}

/// The in-progress directory handed to `ensure_layer`'s fill function.
pub struct LayerTemp<'a> {
    store: &'a Store,
    dir: PathBuf,
    diff: PathBuf,
}

impl LayerTemp<'_> {
    /// Where the layer's files go (the future overlay lower dir).
    pub fn diff_dir(&self) -> &Path {
        &self.diff
    }

    /// The temp directory holding `diff/`.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// For keeping the compressed blob while it streams through the unpacker.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        self.store.blob_writer()
    }
}

/// Failure of `ensure_layer`: either the store itself or the caller's fill.
#[derive(Debug)]
pub enum EnsureError<E> {
    Store(StoreError),
    Fill(E),
}

impl<E: fmt::Display> fmt::Display for EnsureError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnsureError::Store(e) => e.fmt(f),
            EnsureError::Fill(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for EnsureError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EnsureError::Store(e) => Some(e),
            EnsureError::Fill(e) => Some(e),
        }
    }
}

impl<E> From<StoreError> for EnsureError<E> {
    fn from(e: StoreError) -> Self {
        EnsureError::Store(e)
    }
}

impl Store {
    fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layers_dir().join(chain_id.hex())
    }

    pub fn layer_diff_path(&self, chain_id: &Digest) -> PathBuf {
        self.layer_dir(chain_id).join("diff")
    }

    /// The layer's record, `None` if it is not in the store.
    pub fn layer(&self, chain_id: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        let path = self.layer_dir(chain_id).join("layer.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Json { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("read", &path, e)),
        }
    }

    /// Make sure the layer exists, calling `fill` to unpack it if not.
    ///
    /// Holds the layer's lock throughout: a concurrent pull of the same layer
    /// waits and then finds it done. Nothing becomes visible under `layers/`
    /// until `fill` succeeded and the record is written; the whole directory
    /// then appears by one rename.
    pub fn ensure_layer<E, F>(
        &self,
        info: &LayerInfo,
        fill: F,
    ) -> Result<(LayerRecord, bool), EnsureError<E>>
    where
        F: FnOnce(&LayerTemp) -> Result<u64, E>,
    {
        let _lock = self.lock_exclusive(&format!("layer-{}.lock", info.chain_id.hex()))?;
        let final_dir = self.layer_dir(&info.chain_id);
        match self.layer(&info.chain_id) {
            Ok(Some(rec)) => return Ok((rec, false)),
            Ok(None) | Err(StoreError::Json { .. }) => {
                // Only a damaged store has a layer dir without a valid record
                // (it was hand-edited, or the disk lost data): rebuild it.
                if fs::symlink_metadata(&final_dir).is_ok() {
                    log::warn!(
                        "layer {} has no valid layer.json; unpacking it again",
                        info.chain_id
                    );
                    self.discard(&final_dir)?;
                }
            }
            Err(e) => return Err(e.into()),
        }

        let (tmp, tmp_lock) = self.new_temp(&format!("layer-{}-", info.chain_id.short()))?;
        let diff = tmp.join("diff");
        let made = fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .and_then(|()| fs::DirBuilder::new().mode(0o755).create(&diff));
        if let Err(e) = made {
            let _ = atomic::remove_tree(&tmp);
            return Err(StoreError::io("create", &tmp, e).into());
        }
        let temp = LayerTemp {
            store: self,
            dir: tmp.clone(),
            diff,
        };
        let result = fill(&temp)
            .map_err(EnsureError::Fill)
            .and_then(|unpacked_size| {
                let rec = LayerRecord {
                    chain_id: info.chain_id.clone(),
                    parent: info.parent.clone(),
                    diff_id: info.diff_id.clone(),
                    blob_digest: info.blob_digest.clone(),
                    media_type: info.media_type.clone(),
                    compressed_size: info.compressed_size,
                    unpacked_size,
                    created: Utc::now(),
                };
                self.publish_layer(&tmp, &final_dir, &rec)?;
                Ok(rec)
            });
        match result {
            Ok(rec) => {
                drop(tmp_lock);
                Ok((rec, true))
            }
            Err(e) => {
                if let Err(rm) = atomic::remove_tree(&tmp) {
                    log::warn!(
                        "cannot remove {}: {rm}; `burrow system prune` will retry",
                        tmp.display()
                    );
                }
                drop(tmp_lock);
                Err(e)
            }
        }
    }

    fn publish_layer(
        &self,
        tmp: &Path,
        final_dir: &Path,
        rec: &LayerRecord,
    ) -> Result<(), StoreError> {
        let json_path = tmp.join("layer.json");
        let body = serde_json::to_vec_pretty(rec).map_err(|source| StoreError::Json {
            path: json_path.clone(),
            source,
        })?;
        atomic::write_file(&json_path, &body, 0o600)?;
        // The unpacked files are not fsynced one by one: that would dominate
        // unpack time, and the directory only becomes visible through this
        // rename, so a crash leaves at worst a dead tmp entry (cleaned by gc)
        // or, after a power loss, a layer that `system check` flags.
        fs::rename(tmp, final_dir).map_err(|e| StoreError::io("publish layer", final_dir, e))?;
        atomic::fsync_dir(&self.layers_dir())
    }

    /// Make a store entry disappear at once (rename into `tmp/`), then delete it.
    pub(crate) fn discard(&self, path: &Path) -> Result<(), StoreError> {
        let (dead, lock) = self.new_temp("gc-")?;
        match fs::rename(path, &dead) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("remove", path, e)),
        }
        let r = atomic::remove_tree(&dead).map_err(|e| StoreError::io("remove", &dead, e));
        drop(lock);
        r
    }
}
