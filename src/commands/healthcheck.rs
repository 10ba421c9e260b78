//! `burrow healthcheck run`, and the `--health-*` options of `create` and
//! `run`.

use burrow::engine::{ContainerRequestBuilder, Engine, RequestError};
use clap::{Args, Subcommand};

/// The healthcheck options a new container takes (Docker's and Podman's).
#[derive(Debug, Args)]
pub struct HealthFlags {
    /// Healthcheck command, run in the container by its monitor: a command for /bin/sh -c, a
    /// JSON array (["CMD", "prog", "arg"]), or none to disable the image's
    #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
    pub health_cmd: Option<String>,
    /// Time between checks: a duration such as 30s, 1m30s or 500ms (0: the default, 30s;
    /// disable: only `burrow healthcheck run` checks)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_interval: Option<String>,
    /// Time a check may take before it is killed and counted as failed [default: 30s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_timeout: Option<String>,
    /// Failures in a row that make the container unhealthy [default: 3]
    #[arg(long, value_name = "N")]
    pub health_retries: Option<u32>,
    /// Time after the start during which failures are not counted (a success ends it)
    /// [default: 0s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period [default: 5s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_start_interval: Option<String>,
    /// No healthcheck, not even the image's
    #[arg(long)]
    pub no_healthcheck: bool,
    /// What happens when the container turns unhealthy: none, kill, restart (its monitor
    /// starts it again) or stop
    #[arg(long, value_name = "ACTION", default_value = "none")]
    pub health_on_failure: String,
}

impl HealthFlags {
    /// These options, given to the request builder.
    pub fn apply(
        &self,
        mut b: ContainerRequestBuilder,
    ) -> Result<ContainerRequestBuilder, RequestError> {
        if let Some(cmd) = &self.health_cmd {
            b = b.health_cmd(cmd)?;
        }
        for (flag, value) in [
            ("--health-interval", &self.health_interval),
            ("--health-timeout", &self.health_timeout),
            ("--health-start-period", &self.health_start_period),
            ("--health-start-interval", &self.health_start_interval),
        ] {
            if let Some(v) = value {
                b = b.health_duration(flag, v)?;
            }
        }
        b.health_retries(self.health_retries)
            .no_healthcheck(self.no_healthcheck)
            .health_on_failure(&self.health_on_failure)
    }
}

/// `burrow healthcheck`.
#[derive(Debug, Subcommand)]
pub enum HealthcheckCommand {
    /// Run a container's healthcheck now: exit 0 if it passed, 1 if it failed
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The container: name, ID or unique ID prefix
    pub container: String,
}

pub fn run(ctx: &Engine, cmd: &HealthcheckCommand) -> anyhow::Result<i32> {
    match cmd {
        HealthcheckCommand::Run(a) => {
            let containers = ctx.containers()?;
            let result = ctx.healthcheck_run(&containers, &a.container)?;
            if result.passed {
                Ok(0)
            } else {
                // As Podman: the status, and 1.
                println!("{}", result.status.as_str());
                Ok(1)
            }
        }
    }
}
