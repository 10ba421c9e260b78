//! `exec`: run another process in a running container. The caller joins
//! the container's namespaces itself (it owns the user namespace, so it
//! holds every capability there), forks a child inside the container's
//! pid namespace, and that child is confined exactly as the container's
//! own process was before it execs.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{ForkResult, fork};

use super::process::error::ChildSetupError;
use super::process::launch::{self, Launch};
use super::process::protocol::{self, ExecOutcome, Message, ProcessChannel};
use super::process::terminal_pipes::TerminalPipes;
use super::process::{RunError, pidns};
use super::sys::{LinuxSys, Sys};
use super::tty;
pub use super::types::ExecContext;
use crate::confine::{CapSet, Filter};

/// What the user asked `exec` for.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub args: Vec<String>,
    /// `-e` values (already `K=V`), applied over the container's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub stdin: bool,
    pub tty: bool,
    pub winsize: Option<tty::WinSize>,
    /// `-d`: return once the command runs; it lives on in the container
    /// (adopted by the container's pid 1), its output discarded.
    pub detach: bool,
}

static CHILD: AtomicI32 = AtomicI32::new(0);
/// Whether the child is past its setup (signals are then its own): set by
/// the parent once it knows, and by the child itself in [`SharedFlag`]'s
/// page just before its exec (its output may reach the user, who may
/// signal, before the parent hears of the exec).
static STARTED: AtomicBool = AtomicBool::new(false);
static CHILD_STARTED: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());
/// The signal exec gave up on before the command started; 0 if none.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid <= 0 {
        return;
    }
    let stop = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT].contains(&sig);
    let shared = CHILD_STARTED.load(Ordering::SeqCst);
    // SAFETY: the page stays mapped while a child is recorded.
    let started = STARTED.load(Ordering::SeqCst)
        || (!shared.is_null() && unsafe { (*shared).load(Ordering::SeqCst) });
    if stop && !started {
        // The child blocks these until its exec, and its setup may wait
        // on the container: give up on it instead.
        INTERRUPTED.store(sig, Ordering::SeqCst);
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    } else {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// One shared anonymous page holding an [`AtomicBool`], seen by the
/// parent and the forked child alike; published in [`CHILD_STARTED`]
/// while it lives.
struct SharedFlag(std::ptr::NonNull<libc::c_void>);

impl SharedFlag {
    fn new() -> Result<SharedFlag, RunError> {
        // SAFETY: a fresh anonymous mapping, zeroed (an AtomicBool false).
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        match std::ptr::NonNull::new(page) {
            Some(p) if page != libc::MAP_FAILED => {
                CHILD_STARTED.store(p.as_ptr().cast(), Ordering::SeqCst);
                Ok(SharedFlag(p))
            }
            _ => Err(RunError::Resource {
                what: "a page shared with the exec'd process",
                source: std::io::Error::last_os_error(),
            }),
        }
    }
}

impl Drop for SharedFlag {
    fn drop(&mut self) {
        CHILD_STARTED.store(std::ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: the mapping made in new(), no longer published.
        unsafe { libc::munmap(self.0.as_ptr(), 4096) };
    }
}

/// In the child: its setup is over, signals are its own from now on.
fn mark_started() {
    let shared = CHILD_STARTED.load(Ordering::SeqCst);
    if !shared.is_null() {
        // SAFETY: the page mapped by the parent before the fork.
        unsafe { (*shared).store(true, Ordering::SeqCst) };
    }
}

const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

/// Run `req` in the container whose pid 1 is host pid `pid`; returns the
/// command's exit code, or why it did not run (125/126/127 as `run`).
/// Single-threaded callers only: joining a user namespace requires it.
pub fn exec_in(
    pid: i32,
    ctx: &ExecContext,
    filter: Option<&Filter>,
    req: &ExecRequest,
) -> Result<i32, RunError> {
    let mut fds = Vec::new();
    for (name, flag) in NAMESPACES {
        let f = File::open(format!("/proc/{pid}/ns/{name}"))
            .map_err(|source| RunError::OpenNamespace { name, source })?;
        fds.push((name, flag, f));
    }
    let sys = &mut LinuxSys;
    for (name, flag, f) in &fds {
        // A namespace the caller is in already is not joined again:
        // setns(2) refuses one's own user namespace (EINVAL), and the
        // container's monitor, which runs its health checks, is in it.
        if same_namespace(f, name) {
            continue;
        }
        sys.setns(f.as_fd(), *flag)
            .map_err(|source| RunError::JoinNamespace { name, source })?;
    }
    // Root of the user namespace now, as the container's own setup was.
    sys.setresgid(0)
        .and_then(|()| sys.setresuid(0))
        .map_err(RunError::BecomeRoot)?;
    let console = tty::console_socket(req.tty).map_err(|source| RunError::Resource {
        what: "a socket for the terminal",
        source,
    })?;
    // Without -t, pipes stand in for the caller's stdio descriptors that
    // are the user's terminal.
    let terminal = if req.tty || req.detach {
        None
    } else {
        TerminalPipes::for_terminals(req.stdin).map_err(|source| RunError::Resource {
            what: "pipes for the terminal",
            source,
        })?
    };
    let (mut channel, child_channel) = protocol::pair(PARENT, CHILD_NAME)?;
    STARTED.store(false, Ordering::SeqCst);
    INTERRUPTED.store(0, Ordering::SeqCst);
    let _shared = SharedFlag::new()?;
    let mut blocked = SigSet::empty();
    for s in crate::ipc::signals::FORWARDED {
        blocked.add(s);
    }
    let old = blocked
        .thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK)
        .map_err(RunError::Signals)?;
    // SAFETY: single-threaded caller.
    let child = match unsafe { fork() }.map_err(RunError::ForkExec)? {
        ForkResult::Child => {
            drop(channel);
            let console = console.map(|(_, theirs)| theirs);
            child_main(ctx, filter, req, child_channel, console, terminal, &old)
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_channel);
    let terminal = terminal.map(TerminalPipes::relay);
    CHILD.store(child.as_raw(), Ordering::SeqCst);
    let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, blocked);
    for s in crate::ipc::signals::FORWARDED {
        if s == Signal::SIGWINCH && req.tty {
            // The relay resizes the command's terminal instead.
            tty::watch_resizes();
            continue;
        }
        // SAFETY: the handler only reads an atomic and calls kill(2).
        let _ = unsafe { sigaction(s, &action) };
    }
    let _ = old.thread_set_mask();
    let master = match console {
        Some((ours, theirs)) => {
            drop(theirs);
            crate::ipc::fdpass::recv_fd(ours.as_fd()).ok().flatten()
        }
        None => None,
    };
    // Nothing is written to the terminal or the pipes before the exec: the
    // wait for it cannot block the child.
    let outcome =
        protocol::read_exec_outcome(&mut channel).unwrap_or_else(|e| ExecOutcome::Failed {
            code: super::process::EXIT_ENGINE,
            message: e.to_string(),
        });
    drop(channel);
    if outcome == ExecOutcome::Ran {
        STARTED.store(true, Ordering::SeqCst);
    }
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    if interrupted != 0 {
        // Given up on before the command ran: the child is gone or going.
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        let _ = pidns::reap(child);
        CHILD.store(0, Ordering::SeqCst);
        return Err(RunError::ExecInterrupted {
            signal: Signal::try_from(interrupted)
                .map(|s| s.to_string())
                .unwrap_or_else(|_| format!("signal {interrupted}")),
        });
    }
    match outcome {
        ExecOutcome::Ran if req.detach => return Ok(0),
        ExecOutcome::Ran => {
            if let Some(master) = master
                && let Err(e) = super::relay::relay_terminal(&master, req.stdin)
            {
                eprintln!("Error: relaying the terminal: {e}");
            }
            if let Some(relay) = terminal
                && let Err(e) = relay.run(child)
            {
                eprintln!("Error: passing the command's input and output on: {e}");
            }
        }
        ExecOutcome::Failed { .. } | ExecOutcome::Died => drop(master),
    }
    let status = pidns::reap_status(child)?;
    CHILD.store(0, Ordering::SeqCst);
    match outcome {
        ExecOutcome::Failed { code, message } => Err(RunError::Container { code, message }),
        ExecOutcome::Ran => Ok(status.code()),
        ExecOutcome::Died => Err(RunError::ExecDied {
            signal: status.signal(),
            code: status.code(),
            // SAFETY: kill(2) with signal 0 only checks the pid.
            container_running: unsafe { libc::kill(pid, 0) } == 0,
        }),
    }
}

/// Whether the namespace `ns` (opened from /proc/PID/ns/NAME) is the
/// caller's own.
fn same_namespace(ns: &File, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        ns.metadata(),
        std::fs::metadata(format!("/proc/self/ns/{name}")),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// SIGKILL the command [`exec_in`] runs now, if any: a health check's
/// timeout, from a timer's signal handler (only an atomic load and
/// kill(2): async-signal-safe).
pub fn kill_running() {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Who is at either end of exec's channel.
const PARENT: &str = "burrow exec";
const CHILD_NAME: &str = "the exec'd process";

/// The forked child: stdio, then the steps every process entering the
/// container takes ([`launch`]); or its report and exit.
fn child_main(
    ctx: &ExecContext,
    filter: Option<&Filter>,
    req: &ExecRequest,
    mut channel: ProcessChannel,
    console: Option<OwnedFd>,
    terminal: Option<TerminalPipes>,
    old_mask: &SigSet,
) -> ! {
    let sys = &mut LinuxSys;
    let err = match exec_stdio(sys, req, console, terminal) {
        Err(e) => e,
        Ok(()) => {
            let mut env = ctx.env.clone();
            for kv in &req.env {
                let key = kv.split('=').next().unwrap_or("");
                env.retain(|e| e.split('=').next() != Some(key));
                env.push(kv.clone());
            }
            let launch = Launch {
                args: &req.args,
                env,
                cwd: req.workdir.as_deref().unwrap_or(&ctx.cwd),
                user: req.user.as_deref().unwrap_or(&ctx.user),
                group_add: &ctx.group_add,
            };
            let caps = CapSet::from_mask(ctx.caps);
            match launch::prepare(sys, &launch)
                .and_then(|p| launch::set_ulimits(sys, &ctx.ulimits).map(|()| p))
                .and_then(|p| launch::confine(sys, &p, &caps, filter).map(|()| p))
            {
                Err(e) => e,
                Ok(prepared) => {
                    let _ = old_mask.thread_set_mask();
                    // Signals are the command's from here on.
                    let _ = channel.send(&Message::Executing);
                    mark_started();
                    let shown = req.args.first().map_or("", String::as_str);
                    launch::exec(sys, &prepared, shown)
                }
            }
        }
    };
    let _ = channel.send(&protocol::failed(&err));
    // SAFETY: _exit skips the parent's destructors and atexit handlers.
    unsafe { libc::_exit(err.exit_code()) }
}

/// exec's stdio: /dev/null for all three when detached (nothing of the
/// caller's stays: it returns once we exec), else a terminal of its own
/// with `-t`, or the caller's streams (stdin only with `-i`; pipes in
/// place of those that are the user's terminal) in a session of its own.
fn exec_stdio(
    sys: &mut dyn Sys,
    req: &ExecRequest,
    console: Option<OwnedFd>,
    terminal: Option<TerminalPipes>,
) -> Result<(), ChildSetupError> {
    let stdio = ChildSetupError::Stdio;
    if req.detach {
        let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty())
            .map_err(|e| stdio(format!("cannot open /dev/null: {e}")))?;
        // SAFETY: dup2 onto stdio.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    } else {
        sys.set_parent_death_signal(Signal::SIGKILL)
            .map_err(ChildSetupError::ParentDeathSignal)?;
    }
    if req.tty {
        let sock = console.ok_or_else(|| stdio("no socket for the terminal".into()))?;
        let master = tty::open_in_container(req.winsize)
            .map_err(|e| stdio(format!("cannot open a terminal: {e}")))?;
        crate::ipc::fdpass::send_fd(sock.as_fd(), master.as_fd())
            .map_err(|e| stdio(format!("cannot pass the terminal: {e}")))?;
    } else {
        if let Some(pipes) = terminal {
            pipes
                .connect()
                .map_err(|e| stdio(format!("cannot connect to burrow's pipes: {e}")))?;
        }
        if !req.stdin {
            let null =
                nix::fcntl::open("/dev/null", OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
                    .map_err(|e| stdio(format!("cannot open /dev/null: {e}")))?;
            // SAFETY: dup2 onto stdin.
            unsafe { libc::dup2(null.as_raw_fd(), 0) };
        }
        let _ = nix::unistd::setsid();
    }
    Ok(())
}
