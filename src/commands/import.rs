//! `burrow import`

use std::fs::File;
use std::io::IsTerminal;

use anyhow::Context as _;
use burrow::engine::ImportSource;
use burrow::image::import::{ImportOptions, is_url};
use burrow::reference::tag_name;
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "The tarball (plain, gzip or zstd) becomes the one layer of a new \
                        image; - reads it from standard input, an http:// or https:// URL is \
                        downloaded. CHANGE is a Dockerfile instruction applied to the image's \
                        config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME or \
                        STOPSIGNAL, e.g. -c 'CMD [\"/bin/sh\"]'. Prints the new image's ID."
)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image's config (repeatable)
    #[arg(short, long = "change", value_name = "CHANGE")]
    pub change: Vec<String>,
    /// The comment of the image's history entry
    #[arg(short, long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// The root filesystem tarball: a file, an http(s) URL, or - for standard input
    #[arg(value_name = "FILE|URL|-")]
    pub source: String,
    /// A name for the image, NAME[:TAG]
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

pub fn run(ctx: &Engine, args: &ImportArgs) -> anyhow::Result<i32> {
    let names = match &args.name {
        Some(n) => vec![tag_name(n)?],
        None => Vec::new(),
    };
    // Check the changes before reading anything.
    burrow::engine::images::check_changes(&args.change)?;
    let source = args.source.as_str();
    let input = if source == "-" {
        if std::io::stdin().is_terminal() {
            anyhow::bail!(
                "import: refusing to read a tarball from a terminal: redirect standard input or give a FILE"
            );
        }
        ImportSource::Reader(Box::new(std::io::stdin()))
    } else if is_url(source) {
        // Downloaded inside the user namespace, as the layer is written.
        ImportSource::Download
    } else if source.contains("://") {
        anyhow::bail!("{source}: import downloads only http:// and https:// URLs");
    } else {
        ImportSource::Reader(Box::new(
            File::open(source).with_context(|| format!("cannot read {source}"))?,
        ))
    };
    let opts = ImportOptions {
        changes: &args.change,
        message: args.message.as_deref(),
        source,
        names: &names,
    };
    let image = ctx.import(input, &opts)?;
    println!("{}", image.id.hex());
    Ok(0)
}
