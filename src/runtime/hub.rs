//! The monitor's input and output hub for a container that outlives the
//! command that started it: the container's terminal master (or its
//! stdout, stderr and stdin pipes) on one side; the log and any number of
//! attached clients ([`super::attach`]) on the other. One poll(2) loop, no
//! threads.
//!
//! A client that does not read slows the container's output down to its
//! pace (as with Docker's attach); one that goes away is dropped. Input is
//! written without blocking: a container that does not read its stdin
//! stops the hub from taking more input, never from passing output on.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept4, bind, listen, socket,
};
use nix::sys::termios::{self, SpecialCharacterIndices};

use super::attach::{self, EXIT, MAX_PACKET, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT};
use super::logs::{LogSink, Stream};

/// Where the container's output comes from and its input goes to.
pub enum Streams {
    /// `-t`: the terminal's master is both.
    Tty(OwnedFd),
    /// Without a terminal: the write end of stdin's pipe with `-i`.
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin: Option<OwnedFd>,
    },
}

pub struct Hub {
    listener: Option<OwnedFd>,
    socket_path: Option<PathBuf>,
    clients: Vec<OwnedFd>,
    /// None with `--log-driver none` or `passthrough`.
    log: Option<LogSink>,
}

impl Hub {
    /// Open the log and listen on `dir/attach`; `first` is a client already
    /// connected (the command that starts the container and attaches).
    pub fn new(
        dir: &Path,
        log: Option<&Path>,
        max_log_size: Option<u64>,
        first: Option<OwnedFd>,
    ) -> io::Result<Hub> {
        let log = log.map(|l| LogSink::open(l, max_log_size)).transpose()?;
        let (listener, socket_path) = listen_in(dir)?;
        Ok(Hub {
            listener: Some(listener),
            socket_path: Some(socket_path),
            clients: first.into_iter().collect(),
            log,
        })
    }

    /// Pass output to the log and the clients, and the clients' input to the
    /// container, until every process in the container closed its output.
    pub fn serve(&mut self, streams: Streams) -> io::Result<()> {
        let (mut outputs, mut sink, tty): (Vec<(OwnedFd, Stream)>, Option<OwnedFd>, bool) =
            match streams {
                Streams::Tty(master) => {
                    let input = master.try_clone()?;
                    (vec![(master, Stream::Stdout)], Some(input), true)
                }
                Streams::Pipes {
                    stdout,
                    stderr,
                    stdin,
                } => (
                    vec![(stdout, Stream::Stdout), (stderr, Stream::Stderr)],
                    stdin,
                    false,
                ),
            };
        if let Some(s) = &sink {
            set_nonblocking(s.as_fd())?;
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut close_input = false;
        let mut buf = vec![0u8; MAX_PACKET - 1];
        let mut msg = vec![0u8; MAX_PACKET];
        while !outputs.is_empty() {
            if close_input && pending.is_empty() && !tty {
                sink = None;
            }
            let take_input = pending.is_empty();
            // Poll set: outputs, then the listener, then the clients, then
            // the input sink while input waits for it.
            let mut fds: Vec<PollFd> = outputs
                .iter()
                .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            let listener_at = fds.len();
            if let Some(l) = &self.listener {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
            }
            let clients_at = fds.len();
            if take_input {
                for c in &self.clients {
                    fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
                }
            }
            let sink_at = fds.len();
            if !pending.is_empty()
                && let Some(s) = &sink
            {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLOUT));
            }
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| !f.revents().unwrap_or(PollFlags::empty()).is_empty())
                .collect();
            drop(fds);

