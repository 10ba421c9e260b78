//! `run --init`: burrow itself stays pid 1 of the container (like tini or
//! catatonit, but nothing is copied or mounted into the container): it
//! forwards signals to the command, reaps every orphan the command leaves
//! behind, and exits with the command's status.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// Signals pid 1 passes on beyond burrow's usual ones
/// ([`crate::ipc::signals::FORWARDED`]).
const ALSO_FORWARDED: [Signal; 2] = [Signal::SIGCONT, Signal::SIGALRM];

/// Signals pid 1 passes on. A pid 1 ignores every signal it has no handler
/// for, so these need one; SIGKILL and SIGSTOP cannot be caught anyway.
pub fn forwarded() -> impl Iterator<Item = Signal> {
    crate::ipc::signals::FORWARDED
        .into_iter()
        .chain(ALSO_FORWARDED)
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Fork: the child returns `Ok(())` and goes on to exec the command; pid 1
/// never returns from here. Call with [`forwarded`] blocked (the caller's
/// mask is `child_mask`, restored in the child) and after confinement, so
/// both processes run confined. `tty` says the command gets the terminal's
/// foreground.
pub fn fork_init(child_mask: &SigSet, tty: bool) -> Result<(), String> {
    // SAFETY: the container process is single-threaded.
    match unsafe { fork() } {
        Err(e) => Err(format!("cannot fork the command under --init: {e}")),
        Ok(ForkResult::Child) => {
            // Its own process group, in the foreground of the terminal, so
            // ^C reaches the command once and not pid 1 as well.
            let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
            if tty {
                let mut ttou = SigSet::empty();
                ttou.add(Signal::SIGTTOU);
                // Blocked, or tcsetpgrp from a background group stops us.
                let _ = ttou.thread_block();
                let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpid());
            }
            let _ = child_mask.thread_set_mask();
            Ok(())
        }
        Ok(ForkResult::Parent { child }) => supervise(child),
    }
}

fn supervise(child: Pid) -> ! {
    // Nothing in the container may open pid 1's /proc entries, above all
    // /proc/1/exe, the burrow binary on the host (CVE-2019-5736): a
    // non-dumpable process is off limits to other users' ptrace checks.
    let _ = nix::sys::prctl::set_dumpable(false);
    // Only stdio stays open; the report channel belongs to the child.
    // SAFETY: closes descriptors this process no longer uses.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    CHILD.store(child.as_raw(), Ordering::SeqCst);
    let mut mask = SigSet::empty();
    for s in forwarded() {
        mask.add(s);
    }
    let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, mask);
    for s in forwarded() {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        let _ = unsafe { sigaction(s, &action) };
    }
    let _ = mask.thread_unblock();
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => exit(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => exit(128 + sig as i32),
            // An orphan, reaped; or an interrupted wait.
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => exit(super::process::EXIT_ENGINE),
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: ends pid 1, and with it every process left in the namespace.
    unsafe { libc::_exit(code) }
}
