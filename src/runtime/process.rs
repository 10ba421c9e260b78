//! The process model of `run`, inside burrow's user namespace:
//!
//! ```text
//! burrow (host) ── run_in_userns ──► monitor (root in the user ns)
//!                                      │ unshare(pid); fork
//!                                      ▼
//!                                    container (pid 1): unshare(mnt, uts,
//!                                    ipc, net, cgroup); apply the plan; exec
//! ```
//!
//! The monitor stays in the original mount namespace, so once the container
//! is gone its mounts are too and the monitor can remove its directory.
//! Errors before exec come back over a close-on-exec pipe: end of file
//! means the exec succeeded.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use super::hub::{Hub, Streams};
use super::plan::{apply, build_plan};
use super::rootfs::{Driver, FuseMount, copy_layers, keep_id_fuse_mapping, keep_id_view};
use super::spec::{ContainerSpec, DEFAULT_PATH, NetworkMode, hosts_file_with, resolv_conf_with};
use super::sys::{LinuxSys, Sys};
use super::tty;
use super::user::{ExecUser, resolve_user};

/// Exit codes of Docker and Podman.
pub const EXIT_ENGINE: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

use crate::ipc::signals::FORWARDED;

static CONTAINER_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = CONTAINER_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Create the container's directories and generated files.
fn prepare(spec: &ContainerSpec) -> std::io::Result<()> {
    for d in [
        spec.upper(),
        spec.work(),
        spec.rootfs(),
        spec.dir.join("empty"),
    ] {
        fs::create_dir_all(&d)?;
    }
    fs::write(spec.etc_file("hostname"), format!("{}\n", spec.hostname))?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts, resolv) = match &spec.network {
        NetworkMode::None => (
            hosts_file_with(&spec.hostname, &spec.names, None),
            resolv_conf_with(&host_resolv, &spec.names, None, false),
        ),
        NetworkMode::Host => {
            // The host's own names, with the user's additions.
            let mut hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
            if !hosts.is_empty() && !hosts.ends_with('\n') {
                hosts.push('\n');
            }
            for (name, addr) in &spec.names.hosts {
                hosts.push_str(&format!("{addr}\t{name}\n"));
            }
            (
                hosts,
                resolv_conf_with(&host_resolv, &spec.names, None, true),
            )
        }
        NetworkMode::Container(id) => {
            // The other container's names, as Docker shares them.
            let other = spec.dir.parent().map(|p| p.join(id));
            let read = |name: &str| {
                other
                    .as_ref()
                    .and_then(|d| fs::read_to_string(d.join(name)).ok())
                    .unwrap_or_default()
            };
            (read("hosts"), read("resolv.conf"))
        }
        NetworkMode::Slirp4netns(opts) => {
            let cfg = crate::netns::slirp::config(opts)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let (gw, dns) = (cfg.gateway().to_string(), cfg.dns().to_string());
            (
                hosts_file_with(&spec.hostname, &spec.names, Some(&gw)),
                resolv_conf_with(&host_resolv, &spec.names, Some(&dns), false),
            )
        }
        NetworkMode::Bridge(_) => {
            // The container's own lines; the members' are added to them
            // once its veths are up (see super::members).
            let gateway = if spec.network.has_helper() {
                crate::netns::pasta::host_gateway().map(|g| g.to_string())
            } else {
                None
            };
            let forwarder = spec
                .network
                .has_helper()
                .then_some(crate::netns::pasta::DNS_FORWARD);
            let base = hosts_file_with(&spec.hostname, &spec.names, gateway.as_deref());
            fs::write(spec.etc_file("hosts.base"), &base)?;
            (
                base,
                resolv_conf_with(&host_resolv, &spec.names, forwarder, false),
            )
        }
        NetworkMode::Pasta(_) => {
            let gateway = crate::netns::pasta::host_gateway().map(|g| g.to_string());
            (
                hosts_file_with(&spec.hostname, &spec.names, gateway.as_deref()),
                resolv_conf_with(
                    &host_resolv,
                    &spec.names,
                    Some(crate::netns::pasta::DNS_FORWARD),
                    false,
                ),
            )
        }
    };
    fs::write(spec.etc_file("hosts"), hosts)?;
    fs::write(spec.etc_file("resolv.conf"), resolv)?;
    Ok(())
}

/// Run the container described by `spec` to completion and return its exit
/// code (128+N if killed by signal N; 125/126/127 as Docker). Must be
/// called as root of a user namespace, from a single-threaded process.
/// `started` runs in the monitor once the container process exists.
///
/// With a `hub` (a detached container's monitor), the container's output
/// goes to the hub's log and attached clients, and its input comes from
/// them; without, the container shares burrow's stdio.
pub fn run_container(
    spec: &ContainerSpec,
    hub: Option<&mut Hub>,
    started: impl FnOnce(),
    running: impl FnOnce(),
) -> i32 {
    if spec.tty && hub.is_none() {
        // `run -t` attaches to a monitor's hub; nothing relays a terminal
        // of its own.
        eprintln!("Error: a container with a terminal needs a monitor to hold it");
        return EXIT_ENGINE;
    }
    if let Err(e) = prepare(spec) {
        eprintln!(
            "Error: cannot prepare the container directory {}: {e}",
            spec.dir.display()
        );
        return EXIT_ENGINE;
    }
    // Before the pid namespace: fuse-overlayfs's daemon must not live in
    // the container's.
    let fuse_mounted = match make_root(spec) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_ENGINE;
        }
    };
    let code = run_in_pid_namespace(spec, hub, started, running);
    if fuse_mounted {
        // The daemon exits once its file system is gone.
        let _ = nix::mount::umount2(&spec.rootfs(), nix::mount::MntFlags::MNT_DETACH);
    }
    code
}

