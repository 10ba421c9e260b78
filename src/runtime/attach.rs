//! Attaching to a container held by its monitor: the wire format between
//! the monitor's [`super::hub`] and a client (`run -t`, `start -a`,
//! `attach`), and the client itself.
//!
//! A SOCK_SEQPACKET unix socket (`containers/ID/attach`, or one end of a
//! socketpair for the client that starts the container) carries one message
//! per packet: a kind byte, then the payload.
//!
//! - client → monitor: [`STDIN`] bytes, [`STDIN_EOF`], [`RESIZE`] rows and
//!   columns (u16 little-endian each).
//! - monitor → client: [`STDOUT`] or [`STDERR`] bytes, [`EXIT`] and the
//!   exit code (i32 little-endian) once the container is gone.
//!
//! Detach keys (Docker's ctrl-p ctrl-q by default) are the client's
//! business: the container never sees them, the monitor never hears of
//! them.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr, connect, recv, send, socket,
};

use super::relay::{InputEnd, RelayHandler};
use super::tty::{WinSize, host_winsize, write_all};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const STDIN_EOF: u8 = 4;
pub const RESIZE: u8 = 5;

/// The largest packet: a kind byte and up to 32 KiB of data.
pub const MAX_PACKET: usize = 1 + 32 * 1024;

/// The socket's name in the container's directory.
pub const SOCKET_NAME: &str = "attach";

/// Send one message; false if the peer is gone.
pub fn send_msg(fd: BorrowedFd<'_>, kind: u8, payload: &[u8]) -> bool {
    let mut packet = Vec::with_capacity(1 + payload.len());
    packet.push(kind);
    packet.extend_from_slice(payload);
    loop {
        match send(fd.as_raw_fd(), &packet, MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => return true,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// Receive one message: None at end of stream or on error.
///
/// A peer that closes its end while messages we sent it are unread leaves
/// ECONNRESET behind, and the kernel reports that before the messages the
/// peer sent us first: a monitor that exits with a client's late input
/// unread would hide the exit code it sent. The error is reported once;
/// what was queued before it comes next.
pub fn recv_msg(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Option<(u8, usize)> {
    let mut reset_seen = false;
    loop {
        match recv(fd.as_raw_fd(), buf, MsgFlags::empty()) {
            Ok(0) => return None,
            Ok(n) => return Some((buf[0], n - 1)),
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) if !reset_seen => reset_seen = true,
            Err(_) => return None,
        }
    }
}

pub fn resize_payload(size: WinSize) -> [u8; 4] {
    let r = size.rows.to_le_bytes();
    let c = size.cols.to_le_bytes();
    [r[0], r[1], c[0], c[1]]
}

pub fn parse_resize(payload: &[u8]) -> Option<WinSize> {
    let p: [u8; 4] = payload.try_into().ok()?;
    Some(WinSize {
        rows: u16::from_le_bytes([p[0], p[1]]),
        cols: u16::from_le_bytes([p[2], p[3]]),
    })
}

/// A connected pair of attach sockets (monitor end, client end).
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::sys::socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Connect to the attach socket in the container directory `dir`. The
/// path goes through /proc/self/fd, so that a long store path still fits a
/// socket address.
pub fn connect_to(dir: &Path) -> io::Result<OwnedFd> {
    let d = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let addr = UnixAddr::new(format!("/proc/self/fd/{}/{SOCKET_NAME}", d.as_raw_fd()).as_str())?;
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(sock.as_raw_fd(), &addr)?;
    Ok(sock)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid detach keys {0:?}: use a comma-separated list of ctrl-<letter or one of @[\\]^_> or single characters, e.g. ctrl-p,ctrl-q, or \"\" to disable"
)]
pub struct BadDetachKeys(String);

/// Docker's `--detach-keys` format: `ctrl-p,ctrl-q`; "" disables.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, BadDetachKeys> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || BadDetachKeys(s.to_string());
    s.split(',')
        .map(|k| {
            if let Some(c) = k.strip_prefix("ctrl-") {
                let [c] = c.as_bytes() else { return Err(bad()) };
                match c.to_ascii_lowercase() {
                    c @ b'a'..=b'z' => Ok(c - b'a' + 1),
                    b'@' => Ok(0),
                    c @ (b'[' | b'\\' | b']' | b'^' | b'_') => Ok(c - b'@'),
                    _ => Err(bad()),
                }
            } else {
                match k.as_bytes() {
                    [c] if c.is_ascii() => Ok(*c),
                    _ => Err(bad()),
                }
            }
        })
        .collect()
}

/// Finds the detach sequence in input as it arrives, holding back a
/// possible start of it until it is complete or proven otherwise.
#[derive(Debug)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// The bytes to pass on for `input`, and whether the sequence completed
    /// (then nothing after it is passed on).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                // Not the sequence after all: what was held back goes on.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The container exited with this code.
    Exited(i32),
    /// The user typed the detach keys; the container runs on.
    Detached,
    /// The monitor went away without a word (it was killed).
    Lost,
}

/// What the client does.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Forward our stdin to the container.
    pub stdin: bool,
    /// The container has a terminal: send our window size, and follow it.
    pub tty: bool,
    /// Detach sequence (empty: none).
    pub detach_keys: Vec<u8>,
}

/// The monitor that signals are proxied to, and the first real-time signal.
static PROXY_MONITOR: AtomicI32 = AtomicI32::new(0);
static PROXY_RTMIN: AtomicI32 = AtomicI32::new(0);

