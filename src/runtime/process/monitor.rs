//! The monitor: runs a container to completion ([`run_container`]), and
//! for a detached container ([`run_detached`]) forks itself off the
//! caller, tells it whether the command runs, and restarts the container
//! as its policy says.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, fork};
use serde::{Deserialize, Serialize};

use super::error::{EXIT_ENGINE, RunError};
use super::{etc_files, pidns};
use crate::ipc::Channel;
use crate::ipc::signals::block_forwarded;
use crate::runtime::container::ContainerStore;
use crate::runtime::hub::Hub;
use crate::runtime::root;
use crate::runtime::spec::{ContainerSpec, NetworkMode};

/// Run the container described by `spec` to completion and return its exit
/// code (128+N if killed by signal N), or why its command did not run
/// (see [`RunError::exit_code`] for Docker's 125/126/127). Must be called
/// as root of a user namespace, from a single-threaded process. `started`
/// runs in the monitor once the container process exists, `running` once
/// its command was executed.
///
/// With a `hub` (a detached container's monitor), the container's output
/// goes to the hub's log and attached clients, and its input comes from
/// them; without, the container shares burrow's stdio.
pub fn run_container(
    spec: &ContainerSpec,
    hub: Option<&mut Hub>,
    started: impl FnOnce(),
    running: impl FnOnce(),
) -> Result<i32, RunError> {
    if spec.tty && hub.is_none() {
        return Err(RunError::TtyWithoutMonitor);
    }
    root::create_dirs(spec)
        .and_then(|()| etc_files::write(spec))
        .map_err(|source| RunError::Prepare {
            dir: spec.dir.clone(),
            source,
        })?;
    // Before the pid namespace: fuse-overlayfs's daemon must not live in
    // the container's.
    let fuse_mounted = root::make_root(spec)?;
    let unmount = || {
        if fuse_mounted {
            // The daemon exits once its file system is gone.
            let _ = nix::mount::umount2(&spec.rootfs(), nix::mount::MntFlags::MNT_DETACH);
        }
    };
    // keep-id's account entries, read from the root just made.
    let mut spec = spec.clone();
    if spec.keep_id_account.is_some() {
        let root = match spec.driver {
            crate::runtime::rootfs::Driver::Vfs => spec.vfs_root(),
            _ => spec.rootfs(),
        };
        match etc_files::write_accounts(&spec, &root) {
            Ok(written) => spec.generated_etc = written,
            Err(source) => {
                unmount();
                return Err(RunError::Prepare {
                    dir: spec.dir.clone(),
                    source,
                });
            }
        }
    }
    let result = pidns::run_in_pid_namespace(&spec, hub, started, running);
    unmount();
    result
}

/// What a detached container's monitor tells the rest of burrow: the
/// record updates and the restart decision (see [`crate::runtime::lifecycle`]).
pub trait MonitorHooks {
    /// The container's process exists (each start, restarts included).
    fn started(&mut self, container_pid: i32);
    /// The container is gone with `code`; `ran` says whether its command
    /// was executed at all. Returns the delay before starting it again,
    /// None to end the monitor.
    fn exited(&mut self, code: i32, ran: bool) -> Option<Duration>;
    /// Asked after the delay: whether the restart is still wanted (the user
    /// may have stopped or removed the container meanwhile).
    fn restart_wanted(&mut self) -> bool;
}

/// What the monitor tells the command that started it, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StartMessage {
    /// The container's command runs.
    Running,
    /// The first start failed with `code`, for `message`.
    Failed { code: i32, message: String },
}

/// Who is at either end of the start channel.
const CALLER: &str = "burrow";
const MONITOR: &str = "the container's monitor";

