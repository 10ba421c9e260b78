//! `burrow commit`: a container's changes as a new image.

use anyhow::Context as _;
use burrow::image::commit::{CommitOptions, commit};
use burrow::image::write::LayerCompression;
use burrow::runtime::{ContainerStore, Status};
use clap::Args;

use burrow::engine::Engine;

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
    // Changes are checked before anything is written.
    let mut probe = serde_json::json!({});
    for c in &args.change {
        burrow::image::changes::apply_change(&mut probe, c)?;
    }
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let rec = containers.find(&args.container)?;
    let spec = containers.load_spec(&rec.id)?;
    let ns = ctx.namespace_for(spec.keep_id)?;
    let paused = match (args.pause, rec.current_status(), rec.pid) {
        (true, Status::Running, Some(pid)) => {
            burrow::runtime::lifecycle::set_paused(&containers, &rec.id, pid, true)?;
            Some(pid)
        }
        _ => None,
    };
    let changes = args.change.clone();
    let change = move |config: &mut serde_json::Value| -> Result<(), String> {
        for c in &changes {
            burrow::image::changes::apply_change(config, c).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    let opts = CommitOptions {
        names: &names,
        message: args.message.as_deref().unwrap_or(""),
        author: args.author.as_deref().unwrap_or(""),
        compression,
        change: &change,
    };
    let quiet = args.quiet;
    let result = ctx.in_namespace(&ns, None, |ns| {
        let unpack = ns.unpack_options(ctx.config.storage.ignore_chown_errors);
        match commit(&store, &spec, &rec, &unpack, &opts) {
            Ok(image) => {
                if !quiet {
                    eprintln!("Writing manifest to image destination");
                }
                println!("{}", image.id.hex());
                0
            }
            Err(e) => {
                eprintln!("Error: committing container {}: {e}", rec.name);
                super::EXIT_ENGINE
            }
        }
    });
    if let Some(pid) = paused {
        burrow::runtime::lifecycle::set_paused(&containers, &rec.id, pid, false)?;
    }
    Ok(result?)
}
