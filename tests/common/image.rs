//! OCI / Docker schema2 images and indexes built from `Layer`s.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::layer::Layer;
use super::sha256_digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Platform {
        let mut p = s.split('/');
        let os = p
            .next()
            .filter(|x| !x.is_empty())
            .unwrap_or_else(|| panic!("bad platform {s:?}"));
        let architecture = p
            .next()
            .unwrap_or_else(|| panic!("bad platform {s:?}: want os/arch[/variant]"));
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: p.next().map(str::to_string),
        }
    }

    /// The platform of the machine running the tests, in OCI spelling.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        let variant = (arch == "arm64").then(|| "v8".to_string());
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"os": self.os, "architecture": self.architecture});
        if let Some(var) = &self.variant {
            v["variant"] = json!(var);
        }
        v
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A built image: exact manifest and config bytes plus its layers.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    /// Media type of `manifest` (OCI or Docker schema2).
    pub media_type: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<Layer>,
    pub platform: Platform,
}

impl Image {
    pub fn manifest_json(&self) -> Value {
        serde_json::from_slice(&self.manifest).expect("manifest json")
    }

    pub fn config_json(&self) -> Value {
        serde_json::from_slice(&self.config).expect("config json")
    }

    /// The image ID as Docker/Podman show it: the config digest.
    pub fn id(&self) -> String {
        self.config_digest.clone()
    }
}

type Edit = Box<dyn FnOnce(&mut Value)>;

/// Builds an image config + manifest. OCI media types unless
/// `docker_schema2()`.
pub struct ImageBuilder {
    layers: Vec<Layer>,
    config: Map<String, Value>,
    platform: Platform,
    docker: bool,
    created: String,
    config_edits: Vec<Edit>,
    manifest_edits: Vec<Edit>,
}

impl Default for ImageBuilder {
    fn default() -> Self {
        ImageBuilder::new()
    }
}

