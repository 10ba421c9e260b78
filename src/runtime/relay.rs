//! The poll(2) loop between the user's stdin and one other descriptor (a
//! terminal's master for `exec -t`, the attach socket for an attached
//! client), following the user's terminal size: one loop, the two kinds of
//! relay differing only in what they do with each event.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SpecialCharacterIndices};

use super::tty::{self, WinSize, host_winsize, take_resize};

/// How the user's input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEnd {
    /// End of file.
    Eof,
    /// A read error: treated as the end, with nothing more to read.
    Error,
}

/// What a relay does with each event; `Some(end)` stops the loop with it.
pub trait RelayHandler {
    type End;
    /// The user's terminal changed size (when the loop follows resizes).
    fn resized(&mut self, size: WinSize) -> io::Result<()>;
    /// The other descriptor is readable (or hung up).
    fn source_ready(&mut self) -> io::Result<Option<Self::End>>;
    /// Bytes the user typed.
    fn input(&mut self, data: &[u8]) -> io::Result<Option<Self::End>>;
    /// The user's input ended; it is not polled again.
    fn input_closed(&mut self, how: InputEnd) -> io::Result<()>;
}

/// Relay until the handler says the end: poll `source` and, while
/// `forward_stdin` and it is open, stdin; with `follow_resizes`, tell the
/// handler of each change of the user's terminal size (see
/// [`super::tty::watch_resizes`]).
pub fn relay_loop<H: RelayHandler>(
    source: BorrowedFd<'_>,
    forward_stdin: bool,
    follow_resizes: bool,
    handler: &mut H,
) -> io::Result<H::End> {
    let stdin = io::stdin();
    let mut stdin_open = forward_stdin;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if follow_resizes
            && take_resize()
            && let Some(size) = host_winsize()
        {
            handler.resized(size)?;
        }
        let mut fds = vec![PollFd::new(source, PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let source_ready = fds[0].revents().unwrap_or(PollFlags::empty());
        let stdin_ready = fds
            .get(1)
            .and_then(PollFd::revents)
            .unwrap_or(PollFlags::empty());
        if !source_ready.is_empty()
            && let Some(end) = handler.source_ready()?
        {
            return Ok(end);
        }
        if !stdin_ready.is_empty() {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    handler.input_closed(InputEnd::Eof)?;
                }
                Ok(n) => {
                    if let Some(end) = handler.input(&buf[..n])? {
                        return Ok(end);
                    }
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => {
                    stdin_open = false;
                    handler.input_closed(InputEnd::Error)?;
                }
            }
        }
    }
}

/// Copy the user's stdin to `master` (if `forward_stdin`) and `master` to
/// stdout, following the user's terminal size (see [`tty::watch_resizes`]),
/// stdout until the container side of the terminal is closed by every
/// process in the container. On end of input, the terminal's end-of-file
/// character is sent, so a shell reading piped commands exits.
pub fn relay_terminal(master: &OwnedFd, forward_stdin: bool) -> io::Result<()> {
    let mut handler = TerminalRelay {
        master,
        buf: vec![0u8; 32 * 1024],
    };
    relay_loop(master.as_fd(), forward_stdin, true, &mut handler)
}

/// [`relay_terminal`]'s side of the loop: the terminal's master.
struct TerminalRelay<'a> {
    master: &'a OwnedFd,
    buf: Vec<u8>,
}

impl RelayHandler for TerminalRelay<'_> {
    type End = ();

    fn resized(&mut self, size: WinSize) -> io::Result<()> {
        let _ = tty::set_winsize(self.master.as_raw_fd(), size);
        Ok(())
    }

    fn source_ready(&mut self) -> io::Result<Option<()>> {
        match nix::unistd::read(self.master, &mut self.buf) {
            Ok(0) | Err(Errno::EIO) => Ok(Some(())),
            Ok(n) => tty::write_all(1, &self.buf[..n]).map(|()| None),
            Err(Errno::EINTR | Errno::EAGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn input(&mut self, data: &[u8]) -> io::Result<Option<()>> {
        match tty::write_all(self.master.as_raw_fd(), data) {
            Err(e) if e.raw_os_error() != Some(libc::EIO) => Err(e),
            _ => Ok(None),
        }
    }

    fn input_closed(&mut self, how: InputEnd) -> io::Result<()> {
        if how == InputEnd::Eof {
            let eof = termios::tcgetattr(self.master.as_fd())
                .map(|t| t.control_chars[SpecialCharacterIndices::VEOF as usize])
                .unwrap_or(4);
            // The container may be gone already; its output still drains.
            let _ = tty::write_all(self.master.as_raw_fd(), &[eof]);
        }
        Ok(())
    }
}
