//! Container setup as data: [`build_plan`] turns a spec into an ordered list
//! of [`SetupOp`]s (a pure function), and [`apply`] performs them through a
//! [`Sys`], so the order and the arguments are testable without privileges.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::mounts::MountKind;
use super::rootfs::Driver;
use super::spec::ContainerSpec;
use super::sys::Sys;

/// Host device nodes bind-mounted into the container's `/dev`.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Paths hidden from the container: files get `/dev/null` over them,
/// directories an empty read-only tmpfs (as runc and Podman do).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Kernel interfaces the container may read but not change.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// One step of container setup. Paths of type `String` are container paths,
/// resolved inside the root filesystem (symlinks cannot leave it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOp {
    /// Stop mount events from reaching the host: `/` becomes recursively private.
    MakeRootPrivate,
    MountOverlay {
        lowers: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
    },
    /// A fresh procfs for the container's pid namespace.
    MountProc {
        target: String,
    },
    /// A fresh read-only sysfs; it shows the container's network namespace.
    MountSysfs {
        target: String,
    },
    MountTmpfs {
        target: String,
        flags: MsFlags,
        options: String,
    },
    /// A private devpts instance (its own pty numbering).
    MountDevpts {
        target: String,
    },
    /// Bind a host file or device node over a container path (created empty).
    BindMount {
        src: PathBuf,
        dst: String,
        readonly: bool,
    },
    Symlink {
        target: String,
        link: String,
    },
    /// Switch the root to the container's and detach the old one.
    PivotRoot {
        new_root: PathBuf,
    },
    /// After the pivot: hide a path (skipped if it does not exist).
    MaskPath {
        path: String,
    },
    /// After the pivot: make a path read-only (skipped if it does not exist).
    ReadOnlyPath {
        path: String,
    },
    SetHostname {
        name: String,
    },
    LoopbackUp,
    /// After the pivot: create the working directory if missing.
    MakeDir {
        path: String,
    },
    /// A user's bind mount (`-v`, `--mount type=bind`): the destination is
    /// created as a directory or an empty file, like the source.
    UserBind {
        src: PathBuf,
        dst: String,
        dir: bool,
        recursive: bool,
        readonly: bool,
        /// nosuid, nodev, noexec to add.
        flags: MsFlags,
    },
    /// A fresh POSIX message queue filesystem (the container has its own
    /// IPC namespace).
    MountMqueue {
        target: String,
    },
    /// After the pivot and the working directory: `--read-only`.
    ReadOnlyRoot,
    /// Docker's copy-up: the image's content at `dst` copied into the
    /// volume directory `data` if it waits for its first one and is empty.
    VolumeCopyUp {
        data: PathBuf,
        dst: String,
    },
    /// The vfs driver's copied root, bound on the root's mount point.
    BindRoot {
        src: PathBuf,
        target: PathBuf,
    },
}

/// The ordered setup of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The root filesystem's mount point on the host (before the pivot).
    pub rootfs: PathBuf,
    pub ops: Vec<SetupOp>,
}

