//! `burrow volume`: volumes, directories of the store that outlive the
//! containers that mount them (see burrow::engine::volume).

use std::io::IsTerminal;
use std::path::PathBuf;

use burrow::engine::{Engine, EngineError, VolumeCreateRequest, VolumeFilter};
use burrow::storage::volumes::{VolumeError, VolumeRecord};
use clap::{Args, Subcommand};
use serde_json::Value;

use super::format::{print_table, print_template};
use super::output::ArchiveOut;

/// Podman's status for `volume rm` of a volume that does not exist.
const EXIT_NO_SUCH: i32 = 1;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON
    Inspect(InspectArgs),
    /// Remove volumes no container uses
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove every volume no container uses
    Prune(PruneArgs),
    /// Exit 0 if the volume exists, 1 if not
    Exists(ExistsArgs),
    /// Write a volume's files as a tar
    Export(ExportArgs),
    /// Unpack a tar into a volume
    Import(ImportArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Options of the local driver: -o type=tmpfs (a fresh tmpfs at each start; \
                  -o o=size=64m,uid=1000,gid=1000,mode=700), or -o type=none -o device=/host/dir \
                  -o o=bind (a host directory). Without options the volume is a directory of \
                  the store; the first container that mounts it over a directory of its image \
                  copies that directory's content in (unless -v NAME:/path:nocopy)."
)]
pub struct CreateArgs {
    /// The driver: local, the only one
    #[arg(short, long, value_name = "DRIVER", default_value = "local")]
    pub driver: String,
    /// A driver option, KEY=VALUE: type=tmpfs|none, device=PATH, o=OPTIONS
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Set a label on the volume (KEY=VALUE)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Do nothing if a volume of that name exists
    #[arg(long)]
    pub ignore: bool,
    /// The volume's name [default: a random 64-digit id]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print only the volumes' names
    #[arg(short, long)]
    pub quiet: bool,
    /// Only volumes that pass: name=PART, label=KEY[=VALUE], dangling=true|false, driver=local
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Output format: table, json, or a Go template such as '{{.Name}} {{.Mountpoint}}'
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Print no header line
    #[arg(long)]
    pub noheading: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output format: json, or a Go template such as '{{.Mountpoint}}'
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Volume names
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove (stopping at once) the containers that use the volumes first
    #[arg(short, long)]
    pub force: bool,
    /// Volume names
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Only volumes that pass: label=KEY[=VALUE]
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write the tar to FILE (replaced only once it is complete) instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub name: String,
    /// A tar archive (plain or compressed), or - for standard input
    #[arg(value_name = "SOURCE")]
    pub source: String,
}

pub fn run(ctx: &Engine, cmd: &VolumeCommand) -> anyhow::Result<i32> {
    match cmd {
        VolumeCommand::Create(a) => create(ctx, a),
        VolumeCommand::Ls(a) => ls(ctx, a),
        VolumeCommand::Inspect(a) => inspect(ctx, a),
        VolumeCommand::Rm(a) => rm(ctx, a),
        VolumeCommand::Prune(a) => prune(ctx, a),
        VolumeCommand::Exists(a) => Ok(if ctx.volume_exists(&a.name)? { 0 } else { 1 }),
        VolumeCommand::Export(a) => export(ctx, a),
        VolumeCommand::Import(a) => import(ctx, a),
    }
}

fn create(ctx: &Engine, args: &CreateArgs) -> anyhow::Result<i32> {
    let v = ctx.volume_create(&VolumeCreateRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        options: args.opt.clone(),
        labels: burrow::engine::request::parse_labels(&args.label)?,
        ignore: args.ignore,
    })?;
    println!("{}", v.name);
    Ok(0)
}

fn filters(given: &[String]) -> anyhow::Result<Vec<VolumeFilter>> {
    Ok(given
        .iter()
        .map(|f| f.parse())
        .collect::<Result<Vec<VolumeFilter>, _>>()?)
}

