//! The content-addressed image store.
//!
//! Layout under the data root:
//!
//! * `blobs/sha256/<hex>`: compressed layer blobs, manifests and configs,
//!   kept byte for byte so that push and save reproduce the same digests;
//! * `layers/<chain-id-hex>/{diff/,layer.json}`: one unpacked layer per chain
//!   id, shared by every image that uses it;
//! * `images.json`: every image record, replaced as a whole by rename, so a
//!   tag moving between images is a single atomic step;
//! * `locks/`: the index lock, the gc lock, one lock per layer, and one lock
//!   per temp entry;
//! * `tmp/`: work in progress. Each entry's lock is held by its owner for as
//!   long as it exists, so a cleaner can tell a dead pull's leftovers from a
//!   live one's;
//! * `storage.json`: the layout version.

pub mod atomic;
pub mod compression;
mod gc;
mod layers;
pub mod limits;
mod repair;
pub mod unpack;
pub mod volumes;

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, Hasher};

pub use gc::{GcGuard, GcStats, Problem, TempLeftovers};
pub use layers::{EnsureError, LayerInfo, LayerRecord, LayerTemp};
pub use limits::{LimitError, LimitedReader, MinFree, UnpackLimits};
pub use repair::{Damage, Repaired};

/// The layout version this code reads and writes.
pub const STORAGE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{path} is not valid JSON ({source}): restore it from a backup or remove it")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{path} has storage version {found}, newer than the {supported} this burrow understands: upgrade burrow"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("content of {what} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("blob {digest} is not in the store ({path})")]
    BlobNotFound { digest: Digest, path: PathBuf },
    #[error(
        "image {image} needs layer {chain_id}, which is not in the store: pull the image again"
    )]
    MissingLayer { image: Digest, chain_id: Digest },
    #[error("no image with id {0} in the store")]
    ImageNotFound(Digest),
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One layer as an image refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLayer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub media_type: String,
    pub compressed_size: u64,
    pub unpacked_size: u64,
}

/// One image in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest.
    pub id: Digest,
    /// Tags, normalized by the caller (`docker.io/library/alpine:latest`).
    pub names: Vec<String>,
    /// Repo digests (`docker.io/library/alpine@sha256:…`).
    pub digests: Vec<String>,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub config_digest: Digest,
    pub layers: Vec<ImageLayer>,
    pub created: Option<DateTime<Utc>>,
    pub added: DateTime<Utc>,
    pub size: u64,
    pub os: String,
    pub architecture: String,
}

#[derive(Serialize, Deserialize, Default)]
struct IndexFile {
    images: Vec<ImageRecord>,
}

#[derive(Serialize, Deserialize)]
struct VersionFile {
    version: u64,
}

/// OCI chain ids: `chain(0) = diff(0)`, `chain(n) = sha256(chain(n-1) + " " + diff(n))`.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Handle on a store directory. Holds no open files, so it is cheap to
/// share between threads; all coordination goes through lock files.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    limits: UnpackLimits,
}

