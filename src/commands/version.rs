//! `burrow version`: Podman's `Client:` block, and the fields Docker's and
//! Podman's `version --format` templates read.

use clap::Args;
use serde_json::{Value, json};

use super::format::render_template;
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format: json, or a Go template such as '{{.Client.Version}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

fn client() -> Value {
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "Version": version,
        "APIVersion": version,
        "GitCommit": "",
        "BuiltTime": "",
        "Built": 0,
        "OsArch": format!("{}/{}", std::env::consts::OS, burrow::image::write::host_architecture()),
        "Os": std::env::consts::OS,
    })
}

pub fn run(_ctx: &Engine, args: &VersionArgs) -> anyhow::Result<i32> {
    let client = client();
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string(&json!({ "Client": client }))?),
        Some(template) => {
            // No daemon: the engine is the client, as Podman answers for
            // `{{.Server.Version}}` without a service.
            let data = json!({ "Client": client, "Server": client });
            println!("{}", render_template(template, &data)?);
        }
        None => {
            println!("Client:       burrow");
            println!("Version:      {}", client["Version"].as_str().unwrap_or(""));
            println!(
                "API Version:  {}",
                client["APIVersion"].as_str().unwrap_or("")
            );
            println!("OS/Arch:      {}", client["OsArch"].as_str().unwrap_or(""));
        }
    }
    Ok(0)
}
