//! `burrow save`

use std::path::PathBuf;

use anyhow::Context as _;
use burrow::image::archive::{self, ArchiveFormat, SaveItem};
use burrow::image::lookup::{Match, find_image_match};
use clap::Args;

use super::output::ArchiveOut;
use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "docker-archive (the default) is what docker save and podman save \
                        write and docker load and podman load read; several images may go into \
                        one. oci-archive is an OCI image layout in a tar, with the stored blobs \
                        as they are. Without -o the archive goes to standard output, which must \
                        not be a terminal."
)]
pub struct SaveArgs {
    /// Write the archive to FILE (replaced only once it is complete)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format
    #[arg(long, value_name = "FORMAT", default_value = "docker-archive",
          value_parser = ["docker-archive", "oci-archive"])]
    pub format: String,
    /// Do not report the blobs being copied
    #[arg(short, long)]
    pub quiet: bool,
    /// Images to save (names, IDs or ID prefixes)
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub fn run(ctx: &Engine, args: &SaveArgs) -> anyhow::Result<i32> {
    let format = ArchiveFormat::parse(&args.format).context("unknown --format")?;
    let store = ctx.store()?;
    // Nothing may collect the blobs while they are being read.
    let _gc = store.gc_shared()?;
    let mut items: Vec<SaveItem> = Vec::new();
    for q in &args.images {
        let (image, how) = find_image_match(&store, q)?;
        // A name given is the name recorded (as docker save); an ID stands
        // for the image with all its names.
        let names = match how {
            Match::Name(n) => vec![n],
            Match::Id | Match::Digest => image.names.clone(),
        };
        match items.iter_mut().find(|i| i.image.id == image.id) {
            Some(item) => {
                for n in names {
                    if !item.names.contains(&n) {
                        item.names.push(n);
                    }
                }
            }
            None => items.push(SaveItem { image, names }),
        }
    }
    let mut out = ArchiveOut::open(args.output.as_deref(), "save")?;
    let quiet = args.quiet;
    archive::save(&store, &items, format, &mut out, &mut |d| {
        if !quiet {
            eprintln!("Copying blob {}", d.short());
        }
    })?;
    out.finish()?;
    for item in &items {
        let id = item.image.id.to_string();
        let name = item.names.first().unwrap_or(&id);
        ctx.emit(&burrow::events::Event::image(
            burrow::events::ImageAction::Save,
            &id,
            name,
        ));
    }
    Ok(0)
}
