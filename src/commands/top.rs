//! `burrow top`, `burrow pause` and `burrow unpause`.

use burrow::runtime::ContainerStore;
use burrow::runtime::procs::{self, ProcInfo};
use clap::Args;

use super::format::print_table;
use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "DESCRIPTORS (Podman's): user, uid, group, gid, pid, ppid, pcpu, etime, \
                        tty, time, args, comm, hpid (the pid on the host). Default: user, pid, \
                        ppid, pcpu, etime, tty, time, args."
)]
pub struct TopArgs {
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Columns to show (comma- or space-separated)
    #[arg(value_name = "DESCRIPTORS")]
    pub descriptors: Vec<String>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Without a delegated cgroup v2 freezer (resource limits are not used yet), \
                  pause stops every process of the container with SIGSTOP and unpause \
                  continues them with SIGCONT; a process may notice (its parent gets SIGCHLD)."
)]
pub struct PauseArgs {
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

const DEFAULT: [&str; 8] = [
    "user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args",
];

fn header(d: &str) -> Option<&'static str> {
    Some(match d {
        "user" => "USER",
        "uid" => "UID",
        "group" => "GROUP",
        "gid" => "GID",
        "pid" => "PID",
        "ppid" => "PPID",
        "pcpu" => "%CPU",
        "etime" => "ELAPSED",
        "tty" => "TTY",
        "time" => "TIME",
        "args" => "COMMAND",
        "comm" => "COMMAND",
        "hpid" => "HPID",
        _ => return None,
    })
}

/// Seconds as Go prints a duration, as Podman's top does: 0s, 1.25s, 2m3.5s.
fn go_duration(secs: f64) -> String {
    let total = (secs * 100.0).round() / 100.0;
    let h = (total / 3600.0).floor();
    let m = ((total - h * 3600.0) / 60.0).floor();
    let s = total - h * 3600.0 - m * 60.0;
    let sec = format!("{s:.2}");
    let sec = sec.trim_end_matches('0').trim_end_matches('.');
    match (h > 0.0, m > 0.0) {
        (true, _) => format!("{h}h{m}m{sec}s"),
        (false, true) => format!("{m}m{sec}s"),
        _ => format!("{sec}s"),
    }
}

pub fn top(ctx: &Engine, args: &TopArgs) -> anyhow::Result<i32> {
    let descriptors: Vec<String> = if args.descriptors.is_empty() {
        DEFAULT.iter().map(|s| s.to_string()).collect()
    } else {
        args.descriptors
            .iter()
            .flat_map(|d| d.split([',', ' ']))
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect()
    };
    for d in &descriptors {
        if header(d).is_none() {
            anyhow::bail!(
                "unknown descriptor {d:?}: use user, uid, group, gid, pid, ppid, pcpu, etime, tty, time, args, comm or hpid"
            );
        }
    }
    let containers = ContainerStore::open(ctx.store()?.root())?;
    let c = containers.find(&args.container)?;
    let procs = ctx.top(&c)?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cell = |p: &ProcInfo, d: &str| -> String {
        let elapsed = (uptime - p.start_ticks as f64 / ticks).max(0.0);
        let cpu = p.cpu_ticks as f64 / ticks;
        match d {
            "user" => procs.user(p.uid),
            "uid" => p.uid.to_string(),
            "group" => procs.group(p.gid),
            "gid" => p.gid.to_string(),
            "pid" => p.pid.to_string(),
            "ppid" => p.ppid.to_string(),
            "pcpu" => format!(
                "{:.3}",
                if elapsed > 0.0 {
                    100.0 * cpu / elapsed
                } else {
                    0.0
                }
            ),
            "etime" => go_duration(elapsed),
            "tty" => procs::tty_name(p.tty_nr),
            "time" => go_duration(cpu),
            "args" => p.args.clone(),
            "comm" => p.comm.clone(),
            "hpid" => p.host_pid.to_string(),
            _ => String::new(),
        }
    };
    let headers: Vec<&str> = descriptors.iter().filter_map(|d| header(d)).collect();
    let rows: Vec<Vec<String>> = procs
        .processes
        .iter()
        .map(|p| descriptors.iter().map(|d| cell(p, d)).collect())
        .collect();
    print_table(&headers, &rows);
    Ok(0)
}

pub fn pause(ctx: &Engine, args: &PauseArgs) -> anyhow::Result<i32> {
    set_paused(ctx, args, true)
}

pub fn unpause(ctx: &Engine, args: &PauseArgs) -> anyhow::Result<i32> {
    set_paused(ctx, args, false)
}

fn set_paused(ctx: &Engine, args: &PauseArgs, pause: bool) -> anyhow::Result<i32> {
    let containers = ContainerStore::open(ctx.store()?.root())?;
    let mut code = 0;
    for q in &args.containers {
        let result = if pause {
            ctx.pause(&containers, q)
        } else {
            ctx.unpause(&containers, q)
        };
        match result {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("Error: {:#}", anyhow::Error::from(e));
                code = super::EXIT_ENGINE;
            }
        }
    }
    Ok(code)
}
