//! burrow's shared network namespace, in the spirit of Podman's
//! rootless-netns: the namespace that holds one bridge per user network,
//! with a veth from each member container plugged into it.
//!
//! A network namespace can only be joined by a process with
//! CAP_SYS_ADMIN in the user namespace that owns it, so the bridges, their
//! veths and every member container live in one user namespace (with the
//! user's usual id map). A small holder process keeps both namespaces while
//! they are needed: it sits in them and hands them, as descriptors over a
//! unix socket in the runtime directory, to every command that connects.
//! Each connection is held for as long as the namespaces are in use (a
//! member's monitor holds its connection while the container runs); when
//! the last one closes, the holder leaves and the namespace, its bridges
//! and veths go with it. No daemon outlives the containers.
//!
//! A lock file orders connecting against the holder's leaving: a command
//! connects (or starts a new holder) under the lock, and the holder leaves
//! only under it, after a last look for pending connections.

use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

use super::link::Netlink;
use super::network::Attachment;
use crate::ipc::fdpass::{recv_fd, send_fd};
use crate::userns::{IdMap, UsernsError, run_in_userns};

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("cannot {op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("cannot start the holder of the shared network namespace: {0}")]
    Start(String),
    #[error(transparent)]
    Userns(#[from] UsernsError),
    #[error("the holder of the shared network namespace did not hand over its namespaces: {0}")]
    Handover(String),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SharedError + use<> {
    let path = path.to_path_buf();
    move |err| SharedError::Io { op, path, err }
}

/// The shared namespaces, held open for as long as this value (or a
/// forked copy of its descriptors) lives.
pub struct SharedNetns {
    _conn: UnixStream,
    pub userns: File,
    pub netns: File,
}

fn socket_path(runroot: &Path) -> PathBuf {
    runroot.join("netns.sock")
}

fn lock_path(runroot: &Path) -> PathBuf {
    runroot.join("netns.lock")
}

fn open_lock(runroot: &Path) -> Result<File, SharedError> {
    let path = lock_path(runroot);
    crate::storage::atomic::open_lock(&path).map_err(io_err("open", &path))
}

/// A running member's hold on the shared namespaces: its monitor's pid and
/// the descriptor number of the network namespace in it. A new holder
/// adopts the namespaces from there when the old holder was killed while
/// members still run, so that new members join the same bridges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub pid: i32,
    pub netns_fd: i32,
}

/// Connect to the holder, starting it if none runs: in the namespaces of
/// `anchor` (a running member's) when there is one, else in a new user
/// namespace with `map` and a new network namespace. Call single-threaded,
/// outside any user namespace.
pub fn connect_or_start(
    runroot: &Path,
    map: &IdMap,
    anchor: impl FnOnce() -> Option<Anchor>,
) -> Result<SharedNetns, SharedError> {
    fs::create_dir_all(runroot).map_err(io_err("create", runroot))?;
    let lock = open_lock(runroot)?;
    lock.lock().map_err(io_err("lock", &lock_path(runroot)))?;
    let sock = socket_path(runroot);
    if let Ok(conn) = UnixStream::connect(&sock) {
        return handover(conn);
    }
    // A socket whose holder is gone (killed) is stale.
    let _ = fs::remove_file(&sock);
    let start = |netns: Option<File>| match start_holder(runroot, netns) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    };
    let adopted = anchor().and_then(|a| {
        let userns = File::open(format!("/proc/{}/ns/user", a.pid)).ok()?;
        Some((a, userns))
    });
    let code = match adopted {
        Some((a, userns)) => crate::userns::run_in_existing_userns(&userns, || {
            match File::open(format!("/proc/{}/fd/{}", a.pid, a.netns_fd)) {
                Ok(netns) => start(Some(netns)),
                Err(e) => {
                    eprintln!(
                        "Error: cannot take over the shared network namespace from process {}: {e}",
                        a.pid
                    );
                    1
                }
            }
        })?,
        None => run_in_userns(map, || start(None))?,
    };
    if code != 0 {
        return Err(SharedError::Start(format!("exit code {code}")));
    }
    let conn = UnixStream::connect(&sock).map_err(io_err("connect to", &sock))?;
    handover(conn)
}

