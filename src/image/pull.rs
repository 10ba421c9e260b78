//! `pull`: resolve a reference, then download, verify and unpack every layer
//! in one streaming pass per layer, several layers at once.
//!
//! Per layer the bytes flow: registry → size limit → progress count → tee
//! into the blob file (which hashes them: the compressed digest) →
//! decompressor → unpack limits (`max_unpack_ratio`, `min_free`) → hash
//! (the diff ID) → tar unpack into a temp layer dir. The layer becomes
//! visible only when the store renames the finished dir, after both digests
//! matched; a killed pull leaves only temp entries, which the next store
//! write removes, and the next pull redoes only the layers that were not
//! finished.
//!
//! This runs inside the user namespace (the caller enters it), so the unpack
//! can give files their image owners from the user's subordinate range.

use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::registries::RegistriesConf;
use crate::digest::Digest;
use crate::reference::{self, Reference};
use crate::registry::{Client, LayerDescriptor, Platform, RegistryError, ResolvedImage, Stall};
use crate::storage::unpack::{self, UnpackError, UnpackOptions};
use crate::storage::{
    EnsureError, ImageLayer, ImageRecord, LayerInfo, LayerTemp, LimitError, Store, StoreError,
    chain_ids,
};

/// Parallel layer downloads. Unpacking is CPU-bound (decompression), so more
/// than a few only adds memory and seek load.
const MAX_PARALLEL_LAYERS: usize = 4;
/// Whole-layer attempts when a stream breaks mid-way or the registry stalls
/// (before or during the download): a stalled layer is given up on after
/// LAYER_ATTEMPTS × the registry timeout plus the pauses between (0.5 s, 1 s).
pub const LAYER_ATTEMPTS: u32 = 3;
/// Report progress at most this often (bytes).
const PROGRESS_STEP: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer {digest}: {source}")]
    Unpack { digest: Digest, source: UnpackError },
    /// The network broke mid-layer: what it said and how far it got.
    #[error("layer {digest}: download failed: {message}")]
    Transfer { digest: Digest, message: String },
    /// Past `max_unpack_ratio` or `min_free`: the message names the setting.
    /// (`limit` is not a `source`: the message already says it all, and a
    /// chain printer would repeat it.)
    #[error("layer {digest}: {limit}")]
    Limit { digest: Digest, limit: LimitError },
    #[error(
        "layer {digest}: uncompressed content has digest {actual}, but the image config says {expected}"
    )]
    DiffIdMismatch {
        digest: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {digest}: registry sent {actual} bytes, the manifest says {expected}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error(
        "image config of {reference} lists {diff_ids} layer diff IDs but the manifest has {layers} layers"
    )]
    LayerCount {
        reference: String,
        diff_ids: usize,
        layers: usize,
    },
    #[error("image config of {reference} has an invalid diff ID {value:?}")]
    BadDiffId { reference: String, value: String },
    #[error("{input}: not found in any of the search registries ({tried}): {last}")]
    NotFoundAnywhere {
        input: String,
        tried: String,
        last: String,
    },
}

/// What a pull reports while it works, for progress output.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// About to try this reference.
    Trying { reference: String },
    /// The manifest was resolved; `layers` will be fetched or reused.
    Resolved {
        reference: String,
        manifest: Digest,
        layers: usize,
    },
    /// A layer is being downloaded; `total` from the manifest.
    LayerStart { digest: Digest, total: u64 },
    /// Bytes of a layer received so far.
    LayerProgress {
        digest: Digest,
        done: u64,
        total: u64,
    },
    /// A download failed and is being retried from the start.
    LayerRetry {
        digest: Digest,
        attempt: u32,
        error: String,
    },
    /// The layer was downloaded, verified and unpacked.
    LayerDone { digest: Digest },
    /// The layer was already in the store.
    LayerExists { digest: Digest },
    /// Config stored.
    ConfigDone { digest: Digest },
    /// The image record was written.
    Stored { id: Digest },
}

/// Receives pull events, possibly from several threads at once.
pub trait PullObserver: Sync {
    fn event(&self, event: PullEvent);
}

