//! `burrow stats`: what containers use, in Docker's columns, once
//! (`--no-stream`) or redrawn every `--interval` seconds.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use burrow::engine::Engine;
use burrow::engine::stats::{ContainerStats, StatsSampler};
use clap::Args;
use serde_json::{Value, json};

use super::format::{print_table, print_template};

#[derive(Debug, Args)]
#[command(
    after_help = "Read from the container's own cgroup v2 when it has one, else summed \
                  over its processes from /proc (CPU time, proportional set size, \
                  /proc/PID/io, the container's /proc/net/dev): this works on cgroup v1 and \
                  hybrid hosts too. MEM LIMIT is the cgroup's, else the host's memory. CPU % \
                  is CPU time over wall time between two readings (above 100 % on several \
                  cores). Template fields: .ID, .Container, .Name, .CPUPerc, .MemUsage, \
                  .MemPerc, .NetIO, .BlockIO, .PIDs."
)]
pub struct StatsArgs {
    /// Show every container (default: running ones)
    #[arg(short, long)]
    pub all: bool,
    /// Print one reading and exit (two readings a second apart, for CPU %)
    #[arg(long)]
    pub no_stream: bool,
    /// Show full container IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: json, or a Go template such as '{{.Name}} {{.CPUPerc}}' (or 'table ...')
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Seconds between readings when streaming
    #[arg(short, long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Containers: names, IDs or unique ID prefixes (default: every running one)
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const HEADERS: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

/// Go's `%.{precision}g` of `v`, trailing zeros dropped.
fn significant(v: f64, precision: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i64 + 1;
    let decimals = (precision as i64 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Sizes in `base` steps with `units`, `precision` significant digits, as
/// Docker's go-units prints them.
fn sized(bytes: u64, base: f64, units: &[&str], precision: usize) -> String {
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", significant(v, precision), units[i])
}

/// Memory, in binary units ("1.5MiB"), as Docker's BytesSize.
fn binary_size(bytes: u64) -> String {
    sized(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// I/O, in decimal units ("1.23kB"), as Docker's HumanSizeWithPrecision.
fn decimal_size(bytes: u64) -> String {
    sized(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

fn fields(s: &ContainerStats, no_trunc: bool) -> Value {
    let id = if no_trunc {
        &s.id[..]
    } else {
        &s.id[..12.min(s.id.len())]
    };
    json!({
        "ID": id,
        "Container": id,
        "Name": s.name,
        "CPUPerc": format!("{:.2}%", s.cpu_percent),
        "MemUsage": format!("{} / {}", binary_size(s.memory), binary_size(s.memory_limit)),
        "MemPerc": format!("{:.2}%", s.memory_percent),
        "NetIO": format!("{} / {}", decimal_size(s.net_rx), decimal_size(s.net_tx)),
        "BlockIO": format!("{} / {}", decimal_size(s.block_read), decimal_size(s.block_write)),
        "PIDs": s.pids.to_string(),
        // The numbers behind them.
        "CPU": s.cpu_percent,
        "MemUsageBytes": s.memory,
        "MemLimit": s.memory_limit,
        "NetInput": s.net_rx,
        "NetOutput": s.net_tx,
        "BlockInput": s.block_read,
        "BlockOutput": s.block_write,
        "Running": s.running,
        "Source": s.source,
    })
}

fn column(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" | "Container" => "CONTAINER ID",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        _ => return None,
    })
}

fn print(stats: &[ContainerStats], args: &StatsArgs) -> anyhow::Result<()> {
    let items: Vec<Value> = stats.iter().map(|s| fields(s, args.no_trunc)).collect();
    match args.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&items)?),
        Some(template) => print_template(template, &items, column)?,
        None => {
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|f| {
                    [
                        "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
                    ]
                    .iter()
                    .map(|k| f[k].as_str().unwrap_or("").to_string())
                    .collect()
                })
                .collect();
            print_table(&HEADERS, &rows);
        }
    }
    Ok(())
}

fn read_all(
    ctx: &Engine,
    sampler: &mut StatsSampler,
    args: &StatsArgs,
) -> anyhow::Result<Vec<ContainerStats>> {
    let targets = ctx.stats_targets(&args.containers, args.all)?;
    Ok(targets.iter().map(|c| sampler.read(c)).collect())
}

/// The first CPU % needs a reading before it.
const FIRST_INTERVAL: Duration = Duration::from_secs(1);

pub fn run(ctx: &Engine, args: &StatsArgs) -> anyhow::Result<i32> {
    let mut sampler = ctx.stats_sampler();
    read_all(ctx, &mut sampler, args)?;
    std::thread::sleep(FIRST_INTERVAL);
    let terminal = std::io::stdout().is_terminal();
    loop {
        let stats = read_all(ctx, &mut sampler, args)?;
        if args.no_stream {
            print(&stats, args)?;
            return Ok(0);
        }
        if terminal {
            // Redraw in place, as Docker: clear the screen, cursor home.
            print!("\x1b[2J\x1b[H");
        }
        print(&stats, args)?;
        if !terminal {
            println!();
        }
        std::io::stdout().flush()?;
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1536 * 1024), "1.5MiB");
        assert_eq!(binary_size(8_000_000_000), "7.451GiB");
        assert_eq!(decimal_size(648), "648B");
        assert_eq!(decimal_size(1234), "1.23kB");
        assert_eq!(decimal_size(12_345_678), "12.3MB");
    }
}
