//! `burrow rename`.

use burrow::runtime::ContainerStore;
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Its new name
    #[arg(value_name = "NAME")]
    pub name: String,
}

pub fn run(ctx: &Engine, args: &RenameArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let c = containers.find(&args.container)?;
    ctx.rename(&containers, &c, &args.name)?;
    Ok(0)
}
