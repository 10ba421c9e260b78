//! `burrow inspect` and `burrow image inspect`

use burrow::image::find_image;
use burrow::image::inspect::image_json;
use burrow::runtime::{ContainerError, ContainerStore};
use clap::Args;

use super::format::render_template;
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Containers or images to inspect (names, IDs or ID prefixes; containers first)
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Format the output with a Go template, e.g. '{{.Id}}' or '{{json .Config}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// What to look for: container, image or all
    #[arg(long = "type", value_name = "TYPE", default_value = "all", value_parser = ["container", "image", "all"])]
    pub kind: String,
}

/// `burrow image inspect`: images only.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Images to inspect (names, IDs or ID prefixes)
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Format the output with a Go template, e.g. '{{.Id}}' or '{{json .Config}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// `burrow container inspect`: containers only.
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Containers to inspect (names, IDs or unique ID prefixes)
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Format the output with a Go template, e.g. '{{.State.Status}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run_containers(ctx: &Engine, args: &ContainerInspectArgs) -> anyhow::Result<i32> {
    run(
        ctx,
        &InspectArgs {
            names: args.names.clone(),
            format: args.format.clone(),
            kind: "container".into(),
        },
    )
}

pub fn run_images(ctx: &Engine, args: &ImageInspectArgs) -> anyhow::Result<i32> {
    run(
        ctx,
        &InspectArgs {
            names: args.names.clone(),
            format: args.format.clone(),
            kind: "image".into(),
        },
    )
}

pub fn run(ctx: &Engine, args: &InspectArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let mut out = Vec::new();
    let mut code = 0;
    for name in &args.names {
        if args.kind != "image" {
            match containers.find(name) {
                Ok(c) => {
                    out.push(ctx.inspect(&containers, &c.id)?);
                    continue;
                }
                Err(e @ ContainerError::Ambiguous { .. }) => {
                    eprintln!("Error: {e}");
                    code = 125;
                    continue;
                }
                Err(ContainerError::NotFound(_)) if args.kind == "all" => {}
                Err(e) => {
                    eprintln!("Error: {e}");
                    code = 125;
                    continue;
                }
            }
        }
        match find_image(&store, name) {
            Ok(img) => out.push(image_json(&store, &img)?),
            // Neither a container nor an image: Podman's words.
            Err(burrow::image::LookupError::NotFound(_)) if args.kind == "all" => {
                eprintln!("Error: no such object: {name:?}");
                code = 125;
            }
            Err(e) => {
                eprintln!("Error: {e}");
                code = 125;
            }
        }
    }
    match args.format.as_deref() {
        None | Some("json") => println!("{}", serde_json::to_string_pretty(&out)?),
        Some(t) => {
            for v in &out {
                println!("{}", render_template(t, &with_go_field_names(v))?);
            }
        }
    }
    Ok(code)
}

/// Templates name fields as Podman's Go structs do: `.ID` as well as the
/// JSON's `.Id`.
fn with_go_field_names(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut()
        && let Some(id) = map.get("Id").cloned()
    {
        map.entry("ID").or_insert(id);
    }
    v
}
