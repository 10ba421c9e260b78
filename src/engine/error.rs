//! The engine's errors, and what each means for a front end: the exit
//! status a command line reports (Docker's and Podman's 125/126/127), the
//! kind an API would map to its own status codes.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::confine::ConfineError;
use crate::image::LookupError;
use crate::netns::network::NetworkError;
use crate::netns::ports::PortError;
use crate::netns::slirp::SlirpError;
use crate::runtime::mounts::MountError;
use crate::runtime::rootfs::RootfsError;
use crate::runtime::{ContainerError, SpecError};
use crate::storage::StoreError;
use crate::userns::UsernsError;

/// What kind of failure an error is: a front end chooses its exit status
/// or response from this alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// burrow itself failed, or the request was refused.
    Engine,
    /// The container's command exists but cannot be executed.
    CannotExecute,
    /// The container's command was not found.
    CommandNotFound,
}

impl ErrorKind {
    /// The exit status a command line reports for it (Docker and Podman).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Engine => EXIT_ENGINE,
            ErrorKind::CannotExecute => EXIT_NOT_EXECUTABLE,
            ErrorKind::CommandNotFound => EXIT_NOT_FOUND,
        }
    }

    /// The kind for an exit status reported by a container's setup.
    pub fn from_exit_code(code: i32) -> ErrorKind {
        match code {
            EXIT_NOT_EXECUTABLE => ErrorKind::CannotExecute,
            EXIT_NOT_FOUND => ErrorKind::CommandNotFound,
            _ => ErrorKind::Engine,
        }
    }
}

/// Exit status of an engine failure (Docker/Podman convention).
pub const EXIT_ENGINE: i32 = 125;
/// Exit status when the container's command cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// Exit status when the container's command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// A request the engine refuses before doing anything: the message names
/// the option and the fix.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Slirp(#[from] SlirpError),
    #[error(transparent)]
    Confine(#[from] ConfineError),
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    User(#[from] crate::runtime::user::UserError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Two options, or an option and the host, do not go together.
    #[error("{0}")]
    Conflict(String),
    /// One option's value is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A program the request needs is not installed.
    #[error("{0}")]
    Missing(String),
}

/// Everything the container API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Image(#[from] LookupError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Userns(#[from] UsernsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Paths(#[from] crate::paths::PathsError),
    #[error(transparent)]
    Confine(#[from] ConfineError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Change(#[from] crate::image::changes::ChangeError),
    #[error(transparent)]
    Pause(#[from] crate::runtime::lifecycle::PauseError),
    #[error(transparent)]
    Top(#[from] super::processes::TopError),
    #[error(transparent)]
    Build(#[from] super::build::BuildFailure),
    #[error(transparent)]
    Connect(#[from] super::network::ConnectError),
    #[error(transparent)]
    Copy(#[from] super::copy::CopyError),
    #[error(transparent)]
    Volume(#[from] crate::storage::volumes::VolumeError),
    /// The image was not found where the pull policy forbids pulling.
    #[error("{0}: image not known (pull it first with burrow pull {0}, or drop --pull=never)")]
    ImageNotKnown(String),
    #[error("pulling {image}: {message}")]
    Pull { image: String, message: String },
    /// What went wrong on the far side of a fork (the user namespace
    /// process, a container's monitor or its process), as it reported it.
    #[error("{message}")]
    Reported { kind: ErrorKind, message: String },
    /// Like `Reported`, with what the far side's helpers (pasta,
    /// fuse-overlayfs) wrote to stderr before it failed, to show first.
    #[error("{message}")]
    ReportedWithOutput {
        kind: ErrorKind,
        message: String,
        output: String,
    },
    /// A forked engine process ended without answering: killed, most
    /// likely (its status as a shell reports it, 128+N for signal N).
    #[error("the engine's process ended without an answer (exit status {code})")]
    Ended { code: i32 },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Reported { kind, .. } | EngineError::ReportedWithOutput { kind, .. } => {
                *kind
            }
            _ => ErrorKind::Engine,
        }
    }

    /// The exit status a command line reports for this error: a process
    /// that was killed reports its signal as a shell would.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Ended { code } if *code != 0 => *code,
            EngineError::Build(f) => f.run_status.unwrap_or(EXIT_ENGINE),
            _ => self.kind().exit_code(),
        }
    }

    /// The error as it crosses a process boundary: its kind and its
    /// message with every cause.
    pub fn report(&self) -> Reported {
        Reported {
            kind: self.kind(),
            message: chain_message(self),
            output: match self {
                EngineError::ReportedWithOutput { output, .. } => output.clone(),
                _ => String::new(),
            },
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> EngineError {
        EngineError::Io {
            what: what.into(),
            source,
        }
    }
}

/// `err` and its causes on one line, each cause once: many errors show
/// their cause in their own message and also return it as their source,
/// and a message that already holds a cause's text is not followed by it
/// again.
pub fn chain_message(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// An error as sent from a forked process to the one that forked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reported {
    pub kind: ErrorKind,
    pub message: String,
    /// What the far side's helpers wrote to stderr, shown before the
    /// message.
    #[serde(default)]
    pub output: String,
}

impl Reported {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Reported {
        Reported {
            kind,
            message: message.into(),
            output: String::new(),
        }
    }

    /// A container's run that failed: its exit code says the kind.
    pub fn of_run(e: &crate::runtime::RunError) -> Reported {
        Reported {
            kind: ErrorKind::from_exit_code(e.exit_code()),
            message: e.to_string(),
            output: match e {
                crate::runtime::RunError::Monitor { output, .. } => output.clone(),
                _ => String::new(),
            },
        }
    }
}

impl From<Reported> for EngineError {
    fn from(r: Reported) -> EngineError {
        if r.output.is_empty() {
            EngineError::Reported {
                kind: r.kind,
                message: r.message,
            }
        } else {
            EngineError::ReportedWithOutput {
                kind: r.kind,
                message: r.message,
                output: r.output,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_kind() {
        for code in [EXIT_ENGINE, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND] {
            assert_eq!(ErrorKind::from_exit_code(code).exit_code(), code);
        }
        assert_eq!(ErrorKind::from_exit_code(1), ErrorKind::Engine);
        let e = EngineError::from(RequestError::Invalid("bad".into()));
        assert_eq!((e.exit_code(), e.to_string()), (125, "bad".to_string()));
    }

    #[test]
    fn each_cause_is_shown_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot write blob: {0}")]
        struct Outer(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("pulling x: {0}")]
        struct Top(#[source] Outer);
        let enospc = std::io::Error::from_raw_os_error(28);
        let text = enospc.to_string();
        let e = Top(Outer(enospc));
        let message = chain_message(&e);
        assert_eq!(message.matches(&text).count(), 1, "{message}");
        assert_eq!(message, format!("pulling x: cannot write blob: {text}"));
    }

    #[test]
    fn a_report_keeps_every_cause_once() {
        let e = EngineError::io(
            "reading x",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.report().message, "reading x: gone");
        let back = EngineError::from(e.report());
        assert_eq!(back.to_string(), "reading x: gone");
        assert_eq!(back.exit_code(), 125);
    }
}
