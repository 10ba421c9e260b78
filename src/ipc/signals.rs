//! The signals a parent passes on to the child it runs for the user (the
//! user namespace's child, a container's process, an exec'd command, an
//! attached container through its monitor), and the handler installation
//! they share.

use nix::sys::signal::Signal;

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
