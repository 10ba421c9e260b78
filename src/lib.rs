//! burrow: a rootless, daemonless container engine.
//!
//! This library is the engine. It knows nothing of the command line: the
//! `burrow` binary (`src/main.rs`, `src/commands`) parses arguments, calls into
//! these modules and presents the results.

pub mod build;
pub mod config;
pub mod confine;
pub mod digest;
pub mod engine;
pub mod events;
pub mod ids;
pub mod image;
pub mod ipc;
pub mod netns;
pub mod paths;
pub mod reference;
pub mod registry;
pub mod runtime;
pub mod storage;
pub mod system;
pub mod userns;
