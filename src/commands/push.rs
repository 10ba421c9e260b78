//! `burrow push`

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context as _;
use burrow::image::{self, PushObserver};
use burrow::registry::Client;
use burrow::registry::manifest::ManifestFormat;
use clap::Args;

use super::progress;
use super::pull::RegistryFlags;
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Local image to push: a name or an ID
    pub image: String,
    /// Where to push it: [docker://]REGISTRY[:PORT]/NAME[:TAG] [default: the image's name]
    pub destination: Option<String>,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Write the digest of the pushed manifest to this file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Manifest format to push: oci or v2s2 (Docker schema 2) [default: the image's]
    #[arg(short, long, value_name = "FORMAT", value_parser = ["oci", "v2s2"])]
    pub format: Option<String>,
    /// Print no progress
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(ctx: &Engine, args: &PushArgs) -> anyhow::Result<i32> {
    let mut opts = args.registry.options().client_options()?;
    opts.timeout = Some(ctx.config.registry.timeout());
    let store = ctx.store()?;
    let client = Client::new(opts)?;
    let observer: Box<dyn PushObserver> = if args.quiet {
        Box::new(image::push::Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(progress::Bars::new())
    } else {
        Box::new(progress::Lines)
    };
    let pushed = image::push(
        &store,
        &client,
        &args.image,
        args.destination.as_deref(),
        args.format.as_deref().map(|f| match f {
            "oci" => ManifestFormat::Oci,
            _ => ManifestFormat::DockerV2S2,
        }),
        observer.as_ref(),
    )?;
    let pushed_ref = pushed.destination.to_string();
    ctx.emit(&burrow::events::Event::image(
        burrow::events::ImageAction::Push,
        &pushed_ref,
        &pushed_ref,
    ));
    if let Some(file) = &args.digestfile {
        std::fs::write(file, pushed.manifest_digest.to_string())
            .with_context(|| format!("writing --digestfile {}", file.display()))?;
    }
    Ok(0)
}
