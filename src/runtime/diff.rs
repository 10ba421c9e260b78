//! `diff`: what a container changed in its root, read from its overlay
//! upper directory (kernel overlay or fuse-overlayfs) against the image's
//! layers, in Docker's terms: A(dded), C(hanged), D(eleted).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    Added,
    Changed,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Changed => 'C',
            Kind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// Absolute path in the container.
    pub path: String,
    pub kind: Kind,
}

/// An overlay whiteout: a character device 0/0.
pub(crate) fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// fuse-overlayfs marks deletions with `.wh.NAME` files where it cannot
/// make devices, and opaque directories with `.wh..wh..opq`.
const WH_PREFIX: &str = ".wh.";

/// Opaque-directory markers (fuse-overlayfs writes both spellings).
pub(crate) fn is_opaque_marker(name: &str) -> bool {
    name == ".wh..wh..opq" || name == ".wh..opq"
}

/// Whether `rel` exists in the image: the top layer that has it (or a
/// whiteout for it) decides.
pub(crate) fn in_image(lowers: &[PathBuf], rel: &Path) -> bool {
    for l in lowers {
        match fs::symlink_metadata(l.join(rel)) {
            Ok(m) => return !is_whiteout(&m),
            Err(_) => continue,
        }
    }
    false
}

/// Files burrow itself adds as mount points when the image lacks them:
/// not the container's changes (Docker hides them too).
pub const MOUNT_POINTS: [&str; 7] = [
    "/run/.containerenv",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev",
    "/proc",
    "/sys",
];

/// The changes of the container whose upper directory is `upper`, over the
/// image layers `lowers` (top first), sorted by path; added `mount_points`
/// (made by burrow to mount something there) are left out.
pub fn changes(
    upper: &Path,
    lowers: &[PathBuf],
    mount_points: &[String],
) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(upper, Path::new(""), lowers, &mut out)?;
    let hidden = |c: &Change| {
        c.kind == Kind::Added
            && (MOUNT_POINTS.contains(&c.path.as_str()) || mount_points.contains(&c.path))
    };
    let removed: Vec<String> = out
        .iter()
        .filter(|c| hidden(c))
        .map(|c| c.path.clone())
        .collect();
    out.retain(|c| !hidden(c));
    // A directory changed only by a hidden mount point made in it is
    // unchanged too (/run for /run/.containerenv).
    let kept: Vec<String> = out.iter().map(|c| c.path.clone()).collect();
    out.retain(|c| {
        let below = format!("{}/", c.path);
        let only_hidden = c.kind == Kind::Changed
            && removed.iter().any(|r| r.starts_with(&below))
            && !kept.iter().any(|k| k.starts_with(&below));
        !only_hidden
    });
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(upper: &Path, rel: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> io::Result<()> {
    let dir = upper.join(rel);
    let mut entries: Vec<_> = fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name_str = name.to_string_lossy();
        if is_opaque_marker(&name_str) {
            continue;
        }
        let m = fs::symlink_metadata(e.path())?;
        if let Some(deleted) = name_str.strip_prefix(WH_PREFIX) {
            out.push(Change {
                path: format!("/{}", rel.join(deleted).display()),
                kind: Kind::Deleted,
            });
            continue;
        }
        let r = rel.join(&name);
        let path = format!("/{}", r.display());
        if is_whiteout(&m) {
            out.push(Change {
                path,
                kind: Kind::Deleted,
            });
            continue;
        }
        let kind = if in_image(lowers, &r) {
            Kind::Changed
        } else {
            Kind::Added
        };
        out.push(Change { path, kind });
        if m.is_dir() {
            if kind == Kind::Added {
                // Everything below a new directory is new too.
                walk_added(upper, &r, out)?;
            } else {
                walk(upper, &r, lowers, out)?;
            }
        }
    }
    Ok(())
}

fn walk_added(upper: &Path, rel: &Path, out: &mut Vec<Change>) -> io::Result<()> {
    for e in fs::read_dir(upper.join(rel))? {
        let e = e?;
        if is_opaque_marker(&e.file_name().to_string_lossy()) {
            continue;
        }
        let r = rel.join(e.file_name());
        out.push(Change {
            path: format!("/{}", r.display()),
            kind: Kind::Added,
        });
        if e.file_type()?.is_dir() {
            walk_added(upper, &r, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_changed_and_deleted() {
        let t = tempfile::tempdir().unwrap();
        let lower = t.path().join("lower");
        let upper = t.path().join("upper");
        for d in ["etc", "tmp", "gone"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::write(lower.join("etc/hosts"), "x").unwrap();
        fs::write(lower.join("etc/old"), "x").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("new/deep")).unwrap();
        fs::write(upper.join("etc/hosts"), "y").unwrap();
        fs::write(upper.join("new/deep/f"), "").unwrap();
        // fuse-overlayfs style deletions (a 0/0 device needs privileges).
        fs::write(upper.join(".wh.gone"), "").unwrap();
        fs::write(upper.join("etc/.wh.old"), "").unwrap();
        fs::write(upper.join("etc/resolv.conf"), "").unwrap();
        let got: Vec<(char, String)> = changes(&upper, &[lower], &[])
            .unwrap()
            .into_iter()
            .map(|c| (c.kind.letter(), c.path))
            .collect();
        let want: Vec<(char, String)> = [
            ('C', "/etc"),
            ('C', "/etc/hosts"),
            ('D', "/etc/old"),
            ('D', "/gone"),
            ('A', "/new"),
            ('A', "/new/deep"),
            ('A', "/new/deep/f"),
        ]
        .iter()
        .map(|(k, p)| (*k, p.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_directory_changed_only_by_a_mount_point_is_unchanged() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        fs::create_dir_all(lower.join("run")).unwrap();
        fs::create_dir_all(lower.join("tmp")).unwrap();
        fs::create_dir_all(upper.join("run")).unwrap();
        fs::create_dir_all(upper.join("tmp")).unwrap();
        fs::write(upper.join("run/.containerenv"), "").unwrap();
        fs::write(upper.join("tmp/.containerenv"), "").unwrap();
        let got: Vec<String> = changes(&upper, &[lower], &[])
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        assert_eq!(got, ["C /tmp", "A /tmp/.containerenv"]);
    }
}
