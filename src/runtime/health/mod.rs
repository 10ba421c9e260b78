//! Healthchecks without a daemon: the container's monitor runs them.
//!
//! - [`config`]: the check as configured (image `Healthcheck`, `--health-*`).
//! - this module: the state kept in the container's record
//!   (`State.Health` in Docker's shape) and Docker's rules for it.
//! - [`probe`]: one check, an exec into the container with a timeout.
//! - [`checker`]: the monitor's helper process that runs the checks on
//!   schedule and acts on an unhealthy container.

pub mod checker;
pub mod config;
pub mod probe;

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use config::{HealthConfig, HealthOptions, OnFailure};

use super::container::{ContainerError, ContainerRecord, ContainerStore};

/// Docker keeps this many results.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Docker keeps this much of a check's output.
pub const MAX_OUTPUT: usize = 4096;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// As `ps` shows it after "Up ...": `(health: starting)`, `(healthy)`.
    pub fn ps_text(self) -> &'static str {
        match self {
            HealthStatus::Starting => "health: starting",
            s => s.as_str(),
        }
    }
}

/// One check's result, as Docker logs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthLogEntry {
    #[serde(rename = "Start")]
    pub start: DateTime<Utc>,
    #[serde(rename = "End")]
    pub end: DateTime<Utc>,
    /// 0 healthy; anything else a failure (-1: it timed out or could not
    /// run, as Docker records it).
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Output")]
    pub output: String,
}

/// A container's health: `State.Health` of `inspect`, kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    #[serde(rename = "Status")]
    pub status: HealthStatus,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: u32,
    #[serde(rename = "Log")]
    pub log: VecDeque<HealthLogEntry>,
    /// `--health-on-failure=restart` killed the container: its monitor
    /// starts it again whatever its restart policy (burrow's own field).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart_pending: bool,
}

/// What one result changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: HealthStatus,
    pub to: HealthStatus,
}

impl Health {
    /// At each start of the container: starting again, no failures
    /// counted; the log stays (as Docker keeps it).
    pub fn restarted(previous: Option<Health>) -> Health {
        let log = previous.map(|h| h.log).unwrap_or_default();
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log,
            restart_pending: false,
        }
    }

    /// Record `entry` by Docker's rules: a success makes it healthy (and
    /// ends the start period); a failure while starting within the start
    /// period is logged but not counted; `retries` counted failures in a
    /// row make it unhealthy. `since_start` is how long after the
    /// container's start the check began.
    pub fn record(
        &mut self,
        entry: HealthLogEntry,
        cfg: &HealthConfig,
        since_start: Duration,
    ) -> Transition {
        let from = self.status;
        if entry.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let in_start_period =
                self.status == HealthStatus::Starting && since_start < cfg.start_period();
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= cfg.retries() {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        self.log.push_back(entry);
        while self.log.len() > MAX_LOG_ENTRIES {
            self.log.pop_front();
        }
        Transition {
            from,
            to: self.status,
        }
    }

    /// `State.Health` as `docker inspect` shows it.
    pub fn docker_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Status": self.status.as_str(),
            "FailingStreak": self.failing_streak,
            "Log": self.log,
        })
    }
}

/// A container's health now: None without a check (or before its first
/// start); unhealthy once it no longer runs, as Docker reports a
/// container whose checks stopped.
pub fn current_status(rec: &ContainerRecord) -> Option<HealthStatus> {
    let h = rec.health.as_ref()?;
    Some(if rec.current_status().is_live() {
        h.status
    } else {
        HealthStatus::Unhealthy
    })
}

/// `State.Health` of `inspect` (null without a check).
pub fn inspect_state(rec: &ContainerRecord) -> serde_json::Value {
    match (&rec.health, current_status(rec)) {
        (Some(h), Some(status)) => {
            let mut v = h.docker_json();
            v["Status"] = status.as_str().into();
            v
        }
        _ => serde_json::Value::Null,
    }
}

/// Record `entry` in container `id`'s record, under the store's lock;
/// the record after, and the change. The start period counts from the
/// record's start time.
pub fn save_result(
    store: &ContainerStore,
    id: &str,
    cfg: &HealthConfig,
    entry: HealthLogEntry,
) -> Result<(ContainerRecord, Transition), ContainerError> {
    let mut transition = None;
    let rec = store.modify(id, |r| {
        let since_start = r
            .started
            .and_then(|s| (entry.start - s).to_std().ok())
            .unwrap_or_default();
        let health = r.health.get_or_insert_with(|| Health::restarted(None));
        // Where health_status events belong: `transition` is each
        // result's change of status (from == to when unchanged).
        transition = Some(health.record(entry, cfg, since_start));
    })?;
    let t = transition.unwrap_or(Transition {
        from: HealthStatus::Starting,
        to: HealthStatus::Starting,
    });
    Ok((rec, t))
}

/// Keep the first [`MAX_OUTPUT`] bytes of a check's output, as text.
pub fn output_text(bytes: &[u8]) -> String {
    let kept = &bytes[..bytes.len().min(MAX_OUTPUT)];
    String::from_utf8_lossy(kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: i32) -> HealthLogEntry {
        HealthLogEntry {
            start: Utc::now(),
            end: Utc::now(),
            exit_code: code,
            output: String::new(),
        }
    }

    fn cfg(retries: u32, start_period_s: u64) -> HealthConfig {
        HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            retries,
            start_period: start_period_s * 1_000_000_000,
            ..HealthConfig::default()
        }
    }

    #[test]
    fn docker_rules() {
        let c = cfg(2, 0);
        let mut h = Health::restarted(None);
        assert_eq!(h.status, HealthStatus::Starting);
        let t = h.record(entry(1), &c, Duration::from_secs(1));
        assert_eq!(
            (t.from, t.to, h.failing_streak),
            (HealthStatus::Starting, HealthStatus::Starting, 1)
        );
        let t = h.record(entry(2), &c, Duration::from_secs(2));
        assert_eq!((t.to, h.failing_streak), (HealthStatus::Unhealthy, 2));
        let t = h.record(entry(0), &c, Duration::from_secs(3));
        assert_eq!(
            (t.from, t.to, h.failing_streak),
            (HealthStatus::Unhealthy, HealthStatus::Healthy, 0)
        );
        for _ in 0..10 {
            h.record(entry(1), &c, Duration::from_secs(4));
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        let again = Health::restarted(Some(h));
        assert_eq!(
            (again.status, again.failing_streak, again.log.len()),
            (HealthStatus::Starting, 0, 5)
        );
    }

    #[test]
    fn start_period_failures_do_not_count() {
        let c = cfg(1, 60);
        let mut h = Health::restarted(None);
        for s in 0..5 {
            h.record(entry(1), &c, Duration::from_secs(s));
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        // After the period they count.
        h.record(entry(1), &c, Duration::from_secs(61));
        assert_eq!(h.status, HealthStatus::Unhealthy);
        // A success ends the start period early.
        let mut h = Health::restarted(None);
        h.record(entry(0), &c, Duration::from_secs(1));
        h.record(entry(1), &c, Duration::from_secs(2));
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn output_is_cut() {
        assert_eq!(output_text(&[b'a'; 5000]).len(), MAX_OUTPUT);
    }
}
