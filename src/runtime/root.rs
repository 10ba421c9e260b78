//! A container's root filesystem, made before its mount namespace: the
//! vfs driver's copy (once), the fuse-overlayfs mount (its daemon must not
//! live in the container's pid namespace); and a stopped container's root
//! mounted privately for `cp` and `diff`. The drivers' tools are in
//! [`super::rootfs`]; the kernel overlay is mounted by the plan.

use std::fs;
use std::io;
use std::path::PathBuf;

use nix::sched::{CloneFlags, unshare};

use nix::errno::Errno;

use super::rootfs::{
    Driver, FuseMount, RootfsError, copy_layers, keep_id_fuse_mapping, keep_id_view,
};
use super::spec::ContainerSpec;

#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("cannot prepare the container directory {}: {source}", dir.display())]
    Prepare { dir: PathBuf, source: io::Error },
    #[error("cannot create a mount namespace: {0}")]
    MountNamespace(Errno),
    #[error("cannot make / private: {0}")]
    MakePrivate(Errno),
    /// The vfs copy or the fuse-overlayfs mount failed.
    #[error(transparent)]
    Driver(#[from] RootfsError),
    #[error("cannot move the copied root into place: {0}")]
    MoveCopy(io::Error),
    #[error("cannot mount the container's root: {0}")]
    Mount(Errno),
}

/// The container's own directories: overlay upper and work, the root's
/// mount point, and the empty lower directory of an image without layers.
pub fn create_dirs(spec: &ContainerSpec) -> io::Result<()> {
    for d in [
        spec.upper(),
        spec.work(),
        spec.rootfs(),
        spec.dir.join("empty"),
    ] {
        fs::create_dir_all(&d)?;
    }
    Ok(())
}

/// The root of a container that is not running, mounted in a mount
/// namespace of the caller's own (for `cp` and `diff`): the overlay (kernel
/// or FUSE) as the container would have it, or the vfs copy. Call as root
/// of a user namespace with the container's id map, single-threaded.
pub fn mount_root_privately(spec: &ContainerSpec) -> Result<PathBuf, RootError> {
    create_dirs(spec).map_err(|source| RootError::Prepare {
        dir: spec.dir.clone(),
        source,
    })?;
    if spec.driver != Driver::FuseOverlayfs {
        private_mount_namespace()?;
    }
    make_root(spec)?;
    match spec.driver {
        Driver::Vfs => Ok(spec.vfs_root()),
        Driver::FuseOverlayfs => Ok(spec.rootfs()),
        Driver::Overlay => {
            let data =
                super::plan::overlay_options(&spec.overlay_lowers(), &spec.upper(), &spec.work());
            nix::mount::mount(
                Some("overlay"),
                &spec.rootfs(),
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(RootError::Mount)?;
            Ok(spec.rootfs())
        }
    }
}

/// A mount namespace of our own whose mounts do not propagate back.
pub fn private_mount_namespace() -> Result<(), RootError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(RootError::MountNamespace)?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(RootError::MakePrivate)
}

/// Whatever the driver needs before the container's own mount namespace:
/// fuse-overlayfs is mounted here (true), the vfs copy made once.
pub(crate) fn make_root(spec: &ContainerSpec) -> Result<bool, RootError> {
    match spec.driver {
        Driver::Overlay => Ok(false),
        Driver::Vfs => {
            let dest = spec.vfs_root();
            if dest.exists() {
                return Ok(false);
            }
            let tmp = spec.dir.join("vfs.tmp");
            let _ = fs::remove_dir_all(&tmp);
            let translate = spec.keep_id.map(|(uid, gid)| {
                move |u: u32, g: u32| (keep_id_view(u, uid), keep_id_view(g, gid))
            });
            let owner = translate
                .as_ref()
                .map(|f| f as &dyn Fn(u32, u32) -> (u32, u32));
            copy_layers(&spec.lowers, &tmp, owner)?;
            fs::rename(&tmp, &dest).map_err(RootError::MoveCopy)?;
            Ok(false)
        }
        Driver::FuseOverlayfs => {
            private_mount_namespace()?;
            let mapping = spec.keep_id.map(|(uid, gid)| {
                (
                    keep_id_fuse_mapping(uid, spec.id_counts.0),
                    keep_id_fuse_mapping(gid, spec.id_counts.1),
                )
            });
            FuseMount {
                lowers: spec.overlay_lowers(),
                upper: spec.upper(),
                work: spec.work(),
                target: spec.rootfs(),
                mapping,
            }
            .mount()?;
            Ok(true)
        }
    }
}
