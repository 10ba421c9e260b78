//! `burrow tag`

use burrow::image::find_image;
use burrow::reference::tag_name;
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to name (name, ID or ID prefix)
    pub image: String,
    /// New names, NAME[:TAG]
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Engine, args: &TagArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let image = find_image(&store, &args.image)?;
    let names = args
        .names
        .iter()
        .map(|n| tag_name(n))
        .collect::<Result<Vec<_>, _>>()?;
    store.set_names(&image.id, &names, &[])?;
    Ok(0)
}