/// The column Podman prints for a volume field.
fn column(field: &str) -> Option<&'static str> {
    Some(match field {
        "Name" => "VOLUME NAME",
        "Driver" => "DRIVER",
        "Mountpoint" => "MOUNTPOINT",
        "CreatedAt" => "CREATED",
        "Labels" => "LABELS",
        "Scope" => "SCOPE",
        "Options" => "OPTIONS",
        _ => return None,
    })
}

fn ls(ctx: &Engine, args: &LsArgs) -> anyhow::Result<i32> {
    if args.noheading {
        super::format::omit_headings();
    }
    let list = ctx.volume_list(&filters(&args.filter)?)?;
    if args.quiet {
        for v in &list {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let store = ctx.volume_store()?;
    let items = |list: &[VolumeRecord]| -> Vec<Value> {
        list.iter()
            .map(|v| burrow::engine::volume::inspect_json(&store, v))
            .collect()
    };
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&items(&list))?),
        Some("table") | None => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|v| vec![v.driver.clone(), v.name.clone()])
                .collect();
            print_table(&["DRIVER", "VOLUME NAME"], &rows);
        }
        Some(template) => print_template(template, &items(&list), column)?,
    }
    Ok(0)
}

/// Podman's status for an error of `volume rm`.
fn status_of(e: &EngineError) -> i32 {
    match e {
        EngineError::Volume(VolumeError::NotFound(_)) => EXIT_NO_SUCH,
        _ => super::EXIT_ENGINE,
    }
}

fn inspect(ctx: &Engine, args: &InspectArgs) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match ctx.volume_inspect(name) {
            Ok(v) => out.push(v),
            // Podman's status is 125 here, even for a volume that does
            // not exist (1 is rm's).
            Err(e) => {
                eprintln!("Error: {e}");
                code = super::EXIT_ENGINE;
            }
        }
    }
    match args.format.as_deref() {
        None | Some("json") => println!("{}", serde_json::to_string_pretty(&out)?),
        Some(template) => print_template(template, &out, column)?,
    }
    Ok(code)
}

fn rm(ctx: &Engine, args: &RmArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &args.names {
        match ctx.volume_remove(name, args.force) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = code.max(status_of(&e));
            }
        }
    }
    Ok(code)
}

fn prune(ctx: &Engine, args: &PruneArgs) -> anyhow::Result<i32> {
    let filters = filters(&args.filter)?;
    if !args.force
        && !super::confirm("This will remove all volumes not used by at least one container.")?
    {
        return Ok(0);
    }
    for name in ctx.volume_prune(&filters)?.names {
        println!("{name}");
    }
    Ok(0)
}

fn export(ctx: &Engine, args: &ExportArgs) -> anyhow::Result<i32> {
    super::output::refuse_terminal(args.output.as_deref(), "volume export")?;
    let output = args.output.clone();
    ctx.volume_export(
        &args.name,
        Box::new(move |tar| {
            let result =
                ArchiveOut::open(output.as_deref(), "volume export").and_then(|mut out| {
                    std::io::copy(tar, &mut out)?;
                    out.finish()
                });
            result.map_err(|e| std::io::Error::other(format!("{e:#}")))
        }),
    )?;
    Ok(0)
}

fn import(ctx: &Engine, args: &ImportArgs) -> anyhow::Result<i32> {
    let source: burrow::engine::TarSource = if args.source == "-" {
        if std::io::stdin().is_terminal() {
            anyhow::bail!(
                "volume import: standard input is a terminal: give a tar file, or redirect one in (burrow volume import {} - < x.tar)",
                args.name
            );
        }
        Box::new(|out| std::io::copy(&mut std::io::stdin().lock(), out).map(|_| ()))
    } else {
        let mut file = std::fs::File::open(&args.source)
            .map_err(|e| anyhow::anyhow!("volume import: cannot read {}: {e}", args.source))?;
        Box::new(move |out| std::io::copy(&mut file, out).map(|_| ()))
    };
    ctx.volume_import(&args.name, source)?;
    Ok(0)
}
