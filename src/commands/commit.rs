//! `burrow commit`: a container's changes as a new image.

use anyhow::Context as _;
use burrow::engine::{CommitRequest, Engine};
use burrow::image::write::LayerCompression;
use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "The new image is the container's image plus one layer of the container's \
                  changes (its overlay upper directory, burrow's own mount points left out), \
                  with the container's environment, working directory and command (less the \
                  image's entrypoint) as its config. A running container is paused while its \
                  changes are read, unless --pause=false."
)]
pub struct CommitArgs {
    /// Author of the image
    #[arg(short, long, value_name = "AUTHOR")]
    pub author: Option<String>,
    /// Commit message, kept in the image's history
    #[arg(short, long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// A Dockerfile instruction to apply to the image's config: CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, USER, WORKDIR, VOLUME or STOPSIGNAL (e.g. -c 'CMD ["/app"]')
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Pause a running container while its changes are read
    #[arg(short, long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    /// Print only the image ID, not the progress messages
    #[arg(short, long)]
    pub quiet: bool,
    /// Layer compression: gzip (default) or zstd
    #[arg(long, value_name = "FORMAT", default_value = "gzip")]
    pub compression: String,
    /// The container (name or ID)
    pub container: String,
    /// Name for the new image [default: none, only its ID]
    pub image: Option<String>,
}

pub fn run(ctx: &Engine, args: &CommitArgs) -> anyhow::Result<i32> {
    let compression = LayerCompression::parse(&args.compression)
        .ok_or_else(|| anyhow::anyhow!("--compression {}: use gzip or zstd", args.compression))?;
    let mut names = Vec::new();
    if let Some(n) = &args.image {
        names.push(burrow::reference::tag_name(n).with_context(|| format!("image name {n}"))?);
    }
    let request = CommitRequest {
        names,
        message: args.message.clone(),
        author: args.author.clone(),
        changes: args.change.clone(),
        pause: args.pause,
        compression,
    };
    let image = ctx.commit(&args.container, &request)?;
    if !args.quiet {
        eprintln!("Writing manifest to image destination");
    }
    println!("{}", image.id.hex());
    Ok(0)
}
