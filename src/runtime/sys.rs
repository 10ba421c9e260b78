//! The system calls container setup needs, behind a trait so that the
//! whole setup of a container's process (namespaces, the plan's mounts,
//! its identity, its confinement, the exec) can run against a recording
//! fake in tests.

use std::collections::VecDeque;
use std::ffi::{CStr, CString, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use crate::confine::{CapSet, ConfineError, Filter};

/// What the setup of a container's process needs from the kernel: the
/// mounts of [`super::plan::apply`], then (see [`super::process`]) the
/// namespaces, the identity, the confinement and the exec.
pub trait Sys {
    fn mount(
        &mut self,
        src: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// The flags of the mount at `path` that a read-only remount must keep
    /// (nosuid, nodev, noexec, atime), since a user namespace may not clear
    /// flags locked by the mount's owner.
    fn mount_flags(&mut self, path: &Path) -> io::Result<MsFlags>;
    /// `path` (a container path) inside `root`, following symlinks as if
    /// `root` were `/`.
    fn resolve_in_root(&mut self, root: &Path, path: &str) -> io::Result<PathBuf>;
    fn ensure_dir(&mut self, path: &Path) -> io::Result<()>;
    /// Create an empty file to bind-mount over, unless something exists.
    fn ensure_file(&mut self, path: &Path) -> io::Result<()>;
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()>;
    /// Make `new_root` the root and detach the old root.
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()>;
    /// `Some(true)` for a directory, `Some(false)` for anything else,
    /// `None` if nothing is there.
    fn is_dir(&mut self, path: &Path) -> io::Result<Option<bool>>;
    fn sethostname(&mut self, name: &str) -> io::Result<()>;
    fn loopback_up(&mut self) -> io::Result<()>;
    /// Change the working directory (relative overlay lower directories
    /// are looked up from it).
    fn chdir(&mut self, dir: &Path) -> io::Result<()>;
    fn read_link(&mut self, path: &Path) -> io::Result<PathBuf>;
    /// Docker's copy-up of `from` into the volume directory `data` (see
    /// [`super::volume_copy::copy_up`]).
    fn copy_up(&mut self, from: &Path, data: &Path) -> io::Result<()>;
    /// Give the tree at `path` to `uid`:`gid` (a volume's `:U`).
    fn chown_tree(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;

    // Namespaces and the process itself.
    /// Die with `signal` when the parent (the monitor) dies.
    fn set_parent_death_signal(&mut self, signal: Signal) -> io::Result<()>;
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()>;
    fn setns(&mut self, ns: BorrowedFd<'_>, nstype: CloneFlags) -> io::Result<()>;
    /// The text of a file the container controls (its account files);
    /// `None` if it does not exist. Never blocks on it nor reads without
    /// end: only a regular file of at most [`MAX_CONTAINER_FILE`] bytes is
    /// read, opened without blocking (a FIFO would wait for a writer).
    fn read_file(&mut self, path: &Path) -> Result<Option<String>, FileReadError>;
    /// Mark every descriptor from `first` on close-on-exec.
    fn close_on_exec_from(&mut self, first: u32) -> io::Result<()>;

    // Identity.
    fn setgroups(&mut self, gids: &[u32]) -> io::Result<()>;
    fn setresgid(&mut self, gid: u32) -> io::Result<()>;
    fn setresuid(&mut self, uid: u32) -> io::Result<()>;
    /// Keep the permitted capabilities across a switch away from uid 0.
    fn set_keep_caps(&mut self, keep: bool) -> io::Result<()>;
    /// Make the effective capabilities the permitted ones (a switch to a
    /// non-zero uid clears the effective set).
    fn raise_effective_caps(&mut self) -> io::Result<()>;

    // Confinement.
    /// Bounding, effective and permitted sets become `caps`; ambient and
    /// inheritable are emptied (see [`crate::confine::apply`]).
    fn apply_caps(&mut self, caps: &CapSet) -> Result<(), ConfineError>;
    fn set_no_new_privs(&mut self) -> Result<(), ConfineError>;
    /// no_new_privs, then the filter.
    fn install_seccomp(&mut self, filter: &Filter) -> Result<(), ConfineError>;

    /// Every signal's disposition back to the default: what burrow
    /// ignores (Rust ignores SIGPIPE) must not stay ignored past execve,
    /// which resets only handled signals.
    fn reset_signal_dispositions(&mut self);
    /// setrlimit(2) of `resource` (a `--ulimit`).
    fn setrlimit(
        &mut self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()>;
    /// execve(2): returns only if it failed.
    fn execve(&mut self, program: &CStr, args: &[CString], env: &[CString]) -> nix::Error;
}

/// The real kernel.
pub struct LinuxSys;

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Sys for LinuxSys {
    fn mount(
        &mut self,
        src: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        nix::mount::mount(src, target, fstype, flags, data).map_err(errno)
    }

    fn mount_flags(&mut self, path: &Path) -> io::Result<MsFlags> {
        use nix::sys::statvfs::FsFlags;
        let st = nix::sys::statvfs::statvfs(path).map_err(errno)?;
        let f = st.flags();
        let mut out = MsFlags::empty();
        for (from, to) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(from) {
                out |= to;
            }
        }
        Ok(out)
    }

    fn resolve_in_root(&mut self, root: &Path, path: &str) -> io::Result<PathBuf> {
        resolve_in_root(root, path)
    }

    fn ensure_dir(&mut self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn ensure_file(&mut self, path: &Path) -> io::Result<()> {
        if fs::symlink_metadata(path).is_ok() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map(drop)
    }

    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        // pivot_root(".", ".") stacks the old root on top of the new one;
        // detaching it then leaves only the container's root, with no
        // directory for the old root needed in the image.
        nix::unistd::chdir(new_root).map_err(errno)?;
        nix::unistd::pivot_root(".", ".").map_err(errno)?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(errno)?;
        nix::unistd::chdir("/").map_err(errno)
    }

    fn is_dir(&mut self, path: &Path) -> io::Result<Option<bool>> {
        match fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(m.is_dir())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(errno)
    }

    fn loopback_up(&mut self) -> io::Result<()> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write req's flags union.
        unsafe {
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
                return Err(io::Error::last_os_error());
            }
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
    fn chdir(&mut self, dir: &Path) -> io::Result<()> {
        nix::unistd::chdir(dir).map_err(errno)
    }
    fn read_link(&mut self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    fn copy_up(&mut self, from: &Path, data: &Path) -> io::Result<()> {
        super::volume_copy::copy_up(from, data)
    }

    fn chown_tree(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        super::volume_copy::chown_tree(path, uid, gid)
    }

    fn set_parent_death_signal(&mut self, signal: Signal) -> io::Result<()> {
        nix::sys::prctl::set_pdeathsig(signal).map_err(errno)
    }

    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        nix::sched::unshare(flags).map_err(errno)
    }

    fn setns(&mut self, ns: BorrowedFd<'_>, nstype: CloneFlags) -> io::Result<()> {
        nix::sched::setns(ns, nstype).map_err(errno)
    }

    fn read_file(&mut self, path: &Path) -> Result<Option<String>, FileReadError> {
        read_container_file(path)
    }

    fn close_on_exec_from(&mut self, first: u32) -> io::Result<()> {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn setgroups(&mut self, gids: &[u32]) -> io::Result<()> {
        let gids: Vec<nix::unistd::Gid> = gids
            .iter()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&gids).map_err(errno)
    }

    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        let gid = nix::unistd::Gid::from_raw(gid);
        nix::unistd::setresgid(gid, gid, gid).map_err(errno)
    }

    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        let uid = nix::unistd::Uid::from_raw(uid);
        nix::unistd::setresuid(uid, uid, uid).map_err(errno)
    }

    fn set_keep_caps(&mut self, keep: bool) -> io::Result<()> {
        nix::sys::prctl::set_keepcaps(keep).map_err(errno)
    }

    fn setrlimit(
        &mut self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()> {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads a valid rlimit.
        if unsafe { libc::setrlimit(resource, &limit) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn raise_effective_caps(&mut self) -> io::Result<()> {
        let permitted = caps::read(None, caps::CapSet::Permitted).map_err(io::Error::other)?;
        caps::set(None, caps::CapSet::Effective, &permitted).map_err(io::Error::other)
    }

    fn apply_caps(&mut self, set: &CapSet) -> Result<(), ConfineError> {
        crate::confine::apply(set)
    }

    fn set_no_new_privs(&mut self) -> Result<(), ConfineError> {
        crate::confine::set_no_new_privs()
    }

    fn install_seccomp(&mut self, filter: &Filter) -> Result<(), ConfineError> {
        crate::confine::install(filter)
    }

    fn reset_signal_dispositions(&mut self) {
        // The kernel's struct sigaction, all zeros: SIG_DFL, no flags, an
        // empty mask, whatever the architecture's field order. The system
        // call itself, as glibc refuses the two signals it keeps (32, 33).
        let default = [0u64; 4];
        for signal in 1..=libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            // SAFETY: rt_sigaction reads a zeroed struct and writes nothing.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    default.as_ptr(),
                    std::ptr::null_mut::<libc::c_void>(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }

    fn execve(&mut self, program: &CStr, args: &[CString], env: &[CString]) -> nix::Error {
        match nix::unistd::execve(program, args, env) {
            Err(e) => e,
            Ok(never) => match never {},
        }
    }
}

/// The most a file the container controls may hold for burrow to read it
/// (its /etc/passwd and /etc/group): 16 MiB.
pub const MAX_CONTAINER_FILE: u64 = 16 << 20;

/// Why a file the container controls was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("it is a {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {} MiB", MAX_CONTAINER_FILE >> 20)]
    TooLarge,
}

fn file_kind(t: fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        None
    } else if t.is_fifo() {
        Some("FIFO")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_dir() {
        Some("directory")
    } else {
        Some("special file")
    }
}

/// See [`Sys::read_file`]. Symlinks are followed (the caller is inside
/// the container's root). What is not a regular file is refused before it
/// is opened (opening a device can act on it), and again after a
/// non-blocking open, which the container may have raced.
pub fn read_container_file(path: &Path) -> Result<Option<String>, FileReadError> {
    use std::io::Read;
    let check = |meta: &fs::Metadata| match file_kind(meta.file_type()) {
        Some(kind) => Err(FileReadError::NotRegular(kind)),
        None if meta.len() > MAX_CONTAINER_FILE => Err(FileReadError::TooLarge),
        None => Ok(()),
    };
    match fs::metadata(path) {
        Ok(meta) => check(&meta)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    check(&file.metadata()?)?;
    // Files of /proc claim no size: the read is bounded all the same.
    let mut text = String::new();
    file.take(MAX_CONTAINER_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONTAINER_FILE {
        return Err(FileReadError::TooLarge);
    }
    Ok(Some(text))
}

/// Resolve `path` inside `root` as the container will see it: absolute
/// symlinks restart at `root`, and `..` never climbs above it, so a hostile
/// image cannot point a mount target at the host. The last component is
/// followed too (a mount follows it). Safe here because nothing else
/// changes the container's root filesystem before it starts.
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    const MAX_LINKS: usize = 40;
    fn parts(p: &Path) -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }
    let mut pending = parts(Path::new(path));
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut next = parts(&target);
                next.extend(pending);
                pending = next;
            }
            Ok(_) => resolved.push(part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => resolved.push(part),
            Err(e) => return Err(e),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn container_files_are_read_only_when_regular_and_bounded() {
        let t = tempfile::tempdir().unwrap();
        let p = |name: &str| t.path().join(name);
        fs::write(p("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        assert_eq!(
            read_container_file(&p("passwd")).unwrap().as_deref(),
            Some("root:x:0:0::/root:/bin/sh\n")
        );
        assert!(read_container_file(&p("missing")).unwrap().is_none());
        // A FIFO nobody writes to: refused at once, not waited on.
        nix::unistd::mkfifo(&p("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = read_container_file(&p("fifo")).unwrap_err();
        assert_eq!(err.to_string(), "it is a FIFO, not a regular file");
        symlink("/dev/zero", p("dev")).unwrap();
        let err = read_container_file(&p("dev")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
        let big = fs::File::create(p("big")).unwrap();
        big.set_len(MAX_CONTAINER_FILE + 1).unwrap();
        let err = read_container_file(&p("big")).unwrap_err();
        assert_eq!(err.to_string(), "it is larger than 16 MiB");
    }

    #[test]
    fn resolve_keeps_symlinks_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("run/real")).unwrap();
        symlink("/run/real", root.join("etc/link")).unwrap();
        symlink("../../../../../../host", root.join("etc/up")).unwrap();
        symlink("/etc/loop", root.join("etc/loop")).unwrap();
        symlink("real", root.join("run/rel")).unwrap();

        assert_eq!(
            resolve_in_root(root, "/etc/hosts").unwrap(),
            root.join("etc/hosts")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/link/resolv.conf").unwrap(),
            root.join("run/real/resolv.conf")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/up/x").unwrap(),
            root.join("host/x")
        );
        assert_eq!(resolve_in_root(root, "/../../x").unwrap(), root.join("x"));
        assert_eq!(
            resolve_in_root(root, "/run/rel").unwrap(),
            root.join("run/real")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/loop")
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ELOOP)
        );
    }
}