impl Store {
    /// Open the store at `root`, creating its layout (mode 0700) if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
            limits: UnpackLimits::default(),
        };
        for dir in [
            root.to_path_buf(),
            store.blobs_dir(),
            store.layers_dir(),
            store.locks_dir(),
            store.tmp_dir(),
        ] {
            mkdir_private_all(&dir)?;
        }
        let vpath = root.join("storage.json");
        match fs::read(&vpath) {
            Ok(bytes) => {
                let v: VersionFile =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                        path: vpath.clone(),
                        source,
                    })?;
                if v.version > u64::from(STORAGE_VERSION) {
                    return Err(StoreError::UnsupportedVersion {
                        path: vpath,
                        found: v.version,
                        supported: STORAGE_VERSION,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Two processes opening a fresh store both write the same
                // bytes; the rename makes either outcome whole.
                let body = serde_json::to_vec(&VersionFile {
                    version: STORAGE_VERSION.into(),
                })
                .map_err(|source| StoreError::Json {
                    path: vpath.clone(),
                    source,
                })?;
                atomic::write_file(&vpath, &body, 0o600)?;
            }
            Err(e) => return Err(StoreError::io("read", &vpath, e)),
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Use `limits` (from `[storage]` in config.toml) for the layers this
    /// handle unpacks; the defaults otherwise.
    pub fn with_limits(mut self, limits: UnpackLimits) -> Store {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &UnpackLimits {
        &self.limits
    }

    /// Wrap a layer's decompressed stream so it stops past the store's
    /// limits: `compressed` is the blob size the manifest gives. Fails at
    /// once if the store's filesystem is already below `min_free`.
    pub fn limit_unpack<R: Read>(
        &self,
        unpacked: R,
        compressed: u64,
    ) -> Result<LimitedReader<R>, LimitError> {
        LimitedReader::new(unpacked, self.limits, compressed, &self.root)
    }

    /// Fails if the store's filesystem has less free than `min_free`.
    pub fn check_free_space(&self) -> Result<(), LimitError> {
        limits::check_free_space(&self.root, self.limits.min_free)
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }
    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }
    fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    /// Open (creating) a lock file under `locks/`.
    fn lock_file(&self, name: &str) -> Result<(File, PathBuf), StoreError> {
        let path = self.locks_dir().join(name);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("open lock", &path, e))?;
        Ok((f, path))
    }

    /// Take an exclusive lock, waiting for it. gc unlinks lock files of
    /// layers it removes (while holding them), so after waiting we check the
    /// name still leads to the file we locked, and start over if not.
    fn lock_exclusive(&self, name: &str) -> Result<File, StoreError> {
        loop {
            let (f, path) = self.lock_file(name)?;
            f.lock().map_err(|e| StoreError::io("lock", &path, e))?;
            if same_file(&f, &path)? {
                return Ok(f);
            }
        }
    }

    /// Reserve a fresh entry name under `tmp/`. The returned lock is taken
    /// before the entry exists and released only after it is gone, so the
    /// cleaner never sees a live entry unlocked.
    pub(crate) fn new_temp(&self, prefix: &str) -> Result<(PathBuf, TempLock), StoreError> {
        loop {
            let name = format!("{prefix}{}", atomic::unique_suffix());
            let lock_path = self.locks_dir().join(format!("tmp-{name}.lock"));
            let f = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io("create lock", &lock_path, e)),
            };
            f.lock()
                .map_err(|e| StoreError::io("lock", &lock_path, e))?;
            // A cleaner may have unlinked the lock file between our create and
            // our lock (it saw a lock without an entry); then our lock guards
            // nothing, so start over with a new name.
            if same_file(&f, &lock_path)? {
                return Ok((
                    self.tmp_dir().join(name),
                    TempLock {
                        path: lock_path,
                        _file: f,
                    },
                ));
            }
        }
    }

    // ---------------------------------------------------------------- blobs

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(d);
        fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::BlobNotFound {
                    digest: d.clone(),
                    path: path.clone(),
                }
            } else {
                StoreError::io("read", &path, e)
            }
        })
    }

    /// Store `data` under `expected` after checking that it hashes to it.
    pub fn put_blob(&self, expected: &Digest, data: &[u8]) -> Result<(), StoreError> {
        let actual = Digest::of(data);
        if &actual != expected {
            return Err(StoreError::DigestMismatch {
                what: format!("blob {expected}"),
                expected: expected.clone(),
                actual,
            });
        }
        if self.has_blob(expected) {
            return Ok(());
        }
        let mut w = self.blob_writer()?;
        w.write_all(data)
            .map_err(|e| StoreError::io("write", &w.path, e))?;
        w.commit(expected).map(|_| ())
    }

    /// A writer for a blob whose digest is checked at `commit`.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        let (path, lock) = self.new_temp("blob-")?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| StoreError::io("create", &path, e))?;
        Ok(BlobWriter {
            file: Some(io::BufWriter::with_capacity(256 * 1024, file)),
            path,
            blobs_dir: self.blobs_dir(),
            hasher: Hasher::new(),
            lock: Some(lock),
        })
    }

    // --------------------------------------------------------------- images

    fn read_index(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<IndexFile>(&bytes)
                .map(|f| f.images)
                .map_err(|source| StoreError::Json { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(StoreError::io("read", &path, e)),
        }
    }

    fn write_index(&self, images: &[ImageRecord]) -> Result<(), StoreError> {
        let path = self.index_path();
        let body = serde_json::to_vec_pretty(&IndexFile {
            images: images.to_vec(),
        })
        .map_err(|source| StoreError::Json {
            path: path.clone(),
            source,
        })?;
        atomic::write_file(&path, &body, 0o600)
    }

    /// Every image, as of one moment (the index is only ever replaced whole).
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        self.read_index()
    }

    pub fn image(&self, id: &Digest) -> Result<Option<ImageRecord>, StoreError> {
        Ok(self.read_index()?.into_iter().find(|i| &i.id == id))
    }

    /// Locked read-modify-write of the index. The index is rewritten only if
    /// `f` succeeds and changed something.
    pub fn update_index<T>(
        &self,
        f: impl FnOnce(&mut Vec<ImageRecord>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock_exclusive("index.lock")?;
        let mut images = self.read_index()?;
        let before = images.clone();
        let out = f(&mut images)?;
        if images != before {
            self.write_index(&images)?;
        }
        Ok(out)
    }

    /// Add or merge an image. Its layers must already be in the store; any of
    /// its names held by another image moves to this one.
    pub fn put_image(&self, rec: ImageRecord) -> Result<(), StoreError> {
        self.update_index(|images| {
            for l in &rec.layers {
                if self.layer(&l.chain_id)?.is_none() {
                    return Err(StoreError::MissingLayer {
                        image: rec.id.clone(),
                        chain_id: l.chain_id.clone(),
                    });
                }
            }
            for other in images.iter_mut().filter(|i| i.id != rec.id) {
                other.names.retain(|n| !rec.names.contains(n));
            }
            match images.iter_mut().find(|i| i.id == rec.id) {
                Some(existing) => {
                    let mut names = std::mem::take(&mut existing.names);
                    let mut digests = std::mem::take(&mut existing.digests);
                    let added = existing.added;
                    *existing = rec.clone();
                    union_into(&mut names, &rec.names);
                    union_into(&mut digests, &rec.digests);
                    existing.names = names;
                    existing.digests = digests;
                    // Keep the first time it arrived: re-pulls do not make an image newer.
                    existing.added = added.min(rec.added);
                }
                None => {
                    let mut rec = rec.clone();
                    let mut names = Vec::new();
                    union_into(&mut names, &rec.names);
                    let mut digests = Vec::new();
                    union_into(&mut digests, &rec.digests);
                    rec.names = names;
                    rec.digests = digests;
                    images.push(rec);
                }
            }
            Ok(())
        })
    }

    /// Tag and untag: each name in `add` moves to this image, each in `remove`
    /// is dropped from it.
    pub fn set_names(
        &self,
        id: &Digest,
        add: &[String],
        remove: &[String],
    ) -> Result<(), StoreError> {
        self.update_index(|images| {
            if !images.iter().any(|i| &i.id == id) {
                return Err(StoreError::ImageNotFound(id.clone()));
            }
            for img in images.iter_mut() {
                if &img.id == id {
                    img.names.retain(|n| !remove.contains(n));
                    union_into(&mut img.names, add);
                } else {
                    img.names.retain(|n| !add.contains(n));
                }
            }
            Ok(())
        })
    }

    /// Drop an image's record (its layers and blobs stay until `gc`).
    pub fn remove_image(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        self.update_index(|images| match images.iter().position(|i| &i.id == id) {
            Some(pos) => Ok(images.remove(pos)),
            None => Err(StoreError::ImageNotFound(id.clone())),
        })
    }
}

