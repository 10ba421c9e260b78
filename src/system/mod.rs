//! Host checks (`burrow system check`) and host facts (`burrow info`).

pub mod cgroup;
pub mod check;
pub mod info;
pub mod overlay;

pub use check::{Check, CheckStatus, run_checks};
pub use info::{HostInfo, host_info, host_info_with_overlay};
pub use overlay::probe_overlay;