/// What a detached container's monitor tells the rest of burrow: the
/// record updates and the restart decision (see [`super::lifecycle`]).
pub trait MonitorHooks {
    /// The container's process exists (each start, restarts included).
    fn started(&mut self, container_pid: i32);
    /// The container is gone with `code`; `ran` says whether its command
    /// was executed at all. Returns the delay before starting it again,
    /// None to end the monitor.
    fn exited(&mut self, code: i32, ran: bool) -> Option<std::time::Duration>;
    /// Asked after the delay: whether the restart is still wanted (the user
    /// may have stopped or removed the container meanwhile).
    fn restart_wanted(&mut self) -> bool;
}

/// Start the container under a monitor that outlives the caller (`run
/// -d`, `start`): the monitor is forked, leaves the caller's session and
/// parent-death signal, runs the container with its output logged and
/// restarts it as `hooks` decide. Returns when the command runs (`Ok`), or
/// with its exit code and the messages that explain the failure. Call as
/// root of the user namespace, single-threaded.
///
/// `first_client` is the monitor's end of an attach socket pair, for the
/// command that starts the container and attaches to it (`run -t`, `start
/// -a`): it then misses none of the output.
pub fn run_detached(
    spec: &ContainerSpec,
    first_client: Option<OwnedFd>,
    hooks: &mut dyn MonitorHooks,
) -> Result<(), (i32, String)> {
    let engine = |what: &str, e: nix::Error| (EXIT_ENGINE, format!("Error: {what}: {e}"));
    let (ready_r, ready_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| engine("cannot create a pipe", e))?;
    let (err_r, err_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| engine("cannot create a pipe", e))?;
    // SAFETY: single-threaded caller.
    match unsafe { fork() }.map_err(|e| engine("cannot fork the monitor", e))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(err_r);
            let _ = nix::unistd::setsid();
            let _ = nix::sys::prctl::set_pdeathsig(None);
            // Nothing of the caller's stdio stays open (a `$(burrow run -d)`
            // must not wait for the container); messages go to the caller
            // until the command runs.
            if let Ok(null) =
                nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty())
            {
                // SAFETY: dup2 onto stdio.
                unsafe {
                    libc::dup2(null.as_raw_fd(), 0);
                    libc::dup2(null.as_raw_fd(), 1);
                    libc::dup2(err_w.as_raw_fd(), 2);
                }
            }
            drop(err_w);
            // The monitor lives as long as the container: give back the
            // heap the command line's work left free.
            // SAFETY: malloc_trim only releases free memory.
            unsafe { libc::malloc_trim(0) };
            let mut ready = Some(ready_w);
            let log = spec.log.clone().unwrap_or_else(|| spec.log_path());
            let mut hub = match Hub::new(&spec.dir, &log, spec.log_max_size, first_client) {
                Ok(h) => h,
                Err(e) => {
                    eprintln!(
                        "Error: cannot set up the container's log and attach socket in {}: {e}",
                        spec.dir.display()
                    );
                    if let Some(w) = ready.take() {
                        let _ = nix::unistd::write(&w, EXIT_ENGINE.to_string().as_bytes());
                    }
                    hooks.exited(EXIT_ENGINE, false);
                    // SAFETY: leave without the caller's destructors.
                    unsafe { libc::_exit(0) }
                }
            };
            let mut spec = spec.clone();
            loop {
                let mut ran = false;
                // A restart joins the user networks the record has now
                // (`network connect` and `disconnect` change it).
                if let NetworkMode::Bridge(atts) = &mut spec.network
                    && let Some(rec) = fs::read(spec.dir.join("config.json"))
                        .ok()
                        .and_then(|b| serde_json::from_slice::<super::ContainerRecord>(&b).ok())
                {
                    *atts = rec.networks;
                }
                let code = run_container(
                    &spec,
                    Some(&mut hub),
                    || hooks.started(container_pid()),
                    || {
                        ran = true;
                        if let Some(w) = ready.take() {
                            let _ = nix::unistd::write(&w, b"ok");
                        }
                        if let Ok(null) = nix::fcntl::open(
                            "/dev/null",
                            OFlag::O_RDWR,
                            nix::sys::stat::Mode::empty(),
                        ) {
                            // SAFETY: dup2 onto stderr; from now on nobody listens.
                            unsafe { libc::dup2(null.as_raw_fd(), 2) };
                        }
                        shed_file_pages();
                    },
                );
                if let Some(w) = ready.take() {
                    // The first start failed: the caller reports it, and
                    // no policy restarts a container that never ran.
                    let _ = nix::unistd::write(&w, code.to_string().as_bytes());
                    hooks.exited(code, false);
                    hub.exited(code);
                    break;
                }
                let again = hooks.exited(code, ran);
                // Attached clients hear of the exit once it is recorded.
                hub.exited(code);
                match again {
                    Some(delay) => {
                        std::thread::sleep(delay);
                        if !hooks.restart_wanted() {
                            break;
                        }
                    }
                    None => break,
                }
            }
            drop(hub);
            // SAFETY: leave without the caller's destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(err_w);
            let mut messages = String::new();
            let _ = File::from(err_r).read_to_string(&mut messages);
            let mut answer = String::new();
            let _ = File::from(ready_r).read_to_string(&mut answer);
            // The monitor is now the init process's (or a subreaper's) child,
            // unless it already failed and exited.
            let _ = nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            if answer == "ok" {
                Ok(())
            } else {
                Err((answer.parse().unwrap_or(EXIT_ENGINE), messages))
            }
        }
    }
}

