//! `burrow diff`: files a container added, changed or deleted.

use burrow::engine::Engine;
use burrow::runtime::ContainerStore;
use burrow::runtime::diff::Kind;
use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "Each line is A (added), C (changed) or D (deleted) and a path, as Docker \
                        prints them. Read from the container's overlay upper directory: \
                        containers on the vfs driver have none."
)]
pub struct DiffArgs {
    /// Output format: the default lines, or json (Podman's added/changed/deleted lists)
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub format: Option<String>,
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(ctx: &Engine, args: &DiffArgs) -> anyhow::Result<i32> {
    let containers = ContainerStore::open(ctx.store()?.root())?;
    let c = containers.find(&args.container)?;
    let list = ctx.diff(&containers, &c)?;
    if args.format.is_some() {
        let of = |k: Kind| -> Vec<&str> {
            list.iter()
                .filter(|c| c.kind == k)
                .map(|c| c.path.as_str())
                .collect()
        };
        println!(
            "{}",
            serde_json::json!({
                "changed": of(Kind::Changed),
                "added": of(Kind::Added),
                "deleted": of(Kind::Deleted),
            })
        );
    } else {
        for ch in &list {
            println!("{} {}", ch.kind.letter(), ch.path);
        }
    }
    Ok(0)
}