/// Connect to a running holder only (for commands that change a running
/// member); None when none runs.
pub fn connect(runroot: &Path) -> Result<Option<SharedNetns>, SharedError> {
    let lock = open_lock(runroot)?;
    lock.lock().map_err(io_err("lock", &lock_path(runroot)))?;
    match UnixStream::connect(socket_path(runroot)) {
        Ok(conn) => handover(conn).map(Some),
        Err(_) => Ok(None),
    }
}

fn handover(conn: UnixStream) -> Result<SharedNetns, SharedError> {
    let take = || -> io::Result<File> {
        recv_fd(conn.as_fd())?
            .map(File::from)
            .ok_or_else(|| io::Error::other("the holder closed the connection"))
    };
    let userns = take().map_err(|e| SharedError::Handover(e.to_string()))?;
    let netns = take().map_err(|e| SharedError::Handover(e.to_string()))?;
    Ok(SharedNetns {
        _conn: conn,
        userns,
        netns,
    })
}

/// In the new user namespace: make the network namespace, listen, and
/// leave the holder behind as a process of its own.
fn start_holder(runroot: &Path, existing: Option<File>) -> Result<(), String> {
    match existing {
        Some(netns) => setns(&netns, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the shared network namespace: {e}"))?,
        None => {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("cannot create a network namespace: {e}"))?;
            Netlink::open()
                .and_then(|mut nl| nl.set_up("lo", None))
                .map_err(|e| format!("cannot bring up the loopback interface: {e}"))?;
        }
    }
    let sock = socket_path(runroot);
    let listener = UnixListener::bind(&sock)
        .map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
    // SAFETY: single-threaded (a fresh fork of the command line).
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("cannot fork: {e}"))? {
        nix::unistd::ForkResult::Parent { .. } => Ok(()),
        nix::unistd::ForkResult::Child => {
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            keep_only(&[listener.as_raw_fd()]);
            // Named for ps and for whoever looks for leftovers.
            let _ = nix::sys::prctl::set_name(c"burrow-netns");
            let pid_file = runroot.join("netns.pid");
            let _ = fs::write(&pid_file, format!("{}\n", std::process::id()));
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            );
            let code = match serve(listener, runroot) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // SAFETY: leave without the command line's destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Close every descriptor but `keep`, with stdio on /dev/null: the holder
/// must keep no lock, pipe or terminal of the command that started it.
fn keep_only(keep: &[i32]) {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto stdio.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
    let fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing descriptors this process no longer uses.
            unsafe { libc::close(fd) };
        }
    }
}

/// How long a new holder waits for its first connection.
const FIRST_CONNECTION: Duration = Duration::from_secs(10);