/// Drop the monitor's clean file-backed pages from its page tables.
///
/// The monitor is a fork of the command line, and inherits every page of
/// the burrow binary and its libraries that the command touched; it then
/// waits in poll(2) and runs a small part of that code. The pages stay in
/// the page cache (a page needed again costs a minor fault), but no longer
/// count as the monitor's memory. Only mappings without private pages are
/// dropped: RELRO and data segments hold written copies that must stay.
fn shed_file_pages() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize)> = None;
    let mut drop_it = false;
    let shed = |range: Option<(usize, usize)>, ok: bool| {
        if let (Some((start, end)), true) = (range, ok) {
            // SAFETY: a whole mapping of clean, read-only file pages: they
            // fault back in from the file, unchanged.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_RANDOM);
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            shed(current.take(), drop_it);
            let perms = f.next().unwrap_or("");
            let inode = f.nth(2).unwrap_or("0");
            let path = f.next().unwrap_or("");
            drop_it = !perms.contains('w') && inode != "0" && path.starts_with('/');
            current = Some((start, end));
        } else if first == "Anonymous:" && f.next() != Some("0") {
            drop_it = false;
        }
    }
    shed(current, drop_it);
}

/// The program that connects a container's network namespace.
enum NetHelper {
    Pasta(std::process::Child),
    Slirp(crate::netns::slirp::Slirp),
    /// On user networks: veths (gone with the namespace), pasta unless
    /// every network is internal.
    Bridge(Option<std::process::Child>),
}

/// Connect the network namespace of the container process `child` with
/// pasta or slirp4netns, once the process says the namespace exists (on
/// `ready`). The helper gets the namespace as an inherited descriptor
/// (`/proc/self/fd/N`): a path in the store might not be searchable for
/// it, and a /proc/PID path needs more than pasta keeps.
fn start_network(spec: &ContainerSpec, child: Pid, ready: OwnedFd) -> Result<NetHelper, String> {
    use crate::netns::{pasta, slirp};
    let mut byte = [0u8; 1];
    match nix::unistd::read(&ready, &mut byte) {
        Ok(1) => {}
        // The container process failed first; its report says why.
        _ => return Err(String::new()),
    }
    // Not close-on-exec: the helper inherits it. Closed here once it runs.
    let netns = nix::fcntl::open(
        format!("/proc/{child}/ns/net").as_str(),
        OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| format!("cannot open the container's network namespace: {e}"))?;
    let timeout = std::time::Duration::from_secs(10);
    // pasta on the namespace, with the published ports; ready once it set
    // the default route.
    let start_pasta = |netns: OwnedFd, extra: &[String]| -> Result<std::process::Child, String> {
        let path = PathBuf::from(format!("/proc/self/fd/{}", netns.as_raw_fd()));
        let log = spec.dir.join("pasta.log");
        let spawned = pasta::spawn(&path, &spec.ports, extra, &log);
        drop(netns);
        let mut p = spawned.map_err(|e| e.to_string())?;
        if let Err(e) = pasta::wait_ready(&mut p, child.as_raw(), &log, timeout) {
            let _ = p.kill();
            let _ = p.wait();
            return Err(e.to_string());
        }
        Ok(p)
    };
    match &spec.network {
        NetworkMode::Pasta(extra) => Ok(NetHelper::Pasta(start_pasta(netns, extra)?)),
        NetworkMode::Bridge(attachments) => {
            let shared = spec.shared_netns_fd.ok_or_else(|| {
                "the shared network namespace of user networks is not open".to_string()
            })?;
            // SAFETY: the command that started this monitor holds it open
            // (see ContainerSpec::shared_netns_fd) and so does this fork.
            let shared = unsafe { std::os::fd::BorrowedFd::borrow_raw(shared) };
            crate::netns::shared::attach(shared, netns.as_fd(), &spec.id, attachments)?;
            // pasta's interface is named apart from the veths (eth0, eth1,
            // ...), which it would otherwise collide with.
            let pasta = if spec.network.has_helper() {
                Some(start_pasta(netns, &["-I".into(), "pasta0".into()])?)
            } else {
                None
            };
            if let Err(e) = join_members(spec, attachments) {
                if let Some(p) = pasta {
                    stop_pasta(p);
                }
                return Err(format!("cannot write the network members' /etc/hosts: {e}"));
            }
            Ok(NetHelper::Bridge(pasta))
        }
        NetworkMode::Slirp4netns(opts) => {
            let cfg = slirp::config(opts).map_err(|e| e.to_string())?;
            let log = spec.dir.join("slirp4netns.log");
            let started = slirp::start(&netns, &cfg, &spec.dir, &log, timeout);
            drop(netns);
            let mut s = started.map_err(|e| e.to_string())?;
            if let Err(e) = slirp::publish(&spec.dir, &cfg, &spec.ports) {
                let _ = s.child.kill();
                let _ = s.child.wait();
                return Err(e.to_string());
            }
            Ok(NetHelper::Slirp(s))
        }
        _ => Err("no network helper for this mode".into()),
    }
}

