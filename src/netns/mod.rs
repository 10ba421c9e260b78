//! Network backends for rootless containers. For now: finding which user-mode
//! network helper is installed, and whether /dev/net/tun can be used (both
//! pasta and slirp4netns create a tap device through it).

pub mod helper;
pub mod link;
pub mod members;
pub mod network;
pub mod pasta;
pub mod ports;
pub mod shared;
pub mod slirp;

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::userns::find_host_program;

/// The user-mode network helpers burrow can drive, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkBackend {
    /// pasta (package passt): faster, and maps ports without a proxy.
    Pasta,
    /// slirp4netns: the older helper.
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

impl std::fmt::Display for NetworkBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.program())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(
        "no network backend found: install passt (provides pasta) or slirp4netns (apt-get install passt)"
    )]
    NoBackend,
    #[error("cannot run {}: {source}", path.display())]
    Run { path: PathBuf, source: io::Error },
}

/// The backend to use: pasta if installed, else slirp4netns; with its path
/// and version.
pub fn detect() -> Result<(NetworkBackend, PathBuf, String), NetnsError> {
    detect_with(find_host_program)
}

fn detect_with(
    find: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(NetworkBackend, PathBuf, String), NetnsError> {
    for backend in [NetworkBackend::Pasta, NetworkBackend::Slirp4netns] {
        if let Some(path) = find(backend.program()) {
            let version = program_version(&path, backend.program())?;
            return Ok((backend, path, version));
        }
    }
    Err(NetnsError::NoBackend)
}

/// The version a program reports with `--version`: its first line (or the
/// first naming the program) without
/// the program name and the word "version" (`slirp4netns version 1.2.0` →
/// `1.2.0`; Debian's pasta says `pasta unknown version`, kept as
/// `unknown version`).
pub fn program_version(path: &Path, name: &str) -> Result<String, NetnsError> {
    let out = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| NetnsError::Run {
            path: path.to_path_buf(),
            source,
        })?;
    // Some tools print their version on stderr.
    let text = if out.stdout.iter().any(|b| !b.is_ascii_whitespace()) {
        out.stdout
    } else {
        out.stderr
    };
    Ok(version_from_first_line(
        &String::from_utf8_lossy(&text),
        name,
    ))
}

fn version_from_first_line(text: &str, name: &str) -> String {
    // fuse-overlayfs prints fusermount3's version before its own.
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines
        .clone()
        .find(|l| l.starts_with(name))
        .or_else(|| lines.next())
        .unwrap_or("");
    let rest = line.strip_prefix(name).map(str::trim_start).unwrap_or(line);
    let rest = rest.strip_prefix(':').map(str::trim_start).unwrap_or(rest);
    let rest = rest
        .strip_prefix("version")
        .map(str::trim_start)
        .unwrap_or(rest);
    if rest.is_empty() {
        "unknown version".to_string()
    } else {
        rest.to_string()
    }
}

/// Whether /dev/net/tun can be opened read-write by this user.
pub fn tun_usable() -> Result<(), String> {
    tun_usable_at(Path::new("/dev/net/tun"))
}

fn tun_usable_at(path: &Path) -> Result<(), String> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "{} does not exist: load the tun module as root (modprobe tun)",
            path.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(format!(
            "{} is not usable ({e}): run `chmod 666 {}` as root (the distribution default)",
            path.display(),
            path.display()
        )),
        Err(e) => Err(format!("{} is not usable: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_pasta_then_slirp4netns_then_fails() {
        let sh = find_host_program("sh").unwrap();
        let both = |n: &str| (n == "pasta" || n == "slirp4netns").then(|| sh.clone());
        assert_eq!(detect_with(both).unwrap().0, NetworkBackend::Pasta);
        let slirp = |n: &str| (n == "slirp4netns").then(|| sh.clone());
        let (b, p, _) = detect_with(slirp).unwrap();
        assert_eq!((b, p), (NetworkBackend::Slirp4netns, sh.clone()));
        let err = detect_with(|_| None).unwrap_err().to_string();
        assert!(
            err.contains("passt (provides pasta) or slirp4netns"),
            "{err}"
        );
    }

    #[test]
    fn versions_are_cleaned() {
        assert_eq!(
            version_from_first_line("slirp4netns version 1.2.0\ncommit: x\n", "slirp4netns"),
            "1.2.0"
        );
        assert_eq!(
            version_from_first_line("pasta unknown version\nCopyright\n", "pasta"),
            "unknown version"
        );
        assert_eq!(
            version_from_first_line("pasta 2024_05_23.765eb0b\n", "pasta"),
            "2024_05_23.765eb0b"
        );
        assert_eq!(
            version_from_first_line("fuse-overlayfs: version 1.10\n", "fuse-overlayfs"),
            "1.10"
        );
        assert_eq!(version_from_first_line("\n", "x"), "unknown version");
        let fuse = "fusermount3 version: 3.14.0\nfuse-overlayfs: version 1.10\nFUSE library version 3.14.0\n";
        assert_eq!(version_from_first_line(fuse, "fuse-overlayfs"), "1.10");
    }

    #[test]
    fn this_machine_has_pasta() {
        let (backend, path, version) = detect().unwrap();
        assert_eq!(backend, NetworkBackend::Pasta);
        assert!(path.is_absolute());
        assert!(!version.is_empty());
    }

    #[test]
    fn tun_errors_name_the_fix() {
        let err = tun_usable_at(Path::new("/nonexistent/tun")).unwrap_err();
        assert!(err.contains("modprobe tun"), "{err}");
        if !nix::unistd::geteuid().is_root() {
            let t = tempfile::NamedTempFile::new().unwrap();
            std::fs::set_permissions(
                t.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o400),
            )
            .unwrap();
            let err = tun_usable_at(t.path()).unwrap_err();
            assert!(err.contains("chmod 666"), "{err}");
        }
    }
}
