//! One health check: the check's command executed in the container as
//! `exec` runs a command (same namespaces, user, environment and
//! confinement), its output captured, killed when its timeout is up.
//!
//! The exec happens in a forked check process: joining the container's
//! namespaces changes the joiner for good, and the caller (the monitor's
//! checker, or `burrow healthcheck run`) must stay where it is.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use serde::{Deserialize, Serialize};

use super::{HealthConfig, HealthLogEntry, output_text};
use crate::confine::Filter;
use crate::ipc::Channel;
use crate::runtime::exec::{ExecContext, ExecRequest, exec_in, kill_running};

/// How the check process's exec ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Outcome {
    Exited(i32),
    TimedOut,
    /// The command did not run (not found, the container gone, ...).
    Failed(String),
}

/// The container a check runs in: the host pid of its process, and what
/// an exec there inherits.
pub struct Target<'a> {
    pub pid: i32,
    pub exec: &'a ExecContext,
    pub filter: Option<&'a Filter>,
}

/// Time past the check's timeout after which the checker gives up on a
/// check process whose own timer did not end the command (it had not
/// started it yet when the timer fired).
const GRACE: Duration = Duration::from_secs(2);

static TIMED_OUT: AtomicBool = AtomicBool::new(false);

extern "C" fn timeout_expired(_: libc::c_int) {
    TIMED_OUT.store(true, Ordering::SeqCst);
    kill_running();
}

/// Run `cfg`'s check once in `target`; its result, as Docker logs it.
/// Call from a single-threaded process.
pub fn run(target: &Target<'_>, cfg: &HealthConfig) -> HealthLogEntry {
    let start = Utc::now();
    let timeout = cfg.timeout();
    let (exit_code, output) = match check(target, cfg, timeout) {
        Ok((Outcome::Exited(code), out)) => (code, output_text(&out)),
        Ok((Outcome::TimedOut, _)) => (
            -1,
            format!(
                "Health check exceeded timeout ({})",
                humantime_like(timeout)
            ),
        ),
        Ok((Outcome::Failed(message), out)) => {
            let mut text = output_text(&out);
            text.push_str(&message);
            (-1, text)
        }
        Err(message) => (-1, message),
    };
    HealthLogEntry {
        start,
        end: Utc::now(),
        exit_code,
        output,
    }
}

/// A duration as Go prints it for the common cases (`30s`, `1.5s`,
/// `500ms`, `1m30s`).
fn humantime_like(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{}s", trim_float(secs));
    }
    let m = d.as_secs() / 60;
    let rest = secs - (m * 60) as f64;
    format!("{m}m{}s", trim_float(rest))
}

fn trim_float(f: f64) -> String {
    let s = format!("{f:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn check(
    target: &Target<'_>,
    cfg: &HealthConfig,
    timeout: Duration,
) -> Result<(Outcome, Vec<u8>), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("health check: {what}: {e}");
    let (out_r, out_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("cannot make a pipe", &e))?;
    let (mut ours, theirs) = Channel::<Outcome>::pair("the health check", "the checker")
        .map_err(|e| fail("cannot make a channel", &e))?;
    // SAFETY: the callers are single-threaded.
    let child = match unsafe { fork() }.map_err(|e| fail("cannot fork", &e))? {
        ForkResult::Child => {
            drop(ours);
            drop(out_r);
            check_process(target, cfg, timeout, out_w, theirs)
        }
        ForkResult::Parent { child } => child,
    };
    drop(out_w);
    drop(theirs);
    let output = collect_output(out_r, child, timeout + GRACE);
    let outcome = match ours.recv() {
        Ok(Some(o)) => o,
        // Killed by the deadline, or died before a word.
        _ => Outcome::TimedOut,
    };
    Ok((outcome, output))
}

/// The forked check process: output into the pipe, a timer for the
/// timeout, then the exec.
fn check_process(
    target: &Target<'_>,
    cfg: &HealthConfig,
    timeout: Duration,
    out: OwnedFd,
    mut channel: Channel<Outcome>,
) -> ! {
    // It goes with whoever waits for it.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
    {
        // SAFETY: dup2 onto stdio; the pipe's copies are not close-on-exec.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(out.as_raw_fd(), 1);
            libc::dup2(out.as_raw_fd(), 2);
        }
    }
    drop(out);
    crate::ipc::signals::install_handler(libc::SIGALRM, timeout_expired);
    let it = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        },
    };
    // SAFETY: setitimer(2) with a valid value; SIGALRM's handler is set.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
    let req = ExecRequest {
        args: cfg.argv(),
        ..ExecRequest::default()
    };
    let ran = exec_in(target.pid, target.exec, target.filter, &req);
    let outcome = if TIMED_OUT.load(Ordering::SeqCst) {
        Outcome::TimedOut
    } else {
        match ran {
            Ok(code) => Outcome::Exited(code),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    };
    let _ = channel.send(&outcome);
    // SAFETY: leave without the parent's destructors.
    unsafe { libc::_exit(0) }
}

/// Read the check's output (its first bytes kept) until the check
/// process ends, or kill it at `deadline`; reap it.
fn collect_output(out: OwnedFd, child: Pid, limit: Duration) -> Vec<u8> {
    let deadline = Instant::now() + limit;
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = nix::fcntl::fcntl(
        out.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    );
    // The check process's end wakes the poll through its pidfd: no
    // periodic wake-ups while a check runs.
    // SAFETY: pidfd_open(2) on our own child.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    let pidfd = (raw >= 0).then(|| {
        // SAFETY: a new descriptor we own.
        unsafe { OwnedFd::from_raw_fd(raw as i32) }
    });
    let mut open = true;
    loop {
        let now = Instant::now();
        if now >= deadline {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            break;
        }
        let mut wait = deadline - now;
        if pidfd.is_none() {
            // No pidfd (a kernel before 5.3): look at the process now
            // and then.
            wait = wait.min(Duration::from_millis(50));
            if let Ok(s) = waitpid(child, Some(WaitPidFlag::WNOHANG))
                && s != nix::sys::wait::WaitStatus::StillAlive
            {
                read_available(&out, &mut kept, &mut buf);
                return kept;
            }
        }
        let mut fds = Vec::new();
        if open {
            fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
        }
        if let Some(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        let ms = PollTimeout::try_from(wait.as_millis().min(i32::MAX as u128) as i32 + 1)
            .unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, ms) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| !f.revents().unwrap_or(PollFlags::empty()).is_empty())
            .collect();
        drop(fds);
        let (out_ready, exited) = match (open, pidfd.is_some()) {
            (true, true) => (ready[0], ready[1]),
            (true, false) => (ready[0], false),
            (false, _) => (false, ready.first() == Some(&true)),
        };
        if out_ready && !read_available(&out, &mut kept, &mut buf) {
            open = false;
        }
        if exited {
            // What it wrote before it ended is in the pipe; what its
            // leftovers write later is not waited for.
            read_available(&out, &mut kept, &mut buf);
            break;
        }
    }
    let _ = nix::sys::wait::waitpid(child, None);
    kept
}

/// Read what the pipe holds now; false at its end.
fn read_available(out: &OwnedFd, kept: &mut Vec<u8>, buf: &mut [u8]) -> bool {
    loop {
        match nix::unistd::read(out, buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = super::MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_print_as_go() {
        assert_eq!(humantime_like(Duration::from_secs(30)), "30s");
        assert_eq!(humantime_like(Duration::from_millis(500)), "500ms");
        assert_eq!(humantime_like(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humantime_like(Duration::from_secs(90)), "1m30s");
    }
}
