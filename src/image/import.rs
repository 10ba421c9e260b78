//! `import`: a root filesystem tarball (plain, gzip or zstd; a file, stdin
//! or an http(s) URL) as a one-layer image, with Dockerfile-style changes
//! applied to its config.

use std::io::Read;

use chrono::Utc;

use super::changes::{ChangeError, apply_change};
use super::write::{self, LayerCompression, WriteError};
use crate::storage::unpack::UnpackOptions;
use crate::storage::{ImageRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot download {url}: {reason}")]
    Fetch { url: String, reason: String },
}

pub struct ImportOptions<'a> {
    /// Dockerfile-style changes (`CMD ["sh"]`, `ENV A=1`, ...).
    pub changes: &'a [String],
    /// The history entry's comment (`-m`).
    pub message: Option<&'a str>,
    /// Where the tarball came from, for the history entry.
    pub source: &'a str,
    /// Names for the image, already normalized.
    pub names: &'a [String],
}

/// True for what `import` downloads rather than opens.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The body of an http(s) URL, streamed.
pub fn open_url(url: &str) -> Result<impl Read + Send + use<>, ImportError> {
    let fail = |reason: String| ImportError::Fetch {
        url: url.to_string(),
        reason,
    };
    let client = reqwest::blocking::Client::builder()
        // A rootfs can take a while; only the connection has a deadline.
        .timeout(None)
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let resp = client.get(url).send().map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("the server answered {}", resp.status())));
    }
    Ok(resp)
}

/// Store `tarball` as a one-layer image. The changes are applied before
/// anything is written, so a bad one leaves the store untouched. Call as
/// root of the user namespace.
pub fn import(
    store: &Store,
    tarball: impl Read + Send,
    opts: &ImportOptions<'_>,
    unpack: &UnpackOptions,
) -> Result<ImageRecord, ImportError> {
    let now = Utc::now();
    let mut config = write::empty_config(now);
    for change in opts.changes {
        apply_change(&mut config["config"], change)?;
    }
    let comment = match opts.message {
        Some(m) => m.to_string(),
        None => format!("imported from {}", opts.source),
    };
    config["history"] = serde_json::json!([write::history_entry(now, "", &comment, false)]);
    // The new layer is unreferenced until the record is written.
    let _gc = store.gc_shared()?;
    let layer = write::add_layer_from(store, None, LayerCompression::Gzip, unpack, tarball)?;
    Ok(write::put_new_image(
        store,
        config,
        vec![layer],
        opts.names,
    )?)
}
