//! `commit`: a container's changes as a new image on top of its own.

use chrono::Utc;
use serde_json::{Value, json};

use super::write::{
    LayerCompression, WriteError, add_layer, history_entry, put_new_image, string_list,
};
use crate::runtime::layer_tar::write_upper_tar;
use crate::runtime::{ContainerRecord, ContainerSpec};
use crate::storage::unpack::UnpackOptions;
use crate::storage::{ImageRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(
        "container {0} was made from an image that is no longer in the store: its config is needed for the new image"
    )]
    NoImage(String),
    #[error(
        "container {0} uses the vfs storage driver, which keeps no separate record of its changes: commit needs overlay or fuse-overlayfs"
    )]
    Vfs(String),
    #[error("the image config is not valid JSON: {0}")]
    Config(serde_json::Error),
    #[error("{0}")]
    Change(String),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct CommitOptions<'a> {
    pub names: &'a [String],
    pub message: &'a str,
    pub author: &'a str,
    pub compression: LayerCompression,
    /// Dockerfile-style changes to the new image's config (`-c`).
    pub change: &'a dyn Fn(&mut Value) -> Result<(), String>,
}

/// Commit container `rec` (its spec `spec`): its upper directory becomes a
/// layer over its image's; the config is the image's with the container's
/// environment, working directory and command, as Docker commits. Call as
/// root of the user namespace.
pub fn commit(
    store: &Store,
    spec: &ContainerSpec,
    rec: &ContainerRecord,
    unpack: &UnpackOptions,
    opts: &CommitOptions<'_>,
) -> Result<ImageRecord, CommitError> {
    if spec.driver == crate::runtime::rootfs::Driver::Vfs {
        return Err(CommitError::Vfs(rec.name.clone()));
    }
    // The new layer belongs to no image until the end: garbage collection
    // waits.
    let _gc = store.gc_shared()?;
    let image = store
        .image(&rec.image_id)?
        .ok_or_else(|| CommitError::NoImage(rec.name.clone()))?;
    let mut config: Value = serde_json::from_slice(&store.read_blob(&image.config_digest)?)
        .map_err(CommitError::Config)?;
    let mount_points: Vec<String> = spec.mounts.iter().map(|m| m.destination.clone()).collect();
    let parent = image.layers.last().map(|l| l.chain_id.clone());
    let layer = add_layer(store, parent.as_ref(), opts.compression, unpack, |w| {
        write_upper_tar(&spec.upper(), &spec.lowers, &mount_points, None, w)
    })?;
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    // The command the container ran, less the image's entrypoint, is the
    // new image's CMD (Docker's rule).
    let entrypoint = string_list(&config["config"]["Entrypoint"]);
    let cmd: Vec<String> = match rec.command.strip_prefix(entrypoint.as_slice()) {
        Some(rest) if !entrypoint.is_empty() => rest.to_vec(),
        _ => rec.command.clone(),
    };
    let c = &mut config["config"];
    c["Env"] = json!(spec.env);
    c["Cmd"] = json!(cmd);
    if !spec.cwd.is_empty() && spec.cwd != "/" {
        c["WorkingDir"] = json!(spec.cwd);
    }
    (opts.change)(&mut config["config"]).map_err(CommitError::Change)?;
    let now = Utc::now();
    let mut history = config["history"].as_array().cloned().unwrap_or_default();
    history.push(history_entry(
        now,
        &rec.command.join(" "),
        opts.message,
        false,
    ));
    config["history"] = json!(history);
    config["created"] = json!(now.to_rfc3339());
    if !opts.author.is_empty() {
        config["author"] = json!(opts.author);
    }
    let mut layers = image.layers.clone();
    layers.push(layer);
    Ok(put_new_image(store, config, layers, opts.names)?)
}