fn union_into(dst: &mut Vec<String>, add: &[String]) {
    for a in add {
        if !dst.contains(a) {
            dst.push(a.clone());
        }
    }
}

fn mkdir_private_all(dir: &Path) -> Result<(), StoreError> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(StoreError::io("create", dir, e)),
    }
}

/// The lock on one `tmp/` entry. Drop it only after the entry is gone.
pub(crate) struct TempLock {
    path: PathBuf,
    _file: File,
}

impl Drop for TempLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock: a cleaner that opens the name
        // afterwards gets a fresh file, and no entry of that name remains.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `path` still names the open file `f`.
fn same_file(f: &File, path: &Path) -> Result<bool, StoreError> {
    let ours = f.metadata().map_err(|e| StoreError::io("stat", path, e))?;
    match fs::metadata(path) {
        Ok(md) => Ok(md.ino() == ours.ino() && md.dev() == ours.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("stat", path, e)),
    }
}

/// Try to take an exclusive lock without waiting. `Ok(None)`: someone holds it.
fn try_lock_file(f: &File, path: &Path) -> Result<Option<()>, StoreError> {
    match f.try_lock() {
        Ok(()) => Ok(Some(())),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io("lock", path, e)),
    }
}

/// Streams a blob into `tmp/`, hashing as it goes; `commit` moves it into
/// `blobs/` only if the digest matches. Dropped without commit, it leaves
/// nothing behind.
pub struct BlobWriter {
    file: Option<io::BufWriter<File>>,
    path: PathBuf,
    blobs_dir: PathBuf,
    hasher: Hasher,
    lock: Option<TempLock>,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Flush and publish under the digest of what was written; that
    /// digest and the size.
    pub fn commit_as_written(self) -> Result<(Digest, u64), StoreError> {
        let (digest, _) = self.hasher.clone().finish();
        let size = self.commit(&digest)?;
        Ok((digest, size))
    }

