//! Healthchecks from the front end's side: `healthcheck run` (one check
//! now, recorded as a scheduled one is), and waiting for a container's
//! state or health (`wait --condition`).

use std::time::Duration;

use super::Engine;
use super::error::{EngineError, RequestError};
use crate::runtime::exec::ExecContext;
use crate::runtime::health::checker::act_on_failure;
use crate::runtime::health::probe::{self, Target};
use crate::runtime::health::{self, HealthStatus};
use crate::runtime::{ContainerError, ContainerRecord, ContainerStore, Status};

/// What one `healthcheck run` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckRun {
    /// The check passed (exit 0).
    pub passed: bool,
    /// The container's health after it.
    pub status: HealthStatus,
}

/// A state `wait --condition` waits for (Podman's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// `configured`, `created`.
    Created,
    Running,
    Paused,
    /// `stopped`, `exited`: not running (the default).
    Stopped,
    Healthy,
    Unhealthy,
}

impl std::str::FromStr for WaitCondition {
    type Err = RequestError;

    fn from_str(s: &str) -> Result<WaitCondition, RequestError> {
        Ok(match s {
            "configured" | "created" => WaitCondition::Created,
            "running" => WaitCondition::Running,
            "paused" => WaitCondition::Paused,
            "stopped" | "exited" => WaitCondition::Stopped,
            "healthy" => WaitCondition::Healthy,
            "unhealthy" => WaitCondition::Unhealthy,
            _ => {
                return Err(RequestError::Invalid(format!(
                    "invalid --condition {s:?}: use configured, created, running, paused, stopped, exited, healthy or unhealthy"
                )));
            }
        })
    }
}

impl WaitCondition {
    /// Whether container `c` is in this state now.
    pub fn holds(self, c: &ContainerRecord) -> bool {
        let status = c.current_status();
        match self {
            WaitCondition::Created => status == Status::Created,
            WaitCondition::Running => status == Status::Running,
            WaitCondition::Paused => status == Status::Paused,
            WaitCondition::Stopped => !status.is_live(),
            WaitCondition::Healthy => health::current_status(c) == Some(HealthStatus::Healthy),
            WaitCondition::Unhealthy => health::current_status(c) == Some(HealthStatus::Unhealthy),
        }
    }
}

impl Engine {
    /// Run container `query`'s healthcheck once, now, and record it as a
    /// scheduled check is recorded (with its `--health-on-failure`
    /// action).
    pub fn healthcheck_run(
        &self,
        containers: &ContainerStore,
        query: &str,
    ) -> Result<CheckRun, EngineError> {
        let c = containers.find(query)?;
        let spec = containers.load_spec(&c.id)?;
        let refused = |m: String| EngineError::from(ContainerError::Refused(m));
        let Some(cfg) = spec.health.as_ref() else {
            // Podman's words.
            return Err(refused(format!(
                "container {} has no defined healthcheck: give one with --health-cmd when you create it, or a HEALTHCHECK in its image",
                c.name
            )));
        };
        let (Status::Running, Some(pid)) = (c.current_status(), c.pid) else {
            return Err(refused(format!(
                "container {} is not running: start it, then run its healthcheck",
                c.name
            )));
        };
        let exec = ExecContext::of_spec(&spec);
        let filter = exec
            .confinement(&self.paths.runroot.join("seccomp"))?
            .seccomp;
        let target = Target {
            pid,
            exec: &exec,
            filter: filter.as_ref(),
        };
        let entry = probe::run(&target, cfg);
        let passed = entry.exit_code == 0;
        let (rec, transition) = health::save_result(containers, &c.id, cfg, entry)?;
        if transition.from != transition.to {
            self.emit(&crate::events::Event::container_health_status(
                &(&rec).into(),
                transition.to.as_str(),
            ));
        }
        let status = rec
            .health
            .as_ref()
            .map_or(HealthStatus::Starting, |h| h.status);
        if !passed && status == HealthStatus::Unhealthy {
            act_on_failure(containers, &rec, cfg.on_failure);
        }
        Ok(CheckRun { passed, status })
    }

    /// Wait until container `c` meets one of `conditions` (checked every
    /// `interval`); its exit code when it met one by ending, else None.
    /// `ContainerError::Gone` if it is removed meanwhile.
    pub fn wait_for(
        &self,
        containers: &ContainerStore,
        c: &ContainerRecord,
        conditions: &[WaitCondition],
        interval: Duration,
    ) -> Result<Option<i32>, EngineError> {
        loop {
            let now = containers.get(&c.id)?;
            if let Some(met) = conditions.iter().find(|k| k.holds(&now)) {
                return Ok(match met {
                    WaitCondition::Stopped => now.exit_code,
                    _ => None,
                });
            }
            std::thread::sleep(interval);
        }
    }
}
