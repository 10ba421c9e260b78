//! What a running container uses, as counters read at one moment: CPU
//! time, memory, network and block I/O, tasks. From the container's own
//! cgroup v2 when it has one (a cgroup whose processes are all the
//! container's); otherwise summed over its processes from /proc, which
//! works on cgroup v1 and hybrid hosts, where Podman refuses. Rates (CPU %)
//! come from two readings: see [`crate::engine::stats`].

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::procs::container_pids;

/// Where the numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The container's own cgroup v2 directory.
    Cgroup,
    /// Its processes' /proc entries, summed.
    Proc,
}

/// Counters of one container at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// CPU time used so far, in nanoseconds (with /proc: the live
    /// processes' and the children they reaped).
    pub cpu_ns: u64,
    /// Memory in use: the cgroup's less its inactive file cache (as
    /// Docker), or the processes' proportional set size.
    pub memory: u64,
    /// The cgroup's memory limit, if it has one.
    pub memory_limit: Option<u64>,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    /// Tasks (threads), as pids.current counts them.
    pub pids: u64,
    pub source: Source,
}

/// The /proc fields of one process that stats sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcUsage {
    /// utime + stime + cutime + cstime, in clock ticks.
    pub cpu_ticks: u64,
    pub threads: u64,
}

/// utime, stime, cutime, cstime and num_threads of /proc/PID/stat
/// (counted from the last `)`: the name may hold anything).
pub fn parse_stat_usage(text: &str) -> Option<ProcUsage> {
    let close = text.rfind(')')?;
    let f: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // f[0] is field 3; field N is f[N - 3].
    let num =
        |n: usize| -> Option<u64> { f.get(n - 3)?.parse::<i64>().ok().map(|v| v.max(0) as u64) };
    Some(ProcUsage {
        cpu_ticks: num(14)? + num(15)? + num(16)? + num(17)?,
        threads: num(20)?,
    })
}

/// `Pss:` of /proc/PID/smaps_rollup, else `Rss:` (kB lines), in bytes.
pub fn parse_smaps_rollup(text: &str) -> Option<u64> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    field("Pss:").or_else(|| field("Rss:")).map(|kb| kb * 1024)
}

/// `VmRSS:` of /proc/PID/status, in bytes (where smaps_rollup is missing).
pub fn parse_status_rss(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// `read_bytes` and `write_bytes` of /proc/PID/io (what reached storage).
pub fn parse_io(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("read_bytes:"), field("write_bytes:"))
}

/// Received and sent bytes of /proc/PID/net/dev, every interface but the
/// loopback (as Docker counts the container's interfaces).
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut rx = 0;
    let mut tx = 0;
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// The cgroup v2 path of /proc/PID/cgroup (`0::/path`).
pub fn parse_cgroup_v2_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// `KEY VALUE` lines (cpu.stat, memory.stat): the value of `key`.
fn flat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// io.stat: rbytes and wbytes summed over devices.
pub fn parse_io_stat(text: &str) -> (u64, u64) {
    let mut read = 0;
    let mut write = 0;
    for word in text.split_whitespace() {
        if let Some(v) = word.strip_prefix("rbytes=") {
            read += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = word.strip_prefix("wbytes=") {
            write += v.parse::<u64>().unwrap_or(0);
        }
    }
    (read, write)
}

/// The host's memory (`MemTotal` of /proc/meminfo), in bytes: the limit
/// Docker shows for a container without one.
pub fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// The container's own cgroup v2 directory: pid 1's cgroup on a unified
/// hierarchy, when every process in it is one of the container's (a
/// cgroup shared with the monitor or the user's session would count
/// theirs too).
fn own_cgroup(pid1: i32, pids: &[i32]) -> Option<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("cgroup.controllers").exists() {
        return None; // v1 or hybrid: the v2 tree there has no controllers
    }
    let rel = parse_cgroup_v2_path(&fs::read_to_string(format!("/proc/{pid1}/cgroup")).ok()?)?;
    let dir = root.join(rel.trim_start_matches('/'));
    let procs = fs::read_to_string(dir.join("cgroup.procs")).ok()?;
    let members: Vec<i32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
    (!members.is_empty() && members.iter().all(|p| pids.contains(p))).then_some(dir)
}

fn from_cgroup(dir: &Path) -> Option<Usage> {
    let read = |name: &str| fs::read_to_string(dir.join(name)).ok();
    let cpu_us = flat_value(&read("cpu.stat")?, "usage_usec")?;
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    let inactive = read("memory.stat")
        .and_then(|s| flat_value(&s, "inactive_file"))
        .unwrap_or(0);
    let limit = read("memory.max").and_then(|m| m.trim().parse::<u64>().ok());
    let (block_read, block_write) = read("io.stat").map_or((0, 0), |s| parse_io_stat(&s));
    let pids = read("pids.current")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Some(Usage {
        cpu_ns: cpu_us * 1000,
        memory: current.saturating_sub(inactive),
        memory_limit: limit,
        net_rx: 0,
        net_tx: 0,
        block_read,
        block_write,
        pids,
        source: Source::Cgroup,
    })
}