/// Record the container as a running member of its networks, which
/// rewrites its /etc/hosts and that of the members it shares a network with.
fn join_members(
    spec: &ContainerSpec,
    attachments: &[crate::netns::network::Attachment],
) -> std::io::Result<()> {
    use super::members::{Member, Members};
    let name = fs::read(spec.dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<super::ContainerRecord>(&b).ok())
        .map(|r| r.name)
        .unwrap_or_else(|| spec.id[..spec.id.len().min(12)].to_string());
    let monitor = super::container::ProcessRef::current()
        .ok_or_else(|| std::io::Error::other("cannot read the monitor's own /proc entry"))?;
    Members::of_container(&spec.dir).join(
        &Member {
            id: spec.id.clone(),
            name,
            attachments: attachments.to_vec(),
            monitor,
            netns_fd: spec.shared_netns_fd,
        },
        &[],
    )
}

/// The container is gone: its network helper goes too, and on user
/// networks its name leaves the other members' /etc/hosts.
fn stop_network(spec: &ContainerSpec, h: NetHelper) {
    match h {
        NetHelper::Pasta(p) => stop_pasta(p),
        NetHelper::Slirp(s) => stop_pasta(s.child),
        NetHelper::Bridge(pasta) => {
            if let Some(p) = pasta {
                stop_pasta(p);
            }
            if let Err(e) = super::members::Members::of_container(&spec.dir).leave(&spec.id) {
                eprintln!("Error: removing the container from its networks' /etc/hosts: {e}");
            }
        }
    }
}

/// The container is gone: pasta goes too. It is not waited for (taking
/// down its socket and pipe pools costs tens of milliseconds, which `run`
/// would otherwise add to every container); it is reaped when the monitor
/// exits, or by the next stop of a restarted container.
fn stop_pasta(mut p: std::process::Child) {
    // SAFETY: kill(2) of our own child, not yet reaped.
    unsafe { libc::kill(p.id() as i32, libc::SIGKILL) };
    let _ = p.try_wait();
    // Earlier pastas of this monitor (restarts), gone by now.
    while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
        waitpid(None::<Pid>, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
    {}
}

/// The root of a container that is not running, mounted in a mount
/// namespace of the caller's own (for `cp` and `diff`): the overlay (kernel
/// or FUSE) as the container would have it, or the vfs copy. Call as root
/// of a user namespace with the container's id map, single-threaded.
pub fn mount_root_privately(spec: &ContainerSpec) -> Result<PathBuf, String> {
    prepare(spec).map_err(|e| {
        format!(
            "cannot prepare the container directory {}: {e}",
            spec.dir.display()
        )
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
            .map_err(|e| format!("cannot mount the container's root: {e}"))?;
            Ok(spec.rootfs())
        }
    }
}

/// A mount namespace of our own whose mounts do not propagate back.
pub fn private_mount_namespace() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot create a mount namespace: {e}"))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make / private: {e}"))
}

/// Whatever the driver needs before the container's own mount namespace:
/// fuse-overlayfs is mounted here (true), the vfs copy made once.
fn make_root(spec: &ContainerSpec) -> Result<bool, String> {
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
            copy_layers(&spec.lowers, &tmp, owner).map_err(|e| e.to_string())?;
            fs::rename(&tmp, &dest)
                .map_err(|e| format!("cannot move the copied root into place: {e}"))?;
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
            .mount()
            .map_err(|e| e.to_string())?;
            Ok(true)
        }
    }
}

