//! A container's changes as an OCI layer: the tar of its overlay upper
//! directory (kernel overlay or fuse-overlayfs), with overlay whiteouts
//! turned into OCI `.wh.` entries and opaque directories into
//! `.wh..wh..opq` (for `commit` and each step of `build`).
//!
//! Entries are written in name order with their ids as the user namespace
//! sees them, so the same changes give the same tar; with a timestamp
//! every mtime is clamped to it (reproducible layers).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::diff::{MOUNT_POINTS, in_image, is_opaque_marker, is_whiteout};

const WH_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Write the layer tar of `upper` (over the image layers `lowers`, top
/// first) to `out`. Mount points burrow added (`/etc/hosts`, ... and
/// `mount_points`) are left out when the image lacks them.
pub fn write_upper_tar(
    upper: &Path,
    lowers: &[PathBuf],
    mount_points: &[String],
    mtime_clamp: Option<u64>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut w = LayerWriter {
        tar: tar::Builder::new(out),
        links: HashMap::new(),
        clamp: mtime_clamp,
    };
    w.tar.mode(tar::HeaderMode::Complete);
    let skip: Vec<PathBuf> = MOUNT_POINTS
        .iter()
        .map(|s| s.to_string())
        .chain(mount_points.iter().cloned())
        .map(|p| PathBuf::from(p.trim_start_matches('/')))
        .filter(|rel| !in_image(lowers, rel))
        .collect();
    w.walk(upper, Path::new(""), &skip)?;
    w.tar.finish()
}

struct LayerWriter<'a> {
    tar: tar::Builder<&'a mut dyn Write>,
    /// (dev, inode) of regular files with several links → first path.
    links: HashMap<(u64, u64), PathBuf>,
    clamp: Option<u64>,
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the given size.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

fn is_opaque(path: &Path) -> bool {
    ["user.overlay.opaque", "trusted.overlay.opaque"]
        .iter()
        .any(|k| xattr(path, k).as_deref() == Some(b"y"))
}

impl LayerWriter<'_> {
    fn header(&self, m: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(u64::from(m.uid()));
        h.set_gid(u64::from(m.gid()));
        let mtime = m.mtime().max(0) as u64;
        h.set_mtime(self.clamp.map_or(mtime, |c| mtime.min(c)));
        h.set_size(0);
        h
    }

    fn walk(&mut self, upper: &Path, rel: &Path, skip: &[PathBuf]) -> io::Result<()> {
        let mut entries: Vec<_> = fs::read_dir(upper.join(rel))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let name_str = name.to_string_lossy();
            let r = rel.join(&name);
            if skip.contains(&r) {
                continue;
            }
            let path = e.path();
            let m = fs::symlink_metadata(&path)?;
            if is_whiteout(&m) {
                // A kernel overlay whiteout: the file is deleted.
                let mut h = self.header(&m, tar::EntryType::Regular);
                h.set_mode(0o600);
                self.tar.append_data(
                    &mut h,
                    rel.join(format!("{WH_PREFIX}{name_str}")),
                    io::empty(),
                )?;
                continue;
            }
            if is_opaque_marker(&name_str) || name_str.starts_with(WH_PREFIX) {
                // fuse-overlayfs writes the OCI markers themselves.
                let mut h = self.header(&m, tar::EntryType::Regular);
                let marker = if is_opaque_marker(&name_str) {
                    rel.join(OPAQUE)
                } else {
                    r.clone()
                };
                self.tar.append_data(&mut h, marker, io::empty())?;
                continue;
            }
            let ft = m.file_type();
            if ft.is_dir() {
                let mut h = self.header(&m, tar::EntryType::Directory);
                self.tar.append_data(&mut h, &r, io::empty())?;
                if is_opaque(&path) {
                    let mut h = self.header(&m, tar::EntryType::Regular);
                    h.set_mode(0o600);
                    self.tar.append_data(&mut h, r.join(OPAQUE), io::empty())?;
                }
                self.walk(upper, &r, skip)?;
            } else if ft.is_symlink() {
                let mut h = self.header(&m, tar::EntryType::Symlink);
                let target = fs::read_link(&path)?;
                self.tar.append_link(&mut h, &r, target)?;
            } else if ft.is_file() {
                if m.nlink() > 1 {
                    let key = (m.dev(), m.ino());
                    if let Some(first) = self.links.get(&key) {
                        let mut h = self.header(&m, tar::EntryType::Link);
                        let first = first.clone();
                        self.tar.append_link(&mut h, &r, first)?;
                        continue;
                    }
                    self.links.insert(key, r.clone());
                }
                if let Some(cap) = xattr(&path, "security.capability") {
                    self.tar.append_pax_extensions([(
                        "SCHILY.xattr.security.capability",
                        cap.as_slice(),
                    )])?;
                }
                let mut h = self.header(&m, tar::EntryType::Regular);
                h.set_size(m.len());
                let file = fs::File::open(&path)?;
                self.tar.append_data(&mut h, &r, file)?;
            } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
                let kind = if ft.is_fifo() {
                    tar::EntryType::Fifo
                } else if ft.is_char_device() {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = self.header(&m, kind);
                let rdev = m.rdev();
                h.set_device_major(libc::major(rdev))?;
                h.set_device_minor(libc::minor(rdev))?;
                self.tar.append_data(&mut h, &r, io::empty())?;
            }
            // Sockets are not part of a layer.
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn changes_become_a_layer_with_oci_whiteouts() {
        let upper = tempfile::tempdir().unwrap();
        let lower = tempfile::tempdir().unwrap();
        let u = upper.path();
        fs::create_dir_all(u.join("app/sub")).unwrap();
        fs::write(u.join("app/sub/a.txt"), "a").unwrap();
        fs::hard_link(u.join("app/sub/a.txt"), u.join("app/b.txt")).unwrap();
        std::os::unix::fs::symlink("sub/a.txt", u.join("app/link")).unwrap();
        // fuse-overlayfs style markers pass through.
        fs::write(u.join(".wh.gone"), "").unwrap();
        fs::create_dir(u.join("opaque")).unwrap();
        fs::write(u.join("opaque/.wh..wh..opq"), "").unwrap();
        // A mount point burrow made (not in the image) is left out; one the
        // image has is a change like any other.
        fs::create_dir(u.join("etc")).unwrap();
        fs::write(u.join("etc/hosts"), "").unwrap();
        fs::write(u.join("etc/resolv.conf"), "x").unwrap();
        fs::create_dir(lower.path().join("etc")).unwrap();
        fs::write(lower.path().join("etc/resolv.conf"), "").unwrap();
        let mut out = Vec::new();
        write_upper_tar(u, &[lower.path().to_path_buf()], &[], Some(0), &mut out).unwrap();
        assert_eq!(
            names(&out),
            [
                ".wh.gone",
                "app",
                "app/b.txt",
                "app/link",
                "app/sub",
                "app/sub/a.txt",
                "etc",
                "etc/resolv.conf",
                "opaque",
                "opaque/.wh..wh..opq",
            ]
        );
        let mut a = tar::Archive::new(out.as_slice());
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 0, "clamped");
            let p = e.path().unwrap().display().to_string();
            if p == "app/sub/a.txt" {
                assert_eq!(e.header().entry_type(), tar::EntryType::Link);
                assert_eq!(
                    e.link_name().unwrap().unwrap().display().to_string(),
                    "app/b.txt"
                );
            }
            if p == "app/link" {
                assert_eq!(e.header().entry_type(), tar::EntryType::Symlink);
            }
        }
        // The same changes give the same bytes.
        let mut again = Vec::new();
        write_upper_tar(u, &[lower.path().to_path_buf()], &[], Some(0), &mut again).unwrap();
        assert_eq!(out, again);
    }
}
