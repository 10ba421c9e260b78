//! `cp`: files between the host and a container, as a tar stream between
//! two processes, one on each side (Docker's archive model).
//!
//! The container side runs inside the container's own view: a running
//! container's user and mount namespaces joined with setns(2), or for one
//! that is not running its root mounted privately and chrooted into. Paths
//! in the container therefore resolve only in the container's root, with
//! its symlinks, and can never reach the host. The host side treats the
//! stream as hostile: entry names may not climb out of the destination,
//! nor pass through symlinks the stream itself made.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Root(#[from] super::root::RootError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |err| CopyError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// Whose ids the archive records.
#[derive(Clone, Copy)]
pub enum Ids<'a> {
    /// As the producing side sees them.
    AsSeen,
    /// These, for every entry (`cp` into a container: root's, as Docker).
    Fixed(u32, u32),
    /// Translated (host ids to the container's, for `cp -a` into it).
    Mapped(&'a dyn Fn(u32, u32) -> (u32, u32)),
}

/// Write `src` (a file, directory tree or symlink) as a tar stream whose
/// entries all sit under one top-level name, the source's own.
/// `follow` follows `src` itself if it is a symlink (`-L`); links below
/// it are always kept as links.
pub fn write_tar(src: &Path, follow: bool, ids: Ids<'_>, out: impl Write) -> Result<(), CopyError> {
    let top: OsString = src
        .file_name()
        .map_or_else(|| OsString::from("root"), OsStr::to_os_string);
    let meta = if follow {
        fs::metadata(src)
    } else {
        fs::symlink_metadata(src)
    }
    .map_err(io_at(src))?;
    let mut b = tar::Builder::new(out);
    append(&mut b, src, Path::new(&top), &meta, ids, &[])?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io_at(src))
}

/// Write the whole root `/` (of the container the caller entered) as a tar
/// whose entries are named relative to it (`bin/sh`), as `docker export`
/// writes. The mount points in `mounted` (/proc, /dev, volumes, ...) are
/// kept, but not what is mounted on them.
pub fn write_root_tar(mounted: &[PathBuf], out: impl Write) -> Result<(), CopyError> {
    let root = Path::new("/");
    let mut b = tar::Builder::new(out);
    append_children(&mut b, root, Path::new(""), Ids::AsSeen, mounted)?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io_at(root))
}

/// The entries of directory `path`, in name order, under `name`.
fn append_children<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    ids: Ids<'_>,
    mounted: &[PathBuf],
) -> Result<(), CopyError> {
    let mut children: Vec<_> = fs::read_dir(path)
        .map_err(io_at(path))?
        .collect::<Result<_, _>>()
        .map_err(io_at(path))?;
    children.sort_by_key(|e| e.file_name());
    for e in children {
        let p = e.path();
        let m = fs::symlink_metadata(&p).map_err(io_at(&p))?;
        append(b, &p, &name.join(e.file_name()), &m, ids, mounted)?;
    }
    Ok(())
}

/// Append `path` as `name`; for paths in `mounted` only the entry itself
/// (an empty directory or file), not the mount's content.
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    meta: &fs::Metadata,
    ids: Ids<'_>,
    mounted: &[PathBuf],
) -> Result<(), CopyError> {
    let mount_point = mounted.iter().any(|m| m == path);
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let (uid, gid) = match ids {
        Ids::AsSeen => (meta.uid(), meta.gid()),
        Ids::Fixed(u, g) => (u, g),
        Ids::Mapped(f) => f(meta.uid(), meta.gid()),
    };
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    let ft = meta.file_type();
    let r = if ft.is_dir() {
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())
            .map_err(io_at(path))?;
        if mount_point {
            return Ok(());
        }
        return append_children(b, path, name, ids, mounted);
    } else if ft.is_file() && mount_point {
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())
    } else if ft.is_file() {
        let f = File::open(path).map_err(io_at(path))?;
        b.append_data(&mut h, name, f)
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(io_at(path))?;
        h.set_size(0);
        b.append_link(&mut h, name, target)
    } else if ft.is_fifo() {
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())
    } else {
        eprintln!(
            "WARN: skipping {}: devices and sockets are not copied",
            path.display()
        );
        Ok(())
    };
    r.map_err(io_at(path))
}

/// Where and how a tar stream lands.
pub struct Landing<'a> {
    /// The destination as the user gave it.
    pub dst: &'a Path,
    /// It ended with "/": it must be a directory.
    pub dst_is_dir: bool,
    /// The source ended with "/.": its contents, not itself.
    pub contents_only: bool,
    /// Keep the archive's ids (root of a user namespace); else the files
    /// belong to whoever extracts.
    pub preserve_owners: bool,
    /// A raw stream (`cp - CONTAINER:DIR`): its entries land in the
    /// destination directory as they are named.
    pub raw: bool,
}

