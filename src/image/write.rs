//! Images made on this machine (`commit`, `build`, `import`, `load`):
//! layers from tar streams, and the config, manifest and record around
//! them. What a pull verifies against a registry's digests is computed here
//! as the bytes are written.

use std::fs::File;
use std::io::{self, Read, Write};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::digest::{Digest, Hasher};
use crate::storage::unpack::{UnpackError, UnpackOptions, decompressor, unpack_layer};
use crate::storage::{EnsureError, LayerInfo};
use crate::storage::{ImageLayer, ImageRecord, Store, StoreError};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the layer: {0}")]
    Layer(io::Error),
    #[error("cannot unpack the new layer: {0}")]
    Unpack(#[from] UnpackError),
    #[error("invalid image config: {0}")]
    Config(String),
    #[error(
        "layer {layer} has diff id {actual}, but the image config says {expected}: the layer does not belong to this image"
    )]
    DiffIdMismatch {
        layer: usize,
        expected: String,
        actual: Digest,
    },
}

impl From<EnsureError<WriteError>> for WriteError {
    fn from(e: EnsureError<WriteError>) -> WriteError {
        match e {
            EnsureError::Fill(e) => e,
            EnsureError::Store(e) => WriteError::Store(e),
        }
    }
}

/// How a new layer's blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    #[default]
    Gzip,
    Zstd,
}

