//! Without `-t`, a process in a container never gets a descriptor of the
//! user's terminal (it could change its modes or read it behind burrow's
//! back): each of burrow's stdin (with `-i`), stdout and stderr that is a
//! terminal is replaced by a pipe, and burrow copies between the terminal
//! and the pipe until the process is gone. What is not a terminal (a file,
//! a pipe) is still handed over as it is, with no copy.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

/// The pipes standing in for burrow's terminal descriptors, before the
/// fork: for each of stdin, stdout, stderr that is a terminal, the
/// process's end and burrow's.
#[derive(Debug)]
pub struct TerminalPipes {
    ends: [Option<(OwnedFd, OwnedFd)>; 3],
}

impl TerminalPipes {
    /// Pipes for burrow's stdio descriptors that are terminals (stdin only
    /// when the process gets input, `-i`); `None` when none is.
    pub fn for_terminals(stdin: bool) -> io::Result<Option<TerminalPipes>> {
        let mut ends: [Option<(OwnedFd, OwnedFd)>; 3] = [None, None, None];
        for (fd, end) in ends.iter_mut().enumerate() {
            // SAFETY: a stdio descriptor, only looked at here.
            let this = unsafe { BorrowedFd::borrow_raw(fd as RawFd) };
            if (fd == 0 && !stdin) || !nix::unistd::isatty(this).unwrap_or(false) {
                continue;
            }
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
            *end = Some(if fd == 0 { (r, w) } else { (w, r) });
        }
        Ok(ends
            .iter()
            .any(Option::is_some)
            .then_some(TerminalPipes { ends }))
    }

    /// Whether stdin is relayed (burrow reads the terminal).
    pub fn relays_stdin(&self) -> bool {
        self.ends[0].is_some()
    }

    /// In the process, after the fork: its ends become its stdio.
    pub fn connect(self) -> io::Result<()> {
        for (fd, end) in self.ends.into_iter().enumerate() {
            if let Some((theirs, _ours)) = end {
                // SAFETY: dup2 onto a stdio descriptor; `theirs` stays
                // owned and closes on drop.
                if unsafe { libc::dup2(theirs.as_raw_fd(), fd as RawFd) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }

    /// In burrow, after the fork: its ends, the process's closed (so that
    /// their end is seen).
    pub fn relay(self) -> TerminalRelay {
        let [stdin, stdout, stderr] = self.ends.map(|e| e.map(|(_, ours)| ours));
        TerminalRelay {
            stdin,
            outputs: [stdout, stderr],
        }
    }
}

/// burrow's ends of the pipes, to copy from and to its terminal.
#[derive(Debug)]
pub struct TerminalRelay {
    /// Written with what the user types.
    stdin: Option<OwnedFd>,
    /// Read, and copied to burrow's stdout and stderr.
    outputs: [Option<OwnedFd>; 2],
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// A pidfd for `child`: readable once it exited. None where the kernel
/// has none (before 5.3): the relay then looks every 100 ms.
fn pidfd(child: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.as_raw(), 0) };
    // SAFETY: a descriptor pidfd_open just returned, owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether `child` exited (it is not reaped: the caller does that).
fn exited(child: Pid) -> bool {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitid};
    matches!(
        waitid(
            nix::sys::wait::Id::Pid(child),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        ),
        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_)
    )
}

/// Read what `fd` holds now; `Ok(None)` at its end, empty when nothing
/// is there yet.
fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(n)),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return Ok(Some(0)),
            Err(e) => return Err(e.into()),
        }
    }
}

impl TerminalRelay {
    /// Copy until `child` (the process, or pid 1 of the container) exited
    /// and what it wrote is passed on, or its output pipes all ended and
    /// its input is done. Typed input goes on only while the process
    /// runs; a terminal that cannot be written any more (hung up) has the
    /// output discarded, as a closed terminal would.
    pub fn run(mut self, child: Pid) -> io::Result<()> {
        for fd in self.outputs.iter().flatten() {
            set_nonblocking(fd.as_fd())?;
        }
        if let Some(fd) = &self.stdin {
            set_nonblocking(fd.as_fd())?;
        }
        let exit = pidfd(child);
        let mut buf = vec![0u8; 32 * 1024];
        // Typed bytes the process has not taken yet.
        let mut pending: Vec<u8> = Vec::new();
        let mut writable = [true, true];
        let mut stdin_open = self.stdin.is_some();
        loop {
            let user_stdin = io::stdin();
            let mut fds = Vec::with_capacity(5);
            let mut slots = Vec::with_capacity(5);
            for (i, fd) in self.outputs.iter().enumerate() {
                if let Some(fd) = fd {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::Output(i));
                }
            }
            if let (true, Some(pipe)) = (stdin_open, &self.stdin) {
                if pending.is_empty() {
                    fds.push(PollFd::new(user_stdin.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::Typed);
                } else {
                    fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLOUT));
                    slots.push(Slot::Input);
                }
            }
            if let Some(p) = &exit {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Exit);
            }
            if self.outputs.iter().all(Option::is_none) && !stdin_open {
                // Nothing left to pass on: the caller reaps.
                return Ok(());
            }
            let timeout = if exit.is_some() {
                PollTimeout::NONE
            } else {
                PollTimeout::from(100u16)
            };
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<Slot> = fds
                .iter()
                .zip(&slots)
                .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
                .map(|(_, s)| *s)
                .collect();
            drop(fds);
            let gone = ready.contains(&Slot::Exit) || (exit.is_none() && exited(child));
            for slot in ready {
                match slot {
                    Slot::Output(i) => {
                        self.pass_output(i, &mut buf, &mut writable)?;
                    }
                    Slot::Typed => match read_some(user_stdin.as_fd(), &mut buf) {
                        Ok(Some(n)) => pending.extend_from_slice(&buf[..n]),
                        // The end of the user's input, or a terminal
                        // that cannot be read: the process's input ends.
                        Ok(None) | Err(_) => {
                            stdin_open = false;
                            self.stdin = None;
                        }
                    },
                    Slot::Input | Slot::Exit => {}
                }
            }
            if stdin_open && !pending.is_empty() {
                let pipe = self.stdin.as_ref().map(AsFd::as_fd);
                match pipe.map(|p| nix::unistd::write(p, &pending)) {
                    Some(Ok(n)) => {
                        pending.drain(..n);
                    }
                    Some(Err(Errno::EAGAIN | Errno::EINTR)) => {}
                    // The process closed its input.
                    Some(Err(_)) | None => {
                        stdin_open = false;
                        self.stdin = None;
                        pending.clear();
                    }
                }
            }
            if gone {
                // What it wrote before it exited is in the pipes.
                for i in 0..2 {
                    while self.pass_output(i, &mut buf, &mut writable)? {}
                }
                return Ok(());
            }
        }
    }

    /// Copy what output `i` holds now to burrow's stdout or stderr;
    /// whether anything was there. Its end closes it.
    fn pass_output(
        &mut self,
        i: usize,
        buf: &mut [u8],
        writable: &mut [bool; 2],
    ) -> io::Result<bool> {
        let Some(fd) = &self.outputs[i] else {
            return Ok(false);
        };
        match read_some(fd.as_fd(), buf)? {
            None => {
                self.outputs[i] = None;
                Ok(false)
            }
            Some(0) => Ok(false),
            Some(n) => {
                if writable[i] && crate::runtime::tty::write_all(i as RawFd + 1, &buf[..n]).is_err()
                {
                    writable[i] = false;
                }
                Ok(true)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Output(usize),
    Typed,
    Input,
    Exit,
}