/// The setup of `spec`, in the order it must happen: everything that needs
/// host paths before `PivotRoot`, everything that must resolve inside the
/// container (masks, the working directory) after it.
pub fn build_plan(spec: &ContainerSpec) -> Plan {
    use SetupOp::*;
    let rootfs = spec.rootfs();
    let mut ops = vec![MakeRootPrivate];
    match spec.driver {
        Driver::Overlay => ops.push(MountOverlay {
            lowers: spec.overlay_lowers(),
            upper: spec.upper(),
            work: spec.work(),
            target: rootfs.clone(),
        }),
        // Mounted by the monitor, whose mount namespace this one copies.
        Driver::FuseOverlayfs => {}
        Driver::Vfs => ops.push(BindRoot {
            src: spec.vfs_root(),
            target: rootfs.clone(),
        }),
    }
    ops.push(MountProc {
        target: "/proc".into(),
    });
    // sysfs shows the network namespace of whoever mounts it, and only that
    // namespace's owner may: with the host's network the host's /sys is
    // bound instead (read-only), as Podman does.
    ops.push(if spec.network.own_namespace() {
        MountSysfs {
            target: "/sys".into(),
        }
    } else {
        UserBind {
            src: "/sys".into(),
            dst: "/sys".into(),
            dir: true,
            recursive: true,
            readonly: true,
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        }
    });
    ops.extend([MountTmpfs {
        target: "/dev".into(),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        options: "mode=755,size=65536k".into(),
    }]);
    for d in DEVICES {
        ops.push(BindMount {
            src: Path::new("/dev").join(d),
            dst: format!("/dev/{d}"),
            readonly: false,
        });
    }
    ops.push(MountDevpts {
        target: "/dev/pts".into(),
    });
    for (target, link) in [
        ("pts/ptmx", "/dev/ptmx"),
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    ] {
        ops.push(Symlink {
            target: target.into(),
            link: link.into(),
        });
    }
    ops.push(MountTmpfs {
        target: "/dev/shm".into(),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        options: "mode=1777,size=65536k".into(),
    });
    let generated = spec.generated_etc.iter().map(String::as_str);
    for name in ["hostname", "hosts", "resolv.conf"]
        .into_iter()
        .chain(generated)
    {
        ops.push(BindMount {
            src: spec.etc_file(name),
            dst: format!("/etc/{name}"),
            readonly: false,
        });
    }
    ops.push(MountMqueue {
        target: "/dev/mqueue".into(),
    });
    for m in &spec.mounts {
        if let MountKind::Volume(v) = &m.kind {
            ops.extend(volume_ops(m, v).unwrap_or_default());
            continue;
        }
        ops.push(match &m.kind {
            MountKind::Bind {
                source,
                recursive,
                dir,
            } => UserBind {
                src: source.clone(),
                dst: m.destination.clone(),
                dir: *dir,
                recursive: *recursive,
                readonly: m.readonly,
                flags: m.flags,
            },
            MountKind::Tmpfs { options } => MountTmpfs {
                target: m.destination.clone(),
                flags: m.flags
                    | if m.readonly {
                        MsFlags::MS_RDONLY
                    } else {
                        MsFlags::empty()
                    },
                options: options.clone(),
            },
            MountKind::Volume(_) => continue,
        });
    }
    // After the user's mounts: a tmpfs on /run (--read-only) must not
    // hide it. A directory of the host bound on /run is left alone.
    let run_bound = spec.mounts.iter().any(|m| {
        m.destination.trim_end_matches('/') == "/run"
            && matches!(m.kind, MountKind::Bind { .. } | MountKind::Volume(_))
    });
    if spec.container_env && !run_bound {
        ops.push(BindMount {
            src: spec.etc_file(".containerenv"),
            dst: "/run/.containerenv".into(),
            readonly: true,
        });
    }
    if spec.timezone.is_some() {
        ops.push(BindMount {
            src: spec.etc_file("localtime"),
            dst: "/etc/localtime".into(),
            readonly: true,
        });
    }
    ops.push(PivotRoot {
        new_root: rootfs.clone(),
    });
    // --privileged: the kernel's files stay as the user namespace allows.
    if !spec.confine.privileged {
        ops.extend(MASKED_PATHS.iter().map(|p| MaskPath { path: (*p).into() }));
        ops.extend(
            READONLY_PATHS
                .iter()
                .map(|p| ReadOnlyPath { path: (*p).into() }),
        );
    }
    ops.push(SetHostname {
        name: spec.hostname.clone(),
    });
    if spec.network.own_namespace() {
        ops.push(LoopbackUp);
    }
    ops.push(MakeDir {
        path: spec.cwd.clone(),
    });
    if spec.read_only {
        ops.push(ReadOnlyRoot);
    }
    Plan { rootfs, ops }
}