/// Hand the namespaces to each connection and hold them until the last
/// connection closes.
fn serve(listener: UnixListener, runroot: &Path) -> io::Result<()> {
    let userns = File::open("/proc/self/ns/user")?;
    let netns = File::open("/proc/self/ns/net")?;
    listener.set_nonblocking(true)?;
    let mut conns: Vec<UnixStream> = Vec::new();
    let started = Instant::now();
    let mut served = false;
    let accept_all = |conns: &mut Vec<UnixStream>, served: &mut bool| {
        while let Ok((c, _)) = listener.accept() {
            let _ = c.set_nonblocking(false);
            if send_fd(c.as_fd(), userns.as_fd()).is_ok()
                && send_fd(c.as_fd(), netns.as_fd()).is_ok()
            {
                let _ = c.set_nonblocking(true);
                conns.push(c);
                *served = true;
            }
        }
    };
    loop {
        let mut fds = vec![libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        fds.extend(conns.iter().map(|c| libc::pollfd {
            fd: c.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        // SAFETY: poll over our own array.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
        // Members send nothing: readable means closed.
        let mut gone = Vec::new();
        for (i, p) in fds.iter().enumerate().skip(1) {
            if p.revents != 0 {
                let mut b = [0u8; 64];
                match io::Read::read(&mut &conns[i - 1], &mut b) {
                    Ok(0) => gone.push(i - 1),
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => gone.push(i - 1),
                    _ => {}
                }
            }
        }
        for i in gone.into_iter().rev() {
            conns.remove(i);
        }
        accept_all(&mut conns, &mut served);
        if conns.is_empty() && (served || started.elapsed() > FIRST_CONNECTION) {
            // Leave under the lock, unless someone connected meanwhile. A
            // command holding the lock is about to connect: wait for it.
            let lock = open_lock(runroot).map_err(|e| io::Error::other(e.to_string()))?;
            match lock.try_lock() {
                Ok(()) => {
                    accept_all(&mut conns, &mut served);
                    if conns.is_empty() {
                        let _ = fs::remove_file(socket_path(runroot));
                        let _ = fs::remove_file(runroot.join("netns.pid"));
                        return Ok(());
                    }
                }
                Err(_) => continue,
            }
        }
    }
}

/// Plug a container into its networks: for each attachment, the bridge
/// (made if missing) and a veth pair in the shared namespace `shared`, the
/// peer moved into the container's namespace `container` with its address.
/// Runs in a forked child (setns changes the caller's namespace for good);
/// call as root of the shared user namespace, single-threaded.
pub fn attach(
    shared: BorrowedFd<'_>,
    container: BorrowedFd<'_>,
    container_id: &str,
    attachments: &[Attachment],
) -> Result<(), String> {
    crate::userns::in_forked_child(|| {
        setns(shared, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the shared network namespace: {e}"))?;
        let mut nl = Netlink::open().map_err(|e| format!("netlink: {e}"))?;
        for a in attachments {
            let bridge = a.bridge();
            let veth = a.host_veth(container_id);
            nl.create_bridge(&bridge).map_err(|e| {
                format!(
                    "cannot create bridge {bridge} of network {}: {e}",
                    a.network
                )
            })?;
            // A veth of an earlier run of this container whose namespace
            // the kernel has not torn down yet.
            nl.delete_link(&veth)
                .map_err(|e| format!("cannot remove the old interface {veth}: {e}"))?;
            nl.create_veth(&veth, &a.ifname, container).map_err(|e| {
                format!("cannot create the veth pair for network {}: {e}", a.network)
            })?;
            nl.set_up(&veth, Some(&bridge))
                .map_err(|e| format!("cannot plug {veth} into bridge {bridge}: {e}"))?;
        }
        setns(container, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the container's network namespace: {e}"))?;
        let mut nl = Netlink::open().map_err(|e| format!("netlink: {e}"))?;
        for a in attachments {
            configure(&mut nl, &a.ifname, a.ip, a.prefix).map_err(|e| {
                format!(
                    "cannot configure {} for network {}: {e}",
                    a.ifname, a.network
                )
            })?;
        }
        Ok(())
    })
}

fn configure(nl: &mut Netlink, ifname: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
    nl.add_ipv4(ifname, ip, prefix)?;
    nl.set_up(ifname, None)
}

/// Unplug a container from a network: its veth goes (both ends).
pub fn detach(
    shared: BorrowedFd<'_>,
    container_id: &str,
    attachment: &Attachment,
) -> Result<(), String> {
    crate::userns::in_forked_child(|| {
        setns(shared, CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot enter the shared network namespace: {e}"))?;
        let veth = attachment.host_veth(container_id);
        Netlink::open()
            .and_then(|mut nl| nl.delete_link(&veth))
            .map_err(|e| format!("cannot remove interface {veth}: {e}"))
    })
}
