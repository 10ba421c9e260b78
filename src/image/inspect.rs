//! Docker-shaped `inspect` output for images, so scripts written against
//! `docker image inspect` / `podman image inspect` keep working.

use serde_json::{Map, Value, json};

use crate::storage::{ImageRecord, Store, StoreError};

/// The `docker image inspect` object for one image.
pub fn image_json(store: &Store, image: &ImageRecord) -> Result<Value, StoreError> {
    let config: Value =
        serde_json::from_slice(&store.read_blob(&image.config_digest)?).unwrap_or(Value::Null);
    let field = |k: &str| config.get(k).cloned().unwrap_or(Value::Null);
    let str_field = |k: &str| {
        config
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };

    // The image's runtime config uses Docker's key names already (User, Env,
    // Cmd, ...); fill the keys Docker always prints.
    let mut cfg = match config.get("config") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for key in ["Hostname", "Domainname", "User"] {
        cfg.entry(key).or_insert(json!(""));
    }
    for key in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "Tty",
        "OpenStdin",
        "StdinOnce",
    ] {
        cfg.entry(key).or_insert(json!(false));
    }
    for key in [
        "Cmd",
        "Entrypoint",
        "Env",
        "Labels",
        "Volumes",
        "ExposedPorts",
    ] {
        cfg.entry(key).or_insert(Value::Null);
    }
    cfg.entry("WorkingDir").or_insert(json!(""));

    // Overlay order: the top layer is the upper dir of an image "mount",
    // the rest are lower dirs listed top-down (what `run` will stack).
    let mut dirs: Vec<String> = image
        .layers
        .iter()
        .rev()
        .map(|l| store.layer_diff_path(&l.chain_id).display().to_string())
        .collect();
    let upper = if dirs.is_empty() {
        String::new()
    } else {
        dirs.remove(0)
    };
    let mut graph = Map::new();
    if !dirs.is_empty() {
        graph.insert("LowerDir".into(), json!(dirs.join(":")));
    }
    graph.insert("UpperDir".into(), json!(upper));

    let repo_tags: Vec<&String> = image.names.iter().collect();
    Ok(json!({
        "Id": image.id.to_string(),
        "Digest": image.manifest_digest.to_string(),
        "RepoTags": repo_tags,
        "RepoDigests": image.digests,
        "Parent": "",
        "Comment": history_comment(&config),
        "Created": image.created.map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        "Config": Value::Object(cfg),
        "Author": str_field("author"),
        "Architecture": image.architecture,
        "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
        "Os": image.os,
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": { "Name": "overlay", "Data": Value::Object(graph) },
        "RootFS": {
            "Type": "layers",
            "Layers": image.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
        "Metadata": { "LastTagTime": image.added.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true) },
        "History": field("history"),
        "ManifestType": image.manifest_media_type,
    }))
}

/// Docker shows the comment of the last history entry.
fn history_comment(config: &Value) -> String {
    config
        .get("history")
        .and_then(Value::as_array)
        .and_then(|h| h.last())
        .and_then(|e| e.get("comment"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}
