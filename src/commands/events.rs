//! `burrow events`: what happened to containers, images, networks and
//! volumes, from the events log; new events as they happen.

use std::io::Write;
use std::time::Duration;

use anyhow::anyhow;
use burrow::engine::Engine;
use burrow::events::{ContainerAction, ContainerActor, Event, Filters, parse_time};
use clap::Args;
use serde_json::json;

use super::template::render_template;

#[derive(Debug, Args)]
#[command(
    after_help = "Without --since or --until, only events from now on are shown, until \
                  interrupted. Times: RFC 3339 (2026-12-04T18:00:00Z; without a zone, local \
                  time), Unix seconds (1796407200.5), or a duration before now (10m, 1h30m). \
                  Filters with the same key widen (container=a --filter container=b: either), \
                  different keys narrow (type=container --filter event=die: both)."
)]
pub struct EventsArgs {
    /// Show events logged since TIME
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stop at TIME (events logged until then, and new ones until it comes)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Show only matching events: type=container|image|network|volume, event=ACTION,
    /// container=NAME|ID, image=NAME|ID, volume=NAME, network=NAME|ID, label=KEY[=VALUE]
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output format: json (one object a line, as Docker's events API sends them) or a Go
    /// template ('{{.Type}} {{.Action}} {{.Actor.ID}}')
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Wait for new events (--stream=false: print the logged ones and exit)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub stream: bool,
    /// Show IDs in full (--no-trunc=false: their first 12 characters)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_trunc: bool,
}

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// How each event is printed.
enum Output {
    Text { full_ids: bool },
    Json,
    Template(String),
}

impl Output {
    fn render(&self, e: &Event) -> anyhow::Result<String> {
        Ok(match self {
            Output::Text { full_ids } => e.to_text(*full_ids),
            Output::Json => serde_json::to_string(e)?,
            Output::Template(t) => render_template(t, &template_data(e))?,
        })
    }
}

/// What a template sees: Docker's field names (`.Type`, `.Action`,
/// `.Actor.ID`, `.Actor.Attributes`, `.Time`, `.TimeNano`, `.Status`,
/// `.ID`, `.From`, `.Scope`) and Podman's (`.Name`, `.Image`,
/// `.Attributes`).
fn template_data(e: &Event) -> serde_json::Value {
    let attr = |k: &str| e.actor.attributes.get(k).cloned().unwrap_or_default();
    json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": { "ID": e.actor.id, "Attributes": e.actor.attributes },
        "Scope": e.scope,
        "Time": e.time,
        "TimeNano": e.time_nano,
        "Status": e.action,
        "ID": e.actor.id,
        "From": e.from.clone().unwrap_or_default(),
        "Name": attr("name"),
        "Image": attr("image"),
        "Attributes": e.actor.attributes,
    })
}

pub fn run(ctx: &Engine, args: &EventsArgs) -> anyhow::Result<i32> {
    let started = now();
    let since = args
        .since
        .as_deref()
        .map(|v| parse_time(v, started))
        .transpose()
        .map_err(|e| anyhow!("--since: {e}"))?;
    let until = args
        .until
        .as_deref()
        .map(|v| parse_time(v, started))
        .transpose()
        .map_err(|e| anyhow!("--until: {e}"))?;
    let filters = Filters::parse(&args.filter)?;
    let output = match args.format.as_deref() {
        None | Some("") => Output::Text {
            full_ids: args.no_trunc,
        },
        Some("json") => Output::Json,
        Some(t) => Output::Template(t.to_string()),
    };
    // A template that cannot render fails now, not at the first event.
    output.render(&Event::container(
        ContainerAction::Start,
        &ContainerActor::default(),
    ))?;
    // Docker: with neither time, only what happens from now on.
    let history = since.is_some() || until.is_some() || !args.stream;
    let mut follower = ctx.events().follow(history)?;
    let mut out = std::io::stdout().lock();
    loop {
        for e in follower.poll()? {
            if since.is_some_and(|s| e.time_nano < s)
                || until.is_some_and(|u| e.time_nano > u)
                || !filters.matches(&e)
            {
                continue;
            }
            if writeln!(out, "{}", output.render(&e)?).is_err() {
                // The reader went away (`| head`): done.
                return Ok(0);
            }
        }
        if !args.stream {
            break;
        }
        let wait = match until {
            Some(u) => {
                let left = u.saturating_sub(now());
                if left <= 0 {
                    break;
                }
                Duration::from_nanos(left.unsigned_abs())
            }
            None => Duration::from_secs(1),
        };
        let _ = out.flush();
        follower.wait(wait);
    }
    Ok(0)
}
