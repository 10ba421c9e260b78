//! Userspace networking backends. burrow spawns the `pasta` (package
//! passt) or `slirp4netns` program on a container's network namespace, as
//! Podman does; no Rust binding to either exists. This module finds them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(
        "neither pasta nor slirp4netns is installed: install passt (provides pasta, e.g. `apt-get install passt`) or slirp4netns"
    )]
    NoBackend,
}

/// Which userspace network program is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkBackend {
    Pasta,
    Slirp4netns,
}

impl NetworkBackend {
    pub fn program(self) -> &'static str {
        match self {
            NetworkBackend::Pasta => "pasta",
            NetworkBackend::Slirp4netns => "slirp4netns",
        }
    }
}

/// A backend found on this host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Detected {
    pub backend: NetworkBackend,
    pub path: PathBuf,
    pub version: String,
}

/// pasta when installed (Podman 5's default), else slirp4netns.
pub fn detect() -> Result<Detected, NetnsError> {
    for backend in [NetworkBackend::Pasta, NetworkBackend::Slirp4netns] {
        if let Some(path) = find_program(backend.program()) {
            let version = program_version(&path);
            return Ok(Detected {
                backend,
                path,
                version,
            });
        }
    }
    Err(NetnsError::NoBackend)
}

/// The first line of `PROGRAM --version`, or "unknown".
pub fn program_version(path: &Path) -> String {
    Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// Look a program up on $PATH, then in the sbin directories distributions
/// put helpers in.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin", "/usr/bin", "/usr/sbin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// pasta and slirp4netns need /dev/net/tun readable and writable.
pub fn tun_usable() -> Result<(), String> {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "cannot open /dev/net/tun: {e}; as root run `chmod 666 /dev/net/tun` (distributions ship it 0666)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("surely-no-such-program-here").is_none());
    }
}