/// An observer that ignores everything (`pull -q`, or internal pulls).
pub struct Quiet;
impl PullObserver for Quiet {
    fn event(&self, _: PullEvent) {}
}

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub platform: Platform,
    pub unpack: UnpackOptions,
}

/// Candidate references for what the user typed: a fully qualified name is
/// itself; a short name is tried in each `unqualified-search-registries`
/// entry, or on docker.io when none is configured (Docker's behaviour).
pub fn candidates(input: &str, registries: &RegistriesConf) -> Result<Vec<Reference>, PullError> {
    let parsed = Reference::parse(input)?;
    if !reference::is_short_name(input) {
        return Ok(vec![parsed]);
    }
    let search = registries.search_registries();
    if search.is_empty() {
        return Ok(vec![parsed]);
    }
    let mut out = Vec::new();
    for registry in search {
        // Reparse with the registry in front so Docker's `library/` rule
        // applies only to docker.io.
        let qualified = format!("{registry}/{input}");
        out.push(Reference::parse(&qualified)?);
    }
    Ok(out)
}

/// Pull `input` into `store`. Returns the stored image record.
pub fn pull(
    store: &Store,
    client: &Client,
    registries: &RegistriesConf,
    input: &str,
    opts: &PullOptions,
    obs: &dyn PullObserver,
) -> Result<ImageRecord, PullError> {
    let refs = candidates(input, registries)?;
    let mut last_err = None;
    let mut resolved = None;
    for r in &refs {
        obs.event(PullEvent::Trying {
            reference: r.to_string(),
        });
        match client.resolve(r, &opts.platform) {
            Ok(img) => {
                resolved = Some(img);
                break;
            }
            Err(e) if refs.len() > 1 && is_not_found(&e) => last_err = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    let image = match resolved {
        Some(i) => i,
        None => {
            let tried = refs
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let last = last_err.map(|e| e.to_string()).unwrap_or_default();
            return Err(PullError::NotFoundAnywhere {
                input: input.to_string(),
                tried,
                last,
            });
        }
    };
    store_image(store, client, &image, opts, obs)
}

fn store_image(
    store: &Store,
    client: &Client,
    image: &ResolvedImage,
    opts: &PullOptions,
    obs: &dyn PullObserver,
) -> Result<ImageRecord, PullError> {
    let reference = &image.reference;
    obs.event(PullEvent::Resolved {
        reference: reference.to_string(),
        manifest: image.manifest.digest.clone(),
        layers: image.layers.len(),
    });

    let diff_ids = image
        .config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|s| {
            s.parse::<Digest>().map_err(|_| PullError::BadDiffId {
                reference: reference.to_string(),
                value: s.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if diff_ids.len() != image.layers.len() {
        return Err(PullError::LayerCount {
            reference: reference.to_string(),
            diff_ids: diff_ids.len(),
            layers: image.layers.len(),
        });
    }
    let chains = chain_ids(&diff_ids);

    // Hold off garbage collection until the image record names our layers.
    let _gc = store.gc_shared()?;

    let infos: Vec<LayerInfo> = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, desc)| LayerInfo {
            chain_id: chains[i].clone(),
            parent: if i == 0 {
                None
            } else {
                Some(chains[i - 1].clone())
            },
            diff_id: diff_ids[i].clone(),
            blob_digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
            compressed_size: desc.size,
        })
        .collect();

    let results: Vec<Mutex<Option<Result<u64, PullError>>>> =
        infos.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = infos.len().clamp(1, MAX_PARALLEL_LAYERS);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= infos.len() {
                        break;
                    }
                    let r = fetch_layer(
                        store,
                        client,
                        reference,
                        &image.layers[i],
                        &infos[i],
                        opts,
                        obs,
                    );
                    let failed = r.is_err();
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                    if failed {
                        // Stop handing out new layers; running ones finish.
                        next.store(infos.len(), Ordering::SeqCst);
                        break;
                    }
                }
            });
        }
    });

    let mut layers = Vec::with_capacity(infos.len());
    for (i, slot) in results.into_iter().enumerate() {
        let unpacked = match slot.into_inner().ok().flatten() {
            Some(r) => r?,
            // Not attempted because another layer failed: that error was
            // returned above (results are in order, so it came first) or
            // comes later in this loop.
            None => continue,
        };
        let info = &infos[i];
        layers.push(ImageLayer {
            chain_id: info.chain_id.clone(),
            diff_id: info.diff_id.clone(),
            blob_digest: info.blob_digest.clone(),
            media_type: info.media_type.clone(),
            compressed_size: info.compressed_size,
            unpacked_size: unpacked,
        });
    }
    if layers.len() != infos.len() {
        // Only reachable if a worker panicked: report rather than store a
        // partial image.
        return Err(PullError::Transfer {
            digest: image.manifest.digest.clone(),
            message: "a layer download thread stopped unexpectedly".into(),
        });
    }

    store.put_blob(&image.config_digest, &image.config_bytes)?;
    obs.event(PullEvent::ConfigDone {
        digest: image.config_digest.clone(),
    });
    store.put_blob(&image.manifest.digest, &image.manifest.bytes)?;

    let created = image
        .config
        .created()
        .as_ref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.with_timezone(&chrono::Utc));
    let mut names = Vec::new();
    if reference.tag.is_some() {
        let mut tagged = reference.clone();
        tagged.digest = None;
        names.push(tagged.to_string());
    }
    let record = ImageRecord {
        id: image.config_digest.clone(),
        names,
        digests: vec![format!("{}@{}", reference.name(), image.repo_digest())],
        manifest_digest: image.manifest.digest.clone(),
        manifest_media_type: image.manifest.media_type.clone(),
        config_digest: image.config_digest.clone(),
        size: layers.iter().map(|l| l.unpacked_size).sum(),
        layers,
        created,
        added: chrono::Utc::now(),
        os: image.config.os().to_string(),
        architecture: image.config.architecture().to_string(),
    };
    store.put_image(record.clone())?;
    obs.event(PullEvent::Stored {
        id: record.id.clone(),
    });
    Ok(record)
}

