//! `burrow inspect` and `burrow image inspect`

use burrow::image::find_image;
use burrow::image::inspect::image_json;
use clap::Args;

use super::Ctx;
use super::format::render_template;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Images to inspect (names, IDs or ID prefixes)
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Format the output with a Go template, e.g. '{{.Id}}' or '{{json .Config}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// What to inspect; only images exist so far
    #[arg(long = "type", value_name = "TYPE", default_value = "image", value_parser = ["image", "all"])]
    pub kind: String,
}

pub fn run(ctx: &Ctx, args: &InspectArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let mut out = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match find_image(&store, name) {
            Ok(img) => out.push(image_json(&store, &img)?),
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
                println!("{}", render_template(t, v)?);
            }
        }
    }
    Ok(code)
}
