//! `push`: send a stored image to a registry byte for byte, so its manifest
//! digest (and every blob digest) is the one it has here.
//!
//! Layers go up several at once; each is skipped when the repository has it,
//! mounted when another repository of the same registry does (one the image
//! was pulled from or pushed to), and uploaded otherwise. The config follows,
//! then the manifest, which the registry accepts only once every blob it
//! names is there.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lookup::{self, LookupError, Match};
use crate::digest::Digest;
use crate::reference::{self, Reference};
use crate::registry::manifest::{self, ConvertError, ManifestFormat};
use crate::registry::push::{BlobOutcome, LocalBlob, PushTarget};
use crate::registry::{Client, RegistryError};
use crate::storage::{ImageRecord, Store, StoreError};

/// Parallel blob uploads, as Podman's default.
const MAX_PARALLEL_BLOBS: usize = 4;
/// Report progress at most this often (bytes); chunks are larger anyway.
const PROGRESS_STEP: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{0}: an image ID names no registry: give a destination (burrow push {0} REGISTRY/NAME[:TAG])"
    )]
    NoDestination(String),
    #[error("{destination}: only registries (docker://) are supported as push destinations")]
    Transport { destination: String },
    #[error(
        "{destination}: the digest does not match the image's manifest {manifest}: push to a tag instead"
    )]
    DigestMismatch {
        destination: String,
        manifest: Digest,
    },
    #[error("cannot push {image} in another format: {source}")]
    Convert { image: String, source: ConvertError },
    #[error("image {image}: {what} {digest} is missing from the store: pull the image again")]
    MissingBlob {
        image: String,
        what: &'static str,
        digest: Digest,
    },
}

/// What a push reports while it works, for progress output.
#[derive(Debug, Clone)]
pub enum PushEvent {
    /// Blobs are about to be sent to `destination`.
    Started { destination: String },
    /// A blob upload began; `total` bytes.
    BlobStart { digest: Digest, total: u64 },
    /// Bytes of a blob sent so far.
    BlobProgress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// The blob was uploaded.
    BlobDone { digest: Digest },
    /// The repository had the blob already.
    BlobExists { digest: Digest },
    /// The registry mounted the blob from another repository.
    BlobMounted { digest: Digest, from: String },
    /// The config blob is there.
    ConfigDone { digest: Digest },
    /// The manifest is about to be written.
    WritingManifest,
}

/// Receives push events, possibly from several threads at once.
pub trait PushObserver: Sync {
    fn event(&self, event: PushEvent);
}

/// An observer that ignores everything (`push -q`).
pub struct Quiet;
impl PushObserver for Quiet {
    fn event(&self, _: PushEvent) {}
}

/// The result of a push.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub destination: Reference,
    pub manifest_digest: Digest,
}

/// The registry reference `destination` names; `docker://` is accepted
/// (Podman's transport syntax), other transports are refused.
pub fn parse_destination(destination: &str) -> Result<Reference, PushError> {
    const OTHER_TRANSPORTS: [&str; 7] = [
        "oci:",
        "oci-archive:",
        "docker-archive:",
        "docker-daemon:",
        "dir:",
        "containers-storage:",
        "sif:",
    ];
    if let Some(rest) = destination.strip_prefix("docker://") {
        return Ok(Reference::parse(rest)?);
    }
    if OTHER_TRANSPORTS.iter().any(|t| destination.starts_with(t)) {
        return Err(PushError::Transport {
            destination: destination.to_string(),
        });
    }
    Ok(Reference::parse(destination)?)
}

