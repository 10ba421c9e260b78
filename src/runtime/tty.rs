//! Terminals for `run -t`, the way runc and crun make them: the container
//! process opens the pseudo-terminal in its own devpts instance (so the
//! container sees `/dev/pts/0` as its terminal), makes the slave its
//! controlling terminal and stdio, and hands the master to the monitor over
//! a unix socket (SCM_RIGHTS). The bytes between the user's terminal and
//! the master are relayed with poll(2), no threads: by the monitor's
//! [`super::hub`], or by [`super::relay`] for `exec -t`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::termios::{self, SetArg, Termios};

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

fn get_winsize(fd: RawFd) -> Option<WinSize> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some(WinSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

pub(crate) fn set_winsize(fd: RawFd, size: WinSize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The size of the user's terminal (stdout's, else stdin's), if either is one.
pub fn host_winsize() -> Option<WinSize> {
    get_winsize(1).or_else(|| get_winsize(0))
}

/// The user's terminal in raw mode until dropped (or until [`RawMode::restore`]).
/// Raw: no echo, no line editing, no signals from ^C/^Z: every byte goes to
/// the container's terminal, whose own line discipline does all that.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Put stdin's terminal in raw mode; None if stdin is not a terminal.
    pub fn enter() -> io::Result<Option<RawMode>> {
        let stdin = io::stdin();
        let saved = match termios::tcgetattr(stdin.as_fd()) {
            Ok(t) => t,
            Err(Errno::ENOTTY | Errno::EINVAL) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut raw = saved.clone();
        make_raw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSADRAIN, &raw)?;
        Ok(Some(RawMode { saved }))
    }

    pub fn restore(&self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// cfmakeraw(3), output processing included: the container's terminal
/// already turns "\n" into "\r\n", and doing it twice shows as "\r\r\n".
fn make_raw(t: &mut Termios) {
    termios::cfmakeraw(t);
}

/// In the container process, after devpts and the pivot: open a terminal
/// pair, make the slave the controlling terminal and fds 0, 1 and 2, give
/// it `size`, and return the master (close-on-exec) for the monitor.
pub fn open_in_container(size: Option<WinSize>) -> io::Result<OwnedFd> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // The slave through the master, not by path: no lookup the container's
    // files could redirect.
    // SAFETY: TIOCGPTPEER returns a new descriptor or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY,
        )
    };
    if slave < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some(size) = size {
        set_winsize(slave.as_raw_fd(), size)?;
    }
    nix::unistd::setsid()?;
    // SAFETY: TIOCSCTTY with 0 takes the terminal only if it has no session.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    for target in 0..3 {
        // SAFETY: dup2 onto stdio; `slave` stays owned and closes on drop.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(master)
}

/// The pts number of `master` (for binding its slave over /dev/console).
pub fn pts_number(master: BorrowedFd<'_>) -> io::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n)
}

/// The socket pair a terminal's master travels over (see
/// [`crate::ipc::fdpass::send_fd`]),
/// if `wanted`.
pub fn console_socket(wanted: bool) -> io::Result<Option<(OwnedFd, OwnedFd)>> {
    if !wanted {
        return Ok(None);
    }
    crate::ipc::fdpass::socket_pair().map(Some)
}

/// Set by the SIGWINCH handler of [`watch_resizes`]; the relays apply the
/// new size.
static RESIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    RESIZED.store(true, Ordering::SeqCst);
}

/// From now on, a change of the user's terminal size (SIGWINCH) is noted
/// for [`take_resize`].
pub fn watch_resizes() {
    crate::ipc::signals::install_handler(libc::SIGWINCH, on_winch);
}

/// Whether the user's terminal changed size since the last call.
pub fn take_resize() -> bool {
    RESIZED.swap(false, Ordering::SeqCst)
}

pub(crate) fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    // SAFETY: the descriptor is open for the duration of the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::fdpass::{recv_fd, send_fd};
    use nix::sys::termios::{InputFlags, LocalFlags, OutputFlags};

    #[test]
    fn raw_mode_passes_every_byte() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut t = termios::tcgetattr(&pty.slave).unwrap();
        assert!(t.local_flags.contains(LocalFlags::ISIG | LocalFlags::ECHO));
        make_raw(&mut t);
        assert!(!t.local_flags.intersects(
            LocalFlags::ISIG | LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::IEXTEN
        ));
        assert!(!t.input_flags.contains(InputFlags::ICRNL));
        assert!(!t.output_flags.contains(OutputFlags::OPOST));
    }

    #[test]
    fn window_sizes_and_descriptors_pass() {
        let pty = nix::pty::openpty(
            Some(&nix::pty::Winsize {
                ws_row: 33,
                ws_col: 101,
                ws_xpixel: 0,
                ws_ypixel: 0,
            }),
            None,
        )
        .unwrap();
        assert_eq!(
            get_winsize(pty.slave.as_raw_fd()),
            Some(WinSize {
                rows: 33,
                cols: 101
            })
        );
        set_winsize(pty.master.as_raw_fd(), WinSize { rows: 5, cols: 7 }).unwrap();
        assert_eq!(
            get_winsize(pty.slave.as_raw_fd()),
            Some(WinSize { rows: 5, cols: 7 })
        );

        let (a, b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        send_fd(a.as_fd(), pty.master.as_fd()).unwrap();
        let got = recv_fd(b.as_fd()).unwrap().expect("a descriptor");
        assert_eq!(
            get_winsize(got.as_raw_fd()),
            Some(WinSize { rows: 5, cols: 7 })
        );
        drop(a);
        assert!(recv_fd(b.as_fd()).unwrap().is_none());
    }
}
