//! `burrow tag`

use burrow::events::{Event, ImageAction};
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
    for n in &names {
        ctx.emit(&Event::image(ImageAction::Tag, &image.id.to_string(), n));
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct UntagArgs {
    /// The image (name, ID or ID prefix)
    pub image: String,
    /// Names to remove, NAME[:TAG] [default: every name of the image]
    pub names: Vec<String>,
}

/// `burrow untag`: take names off an image (Podman's); the image stays.
pub fn untag(ctx: &Engine, args: &UntagArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let image = find_image(&store, &args.image)?;
    let names = if args.names.is_empty() {
        image.names.clone()
    } else {
        let names = args
            .names
            .iter()
            .map(|n| tag_name(n))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(n) = names.iter().find(|n| !image.names.contains(n)) {
            anyhow::bail!(
                "{n} is not a name of image {}: `burrow images` lists its names",
                image.id.short()
            );
        }
        names
    };
    store.set_names(&image.id, &[], &names)?;
    for n in &names {
        ctx.emit(&Event::image(ImageAction::Untag, &image.id.to_string(), n));
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    /// The image (name, ID or ID prefix)
    pub image: String,
}

/// `burrow image exists`: exit 0 if the store has it, 1 if not; no output.
pub fn exists(ctx: &Engine, args: &ExistsArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    match find_image(&store, &args.image) {
        Ok(_) => Ok(0),
        Err(burrow::image::LookupError::NotFound(_)) => Ok(1),
        Err(e) => Err(e.into()),
    }
}
