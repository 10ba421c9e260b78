//! `burrow rm`: remove containers.

use burrow::runtime::{ContainerError, ContainerRecord, ContainerStore};
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stop (kill) running containers first
    #[arg(short, long)]
    pub force: bool,
    /// Remove every container
    #[arg(short, long)]
    pub all: bool,
    /// Remove the containers' anonymous volumes too. burrow makes none yet (`-v` without a host
    /// path is refused at run), so there is nothing more to remove; accepted so that scripts
    /// written for Docker (`rm -fv`) work
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
    if args.all && !args.containers.is_empty() {
        anyhow::bail!("give container names or --all, not both");
    }
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let mut code = 0;
    let mut targets: Vec<ContainerRecord> = Vec::new();
    if args.all {
        targets = containers.list()?;
    } else {
        for q in &args.containers {
            match containers.find(q) {
                Ok(c) if !targets.iter().any(|t| t.id == c.id) => targets.push(c),
                Ok(_) => {}
                Err(e @ (ContainerError::NotFound(_) | ContainerError::Ambiguous { .. })) => {
                    eprintln!("Error: {e}");
                    code = code.max(EXIT_NO_SUCH);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let mut removable = Vec::new();
    for c in targets {
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
            match ctx.kill_for_removal(&containers, &c) {
                Ok(None) => {}
                Ok(Some(warning)) => eprintln!("WARN: {warning}"),
                Err(e) => {
                    eprintln!("Error: {e}");
                    code = code.max(super::EXIT_ENGINE);
                    continue;
                }
            }
        }
        removable.push(c.id);
    }
    if removable.is_empty() {
        return Ok(code);
    }
    // Upper directories hold files of subordinate ids: removed inside the
    // user namespace.
    for (id, result) in removable.iter().zip(ctx.remove(&containers, &removable)?) {
        match result {
            Ok(()) => println!("{id}"),
            Err(e) => {
                eprintln!("Error: removing container {id}: {e}");
                code = code.max(super::EXIT_ENGINE);
            }
        }
    }
    Ok(code)
}
