//! `burrow tag`

use burrow::image::find_image;
use burrow::reference::Reference;
use clap::Args;

use super::Ctx;

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to name (name, ID or ID prefix)
    pub image: String,
    /// New names, NAME[:TAG]
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &TagArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let image = find_image(&store, &args.image)?;
    let mut names = Vec::new();
    for n in &args.names {
        let r = Reference::parse(n)?;
        if r.digest.is_some() {
            anyhow::bail!("{n}: a tag cannot contain a digest; use NAME[:TAG]");
        }
        names.push(r.to_string());
    }
    store.set_names(&image.id, &names, &[])?;
    Ok(0)
}
