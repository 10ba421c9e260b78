//! What a volume mount does to the volume's files in the container's
//! setup, as root of its user namespace: Docker's copy-up (the image's
//! content at the mount point copied into a new volume, with its owners,
//! modes, times, extended attributes, symlinks and hard links as the
//! container sees them) and Podman's `:U` (the volume given to the
//! container's user).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, lchown};
use std::path::Path;

use crate::storage::volumes::copy_up_marker;

/// Copy `from` (the image's directory, in the container's root) into the
/// volume directory `data`, if the volume still waits for its first
/// copy-up and is empty. The marker goes either way: the first mount
/// decides, as in Podman. Two containers starting at once take turns on
/// the marker's lock, and the second finds it gone.
pub fn copy_up(from: &Path, data: &Path) -> io::Result<()> {
    let marker = copy_up_marker(data);
    let f = match File::open(&marker) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    f.lock()?;
    if !marker.exists() {
        return Ok(());
    }
    let is_dir = fs::symlink_metadata(from).is_ok_and(|m| m.is_dir());
    if is_dir && fs::read_dir(data)?.next().is_none() {
        let mut links = HashMap::new();
        copy_dir_contents(from, data, &mut links)?;
        // The volume's root takes the directory's owner and mode: a
        // non-root image user can write where the image let it.
        copy_attributes(from, data, &fs::symlink_metadata(from)?)?;
    }
    match fs::remove_file(&marker) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn copy_dir_contents(
    from: &Path,
    to: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let md = fs::symlink_metadata(&src)?;
        let ft = md.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst)?;
            copy_dir_contents(&src, &dst, links)?;
            copy_attributes(&src, &dst, &md)?;
            continue;
        }
        if md.nlink() > 1 && !ft.is_symlink() {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &dst)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), dst.clone());
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst)?;
        } else if ft.is_fifo() {
            nix::unistd::mkfifo(&dst, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(io::Error::from)?;
        } else {
            // Devices and sockets cannot be made in a user namespace, and
            // a socket is no content.
            log::debug!("copy-up skips {}: not a file", src.display());
            continue;
        }
        copy_attributes(&src, &dst, &md)?;
    }
    Ok(())
}

/// Owner, then mode (a chown clears set-id bits), extended attributes and
/// times of `src` onto `dst` (not followed when a symlink).
fn copy_attributes(src: &Path, dst: &Path, md: &fs::Metadata) -> io::Result<()> {
    lchown(dst, Some(md.uid()), Some(md.gid()))?;
    let symlink = md.file_type().is_symlink();
    if !symlink {
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    copy_xattrs(src, dst);
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: md.atime(),
            tv_nsec: md.atime_nsec() as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: md.mtime(),
            tv_nsec: md.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        dst,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(io::Error::from)
}

/// Best effort: an attribute the volume's filesystem or the namespace
/// refuses (a `trusted.` one, say) is left out, as a copy by cp -a would.
fn copy_xattrs(src: &Path, dst: &Path) {
    let mut names = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(src, &mut names) else {
        return;
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        let mut value = vec![0u8; 65536];
        let Ok(len) = rustix::fs::lgetxattr(src, &cname, &mut value) else {
            continue;
        };
        if let Err(e) =
            rustix::fs::lsetxattr(dst, &cname, &value[..len], rustix::fs::XattrFlags::empty())
        {
            log::debug!(
                "copy-up leaves out {} of {}: {e}",
                String::from_utf8_lossy(name),
                src.display()
            );
        }
    }
}

/// Give `path` and everything below it to `uid`:`gid` (symlinks
/// themselves, not followed; mounts below are not crossed).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let root_dev = fs::symlink_metadata(path)?.dev();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = fs::symlink_metadata(&p)?;
        if md.dev() != root_dev {
            continue;
        }
        if md.uid() != uid || md.gid() != gid {
            lchown(&p, Some(uid), Some(gid))?;
            // chown clears set-id bits of files: put them back.
            if md.is_file() && md.mode() & 0o6000 != 0 {
                fs::set_permissions(&p, fs::Permissions::from_mode(md.mode() & 0o7777))?;
            }
        }
        if md.is_dir() {
            for e in fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_once_into_an_empty_volume() {
        let t = tempfile::tempdir().unwrap();
        let from = t.path().join("image/data");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/f"), "x").unwrap();
        fs::set_permissions(from.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(from.join("sub/f"), from.join("g")).unwrap();
        std::os::unix::fs::symlink("sub/f", from.join("l")).unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o751)).unwrap();
        let vol = t.path().join("vol");
        let data = vol.join("_data");
        fs::create_dir_all(&data).unwrap();
        File::create(vol.join("copy-up")).unwrap();
        copy_up(&from, &data).unwrap();
        assert_eq!(fs::read_to_string(data.join("sub/f")).unwrap(), "x");
        assert_eq!(fs::read_link(data.join("l")).unwrap(), Path::new("sub/f"));
        let f = fs::metadata(data.join("sub/f")).unwrap();
        assert_eq!(f.mode() & 0o7777, 0o640);
        assert_eq!(f.ino(), fs::metadata(data.join("g")).unwrap().ino());
        assert_eq!(fs::metadata(&data).unwrap().mode() & 0o7777, 0o751);
        assert!(!vol.join("copy-up").exists());
        // Once only: what the volume holds now stays as it is.
        fs::remove_file(data.join("g")).unwrap();
        copy_up(&from, &data).unwrap();
        assert!(!data.join("g").exists());
    }

    #[test]
    fn a_volume_with_content_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let from = t.path().join("img");
        fs::create_dir(&from).unwrap();
        fs::write(from.join("a"), "image").unwrap();
        let data = t.path().join("v/_data");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("mine"), "").unwrap();
        File::create(t.path().join("v/copy-up")).unwrap();
        copy_up(&from, &data).unwrap();
        assert!(!data.join("a").exists());
        assert!(!t.path().join("v/copy-up").exists());
    }
}