fn run_in_pid_namespace(
    spec: &ContainerSpec,
    hub: Option<&mut Hub>,
    started: impl FnOnce(),
    running: impl FnOnce(),
) -> i32 {
    // Unless it relays the user's terminal, the monitor leaves the
    // terminal's foreground group: a ^C then reaches the container once,
    // forwarded by burrow, instead of once per process.
    if !(spec.tty && spec.stdin) {
        let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    }
    // The terminal's master comes back over this socket.
    let console = match tty::console_socket(spec.tty) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: cannot create a socket for the terminal: {e}");
            return EXIT_ENGINE;
        }
    };
    let (read_end, write_end) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: cannot create a pipe: {e}");
            return EXIT_ENGINE;
        }
    };
    // Without a terminal, a detached container writes into pipes the
    // monitor drains, and with -i reads a pipe the monitor fills.
    let piped = hub.is_some() && !spec.tty;
    let log_pipes = if piped {
        match (
            nix::unistd::pipe2(OFlag::O_CLOEXEC),
            nix::unistd::pipe2(OFlag::O_CLOEXEC),
        ) {
            (Ok(o), Ok(e)) => Some((o, e)),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("Error: cannot create the output pipes: {e}");
                return EXIT_ENGINE;
            }
        }
    } else {
        None
    };
    let stdin_pipe = if piped && spec.stdin {
        match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("Error: cannot create the input pipe: {e}");
                return EXIT_ENGINE;
            }
        }
    } else {
        None
    };
    // With pasta, the container tells the monitor once its network
    // namespace exists, and waits, after the rest of its setup, for the
    // monitor's word that pasta configured it.
    let net_sync = if spec.network.needs_setup() {
        match (
            nix::unistd::pipe2(OFlag::O_CLOEXEC),
            nix::unistd::pipe2(OFlag::O_CLOEXEC),
        ) {
            (Ok(ready), Ok(go)) => Some((ready, go)),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("Error: cannot create a pipe: {e}");
                return EXIT_ENGINE;
            }
        }
    } else {
        None
    };
    // With --network container:, the other container's namespace, opened
    // here (the monitor is root in that container's user namespace).
    let join_net = match (&spec.network, spec.join_netns_pid) {
        (NetworkMode::Container(id), Some(pid)) => {
            match File::open(format!("/proc/{pid}/ns/net")) {
                Ok(f) => Some(OwnedFd::from(f)),
                Err(e) => {
                    eprintln!("Error: cannot open the network namespace of container {id}: {e}");
                    return EXIT_ENGINE;
                }
            }
        }
        (NetworkMode::Container(id), None) => {
            eprintln!("Error: container {id}, whose network this one shares, is not running");
            return EXIT_ENGINE;
        }
        _ => None,
    };
    install_control_signals();
    let mut blocked = SigSet::empty();
    for s in FORWARDED {
        blocked.add(s);
    }
    let mut old_mask = SigSet::empty();
    if let Err(e) = nix::sys::signal::pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&blocked),
        Some(&mut old_mask),
    ) {
        eprintln!("Error: cannot block signals: {e}");
        return EXIT_ENGINE;
    }
    // SAFETY: the caller guarantees a single thread.
    match unsafe { fork_into_new_pid_namespace() } {
        Err(e) => {
            let _ =
                nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
            eprintln!("Error: cannot create the container's process and pid namespace: {e}");
            EXIT_ENGINE
        }
        Ok(ForkResult::Child) => {
            drop(read_end);
            let console = console.map(|(_, theirs)| theirs);
            let logs = log_pipes.map(|((_, out), (_, err))| (out, err));
            let stdin = stdin_pipe.map(|(r, _)| r);
            let net = net_sync.map(|((_, ready_w), (go_r, _))| (ready_w, go_r));
            let ends = ChildEnds {
                report: write_end,
                console,
                logs,
                stdin,
                net,
                join_net,
            };
            container_main(spec, ends, &old_mask)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(write_end);
            CONTAINER_PID.store(child.as_raw(), Ordering::SeqCst);
            let action = SigAction::new(
                SigHandler::Handler(forward_signal),
                SaFlags::SA_RESTART,
                blocked,
            );
            for s in FORWARDED {
                // SAFETY: the handler only reads an atomic and calls kill(2).
                let _ = unsafe { nix::sys::signal::sigaction(s, &action) };
            }
            let _ =
                nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
            let helper = net_sync.and_then(|((ready_r, _), (_, go_w))| {
                match start_network(spec, child, ready_r) {
                    Ok(p) => {
                        let _ = nix::unistd::write(&go_w, b"ok");
                        Some(p)
                    }
                    // The container fails with this message in its report.
                    Err(msg) => {
                        let _ = nix::unistd::write(&go_w, msg.as_bytes());
                        None
                    }
                }
            });
            started();
            let log_ends = log_pipes.map(|((out, _), (err, _))| (out, err));
            let stdin_end = stdin_pipe.map(|(_, w)| w);
            let mut master = None;
            if let Some((ours, theirs)) = console {
                drop(theirs);
                match crate::ipc::fdpass::recv_fd(ours.as_fd()) {
                    Ok(Some(m)) => master = Some(m),
                    // The container failed first; its report says why.
                    Ok(None) => {}
                    Err(e) => eprintln!("Error: receiving the container's terminal: {e}"),
                }
            }
            // End of file on the report pipe: the command was executed.
            // Nothing is written to the terminal or pipes before, so the
            // wait cannot block the container.
            let report = read_report(read_end);
            if report.is_none() {
                running();
            }
            match hub {
                Some(hub) => {
                    let streams = match (master, log_ends) {
                        (Some(m), _) => Some(Streams::Tty(m)),
                        (None, Some((stdout, stderr))) => Some(Streams::Pipes {
                            stdout,
                            stderr,
                            stdin: stdin_end,
                        }),
                        (None, None) => None,
                    };
                    if let Some(streams) = streams
                        && let Err(e) = hub.serve(streams)
                    {
                        eprintln!("Error: passing the container's input and output on: {e}");
                    }
                }
                // Only a monitor with a hub holds a terminal (see the
                // check at the top).
                None => drop(master),
            }
            let code = reap(child);
            CONTAINER_PID.store(0, Ordering::SeqCst);
            if let Some(h) = helper {
                stop_network(spec, h);
            }
            print_report(report);
            code
        }
    }
}

