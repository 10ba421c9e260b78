//! `burrow image SUBCOMMAND`: the image commands grouped as Docker does.

use clap::{Args, Subcommand};

use super::{history, images, import, inspect, load, pull, rmi, save, tag};
use burrow::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image from a registry
    Pull(pull::PullArgs),
    /// List images
    #[command(visible_alias = "ls")]
    List(images::ImagesArgs),
    /// Remove images
    #[command(visible_alias = "rmi")]
    Rm(rmi::RmiArgs),
    /// Add a name to an image
    Tag(tag::TagArgs),
    /// Show low-level information on images
    Inspect(inspect::ImageInspectArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Write images to an archive (docker-archive or oci-archive)
    Save(save::SaveArgs),
    /// Load images from an archive written by save, docker save or podman save
    Load(load::LoadArgs),
    /// Make an image from a root filesystem tarball
    Import(import::ImportArgs),
    /// Show how an image was made, layer by layer
    History(history::HistoryArgs),
    /// Exit 0 if the image is in the store, 1 if not
    Exists(tag::ExistsArgs),
    /// Remove names from an image
    Untag(tag::UntagArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all images without a container, not only dangling (unnamed) ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(ctx: &Engine, cmd: &ImageCommand) -> anyhow::Result<i32> {
    match cmd {
        ImageCommand::Pull(a) => pull::run(ctx, a),
        ImageCommand::List(a) => images::run(ctx, a),
        ImageCommand::Rm(a) => rmi::run(ctx, a),
        ImageCommand::Tag(a) => tag::run(ctx, a),
        ImageCommand::Exists(a) => tag::exists(ctx, a),
        ImageCommand::Untag(a) => tag::untag(ctx, a),
        ImageCommand::Inspect(a) => inspect::run_images(ctx, a),
        ImageCommand::Prune(a) => prune(ctx, a),
        ImageCommand::Save(a) => save::run(ctx, a),
        ImageCommand::Load(a) => load::run(ctx, a),
        ImageCommand::Import(a) => import::run(ctx, a),
        ImageCommand::History(a) => history::run(ctx, a),
    }
}

fn prune(ctx: &Engine, args: &PruneArgs) -> anyhow::Result<i32> {
    if !args.force {
        let what = if args.all {
            "all images without at least one container"
        } else {
            "all dangling images"
        };
        if !super::confirm(&format!("This command removes {what}."))? {
            return Ok(0);
        }
    }
    let pruned = ctx.prune_images(args.all)?;
    for id in &pruned.removed {
        println!("{}", id.hex());
    }
    Ok(match pruned.error {
        Some(e) => {
            eprintln!("Error: {}", e.message);
            super::EXIT_ENGINE
        }
        None => 0,
    })
}
