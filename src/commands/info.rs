//! `burrow info`

use burrow::runtime::rootfs::{self, Driver};
use burrow::system::info::host_info_with_overlay;
use burrow::system::overlay::probe_overlay;
use clap::Args;
use serde_json::{Value, json};

use super::format::render_template;
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format: json, or a Go template such as '{{.host.kernel}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(ctx: &Engine, args: &InfoArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let images = store.images()?;
    let overlay = probe_overlay(&ctx.paths);
    let requested = ctx
        .storage_driver
        .as_deref()
        .map(Driver::parse)
        .transpose()?;
    let (driver, why) = rootfs::choose(requested, false, || overlay.clone())?;
    let info = json!({
        "host": serde_json::to_value(host_info_with_overlay(overlay))?,
        "store": {
            "graphRoot": ctx.paths.root,
            "runRoot": ctx.paths.runroot,
            "configFile": ctx.paths.config_file(),
            "imageCount": images.len(),
            "ignoreChownErrors": ctx.config.storage.ignore_chown_errors,
            "graphDriverName": driver.name(),
            "graphDriverWarning": why,
        },
        "version": { "version": env!("CARGO_PKG_VERSION") },
    });
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&info)?),
        Some(t) => println!("{}", render_template(t, &info)?),
        None => print_yaml(&info, 0),
    }
    Ok(0)
}

/// A YAML-looking rendition, as `podman info` prints by default.
fn print_yaml(v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::Object(_) => {
                        println!("{pad}{k}:");
                        print_yaml(v, indent + 2);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        println!("{pad}{k}:");
                        for item in a {
                            match item {
                                Value::Object(_) => {
                                    println!("{pad}- ");
                                    print_yaml(item, indent + 2);
                                }
                                other => println!("{pad}- {}", scalar(other)),
                            }
                        }
                    }
                    other => println!("{pad}{k}: {}", scalar(other)),
                }
            }
        }
        other => println!("{pad}{}", scalar(other)),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}