/// fork(2), with the child as pid 1 of a new pid namespace: clone(2) with
/// CLONE_NEWPID and no stack of its own, as fork itself is made. Unlike
/// unshare(CLONE_NEWPID) then fork, a process can do it again: a monitor
/// restarts its container in a fresh pid namespace (a second unshare of
/// the pid namespace fails with EINVAL).
///
/// # Safety
/// As fork: the caller is single-threaded. glibc's fork handlers do not
/// run; nothing in burrow registers any, and glibc (2.34 and later) asks
/// the kernel for the thread id where it matters (raise, abort).
unsafe fn fork_into_new_pid_namespace() -> nix::Result<ForkResult> {
    let flags = libc::CLONE_NEWPID as libc::c_long | libc::SIGCHLD as libc::c_long;
    // SAFETY: clone without CLONE_VM and with a null stack behaves as fork.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_long,
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(ForkResult::Child),
        pid => Ok(ForkResult::Parent {
            child: Pid::from_raw(pid as i32),
        }),
    }
}

/// The host pid of the container's process (its pid 1), while it runs;
/// 0 outside a monitor.
pub fn container_pid() -> i32 {
    CONTAINER_PID.load(Ordering::SeqCst)
}

/// The first real-time signal; `SIGRTMIN + N` sent to a monitor asks it to
/// send signal N to its container (see [`signal_container`]).
static RTMIN: AtomicI32 = AtomicI32::new(0);

extern "C" fn relay_control(sig: libc::c_int) {
    let pid = CONTAINER_PID.load(Ordering::SeqCst);
    let wanted = sig - RTMIN.load(Ordering::SeqCst);
    if pid > 0 && wanted > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, wanted) };
    }
}

/// Handlers for the control signals. Installed before the fork: the
/// container process loses them at execve, and nobody signals it before.
fn install_control_signals() {
    let base = libc::SIGRTMIN();
    RTMIN.store(base, Ordering::SeqCst);
    for n in 1..=30 {
        if base + n > libc::SIGRTMAX() {
            break;
        }
        crate::ipc::signals::install_handler(base + n, relay_control);
    }
}

/// Ask the monitor `monitor_pid` to send `signal` (1..=30, e.g. SIGKILL,
/// which the monitor cannot receive itself) to its container. The monitor
/// does the sending because it is root in the container's user namespace:
/// a container process running as a subordinate id is not the caller's to
/// signal.
pub fn signal_container(monitor_pid: i32, signal: i32) -> std::io::Result<()> {
    if !(1..=30).contains(&signal) || libc::SIGRTMIN() + signal > libc::SIGRTMAX() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: kill(2).
    if unsafe { libc::kill(monitor_pid, libc::SIGRTMIN() + signal) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Show a child's report: engine errors as `Error:`, exec failures
/// (126/127) as burrow's remark about the command.
pub(crate) fn print_report(report: Option<(i32, String)>) {
    if let Some((kind, msg)) = report {
        if kind == EXIT_ENGINE {
            eprintln!("Error: {msg}");
        } else {
            eprintln!("burrow: {msg}");
        }
    }
}

/// The child's report, if it failed before exec: (exit code, message).
pub(crate) fn read_report(fd: OwnedFd) -> Option<(i32, String)> {
    let mut buf = Vec::new();
    let mut f = File::from(fd);
    // EINTR is retried by read_to_end; other errors mean no report.
    let _ = f.read_to_end(&mut buf);
    let (&kind, msg) = buf.split_first()?;
    Some((i32::from(kind), String::from_utf8_lossy(msg).into_owned()))
}

pub(crate) fn reap(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("Error: cannot wait for the container process: {e}");
                return EXIT_ENGINE;
            }
        }
    }
}

/// Send `msg` to the monitor and exit with `code`.
pub(crate) fn fail(report: &OwnedFd, code: i32, msg: &str) -> ! {
    let mut bytes = vec![code as u8];
    bytes.extend_from_slice(msg.as_bytes());
    let _ = nix::unistd::write(report, &bytes);
    // SAFETY: _exit skips the parent's destructors and atexit handlers.
    unsafe { libc::_exit(code) }
}

/// The container process's ends of what connects it to its monitor.
struct ChildEnds {
    /// Errors before exec (close-on-exec: end of file means it ran).
    report: OwnedFd,
    /// Where the terminal's master goes (`-t`).
    console: Option<OwnedFd>,
    /// stdout and stderr pipes of a detached container.
    logs: Option<(OwnedFd, OwnedFd)>,
    /// stdin pipe of a detached `-i` container.
    stdin: Option<OwnedFd>,
    /// "namespace made" and "network ready" pipes, with a network helper.
    net: Option<(OwnedFd, OwnedFd)>,
    /// The network namespace to join (`--network container:`).
    join_net: Option<OwnedFd>,
}

