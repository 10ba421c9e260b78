//! Running code in a user namespace where the caller is root.
//!
//! The shape follows youki's process split: a forked child unshares the user
//! namespace and waits on a typed channel while the parent, still in the
//! initial namespace, writes the child's uid/gid maps (through the setuid
//! newuidmap/newgidmap when subordinate ranges are used). Only then does the
//! child become root inside and run the caller's code. Other namespaces
//! (mount, pid, net) are the caller's business: it unshares them inside `f`.
//!
//! Everything here forks, so it must run before any thread is started.

pub mod idmap;
pub mod subid;

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, kill, pthread_sigmask, sigaction,
};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork, getpid, getppid};

use crate::ipc::Channel;
use crate::ipc::signals::FORWARDED;
pub use idmap::{IdMap, IdMapping};
pub use subid::{IdRange, UserIdentity};

/// Messages of the user namespace setup handshake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Message {
    /// child → parent: the child is in its new user namespace.
    Unshared,
    /// child → parent: unshare(CLONE_NEWUSER) failed with this errno.
    UnshareFailed { errno: i32 },
    /// parent → child: maps written; whether setgroups(2) is permitted.
    Mapped { setgroups_allowed: bool },
    /// parent → child: the maps could not be written; the parent reports why.
    MapFailed,
}

/// Exit code of a child that could not be set up; the parent reports why.
const SETUP_FAILED: i32 = 125;
/// Exit code when `f` panicked (the panic message is already on stderr).
const PANICKED: i32 = 101;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("cannot read {path}: {source}")]
    SubidRead { path: PathBuf, source: io::Error },
    #[error("cannot look up uid {uid} in the user database: {reason}")]
    UserLookup { uid: u32, reason: String },
    #[error("{tool} not found: install the uidmap package (apt-get install uidmap)")]
    HelperNotFound { tool: &'static str },
    #[error("cannot run {}: {source}: reinstall the uidmap package", path.display())]
    HelperSpawn {
        tool: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{tool} failed ({status}): {stderr} (check your ranges in /etc/subuid and /etc/subgid with `burrow system check`)"
    )]
    HelperFailed {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    WriteMap { path: PathBuf, source: io::Error },
    #[error(
        "cannot create a user namespace: {0}: unprivileged user namespaces are disabled or exhausted (sysctl -w user.max_user_namespaces=15000; see `burrow system check`)"
    )]
    Unshare(Errno),
    #[error("cannot fork: {0}")]
    Fork(Errno),
    #[error("cannot set up signal forwarding: {0}")]
    Signals(Errno),
    #[error("user namespace setup channel failed: {0}")]
    Channel(crate::ipc::ChannelError),
    #[error("user namespace setup: unexpected message {0}")]
    Protocol(String),
    #[error("the user namespace process exited during setup ({0})")]
    ChildDied(String),
    #[error("cannot wait for the user namespace process: {0}")]
    Wait(Errno),
}

