//! How a container's root filesystem is made from the image's layers:
//!
//! - `overlay`: kernel overlayfs mounted inside the user namespace (with
//!   `userxattr`), the fast path on kernels 5.11+;
//! - `fuse-overlayfs`: the `fuse-overlayfs` program, as Podman runs it, for
//!   kernels that refuse overlay in a user namespace, and for
//!   `--userns=keep-id`, whose id mapping it applies to every file on the
//!   fly (kernel overlay cannot be id-mapped without privileges);
//! - `vfs`: a plain copy of the layers, which works everywhere, slowly.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::userns::find_host_program;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("unknown storage driver {0:?}: use overlay, fuse-overlayfs or vfs")]
    UnknownDriver(String),
    #[error("the fuse-overlayfs storage driver cannot be used: {0}")]
    FuseUnusable(String),
    #[error(
        "--userns=keep-id cannot use the overlay storage driver (kernel overlay cannot map ids without privileges): use --storage-driver fuse-overlayfs or vfs"
    )]
    KeepIdOverlay,
    #[error("fuse-overlayfs failed ({status}): {stderr}")]
    FuseMount { status: String, stderr: String },
    #[error("cannot start fuse-overlayfs ({path}): {source}")]
    FuseSpawn { path: PathBuf, source: io::Error },
    #[error("copying the image into {}: {source}", path.display())]
    Copy { path: PathBuf, source: io::Error },
}

/// A way to make the root filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    Overlay,
    FuseOverlayfs,
    Vfs,
}

impl Driver {
    pub fn parse(s: &str) -> Result<Driver, RootfsError> {
        match s {
            "overlay" | "overlay2" => Ok(Driver::Overlay),
            "fuse-overlayfs" => Ok(Driver::FuseOverlayfs),
            "vfs" => Ok(Driver::Vfs),
            other => Err(RootfsError::UnknownDriver(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            Driver::Vfs => "vfs",
        }
    }
}

/// Whether fuse-overlayfs can run for this user: the program exists and
/// /dev/fuse may be opened (inside the user namespace the device's owner is
/// unmapped, so only its "other" permission counts, as it does here).
pub fn fuse_usable() -> Result<PathBuf, String> {
    let path = find_host_program("fuse-overlayfs")
        .ok_or("fuse-overlayfs is not installed (apt-get install fuse-overlayfs)")?;
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err("/dev/fuse does not exist: load the fuse module (modprobe fuse)".into())
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let mode = fs::metadata("/dev/fuse")
                .map(|m| format!("{:o}", m.permissions().mode() & 0o777))
                .unwrap_or_else(|_| "?".into());
            Err(format!(
                "/dev/fuse is not readable and writable by you (mode {mode}); distributions make it 0666 (udev, libfuse): run `sudo chmod 666 /dev/fuse`"
            ))
        }
        Err(e) => Err(format!("cannot open /dev/fuse: {e}")),
    }
}

/// The driver to use and, when it is a fallback, why (for a warning).
/// `overlay_works` runs the (cached) kernel overlay probe.
pub fn choose(
    requested: Option<Driver>,
    keep_id: bool,
    overlay_works: impl FnOnce() -> Result<(), String>,
) -> Result<(Driver, Option<String>), RootfsError> {
    match requested {
        Some(Driver::Overlay) if keep_id => Err(RootfsError::KeepIdOverlay),
        Some(Driver::FuseOverlayfs) => fuse_usable()
            .map(|_| (Driver::FuseOverlayfs, None))
            .map_err(RootfsError::FuseUnusable),
        Some(d) => Ok((d, None)),
        None if keep_id => match fuse_usable() {
            Ok(_) => Ok((Driver::FuseOverlayfs, None)),
            Err(why) => Ok((
                Driver::Vfs,
                Some(format!(
                    "--userns=keep-id: {why}; copying the image with its ids remapped instead (slow for big images)"
                )),
            )),
        },
        None => match overlay_works() {
            Ok(()) => Ok((Driver::Overlay, None)),
            Err(overlay_err) => match fuse_usable() {
                Ok(_) => Ok((
                    Driver::FuseOverlayfs,
                    Some(format!(
                        "kernel overlay unusable ({overlay_err}); using fuse-overlayfs"
                    )),
                )),
                Err(fuse_err) => Ok((
                    Driver::Vfs,
                    Some(format!(
                        "kernel overlay unusable ({overlay_err}) and {fuse_err}; copying images with the vfs driver (slow, uses disk)"
                    )),
                )),
            },
        },
    }
}

