//! Where burrow keeps its state.
//!
//! * data (images, layers, containers): `--root`, `$BURROW_ROOT`, else
//!   `$XDG_DATA_HOME/burrow` (`~/.local/share/burrow`);
//! * runtime state (pids, sockets, locks that must vanish on reboot):
//!   `--runroot`, else `$XDG_RUNTIME_DIR/burrow`, else `/tmp/burrow-$UID`
//!   (created mode 0700 and checked to be ours, since /tmp is shared);
//! * configuration: `$XDG_CONFIG_HOME/burrow`.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error("cannot determine the home directory: set $HOME or pass --root")]
    NoHome,
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(
        "runtime directory {path} belongs to uid {owner}, not to you (uid {uid}): remove it or pass --runroot"
    )]
    NotOwned { path: PathBuf, owner: u32, uid: u32 },
}

/// The three directory roots of one burrow invocation.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Persistent data: the image store and containers.
    pub root: PathBuf,
    /// Runtime state, gone after reboot.
    pub runroot: PathBuf,
    /// User configuration (`config.toml`).
    pub config_dir: PathBuf,
}

impl Paths {
    /// Resolve the roots from explicit overrides, then the environment.
    pub fn resolve(root: Option<PathBuf>, runroot: Option<PathBuf>) -> Result<Paths, PathsError> {
        let dirs = directories::BaseDirs::new();
        let root = match root.or_else(|| env_path("BURROW_ROOT")) {
            Some(r) => r,
            None => dirs
                .as_ref()
                .ok_or(PathsError::NoHome)?
                .data_dir()
                .join("burrow"),
        };
        let runroot = match runroot.or_else(|| env_path("BURROW_RUNROOT")) {
            Some(r) => r,
            None => default_runroot(),
        };
        let config_dir = match env_path("BURROW_CONFIG_DIR") {
            Some(c) => c,
            None => dirs
                .as_ref()
                .ok_or(PathsError::NoHome)?
                .config_dir()
                .join("burrow"),
        };
        Ok(Paths {
            root: absolute(root),
            runroot: absolute(runroot),
            config_dir,
        })
    }

    /// Create the data and runtime roots (0700) if missing.
    pub fn ensure(&self) -> Result<(), PathsError> {
        create_private_dir(&self.root)?;
        create_private_dir(&self.runroot)?;
        let uid = rustix::process::geteuid().as_raw();
        let md = fs::metadata(&self.runroot).map_err(|source| PathsError::Create {
            path: self.runroot.clone(),
            source,
        })?;
        if md.uid() != uid {
            return Err(PathsError::NotOwned {
                path: self.runroot.clone(),
                owner: md.uid(),
                uid,
            });
        }
        Ok(())
    }

    /// The user's burrow configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

fn default_runroot() -> PathBuf {
    if let Some(xdg) = env_path("XDG_RUNTIME_DIR") {
        // Only use it if it exists and is ours: sudo/su sessions often carry
        // another user's XDG_RUNTIME_DIR.
        if let Ok(md) = fs::metadata(&xdg)
            && md.uid() == rustix::process::geteuid().as_raw()
        {
            return xdg.join("burrow");
        }
    }
    PathBuf::from(format!(
        "/tmp/burrow-{}",
        rustix::process::geteuid().as_raw()
    ))
}

/// Create `path` and its parents; the last component gets mode 0700.
pub fn create_private_dir(path: &Path) -> Result<(), PathsError> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| PathsError::Create {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            Ok(())
        }
        Err(source) => Err(PathsError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_roots_win() {
        let p = Paths::resolve(Some("/x/data".into()), Some("/x/run".into())).unwrap();
        assert_eq!(p.root, PathBuf::from("/x/data"));
        assert_eq!(p.runroot, PathBuf::from("/x/run"));
    }

    #[test]
    fn ensure_creates_private_dirs() {
        let t = tempfile::tempdir().unwrap();
        let p = Paths::resolve(Some(t.path().join("d")), Some(t.path().join("r"))).unwrap();
        p.ensure().unwrap();
        let mode = fs::metadata(&p.runroot).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
