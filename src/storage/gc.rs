//! Garbage collection, temp cleanup and integrity checks.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{LayerRecord, Store, StoreError, atomic, image_blob_roots, try_lock_file};
use crate::digest::Digest;

/// Held (shared) by an operation that adds to the store, e.g. a pull, for its
/// whole duration: gc does not run while any guard is alive, so it cannot
/// delete a layer or blob that is stored but not yet referenced by an image.
#[derive(Debug)]
pub struct GcGuard {
    _file: File,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcStats {
    /// True if another process held the store busy and nothing was done.
    pub deferred: bool,
    pub layers_removed: u64,
    pub blobs_removed: u64,
    pub tmp_removed: u64,
    /// Blob bytes plus recorded unpacked layer sizes.
    pub bytes_freed: u64,
}

/// One integrity problem, in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

fn problem(what: String) -> Problem {
    Problem { what }
}

impl Store {
    /// Taken by every command that adds to the store (pull, load, import,
    /// build, commit, create): besides holding off gc, it first removes
    /// what killed commands left in `tmp/` (never waiting on a live one).
    pub fn gc_shared(&self) -> Result<GcGuard, StoreError> {
        let (f, path) = self.lock_file("gc.lock")?;
        f.lock_shared()
            .map_err(|e| StoreError::io("lock", &path, e))?;
        match self.clean_tmp() {
            Ok(0) => {}
            Ok(n) => log::debug!("removed {n} temp entries left by killed commands"),
            Err(e) => log::debug!("cannot clean {}: {e}", self.tmp_dir().display()),
        }
        Ok(GcGuard { _file: f })
    }

