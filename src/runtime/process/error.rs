//! What can go wrong running a container, as values: [`RunError`] for the
//! caller of `run_container`/`run_detached`, [`ChildSetupError`] for a
//! process entering a container (the container's own, or exec's) before
//! its command runs. Both carry Docker's exit codes.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::confine::ConfineError;
use crate::ipc::ChannelError;

/// Exit codes of Docker and Podman: burrow failed, the command cannot be
/// executed, the command was not found.
pub const EXIT_ENGINE: i32 = 125;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why a container's command did not run (or its run was cut short).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `run -t` attaches to a monitor's hub; nothing relays a terminal of
    /// its own.
    #[error("a container with a terminal needs a monitor to hold it")]
    TtyWithoutMonitor,
    #[error("cannot prepare the container directory {}: {source}", dir.display())]
    Prepare { dir: PathBuf, source: io::Error },
    /// The root filesystem could not be made (copied or mounted).
    #[error(transparent)]
    Root(#[from] crate::runtime::root::RootError),
    #[error("cannot create {what}: {source}")]
    Resource {
        what: &'static str,
        source: io::Error,
    },
    #[error("cannot open the network namespace of container {id}: {source}")]
    OpenSharedNetwork { id: String, source: io::Error },
    #[error("container {0}, whose network this one shares, is not running")]
    SharedNetworkGone(String),
    #[error("cannot block signals: {0}")]
    Signals(Errno),
    #[error("cannot create the container's process and pid namespace: {0}")]
    Fork(Errno),
    #[error("cannot wait for the container process: {0}")]
    Wait(Errno),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The container process (or exec's) failed before its command ran,
    /// and said why: 125 for setup, 126/127 for the command itself.
    #[error("{message}")]
    Container { code: i32, message: String },
    #[error("cannot set up the container's log and attach socket in {}: {source}", dir.display())]
    Hub { dir: PathBuf, source: io::Error },
    #[error("cannot fork the monitor: {0}")]
    ForkMonitor(Errno),
    #[error("cannot open the container's {name} namespace: {source}")]
    OpenNamespace {
        name: &'static str,
        source: io::Error,
    },
    #[error("cannot join the container's {name} namespace: {source}")]
    JoinNamespace {
        name: &'static str,
        source: io::Error,
    },
    #[error("cannot become root in the container's user namespace: {0}")]
    BecomeRoot(io::Error),
    #[error("cannot fork: {0}")]
    ForkExec(Errno),
    /// exec gave up on a signal before its command ran, and killed its
    /// child.
    #[error("exec interrupted by {signal} before the command started")]
    ExecInterrupted { signal: String },
    /// exec's child died before its command ran, killed by `signal`
    /// (the container's end kills every process in it) or exiting.
    #[error("{}", exec_died_message(*.signal, *.code, *.container_running))]
    ExecDied {
        signal: Option<i32>,
        code: i32,
        container_running: bool,
    },
    /// A detached container's monitor failed to start it; `output` is
    /// what else it and its helpers wrote to stderr meanwhile.
    #[error("{message}")]
    Monitor {
        code: i32,
        message: String,
        output: String,
    },
}

fn exec_died_message(signal: Option<i32>, code: i32, container_running: bool) -> String {
    let how = match signal.map(Signal::try_from) {
        Some(Ok(s)) => format!("was killed by {s}"),
        Some(Err(_)) => format!("was killed by signal {}", signal.unwrap_or(0)),
        None => format!("exited with code {code}"),
    };
    let why = if container_running {
        ""
    } else {
        " (the container stopped)"
    };
    format!("the exec'd process {how} before its command started{why}")
}

impl RunError {
    /// The exit code burrow reports, as Docker: 126 and 127 when the
    /// command cannot be executed or found, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Container { code, .. } | RunError::Monitor { code, .. } => *code,
            _ => EXIT_ENGINE,
        }
    }

    /// Whether burrow itself failed (125), rather than the command
    /// (126/127), which Docker reports as a remark about the command.
    pub fn is_engine_failure(&self) -> bool {
        self.exit_code() == EXIT_ENGINE
    }
}

/// Why a process entering a container failed before its exec. Sent to
/// the parent as its report; the process exits with [`Self::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum ChildSetupError {
    #[error("cannot set the parent-death signal")]
    ParentDeathSignal(#[source] io::Error),
    #[error("cannot create the container's namespaces: {0}")]
    Namespaces(io::Error),
    #[error("cannot join the other container's network namespace: {0}")]
    JoinNetwork(io::Error),
    #[error(transparent)]
    Plan(#[from] super::super::plan::SetupError),
    /// The monitor could not connect the network; its reason.
    #[error("{0}")]
    Network(String),
    #[error("cannot read {path} in the container: {source}")]
    AccountFile {
        path: &'static str,
        source: crate::runtime::sys::FileReadError,
    },
    #[error(transparent)]
    User(#[from] super::super::user::UserError),
    #[error("cannot enter the working directory {dir}: {source}")]
    WorkDir { dir: String, source: io::Error },
    #[error("no command to run")]
    NoCommand,
    /// The command is not in the container's PATH, or not executable.
    #[error("{message}")]
    Program { code: i32, message: String },
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    /// The terminal or the standard streams could not be connected.
    #[error("{0}")]
    Stdio(String),
    #[error("close_range: {0}")]
    CloseRange(io::Error),
    #[error("cannot set supplementary groups {groups:?}: {source}")]
    Groups { groups: Vec<u32>, source: io::Error },
    #[error("cannot switch to group {gid}: {source}")]
    Group { gid: u32, source: io::Error },
    #[error("cannot keep capabilities: {0}")]
    KeepCaps(io::Error),
    #[error("cannot switch to user {uid}: {source}")]
    SwitchUser { uid: u32, source: io::Error },
    #[error("cannot raise capabilities: {0}")]
    RaiseCaps(io::Error),
    #[error("cannot set --ulimit {ulimit}: {source}")]
    Ulimit { ulimit: String, source: io::Error },
    #[error(transparent)]
    Confine(#[from] ConfineError),
    /// `--init` could not fork the command.
    #[error("{0}")]
    Init(String),
    #[error("{program:?}: {}", errno.desc().to_lowercase())]
    Exec { program: String, errno: Errno },
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

impl ChildSetupError {
    /// 127 for a command not found, 126 for one that cannot be executed,
    /// 125 for everything burrow failed at.
    pub fn exit_code(&self) -> i32 {
        match self {
            ChildSetupError::Program { code, .. } => *code,
            ChildSetupError::Exec {
                errno: Errno::ENOENT,
                ..
            } => EXIT_NOT_FOUND,
            ChildSetupError::Exec { .. } => EXIT_NOT_EXECUTABLE,
            _ => EXIT_ENGINE,
        }
    }
}
