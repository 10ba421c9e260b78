//! Confinement applied by a container's init process just before `execve`.
//!
//! The user namespace already keeps the container from touching what the
//! invoking user cannot; these pieces narrow what is reachable *inside* it:
//!
//! - Capabilities ([`caps`]): root in the container holds every capability
//!   over its own namespaces by default. Dropping to Podman's default set
//!   keeps the container's root from administering namespaces (mounts,
//!   new user namespaces, network configuration) unless asked for.
//! - no_new_privs + seccomp ([`seccomp`]): defense in depth against kernel
//!   bugs reachable from inside a user namespace. Most of the kernel's
//!   attack surface (keyrings, bpf, new namespaces, module loading, ...) is
//!   cut off by an allowlist, as Docker and Podman do.
//!
//! Order for the runtime: [`caps::resolve`] and [`seccomp::prepare`] on the
//! host side (a profile path is a host path; errors reach the user before
//! anything starts), then in the container's init, after pivot_root and as
//! the last steps before execve: [`caps::apply`], then [`seccomp::install`].
//! Capabilities go first because shrinking the bounding set uses prctl and
//! capset, which the default filter allows but a custom profile may not.

pub mod caps;
pub mod seccomp;

#[cfg(test)]
mod testutil;

pub use self::caps::{CapSet, CapabilityOptions, DEFAULT_CAPABILITIES, apply, resolve};
pub use self::seccomp::{
    Filter, SeccompMode, SecurityOpt, default_filter, from_docker_json, install,
    parse_security_opt, prepare, prepare_cached, set_no_new_privs,
};

/// Errors from resolving and applying confinement.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("unknown capability {0:?}: see capabilities(7) for names")]
    UnknownCapability(String),
    #[error("cannot read the capabilities the kernel supports: {0}")]
    KernelCapabilities(String),
    #[error("cannot {action} capabilities: {reason}")]
    ApplyCapabilities {
        action: &'static str,
        reason: String,
    },
    #[error(
        "seccomp filters are not supported on architecture {0}: run with --security-opt seccomp=unconfined"
    )]
    UnsupportedArch(String),
    #[error("malformed seccomp profile at line {line} column {column}: {reason}")]
    ProfileSyntax {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("cannot read seccomp profile {}: {reason}", path.display())]
    ProfileRead {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("malformed seccomp profile {} at line {line} column {column}: {reason}", path.display())]
    ProfileFileSyntax {
        path: std::path::PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("invalid seccomp profile: {0}")]
    Profile(String),
    #[error("cannot compile the seccomp filter: {0}")]
    Compile(String),
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(std::io::Error),
    #[error("cannot install the seccomp filter: {0}")]
    Install(String),
    #[error(
        "unsupported --security-opt {0:?}: supported are seccomp=unconfined, seccomp=PROFILE.json and no-new-privileges"
    )]
    SecurityOpt(String),
    /// An unprivileged process may install a seccomp filter only with
    /// no_new_privs set, and every container gets one.
    #[error(
        "--security-opt no-new-privileges=false cannot be honoured: burrow sets no_new_privs on every container (an unprivileged seccomp filter needs it); drop the option"
    )]
    NoNewPrivsFalse,
}
