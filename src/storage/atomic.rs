//! Crash-safe file replacement and tree removal.
//!
//! Readers of the store must never observe a half-written file, so every
//! metadata file is written beside its final name, flushed, and renamed over
//! it; the directory is then flushed so the rename itself survives a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Replace `path` with `bytes` atomically: temp file in the same directory,
/// fsync, rename, fsync of the directory. `mode` applies to the new file.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| StoreError::io("write", path, io::ErrorKind::InvalidInput.into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        unique_suffix()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        give_to_directory_owner(&f, dir);
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("write", path, e));
    }
    fsync_dir(dir)
}

/// A file written by root of a user namespace whose root is not the
/// store's owner (a `--userns=keep-id` container's monitor, root there as
/// a subordinate id) would belong to that id, unreadable for the user
/// outside: such files are given to the owner of their directory. Best
/// effort: without CAP_CHOWN over that owner nothing changes.
fn give_to_directory_owner(f: &File, dir: &Path) {
    let Ok(md) = fs::metadata(dir) else { return };
    if md.uid() == rustix::process::geteuid().as_raw() {
        return;
    }
    if let Err(e) = std::os::unix::fs::fchown(f, Some(md.uid()), Some(md.gid())) {
        log::debug!("cannot give a file in {} to its owner: {e}", dir.display());
    }
}

/// Open (creating) the lock file `path`: the file stays, its lock is what
/// counts.
pub fn open_lock(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Open the lock file `path` and wait for its exclusive lock, held until
/// the returned file is dropped.
pub fn lock(path: &Path) -> io::Result<File> {
    let f = open_lock(path)?;
    f.lock()?;
    Ok(f)
}

/// Flush a directory so that renames and creations inside it are durable.
pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync", dir, e))
}

/// A name fragment unlikely to collide between processes and threads.
pub(crate) fn unique_suffix() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

/// Remove a file or directory tree without following symlinks. Directories
/// are made owner-writable before their entries are removed: image layers
/// contain 0555 directories (and the caller is root in the user namespace,
/// owning every file), so a plain recursive remove would stop at them.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !md.is_dir() {
        return ignore_missing(fs::remove_file(path));
    }
    if md.mode() & 0o700 != 0o700 {
        fs::set_permissions(
            path,
            fs::Permissions::from_mode((md.mode() & 0o7777) | 0o700),
        )?;
    }
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        } else {
            ignore_missing(fs::remove_file(entry.path()))?;
        }
    }
    ignore_missing(fs::remove_dir(path))
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_file_replaces_atomically() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f.json");
        write_file(&p, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_file(&p, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        // No temp files left beside it.
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.json")]);
    }

    #[test]
    fn write_file_into_missing_dir_fails_cleanly() {
        let t = tempfile::tempdir().unwrap();
        let err = write_file(&t.path().join("nope/f"), b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains("nope/f"), "{err}");
    }

    #[test]
    fn remove_tree_handles_read_only_dirs() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("r");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a/link")).unwrap();
        fs::set_permissions(root.join("a/b"), fs::Permissions::from_mode(0o555)).unwrap();
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o500)).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert!(Path::new("/etc").is_dir());
    }
}
