//! Probe: does kernel overlayfs work inside our user namespace?
//!
//! Rootless kernel overlay needs a kernel that allows it in user namespaces
//! (5.11+) and the `userxattr` option (5.11+) so that opaque dirs and
//! redirects are stored as user.* xattrs; whiteouts are 0:0 character devices,
//! which a user namespace may create since 5.8. The probe does all of it for
//! real in a scratch directory under the data root, on the file system the
//! store will use.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::paths::{Paths, create_private_dir};
use crate::userns::{IdMap, UserIdentity, run_in_userns};

/// Ok if overlay with whiteouts works in a user namespace, else the failing
/// step and its reason in one line.
///
/// Forks: call it before any thread is started.
pub fn probe_overlay(paths: &Paths) -> Result<(), String> {
    create_private_dir(&paths.root).map_err(|e| e.to_string())?;
    let scratch = tempfile::Builder::new()
        .prefix(".overlay-probe-")
        .tempdir_in(&paths.root)
        .map_err(|e| {
            format!(
                "cannot create a scratch directory in {}: {e}",
                paths.root.display()
            )
        })?;
    let dir = scratch.path();
    let setup = || -> std::io::Result<()> {
        for d in ["lower/dir", "upper", "work", "merged", "plain"] {
            fs::create_dir_all(dir.join(d))?;
        }
        fs::write(dir.join("lower/file"), "lower")?;
        fs::write(dir.join("lower/dir/inner"), "lower")
    };
    setup().map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;

    let user = UserIdentity::current().map_err(|e| e.to_string())?;
    let (map, _) = IdMap::for_user(&user);
    let (mut reader, writer) = std::io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let code = run_in_userns(&map, || {
        let mut writer = &writer;
        match probe_inside(dir) {
            Ok(()) => 0,
            Err(msg) => {
                let _ = writer.write_all(msg.as_bytes());
                1
            }
        }
    });
    drop(writer);
    let mut msg = String::new();
    let _ = reader.read_to_string(&mut msg);
    let result = match code {
        Ok(0) => Ok(()),
        Ok(_) if !msg.is_empty() => Err(msg),
        Ok(code) => Err(format!("the probe process exited with code {code}")),
        Err(e) => Err(e.to_string()),
    };
    remove_scratch(dir);
    result
}

/// Runs as root in the new user namespace.
fn probe_inside(dir: &Path) -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot create a mount namespace: {e}"))?;
    // Keep the probe mount from propagating to the host's shared mounts.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make / private: {e}"))?;
    // Relative paths: the data root may contain ',' or ':', which would
    // split the option string.
    std::env::set_current_dir(dir).map_err(|e| format!("cannot enter {}: {e}", dir.display()))?;
    mount(
        Some("overlay"),
        "merged",
        Some("overlay"),
        MsFlags::empty(),
        Some("lowerdir=lower,upperdir=upper,workdir=work,userxattr"),
    )
    .map_err(|e| format!("mount -t overlay -o userxattr failed: {e}"))?;
    let checks = overlay_semantics();
    let _ = umount2("merged", MntFlags::MNT_DETACH);
    checks?;
    // Unpacking a layer for kernel overlay writes whiteouts itself.
    mknod(
        "plain/.wh",
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o600),
        makedev(0, 0),
    )
    .map_err(|e| format!("cannot create a whiteout device (mknod c 0 0): {e}"))?;
    Ok(())
}

fn overlay_semantics() -> Result<(), String> {
    let lower = fs::read_to_string("merged/file")
        .map_err(|e| format!("cannot read through overlay: {e}"))?;
    if lower != "lower" {
        return Err("overlay shows wrong lower content".into());
    }
    fs::write("merged/new", "upper").map_err(|e| format!("cannot write through overlay: {e}"))?;
    fs::remove_file("merged/file").map_err(|e| format!("cannot delete a lower file: {e}"))?;
    if Path::new("merged/file").exists() {
        return Err("a deleted lower file is still visible".into());
    }
    let wh =
        fs::symlink_metadata("upper/file").map_err(|e| format!("no whiteout in upperdir: {e}"))?;
    if !wh.file_type().is_char_device() || wh.rdev() != 0 {
        return Err("the whiteout in upperdir is not a 0:0 character device".into());
    }
    // Replacing a lower directory makes it opaque (a user.overlay.opaque
    // xattr with userxattr).
    fs::remove_dir_all("merged/dir")
        .map_err(|e| format!("cannot delete a lower directory: {e}"))?;
    fs::create_dir("merged/dir").map_err(|e| format!("cannot recreate a directory: {e}"))?;
    if Path::new("merged/dir/inner").exists() {
        return Err("an opaque directory still shows lower entries".into());
    }
    Ok(())
}

/// Overlay leaves its work dir with mode 000; make everything removable.
fn remove_scratch(dir: &Path) {
    if fs::remove_dir_all(dir).is_ok() {
        return;
    }
    fn open_up(p: &Path) {
        if !fs::symlink_metadata(p).is_ok_and(|md| md.is_dir()) {
            return;
        }
        let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                open_up(&e.path());
            }
        }
    }
    open_up(dir);
    let _ = fs::remove_dir_all(dir);
}
