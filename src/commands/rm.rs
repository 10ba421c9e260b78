//! `burrow rm`: remove containers.

use std::time::{Duration, Instant};

use burrow::runtime::{ContainerError, ContainerRecord, ContainerStore};
use clap::Args;

use super::Ctx;

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

pub fn run(ctx: &Ctx, args: &RmArgs) -> anyhow::Result<i32> {
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
            if let Err(e) = kill_and_wait(&c) {
                eprintln!("Error: {e}");
                code = code.max(super::EXIT_ENGINE);
                continue;
            }
            // Its killed monitor could not take its name off the other
            // members' /etc/hosts.
            if !c.networks.is_empty() {
                let members =
                    burrow::runtime::members::Members::of_container(&containers.dir_of(&c.id));
                if let Err(e) = members.leave(&c.id) {
                    eprintln!(
                        "WARN: updating the /etc/hosts of container {}'s network members: {e}",
                        c.name
                    );
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
    let removed = ctx.in_userns(|_| {
        let mut failed = 0;
        for id in &removable {
            match containers.remove(id) {
                Ok(()) => println!("{id}"),
                Err(e) => {
                    eprintln!("Error: removing container {id}: {e}");
                    failed = super::EXIT_ENGINE;
                }
            }
        }
        failed
    })?;
    Ok(code.max(removed))
}

/// Kill a running container's monitor (the container dies with it: its
/// processes have the monitor as parent-death signal source) and wait
/// until it is gone.
fn kill_and_wait(c: &ContainerRecord) -> anyhow::Result<()> {
    let Some(m) = c.monitor.as_ref().filter(|m| m.alive()) else {
        return Ok(());
    };
    // SAFETY: kill(2) of a process whose identity was just checked.
    if unsafe { libc::kill(m.pid, libc::SIGKILL) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            anyhow::bail!("cannot kill container {}: {err}", c.name);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.alive() {
        if Instant::now() > deadline {
            anyhow::bail!(
                "container {} did not stop within 10 seconds of SIGKILL",
                c.name
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
