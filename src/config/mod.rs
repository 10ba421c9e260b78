//! Configuration: burrow's own `config.toml`, and the containers-registries
//! and auth files that Podman, Buildah and Skopeo users already have.

pub mod auth;
pub mod registries;

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
}

/// `$XDG_CONFIG_HOME/burrow/config.toml`.
///
/// ```toml
/// [storage]
/// # Files in images owned by ids outside your subordinate range are given
/// # to the overflow uid/gid (65534) instead of failing the pull.
/// ignore_chown_errors = false
/// ```
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurrowConfig {
    #[serde(default)]
    pub storage: StorageConfig,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub ignore_chown_errors: bool,
    /// overlay, fuse-overlayfs or vfs; unset: chosen by probing the host.
    #[serde(default)]
    pub driver: Option<String>,
}

impl BurrowConfig {
    /// Load the file if it exists; a missing file is the default config.
    pub fn load(path: &Path) -> Result<BurrowConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(BurrowConfig::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_storage_section() {
        let c: BurrowConfig = toml::from_str("[storage]\nignore_chown_errors = true\n").unwrap();
        assert!(c.storage.ignore_chown_errors);
        assert!(toml::from_str::<BurrowConfig>("[storage]\nbogus = 1\n").is_err());
    }

    #[test]
    fn missing_file_is_default() {
        let c = BurrowConfig::load(Path::new("/nonexistent/burrow.toml")).unwrap();
        assert!(!c.storage.ignore_chown_errors);
    }
}