impl LayerCompression {
    pub fn parse(s: &str) -> Option<LayerCompression> {
        match s {
            "gzip" => Some(LayerCompression::Gzip),
            "zstd" => Some(LayerCompression::Zstd),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            LayerCompression::Gzip => OCI_LAYER_GZIP,
            LayerCompression::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

/// Hashes the uncompressed tar (the diff id) on its way to the compressor.
struct DiffWriter<W: Write> {
    diff: Hasher,
    inner: W,
}

impl<W: Write> Write for DiffWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.diff.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Store a new layer on top of the layer `parent` (a chain id): `tar`
/// writes the layer's uncompressed tar stream, which is compressed into a
/// blob (its digest and the diff id computed on the way), then unpacked
/// into the store like a pulled layer. Call as root of the user namespace.
pub fn add_layer(
    store: &Store,
    parent: Option<&Digest>,
    compression: LayerCompression,
    unpack: &UnpackOptions,
    tar: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<ImageLayer, WriteError> {
    let blob = store.blob_writer()?;
    let (diff, blob) = match compression {
        LayerCompression::Gzip => {
            let mut w = DiffWriter {
                diff: Hasher::new(),
                inner: flate2::write::GzEncoder::new(blob, flate2::Compression::fast()),
            };
            tar(&mut w).map_err(WriteError::Layer)?;
            let blob = w.inner.finish().map_err(WriteError::Layer)?;
            (w.diff, blob)
        }
        LayerCompression::Zstd => {
            let encoder = zstd::stream::write::Encoder::new(blob, 3).map_err(WriteError::Layer)?;
            let mut w = DiffWriter {
                diff: Hasher::new(),
                inner: encoder,
            };
            tar(&mut w).map_err(WriteError::Layer)?;
            let blob = w.inner.finish().map_err(WriteError::Layer)?;
            (w.diff, blob)
        }
    };
    let (blob_digest, compressed_size) = blob.commit_as_written()?;
    let (diff_id, _) = diff.finish();
    let chain_id = match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    };
    let media_type = compression.media_type().to_string();
    let info = LayerInfo {
        chain_id: chain_id.clone(),
        parent: parent.cloned(),
        diff_id: diff_id.clone(),
        blob_digest: blob_digest.clone(),
        media_type: media_type.clone(),
        compressed_size,
    };
    let (record, _) = store.ensure_layer(&info, |tmp| -> Result<u64, WriteError> {
        let path = store.blob_path(&blob_digest);
        let file = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
        let stream = decompressor(&media_type, file)?;
        let stats = unpack_layer(stream, tmp.diff_dir(), unpack)?;
        Ok(stats.bytes)
    })?;
    Ok(ImageLayer {
        chain_id,
        diff_id,
        blob_digest,
        media_type,
        compressed_size,
        unpacked_size: record.unpacked_size,
    })
}

/// Store a layer from a tar stream that is already a layer, compressed or
/// not (`import`, `load`): copied through [`add_layer`].
pub fn add_layer_from(
    store: &Store,
    parent: Option<&Digest>,
    compression: LayerCompression,
    unpack: &UnpackOptions,
    mut source: impl Read + Send,
) -> Result<ImageLayer, WriteError> {
    add_layer(store, parent, compression, unpack, |w| {
        let mut plain = decompressor("", &mut source).map_err(io::Error::other)?;
        io::copy(&mut plain, w).map(|_| ())
    })
}

/// The strings of a JSON array (`Env`, `Entrypoint`, `OnBuild`, ... of an
/// image config); none when it is missing or not an array.
pub fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One `history` entry of an image config.
pub fn history_entry(
    created: DateTime<Utc>,
    created_by: &str,
    comment: &str,
    empty: bool,
) -> Value {
    let mut h = json!({ "created": created.to_rfc3339(), "created_by": created_by });
    if !comment.is_empty() {
        h["comment"] = json!(comment);
    }
    if empty {
        h["empty_layer"] = json!(true);
    }
    h
}

/// Record an image made of `layers` (bottom first, all in the store) with
/// the OCI image config `config` (its `rootfs` is set here): the config
/// and an OCI manifest become blobs, the image gets `names` (moved from any
/// image that had them). Returns its record.
pub fn put_new_image(
    store: &Store,
    mut config: Value,
    layers: Vec<ImageLayer>,
    names: &[String],
) -> Result<ImageRecord, WriteError> {
    config["rootfs"] = json!({
        "type": "layers",
        "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| WriteError::Layer(e.into()))?;
    put_image_with_config(store, &config_bytes, layers, names)
}

/// Like [`put_new_image`], with a config kept byte for byte (`load`: the
/// image ID, the config's digest, stays what it was where the image came
/// from). Its `rootfs.diff_ids` must be the layers' diff ids.
pub fn put_image_with_config(
    store: &Store,
    config_bytes: &[u8],
    layers: Vec<ImageLayer>,
    names: &[String],
) -> Result<ImageRecord, WriteError> {
    let config: Value = serde_json::from_slice(config_bytes)
        .map_err(|e| WriteError::Config(format!("it is not JSON: {e}")))?;
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(WriteError::Config(format!(
            "it lists {} layers (rootfs.diff_ids), the image has {}",
            diff_ids.len(),
            layers.len()
        )));
    }
    for (i, (want, layer)) in diff_ids.iter().zip(&layers).enumerate() {
        if *want != layer.diff_id.to_string() {
            return Err(WriteError::DiffIdMismatch {
                layer: i + 1,
                expected: want.to_string(),
                actual: layer.diff_id.clone(),
            });
        }
    }
    let config_digest = Digest::of(config_bytes);
    store.put_blob(&config_digest, config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type,
            "digest": l.blob_digest.to_string(),
            "size": l.compressed_size,
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| WriteError::Layer(e.into()))?;
    let manifest_digest = Digest::of(&manifest_bytes);
    store.put_blob(&manifest_digest, &manifest_bytes)?;
    let text = |k: &str| config[k].as_str().unwrap_or_default().to_string();
    let record = ImageRecord {
        id: config_digest.clone(),
        names: names.to_vec(),
        digests: Vec::new(),
        manifest_digest,
        manifest_media_type: OCI_MANIFEST.to_string(),
        config_digest,
        size: layers.iter().map(|l| l.unpacked_size).sum(),
        layers,
        created: config["created"]
            .as_str()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.with_timezone(&Utc)),
        added: Utc::now(),
        os: text("os"),
        architecture: text("architecture"),
    };
    store.put_image(record.clone())?;
    Ok(record)
}

/// The OCI architecture name of this machine.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// A config for an image of nothing (`FROM scratch`, `import`).
pub fn empty_config(created: DateTime<Utc>) -> Value {
    json!({
        "created": created.to_rfc3339(),
        "architecture": host_architecture(),
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [] },
        "history": [],
    })
}