/// Serialises callers: the signal handlers and CHILD_PID are process-wide.
static SETUP_LOCK: Mutex<()> = Mutex::new(());
/// The child the handlers forward to; 0 when none.
static CHILD_PID: AtomicI32 = AtomicI32::new(0);
/// The signals forwarded during the last [`run_in_userns`] (bit n for
/// signal n): a child may have committed to its work and no longer be
/// stopped by them, and then the caller acts on them itself
/// ([`take_forwarded_signals`]).
static FORWARDED_SEEN: AtomicU64 = AtomicU64::new(0);
extern "C" fn forward_signal(sig: libc::c_int) {
    if (0..64).contains(&sig) {
        FORWARDED_SEEN.fetch_or(1 << sig, Ordering::SeqCst);
    }
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Run `f` as root in a new user namespace with `map`, in a forked child, and
/// return its exit code (128 + signal number if it was killed).
///
/// The caller must be single-threaded. A process that is already root in a
/// user namespace ([`in_userns_already`]) may call `f` directly instead.
pub fn run_in_userns<F: FnOnce() -> i32>(map: &IdMap, f: F) -> Result<i32, UsernsError> {
    run_in(Target::New(map), f)
}

/// Like [`run_in_userns`], but in the existing user namespace `ns` (an
/// open `/proc/PID/ns/user` of a container's process): the user owns it, so
/// may join it, and is root there as in a new one with the same map. Used
/// to share another container's network namespace, which only its owner
/// user namespace may join.
pub fn run_in_existing_userns<F: FnOnce() -> i32>(
    ns: &std::fs::File,
    f: F,
) -> Result<i32, UsernsError> {
    run_in(Target::Join(ns), f)
}

enum Target<'a> {
    New(&'a IdMap),
    Join(&'a std::fs::File),
}

fn run_in<F: FnOnce() -> i32>(target: Target<'_>, f: F) -> Result<i32, UsernsError> {
    let guard = SETUP_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut parent_end, child_end) =
        Channel::pair("burrow", "the user namespace process").map_err(UsernsError::Channel)?;
    let parent_pid = getpid();
    FORWARDED_SEEN.store(0, Ordering::SeqCst);
    let forwarding = Forwarding::install()?;
    // SAFETY: the caller guarantees no other thread runs, so the child's
    // copy of the heap and locks is consistent.
    match unsafe { fork() } {
        Err(e) => {
            forwarding.restore();
            Err(UsernsError::Fork(e))
        }
        Ok(ForkResult::Child) => {
            // The guard was taken by this very thread; release the child's
            // copy so that `f` may itself use this module.
            drop(guard);
            forwarding.restore();
            drop(parent_end);
            let code = match target {
                Target::New(_) => child_main(child_end, parent_pid, f),
                Target::Join(ns) => {
                    drop(child_end);
                    join_main(ns, parent_pid, f)
                }
            };
            exit_now(code)
        }
        Ok(ForkResult::Parent { child }) => {
            CHILD_PID.store(child.as_raw(), Ordering::SeqCst);
            // Signals that arrived since install() were held pending and are
            // forwarded now.
            forwarding.unblock();
            drop(child_end);
            let result = match target {
                Target::New(map) => parent_main(&mut parent_end, child, map),
                Target::Join(_) => reap(child),
            };
            CHILD_PID.store(0, Ordering::SeqCst);
            forwarding.restore();
            result
        }
    }
}

/// The signals the last [`run_in_userns`] (or [`run_in_existing_userns`])
/// forwarded to its child, in the order of [`FORWARDED`]; cleared by the
/// call.
pub fn take_forwarded_signals() -> Vec<Signal> {
    let seen = FORWARDED_SEEN.swap(0, Ordering::SeqCst);
    FORWARDED
        .into_iter()
        .filter(|s| seen & (1 << (*s as i32)) != 0)
        .collect()
}

fn parent_main(chan: &mut Channel<Message>, child: Pid, map: &IdMap) -> Result<i32, UsernsError> {
    match chan.recv() {
        Ok(Some(Message::Unshared)) => {}
        Ok(Some(Message::UnshareFailed { errno })) => {
            reap(child)?;
            return Err(UsernsError::Unshare(Errno::from_raw(errno)));
        }
        Ok(None) => {
            // Killed (e.g. by a forwarded Ctrl-C) before it got anywhere.
            return match reap(child)? {
                code if code > 128 => Ok(code),
                code => Err(UsernsError::ChildDied(format!("exit code {code}"))),
            };
        }
        Ok(Some(other)) => {
            abort_child(child);
            return Err(UsernsError::Protocol(format!("{other:?}")));
        }
        Err(e) => {
            abort_child(child);
            return Err(UsernsError::Channel(e));
        }
    }
    match map.write_for(child.as_raw()) {
        Ok(written) => {
            // A failed send means the child is gone; its status says why.
            let _ = chan.send(&Message::Mapped {
                setgroups_allowed: written.setgroups_allowed,
            });
        }
        Err(e) => {
            if chan.send(&Message::MapFailed).is_err() {
                abort_child(child);
            } else {
                let _ = reap(child);
            }
            return Err(e);
        }
    }
    reap(child)
}

fn abort_child(child: Pid) {
    let _ = kill(child, Signal::SIGKILL);
    let _ = reap(child);
}

/// Wait for `child` and turn its status into a shell-style exit code.
fn reap(child: Pid) -> Result<i32, UsernsError> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(UsernsError::Wait(e)),
        }
    }
}