/// Extract a stream written by [`write_tar`] (or, `raw`, any tar) at the
/// destination, with Docker's rules: into an existing directory under the
/// source's name (or its contents with "/."), onto an existing file, or as
/// a new file or directory whose parent exists.
pub fn read_tar(input: impl Read, to: &Landing<'_>) -> Result<(), CopyError> {
    let mut archive = tar::Archive::new(input);
    let mut target: Option<PathBuf> = None;
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    let entries = archive.entries().map_err(io_at(to.dst))?;
    for entry in entries {
        let mut entry = entry.map_err(io_at(to.dst))?;
        let name = entry.path().map_err(io_at(to.dst))?.into_owned();
        let parts = clean_components(&name)?;
        let kind = entry.header().entry_type();
        // Without `raw`, the first component is the source's own name.
        if !to.raw && parts.is_empty() {
            return Err(CopyError::Invalid(format!(
                "archive entry {name:?} has no name"
            )));
        }
        let root = match &target {
            Some(t) => t.clone(),
            None => {
                let t = if to.raw {
                    raw_target(to)?
                } else {
                    landing_target(to, kind.is_dir(), &parts[0])?
                };
                target = Some(t.clone());
                t
            }
        };
        let rest: &[OsString] = if to.raw { &parts } else { &parts[1..] };
        let path = rest.iter().fold(root.clone(), |p, c| p.join(c));
        check_parents(&root, rest)?;
        let header = entry.header();
        let mode = header.mode().map_err(io_at(&path))? & 0o7777;
        let (uid, gid) = (
            header.uid().map_err(io_at(&path))? as u32,
            header.gid().map_err(io_at(&path))? as u32,
        );
        let mtime = header.mtime().unwrap_or(0);
        let existing = fs::symlink_metadata(&path).ok();
        match kind {
            tar::EntryType::Directory => {
                match &existing {
                    Some(m) if m.is_dir() => {}
                    Some(_) => {
                        return Err(CopyError::Invalid(format!(
                            "cannot overwrite non-directory {} with a directory",
                            path.display()
                        )));
                    }
                    None => fs::create_dir(&path).map_err(io_at(&path))?,
                }
                if to.preserve_owners {
                    chown(&path, uid, gid)?;
                }
                // Modes last: a read-only directory would refuse its children.
                dirs.push((path, mode, mtime));
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                replace_non_dir(&path, existing.as_ref())?;
                let mut f = File::create(&path).map_err(io_at(&path))?;
                io::copy(&mut entry, &mut f).map_err(io_at(&path))?;
            }
            tar::EntryType::Symlink => {
                replace_non_dir(&path, existing.as_ref())?;
                let link = entry
                    .link_name()
                    .map_err(io_at(&path))?
                    .ok_or_else(|| CopyError::Invalid(format!("symlink {name:?} has no target")))?;
                std::os::unix::fs::symlink(&link, &path).map_err(io_at(&path))?;
            }
            tar::EntryType::Fifo => {
                replace_non_dir(&path, existing.as_ref())?;
                nix::sys::stat::mknod(&path, SFlag::S_IFIFO, Mode::from_bits_truncate(0o600), 0)
                    .map_err(|e| CopyError::Io {
                        path: path.clone(),
                        err: e.into(),
                    })?;
            }
            other => {
                eprintln!("WARN: skipping {name:?}: entries of type {other:?} are not copied");
                continue;
            }
        }
        if to.preserve_owners {
            chown(&path, uid, gid)?;
        }
        if kind != tar::EntryType::Symlink {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_at(&path))?;
        }
        set_mtime(&path, mtime);
    }
    // What follows the end-of-archive blocks (more zero blocks, record
    // padding) is read and dropped, so the writer never meets a closed pipe.
    let _ = io::copy(&mut archive.into_inner(), &mut io::sink());
    if target.is_none() && !to.raw {
        return Err(CopyError::Invalid(
            "nothing to copy: the archive is empty".into(),
        ));
    }
    for (path, mode, mtime) in dirs.into_iter().rev() {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_at(&path))?;
        set_mtime(&path, mtime);
    }
    Ok(())
}

/// The path components of an archive entry: only plain names (no "..",
/// no root), "." dropped.
fn clean_components(name: &Path) -> Result<Vec<OsString>, CopyError> {
    let mut out = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            _ => {
                return Err(CopyError::Invalid(format!(
                    "archive entry {name:?} leaves the destination"
                )));
            }
        }
    }
    Ok(out)
}