/// Make sure one layer is in the store, downloading it (with whole-layer
/// retries) if not. Returns its unpacked size.
fn fetch_layer(
    store: &Store,
    client: &Client,
    reference: &Reference,
    desc: &LayerDescriptor,
    info: &LayerInfo,
    opts: &PullOptions,
    obs: &dyn PullObserver,
) -> Result<u64, PullError> {
    let start = std::time::Instant::now();
    let mut attempt = 1;
    loop {
        let result = store.ensure_layer(info, |tmp: &LayerTemp| {
            obs.event(PullEvent::LayerStart {
                digest: desc.digest.clone(),
                total: desc.size,
            });
            download_and_unpack(store, client, reference, desc, info, tmp, opts, obs)
        });
        match result {
            Ok((record, created)) => {
                if created {
                    obs.event(PullEvent::LayerDone {
                        digest: desc.digest.clone(),
                    });
                } else {
                    // The same content may have come from a differently
                    // compressed blob: keep this image's blob too, so push
                    // and save can send the exact bytes the manifest names.
                    if !store.has_blob(&desc.digest) {
                        fetch_blob_only(store, client, reference, desc)?;
                    }
                    obs.event(PullEvent::LayerExists {
                        digest: desc.digest.clone(),
                    });
                }
                return Ok(record.unpacked_size);
            }
            Err(EnsureError::Fill(e)) if attempt < LAYER_ATTEMPTS && e.is_transient() => {
                obs.event(PullEvent::LayerRetry {
                    digest: desc.digest.clone(),
                    attempt,
                    error: e.to_string(),
                });
                std::thread::sleep(std::time::Duration::from_millis(500 * u64::from(attempt)));
                attempt += 1;
            }
            Err(EnsureError::Fill(PullError::Registry(RegistryError::Stalled(stall)))) => {
                return Err(RegistryError::Stalled(stall.gave_up(attempt, start.elapsed())).into());
            }
            Err(EnsureError::Fill(e)) => return Err(e),
            Err(EnsureError::Store(e)) => return Err(e.into()),
        }
    }
}

