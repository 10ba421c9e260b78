//! The monitor's side of one run of a container: it forks the container
//! process as pid 1 of a new pid namespace, relays signals to it, connects
//! its network once the namespace exists, receives its terminal, learns
//! whether its command was executed, passes its input and output on, and
//! reaps it.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::child::{ChildEnds, container_main};
use super::error::RunError;
use super::protocol::{self, Message, ProcessChannel};
use super::terminal_pipes::TerminalPipes;
use crate::ipc::signals::FORWARDED;
use crate::netns::helper::{self, Helper, Request, Wiring};
use crate::runtime::container::ContainerStore;
use crate::runtime::hub::{Hub, Streams};
use crate::runtime::spec::{ContainerSpec, NetworkMode};
use crate::runtime::tty;

static CONTAINER_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = CONTAINER_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn resource<T>(what: &'static str) -> impl FnOnce(T) -> RunError
where
    std::io::Error: From<T>,
{
    move |e| RunError::Resource {
        what,
        source: e.into(),
    }
}

/// Run the container process to its end; its exit code, or why its
/// command did not run.
pub fn run_in_pid_namespace(
    spec: &ContainerSpec,
    hub: Option<&mut Hub>,
    started: impl FnOnce(),
    running: impl FnOnce(),
) -> Result<i32, RunError> {
    // In the foreground without -t, pipes stand in for burrow's stdio
    // descriptors that are the user's terminal: the container never gets
    // the terminal itself.
    let terminal = if hub.is_none() && !spec.tty {
        TerminalPipes::for_terminals(spec.stdin).map_err(resource("pipes for the terminal"))?
    } else {
        None
    };
    // Unless it relays the user's terminal, the monitor leaves the
    // terminal's foreground group: a ^C then reaches the container once,
    // forwarded by burrow, instead of once per process. To read what the
    // user types for the container's pipe it leaves the terminal's session
    // instead (a background group of that session could not read it).
    if !(spec.tty && spec.stdin) {
        let own_session = terminal.as_ref().is_some_and(TerminalPipes::relays_stdin)
            && nix::unistd::setsid().is_ok();
        if !own_session {
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
        }
    }
    // The terminal's master comes back over this socket.
    let console = tty::console_socket(spec.tty).map_err(resource("a socket for the terminal"))?;
    let (mut channel, child_channel) = protocol::pair(protocol::MONITOR, protocol::CONTAINER)?;
    // Without a terminal, a detached container writes into pipes the
    // monitor drains, and with -i reads a pipe the monitor fills.
    let piped = hub.is_some() && !spec.tty;
    let log_pipes = if piped {
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(resource("the output pipes"));
        Some((pipe()?, pipe()?))
    } else {
        None
    };
    let stdin_pipe = if piped && spec.stdin {
        Some(nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(resource("the input pipe"))?)
    } else {
        None
    };
    // With --network container:, the other container's namespace, opened
    // here (the monitor is root in that container's user namespace).
    let join_net = match (&spec.network, spec.join_netns_pid) {
        (NetworkMode::Container(id), Some(pid)) => Some(OwnedFd::from(
            File::open(format!("/proc/{pid}/ns/net")).map_err(|source| {
                RunError::OpenSharedNetwork {
                    id: id.clone(),
                    source,
                }
            })?,
        )),
        (NetworkMode::Container(id), None) => {
            return Err(RunError::SharedNetworkGone(id.clone()));
        }
        _ => None,
    };
    install_control_signals();
    let mut blocked = SigSet::empty();
    for s in FORWARDED {
        blocked.add(s);
    }
    let mut old_mask = SigSet::empty();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut old_mask))
        .map_err(RunError::Signals)?;
    // SAFETY: the caller guarantees a single thread.
    let child = match unsafe { fork_into_new_pid_namespace() } {
        Err(e) => {
            let _ =
                nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
            return Err(RunError::Fork(e));
        }
        Ok(ForkResult::Child) => {
            drop(channel);
            let ends = ChildEnds {
                channel: child_channel,
                console: console.map(|(_, theirs)| theirs),
                logs: log_pipes.map(|((_, out), (_, err))| (out, err)),
                stdin: stdin_pipe.map(|(r, _)| r),
                terminal,
                join_net,
            };
            container_main(spec, ends, &old_mask)
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(child_channel);
    drop(join_net);
    let terminal = terminal.map(TerminalPipes::relay);
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
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    let mut early_report = None;
    let helper = if spec.network.needs_setup() {
        match connect_network(spec, child, &mut channel) {
            Ok(Connected::Helper(h)) => Some(h),
            Ok(Connected::Unconnected(report)) => {
                early_report = report;
                None
            }
            Err(e) => {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = reap(child);
                CONTAINER_PID.store(0, Ordering::SeqCst);
                return Err(e);
            }
        }
    } else {
        None
    };
    arm_timeout(spec);
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
    // The end of the channel: the command was executed. Nothing is
    // written to the terminal or pipes before, so the wait cannot block
    // the container.
    let report = match early_report {
        Some(r) => Some(r),
        None => protocol::read_report(&mut channel)
            .unwrap_or_else(|e| Some((super::EXIT_ENGINE, e.to_string()))),
    };
    drop(channel);
    // The health checks run beside the container from now on (see
    // health::checker for why in a process of their own).
    let checker = match (&report, &spec.health) {
        (None, Some(_)) => crate::runtime::health::checker::Checker::start(spec, child.as_raw()),
        _ => None,
    };
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
        // Only a monitor with a hub holds a terminal (see run_container).
        None => {
            drop(master);
            if let (Some(relay), None) = (terminal, &report)
                && let Err(e) = relay.run(child)
            {
                eprintln!("Error: passing the container's input and output on: {e}");
            }
        }
    }
    let mut code = reap(child);
    if let Some(c) = checker {
        c.stop();
    }
    // SAFETY: alarm(2) cancels the pending alarm.
    unsafe { libc::alarm(0) };
    if TIMED_OUT.swap(false, Ordering::SeqCst) && code.is_ok() {
        // As Podman reports a container its --timeout ended.
        code = Ok(EXIT_TIMED_OUT);
    }
    CONTAINER_PID.store(0, Ordering::SeqCst);
    if let Some(h) = helper
        && let Err(e) = helper::stop(&spec.dir, &spec.id, h)
    {
        eprintln!("Error: removing the container from its networks' /etc/hosts: {e}");
    }
    match report {
        Some((code, message)) => Err(RunError::Container { code, message }),
        None => code,
    }
}

