//! `burrow system check` and `burrow system df`

use burrow::engine::{DiskUsage, Engine};
use burrow::system::check::{Check, CheckStatus, run_checks};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{print_table, print_template, time_ago};

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Check that this host can run rootless containers, and verify the store
    Check(CheckArgs),
    /// Show how much disk images, containers and volumes take
    Df(DfArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "SIZE counts each layer once, however many images share it; RECLAIMABLE is \
                  what removing the images no container uses (burrow image prune -a) and the \
                  containers not running (burrow container prune) would free; for Local Volumes, \
                  the volumes no container uses (burrow volume prune). \
                  Template fields: .Type, .Total (also .TotalCount), .Active, .Size, \
                  .Reclaimable, .RawSize and .RawReclaimable (bytes)."
)]
pub struct DfArgs {
    /// Show each image, container and volume
    #[arg(short, long)]
    pub verbose: bool,
    /// Output format: json, or a Go template such as '{{.Type}} {{.Size}}' (not with -v)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip re-hashing every stored blob (the slow part on a large store)
    #[arg(long)]
    pub quick: bool,
}

pub fn run(ctx: &Engine, cmd: &SystemCommand) -> anyhow::Result<i32> {
    match cmd {
        SystemCommand::Check(a) => check(ctx, a),
        SystemCommand::Df(a) => df(ctx, a),
    }
}

/// Sizes as Podman's `system df` prints them ("4.26MB", "0B").
fn df_size(bytes: u64) -> String {
    super::format::human_size(bytes).replace(' ', "")
}

/// "1.2MB (40%)".
fn reclaimable_text(line: &DiskUsage) -> String {
    let percent = (line.reclaimable * 100).checked_div(line.size).unwrap_or(0);
    format!("{} ({percent}%)", df_size(line.reclaimable))
}

fn df_fields(line: &DiskUsage) -> Value {
    json!({
        "Type": line.kind,
        "Total": line.total,
        "TotalCount": line.total,
        "Active": line.active,
        "Size": df_size(line.size),
        "Reclaimable": reclaimable_text(line),
        "RawSize": line.size,
        "RawReclaimable": line.reclaimable,
    })
}

fn df(ctx: &Engine, args: &DfArgs) -> anyhow::Result<i32> {
    if args.verbose && args.format.is_some() {
        anyhow::bail!("--format and --verbose cannot be used together");
    }
    let usage = ctx.disk_usage()?;
    if !args.verbose {
        let items: Vec<Value> = usage.summary.iter().map(df_fields).collect();
        match args.format.as_deref() {
            Some("json") => println!("{}", serde_json::to_string_pretty(&items)?),
            Some(template) => print_template(template, &items, |f| {
                Some(match f {
                    "Type" => "TYPE",
                    "Total" | "TotalCount" => "TOTAL",
                    "Active" => "ACTIVE",
                    "Size" | "RawSize" => "SIZE",
                    "Reclaimable" | "RawReclaimable" => "RECLAIMABLE",
                    _ => return None,
                })
            })?,
            None => {
                let rows: Vec<Vec<String>> = usage
                    .summary
                    .iter()
                    .map(|l| {
                        vec![
                            l.kind.to_string(),
                            l.total.to_string(),
                            l.active.to_string(),
                            df_size(l.size),
                            reclaimable_text(l),
                        ]
                    })
                    .collect();
                print_table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows);
            }
        }
        return Ok(0);
    }
    let now = chrono::Utc::now();
    println!("Images space usage:\n");
    let mut rows = Vec::new();
    for u in &usage.images {
        let names: Vec<(String, String)> = if u.image.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            u.image
                .names
                .iter()
                .map(|n| super::images::split_name(n))
                .collect()
        };
        for (repo, tag) in names {
            rows.push(vec![
                repo,
                tag,
                u.image.id.short().to_string(),
                u.image
                    .created
                    .map(|c| time_ago(c, now))
                    .unwrap_or_default(),
                df_size(u.image.size),
                df_size(u.shared),
                df_size(u.image.size - u.shared.min(u.image.size)),
                u.containers.to_string(),
            ]);
        }
    }
    print_table(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        &rows,
    );
    println!("\nContainers space usage:\n");
    let rows: Vec<Vec<String>> = usage
        .containers
        .iter()
        .map(|c| {
            let r = &c.record;
            vec![
                r.id[..12].to_string(),
                r.image.clone(),
                super::ps::command_text(r, false),
                "0".to_string(),
                df_size(c.size.unwrap_or(0)),
                time_ago(r.created, now),
                super::ps::status_text(r, r.current_status(), now),
                r.name.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "LOCAL VOLUMES",
            "SIZE",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        &rows,
    );
    println!("\nLocal Volumes space usage:\n");
    print_table(&["VOLUME NAME", "LINKS", "SIZE"], &[]);
    Ok(0)
}

fn check(ctx: &Engine, args: &CheckArgs) -> anyhow::Result<i32> {
    let quick = args.quick;
    let store_check = || -> Check {
        let store = match ctx.store() {
            Ok(s) => s,
            Err(e) => {
                return Check {
                    name: "store".into(),
                    status: CheckStatus::Fail,
                    detail: format!("{e:#}"),
                    fix: None,
                };
            }
        };
        if quick {
            return Check {
                name: "store".into(),
                status: CheckStatus::Ok,
                detail: format!(
                    "{} (blob digests not verified: --quick)",
                    ctx.paths.root.display()
                ),
                fix: None,
            };
        }
        match store.verify() {
            Ok(problems) if problems.is_empty() => Check {
                name: "store".into(),
                status: CheckStatus::Ok,
                detail: format!(
                    "{}: every blob matches its digest, every image is complete",
                    ctx.paths.root.display()
                ),
                fix: None,
            },
            Ok(problems) => Check {
                name: "store".into(),
                status: CheckStatus::Fail,
                detail: problems
                    .iter()
                    .map(|p| p.what.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                fix: Some(
                    "remove the damaged images with `burrow rmi -f` and pull them again".into(),
                ),
            },
            Err(e) => Check {
                name: "store".into(),
                status: CheckStatus::Fail,
                detail: e.to_string(),
                fix: None,
            },
        }
    };
    let checks = run_checks(&ctx.paths, ctx.storage_driver.as_deref(), store_check);
    let mut failed = false;
    for c in &checks {
        let tag = match c.status {
            CheckStatus::Ok => "OK  ",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => {
                failed = true;
                "FAIL"
            }
        };
        println!("{tag}  {}: {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            println!("      fix: {fix}");
        }
    }
    Ok(if failed { 1 } else { 0 })
}