/// The kernel overlay probe, run once per kernel and remembered in
/// `cache` (under the runtime directory, so a reboot into another kernel
/// probes again).
pub fn cached_overlay_probe(
    cache: &Path,
    probe: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    if let Ok(text) = fs::read_to_string(cache)
        && let Some((kernel, result)) = text.split_once('\n')
        && kernel == release
    {
        return match result.strip_prefix("error: ") {
            Some(e) => Err(e.to_string()),
            None if result == "ok" => Ok(()),
            None => probe(),
        };
    }
    let result = probe();
    let line = match &result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("error: {}", e.replace('\n', " ")),
    };
    let tmp = cache.with_extension(format!("tmp-{}", std::process::id()));
    // Best effort: an unwritable cache only costs another probe.
    if fs::write(&tmp, format!("{release}\n{line}")).is_ok() && fs::rename(&tmp, cache).is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fuse-overlayfs's `uidmapping=` value (STORED:VIEW:LEN triples, stored
/// ids as its own namespace sees them) that shows a file stored as
/// default-map id `D(c)` as `c` inside a keep-id namespace where the user
/// is `id`; `total` is the number of mapped ids. In keep-id terms, stored
/// `id` is view 0, stored `0..id` are views `1..=id`, the rest unchanged.
pub fn keep_id_fuse_mapping(id: u32, total: u32) -> String {
    let mut parts = vec![format!("{id}:0:1"), format!("0:1:{id}")];
    if total > id + 1 {
        parts.push(format!("{}:{}:{}", id + 1, id + 1, total - id - 1));
    }
    parts.join(":")
}

/// The keep-id translation for a copied (vfs) root: the owner a copied
/// file must get so that the container sees it as the image made it.
pub fn keep_id_view(stored: u32, id: u32) -> u32 {
    if stored == id {
        0
    } else if stored < id {
        stored + 1
    } else {
        stored
    }
}

/// What fuse-overlayfs needs to mount one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuseMount {
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub target: PathBuf,
    /// `uidmapping=`/`gidmapping=` values for keep-id.
    pub mapping: Option<(String, String)>,
}

impl FuseMount {
    /// The program's arguments.
    pub fn args(&self) -> Vec<String> {
        let lowers: Vec<String> = self
            .lowers
            .iter()
            .map(|l| l.to_string_lossy().into_owned())
            .collect();
        let mut opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            self.upper.display(),
            self.work.display()
        );
        if let Some((u, g)) = &self.mapping {
            opts.push_str(&format!(",uidmapping={u},gidmapping={g}"));
        }
        vec![
            "-o".into(),
            opts,
            self.target.to_string_lossy().into_owned(),
        ]
    }

    /// Mount it: the program daemonizes once the file system is ready, so
    /// its first process's exit says whether it worked. Call as root of the
    /// user namespace in a mount namespace of its own.
    pub fn mount(&self) -> Result<(), RootfsError> {
        let path = fuse_usable().map_err(RootfsError::FuseUnusable)?;
        let out = Command::new(&path)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| RootfsError::FuseSpawn {
                path: path.clone(),
                source,
            })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        // fuse-overlayfs 1.10 complains about options it ignores.
        let stderr: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("unknown argument ignored"))
            .collect();
        Err(RootfsError::FuseMount {
            status: out.status.to_string(),
            stderr: stderr.join(" "),
        })
    }
}

