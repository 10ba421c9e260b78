//! The parts of OCI / Docker schema 2 manifests and indexes the client needs.

use serde::Deserialize;

use super::platform::Platform;
use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header for manifest requests: every type we can use.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json, \
                          application/vnd.docker.distribution.manifest.v2+json";

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

pub fn is_image_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<DescriptorPlatform>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DescriptorPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl DescriptorPlatform {
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sniff {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
    fs_layers: Option<serde_json::Value>,
}

/// The media type of a manifest body: its `Content-Type` when that names a
/// manifest type, else what the body says about itself (some registries
/// serve `application/json`).
pub fn detect_media_type(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let ct = content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase());
    if let Some(ct) = &ct
        && (is_index(ct)
            || is_image_manifest(ct)
            || ct == DOCKER_SCHEMA1
            || ct == DOCKER_SCHEMA1_SIGNED)
    {
        return Some(ct.clone());
    }
    let sniff: Sniff = serde_json::from_slice(body).ok()?;
    if let Some(mt) = sniff.media_type.filter(|m| !m.is_empty()) {
        return Some(mt);
    }
    match sniff.schema_version {
        Some(1) => Some(DOCKER_SCHEMA1.to_string()),
        _ if sniff.fs_layers.is_some() => Some(DOCKER_SCHEMA1.to_string()),
        Some(2) if sniff.manifests.is_some() => Some(OCI_INDEX.to_string()),
        Some(2) if sniff.config.is_some() => Some(OCI_MANIFEST.to_string()),
        _ => ct,
    }
}

/// The two image manifest formats a push can write (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    Oci,
    DockerV2S2,
}

impl ManifestFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => OCI_MANIFEST,
            ManifestFormat::DockerV2S2 => DOCKER_MANIFEST,
        }
    }
}

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Layer media types with an equivalent in both formats (OCI, Docker).
const LAYER_TYPES: [(&str, &str); 4] = [
    (
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
    (
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar",
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("the manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0} manifests cannot be converted; only OCI and Docker schema 2 image manifests can")]
    Unsupported(String),
    #[error("layer type {0} has no Docker schema 2 equivalent (zstd layers need --format oci)")]
    Layer(String),
}

/// `bytes` (an image manifest of type `media_type`) in `format`: the same
/// config and layer blobs under the other format's media types, as Podman's
/// `push --format` writes them. The blobs' bytes stay; the manifest's
/// digest changes. Returns the new bytes and media type.
pub fn convert(
    bytes: &[u8],
    media_type: &str,
    format: ManifestFormat,
) -> Result<(Vec<u8>, &'static str), ConvertError> {
    if !is_image_manifest(media_type) {
        return Err(ConvertError::Unsupported(media_type.to_string()));
    }
    let mut m: serde_json::Value = serde_json::from_slice(bytes)?;
    let to_docker = format == ManifestFormat::DockerV2S2;
    // (from, to) layer types for this direction.
    let layer_types: Vec<(&str, &'static str)> = LAYER_TYPES
        .iter()
        .map(|&(oci, docker)| {
            if to_docker {
                (oci, docker)
            } else {
                (docker, oci)
            }
        })
        .collect();
    let config_type = if to_docker { DOCKER_CONFIG } else { OCI_CONFIG };
    let obj = m
        .as_object_mut()
        .ok_or_else(|| ConvertError::Unsupported("non-object".into()))?;
    obj.insert("mediaType".into(), format.media_type().into());
    if to_docker {
        // Schema 2 has neither; Docker registries reject unknown fields.
        for field in ["annotations", "artifactType", "subject"] {
            obj.remove(field);
        }
    }
    if let Some(config) = obj.get_mut("config").and_then(|c| c.as_object_mut()) {
        config.insert("mediaType".into(), config_type.into());
        config.remove("annotations");
    }
    for layer in obj
        .get_mut("layers")
        .and_then(|l| l.as_array_mut())
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_object_mut())
    {
        let current = layer
            .get("mediaType")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string();
        if !layer_types.iter().any(|&(_, to)| to == current) {
            let new = layer_types
                .iter()
                .find_map(|&(from, to)| (from == current).then_some(to))
                .ok_or_else(|| ConvertError::Layer(current.clone()))?;
            layer.insert("mediaType".into(), new.into());
        }
        if to_docker {
            layer.remove("annotations");
        }
    }
    Ok((serde_json::to_vec_pretty(&m)?, format.media_type()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_types() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            detect_media_type(Some("application/json"), idx).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            detect_media_type(
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
                b"{}"
            )
            .as_deref(),
            Some(DOCKER_MANIFEST)
        );
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert_eq!(detect_media_type(None, s1).as_deref(), Some(DOCKER_SCHEMA1));
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}"#;
        assert_eq!(
            detect_media_type(Some("text/plain"), m).as_deref(),
            Some(DOCKER_LIST)
        );
        assert_eq!(
            detect_media_type(Some("text/plain"), b"nope").as_deref(),
            None
        );
    }

    #[test]
    fn parses_docker_list() {
        let j = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
          "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,
            "digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#;
        let i: ImageIndex = serde_json::from_str(j).unwrap();
        assert_eq!(
            i.manifests[0]
                .platform
                .as_ref()
                .unwrap()
                .platform()
                .to_string(),
            "linux/arm64/v8"
        );
    }
}

#[cfg(test)]
mod convert_tests {
    use super::*;

    const OCI: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
      "config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":1,
        "digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":2,
        "digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "annotations":{"a":"b"}}],
      "annotations":{"org.opencontainers.image.created":"now"}}"#;

    #[test]
    fn oci_to_docker_and_back() {
        let (d, mt) = convert(OCI.as_bytes(), OCI_MANIFEST, ManifestFormat::DockerV2S2).unwrap();
        assert_eq!(mt, DOCKER_MANIFEST);
        let v: serde_json::Value = serde_json::from_slice(&d).unwrap();
        assert_eq!(v["mediaType"], DOCKER_MANIFEST);
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
        assert!(v.get("annotations").is_none() && v["layers"][0].get("annotations").is_none());
        assert_eq!(v["layers"][0]["size"], 2);

        let (o, mt) = convert(&d, DOCKER_MANIFEST, ManifestFormat::Oci).unwrap();
        assert_eq!(mt, OCI_MANIFEST);
        let v: serde_json::Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(v["config"]["mediaType"], OCI_CONFIG);
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }

    #[test]
    fn zstd_and_indexes_refused() {
        let z = OCI.replace("tar+gzip", "tar+zstd");
        let e = convert(z.as_bytes(), OCI_MANIFEST, ManifestFormat::DockerV2S2).unwrap_err();
        assert!(e.to_string().contains("zstd"), "{e}");
        assert!(convert(z.as_bytes(), OCI_MANIFEST, ManifestFormat::Oci).is_err());
        assert!(convert(b"{}", OCI_INDEX, ManifestFormat::Oci).is_err());
    }
}
