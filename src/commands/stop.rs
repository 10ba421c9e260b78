//! `burrow stop`, `burrow kill` and `burrow wait`.

use std::time::{Duration, Instant};

use burrow::runtime::process::signal_container;
use burrow::runtime::{ContainerRecord, ContainerStore, Status};
use clap::Args;

use super::Ctx;

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u64>,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGTERM, USR1, ...) or a number
    #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
    pub signal: String,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

fn parse_signal(s: &str) -> anyhow::Result<i32> {
    Ok(burrow::runtime::lifecycle::parse_signal(s)?)
}

fn lookup(containers: &ContainerStore, q: &str, code: &mut i32) -> Option<ContainerRecord> {
    match containers.find(q) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("Error: {e}");
            *code = (*code).max(125);
            None
        }
    }
}

fn running_monitor(c: &ContainerRecord) -> Option<i32> {
    c.current_status()
        .is_live()
        .then(|| c.monitor.as_ref().map(|m| m.pid))
        .flatten()
}

/// Wait until the container is no longer running; false on timeout.
fn wait_stopped(containers: &ContainerStore, id: &str, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        match containers.find(id) {
            Ok(c) if c.current_status().is_live() => {}
            _ => return true,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stop(ctx: &Ctx, args: &StopArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let mut code = 0;
    for q in &args.containers {
        let Some(c) = lookup(&containers, q, &mut code) else {
            continue;
        };
        stop_container(&containers, &c, args.time);
        println!("{q}");
    }
    Ok(code)
}

/// Stop a container: its stop signal (the image's StopSignal, else
/// SIGTERM), then SIGKILL after `time` seconds (else its --stop-timeout,
/// else 10). Stopping a stopped container is no error, as in Docker; no
/// restart policy brings it back.
pub fn stop_container(containers: &ContainerStore, c: &ContainerRecord, time: Option<u64>) {
    let _ = containers.modify(&c.id, |r| r.stopped_by_user = true);
    // A paused container's processes would not see the signal until
    // continued: continue them first, as Docker does.
    if let (Status::Paused, Some(pid1)) = (c.current_status(), c.pid) {
        let _ = burrow::runtime::lifecycle::set_paused(containers, &c.id, pid1, false);
    }
    if let Some(pid) = running_monitor(c) {
        let time = time.unwrap_or_else(|| u64::from(c.stop_timeout.unwrap_or(10)));
        let _ = signal_container(pid, c.stop_signal.unwrap_or(libc::SIGTERM));
        if !wait_stopped(containers, &c.id, Some(Duration::from_secs(time))) {
            let _ = signal_container(pid, libc::SIGKILL);
            wait_stopped(containers, &c.id, Some(Duration::from_secs(10)));
        }
    }
}

pub fn kill(ctx: &Ctx, args: &KillArgs) -> anyhow::Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let mut code = 0;
    for q in &args.containers {
        let Some(c) = lookup(&containers, q, &mut code) else {
            continue;
        };
        // Unlike stop, kill leaves the restart policy in force (as Podman).
        match running_monitor(&c) {
            Some(pid) => match signal_container(pid, signal) {
                Ok(()) => println!("{q}"),
                Err(e) => {
                    eprintln!("Error: signalling container {q}: {e}");
                    code = code.max(125);
                }
            },
            None => {
                eprintln!("Error: container {q} is not running");
                code = code.max(125);
            }
        }
    }
    Ok(code)
}

pub fn wait(ctx: &Ctx, args: &WaitArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let mut code = 0;
    for q in &args.containers {
        let Some(c) = lookup(&containers, q, &mut code) else {
            continue;
        };
        wait_stopped(&containers, &c.id, None);
        // -1, as Podman prints, when the end was never recorded.
        let exit = containers
            .find(&c.id)
            .ok()
            .and_then(|c| c.exit_code)
            .unwrap_or(-1);
        println!("{exit}");
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("USR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse_signal("2").unwrap(), 2);
        assert!(
            parse_signal("NOPE")
                .unwrap_err()
                .to_string()
                .contains("invalid signal")
        );
        assert!(parse_signal("64").is_err());
    }
}
