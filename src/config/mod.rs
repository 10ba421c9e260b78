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
///
/// [registry]
/// # Seconds to wait for a registry to connect, to answer a request, or to
/// # send the next piece of a download before calling it stalled.
/// timeout = 60
/// ```
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurrowConfig {
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
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

/// The default of `[registry] timeout`, in seconds.
pub const DEFAULT_REGISTRY_TIMEOUT: u64 = 60;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Seconds without progress (no connection, no response headers, no
    /// body data) after which a registry is taken to have stalled.
    #[serde(default = "default_registry_timeout")]
    pub timeout: u64,
}

fn default_registry_timeout() -> u64 {
    DEFAULT_REGISTRY_TIMEOUT
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            timeout: DEFAULT_REGISTRY_TIMEOUT,
        }
    }
}

impl RegistryConfig {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout)
    }
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
        let config: BurrowConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        Ok(config)
    }

    /// What the types alone do not rule out.
    fn check(&self) -> Result<(), String> {
        // A zero timeout would fail every request; a century is "never".
        if !(1..=86_400).contains(&self.registry.timeout) {
            return Err(format!(
                "[registry] timeout = {}: give a number of seconds from 1 to 86400",
                self.registry.timeout
            ));
        }
        Ok(())
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
        assert_eq!(c.registry.timeout, DEFAULT_REGISTRY_TIMEOUT);
    }

    #[test]
    fn registry_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[registry]\ntimeout = 5\n").unwrap();
        let c = BurrowConfig::load(&file).unwrap();
        assert_eq!(c.registry.timeout(), std::time::Duration::from_secs(5));
        std::fs::write(&file, "[storage]\n").unwrap();
        assert_eq!(BurrowConfig::load(&file).unwrap().registry.timeout, 60);
        for bad in [
            "timeout = 0",
            "timeout = -1",
            "timeout = \"1m\"",
            "bogus = 1",
        ] {
            std::fs::write(&file, format!("[registry]\n{bad}\n")).unwrap();
            let e = BurrowConfig::load(&file).unwrap_err().to_string();
            assert!(e.starts_with(&file.display().to_string()), "{bad}: {e}");
        }
        std::fs::write(&file, "[registry]\ntimeout = 0\n").unwrap();
        let e = BurrowConfig::load(&file).unwrap_err().to_string();
        assert!(e.contains("from 1 to 86400"), "{e}");
    }
}