/// Every directory between `root` and an entry must be a real directory:
/// a symlink the stream made could lead anywhere.
fn check_parents(root: &Path, rest: &[OsString]) -> Result<(), CopyError> {
    let mut p = root.to_path_buf();
    for c in rest.iter().take(rest.len().saturating_sub(1)) {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            _ => {
                return Err(CopyError::Invalid(format!(
                    "{} is not a directory (an archive may not write through symlinks)",
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

fn replace_non_dir(path: &Path, existing: Option<&fs::Metadata>) -> Result<(), CopyError> {
    match existing {
        Some(m) if m.is_dir() => Err(CopyError::Invalid(format!(
            "cannot overwrite directory {} with a file",
            path.display()
        ))),
        Some(_) => fs::remove_file(path).map_err(io_at(path)),
        None => Ok(()),
    }
}

fn landing_target(
    to: &Landing<'_>,
    src_is_dir: bool,
    src_name: &OsStr,
) -> Result<PathBuf, CopyError> {
    let dst = to.dst;
    match fs::metadata(dst) {
        Ok(m) if m.is_dir() => Ok(if to.contents_only {
            dst.to_path_buf()
        } else {
            dst.join(src_name)
        }),
        Ok(_) if src_is_dir => Err(CopyError::Invalid(format!(
            "cannot copy a directory onto the file {}",
            dst.display()
        ))),
        Ok(_) if to.dst_is_dir => Err(CopyError::Invalid(format!(
            "{} is not a directory",
            dst.display()
        ))),
        Ok(_) => Ok(dst.to_path_buf()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if to.dst_is_dir && !src_is_dir {
                return Err(CopyError::Invalid(format!(
                    "directory {} does not exist",
                    dst.display()
                )));
            }
            let parent = dst
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !fs::metadata(parent).is_ok_and(|m| m.is_dir()) {
                return Err(CopyError::Invalid(format!(
                    "directory {} does not exist",
                    parent.display()
                )));
            }
            Ok(dst.to_path_buf())
        }
        Err(e) => Err(io_at(dst)(e)),
    }
}

fn raw_target(to: &Landing<'_>) -> Result<PathBuf, CopyError> {
    match fs::metadata(to.dst) {
        Ok(m) if m.is_dir() => Ok(to.dst.to_path_buf()),
        _ => Err(CopyError::Invalid(format!(
            "{} is not a directory: a tar stream is extracted into one",
            to.dst.display()
        ))),
    }
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), CopyError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io_at(path))
}

fn set_mtime(path: &Path, mtime: u64) {
    let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}

/// Join a running container's user and mount namespaces (its root becomes
/// ours) as its root user. The caller owns the user namespace.
pub fn enter_running(pid1: i32) -> Result<(), CopyError> {
    let open = |ns: &str| {
        let p = PathBuf::from(format!("/proc/{pid1}/ns/{ns}"));
        File::open(&p).map_err(|err| CopyError::Io { path: p, err })
    };
    let (user, mnt) = (open("user")?, open("mnt")?);
    for (f, flag, what) in [
        (&user, CloneFlags::CLONE_NEWUSER, "user"),
        (&mnt, CloneFlags::CLONE_NEWNS, "mount"),
    ] {
        nix::sched::setns(f.as_fd(), flag).map_err(|e| {
            CopyError::Invalid(format!("cannot join the container's {what} namespace: {e}"))
        })?;
    }
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .and_then(|()| nix::unistd::setresuid(0.into(), 0.into(), 0.into()))
        .map_err(|e| CopyError::Invalid(format!("cannot become root in the container: {e}")))?;
    nix::unistd::chdir("/").map_err(|e| CopyError::Invalid(format!("cannot enter /: {e}")))
}

/// Mount a stopped container's root privately and chroot into it. Call as
/// root of a user namespace with the container's map.
pub fn enter_stopped(spec: &super::ContainerSpec) -> Result<(), CopyError> {
    let root = super::root::mount_root_privately(spec)?;
    nix::unistd::chroot(&root)
        .and_then(|()| nix::unistd::chdir("/"))
        .map_err(|e| CopyError::Invalid(format!("cannot enter the container's root: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("d/sub")).unwrap();
        fs::write(root.join("d/a.txt"), "a").unwrap();
        fs::write(root.join("d/sub/b.sh"), "b").unwrap();
        fs::set_permissions(root.join("d/sub/b.sh"), fs::Permissions::from_mode(0o751)).unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("d/link")).unwrap();
        fs::write(root.join("f"), "file").unwrap();
    }

    fn copy(
        src: &Path,
        dst: &Path,
        dst_is_dir: bool,
        contents_only: bool,
    ) -> Result<(), CopyError> {
        let mut buf = Vec::new();
        write_tar(src, false, Ids::AsSeen, &mut buf)?;
        read_tar(
            &buf[..],
            &Landing {
                dst,
                dst_is_dir,
                contents_only,
                preserve_owners: false,
                raw: false,
            },
        )
    }

    #[test]
    fn docker_destination_rules() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        tree(&src);
        let out = t.path().join("out");
        fs::create_dir(&out).unwrap();
        // A directory into an existing directory lands under its name.
        copy(&src.join("d"), &out, false, false).unwrap();
        assert_eq!(fs::read_to_string(out.join("d/sub/b.sh")).unwrap(), "b");
        let mode = fs::metadata(out.join("d/sub/b.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o751);
        assert_eq!(
            fs::read_link(out.join("d/link")).unwrap(),
            Path::new("a.txt")
        );
        // To a new name: the directory itself, renamed.
        copy(&src.join("d"), &out.join("new"), false, false).unwrap();
        assert!(out.join("new/a.txt").is_file());
        // "/.": the contents.
        let merged = t.path().join("merged");
        fs::create_dir(&merged).unwrap();
        copy(&src.join("d"), &merged, false, true).unwrap();
        assert!(merged.join("a.txt").is_file() && !merged.join("d").exists());
        // Files: into a directory, onto a file, to a new name.
        copy(&src.join("f"), &out, false, false).unwrap();
        assert_eq!(fs::read_to_string(out.join("f")).unwrap(), "file");
        fs::write(out.join("g"), "old").unwrap();
        copy(&src.join("f"), &out.join("g"), false, false).unwrap();
        assert_eq!(fs::read_to_string(out.join("g")).unwrap(), "file");
        copy(&src.join("f"), &out.join("h"), false, false).unwrap();
        assert_eq!(fs::read_to_string(out.join("h")).unwrap(), "file");
        // Errors.
        let e = copy(&src.join("d"), &out.join("g"), false, false).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot copy a directory onto the file"),
            "{e}"
        );
        let e = copy(&src.join("f"), &out.join("nodir"), true, false).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = copy(&src.join("f"), &out.join("no/such/x"), false, false).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    fn hostile(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            if *kind == tar::EntryType::Symlink {
                h.set_size(0);
                h.set_link_name(data).unwrap();
                h.set_path(name).unwrap();
                h.set_cksum();
                b.append(&h, io::empty()).unwrap();
            } else {
                h.set_size(data.len() as u64);
                // set_path refuses "..": write the raw name.
                let raw = &mut h.as_old_mut().name;
                raw[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn the_whole_stream_is_read_even_after_the_archive_ends() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        tree(&src);
        let mut buf = Vec::new();
        write_tar(&src.join("f"), false, Ids::AsSeen, &mut buf).unwrap();
        // Record padding, as tar(1) writes it.
        buf.extend(std::iter::repeat_n(0u8, 10240));
        let mut input = io::Cursor::new(buf);
        let out = t.path().join("out");
        fs::create_dir(&out).unwrap();
        read_tar(
            &mut input,
            &Landing {
                dst: &out,
                dst_is_dir: false,
                contents_only: false,
                preserve_owners: false,
                raw: false,
            },
        )
        .unwrap();
        assert_eq!(input.position() as usize, input.get_ref().len());
    }

    #[test]
    fn hostile_archives_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        fs::create_dir(&out).unwrap();
        let land = Landing {
            dst: &out,
            dst_is_dir: false,
            contents_only: false,
            preserve_owners: false,
            raw: false,
        };
        let up = hostile(&[
            ("x", tar::EntryType::Directory, ""),
            ("x/../../evil", tar::EntryType::Regular, "no"),
        ]);
        let e = read_tar(&up[..], &land).unwrap_err();
        assert!(e.to_string().contains("leaves the destination"), "{e}");
        assert!(!t.path().join("evil").exists());
        let through = hostile(&[
            ("x", tar::EntryType::Directory, ""),
            ("x/l", tar::EntryType::Symlink, "/tmp"),
            ("x/l/evil", tar::EntryType::Regular, "no"),
        ]);
        let e = read_tar(&through[..], &land).unwrap_err();
        assert!(e.to_string().contains("through symlinks"), "{e}");
        assert!(!Path::new("/tmp/evil").exists());
    }
}
