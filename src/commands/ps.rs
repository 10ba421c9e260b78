//! `burrow ps`: list containers, with Docker's and Podman's columns.

use burrow::engine::ContainerFilter;
use burrow::runtime::{ContainerRecord, Status};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{Value, json};

use super::format::{human_size, print_table, print_template, time_ago};
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, not only running ones
    #[arg(short, long)]
    pub all: bool,
    /// Print only container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show only the latest created container (of any status)
    #[arg(short, long)]
    pub latest: bool,
    /// Show the last N created containers (of any status)
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Do not truncate IDs and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: status=created|running|paused|restarting|exited, name=SUBSTRING, id=PREFIX,
    /// ancestor=IMAGE, label=KEY[=VALUE],
    /// exited=CODE, health=starting|healthy|unhealthy|none (repeatable; different keys must all match; status and exited list stopped
    /// containers without -a, the others narrow the running ones unless -a is given)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output format: table, json, a Go template such as '{{.ID}} {{.Names}}', or 'table TEMPLATE'
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Print no header line
    #[arg(long)]
    pub noheading: bool,
    /// Order: created (newest first, the default), id, image, names, runningfor or status
    #[arg(long, value_name = "KEY", default_value = "created",
          value_parser = ["created", "id", "image", "names", "runningfor", "status"])]
    pub sort: String,
    /// Show the bytes each container wrote (SIZE)
    #[arg(short, long)]
    pub size: bool,
}

/// Sort `list` (newest first already) by `key`; the newest first among
/// equals.
fn sort_by(list: &mut [(ContainerRecord, Status)], key: &str) {
    match key {
        "id" => list.sort_by(|a, b| a.0.id.cmp(&b.0.id)),
        "image" => list.sort_by(|a, b| a.0.image.cmp(&b.0.image)),
        "names" => list.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        "status" => list.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str())),
        // created and runningfor: as listed.
        _ => {}
    }
}

pub(super) fn status_text(c: &ContainerRecord, status: Status, now: DateTime<Utc>) -> String {
    let since = |t: Option<DateTime<Utc>>| {
        t.map(|t| time_ago(t, now).trim_end_matches(" ago").to_string())
            .unwrap_or_default()
    };
    match status {
        Status::Created => "Created".to_string(),
        Status::Running => match burrow::runtime::health::current_status(c) {
            Some(h) => format!("Up {} ({})", since(c.started), h.ps_text()),
            None => format!("Up {}", since(c.started)),
        },
        Status::Paused => format!("Up {} (Paused)", since(c.started)),
        Status::Restarting => format!(
            "Restarting ({}) {}",
            c.exit_code.unwrap_or(-1),
            c.finished.map(|f| time_ago(f, now)).unwrap_or_default()
        ),
        Status::Exited => match (c.exit_code, c.finished) {
            (Some(code), Some(f)) => format!("Exited ({code}) {}", time_ago(f, now)),
            // Its monitor died without recording an end.
            _ => "Exited (unknown)".to_string(),
        },
    }
}

/// Docker's PORTS column: `0.0.0.0:8080->80/tcp, ...`.
fn ports_text(c: &ContainerRecord) -> String {
    c.ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn command_text(c: &ContainerRecord, no_trunc: bool) -> String {
    let full = c.command.join(" ");
    if no_trunc || full.chars().count() <= 20 {
        full
    } else {
        format!("{}…", full.chars().take(19).collect::<String>())
    }
}

fn header_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "CONTAINER ID",
        "Image" => "IMAGE",
        "Command" => "COMMAND",
        "RunningFor" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "Status" => "STATUS",
        "State" => "STATE",
        "Ports" => "PORTS",
        "Names" => "NAMES",
        "Networks" => "NETWORKS",
        "ExitCode" => "EXIT CODE",
        _ => return None,
    })
}