/// Copy the layers (top first, as overlay's lowerdir) into `dest`, bottom
/// up, applying whiteouts and opaque directories; `owner` maps each
/// file's stored uid/gid (keep-id) or is None to keep them. Runs as root
/// of the user namespace, which owns every id involved.
pub fn copy_layers(
    lowers: &[PathBuf],
    dest: &Path,
    owner: Option<&dyn Fn(u32, u32) -> (u32, u32)>,
) -> Result<(), RootfsError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Copy { path, source }
    };
    fs::create_dir_all(dest).map_err(err(dest))?;
    for layer in lowers.iter().rev() {
        copy_tree(layer, dest, owner).map_err(err(dest))?;
    }
    if let Some(map) = owner {
        let m =
            fs::symlink_metadata(lowers.last().map_or(dest, |p| p.as_path())).map_err(err(dest))?;
        let (u, g) = map(m.uid(), m.gid());
        std::os::unix::fs::lchown(dest, Some(u), Some(g)).map_err(err(dest))?;
    }
    Ok(())
}

fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn copy_tree(
    src: &Path,
    dst: &Path,
    owner: Option<&dyn Fn(u32, u32) -> (u32, u32)>,
) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from)?;
        if is_whiteout(&meta) {
            remove_any(&to)?;
            continue;
        }
        let (uid, gid) = owner.map_or((meta.uid(), meta.gid()), |f| f(meta.uid(), meta.gid()));
        if meta.is_dir() {
            let opaque = xattr_get(&from, "user.overlay.opaque").as_deref() == Some(b"y");
            match fs::symlink_metadata(&to) {
                Ok(m) if m.is_dir() => {
                    if opaque {
                        for e in fs::read_dir(&to)? {
                            remove_any(&e?.path())?;
                        }
                    }
                }
                Ok(_) => {
                    fs::remove_file(&to)?;
                    fs::create_dir(&to)?;
                }
                Err(_) => fs::create_dir(&to)?,
            }
            copy_tree(&from, &to, owner)?;
            std::os::unix::fs::lchown(&to, Some(uid), Some(gid))?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            copy_xattrs(&from, &to)?;
            continue;
        }
        remove_any(&to)?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
            std::os::unix::fs::lchown(&to, Some(uid), Some(gid))?;
        } else if meta.is_file() {
            fs::copy(&from, &to)?;
            std::os::unix::fs::lchown(&to, Some(uid), Some(gid))?;
            // After the chown, which clears setuid bits.
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            copy_xattrs(&from, &to)?;
        }
        // Device nodes cannot be made in a user namespace; the unpacker
        // never stores them (only whiteouts, handled above).
    }
    Ok(())
}

