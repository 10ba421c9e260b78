//! `burrow version`: Podman's `Client:` block, and the fields Docker's and
//! Podman's `version --format` templates read.

use clap::Args;
use serde_json::{Value, json};

use super::format::render_template;
use burrow::engine::Engine;
use burrow::engine::system::VersionInfo;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format: json, or a Go template such as '{{.Client.Version}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub fn run(_ctx: &Engine, args: &VersionArgs) -> anyhow::Result<i32> {
    let v = VersionInfo::current();
    let client: Value = serde_json::to_value(&v)?;
    match args.format.as_deref() {
        Some("json") => println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "Client": client }))?
        ),
        Some(template) => {
            // No daemon: the engine is the client, as Podman answers for
            // `{{.Server.Version}}` without a service.
            let data = json!({ "Client": client, "Server": client });
            println!("{}", render_template(template, &data)?);
        }
        None => {
            // Podman's lines, in its order; Go Version is the compiler's.
            for (k, val) in [
                ("Client:", "burrow".to_string()),
                ("Version:", v.version.clone()),
                ("API Version:", v.api_version.clone()),
                ("Rust Version:", v.rust_version.clone()),
                ("Git Commit:", v.git_commit.clone()),
                ("Built:", v.built_time.clone()),
                ("OS/Arch:", v.os_arch.clone()),
            ] {
                println!("{}", format!("{k:<14}{val}").trim_end());
            }
        }
    }
    Ok(0)
}