    /// Flush, verify against `expected` and publish. Returns the size.
    pub fn commit(mut self, expected: &Digest) -> Result<u64, StoreError> {
        let file = self
            .file
            .take()
            .ok_or_else(|| StoreError::io("commit", &self.path, io::ErrorKind::Other.into()))?;
        let file = file
            .into_inner()
            .map_err(|e| StoreError::io("write", &self.path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| StoreError::io("sync", &self.path, e))?;
        drop(file);
        let (actual, len) = std::mem::take(&mut self.hasher).finish();
        if &actual != expected {
            let _ = fs::remove_file(&self.path);
            return Err(StoreError::DigestMismatch {
                what: format!("blob {expected}"),
                expected: expected.clone(),
                actual,
            });
        }
        let dest = self.blobs_dir.join(expected.hex());
        // A racing writer of the same digest renames identical bytes over it.
        if let Err(e) = fs::rename(&self.path, &dest) {
            let _ = fs::remove_file(&self.path);
            return Err(StoreError::io("store blob", &dest, e));
        }
        atomic::fsync_dir(&self.blobs_dir)?;
        self.lock.take();
        Ok(len)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already committed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.lock.is_some() {
            self.file.take();
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Hash a file's content.
fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut f = File::open(path)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish().0)
}

/// Digests an image keeps alive: its manifest, config, layer blobs, and the
/// manifests (or indexes) named by its repo digests.
fn image_blob_roots(img: &ImageRecord, into: &mut BTreeSet<Digest>) {
    into.insert(img.manifest_digest.clone());
    into.insert(img.config_digest.clone());
    into.insert(img.id.clone());
    for l in &img.layers {
        into.insert(l.blob_digest.clone());
    }
    for d in &img.digests {
        if let Some(Ok(d)) = d.rsplit_once('@').map(|(_, d)| d.parse::<Digest>()) {
            into.insert(d);
        }
    }
}

#[cfg(test)]
mod tests;