impl PullError {
    /// A broken connection is worth another try; a digest mismatch or an
    /// unpack error is not.
    fn is_transient(&self) -> bool {
        match self {
            PullError::Transfer { .. } => true,
            PullError::Registry(e) => is_transient(e),
            _ => false,
        }
    }
}

/// Worth trying the next search registry.
fn is_not_found(e: &RegistryError) -> bool {
    matches!(
        e,
        RegistryError::NotFound { .. }
            | RegistryError::Denied { .. }
            | RegistryError::AuthRequired { .. }
    )
}

/// The registry client already retried; a network failure that still got
/// through may pass on a whole-layer retry. A stall is retried only here
/// (`Client::open_blob` leaves it to us).
fn is_transient(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Network { .. } | RegistryError::Stalled(_))
        || matches!(e, RegistryError::Http { status, .. } if *status >= 500 || *status == 429)
}

#[allow(clippy::too_many_arguments)]
fn download_and_unpack(
    store: &Store,
    client: &Client,
    reference: &Reference,
    desc: &LayerDescriptor,
    info: &LayerInfo,
    tmp: &LayerTemp,
    opts: &PullOptions,
    obs: &dyn PullObserver,
) -> Result<u64, PullError> {
    let limit = |limit: LimitError| PullError::Limit {
        digest: desc.digest.clone(),
        limit,
    };
    // Nothing is downloaded onto a filesystem already below the margin.
    store.check_free_space().map_err(limit)?;
    let blob = client.open_blob(reference, &desc.digest)?;
    let writer = store.blob_writer()?;
    let mut tee = Tee {
        inner: Progress::new(
            blob.take(desc.size.saturating_add(1)),
            obs,
            &desc.digest,
            desc.size,
        ),
        out: writer,
    };
    let unpacked = (|| {
        let decompressed = unpack::decompressor(&desc.media_type, &mut tee)?;
        // Stops a decompression bomb past `max_unpack_ratio` times the
        // manifest's size, and any layer when space runs below `min_free`.
        let limited = store
            .limit_unpack(decompressed, desc.size)
            .map_err(|e| UnpackError::Read(io::Error::other(e)))?;
        let mut hashed = crate::digest::DigestingReader::new(limited);
        unpack::unpack_layer(&mut hashed, tmp.diff_dir(), &opts.unpack)?;
        hashed
            .finish()
            .map(|(d, n, _)| (d, n))
            .map_err(UnpackError::Read)
    })();
    // A failed read from the registry, as the network said it: the caller
    // may retry.
    let network_failure = |p: &mut Progress<'_, _>| {
        let message = p.read_failed.take()?;
        Some(match p.stalled.take() {
            Some(stall) => stalled_layer(stall, &desc.digest),
            None => PullError::Transfer {
                digest: desc.digest.clone(),
                message: format!("{message} (after {} of {} bytes)", p.done, desc.size),
            },
        })
    };
    let (diff_id, unpacked) = match unpacked {
        Ok(done) => done,
        Err(source) => {
            if let UnpackError::Read(e) = &source
                && let Some(l) = LimitError::from_io(e)
            {
                return Err(limit(l));
            }
            return Err(
                network_failure(&mut tee.inner).unwrap_or_else(|| PullError::Unpack {
                    digest: desc.digest.clone(),
                    source,
                }),
            );
        }
    };
    // Whatever follows the compressed stream is part of the blob and its digest.
    if let Err(e) = io::copy(&mut tee, &mut io::sink()) {
        // Not from the network: writing the blob file failed.
        return Err(
            network_failure(&mut tee.inner).unwrap_or_else(|| PullError::Transfer {
                digest: desc.digest.clone(),
                message: io_chain(&e),
            }),
        );
    }
    let received = tee.inner.done;
    if received != desc.size {
        return Err(PullError::SizeMismatch {
            digest: desc.digest.clone(),
            expected: desc.size,
            actual: received,
        });
    }
    if diff_id != info.diff_id {
        return Err(PullError::DiffIdMismatch {
            digest: desc.digest.clone(),
            expected: info.diff_id.clone(),
            actual: diff_id,
        });
    }
    // Verifies the compressed digest; on mismatch nothing is stored.
    tee.out.commit(&desc.digest)?;
    Ok(unpacked)
}

