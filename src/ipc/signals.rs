//! The signals a parent passes on to the child it runs for the user (the
//! user namespace's child, a container's process, an exec'd command, an
//! attached container through its monitor), and the handler installation
//! they share.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

/// What a user stopping burrow sends, or a terminal's size change: the
/// child gets it too, so that it can clean up and exit (or resize), and
/// burrow then returns its status.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Install `handler` for `signal`, restarting interrupted calls.
pub(crate) fn install_handler(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: every handler given here only reads or stores atomics and
    // calls kill(2), which are async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signal, &sa, std::ptr::null_mut());
    }
}

/// Block [`FORWARDED`] in this thread and return the mask to restore: a
/// child that has committed to its work (forked a monitor that will run
/// the container) must not be ended halfway by a signal its parent
/// forwards; the parent saw the signal too and acts on it once the child
/// is done (`userns::take_forwarded_signals`).
pub fn block_forwarded() -> nix::Result<SigSet> {
    let mut old = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&forwarded_set()),
        Some(&mut old),
    )?;
    Ok(old)
}

/// Unblock [`FORWARDED`] in this thread (after [`block_forwarded`] ran in
/// this very process).
pub fn unblock_forwarded() -> nix::Result<()> {
    pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&forwarded_set()), None)
}

fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set
}