fn xattr_get(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

/// user.* and security.capability attributes, as the unpacker stores them
/// (overlay's own user.overlay.* ones stay behind).
fn copy_xattrs(from: &Path, to: &Path) -> io::Result<()> {
    let p = std::ffi::CString::new(from.as_os_str().as_encoded_bytes())?;
    let mut names = vec![0u8; 4096];
    // SAFETY: valid C string and buffer.
    let len = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if len <= 0 {
        return Ok(());
    }
    names.truncate(len as usize);
    let q = std::ffi::CString::new(to.as_os_str().as_encoded_bytes())?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name_str = String::from_utf8_lossy(name);
        if name_str.starts_with("user.overlay.") {
            continue;
        }
        if let Some(value) = xattr_get(from, &name_str) {
            let n = std::ffi::CString::new(name)?;
            // SAFETY: valid C strings and value buffer.
            let r = unsafe {
                libc::lsetxattr(
                    q.as_ptr(),
                    n.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_parse() {
        assert_eq!(Driver::parse("overlay").unwrap(), Driver::Overlay);
        assert_eq!(Driver::parse("vfs").unwrap(), Driver::Vfs);
        assert_eq!(
            Driver::parse("fuse-overlayfs").unwrap(),
            Driver::FuseOverlayfs
        );
        assert!(
            Driver::parse("btrfs")
                .unwrap_err()
                .to_string()
                .contains("use overlay, fuse-overlayfs or vfs")
        );
    }

    #[test]
    fn choice() {
        let works = || Ok(());
        let broken = || Err("old kernel".to_string());
        assert_eq!(choose(None, false, works).unwrap(), (Driver::Overlay, None));
        assert_eq!(
            choose(Some(Driver::Vfs), false, broken).unwrap(),
            (Driver::Vfs, None)
        );
        assert!(matches!(
            choose(Some(Driver::Overlay), true, works),
            Err(RootfsError::KeepIdOverlay)
        ));
        let (d, warn) = choose(None, false, broken).unwrap();
        assert_ne!(d, Driver::Overlay);
        assert!(warn.unwrap().contains("old kernel"));
        let (d, _) = choose(None, true, works).unwrap();
        assert_ne!(d, Driver::Overlay);
    }

    #[test]
    fn keep_id_mappings() {
        assert_eq!(
            keep_id_fuse_mapping(1001, 65537),
            "1001:0:1:0:1:1001:1002:1002:64535"
        );
        assert_eq!(keep_id_fuse_mapping(3, 4), "3:0:1:0:1:3");
        // The vfs translation agrees with the fuse mapping.
        assert_eq!(keep_id_view(1001, 1001), 0);
        assert_eq!(keep_id_view(0, 1001), 1);
        assert_eq!(keep_id_view(1000, 1001), 1001);
        assert_eq!(keep_id_view(1002, 1001), 1002);
    }

    #[test]
    fn probe_results_are_cached_per_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("overlay.probe");
        assert_eq!(
            cached_overlay_probe(&cache, || Err("nope".into())),
            Err("nope".to_string())
        );
        assert_eq!(
            cached_overlay_probe(&cache, || panic!("probed again")),
            Err("nope".to_string())
        );
        let text = fs::read_to_string(&cache).unwrap();
        let other = text.replacen(text.lines().next().unwrap(), "0.0.0-other", 1);
        fs::write(&cache, other).unwrap();
        assert_eq!(cached_overlay_probe(&cache, || Ok(())), Ok(()));
        assert_eq!(
            cached_overlay_probe(&cache, || panic!("probed again")),
            Ok(())
        );
    }

    #[test]
    fn copies_layers_with_whiteouts_and_opaque_dirs() {
        let t = tempfile::tempdir().unwrap();
        let bottom = t.path().join("bottom");
        let top = t.path().join("top");
        fs::create_dir_all(bottom.join("etc")).unwrap();
        fs::create_dir_all(bottom.join("var/lib/old")).unwrap();
        fs::write(bottom.join("etc/gone"), "x").unwrap();
        fs::write(bottom.join("etc/kept"), "k").unwrap();
        std::os::unix::fs::symlink("kept", bottom.join("etc/link")).unwrap();
        fs::create_dir_all(top.join("var/lib/new")).unwrap();
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::write(top.join("etc/kept"), "new").unwrap();
        let opaque = top.join("var/lib");
        let p = std::ffi::CString::new(opaque.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid strings.
        let r = unsafe {
            libc::lsetxattr(
                p.as_ptr(),
                c"user.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        if r < 0 {
            // tmpfs without user xattrs: nothing to test here.
            return;
        }
        // A whiteout is a 0/0 character device: only root may make one,
        // so without it this part is left to the integration tests.
        let can_whiteout = nix::sys::stat::mknod(
            &top.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        )
        .is_ok();
        let dest = t.path().join("root");
        copy_layers(&[top.clone(), bottom.clone()], &dest, None).unwrap();
        assert_eq!(fs::read_to_string(dest.join("etc/kept")).unwrap(), "new");
        assert_eq!(
            fs::read_link(dest.join("etc/link")).unwrap(),
            Path::new("kept")
        );
        assert!(dest.join("var/lib/new").is_dir());
        assert!(
            !dest.join("var/lib/old").exists(),
            "opaque dir kept old entries"
        );
        assert_eq!(dest.join("etc/gone").exists(), !can_whiteout);
    }
}
