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
