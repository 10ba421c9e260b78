//! The container runtime: turns an image and the run options into a
//! [`ContainerSpec`], the spec into a setup plan ([`plan::SetupOp`]s), and
//! applies the plan in fresh namespaces before executing the command.
//!
//! Everything here runs inside burrow's user namespace (see
//! [`crate::userns::run_in_userns`]); the binary only parses options.
//!
//! - What a container is: [`spec`] (how to run it), [`container`] (its
//!   record and the store of records), [`types`] (the record's leaf types),
//!   [`mounts`], [`user`].
//! - Making it: [`rootfs`] (storage drivers' tools), [`root`] (its root
//!   before its namespaces), [`plan`] (the setup as data), [`sys`] (the
//!   system calls behind a trait).
//! - Running it: [`process`] (monitor, container process, restart loop),
//!   [`init`] (`--init`), [`exec`], [`lifecycle`] (restart policies,
//!   record keeping).
//! - Talking to it: [`hub`] (the monitor's log and attach socket),
//!   [`attach`], [`relay`], [`tty`], [`logs`].
//! - Looking at it and what it changed: [`inspect`], [`procs`], [`diff`],
//!   [`copy`], [`layer_tar`].

pub mod attach;
pub mod container;
pub mod copy;
pub mod diff;
pub mod exec;
pub mod health;
pub mod hub;
pub mod init;
pub mod inspect;
pub mod layer_tar;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod plan;
pub mod process;
pub mod procs;
pub mod relay;
pub mod root;
pub mod rootfs;
pub mod spec;
pub mod sys;
#[cfg(test)]
pub(crate) mod testing;
pub mod tty;
pub mod types;
pub mod ulimit;
pub mod usage;
pub mod user;
pub mod volume_copy;
pub mod volume_use;

/// Moved to [`crate::netns::members`]; kept here for existing callers.
pub use crate::netns::members;
pub use container::{ContainerError, ContainerRecord, ContainerStore, Status};
pub use process::{MonitorHooks, RunError, run_container, run_detached};
pub use spec::{ContainerSpec, ImageConfig, NetworkMode, RunOptions, SpecError};
