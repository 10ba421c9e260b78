//! `burrow load`

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "Reads docker-archive (docker save, podman save) and oci-archive \
                        tars, plain or compressed with gzip or zstd. The archive's image IDs are \
                        kept; its names are given to the images, moved from any image that had \
                        them."
)]
pub struct LoadArgs {
    /// Read the archive from FILE instead of standard input
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Do not report the layers being stored
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(ctx: &Engine, args: &LoadArgs) -> anyhow::Result<i32> {
    let input: Box<dyn Read + Send> = match &args.input {
        Some(p) => Box::new(
            File::open(p).with_context(|| format!("cannot read the archive {}", p.display()))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "load: refusing to read an archive from a terminal: use -i FILE or redirect standard input"
                );
            }
            Box::new(std::io::stdin())
        }
    };
    let quiet = args.quiet;
    let images = ctx.load(input, &mut |d| {
        if !quiet {
            eprintln!("Copying blob {}", d.short());
        }
    })?;
    for img in images {
        if img.names.is_empty() {
            println!("Loaded image: {}", img.id);
        }
        for n in &img.names {
            println!("Loaded image: {n}");
        }
    }
    Ok(0)
}
