//! A typed message channel between two of burrow's processes across a
//! fork: length-prefixed JSON frames over a socket pair. Each protocol is
//! an enum of its messages (see `userns`'s setup handshake and the
//! runtime's monitor ↔ container process messages); a message the
//! protocol does not expect at that point is an error that names it.
//!
//! The ends are close-on-exec: a peer that executes a program closes its
//! end, which the other side reads as the end of the channel.

use std::fmt::Debug;
use std::io::{self, Read};
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Larger frames are a protocol error, not something to allocate for.
const MAX_FRAME: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("cannot talk to {peer}: {source}")]
    Io {
        peer: &'static str,
        source: io::Error,
    },
    #[error("{peer} sent a malformed message: {reason}")]
    Malformed { peer: &'static str, reason: String },
    #[error("expected {expected} from {peer}, got {got}")]
    Unexpected {
        peer: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("expected {expected} from {peer}, which closed the channel")]
    Closed {
        peer: &'static str,
        expected: &'static str,
    },
}

/// One end of a channel carrying messages `M` both ways.
pub struct Channel<M> {
    stream: UnixStream,
    /// Who is at the other end, for error messages ("the monitor").
    peer: &'static str,
    _messages: PhantomData<fn(M) -> M>,
}

impl<M: Serialize + DeserializeOwned + Debug> Channel<M> {
    /// Both ends: the first talks to `second_name`, the second to
    /// `first_name`. std creates them close-on-exec, so an exec'd command
    /// never inherits them.
    pub fn pair(
        first_name: &'static str,
        second_name: &'static str,
    ) -> Result<(Channel<M>, Channel<M>), ChannelError> {
        let (a, b) = UnixStream::pair().map_err(|source| ChannelError::Io {
            peer: second_name,
            source,
        })?;
        let end = |stream, peer| Channel {
            stream,
            peer,
            _messages: PhantomData,
        };
        Ok((end(a, second_name), end(b, first_name)))
    }

    pub fn send(&mut self, msg: &M) -> Result<(), ChannelError> {
        let body = serde_json::to_vec(msg).map_err(|e| self.io(io::Error::other(e)))?;
        let len = u32::try_from(body.len()).map_err(|e| self.io(io::Error::other(e)))?;
        let mut frame = len.to_le_bytes().to_vec();
        frame.extend_from_slice(&body);
        send_all(&self.stream, &frame).map_err(|e| self.io(e))
    }

    /// The next message, or None when the peer closed its end (exited or
    /// executed a program).
    pub fn recv(&mut self) -> Result<Option<M>, ChannelError> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(self.io(e)),
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_FRAME {
            return Err(self.malformed(format!("a frame of {len} bytes")));
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body).map_err(|e| self.io(e))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| self.malformed(e.to_string()))
    }

    /// The next message, which must be the one `pick` accepts (`expected`
    /// names it in the error otherwise).
    pub fn expect<T>(
        &mut self,
        expected: &'static str,
        pick: impl FnOnce(M) -> Result<T, M>,
    ) -> Result<T, ChannelError> {
        match self.recv()? {
            None => Err(ChannelError::Closed {
                peer: self.peer,
                expected,
            }),
            Some(msg) => pick(msg).map_err(|other| self.unexpected(expected, &other)),
        }
    }

    /// The error for a message `got` where `expected` was due.
    pub fn unexpected(&self, expected: &'static str, got: &M) -> ChannelError {
        ChannelError::Unexpected {
            peer: self.peer,
            expected,
            got: format!("{got:?}"),
        }
    }

    fn io(&self, source: io::Error) -> ChannelError {
        ChannelError::Io {
            peer: self.peer,
            source,
        }
    }

    fn malformed(&self, reason: String) -> ChannelError {
        ChannelError::Malformed {
            peer: self.peer,
            reason,
        }
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
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    enum Message {
        Unshared,
        UnshareFailed { errno: i32 },
        Mapped { setgroups_allowed: bool },
    }

    fn pair() -> (Channel<Message>, Channel<Message>) {
        Channel::pair("the parent", "the child").unwrap()
    }

    #[test]
    fn round_trip_and_eof() {
        let (mut a, mut b) = pair();
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
        let (mut a, b) = pair();
        drop(b);
        assert!(a.send(&Message::Unshared).is_err());
    }

    #[test]
    fn an_unexpected_message_is_named() {
        let (mut parent, mut child) = pair();
        child.send(&Message::Unshared).unwrap();
        let err = parent
            .expect("the maps", |m| match m {
                Message::Mapped { setgroups_allowed } => Ok(setgroups_allowed),
                other => Err(other),
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected the maps from the child, got Unshared"
        );
        drop(child);
        let err = parent.expect("the maps", |_| Ok(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected the maps from the child, which closed the channel"
        );
    }

    #[test]
    fn oversized_frames_are_refused() {
        let (a, mut b) = pair();
        send_all(&a.stream, &(MAX_FRAME + 1).to_le_bytes()).unwrap();
        assert!(matches!(b.recv(), Err(ChannelError::Malformed { .. })));
    }
}
