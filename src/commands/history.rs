//! `burrow history`

use burrow::image::find_image;
use burrow::image::history::{HistoryRow, history};
use clap::Args;
use serde_json::{Value, json};

use super::format::{human_size, print_table, print_template, time_ago};
use burrow::engine::Engine;

/// Podman's width of CREATED BY when truncated.
const CREATED_BY_WIDTH: usize = 45;

#[derive(Debug, Args)]
#[command(
    after_help = "One row per step that made the image, newest first: the config's \
                        history, with the size of the layer each step added. --format takes \
                        json or a Go template over .ID, .Created, .CreatedBy, .Size, .Comment \
                        and .Tags (`table ...` for aligned columns)."
)]
pub struct HistoryArgs {
    /// Do not truncate IDs and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Print only the IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// json, or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// The image: name, ID or ID prefix
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

pub fn run(ctx: &Engine, args: &HistoryArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let image = find_image(&store, &args.image)?;
    let rows = history(&store, &image)?;
    let id = |r: &HistoryRow| match &r.id {
        Some(d) if args.no_trunc => d.to_string(),
        Some(d) => d.short().to_string(),
        None => "<missing>".to_string(),
    };
    if args.quiet {
        for r in &rows {
            println!("{}", id(r));
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            // Podman's field names.
            let list: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id.as_ref().map_or("<missing>".to_string(), |d| d.hex().to_string()),
                        "created": r.created.map(|c| c.to_rfc3339()),
                        "CreatedBy": r.created_by,
                        "size": r.size,
                        "comment": r.comment,
                        "tags": r.tags,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Some(template) => {
            let now = chrono::Utc::now();
            let items: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "ID": id(r),
                        "Created": r.created.map(|c| time_ago(c, now)).unwrap_or_default(),
                        "CreatedBy": created_by(r, args.no_trunc),
                        "Size": human_size(r.size),
                        "Comment": r.comment,
                        "Tags": r.tags,
                    })
                })
                .collect();
            print_template(template, &items, |f| match f {
                "ID" => Some("IMAGE"),
                "Created" => Some("CREATED"),
                "CreatedBy" => Some("CREATED BY"),
                "Size" => Some("SIZE"),
                "Comment" => Some("COMMENT"),
                "Tags" => Some("TAGS"),
                _ => None,
            })?;
        }
        None => {
            let now = chrono::Utc::now();
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        id(r),
                        r.created.map(|c| time_ago(c, now)).unwrap_or_default(),
                        created_by(r, args.no_trunc),
                        human_size(r.size),
                        r.comment.clone(),
                    ]
                })
                .collect();
            print_table(
                &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
                &table,
            );
        }
    }
    Ok(0)
}

fn created_by(r: &HistoryRow, no_trunc: bool) -> String {
    let text = r.created_by.replace('\t', " ");
    if no_trunc || text.chars().count() <= CREATED_BY_WIDTH {
        return text;
    }
    let cut: String = text.chars().take(CREATED_BY_WIDTH - 3).collect();
    format!("{cut}...")
}
