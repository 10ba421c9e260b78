//! `exec`: run another process in a running container. The caller joins
//! the container's namespaces itself (it owns the user namespace, so it
//! holds every capability there), forks a child inside the container's
//! pid namespace, and that child is confined exactly as the container's
//! own process was before it execs.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{ForkResult, fork};

use super::process::error::ChildSetupError;
use super::process::launch::{self, Launch};
use super::process::protocol::{self, ProcessChannel};
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

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
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
    let (mut channel, child_channel) = protocol::pair(PARENT, CHILD_NAME)?;
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
            child_main(ctx, filter, req, child_channel, console, &old)
        }
        ForkResult::Parent { child } => child,
    };
    drop(child_channel);
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
    if let Some((ours, theirs)) = console {
        drop(theirs);
        if let Ok(Some(master)) = crate::ipc::fdpass::recv_fd(ours.as_fd())
            && let Err(e) = super::relay::relay_terminal(&master, req.stdin)
        {
            eprintln!("Error: relaying the terminal: {e}");
        }
    }
    let report = protocol::read_report(&mut channel)
        .unwrap_or_else(|e| Some((super::process::EXIT_ENGINE, e.to_string())));
    if req.detach && report.is_none() {
        return Ok(0);
    }
    let code = pidns::reap(child)?;
    match report {
        Some((code, message)) => Err(RunError::Container { code, message }),
        None => Ok(code),
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
    old_mask: &SigSet,
) -> ! {
    let sys = &mut LinuxSys;
    let err = match exec_stdio(sys, req, console) {
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
                .and_then(|p| launch::confine(sys, &p, &caps, filter).map(|()| p))
            {
                Err(e) => e,
                Ok(prepared) => {
                    let _ = old_mask.thread_set_mask();
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
/// with `-t`, or the caller's streams (stdin only with `-i`) in a session
/// of its own.
fn exec_stdio(
    sys: &mut dyn Sys,
    req: &ExecRequest,
    console: Option<OwnedFd>,
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
