//! The leaf types of a container's record ([`super::ContainerRecord`]):
//! kept below the modules that act on them (exec, inspect, lifecycle), so
//! that the record names no module that names the record.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `--restart`: what the monitor does when the container's command exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max` times (0: no limit).
    OnFailure {
        max: u32,
    },
    Always,
    UnlessStopped,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid restart policy {0:?}: use no, on-failure[:MAX], always or unless-stopped")]
pub struct BadRestartPolicy(String);

impl FromStr for RestartPolicy {
    type Err = BadRestartPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadRestartPolicy(s.to_string());
        let (name, max) = match s.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (s, None),
        };
        match (name, max) {
            ("no" | "", None) => Ok(RestartPolicy::No),
            ("on-failure", None) => Ok(RestartPolicy::OnFailure { max: 0 }),
            ("on-failure", Some(m)) => m
                .parse()
                .map(|max| RestartPolicy::OnFailure { max })
                .map_err(|_| bad()),
            ("always", None) => Ok(RestartPolicy::Always),
            ("unless-stopped", None) => Ok(RestartPolicy::UnlessStopped),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::No => f.write_str("no"),
            RestartPolicy::OnFailure { max: 0 } => f.write_str("on-failure"),
            RestartPolicy::OnFailure { max } => write!(f, "on-failure:{max}"),
            RestartPolicy::Always => f.write_str("always"),
            RestartPolicy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl RestartPolicy {
    /// Docker's name for inspect's `HostConfig.RestartPolicy.Name`.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max } => *max,
            _ => 0,
        }
    }

    /// Whether an exit with `code` after `restarts` restarts is followed by
    /// another start. An exit the user asked for (`stop`, `kill`) never is.
    pub fn restarts(&self, code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::OnFailure { max } => code != 0 && (*max == 0 || restarts < *max),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        }
    }
}

/// What an exec inherits from the container's own process, kept in its
/// record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecContext {
    pub env: Vec<String>,
    pub cwd: String,
    /// `user[:group]` as the container was started with.
    pub user: String,
    /// The capability mask of the container's process.
    pub caps: u64,
    /// "default", "unconfined" or a profile's path.
    pub seccomp: String,
    pub privileged: bool,
    /// `--group-add`: the container's added groups, exec's too.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--ulimit`: the container's limits, exec's too (as Docker).
    #[serde(default)]
    pub ulimits: Vec<super::ulimit::Ulimit>,
}

impl ExecContext {
    /// What an exec in the container that `spec` describes inherits.
    pub fn of_spec(spec: &super::spec::ContainerSpec) -> ExecContext {
        ExecContext {
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            user: spec.user.clone(),
            caps: spec.confinement.caps,
            seccomp: spec.confinement.seccomp.clone(),
            privileged: spec.confinement.privileged,
            group_add: spec.group_add.clone(),
            ulimits: spec.ulimits.clone(),
        }
    }

    /// The container's confinement, rebuilt: the filter compiled again (or
    /// found in the cache under `seccomp_cache`) from the recorded mode, a
    /// profile read from its host path.
    pub fn confinement(
        &self,
        seccomp_cache: &std::path::Path,
    ) -> Result<super::spec::Confinement, crate::confine::ConfineError> {
        super::spec::ConfinementSpec {
            caps: self.caps,
            seccomp: self.seccomp.clone(),
            privileged: self.privileged,
        }
        .compile(seccomp_cache)
    }
}
