//! `burrow rm`: remove containers.

use burrow::engine::Engine;
use clap::Args;

use super::select::{Target, select};

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop (kill) running containers first
    #[arg(short, long)]
    pub force: bool,
    /// Remove every container
    #[arg(short, long)]
    pub all: bool,
    /// Ignore containers that do not exist
    #[arg(short, long)]
    pub ignore: bool,
    /// With --force: stop running containers with their stop signal and wait this many seconds
    /// before SIGKILL [default: SIGKILL at once, as Docker's rm -f]
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u64>,
    /// Remove the containers' anonymous volumes too (those of `-v /path` and of the image's
    /// VOLUMEs) unless another container uses them; named volumes stay
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required_unless_present = "all")]
    pub containers: Vec<String>,
}

/// Podman's exit codes for `rm`.
const EXIT_NO_SUCH: i32 = 1;
const EXIT_RUNNING: i32 = 2;

pub fn run(ctx: &Engine, args: &RmArgs) -> anyhow::Result<i32> {
    let containers = ctx.containers()?;
    let (targets, mut code) = select(
        &containers,
        &args.containers,
        args.all,
        args.ignore,
        |_| true,
        EXIT_NO_SUCH,
    )?;
    let mut removable: Vec<Target> = Vec::new();
    for t in targets {
        let c = &t.record;
        if c.current_status().is_live() {
            if !args.force {
                eprintln!(
                    "Error: cannot remove container {} ({}): it is running; stop it first or use burrow rm -f",
                    c.name,
                    &c.id[..12]
                );
                code = code.max(EXIT_RUNNING);
                continue;
            }
            if args.time.is_some() {
                ctx.stop(&containers, c, args.time);
            }
            match ctx.kill_for_removal(&containers, c) {
                Ok(None) => {}
                Ok(Some(warning)) => eprintln!("WARN: {warning}"),
                Err(e) => {
                    eprintln!("Error: {e}");
                    code = code.max(super::EXIT_ENGINE);
                    continue;
                }
            }
        }
        removable.push(t);
    }
    if removable.is_empty() {
        return Ok(code);
    }
    // Upper directories hold files of subordinate ids: removed inside the
    // user namespace.
    let ids: Vec<String> = removable.iter().map(|t| t.record.id.clone()).collect();
    for (t, result) in
        removable
            .iter()
            .zip(ctx.remove_with_volumes(&containers, &ids, args.volumes)?)
    {
        match result {
            Ok(()) => println!("{}", t.shown),
            Err(e) => {
                eprintln!("Error: removing container {}: {e}", t.shown);
                code = code.max(super::EXIT_ENGINE);
            }
        }
    }
    Ok(code)
}