/// How a volume is mounted: its directory (after the copy-up), a fresh
/// tmpfs, or the host directory it binds. None for a mount `create` did
/// not resolve (it resolves every one).
fn volume_ops(m: &super::mounts::Mount, v: &super::mounts::VolumeMount) -> Option<Vec<SetupOp>> {
    use super::mounts::VolumeSource;
    let bind = |src: &Path, recursive: bool| SetupOp::UserBind {
        src: src.to_path_buf(),
        dst: m.destination.clone(),
        dir: true,
        recursive,
        readonly: m.readonly,
        flags: m.flags,
    };
    Some(match v.source.as_ref()? {
        VolumeSource::Dir(data) => {
            let mut ops = Vec::new();
            if v.copy_up {
                ops.push(SetupOp::VolumeCopyUp {
                    data: data.clone(),
                    dst: m.destination.clone(),
                });
            }
            ops.push(bind(data, false));
            ops
        }
        VolumeSource::Tmpfs(options) => vec![SetupOp::MountTmpfs {
            target: m.destination.clone(),
            flags: m.flags
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | if m.readonly {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                },
            options: options.clone(),
        }],
        VolumeSource::Bind { device, recursive } => vec![bind(device, *recursive)],
    })
}

/// A setup step that failed.
#[derive(Debug, thiserror::Error)]
#[error("container setup failed: {step}: {err}")]
pub struct SetupError {
    pub step: String,
    pub err: io::Error,
}

/// Overlay mount options; `userxattr` because the layers keep whiteouts and
/// opaque markers in `user.overlay.*`, as overlayfs reads them in a user
/// namespace.
pub fn overlay_options(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        lower.join(":"),
        upper.display(),
        work.display()
    )
}

/// The kernel takes at most a page of mount options.
const MOUNT_DATA_MAX: usize = 4000;

/// How an overlay is mounted: its options, the directory to mount it from
/// (relative lower directories are looked up from there), and short links
/// to make first (`link` → `target`, relative to that directory).
#[derive(Debug, PartialEq, Eq)]
pub struct OverlayMount {
    pub data: String,
    pub base: Option<PathBuf>,
    pub links: Vec<(PathBuf, PathBuf)>,
}

/// Overlay mount options that fit the kernel's one-page limit. Full paths
/// fit some 40 layers of a store under a home directory; beyond, the lower
/// directories are named relative to their common parent (the store's
/// `layers/`: some 55 layers), and beyond that by short links
/// `layers/l/<16 hex digits>` to them (some 200), as Podman does.
pub fn overlay_mount_data(lowers: &[PathBuf], upper: &Path, work: &Path) -> OverlayMount {
    let full = overlay_options(lowers, upper, work);
    let plain = |data| OverlayMount {
        data,
        base: None,
        links: Vec::new(),
    };
    if full.len() <= MOUNT_DATA_MAX {
        return plain(full);
    }
    // Layers are `<layers>/<id>/diff`: their common parent is `<layers>`.
    let Some(base) = lowers
        .first()
        .and_then(|l| l.parent())
        .and_then(|l| l.parent())
        .map(Path::to_path_buf)
    else {
        return plain(full);
    };
    let Some(relative) = lowers
        .iter()
        .map(|l| l.strip_prefix(&base).ok().map(Path::to_path_buf))
        .collect::<Option<Vec<PathBuf>>>()
    else {
        return plain(full);
    };
    let data = overlay_options(&relative, upper, work);
    if data.len() <= MOUNT_DATA_MAX {
        return OverlayMount {
            data,
            base: Some(base),
            links: Vec::new(),
        };
    }
    let links: Vec<(PathBuf, PathBuf)> = relative
        .iter()
        .map(|r| {
            let id: String = r
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().chars().take(16).collect())
                .unwrap_or_default();
            (Path::new("l").join(id), Path::new("..").join(r))
        })
        .collect();
    let short: Vec<PathBuf> = links.iter().map(|(l, _)| l.clone()).collect();
    OverlayMount {
        data: overlay_options(&short, upper, work),
        base: Some(base),
        links,
    }
}