fn child_main<F: FnOnce() -> i32>(mut chan: Channel<Message>, parent: Pid, f: F) -> i32 {
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
        let _ = chan.send(&Message::UnshareFailed { errno: e as i32 });
        return SETUP_FAILED;
    }
    if chan.send(&Message::Unshared).is_err() {
        return SETUP_FAILED;
    }
    let setgroups_allowed = match chan.recv() {
        Ok(Some(Message::Mapped { setgroups_allowed })) => setgroups_allowed,
        _ => return SETUP_FAILED,
    };
    drop(chan);
    if let Err(e) = become_root(setgroups_allowed) {
        eprintln!("burrow: cannot become root in the user namespace: {e}");
        return SETUP_FAILED;
    }
    // Set after the credential changes, which clear it; then make sure the
    // parent did not die before it took effect.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != parent {
        return SETUP_FAILED;
    }
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(PANICKED)
}

fn join_main<F: FnOnce() -> i32>(ns: &std::fs::File, parent: Pid, f: F) -> i32 {
    use std::os::fd::AsFd;
    if let Err(e) = nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWUSER) {
        eprintln!("burrow: cannot join the container's user namespace: {e}");
        return SETUP_FAILED;
    }
    // setgroups(2) is denied in namespaces whose map was written without
    // newgidmap; then there is nothing to drop.
    if become_root(true).or_else(|_| become_root(false)).is_err() {
        eprintln!("burrow: cannot become root in the container's user namespace");
        return SETUP_FAILED;
    }
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != parent {
        return SETUP_FAILED;
    }
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(PANICKED)
}

fn become_root(setgroups_allowed: bool) -> Result<(), Errno> {
    if setgroups_allowed {
        // Drop the host's supplementary groups, which appear as the overflow
        // gid inside and would only confuse permission checks.
        nix::unistd::setgroups(&[])?;
    }
    let root_g = Gid::from_raw(0);
    let root_u = Uid::from_raw(0);
    nix::unistd::setresgid(root_g, root_g, root_g)?;
    nix::unistd::setresuid(root_u, root_u, root_u)?;
    // With a map where root inside is not the user (keep-id), the switch
    // changed the process's host uid, and the kernel made it non-dumpable:
    // its /proc/PID/ns files would then need CAP_SYS_PTRACE on the host
    // (pasta's network namespace binding, exec, cp). Processes of the same
    // (subordinate) uid may look at it, as with the default map; the user's
    // other processes, and the container's own, which live in a pid
    // namespace below, still cannot see it.
    nix::sys::prctl::set_dumpable(true)
}

/// Leave the forked child without running the parent's exit handlers or
/// destructors (temp dirs, locks), which belong to the parent.
/// Leave the forked child without running the parent's destructors. stdout
/// is NOT flushed here: taking its lock in a child forked from a
/// multi-threaded process (a test harness) can deadlock on a lock another
/// thread held at fork time. Callers that print flush before returning, as
/// the CLI does (single-threaded, so safe there).
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is always safe to call.
    unsafe { libc::_exit(code) }
}

/// The parent's signal forwarding: handlers are installed with the signals
/// blocked, so none is lost between fork and knowing the child's pid.
struct Forwarding {
    old_mask: SigSet,
    old_actions: Vec<(Signal, SigAction)>,
}

