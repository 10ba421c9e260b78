//! The process model of `run`, inside burrow's user namespace:
//!
//! ```text
//! burrow (host) ── run_in_userns ──► monitor (root in the user ns)
//!                                      │ clone(NEWPID)
//!                                      ▼
//!                                    container (pid 1): unshare(mnt, uts,
//!                                    ipc, net, cgroup); apply the plan; exec
//! ```
//!
//! The monitor stays in the original mount namespace, so once the container
//! is gone its mounts are too and the monitor can remove its directory.
//! Monitor and container process talk over a typed channel
//! (`protocol`); errors before exec come back over it, and its end
//! (close-on-exec) means the exec succeeded.
//!
//! - [`monitor`]: [`run_container`], and [`run_detached`]'s monitor with
//!   its restart loop;
//! - `pidns`: the monitor's side of one run: the fork into a new pid
//!   namespace, signal relay, network connection, reaping;
//! - `child`: the container process from the fork to execve;
//! - `launch`: the last steps it shares with `exec` (user, working
//!   directory, program, confinement, execve);
//! - `terminal_pipes`: pipes in place of the user's terminal without
//!   `-t`, and the copy between them;
//! - `etc_files`: the container's hostname, hosts and resolv.conf;
//! - `protocol`, [`error`]: the messages and the errors.

pub(crate) mod child;
pub mod error;
pub(crate) mod etc_files;
pub(crate) mod launch;
pub mod monitor;
pub(crate) mod pidns;
pub(crate) mod protocol;
pub(crate) mod terminal_pipes;

/// Moved to [`crate::runtime::root`]; kept here for existing callers.
pub use crate::runtime::root::{mount_root_privately, private_mount_namespace};
pub use error::{ChildSetupError, EXIT_ENGINE, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, RunError};
pub use monitor::{MonitorHooks, run_container, run_detached};
pub use pidns::{container_pid, signal_container};