/// Perform `plan` in order, stopping at the first failure.
pub fn apply(plan: &Plan, sys: &mut dyn Sys) -> Result<(), SetupError> {
    for op in &plan.ops {
        apply_one(&plan.rootfs, op, sys).map_err(|err| SetupError {
            step: describe(op),
            err,
        })?;
    }
    Ok(())
}

fn describe(op: &SetupOp) -> String {
    match op {
        SetupOp::MakeRootPrivate => "making / private".into(),
        SetupOp::MountOverlay { target, .. } => {
            format!("mounting the overlay root at {}", target.display())
        }
        SetupOp::MountProc { target } => format!("mounting proc at {target}"),
        SetupOp::MountSysfs { target } => format!("mounting sysfs at {target}"),
        SetupOp::MountTmpfs { target, .. } => format!("mounting tmpfs at {target}"),
        SetupOp::MountDevpts { target } => format!("mounting devpts at {target}"),
        SetupOp::BindMount { src, dst, .. } => {
            format!("bind-mounting {} at {dst}", src.display())
        }
        SetupOp::Symlink { link, .. } => format!("creating the symlink {link}"),
        SetupOp::PivotRoot { .. } => "pivoting into the container root".into(),
        SetupOp::MaskPath { path } => format!("masking {path}"),
        SetupOp::ReadOnlyPath { path } => format!("making {path} read-only"),
        SetupOp::SetHostname { name } => format!("setting the hostname {name:?}"),
        SetupOp::LoopbackUp => "bringing up the loopback interface".into(),
        SetupOp::MakeDir { path } => format!("creating the working directory {path}"),
        SetupOp::UserBind { src, dst, .. } => {
            format!("bind-mounting {} at {dst}", src.display())
        }
        SetupOp::MountMqueue { target } => format!("mounting mqueue at {target}"),
        SetupOp::ReadOnlyRoot => "making the root read-only".into(),
        SetupOp::BindRoot { src, .. } => format!("binding the copied root {}", src.display()),
        SetupOp::VolumeCopyUp { data, dst } => {
            format!("copying the image's {dst} into volume {}", data.display())
        }
    }
}

