//! `burrow system check` and `burrow system df`

use burrow::engine::housekeeping::PruneFilter;
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
    /// Remove stopped containers, unused networks, dangling images and the build cache
    Prune(PruneArgs),
    /// Remove every container, image, network and the build cache: all of this user's store
    /// and runtime state
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only dangling ones, and the whole build
    /// cache
    #[arg(short, long)]
    pub all: bool,
    /// Remove the volumes no container uses too, named and anonymous
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Only what matches: until=TIME (RFC 3339, Unix seconds, or a duration such as 24h),
    /// label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
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
    /// Remove what is damaged: blobs whose content does not match their digest, half-unpacked
    /// layers, images missing a part (named, to pull again), container records that point
    /// nowhere; each thing removed is listed
    #[arg(long, conflicts_with = "quick")]
    pub repair: bool,
}

pub fn run(ctx: &Engine, cmd: &SystemCommand) -> anyhow::Result<i32> {
    match cmd {
        SystemCommand::Check(a) => check(ctx, a),
        SystemCommand::Df(a) => df(ctx, a),
        SystemCommand::Prune(a) => prune(ctx, a),
        SystemCommand::Reset(a) => reset(ctx, a),
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
    let volumes = ctx.volume_usage()?;
    let volumes_of = |name: &str| {
        volumes
            .iter()
            .filter(|v| v.users.iter().any(|u| u == name))
            .count()
    };
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
                volumes_of(&r.name).to_string(),
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
    let rows: Vec<Vec<String>> = volumes
        .into_iter()
        .map(|v| vec![v.record.name, v.users.len().to_string(), df_size(v.size)])
        .collect();
    print_table(&["VOLUME NAME", "LINKS", "SIZE"], &rows);
    Ok(0)
}

fn prune(ctx: &Engine, args: &PruneArgs) -> anyhow::Result<i32> {
    let filter = PruneFilter::parse(&args.filter)?;
    if !args.force {
        let (images, cache) = if args.all {
            (
                "all images without at least one container associated with them",
                "all build cache",
            )
        } else {
            ("all dangling images", "all dangling build cache")
        };
        let warning = format!(
            "This command removes:\n\t- all stopped containers\n\t- all networks not used by at least one container\n{volumes}\t- {images}\n\t- {cache}\n",
            volumes = if args.volumes {
                "\t- all volumes not used by at least one container\n"
            } else {
                ""
            }
        );
        if !super::confirm(&warning)? {
            return Ok(0);
        }
    }
    let pruned = ctx.system_prune(args.all, args.volumes, &filter)?;
    let section = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            println!("Deleted {title}");
            for i in items {
                println!("{i}");
            }
        }
    };
    section("Containers", pruned.containers.clone());
    section("Volumes", pruned.volumes.clone());
    section("Networks", pruned.networks.clone());
    section(
        "Images",
        pruned.images.iter().map(|d| d.hex().to_string()).collect(),
    );
    if pruned.build_cache > 0 {
        println!("Deleted {} build cache entries", pruned.build_cache);
    }
    println!("Total reclaimed space: {}", df_size(pruned.reclaimed));
    for e in &pruned.errors {
        eprintln!("Error: {}", e.message);
    }
    Ok(if pruned.errors.is_empty() {
        0
    } else {
        super::EXIT_ENGINE
    })
}

fn reset(ctx: &Engine, args: &ResetArgs) -> anyhow::Result<i32> {
    if !args.force {
        let warning = format!(
            "This will remove:\n\t- all containers\n\t- all images\n\t- all networks\n\t- all volumes\n\t- all build cache\n\t- the graphRoot directory: {:?}\n\t- the runRoot directory: {:?}",
            ctx.paths.root.display().to_string(),
            ctx.paths.runroot.display().to_string()
        );
        if !super::confirm(&warning)? {
            return Ok(0);
        }
    }
    ctx.system_reset()?;
    Ok(0)
}

/// `--repair`: remove the damage, listing each thing removed and the
/// images to pull again.
fn repair(ctx: &Engine) -> anyhow::Result<()> {
    let report = ctx.repair_store()?;
    for line in &report.removed {
        println!("Removed {line}");
    }
    for image in &report.images {
        println!(
            "Image {image} lost a damaged part and was removed: pull it again (burrow pull {image})"
        );
    }
    if report.removed.is_empty() {
        println!("Nothing to repair");
    }
    Ok(())
}

fn check(ctx: &Engine, args: &CheckArgs) -> anyhow::Result<i32> {
    if args.repair {
        repair(ctx)?;
    }
    let quick = args.quick;
    let store_check = || -> Check {
        if let Err(e) = ctx.store() {
            return Check {
                name: "store".into(),
                status: CheckStatus::Fail,
                detail: format!("{e:#}"),
                fix: None,
            };
        }
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
        let found = ctx.store_damage().map(|d| d.lines());
        match found {
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
                detail: problems.join("; "),
                fix: Some(
                    "run `burrow system check --repair` to remove what is damaged, then pull the images it names again".into(),
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