impl Forwarding {
    fn install() -> Result<Forwarding, UsernsError> {
        let mut set = SigSet::empty();
        for s in FORWARDED {
            set.add(s);
        }
        let mut old_mask = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old_mask))
            .map_err(UsernsError::Signals)?;
        let mut this = Forwarding {
            old_mask,
            old_actions: Vec::new(),
        };
        let action = SigAction::new(
            SigHandler::Handler(forward_signal),
            SaFlags::SA_RESTART,
            set,
        );
        for s in FORWARDED {
            // SAFETY: the handler only reads an atomic and calls kill(2).
            match unsafe { sigaction(s, &action) } {
                Ok(old) => this.old_actions.push((s, old)),
                Err(e) => {
                    this.restore();
                    return Err(UsernsError::Signals(e));
                }
            }
        }
        Ok(this)
    }

    fn unblock(&self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }

    /// Put back the caller's dispositions, then its mask, so a signal still
    /// pending is handled the way the caller had it.
    fn restore(&self) {
        for (s, old) in &self.old_actions {
            // SAFETY: reinstalling the previous action.
            let _ = unsafe { sigaction(*s, old) };
        }
        self.unblock();
    }
}

/// Run `f` in a forked child and return its result (the error's text
/// comes back over a pipe): for work that must not change the caller
/// (`setns`) or must not start threads in it (an HTTP client). The caller
/// is single-threaded.
pub fn in_forked_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("cannot create a pipe: {e}"))?;
    // SAFETY: the caller is single-threaded; the child makes system calls
    // and leaves with _exit.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("cannot fork: {e}"))? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let code = match f() {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = nix::unistd::write(&w, msg.as_bytes());
                    1
                }
            };
            // SAFETY: leave the fork without the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut msg = String::new();
            let _ = io::Read::read_to_string(&mut std::fs::File::from(r), &mut msg);
            match nix::sys::wait::waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                _ if !msg.is_empty() => Err(msg),
                other => Err(format!("network setup failed: {other:?}")),
            }
        }
    }
}

/// Whether this process is already root in a user namespace other than the
/// initial one (e.g. inside `burrow unshare`), where the caller can run its
/// code directly instead of through [`run_in_userns`].
pub fn in_userns_already() -> bool {
    let Ok(map) = std::fs::read_to_string("/proc/self/uid_map") else {
        return false;
    };
    !is_initial_uid_map(&map) && nix::unistd::geteuid().is_root()
}

/// The initial user namespace maps every id to itself.
fn is_initial_uid_map(text: &str) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| !f.is_empty())
        .collect();
    lines.len() == 1 && lines[0] == ["0", "0", "4294967295"]
}

/// Run `argv` (default: $SHELL, else /bin/sh) as root in a user namespace
/// with `map`, like `podman unshare`; `extra_env` is added to the inherited
/// environment. Returns the command's exit code: 127 when it is not found,
/// 126 when it cannot be executed, as shells do.
pub fn unshare_command(
    map: &IdMap,
    argv: &[String],
    extra_env: &[(String, String)],
) -> Result<i32, UsernsError> {
    let (program, args): (OsString, &[String]) = match argv.split_first() {
        Some((first, rest)) => (first.into(), rest),
        None => (
            std::env::var_os("SHELL")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "/bin/sh".into()),
            &[],
        ),
    };
    run_in_userns(map, || {
        let name = program.to_string_lossy();
        let Some(resolved) = resolve_command(&program) else {
            eprintln!("burrow unshare: {name}: command not found");
            return 127;
        };
        let err = Command::new(resolved)
            .arg0(&program)
            .args(args)
            .envs(extra_env.iter().cloned())
            .exec();
        match err.kind() {
            io::ErrorKind::NotFound => {
                eprintln!("burrow unshare: {name}: command not found");
                127
            }
            _ => {
                eprintln!("burrow unshare: {name}: {err}");
                126
            }
        }
    })
}

/// Find a command the way a shell does: a name with a slash is used as is,
/// others are looked up in $PATH, skipping directories we may not read
/// (execvp would report EACCES for those instead of "not found").
fn resolve_command(program: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

/// The absolute path of an executable `name` on the host: on $PATH, or in
/// the usual system directories when $PATH lacks them (setuid helpers live
/// in /usr/bin whatever the caller's PATH). (A command inside a container
/// is found by the runtime's `find_in_container_path`.)
pub fn find_host_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests;