extern "C" fn proxy_signal(sig: libc::c_int) {
    let monitor = PROXY_MONITOR.load(Ordering::SeqCst);
    if monitor > 0 {
        // SAFETY: kill(2) is async-signal-safe. The monitor passes
        // SIGRTMIN+N on to the container as N.
        unsafe { libc::kill(monitor, PROXY_RTMIN.load(Ordering::SeqCst) + sig) };
    }
}

/// Signals sent to the client (TERM, INT, HUP, ...) go to the container
/// through its monitor from now on, as Docker's `--sig-proxy`.
pub fn proxy_signals_to(monitor_pid: i32) {
    PROXY_RTMIN.store(libc::SIGRTMIN(), Ordering::SeqCst);
    PROXY_MONITOR.store(monitor_pid, Ordering::SeqCst);
    for s in crate::ipc::signals::FORWARDED {
        if s == nix::sys::signal::Signal::SIGWINCH {
            continue;
        }
        crate::ipc::signals::install_handler(s as libc::c_int, proxy_signal);
    }
}

/// Relay between our stdio and the attached container until it exits, the
/// user detaches, or the monitor is gone.
pub fn run_client(sock: &OwnedFd, opts: &ClientOptions) -> io::Result<AttachEnd> {
    if opts.tty {
        super::tty::watch_resizes();
        if let Some(size) = host_winsize() {
            send_msg(sock.as_fd(), RESIZE, &resize_payload(size));
        }
    }
    let mut client = Client {
        sock,
        matcher: DetachMatcher::new(opts.detach_keys.clone()),
        buf: vec![0u8; MAX_PACKET],
    };
    super::relay::relay_loop(sock.as_fd(), opts.stdin, opts.tty, &mut client)
}

/// [`run_client`]'s side of the loop: the attach socket.
struct Client<'a> {
    sock: &'a OwnedFd,
    matcher: DetachMatcher,
    buf: Vec<u8>,
}

impl RelayHandler for Client<'_> {
    type End = AttachEnd;

    fn resized(&mut self, size: WinSize) -> io::Result<()> {
        send_msg(self.sock.as_fd(), RESIZE, &resize_payload(size));
        Ok(())
    }

    fn source_ready(&mut self) -> io::Result<Option<AttachEnd>> {
        let buf = &mut self.buf;
        match recv_msg(self.sock.as_fd(), buf) {
            None => Ok(Some(AttachEnd::Lost)),
            Some((STDOUT, n)) => write_all(1, &buf[1..=n]).map(|()| None),
            Some((STDERR, n)) => write_all(2, &buf[1..=n]).map(|()| None),
            Some((EXIT, 4)) => {
                let code = i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
                Ok(Some(AttachEnd::Exited(code)))
            }
            Some(_) => Ok(None),
        }
    }

    fn input(&mut self, data: &[u8]) -> io::Result<Option<AttachEnd>> {
        let (pass, detach) = self.matcher.feed(data);
        if !pass.is_empty() {
            send_msg(self.sock.as_fd(), STDIN, &pass);
        }
        Ok(detach.then_some(AttachEnd::Detached))
    }

    fn input_closed(&mut self, _how: InputEnd) -> io::Result<()> {
        send_msg(self.sock.as_fd(), STDIN_EOF, &[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_as_docker() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(
            parse_detach_keys("ctrl-@,ctrl-[,a").unwrap(),
            vec![0, 27, b'a']
        );
        assert_eq!(parse_detach_keys("ctrl-A").unwrap(), vec![1]);
        assert_eq!(parse_detach_keys("").unwrap(), Vec::<u8>::new());
        for bad in ["ctrl-", "ctrl-pp", "ab", "ctrl-1", ","] {
            let e = parse_detach_keys(bad).unwrap_err().to_string();
            assert!(e.contains("invalid detach keys"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_detach_sequence_is_found_across_reads_and_never_passed_on() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ab"), (b"ab".to_vec(), false));
        // A held-back ctrl-p followed by something else is passed on.
        assert_eq!(m.feed(&[16]), (vec![], false));
        assert_eq!(m.feed(b"x"), (vec![16, b'x'], false));
        // ctrl-p ctrl-p ctrl-q: the first ctrl-p is data.
        assert_eq!(m.feed(&[16, 16]), (vec![16], false));
        assert_eq!(m.feed(&[17, b'z']), (vec![], true));
        let mut none = DetachMatcher::new(vec![]);
        assert_eq!(none.feed(&[16, 17]), (vec![16, 17], false));
    }

    #[test]
    fn messages_keep_their_boundaries() {
        let (a, b) = socket_pair().unwrap();
        assert!(send_msg(a.as_fd(), STDOUT, b"hello"));
        assert!(send_msg(
            a.as_fd(),
            RESIZE,
            &resize_payload(WinSize { rows: 3, cols: 4 })
        ));
        let mut buf = vec![0u8; MAX_PACKET];
        assert_eq!(recv_msg(b.as_fd(), &mut buf), Some((STDOUT, 5)));
        assert_eq!(&buf[1..6], b"hello");
        let (kind, n) = recv_msg(b.as_fd(), &mut buf).unwrap();
        assert_eq!(kind, RESIZE);
        assert_eq!(
            parse_resize(&buf[1..=n]),
            Some(WinSize { rows: 3, cols: 4 })
        );
        drop(a);
        assert_eq!(recv_msg(b.as_fd(), &mut buf), None);
        assert!(!send_msg(b.as_fd(), STDIN, b"x"));
    }
}