fn container_main(spec: &ContainerSpec, ends: ChildEnds, old_mask: &SigSet) -> ! {
    let ChildEnds {
        report,
        console,
        logs,
        stdin,
        net,
        join_net,
    } = ends;
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        fail(&report, EXIT_ENGINE, "cannot set the parent-death signal");
    }
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if spec.network.new_namespace() {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = unshare(flags) {
        fail(
            &report,
            EXIT_ENGINE,
            &format!("cannot create the container's namespaces: {e}"),
        );
    }
    if let Some(ns) = join_net
        && let Err(e) = nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
    {
        fail(
            &report,
            EXIT_ENGINE,
            &format!("cannot join the other container's network namespace: {e}"),
        );
    }
    let net_go = net.map(|(ready, go)| {
        // The monitor starts pasta on our network namespace now, while we
        // set up the rest.
        let _ = nix::unistd::write(&ready, b"1");
        go
    });
    let plan = build_plan(spec);
    if let Err(e) = apply(&plan, &mut LinuxSys) {
        fail(&report, EXIT_ENGINE, &e.to_string());
    }
    if let Some(go) = net_go {
        let mut word = Vec::new();
        let _ = File::from(go).read_to_end(&mut word);
        if word != b"ok" {
            let msg = String::from_utf8_lossy(&word);
            fail(
                &report,
                EXIT_ENGINE,
                if msg.is_empty() {
                    "the network was not set up"
                } else {
                    &msg
                },
            );
        }
    }
    // The container's own account files, read after the pivot so that
    // symlinks in them resolve inside its root.
    let account_file = |path: &str| match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {path} in the container: {e}")),
    };
    let (passwd, group) = match (account_file("/etc/passwd"), account_file("/etc/group")) {
        (Ok(p), Ok(g)) => (p, g),
        (Err(e), _) | (_, Err(e)) => fail(&report, EXIT_ENGINE, &e),
    };
    let user = match resolve_user(&spec.user, passwd.as_deref(), group.as_deref()) {
        Ok(u) => u,
        Err(e) => fail(&report, EXIT_ENGINE, &e.to_string()),
    };
    let mut env_vars = spec.env.clone();
    if !env_vars.iter().any(|e| e.split('=').next() == Some("HOME")) {
        env_vars.push(format!("HOME={}", user.home));
    }
    // Only now, inside the container's root: a working directory resolved
    // before the pivot could point at the host (CVE-2024-21626).
    if let Err(e) = nix::unistd::chdir(spec.cwd.as_str()) {
        fail(
            &report,
            EXIT_ENGINE,
            &format!("cannot enter the working directory {}: {e}", spec.cwd),
        );
    }
    let path_var = env_vars
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let Some(name) = spec.args.first() else {
        fail(&report, EXIT_ENGINE, "no command to run");
    };
    let program = match find_program(name, path_var) {
        Ok(p) => p,
        Err((code, msg)) => fail(&report, code, &msg),
    };
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let prepared: Result<(CString, Vec<CString>, Vec<CString>), String> = (|| {
        let prog = to_c(&program.to_string_lossy())?;
        let args = spec
            .args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<_, _>>()?;
        let env = env_vars.iter().map(|a| to_c(a)).collect::<Result<_, _>>()?;
        Ok((prog, args, env))
    })();
    let (prog, args, env) = match prepared {
        Ok(p) => p,
        Err(msg) => fail(&report, EXIT_ENGINE, &msg),
    };
    if let Err(e) = setup_stdio(spec, console, logs, stdin) {
        fail(&report, EXIT_ENGINE, &e);
    }
    // Every descriptor past stdio closes at exec, so nothing of burrow's
    // leaks into the container; the report pipe closes with them.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        fail(
            &report,
            EXIT_ENGINE,
            &format!("close_range: {}", std::io::Error::last_os_error()),
        );
    }
    // Last, after every mount: the user, then capabilities (shrinking the
    // bounding set needs CAP_SETPCAP and prctl, which a filter may forbid),
    // then the filter. The report pipe keeps working: write(2) stays allowed.
    //
    // The user switch comes first so that it works even when the set lacks
    // CAP_SETUID/CAP_SETGID (`--cap-drop ALL -u 1000`): keep-caps preserves
    // the permitted set across it for caps::apply. A non-root user still ends
    // with no capabilities, as with Docker: its execve keeps only ambient
    // ones, and apply clears those.
    if !spec.user.is_empty()
        && let Err(e) = switch_user(&user)
    {
        fail(&report, EXIT_ENGINE, &e);
    }
    if let Err(e) = crate::confine::apply(&spec.confine.caps) {
        fail(&report, EXIT_ENGINE, &e.to_string());
    }
    let confined = match &spec.confine.seccomp {
        Some(filter) => crate::confine::install(filter),
        None => crate::confine::set_no_new_privs(),
    };
    if let Err(e) = confined {
        fail(&report, EXIT_ENGINE, &e.to_string());
    }
    if spec.init {
        let mut block = SigSet::empty();
        for s in super::init::FORWARDED {
            block.add(*s);
        }
        let _ = block.thread_block();
        if let Err(e) = super::init::fork_init(old_mask, spec.tty) {
            fail(&report, EXIT_ENGINE, &e);
        }
    } else {
        let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(old_mask), None);
    }
    let err = match nix::unistd::execve(&prog, &args, &env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let code = match err {
        Errno::ENOENT => EXIT_NOT_FOUND,
        _ => EXIT_NOT_EXECUTABLE,
    };
    fail(
        &report,
        code,
        &format!("{:?}: {}", spec.args[0], describe_errno(err)),
    )
}

