//! A stage's state between steps, and the step cache that maps a step's
//! key to the layer and config it gave.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::digest::Digest;
use crate::storage::{ImageLayer, Store};

/// One stage's state between steps.
#[derive(Clone)]
pub(super) struct Stage {
    pub(super) layers: Vec<ImageLayer>,
    pub(super) config: Value,
    pub(super) key: Digest,
    pub(super) shell: Vec<String>,
    /// ARGs declared in this stage, with their values.
    pub(super) args: BTreeMap<String, String>,
}

impl Stage {
    pub(super) fn cfg(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        match self.config["config"].as_object_mut() {
            Some(m) => m,
            None => unreachable!("set to an object above"),
        }
    }

    pub(super) fn env(&self) -> Vec<String> {
        crate::image::write::string_list(&self.config["config"]["Env"])
    }

    /// Variables for substitution: the stage's ARGs, then its ENV (which
    /// wins, as in Docker).
    pub(super) fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.args.clone();
        for e in self.env() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }

    pub(super) fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(format!("{key}={value}"));
        self.cfg().insert("Env".into(), json!(env));
    }

    pub(super) fn workdir(&self) -> String {
        self.config["config"]["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    pub(super) fn lowers(&self, store: &Store) -> Vec<PathBuf> {
        self.layers
            .iter()
            .rev()
            .map(|l| store.layer_diff_path(&l.chain_id))
            .collect()
    }
}

/// The step cache: `build-cache/KEY.json` in the store.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CacheEntry {
    pub(super) layer: Option<ImageLayer>,
    pub(super) config: Value,
}

pub(super) fn cache_path(store: &Store, key: &Digest) -> PathBuf {
    store
        .root()
        .join("build-cache")
        .join(format!("{}.json", key.hex()))
}
