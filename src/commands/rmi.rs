//! `burrow rmi`

use anyhow::bail;
use burrow::image::remove::Removal;
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Images to remove (names, IDs or ID prefixes)
    pub images: Vec<String>,
    /// Remove an image even if it has several names, and the stopped
    /// containers made from it
    #[arg(short, long)]
    pub force: bool,
    /// Remove all images
    #[arg(short, long)]
    pub all: bool,
}

pub fn run(ctx: &Engine, args: &RmiArgs) -> anyhow::Result<i32> {
    if args.images.is_empty() && !args.all {
        bail!("rmi needs at least one image name or ID (or --all)");
    }
    if !args.images.is_empty() && args.all {
        bail!("rmi: give image names or --all, not both");
    }
    let queries = (!args.all).then_some(args.images.as_slice());
    let done = ctx.remove_images(queries, args.force)?;
    let mut code = 0;
    for removal in done.removals {
        match removal.result {
            Ok(done) => {
                for r in done {
                    match r {
                        Removal::Untagged(n) => println!("Untagged: {n}"),
                        Removal::Deleted(id) => println!("Deleted: {}", id.hex()),
                        Removal::RemovedContainer(id) => println!("Removed container: {id}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                // Podman: 1 when an image is unknown, 2 when a container
                // uses it, 125 otherwise; the worst one wins.
                code = code.max(if e.not_found {
                    1
                } else if e.in_use {
                    2
                } else {
                    super::EXIT_ENGINE
                });
            }
        }
    }
    if let Some(e) = done.cleanup {
        eprintln!("Error: {}", e.message);
        return Ok(super::EXIT_ENGINE);
    }
    Ok(code)
}