            // Input first, while the clients are those that were polled
            // (output and accepting change the list). None of it blocks.
            if take_input {
                let mut gone = Vec::new();
                for k in 0..(sink_at - clients_at) {
                    if !ready[clients_at + k] {
                        continue;
                    }
                    match attach::recv_msg(self.clients[k].as_fd(), &mut msg) {
                        None => gone.push(k),
                        Some((STDIN, n)) => pending.extend_from_slice(&msg[1..=n]),
                        Some((STDIN_EOF, _)) if tty => {
                            if let Some(s) = &sink {
                                pending.push(eof_char(s.as_fd()));
                            }
                        }
                        Some((STDIN_EOF, _)) => close_input = true,
                        Some((RESIZE, n)) => {
                            if let (true, Some(size), Some(s)) =
                                (tty, attach::parse_resize(&msg[1..=n]), &sink)
                            {
                                let _ = super::tty::set_winsize(s.as_raw_fd(), size);
                            }
                        }
                        Some(_) => {}
                    }
                }
                for k in gone.into_iter().rev() {
                    self.clients.remove(k);
                }
                if sink.is_none() {
                    // Nobody reads input: the container's stdin is closed.
                    pending.clear();
                }
            }
            if !pending.is_empty()
                && let Some(s) = &sink
            {
                match nix::unistd::write(s, &pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(Errno::EINTR | Errno::EAGAIN) => {}
                    // The container closed its input.
                    Err(_) => {
                        pending.clear();
                        if !tty {
                            sink = None;
                        }
                    }
                }
            }

            let mut closed = Vec::new();
            for (i, (fd, stream)) in outputs.iter().enumerate() {
                if !ready[i] {
                    continue;
                }
                match nix::unistd::read(fd, &mut buf) {
                    Ok(0) | Err(Errno::EIO) => closed.push(i),
                    Ok(n) => {
                        if let Some(log) = &mut self.log {
                            log.write(*stream, &buf[..n])?;
                        }
                        let kind = match stream {
                            Stream::Stdout => STDOUT,
                            Stream::Stderr => STDERR,
                        };
                        self.clients
                            .retain(|c| attach::send_msg(c.as_fd(), kind, &buf[..n]));
                    }
                    Err(Errno::EINTR | Errno::EAGAIN) => {}
                    Err(_) => closed.push(i),
                }
            }
            for i in closed.into_iter().rev() {
                outputs.remove(i);
            }

            if self.listener.is_some() && ready.get(listener_at) == Some(&true) {
                self.accept_all();
            }
        }
        match &mut self.log {
            Some(log) => log.finish(),
            None => Ok(()),
        }
    }

    /// Tell every client the container exited with `code`, and let them go.
    pub fn exited(&mut self, code: i32) {
        for c in self.clients.drain(..) {
            attach::send_msg(c.as_fd(), EXIT, &code.to_le_bytes());
        }
    }

    fn accept_all(&mut self) {
        let Some(l) = &self.listener else { return };
        loop {
            match accept4(l.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
                Ok(fd) => {
                    // SAFETY: accept4 returned a new descriptor we own.
                    self.clients
                        .push(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.listener = None;
        if let Some(p) = &self.socket_path {
            let _ = fs::remove_file(p);
        }
    }
}

/// A listening attach socket at `dir/attach`, for the user alone; bound
/// through /proc/self/fd so that long paths fit, and given to the owner of
/// `dir` (a keep-id monitor is root as a subordinate id).
fn listen_in(dir: &Path) -> io::Result<(OwnedFd, PathBuf)> {
    let path = dir.join(attach::SOCKET_NAME);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let d = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let addr =
        UnixAddr::new(format!("/proc/self/fd/{}/{}", d.as_raw_fd(), attach::SOCKET_NAME).as_str())?;
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    bind(sock.as_raw_fd(), &addr)?;
    let md = fs::metadata(dir)?;
    let _ = std::os::unix::fs::chown(&path, Some(md.uid()), Some(md.gid()));
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    listen(&sock, Backlog::new(16).map_err(io::Error::from)?)?;
    Ok((sock, path))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// The terminal's end-of-file character (^D unless changed).
fn eof_char(master: BorrowedFd<'_>) -> u8 {
    termios::tcgetattr(master)
        .map(|t| t.control_chars[SpecialCharacterIndices::VEOF as usize])
        .unwrap_or(4)
}
