//! `burrow logs`: what a detached container wrote.

use std::io::Write;
use std::time::Duration;

use burrow::runtime::ContainerStore;
use burrow::runtime::logs::{LogFollower, LogLine, Stream};
use chrono::{DateTime, Utc};
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits
    #[arg(short, long)]
    pub follow: bool,
    /// Show only the last N lines
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Prefix each line with its time (RFC 3339)
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines written at or after this time (RFC 3339, or a duration such as 10m, 2h, 30s ago)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only lines written before this time (RFC 3339, or a duration ago)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// RFC 3339, or `N[smhd]` meaning that long ago, as Docker takes them.
fn parse_time(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = s.split_at(s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
    let n: i64 = num.parse().map_err(|_| {
        anyhow::anyhow!(
            "invalid time {s:?}: use RFC 3339 (2026-01-02T15:04:05Z) or a duration such as 10m"
        )
    })?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => anyhow::bail!("invalid duration unit in {s:?}: use s, m, h or d"),
    };
    Ok(now - chrono::Duration::seconds(secs))
}

pub fn run(ctx: &Engine, args: &LogsArgs) -> anyhow::Result<i32> {
    let now = Utc::now();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let c = match containers.find(&args.container) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return Ok(super::EXIT_ENGINE);
        }
    };
    if let Ok(spec) = containers.load_spec(&c.id)
        && !spec.log_driver.logs()
    {
        eprintln!(
            "Error: container {} uses the '{}' log driver: it keeps no log to read",
            c.name,
            spec.log_driver.name()
        );
        return Ok(super::EXIT_ENGINE);
    }
    let path = containers.dir_of(&c.id).join("ctr.log");
    let keep = |l: &LogLine| since.is_none_or(|t| l.time >= t) && until.is_none_or(|t| l.time < t);
    // The follower reads the current log to its end (the rotated one
    // first) and then whatever is appended, across rotations.
    let (mut follower, mut all) = LogFollower::from_start(&path)?;
    all.extend(follower.read_new()?);
    let mut lines: Vec<LogLine> = all.into_iter().filter(|l| keep(l)).collect();
    if let Some(n) = args.tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    print_lines(&lines, args.timestamps)?;
    if !args.follow {
        return Ok(0);
    }
    loop {
        // Read the state before the log: output written before the exit
        // is then never missed.
        let running = containers
            .find(&c.id)
            .map(|r| r.current_status().is_live())
            .unwrap_or(false);
        let new: Vec<LogLine> = follower
            .read_new()?
            .into_iter()
            .filter(|l| keep(l))
            .collect();
        print_lines(&new, args.timestamps)?;
        if !running || until.is_some_and(|t| Utc::now() >= t) {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print_lines(lines: &[LogLine], timestamps: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for l in lines {
        let w: &mut dyn Write = match l.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        if timestamps {
            write!(
                w,
                "{} ",
                l.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            )?;
        }
        w.write_all(l.text.as_bytes())?;
        w.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_docker_takes_them() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("10m", now).unwrap().to_rfc3339(),
            "2026-01-02T09:50:00+00:00"
        );
        assert_eq!(
            parse_time("2026-01-01T00:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(parse_time("soon", now).is_err());
        assert!(parse_time("5y", now).is_err());
    }
}
