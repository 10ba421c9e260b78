//! `burrow container prune`: remove every stopped container.

use burrow::engine::Pruned;
use burrow::runtime::ContainerStore;
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
    let containers = ContainerStore::open(ctx.store()?.root())?;
    let mut code = 0;
    for pruned in ctx.prune_containers(&containers)? {
        match pruned {
            Pruned::Removed(id) => println!("{id}"),
            Pruned::Kept(_) => {}
            Pruned::Failed(e) => {
                eprintln!("Error: {}", e.message);
                code = super::EXIT_ENGINE;
            }
        }
    }
    Ok(code)
}
