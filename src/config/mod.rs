//! Configuration: burrow's own `config.toml`, and the containers-registries
//! and auth files that Podman, Buildah and Skopeo users already have.

pub mod auth;
pub mod registries;

use std::path::Path;

use serde::Deserialize;

use crate::storage::limits::{self, MinFree, UnpackLimits};

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
/// # Refuse a layer that unpacks to more than this many times its
/// # compressed size (a decompression bomb); 0 turns the check off.
/// max_unpack_ratio = 100
/// # Stop unpacking before the store's filesystem has less than this free:
/// # a share of the filesystem ("5%") or a size ("10G", "500M"); "0": off.
/// min_free = "5%"
///
/// [registry]
/// # Seconds to wait for a registry to connect, to answer a request, or to
/// # send the next piece of a download before calling it stalled.
/// timeout = 60
///
/// [events]
/// # Bytes the events log grows to before it is rotated to events.log.1.
/// log_max_size = 1048576
/// ```
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurrowConfig {
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub registry: RegistryConfig,
    #[serde(default)]
    pub events: EventsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Bytes the events log grows to before it is rotated.
    #[serde(default = "default_events_log_max_size")]
    pub log_max_size: u64,
}

fn default_events_log_max_size() -> u64 {
    crate::events::Log::DEFAULT_MAX_SIZE
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            log_max_size: default_events_log_max_size(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub ignore_chown_errors: bool,
    /// overlay, fuse-overlayfs or vfs; unset: chosen by probing the host.
    #[serde(default)]
    pub driver: Option<String>,
    /// Unpacked bytes a layer may have per compressed byte; 0: no limit.
    #[serde(default = "default_max_unpack_ratio")]
    pub max_unpack_ratio: u64,
    /// Free space the store's filesystem keeps while layers unpack.
    #[serde(default)]
    pub min_free: MinFree,
}

fn default_max_unpack_ratio() -> u64 {
    limits::DEFAULT_MAX_UNPACK_RATIO
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            ignore_chown_errors: false,
            driver: None,
            max_unpack_ratio: default_max_unpack_ratio(),
            min_free: MinFree::default(),
        }
    }
}

impl StorageConfig {
    /// What the store allows one layer to write.
    pub fn unpack_limits(&self) -> UnpackLimits {
        UnpackLimits {
            max_ratio: self.max_unpack_ratio,
            min_free: self.min_free,
        }
    }
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
            message: one_line(&text, &e),
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
        if self.events.log_max_size < 1024 {
            return Err(format!(
                "[events] log_max_size = {}: give a number of bytes, at least 1024",
                self.events.log_max_size
            ));
        }
        Ok(())
    }
}

/// toml's own rendering draws the offending line over several lines; an
/// error message is one: `line N: what is wrong`.
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |before| before.matches('\n').count())
                + 1;
            match text.lines().nth(line - 1).map(str::trim) {
                Some(l) if !l.is_empty() => format!("line {line} ({l}): {what}"),
                _ => format!("line {line}: {what}"),
            }
        }
        None => what,
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
        assert_eq!(c.storage.unpack_limits(), UnpackLimits::default());
        let empty: BurrowConfig = toml::from_str("[storage]\n").unwrap();
        assert_eq!(empty.storage.unpack_limits(), UnpackLimits::default());
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

    #[test]
    fn parse_errors_are_one_line_with_the_line_number() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.toml");
        std::fs::write(&p, "[storage]\nmin_free = \"lots\"\n").unwrap();
        let e = BurrowConfig::load(&p).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.contains(
                "config.toml: line 2 (min_free = \"lots\"): min_free \"lots\" is not a size"
            ),
            "{e}"
        );
    }

    #[test]
    fn parses_unpack_limits() {
        let c: BurrowConfig =
            toml::from_str("[storage]\nmax_unpack_ratio = 0\nmin_free = \"10G\"\n").unwrap();
        assert_eq!(
            c.storage.unpack_limits(),
            UnpackLimits {
                max_ratio: 0,
                min_free: MinFree::Bytes(10 << 30)
            }
        );
        let c: BurrowConfig = toml::from_str("[storage]\nmin_free = 1048576\n").unwrap();
        assert_eq!(c.storage.min_free, MinFree::Bytes(1 << 20));
        let c: BurrowConfig = toml::from_str("[storage]\nmin_free = \"2%\"\n").unwrap();
        assert_eq!(c.storage.min_free, MinFree::Percent(2));
        for bad in [
            "min_free = \"lots\"",
            "min_free = -1",
            "min_free = \"120%\"",
            "max_unpack_ratio = -5",
            "max_unpack_ratio = \"100\"",
        ] {
            let e = toml::from_str::<BurrowConfig>(&format!("[storage]\n{bad}\n"))
                .expect_err(bad)
                .to_string();
            let key = bad.split(' ').next().unwrap();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }
}