/// The container's stdin, stdout and stderr: a new terminal with `-t`
/// (its master sent to the monitor over `console`); else burrow's own
/// stdout and stderr, and stdin with `-i` or /dev/null without, as Docker.
/// Without a terminal the container gets a session of its own, so signals
/// from burrow's terminal reach it only through burrow.
fn setup_stdio(
    spec: &ContainerSpec,
    console: Option<OwnedFd>,
    logs: Option<(OwnedFd, OwnedFd)>,
    stdin: Option<OwnedFd>,
) -> Result<(), String> {
    if spec.tty {
        let sock = console.ok_or("no socket for the terminal")?;
        let master = tty::open_in_container(spec.winsize)
            .map_err(|e| format!("cannot open a terminal in the container: {e}"))?;
        // Programs that write to /dev/console expect the terminal there.
        let n = tty::pts_number(master.as_fd())
            .map_err(|e| format!("cannot name the container's terminal: {e}"))?;
        let mut sys = LinuxSys;
        let console_path = Path::new("/dev/console");
        sys.ensure_file(console_path)
            .and_then(|()| {
                sys.mount(
                    Some(&format!("/dev/pts/{n}")),
                    console_path,
                    None,
                    nix::mount::MsFlags::MS_BIND,
                    None,
                )
            })
            .map_err(|e| format!("cannot bind the terminal over /dev/console: {e}"))?;
        crate::ipc::fdpass::send_fd(sock.as_fd(), master.as_fd())
            .map_err(|e| format!("cannot pass the terminal to burrow: {e}"))?;
        return Ok(());
    }
    if let Some((out, err)) = logs {
        // SAFETY: dup2 onto stdout and stderr; the pipes stay owned.
        if unsafe { libc::dup2(out.as_raw_fd(), 1) } < 0
            || unsafe { libc::dup2(err.as_raw_fd(), 2) } < 0
        {
            return Err("cannot connect the container to its log".into());
        }
    }
    if let Some(input) = stdin {
        // SAFETY: dup2 onto stdin; the pipe stays owned.
        if unsafe { libc::dup2(input.as_raw_fd(), 0) } < 0 {
            return Err("cannot connect the container's stdin".into());
        }
    } else if !spec.stdin {
        let null = nix::fcntl::open("/dev/null", OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
            .map_err(|e| format!("cannot open /dev/null in the container: {e}"))?;
        // SAFETY: dup2 onto stdin; `null` stays owned and closes on drop.
        if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
            return Err("cannot redirect stdin to /dev/null".into());
        }
    }
    nix::unistd::setsid().map_err(|e| format!("cannot start a session: {e}"))?;
    Ok(())
}

pub(crate) fn switch_user(user: &ExecUser) -> Result<(), String> {
    let gids: Vec<nix::unistd::Gid> = user
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids)
        .map_err(|e| format!("cannot set supplementary groups {:?}: {e}", user.groups))?;
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| format!("cannot switch to group {}: {e}", user.gid))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::sys::prctl::set_keepcaps(true).map_err(|e| format!("cannot keep capabilities: {e}"))?;
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| format!("cannot switch to user {}: {e}", user.uid))?;
    // A non-zero uid loses the effective set; apply needs it back.
    let permitted = caps::read(None, caps::CapSet::Permitted)
        .map_err(|e| format!("cannot read capabilities: {e}"))?;
    caps::set(None, caps::CapSet::Effective, &permitted)
        .map_err(|e| format!("cannot raise capabilities: {e}"))
}

fn describe_errno(e: Errno) -> String {
    e.desc().to_lowercase()
}

/// `name` looked up in `path` the way execvp does, but in the container's
/// PATH (glibc's execvpe searches the caller's). Errors carry the exit code.
pub fn find_program(name: &str, path: &str) -> Result<PathBuf, (i32, String)> {
    if name.is_empty() {
        return Err((
            EXIT_NOT_FOUND,
            "\"\": executable file not found in $PATH".into(),
        ));
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let mut not_executable = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        match fs::metadata(&candidate) {
            Ok(m) if m.is_file() => {
                if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return Ok(candidate);
                }
                not_executable = true;
            }
            _ => {}
        }
    }
    if not_executable {
        Err((EXIT_NOT_EXECUTABLE, format!("{name:?}: permission denied")))
    } else {
        Err((
            EXIT_NOT_FOUND,
            format!("{name:?}: executable file not found in $PATH"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn find_program_searches_the_given_path() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(a.join("tool"), "").unwrap();
        fs::set_permissions(a.join("tool"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(b.join("tool"), "").unwrap();
        fs::set_permissions(b.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        assert_eq!(find_program("tool", &path).unwrap(), b.join("tool"));
        let only_a = a.display().to_string();
        let err = find_program("tool", &only_a).unwrap_err();
        // Root bypasses the permission check only for files with some x bit.
        assert_eq!(err.0, EXIT_NOT_EXECUTABLE);
        assert_eq!(
            find_program("nosuch", &path).unwrap_err(),
            (
                EXIT_NOT_FOUND,
                "\"nosuch\": executable file not found in $PATH".to_string()
            )
        );
        assert_eq!(find_program("/x/y", "").unwrap(), Path::new("/x/y"));
    }
}