impl ImageBuilder {
    pub fn new() -> ImageBuilder {
        ImageBuilder {
            layers: Vec::new(),
            config: Map::new(),
            platform: Platform::host(),
            docker: false,
            created: "2024-01-01T00:00:00Z".into(),
            config_edits: Vec::new(),
            manifest_edits: Vec::new(),
        }
    }

    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    fn strings(v: &[&str]) -> Value {
        Value::Array(v.iter().map(|s| json!(s)).collect())
    }

    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.config.insert("Cmd".into(), Self::strings(cmd));
        self
    }

    pub fn entrypoint(mut self, ep: &[&str]) -> Self {
        self.config.insert("Entrypoint".into(), Self::strings(ep));
        self
    }

    /// `KEY=VALUE`, appended.
    pub fn env(mut self, kv: &str) -> Self {
        let e = self.config.entry("Env").or_insert_with(|| json!([]));
        e.as_array_mut().expect("Env array").push(json!(kv));
        self
    }

    pub fn workdir(mut self, dir: &str) -> Self {
        self.config.insert("WorkingDir".into(), json!(dir));
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.config.insert("User".into(), json!(user));
        self
    }

    /// `PORT/PROTO`, e.g. `8080/tcp`.
    pub fn expose(mut self, port: &str) -> Self {
        let e = self
            .config
            .entry("ExposedPorts")
            .or_insert_with(|| json!({}));
        e.as_object_mut()
            .expect("ExposedPorts object")
            .insert(port.into(), json!({}));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        let e = self.config.entry("Labels").or_insert_with(|| json!({}));
        e.as_object_mut()
            .expect("Labels object")
            .insert(key.into(), json!(value));
        self
    }

    pub fn stop_signal(mut self, sig: &str) -> Self {
        self.config.insert("StopSignal".into(), json!(sig));
        self
    }

    pub fn volume(mut self, path: &str) -> Self {
        let e = self.config.entry("Volumes").or_insert_with(|| json!({}));
        e.as_object_mut()
            .expect("Volumes object")
            .insert(path.into(), json!({}));
        self
    }

    /// `os/arch[/variant]`; defaults to the host's.
    pub fn platform(mut self, platform: &str) -> Self {
        self.platform = Platform::parse(platform);
        self
    }

    pub fn created(mut self, rfc3339: &str) -> Self {
        self.created = rfc3339.into();
        self
    }

    /// Docker schema2 media types instead of OCI.
    pub fn docker_schema2(mut self) -> Self {
        self.docker = true;
        self
    }

    /// Arbitrary change to the final config JSON (after diff_ids are set).
    pub fn edit_config(mut self, f: impl FnOnce(&mut Value) + 'static) -> Self {
        self.config_edits.push(Box::new(f));
        self
    }

    /// Arbitrary change to the final manifest JSON (e.g. a lying size).
    pub fn edit_manifest(mut self, f: impl FnOnce(&mut Value) + 'static) -> Self {
        self.manifest_edits.push(Box::new(f));
        self
    }

    pub fn build(self) -> Image {
        let mut config = self.platform.to_json();
        config["created"] = json!(self.created);
        config["config"] = Value::Object(self.config);
        config["rootfs"] = json!({
            "type": "layers",
            "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
        });
        config["history"] = Value::Array(
            (0..self.layers.len())
                .map(|i| json!({"created": self.created, "created_by": format!("burrow test harness layer {i}")}))
                .collect(),
        );
        for f in self.config_edits {
            f(&mut config);
        }
        let config = serde_json::to_vec(&config).expect("config json");
        let config_digest = sha256_digest(&config);
        let (media_type, config_type) = if self.docker {
            (DOCKER_MANIFEST, DOCKER_CONFIG)
        } else {
            (OCI_MANIFEST, OCI_CONFIG)
        };
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                let mt = if self.docker {
                    l.docker_media_type()
                } else {
                    l.media_type.clone()
                };
                json!({"mediaType": mt, "digest": l.digest, "size": l.size})
            })
            .collect();
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config.len()},
            "layers": layers,
        });
        for f in self.manifest_edits {
            f(&mut manifest);
        }
        let manifest = serde_json::to_vec_pretty(&manifest).expect("manifest json");
        Image {
            manifest_digest: sha256_digest(&manifest),
            manifest,
            media_type: media_type.into(),
            config,
            config_digest,
            layers: self.layers,
            platform: self.platform,
        }
    }
}

/// A manifest list / image index over `images`, each with the platform
/// given as `os/arch[/variant]`. Docker manifest-list media type when every
/// image is Docker schema2, OCI index otherwise. Returns (bytes, digest).
pub fn index(images: &[(&str, &Image)]) -> (Vec<u8>, String) {
    let docker = !images.is_empty() && images.iter().all(|(_, i)| i.media_type == DOCKER_MANIFEST);
    let manifests: Vec<Value> = images
        .iter()
        .map(|(p, img)| {
            json!({
                "mediaType": img.media_type,
                "digest": img.manifest_digest,
                "size": img.manifest.len(),
                "platform": Platform::parse(p).to_json(),
            })
        })
        .collect();
    let v = json!({
        "schemaVersion": 2,
        "mediaType": if docker { DOCKER_LIST } else { OCI_INDEX },
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec_pretty(&v).expect("index json");
    let digest = sha256_digest(&bytes);
    (bytes, digest)
}

/// Writes `image` as an OCI image layout at `dir`, tagged `tag`, for
/// `skopeo copy oci:DIR:TAG ...`.
pub fn write_oci_layout(dir: &Path, image: &Image, tag: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("create blobs dir");
    let put = |digest: &str, data: &[u8]| {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::write(blobs.join(hex), data).expect("write blob");
    };
    put(&image.manifest_digest, &image.manifest);
    put(&image.config_digest, &image.config);
    for l in &image.layers {
        put(&l.digest, &l.blob);
    }
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": image.media_type,
            "digest": image.manifest_digest,
            "size": image.manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index json"),
    )
    .expect("write index.json");
}
