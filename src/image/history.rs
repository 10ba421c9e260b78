//! An image's history (`history`): the config's `history` entries, newest
//! first, each that made a layer paired with that layer's size.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::digest::Digest;
use crate::storage::{ImageRecord, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image's ID on the newest row; older steps have no image of
    /// their own here.
    pub id: Option<Digest>,
    pub created: Option<DateTime<Utc>>,
    pub created_by: String,
    /// Unpacked size of the layer the step made (0 for empty_layer steps).
    pub size: u64,
    pub comment: String,
    /// The image's names, on the newest row.
    pub tags: Vec<String>,
}

/// The history of `image`, newest first. Layers the config's history does
/// not account for (images made without one) get rows of their own.
pub fn history(store: &Store, image: &ImageRecord) -> Result<Vec<HistoryRow>, StoreError> {
    let config: Value =
        serde_json::from_slice(&store.read_blob(&image.config_digest)?).unwrap_or(Value::Null);
    Ok(rows(&config, image))
}

fn rows(config: &Value, image: &ImageRecord) -> Vec<HistoryRow> {
    let entries = config["history"].as_array().cloned().unwrap_or_default();
    let mut layers = image.layers.iter();
    let mut out = Vec::new();
    for h in &entries {
        let size = if h["empty_layer"].as_bool() == Some(true) {
            0
        } else {
            layers.next().map_or(0, |l| l.unpacked_size)
        };
        let text = |k: &str| h[k].as_str().unwrap_or_default().to_string();
        out.push(HistoryRow {
            id: None,
            created: h["created"]
                .as_str()
                .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                .map(|c| c.with_timezone(&Utc)),
            created_by: text("created_by"),
            size,
            comment: text("comment"),
            tags: Vec::new(),
        });
    }
    for l in layers {
        out.push(HistoryRow {
            id: None,
            created: None,
            created_by: String::new(),
            size: l.unpacked_size,
            comment: String::new(),
            tags: Vec::new(),
        });
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = Some(image.id.clone());
        top.tags = image.names.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ImageLayer;
    use serde_json::json;

    fn layer(size: u64) -> ImageLayer {
        let d = Digest::of(size.to_string().as_bytes());
        ImageLayer {
            chain_id: d.clone(),
            diff_id: d.clone(),
            blob_digest: d,
            media_type: String::new(),
            compressed_size: 0,
            unpacked_size: size,
        }
    }

    #[test]
    fn empty_layers_take_no_layer_and_the_top_row_is_the_image() {
        let id = Digest::of(b"config");
        let image = ImageRecord {
            id: id.clone(),
            names: vec!["localhost/app:latest".into()],
            digests: vec![],
            manifest_digest: id.clone(),
            manifest_media_type: String::new(),
            config_digest: id.clone(),
            layers: vec![layer(100), layer(20)],
            created: None,
            added: Utc::now(),
            size: 120,
            os: "linux".into(),
            architecture: "amd64".into(),
        };
        let config = json!({"history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": "ADD rootfs"},
            {"created_by": "ENV A=1", "empty_layer": true},
            {"created_by": "RUN make", "comment": "built"},
        ]});
        let r = rows(&config, &image);
        let summary: Vec<(&str, u64)> = r.iter().map(|r| (r.created_by.as_str(), r.size)).collect();
        assert_eq!(
            summary,
            vec![("RUN make", 20), ("ENV A=1", 0), ("ADD rootfs", 100)]
        );
        assert_eq!(r[0].id.as_ref(), Some(&id));
        assert_eq!(r[0].tags, image.names);
        assert_eq!(r[0].comment, "built");
        assert!(r[1].id.is_none());
        assert!(r[2].created.is_some());
        // No history at all: one row per layer.
        assert_eq!(rows(&json!({}), &image).len(), 2);
    }
}