fn apply_one(rootfs: &Path, op: &SetupOp, sys: &mut dyn Sys) -> io::Result<()> {
    let nodev_etc = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match op {
        SetupOp::MakeRootPrivate => sys.mount(
            None,
            Path::new("/"),
            None,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None,
        ),
        SetupOp::MountOverlay {
            lowers,
            upper,
            work,
            target,
        } => {
            let m = overlay_mount_data(lowers, upper, work);
            if let Some(base) = &m.base {
                sys.chdir(base)?;
                if !m.links.is_empty() {
                    sys.ensure_dir(&base.join("l"))?;
                }
                for (link, target) in &m.links {
                    // Made once per layer and kept (same target every time);
                    // one naming another layer (a 64-bit prefix shared) fails.
                    let path = base.join(link);
                    match sys.symlink(&target.display().to_string(), &path) {
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            if sys.read_link(&path)? != *target {
                                return Err(io::Error::other(format!(
                                    "{} names another layer than {}: remove it",
                                    path.display(),
                                    target.display()
                                )));
                            }
                        }
                        other => other?,
                    }
                }
            }
            if m.data.len() > MOUNT_DATA_MAX {
                return Err(io::Error::other(format!(
                    "the image has {} layers, more than an overlay mount can name: squash some of them",
                    lowers.len()
                )));
            }
            sys.mount(
                Some("overlay"),
                target,
                Some("overlay"),
                MsFlags::empty(),
                Some(&m.data),
            )
        }
        SetupOp::MountProc { target } => {
            let t = sys.resolve_in_root(rootfs, target)?;
            sys.ensure_dir(&t)?;
            sys.mount(Some("proc"), &t, Some("proc"), nodev_etc, None)
        }
        SetupOp::MountSysfs { target } => {
            let t = sys.resolve_in_root(rootfs, target)?;
            sys.ensure_dir(&t)?;
            sys.mount(
                Some("sysfs"),
                &t,
                Some("sysfs"),
                nodev_etc | MsFlags::MS_RDONLY,
                None,
            )
        }
        SetupOp::MountTmpfs {
            target,
            flags,
            options,
        } => {
            let t = sys.resolve_in_root(rootfs, target)?;
            sys.ensure_dir(&t)?;
            sys.mount(Some("tmpfs"), &t, Some("tmpfs"), *flags, Some(options))
        }
        SetupOp::MountDevpts { target } => {
            let t = sys.resolve_in_root(rootfs, target)?;
            sys.ensure_dir(&t)?;
            sys.mount(
                Some("devpts"),
                &t,
                Some("devpts"),
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                Some("newinstance,ptmxmode=0666,mode=0620"),
            )
        }
        SetupOp::BindMount { src, dst, readonly } => {
            let t = sys.resolve_in_root(rootfs, dst)?;
            sys.ensure_file(&t)?;
            bind(sys, src, &t, *readonly)
        }
        SetupOp::Symlink { target, link } => {
            let l = sys.resolve_in_root(rootfs, link)?;
            sys.symlink(target, &l)
        }
        SetupOp::PivotRoot { new_root } => sys.pivot_root(new_root),
        SetupOp::MaskPath { path } => {
            let p = Path::new(path);
            match sys.is_dir(p)? {
                None => Ok(()),
                Some(true) => sys.mount(
                    Some("tmpfs"),
                    p,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("size=0"),
                ),
                Some(false) => sys.mount(Some("/dev/null"), p, None, MsFlags::MS_BIND, None),
            }
        }
        SetupOp::ReadOnlyPath { path } => {
            let p = Path::new(path);
            match sys.is_dir(p)? {
                None => Ok(()),
                Some(_) => bind(sys, p, p, true),
            }
        }
        SetupOp::SetHostname { name } => sys.sethostname(name),
        SetupOp::LoopbackUp => sys.loopback_up(),
        SetupOp::MakeDir { path } => sys.ensure_dir(Path::new(path)),
        SetupOp::UserBind {
            src,
            dst,
            dir,
            recursive,
            readonly,
            flags,
        } => {
            let t = sys.resolve_in_root(rootfs, dst)?;
            if *dir {
                sys.ensure_dir(&t)?;
            } else {
                sys.ensure_file(&t)?;
            }
            let rec = if *recursive {
                MsFlags::MS_REC
            } else {
                MsFlags::empty()
            };
            sys.mount(
                Some(&src.to_string_lossy()),
                &t,
                None,
                MsFlags::MS_BIND | rec,
                None,
            )?;
            if *readonly || !flags.is_empty() {
                let ro = if *readonly {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
                let locked = sys.mount_flags(&t)?;
                sys.mount(
                    None,
                    &t,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | locked | *flags | ro,
                    None,
                )?;
            }
            Ok(())
        }
        SetupOp::MountMqueue { target } => {
            let t = sys.resolve_in_root(rootfs, target)?;
            sys.ensure_dir(&t)?;
            sys.mount(Some("mqueue"), &t, Some("mqueue"), nodev_etc, None)
        }
        SetupOp::VolumeCopyUp { data, dst } => {
            let from = sys.resolve_in_root(rootfs, dst)?;
            sys.copy_up(&from, data)
        }
        SetupOp::BindRoot { src, target } => sys.mount(
            Some(&src.to_string_lossy()),
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ),
        SetupOp::ReadOnlyRoot => {
            let root = Path::new("/");
            let locked = sys.mount_flags(root)?;
            sys.mount(
                None,
                root,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
                None,
            )
        }
    }
}