enum Connected {
    Helper(Helper),
    /// Not connected: the container process failed before its network
    /// namespace existed (with its report, if it sent one), or was told
    /// why the network could not be connected and fails with that.
    Unconnected(Option<(i32, String)>),
}

/// Once the container process says its network namespace exists, connect
/// it, and tell the process whether that worked (it fails with the reason
/// if not).
fn connect_network(
    spec: &ContainerSpec,
    child: Pid,
    channel: &mut ProcessChannel,
) -> Result<Connected, RunError> {
    match channel.recv()? {
        Some(Message::NetnsReady) => {}
        Some(Message::Failed { code, message }) => {
            return Ok(Connected::Unconnected(Some((code, message))));
        }
        None => return Ok(Connected::Unconnected(None)),
        Some(other) => {
            return Err(channel
                .unexpected("word that the network namespace exists", &other)
                .into());
        }
    }
    let wiring = match &spec.network {
        NetworkMode::Pasta(options) => Wiring::Pasta { options },
        NetworkMode::Slirp4netns(options) => Wiring::Slirp { options },
        NetworkMode::Bridge(attachments) => Wiring::Bridge {
            attachments,
            shared_netns_fd: spec.shared_netns_fd,
            with_pasta: spec.network.has_helper(),
        },
        _ => {
            channel.send(&Message::NetworkFailed {
                reason: "no network helper for this mode".into(),
            })?;
            return Ok(Connected::Unconnected(None));
        }
    };
    let name = ContainerStore::of_container_dir(&spec.dir)
        .get(&spec.id)
        .map(|r| r.name)
        .unwrap_or_else(|_| spec.id[..spec.id.len().min(12)].to_string());
    let request = Request {
        dir: &spec.dir,
        id: &spec.id,
        name: &name,
        ports: &spec.ports,
        wiring,
    };
    match helper::start(&request, child) {
        Ok(h) => {
            // A failed send means the process is gone; its report says why.
            let _ = channel.send(&Message::NetworkReady);
            Ok(Connected::Helper(h))
        }
        Err(e) => {
            // The container fails with this reason in its report.
            let _ = channel.send(&Message::NetworkFailed {
                reason: e.to_string(),
            });
            Ok(Connected::Unconnected(None))
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

/// `--timeout`: the signal the alarm sends next (the stop signal, then
/// SIGKILL), and the seconds until the SIGKILL.
static TIMEOUT_SIGNAL: AtomicI32 = AtomicI32::new(0);
static TIMEOUT_GRACE: AtomicI32 = AtomicI32::new(0);
static TIMED_OUT: AtomicBool = AtomicBool::new(false);

/// The exit code of a container that `--timeout` stopped (Podman's).
pub const EXIT_TIMED_OUT: i32 = 255;

extern "C" fn timeout_expired(_: libc::c_int) {
    let pid = CONTAINER_PID.load(Ordering::SeqCst);
    let sig = TIMEOUT_SIGNAL.swap(libc::SIGKILL, Ordering::SeqCst);
    if pid > 0 && sig > 0 {
        TIMED_OUT.store(true, Ordering::SeqCst);
        // SAFETY: kill(2) and alarm(2) are async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
            if sig != libc::SIGKILL {
                libc::alarm(TIMEOUT_GRACE.load(Ordering::SeqCst).max(1) as libc::c_uint);
            }
        }
    }
}

/// With `--timeout`, an alarm that stops the container when its time is
/// up: its stop signal, then SIGKILL after its stop timeout.
fn arm_timeout(spec: &ContainerSpec) {
    let Some(seconds) = spec.timeout.filter(|s| *s > 0) else {
        return;
    };
    TIMED_OUT.store(false, Ordering::SeqCst);
    TIMEOUT_SIGNAL.store(spec.stop_signal.unwrap_or(libc::SIGTERM), Ordering::SeqCst);
    let grace = spec.timeout_grace.unwrap_or(10).min(i32::MAX as u32) as i32;
    TIMEOUT_GRACE.store(grace, Ordering::SeqCst);
    crate::ipc::signals::install_handler(libc::SIGALRM, timeout_expired);
    // SAFETY: alarm(2).
    unsafe { libc::alarm(seconds) };
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

/// Wait for `child`; its exit code, 128+N if killed by signal N.
pub fn reap(child: Pid) -> Result<i32, RunError> {
    reap_status(child).map(|s| s.code())
}

/// How a reaped process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Killed(i32),
}

impl Ended {
    /// The shell's code: the exit code, or 128+N if killed by signal N.
    pub fn code(self) -> i32 {
        match self {
            Ended::Exited(c) => c,
            Ended::Killed(s) => 128 + s,
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Ended::Killed(s) => Some(s),
            Ended::Exited(_) => None,
        }
    }
}

/// Wait for `child`; how it ended.
pub fn reap_status(child: Pid) -> Result<Ended, RunError> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Ended::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Ended::Killed(sig as i32)),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(e) => return Err(RunError::Wait(e)),
        }
    }
}
