//! `burrow rmi`

use anyhow::bail;
use burrow::image::remove::{Removal, remove};
use clap::Args;

use super::report;
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
    let store = ctx.store()?;
    // Deleting layer files owned by container ids needs the user namespace.
    Ok(ctx.in_userns(|_| {
        let queries: Vec<String> = if args.all {
            match store.images() {
                Ok(imgs) => imgs.iter().map(|i| i.id.to_string()).collect(),
                Err(e) => return report(&e.into()),
            }
        } else {
            args.images.clone()
        };
        let mut code = 0;
        for q in &queries {
            match remove(&store, q, args.force, args.all) {
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
                    // Podman: 1 when an image is unknown, 125 otherwise;
                    // the worst one wins.
                    code = if e.is_not_found() && code != super::EXIT_ENGINE {
                        1
                    } else {
                        super::EXIT_ENGINE
                    };
                }
            }
        }
        if let Err(e) = store.gc(&[]) {
            return report(&e.into());
        }
        code
    })?)
}