fn from_proc(pids: &[i32]) -> Usage {
    let mut ticks = 0;
    let mut threads = 0;
    let mut memory = 0;
    let mut block_read = 0;
    let mut block_write = 0;
    for pid in pids {
        let dir = format!("/proc/{pid}");
        // A process gone meanwhile counts for nothing.
        let Some(stat) = fs::read_to_string(format!("{dir}/stat"))
            .ok()
            .and_then(|s| parse_stat_usage(&s))
        else {
            continue;
        };
        ticks += stat.cpu_ticks;
        threads += stat.threads;
        memory += fs::read_to_string(format!("{dir}/smaps_rollup"))
            .ok()
            .and_then(|s| parse_smaps_rollup(&s))
            .or_else(|| {
                fs::read_to_string(format!("{dir}/status"))
                    .ok()
                    .and_then(|s| parse_status_rss(&s))
            })
            .unwrap_or(0);
        if let Ok(io) = fs::read_to_string(format!("{dir}/io")) {
            let (r, w) = parse_io(&io);
            block_read += r;
            block_write += w;
        }
    }
    Usage {
        cpu_ns: ticks * (1_000_000_000 / clock_ticks_per_second()),
        memory,
        memory_limit: None,
        net_rx: 0,
        net_tx: 0,
        block_read,
        block_write,
        pids: threads,
        source: Source::Proc,
    }
}

/// The bytes through the container's network namespace: none when it
/// shares the host's (Docker shows 0B for `--network host`).
fn network(pid1: i32) -> (u64, u64) {
    let ns = |p: &str| fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    if ns(&format!("/proc/{pid1}/ns/net")).is_none_or(|n| Some(n) == ns("/proc/self/ns/net")) {
        return (0, 0);
    }
    fs::read_to_string(format!("/proc/{pid1}/net/dev")).map_or((0, 0), |t| parse_net_dev(&t))
}

/// What the container whose pid 1 is `pid1` on the host uses now.
pub fn read(pid1: i32) -> io::Result<Usage> {
    let pids = container_pids(pid1)?;
    if pids.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the container has no processes",
        ));
    }
    let mut usage = own_cgroup(pid1, &pids)
        .and_then(|dir| from_cgroup(&dir))
        .unwrap_or_else(|| from_proc(&pids));
    (usage.net_rx, usage.net_tx) = network(pid1);
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime prio nice threads ...
        let line = "42 (a (b) c) R 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 4 0 123 0 0";
        let u = parse_stat_usage(line).unwrap();
        assert_eq!(u.cpu_ticks, 250 + 50 + 7 + 3);
        assert_eq!(u.threads, 4);
        assert!(parse_stat_usage("42 (x) R 1").is_none());
    }

    #[test]
    fn memory_is_pss_else_rss() {
        let rollup = "55d000-7ffd000 ---p 00000000 00:00 0  [rollup]\nRss:                1000 kB\nPss:                 400 kB\n";
        assert_eq!(parse_smaps_rollup(rollup), Some(400 * 1024));
        assert_eq!(
            parse_smaps_rollup("Rss:  8 kB\n"),
            Some(8 * 1024),
            "no Pss line: Rss"
        );
        assert_eq!(
            parse_status_rss("Name: sh\nVmRSS:\t  1234 kB\n"),
            Some(1234 * 1024)
        );
    }

    #[test]
    fn io_and_net_counters() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io), (4096, 8192));
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:  999  9 0 0 0 0 0 0  999 9 0 0 0 0 0 0\n  eth0: 1500  10 0 0 0 0 0 0  700 5 0 0 0 0 0 0\n  tap0: 100  1 0 0 0 0 0 0  50 1 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(dev), (1600, 750));
    }

    #[test]
    fn cgroup_v2_files() {
        assert_eq!(
            parse_cgroup_v2_path("1:cpu:/\n0::/user.slice/ctr\n").as_deref(),
            Some("/user.slice/ctr")
        );
        assert_eq!(parse_cgroup_v2_path("4:memory:/x\n"), None);
        assert_eq!(
            flat_value("usage_usec 1500\nuser_usec 1000\n", "usage_usec"),
            Some(1500)
        );
        assert_eq!(
            parse_io_stat("8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n"),
            (101, 202)
        );
    }

    #[test]
    fn this_process_reads_as_a_container_of_its_own_pid_namespace() {
        // The test runs in the host's pid namespace: every visible process
        // is "in" it, so the sum is at least this process's own.
        let me = std::process::id() as i32;
        let u = read(me).unwrap();
        assert!(u.pids >= 1 && u.memory > 0, "{u:?}");
        assert!(host_memory() > 0);
    }
}