    /// Remove everything no image (nor `extra_roots`: layers or blobs used by
    /// containers) refers to. Never waits: if an operation holds a
    /// [`GcGuard`], returns at once with `deferred` set.
    pub fn gc(&self, extra_roots: &[Digest]) -> Result<GcStats, StoreError> {
        let (gc_lock, gc_path) = self.lock_file("gc.lock")?;
        if try_lock_file(&gc_lock, &gc_path)?.is_none() {
            // A running (or stalled) pull keeps its own temp entries
            // locked; the dead ones can go all the same.
            return Ok(GcStats {
                deferred: true,
                tmp_removed: self.clean_tmp()?,
                ..GcStats::default()
            });
        }
        let mut stats = GcStats::default();
        let mut doomed: Vec<(PathBuf, super::TempLock)> = Vec::new();
        {
            // The index lock keeps tag/put_image out while we decide what is
            // garbage, so nothing becomes referenced behind our back.
            let _index = self.lock_exclusive("index.lock")?;
            let images = self.read_index()?;

            let mut keep_layers: BTreeSet<Digest> = BTreeSet::new();
            let mut keep_blobs: BTreeSet<Digest> = extra_roots.iter().cloned().collect();
            let mut pending: Vec<Digest> = extra_roots.to_vec();
            for img in &images {
                image_blob_roots(img, &mut keep_blobs);
                pending.extend(img.layers.iter().map(|l| l.chain_id.clone()));
            }
            // A container's top layer keeps its parents alive too.
            while let Some(id) = pending.pop() {
                if !keep_layers.insert(id.clone()) {
                    continue;
                }
                if let Ok(Some(rec)) = self.layer(&id) {
                    keep_blobs.insert(rec.blob_digest.clone());
                    if let Some(p) = rec.parent {
                        pending.push(p);
                    }
                }
            }

            for name in list_dir(&self.layers_dir())? {
                if Digest::from_hex(&name).is_ok_and(|d| keep_layers.contains(&d)) {
                    continue;
                }
                // Someone unpacking it right now (without a GcGuard) keeps it.
                let (lock, lock_path) = self.lock_file(&format!("layer-{name}.lock"))?;
                if try_lock_file(&lock, &lock_path)?.is_none() {
                    continue;
                }
                let dir = self.layers_dir().join(&name);
                let size = fs::read(dir.join("layer.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LayerRecord>(&b).ok())
                    .map_or(0, |r| r.unpacked_size);
                let (dead, tmp_lock) = self.new_temp("gc-")?;
                match fs::rename(&dir, &dead) {
                    Ok(()) => {
                        stats.layers_removed += 1;
                        stats.bytes_freed += size;
                        doomed.push((dead, tmp_lock));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", &dir, e)),
                }
                // Unlink before unlocking: a waiter then sees the name gone
                // and relocks a fresh file (see `lock_exclusive`).
                let _ = fs::remove_file(&lock_path);
                drop(lock);
            }

            for name in list_dir(&self.blobs_dir())? {
                if Digest::from_hex(&name).is_ok_and(|d| keep_blobs.contains(&d)) {
                    continue;
                }
                let path = self.blobs_dir().join(&name);
                let size = fs::symlink_metadata(&path).map_or(0, |m| m.len());
                match fs::remove_file(&path) {
                    Ok(()) => {
                        stats.blobs_removed += 1;
                        stats.bytes_freed += size;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("remove", &path, e)),
                }
            }

            // Leftovers of an index write that died before its rename; any
            // live writer would hold the index lock we hold.
            for name in list_dir(&self.root)? {
                if name.starts_with(".images.json.tmp-") {
                    let _ = fs::remove_file(self.root.join(name));
                }
            }
        }
        for (dead, lock) in doomed {
            atomic::remove_tree(&dead).map_err(|e| StoreError::io("remove", &dead, e))?;
            drop(lock);
        }
        stats.tmp_removed = self.clean_tmp()?;
        Ok(stats)
    }

    /// Remove `tmp/` entries whose owner is gone (its lock is free). Returns
    /// how many were removed. Never waits: an entry whose owner is alive,
    /// even stopped, is skipped. An entry that cannot be removed (files of
    /// subordinate ids, outside the user namespace) stays for a later
    /// cleaner.
    pub fn clean_tmp(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        let live: BTreeSet<String> = list_dir(&self.tmp_dir())?.into_iter().collect();
        for name in &live {
            let lock_path = self.locks_dir().join(format!("tmp-{name}.lock"));
            let lock = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&lock_path)
                .map_err(|e| StoreError::io("open lock", &lock_path, e))?;
            if try_lock_file(&lock, &lock_path)?.is_none() {
                continue;
            }
            let path = self.tmp_dir().join(name);
            match atomic::remove_tree(&path) {
                Ok(()) => removed += 1,
                Err(e) => log::debug!("cannot remove {}: {e}", path.display()),
            }
            let _ = fs::remove_file(&lock_path);
        }
        // Lock files whose entry never appeared or is gone.
        for name in list_dir(&self.locks_dir())? {
            let Some(entry) = name
                .strip_prefix("tmp-")
                .and_then(|n| n.strip_suffix(".lock"))
            else {
                continue;
            };
            if live.contains(entry) || self.tmp_dir().join(entry).exists() {
                continue;
            }
            let lock_path = self.locks_dir().join(&name);
            let Ok(lock) = OpenOptions::new().read(true).write(true).open(&lock_path) else {
                continue;
            };
            if try_lock_file(&lock, &lock_path)?.is_some() {
                let _ = fs::remove_file(&lock_path);
            }
        }
        Ok(removed)
    }

    /// What killed commands left in `tmp/`: entries whose owner is gone,
    /// and the disk space they take. Removes nothing.
    pub fn dead_temp(&self) -> Result<TempLeftovers, StoreError> {
        let mut out = TempLeftovers::default();
        for name in list_dir(&self.tmp_dir())? {
            let lock_path = self.locks_dir().join(format!("tmp-{name}.lock"));
            match OpenOptions::new().read(true).write(true).open(&lock_path) {
                Ok(lock) => {
                    if try_lock_file(&lock, &lock_path)?.is_none() {
                        continue;
                    }
                }
                // The owner unlinks its lock only after its entry is gone.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("open lock", &lock_path, e)),
            }
            out.entries += 1;
            out.bytes += disk_usage(&self.tmp_dir().join(&name));
        }
        Ok(out)
    }

    /// Check the store: blob contents against their names, image references,
    /// layer records. One [`Problem`] per finding (see
    /// [`Store::find_damage`]).
    pub fn verify(&self) -> Result<Vec<Problem>, StoreError> {
        Ok(self
            .find_damage()?
            .iter()
            .map(|d| problem(d.to_string()))
            .collect())
    }
}

/// Temp entries of commands that are gone ([`Store::dead_temp`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TempLeftovers {
    pub entries: u64,
    /// Disk space (allocated blocks) they take.
    pub bytes: u64,
}

/// Allocated bytes of a file or tree, as `du` counts them; what cannot be
/// read counts as nothing.
fn disk_usage(path: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = md.blocks() * 512;
    if md.is_dir()
        && let Ok(rd) = fs::read_dir(path)
    {
        for entry in rd.flatten() {
            total += disk_usage(&entry.path());
        }
    }
    total
}

pub(super) fn list_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        match entry.file_name().into_string() {
            Ok(n) => out.push(n),
            Err(n) => log::debug!("ignoring non-UTF-8 name {n:?} in {}", dir.display()),
        }
    }
    Ok(out)
}
