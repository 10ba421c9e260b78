//! A typed message channel between the parent and the child being set up
//! in a user namespace: length-prefixed JSON frames over a socketpair.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

/// Messages of the user namespace setup handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// child → parent: the child is in its new user namespace.
    Unshared,
    /// child → parent: unshare(CLONE_NEWUSER) failed with this errno.
    UnshareFailed { errno: i32 },
    /// parent → child: maps written; whether setgroups(2) is permitted.
    Mapped { setgroups_allowed: bool },
    /// parent → child: the maps could not be written; the parent reports why.
    MapFailed,
}

/// Larger frames are a protocol error, not something to allocate for.
const MAX_FRAME: u32 = 64 * 1024;

pub(crate) struct Channel {
    stream: UnixStream,
}

impl Channel {
    /// Both ends; std creates them close-on-exec, so an exec'd command never
    /// inherits them.
    pub(crate) fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel { stream: a }, Channel { stream: b }))
    }

    pub(crate) fn send(&mut self, msg: &Message) -> io::Result<()> {
        let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let len = u32::try_from(body.len()).map_err(io::Error::other)?;
        let mut frame = len.to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        send_all(&self.stream, &frame)
    }

    /// The next message, or None when the peer closed its end (exited).
    pub(crate) fn recv(&mut self) -> io::Result<Option<Message>> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame of {len} bytes"),
            ));
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// write(2) on a socket whose peer is gone raises SIGPIPE; a library must
/// not rely on the program ignoring it, so send with MSG_NOSIGNAL.
fn send_all(stream: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: the fd is owned by `stream` and open; buf is a valid slice.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_eof() {
        let (mut a, mut b) = Channel::pair().unwrap();
        a.send(&Message::UnshareFailed { errno: 1 }).unwrap();
        a.send(&Message::Mapped {
            setgroups_allowed: true,
        })
        .unwrap();
        assert_eq!(b.recv().unwrap(), Some(Message::UnshareFailed { errno: 1 }));
        assert_eq!(
            b.recv().unwrap(),
            Some(Message::Mapped {
                setgroups_allowed: true
            })
        );
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn send_to_closed_peer_is_an_error_not_sigpipe() {
        let (mut a, b) = Channel::pair().unwrap();
        drop(b);
        assert!(a.send(&Message::Unshared).is_err());
    }
}
