//! The `burrow` command line. Parsing and presentation live in
//! `src/commands`; everything else is the engine in the library crate.

mod commands;

fn main() {
    quiet_on_closed_stdout();
    std::process::exit(commands::main());
}

/// A reader that goes away (`burrow images | head -1`) ends burrow the way
/// it ends any Unix program: by SIGPIPE, silently, status 141 to the shell.
/// Rust ignores SIGPIPE so that a write fails instead, and its printing
/// (ours and clap's) then panics; the hook turns that panic back into the
/// signal. Writes to sockets and pipes the engine owns still fail with
/// EPIPE and are handled where they happen.
fn quiet_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if payload.contains("Broken pipe") || payload.contains("os error 32") {
            // SAFETY: restoring the default action and raising the signal
            // ends this process; nothing else runs.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
        }
        default_hook(info);
    }));
}
