//! The messages between a process entering a container and its parent
//! (the monitor, or `exec`), over an [`crate::ipc::Channel`]. The child's
//! end is close-on-exec: the end of the channel, with no `Failed` before
//! it, means the command was executed.

use serde::{Deserialize, Serialize};

use super::error::ChildSetupError;
use crate::ipc::{Channel, ChannelError};

/// Who is at either end, for error messages.
pub const CONTAINER: &str = "the container process";
pub const MONITOR: &str = "the monitor";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// child → parent: its network namespace exists; the monitor connects
    /// it while the child sets up the rest.
    NetnsReady,
    /// parent → child: the network is connected.
    NetworkReady,
    /// parent → child: the network could not be connected; the child
    /// fails with this reason.
    NetworkFailed { reason: String },
    /// child → parent: setup failed before the exec; the child exits with
    /// `code` (125, or 126/127 when the command cannot be run).
    Failed { code: i32, message: String },
    /// child → parent (exec): setup is done, execve comes next; the end
    /// of the channel after it means the command was executed, the end
    /// before it that the child was killed first.
    Executing,
}

pub type ProcessChannel = Channel<Message>;

/// Two connected ends: the parent's (named `parent`: the monitor, or
/// exec) and the child's (named `child`).
pub fn pair(
    parent: &'static str,
    child: &'static str,
) -> Result<(ProcessChannel, ProcessChannel), ChannelError> {
    Channel::pair(parent, child)
}

/// The child's report of `err`, sent before it exits.
pub fn failed(err: &ChildSetupError) -> Message {
    Message::Failed {
        code: err.exit_code(),
        message: err.to_string(),
    }
}

/// What the child's report says, read by the parent after it sent
/// everything else: `None` when the channel ended without one (the
/// command was executed, or the child was killed).
pub fn read_report(chan: &mut ProcessChannel) -> Result<Option<(i32, String)>, ChannelError> {
    match chan.recv()? {
        None => Ok(None),
        Some(Message::Failed { code, message }) => Ok(Some((code, message))),
        Some(other) => Err(chan.unexpected("a failure report or the end of the channel", &other)),
    }
}

/// How an exec'd child's setup ended, as its channel tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The command was executed.
    Ran,
    /// The child said why it could not run the command.
    Failed { code: i32, message: String },
    /// The channel ended before the child got to the exec: it was killed.
    Died,
}

/// Read the exec'd child's messages to the end of its setup.
pub fn read_exec_outcome(chan: &mut ProcessChannel) -> Result<ExecOutcome, ChannelError> {
    let mut executing = false;
    loop {
        match chan.recv()? {
            None if executing => return Ok(ExecOutcome::Ran),
            None => return Ok(ExecOutcome::Died),
            Some(Message::Executing) if !executing => executing = true,
            Some(Message::Failed { code, message }) => {
                return Ok(ExecOutcome::Failed { code, message });
            }
            Some(other) => {
                return Err(chan.unexpected("word of the exec or a failure report", &other));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_a_failure_or_the_end_of_the_channel() {
        let (mut monitor, mut child) = pair(MONITOR, CONTAINER).unwrap();
        let err = ChildSetupError::Program {
            code: 127,
            message: "\"nosuch\": executable file not found in $PATH".into(),
        };
        child.send(&failed(&err)).unwrap();
        child.send(&Message::NetnsReady).unwrap();
        assert_eq!(
            read_report(&mut monitor).unwrap(),
            Some((127, err.to_string()))
        );
        // Anything else at that point is a protocol error that names it.
        assert_eq!(
            read_report(&mut monitor).unwrap_err().to_string(),
            "expected a failure report or the end of the channel from the container process, got NetnsReady"
        );
        drop(child);
        assert_eq!(read_report(&mut monitor).unwrap(), None);
    }

    #[test]
    fn an_exec_ran_only_when_its_channel_ends_after_the_word() {
        let (mut parent, mut child) = pair(MONITOR, CONTAINER).unwrap();
        child.send(&Message::Executing).unwrap();
        drop(child);
        assert_eq!(read_exec_outcome(&mut parent).unwrap(), ExecOutcome::Ran);
        let (mut parent, child) = pair(MONITOR, CONTAINER).unwrap();
        drop(child);
        assert_eq!(read_exec_outcome(&mut parent).unwrap(), ExecOutcome::Died);
        // execve itself failed after the word.
        let (mut parent, mut child) = pair(MONITOR, CONTAINER).unwrap();
        child.send(&Message::Executing).unwrap();
        child
            .send(&Message::Failed {
                code: 126,
                message: "no".into(),
            })
            .unwrap();
        assert_eq!(
            read_exec_outcome(&mut parent).unwrap(),
            ExecOutcome::Failed {
                code: 126,
                message: "no".into()
            }
        );
    }
}