/// Start the container under a monitor that outlives the caller (`run
/// -d`, `start`): the monitor is forked, leaves the caller's session and
/// parent-death signal, runs the container with its output logged and
/// restarts it as `hooks` decide. Returns when the command runs (`Ok`), or
/// with why it did not ([`RunError::Monitor`], which also carries what the
/// monitor and its helpers wrote to stderr meanwhile). Call as root of the
/// user namespace, single-threaded.
///
/// `first_client` is the monitor's end of an attach socket pair, for the
/// command that starts the container and attaches to it (`run -t`, `start
/// -a`): it then misses none of the output.
///
/// Returns with the forwarded signals
/// ([`FORWARDED`](crate::ipc::signals::FORWARDED)) blocked: from the
/// monitor's fork on, the container starts whatever the caller is sent,
/// and a caller ended by a signal meanwhile would report a failure (and
/// `--rm` remove the record) of a container that runs. The caller is the
/// short-lived namespace process, which exits next; burrow above it saw
/// the signals and acts on them once this returns.
pub fn run_detached(
    spec: &ContainerSpec,
    first_client: Option<OwnedFd>,
    hooks: &mut dyn MonitorHooks,
) -> Result<(), RunError> {
    let (mut to_monitor, to_caller) = Channel::<StartMessage>::pair(CALLER, MONITOR)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| RunError::Resource {
        what: "a pipe",
        source: e.into(),
    })?;
    let caller_mask = block_forwarded().map_err(|e| RunError::Resource {
        what: "the signal mask",
        source: e.into(),
    })?;
    // SAFETY: single-threaded caller.
    let forked = unsafe { fork() }.map_err(|e| {
        let _ = caller_mask.thread_set_mask();
        RunError::ForkMonitor(e)
    })?;
    match forked {
        ForkResult::Child => {
            let _ = caller_mask.thread_set_mask();
            drop(to_monitor);
            drop(err_r);
            let _ = nix::unistd::setsid();
            let _ = nix::sys::prctl::set_pdeathsig(None);
            // Nothing of the caller's stdio stays open (a `$(burrow run -d)`
            // must not wait for the container); what the monitor's helpers
            // say goes to the caller until the command runs.
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
            monitor_main(spec, first_client, hooks, to_caller);
            // SAFETY: leave without the caller's destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(to_caller);
            drop(err_w);
            let mut output = String::new();
            let _ = File::from(err_r).read_to_string(&mut output);
            let answer = to_monitor.recv();
            // The monitor is now the init process's (or a subreaper's) child,
            // unless it already failed and exited.
            let _ = nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            let (code, message) = match answer {
                Ok(Some(StartMessage::Running)) => return Ok(()),
                Ok(Some(StartMessage::Failed { code, message })) => (code, message),
                // It died before a word; what it wrote says why.
                Ok(None) => (EXIT_ENGINE, String::new()),
                Err(e) => (EXIT_ENGINE, e.to_string()),
            };
            Err(RunError::Monitor {
                code,
                message,
                output,
            })
        }
    }
}

/// The detached monitor: the container's hub, then one run after another
/// until the hooks say no more. The first start's outcome goes to the
/// caller over `to_caller`.
fn monitor_main(
    spec: &ContainerSpec,
    first_client: Option<OwnedFd>,
    hooks: &mut dyn MonitorHooks,
    to_caller: Channel<StartMessage>,
) {
    let mut to_caller = Some(to_caller);
    let log = spec
        .log_driver
        .logs()
        .then(|| spec.log.clone().unwrap_or_else(|| spec.log_path()));
    let mut hub = match Hub::new(&spec.dir, log.as_deref(), spec.log_max_size, first_client) {
        Ok(h) => h,
        Err(source) => {
            let e = RunError::Hub {
                dir: spec.dir.clone(),
                source,
            };
            if let Some(mut c) = to_caller.take() {
                let _ = c.send(&StartMessage::Failed {
                    code: e.exit_code(),
                    message: e.to_string(),
                });
            }
            hooks.exited(e.exit_code(), false);
            return;
        }
    };
    let store = ContainerStore::of_container_dir(&spec.dir);
    let mut spec = spec.clone();
    loop {
        let mut ran = false;
        // A restart joins the user networks the record has now
        // (`network connect` and `disconnect` change it).
        if let NetworkMode::Bridge(atts) = &mut spec.network
            && let Ok(rec) = store.get(&spec.id)
        {
            *atts = rec.networks;
        }
        let result = run_container(
            &spec,
            Some(&mut hub),
            || hooks.started(pidns::container_pid()),
            || {
                ran = true;
                if let Some(mut c) = to_caller.take() {
                    let _ = c.send(&StartMessage::Running);
                }
                if let Ok(null) =
                    nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty())
                {
                    // SAFETY: dup2 onto stderr; from now on nobody listens.
                    unsafe { libc::dup2(null.as_raw_fd(), 2) };
                }
                shed_file_pages();
            },
        );
        let code = match &result {
            Ok(code) => *code,
            Err(e) => e.exit_code(),
        };
        if let Some(mut c) = to_caller.take() {
            // The first start failed: the caller reports it, and no policy
            // restarts a container that never ran.
            let message = result.err().map(|e| e.to_string()).unwrap_or_default();
            let _ = c.send(&StartMessage::Failed { code, message });
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
