//! `burrow start` and `burrow restart`.

use burrow::engine::{AttachOptions, ContainerFilter, Engine};
use burrow::runtime::attach::parse_detach_keys;
use clap::Args;

use super::EXIT_ENGINE;
use super::select::{Target, select};

#[derive(Debug, Args)]
#[command(
    after_help = "A started container runs in the background under a monitor of its own, \
                  as with `run -d`; `burrow logs` shows its output."
)]
pub struct StartArgs {
    /// Attach to the container's output (and its exit code) until it exits
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's stdin too (implies --attach)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Keys that detach from a container with a terminal and leave it running
    /// (ctrl-<letter>, comma-separated; "" for none)
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Pass signals burrow receives on to the attached container
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Start every container that is not running
    #[arg(long)]
    pub all: bool,
    /// With --all, only the containers that pass: KEY=VALUE as `ps --filter` takes
    #[arg(short, long, value_name = "KEY=VALUE", requires = "all")]
    pub filter: Vec<String>,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required_unless_present = "all")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS"
    )]
    pub time: Option<u64>,
    /// Restart every container
    #[arg(short, long)]
    pub all: bool,
    /// With --all, only the running ones
    #[arg(long, requires = "all")]
    pub running: bool,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required_unless_present = "all")]
    pub containers: Vec<String>,
}

pub fn start(ctx: &Engine, args: &StartArgs) -> anyhow::Result<i32> {
    let detach_keys = parse_detach_keys(&args.detach_keys)?;
    let containers = ctx.containers()?;
    if args.attach || args.interactive {
        let ([q], false) = (args.containers.as_slice(), args.all) else {
            anyhow::bail!("--attach and --interactive take one container: start the others apart");
        };
        let attach = AttachOptions {
            stdin: args.interactive,
            detach_keys,
            sig_proxy: args.sig_proxy,
        };
        return Ok(ctx
            .start_existing(&containers, q, Some(attach))?
            .exit_code());
    }
    let filters = args
        .filter
        .iter()
        .map(|f| f.parse::<ContainerFilter>())
        .collect::<Result<Vec<_>, _>>()?;
    let (targets, code) = select(
        &containers,
        &args.containers,
        args.all,
        false,
        |c| {
            let status = c.current_status();
            !status.is_live() && filters.iter().all(|f| f.matches(c, status))
        },
        EXIT_ENGINE,
    )?;
    Ok(code.max(each(&targets, |t| {
        Ok(ctx
            .start_existing(&containers, &t.record.id, None)?
            .exit_code())
    })))
}

/// Do `one` for each container, printing its name when it worked (exit
/// 0), its error when not; the worst exit code.
fn each(targets: &[Target], mut one: impl FnMut(&Target) -> anyhow::Result<i32>) -> i32 {
    let mut code = 0;
    for t in targets {
        match one(t) {
            Ok(0) => println!("{}", t.shown),
            Ok(c) => code = code.max(c),
            // Whatever kept it from starting is the engine's failure for
            // `start` (Podman's 125), a missing command included.
            Err(e) => {
                super::report(&e);
                code = code.max(EXIT_ENGINE);
            }
        }
    }
    code
}

pub fn restart(ctx: &Engine, args: &RestartArgs) -> anyhow::Result<i32> {
    let containers = ctx.containers()?;
    let running = args.running;
    let (targets, code) = select(
        &containers,
        &args.containers,
        args.all,
        false,
        |c| !running || c.current_status().is_live(),
        EXIT_ENGINE,
    )?;
    Ok(code.max(each(&targets, |t| {
        Ok(ctx.restart(&containers, &t.record, args.time)?.exit_code())
    })))
}