pub fn run(ctx: &Engine, args: &PsArgs) -> anyhow::Result<i32> {
    let filters = args
        .filter
        .iter()
        .map(|f| f.parse::<ContainerFilter>())
        .collect::<Result<Vec<_>, _>>()?;
    let containers = ctx.containers()?;
    let last = if args.latest { Some(1) } else { args.last };
    // Filters on exited states ask for containers that are not running;
    // the others narrow what is listed (Docker's rule).
    let show_all = args.all
        || last.is_some()
        || filters
            .iter()
            .any(|f| matches!(f, ContainerFilter::Status(_) | ContainerFilter::Exited(_)));
    // Newest first.
    let mut list = ctx.list(&containers, show_all, &filters)?;
    if let Some(n) = last {
        list.truncate(n);
    }
    sort_by(&mut list, &args.sort);
    if args.noheading {
        super::format::omit_headings();
    }
    let sizes: Vec<Option<u64>> = if args.size {
        let ids: Vec<String> = list.iter().map(|(c, _)| c.id.clone()).collect();
        ctx.container_sizes(&containers, &ids)?
    } else {
        vec![None; list.len()]
    };
    let size_text = |i: usize| sizes[i].map(human_size).unwrap_or_default();
    let id_of = |c: &ContainerRecord| {
        if args.no_trunc {
            c.id.clone()
        } else {
            c.id[..12].to_string()
        }
    };
    if args.quiet {
        for (c, _) in &list {
            println!("{}", id_of(c));
        }
        return Ok(0);
    }
    let now = Utc::now();
    match args.format.as_deref() {
        Some("json") => {
            let out: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(i, (c, s))| {
                    json!({
                        "Size": sizes[i],
                        "Id": c.id,
                        "Names": [c.name],
                        "Image": c.image,
                        "Labels": c.labels,
                        "Ports": c.ports.iter().map(|p| json!({
                            "host_ip": p.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                            "container_port": p.container_port,
                            "host_port": p.host_port,
                            "protocol": p.proto.as_str(),
                        })).collect::<Vec<_>>(),
                        "ImageID": c.image_id.hex(),
                        "Command": c.command,
                        "Created": c.created.timestamp(),
                        "CreatedAt": c.created.to_rfc3339(),
                        "State": s.as_str(),
                        "Status": status_text(c, *s, now),
                        "ExitCode": c.exit_code.unwrap_or(0),
                        "Networks": c.networks.iter().map(|a| a.network.as_str()).collect::<Vec<_>>(),
                        "Exited": *s == Status::Exited,
                        "StartedAt": c.started.map_or(0, |t| t.timestamp()),
                        "ExitedAt": c.finished.map_or(0, |t| t.timestamp()),
                        "Pid": if *s == Status::Running { c.pid.unwrap_or(0) } else { 0 },
                        // burrow's own: the container's monitor process.
                        "MonitorPid": c.monitor.as_ref().filter(|_| *s == Status::Running).map_or(0, |m| m.pid),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Some("table") | None => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .enumerate()
                .map(|(i, (c, s))| {
                    let mut row = vec![
                        id_of(c),
                        c.image.clone(),
                        command_text(c, args.no_trunc),
                        time_ago(c.created, now),
                        status_text(c, *s, now),
                        ports_text(c),
                        c.name.clone(),
                    ];
                    if args.size {
                        row.push(size_text(i));
                    }
                    row
                })
                .collect();
            let mut headers = vec![
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES",
            ];
            if args.size {
                headers.push("SIZE");
            }
            print_table(&headers, &rows);
        }
        Some(template) => {
            let items: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(i, (c, s))| {
                    json!({
                        "Size": size_text(i),
                        "ID": id_of(c),
                        "Image": c.image,
                        "ImageID": c.image_id.hex(),
                        "Command": command_text(c, args.no_trunc),
                        "CreatedAt": c.created.to_rfc3339(),
                        "RunningFor": time_ago(c.created, now),
                        "Status": status_text(c, *s, now),
                        "State": s.as_str(),
                        "Ports": ports_text(c),
                        "Networks": c.networks.iter().map(|a| a.network.as_str()).collect::<Vec<_>>().join(","),
                        "Names": c.name,
                        "ExitCode": c.exit_code.unwrap_or(0),
                    })
                })
                .collect();
            print_template(template, &items, header_of)?;
        }
    }
    Ok(0)
}
