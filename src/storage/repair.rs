//! Damage in the store, found and removed (`system check [--repair]`): a
//! blob whose content does not match its digest, a layer directory left
//! half-unpacked (no valid record, no `diff/`), an image that lacks a
//! layer or a blob. Removing is done under the same locks as gc, so a
//! running pull is never undercut.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use super::gc::list_dir;
use super::{Store, StoreError, atomic, hash_file, try_lock_file};
use crate::digest::Digest;

/// One finding of [`Store::find_damage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Damage {
    /// A file in `blobs/` whose name is no digest, whose content hashes
    /// to another digest, or that cannot be read.
    Blob {
        name: String,
        path: PathBuf,
        why: String,
    },
    /// A directory in `layers/` without a valid record or without its
    /// files: an unpack that did not finish, or a damaged one.
    Layer {
        name: String,
        path: PathBuf,
        why: String,
    },
    /// An image whose manifest or config blob is missing, or one of
    /// whose layers is missing or damaged.
    Image {
        id: Digest,
        /// Its first name, else its short id.
        label: String,
        why: String,
    },
    /// The image index cannot be read.
    Index(String),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Blob { why, .. } | Damage::Layer { why, .. } => f.write_str(why),
            Damage::Image { label, why, .. } => write!(f, "image {label}: {why}"),
            Damage::Index(why) => f.write_str(why),
        }
    }
}

/// What [`Store::repair`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// One line per thing removed.
    pub removed: Vec<String>,
    /// The names (else ids) of the images removed: to pull again.
    pub images: Vec<String>,
}

impl Store {
    /// Every piece of damage in the store. Reads every blob.
    pub fn find_damage(&self) -> Result<Vec<Damage>, StoreError> {
        let mut found = Vec::new();
        for name in list_dir(&self.blobs_dir())? {
            let path = self.blobs_dir().join(&name);
            let why = match Digest::from_hex(&name) {
                Err(_) => Some(format!(
                    "blob {}: name is not a sha256 digest",
                    path.display()
                )),
                Ok(expected) => match hash_file(&path) {
                    Ok(actual) if actual == expected => None,
                    Ok(actual) => Some(format!(
                        "blob {expected} is corrupt: its content hashes to {actual} ({})",
                        path.display()
                    )),
                    Err(e) => Some(format!(
                        "blob {expected}: cannot read {}: {e}",
                        path.display()
                    )),
                },
            };
            if let Some(why) = why {
                found.push(Damage::Blob { name, path, why });
            }
        }

        let mut layer_ok: BTreeSet<Digest> = BTreeSet::new();
        for name in list_dir(&self.layers_dir())? {
            let dir = self.layers_dir().join(&name);
            let why = match Digest::from_hex(&name) {
                Err(_) => Some(format!(
                    "layer directory {}: name is not a chain id",
                    dir.display()
                )),
                Ok(id) => match self.layer(&id) {
                    Ok(Some(rec)) if rec.chain_id != id => Some(format!(
                        "layer {id}: layer.json records chain id {}",
                        rec.chain_id
                    )),
                    // A missing parent is not damage: layers unpack in
                    // parallel and each is published on its own, so a
                    // killed pull can leave a child without its parent.
                    // Images that lack a layer are flagged below.
                    Ok(Some(_)) if dir.join("diff").is_dir() => {
                        layer_ok.insert(id);
                        None
                    }
                    Ok(Some(_)) => Some(format!(
                        "layer {id}: {} is missing",
                        dir.join("diff").display()
                    )),
                    Ok(None) => Some(format!("layer {id}: layer.json is missing")),
                    Err(e) => Some(format!("layer {id}: {e}")),
                },
            };
            if let Some(why) = why {
                found.push(Damage::Layer {
                    name,
                    path: dir,
                    why,
                });
            }
        }

        let bad_blobs: BTreeSet<&str> = found
            .iter()
            .filter_map(|d| match d {
                Damage::Blob { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        match self.read_index() {
            Err(e) => found.push(Damage::Index(e.to_string())),
            Ok(images) => {
                let mut image_damage = Vec::new();
                for img in images {
                    let label = img
                        .names
                        .first()
                        .cloned()
                        .unwrap_or_else(|| img.id.short().to_string());
                    let mut add = |why: String| {
                        image_damage.push(Damage::Image {
                            id: img.id.clone(),
                            label: label.clone(),
                            why,
                        })
                    };
                    for (what, d) in [
                        ("manifest", &img.manifest_digest),
                        ("config", &img.config_digest),
                    ] {
                        if !self.has_blob(d) {
                            add(format!("{what} blob {d} is missing"));
                        } else if bad_blobs.contains(d.hex()) {
                            add(format!("{what} blob {d} is corrupt"));
                        }
                    }
                    for l in &img.layers {
                        if !layer_ok.contains(&l.chain_id) {
                            add(format!("layer {} is missing or damaged", l.chain_id));
                        } else if bad_blobs.contains(l.blob_digest.hex()) {
                            add(format!("layer blob {} is corrupt", l.blob_digest));
                        }
                    }
                }
                found.extend(image_damage);
            }
        }
        Ok(found)
    }

    /// Remove what `damage` names: blobs, layer directories, then the
    /// image records that relied on them (their other layers stay for
    /// the next gc). Refused while a pull, build or other store write runs
    /// (it holds the gc lock shared).
    pub fn repair(&self, damage: &[Damage]) -> Result<Repaired, StoreError> {
        let (gc_lock, gc_path) = self.lock_file("gc.lock")?;
        if try_lock_file(&gc_lock, &gc_path)?.is_none() {
            return Err(StoreError::io(
                "repair",
                &self.root,
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "another burrow command is writing to the store; run the repair again once it is done",
                ),
            ));
        }
        let mut out = Repaired::default();
        for d in damage {
            match d {
                Damage::Blob { path, why, .. } => match fs::remove_file(path) {
                    Ok(()) => out.removed.push(format!("blob: {why}")),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", path, e)),
                },
                Damage::Layer { name, path, why } => {
                    let (lock, lock_path) = self.lock_file(&format!("layer-{name}.lock"))?;
                    if try_lock_file(&lock, &lock_path)?.is_none() {
                        continue; // being unpacked again right now
                    }
                    let (dead, tmp_lock) = self.new_temp("repair-")?;
                    match fs::rename(path, &dead) {
                        Ok(()) => {
                            atomic::remove_tree(&dead)
                                .map_err(|e| StoreError::io("remove", &dead, e))?;
                            out.removed.push(format!("layer: {why}"));
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io("remove", path, e)),
                    }
                    drop(tmp_lock);
                    let _ = fs::remove_file(&lock_path);
                }
                Damage::Image { .. } | Damage::Index(_) => {}
            }
        }
        let mut done: BTreeSet<&Digest> = BTreeSet::new();
        for d in damage {
            let Damage::Image { id, label, why } = d else {
                continue;
            };
            if !done.insert(id) {
                continue;
            }
            match self.remove_image(id) {
                Ok(_) => {
                    out.removed.push(format!("image {label} ({why})"));
                    out.images.push(label.clone());
                }
                Err(StoreError::ImageNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