/// Bind `src` on `dst`; read-only needs a second, remounting call, which
/// must keep the flags the kernel locked on the source mount.
fn bind(sys: &mut dyn Sys, src: &Path, dst: &Path, readonly: bool) -> io::Result<()> {
    let src_str = src.to_string_lossy();
    sys.mount(
        Some(&src_str),
        dst,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    if readonly {
        let locked = sys.mount_flags(dst)?;
        sys.mount(
            None,
            dst,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked,
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runtime::testing::Fake;

    pub(super) fn spec_for_other_tests() -> ContainerSpec {
        spec()
    }

    fn spec() -> ContainerSpec {
        crate::runtime::testing::spec()
    }

    fn position(calls: &[String], prefix: &str) -> usize {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {calls:#?}"))
    }

    #[test]
    fn many_layers_are_mounted_by_relative_paths_then_short_links() {
        let layers = Path::new("/home/someone/.local/share/burrow/layers");
        let id = |i: usize| format!("{i:016x}{}", "0".repeat(48));
        let lowers: Vec<PathBuf> = (0..200).map(|i| layers.join(id(i)).join("diff")).collect();
        let (upper, work) = (Path::new("/c/upper"), Path::new("/c/work"));
        let few = overlay_mount_data(&lowers[..3], upper, work);
        assert_eq!(few.base, None);
        assert!(few.data.contains(&lowers[0].display().to_string()));
        let fifty = overlay_mount_data(&lowers[..50], upper, work);
        assert_eq!(fifty.base.as_deref(), Some(layers));
        assert!(fifty.links.is_empty());
        assert!(fifty.data.starts_with(&format!("lowerdir={}/diff:", id(0))));
        let many = overlay_mount_data(&lowers, upper, work);
        assert!(many.data.len() <= MOUNT_DATA_MAX, "{}", many.data.len());
        assert_eq!(
            many.links[1],
            (
                PathBuf::from(format!("l/{:016x}", 1)),
                PathBuf::from(format!("../{}/diff", id(1)))
            )
        );
    }

    #[test]
    fn privileged_skips_masks() {
        let masked = |p: &Plan| {
            p.ops
                .iter()
                .filter(|o| matches!(o, SetupOp::MaskPath { .. } | SetupOp::ReadOnlyPath { .. }))
                .count()
        };
        let mut s = spec();
        assert!(masked(&build_plan(&s)) > 0);
        s.confine.privileged = true;
        assert_eq!(masked(&build_plan(&s)), 0);
    }

    #[test]
    fn plan_order() {
        let plan = build_plan(&spec());
        assert_eq!(plan.rootfs, Path::new("/c/rootfs"));
        assert_eq!(plan.ops[0], SetupOp::MakeRootPrivate);
        assert!(matches!(plan.ops[1], SetupOp::MountOverlay { .. }));
        let pivot = plan
            .ops
            .iter()
            .position(|o| matches!(o, SetupOp::PivotRoot { .. }))
            .unwrap();
        for (i, op) in plan.ops.iter().enumerate() {
            match op {
                SetupOp::MaskPath { .. }
                | SetupOp::ReadOnlyPath { .. }
                | SetupOp::MakeDir { .. } => assert!(i > pivot, "{op:?} before the pivot"),
                SetupOp::MountProc { .. }
                | SetupOp::MountSysfs { .. }
                | SetupOp::MountTmpfs { .. }
                | SetupOp::MountDevpts { .. }
                | SetupOp::BindMount { .. }
                | SetupOp::Symlink { .. }
                | SetupOp::MountOverlay { .. } => assert!(i < pivot, "{op:?} after the pivot"),
                _ => {}
            }
        }
        assert_eq!(
            plan.ops.last(),
            Some(&SetupOp::MakeDir {
                path: "/work".into()
            })
        );
    }

    #[test]
    fn apply_performs_the_plan_in_order() {
        let mut fake = Fake {
            dirs: vec!["/proc/acpi", "/sys/firmware", "/proc/sys", "/proc/irq"],
            files: vec!["/proc/kcore", "/proc/sysrq-trigger"],
            ..Default::default()
        };
        apply(&build_plan(&spec()), &mut fake).unwrap();
        let c = &fake.calls;
        assert_eq!(c[0], "mount - / - MS_REC|MS_PRIVATE -");
        assert_eq!(
            c[1],
            "mount overlay /c/rootfs overlay (empty) \
             lowerdir=/l/top:/l/bottom,upperdir=/c/upper,workdir=/c/work,userxattr"
        );
        assert!(position(c, "mount proc /c/rootfs/proc proc") > 1);
        assert!(
            position(c, "mount tmpfs /c/rootfs/dev tmpfs")
                < position(c, "mount /dev/null /c/rootfs/dev/null - MS_BIND")
        );
        assert!(position(c, "touch /c/rootfs/dev/null") < position(c, "mount /dev/null /c/rootfs"));
        assert!(
            position(c, "mount devpts /c/rootfs/dev/pts devpts")
                < position(c, "symlink pts/ptmx /c/rootfs/dev/ptmx")
        );
        let pivot = position(c, "pivot_root /c/rootfs");
        assert!(position(c, "mount /c/hosts /c/rootfs/etc/hosts - MS_BIND") < pivot);
        // After the pivot paths are the container's own.
        assert!(position(c, "mount /dev/null /proc/kcore - MS_BIND") > pivot);
        assert!(position(c, "mount tmpfs /proc/acpi tmpfs MS_RDONLY") > pivot);
        let ro = position(c, "mount /proc/sys /proc/sys - MS_BIND|MS_REC -");
        assert!(ro > pivot);
        assert_eq!(
            c[ro + 1],
            "mount - /proc/sys - MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND -"
        );
        // Paths that do not exist are skipped, not created.
        assert!(!c.iter().any(|x| x.contains("/proc/keys")));
        assert!(position(c, "sethostname box") > pivot);
        assert!(position(c, "lo up") > pivot);
        assert_eq!(c.last().unwrap(), "mkdir /work");
    }

    #[test]
    fn apply_stops_at_the_first_failure_and_names_it() {
        let mut fake = Fake {
            fail_on: Some("devpts"),
            ..Default::default()
        };
        let err = apply(&build_plan(&spec()), &mut fake).unwrap_err();
        assert_eq!(err.step, "mounting devpts at /dev/pts");
        assert!(err.to_string().contains("mounting devpts at /dev/pts"));
        assert!(fake.calls.last().unwrap().starts_with("FAILED"));
        assert!(!fake.calls.iter().any(|c| c.starts_with("pivot_root")));
    }
}

#[cfg(test)]
mod network_tests {
    use super::*;
    use crate::runtime::spec::NetworkMode;

    fn plan_for(network: NetworkMode) -> Plan {
        let mut s = tests_spec();
        s.network = network;
        build_plan(&s)
    }

    fn tests_spec() -> ContainerSpec {
        super::tests::spec_for_other_tests()
    }

    #[test]
    fn the_hosts_network_binds_sys_and_leaves_loopback_alone() {
        let own = plan_for(NetworkMode::Pasta(Vec::new()));
        assert!(
            own.ops
                .iter()
                .any(|o| matches!(o, SetupOp::MountSysfs { .. }))
        );
        assert!(own.ops.contains(&SetupOp::LoopbackUp));
        let host = plan_for(NetworkMode::Host);
        assert!(
            !host
                .ops
                .iter()
                .any(|o| matches!(o, SetupOp::MountSysfs { .. }))
        );
        assert!(!host.ops.contains(&SetupOp::LoopbackUp));
        assert!(host.ops.iter().any(|o| matches!(
            o,
            SetupOp::UserBind { dst, readonly: true, recursive: true, .. } if dst == "/sys"
        )));
    }
}