/// Push the stored image `image` to `destination`, or to the name `image`
/// gives when there is none; with `format`, its manifest rewritten in that
/// format if it has the other (the blobs stay). Returns where it went and
/// its manifest digest.
pub fn push(
    store: &Store,
    client: &Client,
    image: &str,
    destination: Option<&str>,
    format: Option<ManifestFormat>,
    obs: &dyn PushObserver,
) -> Result<Pushed, PushError> {
    let (record, matched) = lookup::find_image_match(store, image)?;
    let destination = match (destination, matched) {
        (Some(d), _) => parse_destination(d)?,
        (None, Match::Name(name)) => Reference::parse(&name)?,
        (None, Match::Digest) => Reference::parse(image)?,
        (None, Match::Id) => return Err(PushError::NoDestination(image.to_string())),
    };
    // Keep garbage collection from removing blobs while they are read.
    let _gc = store.gc_shared()?;
    let stored = store
        .read_blob(&record.manifest_digest)
        .map_err(|e| missing_or(e, &record, "manifest", &record.manifest_digest))?;
    let (manifest, media_type) = match format {
        Some(f) if f.media_type() != record.manifest_media_type => {
            let (bytes, media_type) = manifest::convert(&stored, &record.manifest_media_type, f)
                .map_err(|source| PushError::Convert {
                    image: image.to_string(),
                    source,
                })?;
            (bytes, media_type.to_string())
        }
        _ => (stored, record.manifest_media_type.clone()),
    };
    if let Some(d) = &destination.digest
        && *d != Digest::of(&manifest)
    {
        return Err(PushError::DigestMismatch {
            destination: destination.to_string(),
            manifest: Digest::of(&manifest),
        });
    }
    let mut blobs: Vec<(&Digest, u64)> = record
        .layers
        .iter()
        .map(|l| (&l.blob_digest, l.compressed_size))
        .collect();
    for (digest, _) in &blobs {
        if !store.has_blob(digest) {
            return Err(missing(&record, "layer blob", digest));
        }
    }
    // Several layers may share a blob (an empty layer twice): push it once.
    let mut seen = std::collections::HashSet::new();
    blobs.retain(|(d, _)| seen.insert(*d));
    let config_size = std::fs::metadata(store.blob_path(&record.config_digest))
        .map_err(|_| missing(&record, "config blob", &record.config_digest))?
        .len();

    let target = client.push_target(&destination, &mount_sources(&record))?;
    obs.event(PushEvent::Started {
        destination: destination.to_string(),
    });
    push_blobs(store, &target, &blobs, obs)?;
    send_blob(store, &target, &record.config_digest, config_size, &|_| {})?;
    obs.event(PushEvent::ConfigDone {
        digest: record.config_digest.clone(),
    });
    obs.event(PushEvent::WritingManifest);
    let manifest_digest = target.push_manifest(&manifest, &media_type)?;
    Ok(Pushed {
        destination,
        manifest_digest,
    })
}

/// Upload the layer blobs, several at once; the first error stops the
/// others from starting.
fn push_blobs(
    store: &Store,
    target: &PushTarget<'_>,
    blobs: &[(&Digest, u64)],
    obs: &dyn PushObserver,
) -> Result<(), PushError> {
    let failure: Mutex<Option<PushError>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..blobs.len().clamp(1, MAX_PARALLEL_BLOBS) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&(digest, size)) = blobs.get(i) else {
                        break;
                    };
                    if let Err(e) = push_layer(store, target, digest, size, obs) {
                        next.store(blobs.len(), Ordering::SeqCst);
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    match failure.into_inner() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(poisoned) => poisoned.into_inner().map_or(Ok(()), Err),
    }
}

fn push_layer(
    store: &Store,
    target: &PushTarget<'_>,
    digest: &Digest,
    size: u64,
    obs: &dyn PushObserver,
) -> Result<(), PushError> {
    let reported = AtomicUsize::new(0);
    let started = std::sync::atomic::AtomicBool::new(false);
    let progress = |done: u64| {
        if !started.swap(true, Ordering::SeqCst) {
            obs.event(PushEvent::BlobStart {
                digest: digest.clone(),
                total: size,
            });
        }
        let step = (done / PROGRESS_STEP) as usize;
        if done == size || reported.swap(step, Ordering::SeqCst) != step {
            obs.event(PushEvent::BlobProgress {
                digest: digest.clone(),
                done,
                total: size,
            });
        }
    };
    let event = match send_blob(store, target, digest, size, &progress)? {
        BlobOutcome::Exists => PushEvent::BlobExists {
            digest: digest.clone(),
        },
        BlobOutcome::Mounted { from } => PushEvent::BlobMounted {
            digest: digest.clone(),
            from,
        },
        BlobOutcome::Uploaded => PushEvent::BlobDone {
            digest: digest.clone(),
        },
    };
    obs.event(event);
    Ok(())
}

fn send_blob(
    store: &Store,
    target: &PushTarget<'_>,
    digest: &Digest,
    size: u64,
    progress: &dyn Fn(u64),
) -> Result<BlobOutcome, PushError> {
    let path = store.blob_path(digest);
    let blob = LocalBlob {
        digest,
        path: &path,
        size,
    };
    Ok(target.push_blob(blob, progress)?)
}

/// Repositories the image is known to be in: blobs can be mounted from
/// those on the destination's registry.
fn mount_sources(record: &ImageRecord) -> Vec<Reference> {
    record
        .digests
        .iter()
        .chain(&record.names)
        .filter_map(|n| Reference::parse(n).ok())
        .collect()
}

fn missing(record: &ImageRecord, what: &'static str, digest: &Digest) -> PushError {
    PushError::MissingBlob {
        image: record
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| record.id.short().to_string()),
        what,
        digest: digest.clone(),
    }
}

fn missing_or(e: StoreError, record: &ImageRecord, what: &'static str, d: &Digest) -> PushError {
    match e {
        StoreError::BlobNotFound { .. } => missing(record, what, d),
        e => PushError::Store(e),
    }
}
