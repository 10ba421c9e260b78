//! `burrow container prune`: remove every stopped container.

use burrow::runtime::{ContainerStore, Status};
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Engine, args: &PruneArgs) -> anyhow::Result<i32> {
    if !args.force && !super::confirm("This will remove all stopped containers.")? {
        return Ok(0);
    }
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let stopped: Vec<String> = containers
        .list()?
        .into_iter()
        .filter(|c| matches!(c.current_status(), Status::Exited | Status::Created))
        .map(|c| c.id)
        .collect();
    if stopped.is_empty() {
        return Ok(0);
    }
    // Upper directories hold files of subordinate ids.
    let code = ctx.in_userns(|_| {
        let mut code = 0;
        for id in &stopped {
            // Started meanwhile? Then it stays.
            let still_stopped =
                |c: &burrow::runtime::ContainerRecord| !c.current_status().is_live();
            match containers.remove_if(id, still_stopped) {
                Ok(true) => println!("{id}"),
                Ok(false) => {}
                Err(e) => {
                    eprintln!("Error: removing container {id}: {e}");
                    code = super::EXIT_ENGINE;
                }
            }
        }
        code
    })?;
    Ok(code)
}
