//! `burrow diff`: files a container added, changed or deleted.

use burrow::runtime::ContainerStore;
use burrow::runtime::diff::{Kind, changes};
use burrow::runtime::rootfs::Driver;
use clap::Args;

use burrow::engine::Engine;

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
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let c = containers.find(&args.container)?;
    let spec = containers.load_spec(&c.id)?;
    if spec.driver == Driver::Vfs {
        anyhow::bail!(
            "container {} uses the vfs driver, which keeps no record of changes: diff needs overlay or fuse-overlayfs",
            c.name
        );
    }
    let json = args.format.is_some();
    let userns = ctx.namespace_for(spec.keep_id)?;
    // The upper directory holds files of subordinate ids.
    Ok(ctx.in_namespace(&userns, None, |_| {
        let targets: Vec<String> = spec.mounts.iter().map(|m| m.destination.clone()).collect();
        let list = match changes(&spec.upper(), &spec.lowers, &targets) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                eprintln!("Error: reading the changes of container {}: {e}", c.name);
                return super::EXIT_ENGINE;
            }
        };
        if json {
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
        0
    })?)
}
