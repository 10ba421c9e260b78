//! `burrow stop`, `burrow kill` and `burrow wait`.

use burrow::engine::{Engine, WaitCondition};
use burrow::runtime::ContainerRecord;
use clap::Args;

use super::EXIT_ENGINE;
use super::select::select;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS"
    )]
    pub time: Option<u64>,
    /// Stop every running container
    #[arg(short, long)]
    pub all: bool,
    /// Ignore containers that do not exist
    #[arg(short, long)]
    pub ignore: bool,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required_unless_present = "all")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGTERM, USR1, ...) or a number
    #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
    pub signal: String,
    /// Signal every running container
    #[arg(short, long)]
    pub all: bool,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required_unless_present = "all")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait until the container is in this state: configured, created, running, paused,
    /// stopped, exited, healthy or unhealthy (repeatable: any of them) [default: stopped]
    #[arg(long, value_name = "STATE")]
    pub condition: Vec<String>,
    /// Time between checks of the condition, a duration such as 250ms or 1s
    #[arg(short, long, value_name = "DURATION", default_value = "250ms")]
    pub interval: String,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

fn parse_signal(s: &str) -> anyhow::Result<i32> {
    Ok(burrow::runtime::lifecycle::parse_signal(s)?)
}

fn live(c: &ContainerRecord) -> bool {
    c.current_status().is_live()
}

pub fn stop(ctx: &Engine, args: &StopArgs) -> anyhow::Result<i32> {
    let containers = ctx.containers()?;
    let (targets, code) = select(
        &containers,
        &args.containers,
        args.all,
        args.ignore,
        live,
        EXIT_ENGINE,
    )?;
    for t in targets {
        ctx.stop(&containers, &t.record, args.time);
        println!("{}", t.shown);
    }
    Ok(code)
}

pub fn kill(ctx: &Engine, args: &KillArgs) -> anyhow::Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let containers = ctx.containers()?;
    let (targets, mut code) = select(
        &containers,
        &args.containers,
        args.all,
        false,
        live,
        EXIT_ENGINE,
    )?;
    for t in targets {
        // Unlike stop, kill leaves the restart policy in force (as Podman).
        match ctx.kill(&t.record, signal) {
            Ok(()) => println!("{}", t.shown),
            Err(e) => code = code.max(super::report(&e.into())),
        }
    }
    Ok(code)
}

pub fn wait(ctx: &Engine, args: &WaitArgs) -> anyhow::Result<i32> {
    let conditions = args
        .condition
        .iter()
        .map(|c| c.parse::<WaitCondition>())
        .collect::<Result<Vec<_>, _>>()?;
    let interval = burrow::runtime::health::config::parse_go_duration(&args.interval)
        .ok()
        .filter(|ns| *ns > 0)
        .map(std::time::Duration::from_nanos)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "invalid --interval {:?}: give a duration such as 250ms or 1s",
                args.interval
            )
        })?;
    let containers = ctx.containers()?;
    let (targets, code) = select(
        &containers,
        &args.containers,
        false,
        false,
        |_| true,
        EXIT_ENGINE,
    )?;
    for t in targets {
        let code = if conditions.iter().all(|c| *c == WaitCondition::Stopped) {
            ctx.wait(&containers, &t.record)
        } else {
            ctx.wait_for(&containers, &t.record, &conditions, interval)?
        };
        // -1, as Podman prints, when the end was never recorded or the
        // condition met was not an end.
        println!("{}", code.unwrap_or(-1));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("USR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert!(
            parse_signal("NOPE")
                .unwrap_err()
                .to_string()
                .contains("invalid signal")
        );
        assert!(parse_signal("64").is_err());
    }
}