/// Download a blob into the store without unpacking it.
fn fetch_blob_only(
    store: &Store,
    client: &Client,
    reference: &Reference,
    desc: &LayerDescriptor,
) -> Result<(), PullError> {
    let mut blob = client
        .open_blob(reference, &desc.digest)?
        .take(desc.size.saturating_add(1));
    let mut writer = store.blob_writer()?;
    io::copy(&mut blob, &mut writer).map_err(|e| match Stall::in_io(&e) {
        Some(s) => stalled_layer(s.clone(), &desc.digest),
        None => PullError::Transfer {
            digest: desc.digest.clone(),
            message: io_chain(&e),
        },
    })?;
    writer.commit(&desc.digest)?;
    Ok(())
}

/// An I/O error with its causes on one line, each once (reqwest hides its
/// own in an `io::Error` whose `source()` skips it).
fn io_chain(e: &io::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(c) = cur {
        let m = c.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// A layer download that stalled, named as the layer.
fn stalled_layer(stall: Stall, digest: &Digest) -> PullError {
    RegistryError::Stalled(Stall {
        what: format!("reading layer {digest}"),
        ..stall
    })
    .into()
}

/// Copies everything read from `inner` into `out`.
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Counts bytes and reports progress in steps.
struct Progress<'a, R> {
    inner: R,
    obs: &'a dyn PullObserver,
    digest: &'a Digest,
    total: u64,
    done: u64,
    reported: u64,
    /// Set when reading from the network failed (to what it said), so an
    /// unpack error caused by a broken download can be told from one
    /// caused by the layer.
    read_failed: Option<String>,
    /// Set when the registry stalled, to say so whatever the error became
    /// on its way through the decompressor and unpacker.
    stalled: Option<Stall>,
}

impl<'a, R> Progress<'a, R> {
    fn new(inner: R, obs: &'a dyn PullObserver, digest: &'a Digest, total: u64) -> Self {
        Progress {
            inner,
            obs,
            digest,
            total,
            done: 0,
            reported: 0,
            read_failed: None,
            stalled: None,
        }
    }
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            self.read_failed = Some(io_chain(e));
            self.stalled = Stall::in_io(e).cloned();
        })?;
        self.done += n as u64;
        if self.done - self.reported >= PROGRESS_STEP || (n == 0 && self.done != self.reported) {
            self.reported = self.done;
            self.obs.event(PullEvent::LayerProgress {
                digest: self.digest.clone(),
                done: self.done,
                total: self.total,
            });
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_use_search_registries() {
        let conf = RegistriesConf::parse(
            "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\n",
            std::path::Path::new("test"),
        )
        .unwrap();
        let c = candidates("alpine", &conf).unwrap();
        let c: Vec<String> = c.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            c,
            vec!["quay.io/alpine:latest", "docker.io/library/alpine:latest"]
        );
        let c = candidates("127.0.0.1:5000/app:v1", &conf).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].to_string(), "127.0.0.1:5000/app:v1");
    }

    #[test]
    fn short_names_default_to_docker_hub() {
        let conf = RegistriesConf::parse("", std::path::Path::new("test")).unwrap();
        let c = candidates("alpine", &conf).unwrap();
        assert_eq!(c[0].to_string(), "docker.io/library/alpine:latest");
    }

    #[test]
    fn progress_reports_in_steps_and_at_the_end() {
        struct Count(Mutex<Vec<u64>>);
        impl PullObserver for Count {
            fn event(&self, e: PullEvent) {
                if let PullEvent::LayerProgress { done, .. } = e {
                    self.0.lock().unwrap().push(done);
                }
            }
        }
        let obs = Count(Mutex::new(vec![]));
        let data = vec![7u8; 600 * 1024];
        let d = Digest::of(&data);
        let mut p = Progress::new(&data[..], &obs, &d, data.len() as u64);
        io::copy(&mut p, &mut io::sink()).unwrap();
        let seen = obs.0.into_inner().unwrap();
        assert_eq!(*seen.last().unwrap(), 600 * 1024);
        assert!(seen.len() >= 2 && seen.len() <= 4, "{seen:?}");
    }
}
