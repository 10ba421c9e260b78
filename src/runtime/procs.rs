//! The processes of a running container, found in /proc: every process in
//! the pid namespace of the container's pid 1 (those `exec` added too).
//! The user owns the container's user namespace, which gives them ptrace
//! read access and the right to signal its processes from outside: `top`,
//! `pause` and `unpause` need no help from the monitor.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One process, as `top` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Pid on the host.
    pub host_pid: i32,
    /// Pid inside the container.
    pub pid: i32,
    /// Parent's pid inside the container (0 when the parent is outside).
    pub ppid: i32,
    /// Real uid and gid inside the container.
    pub uid: u32,
    pub gid: u32,
    /// Controlling terminal (device number; 0 for none).
    pub tty_nr: u64,
    /// Start, in clock ticks after boot.
    pub start_ticks: u64,
    /// User plus system time, in clock ticks.
    pub cpu_ticks: u64,
    pub comm: String,
    /// The command line (the name in brackets for a kernel-made process).
    pub args: String,
}

/// The fields of /proc/PID/stat after the command name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    pub tty_nr: u64,
    pub cpu_ticks: u64,
    pub start_ticks: u64,
}

/// Parse /proc/PID/stat. The command name sits in parentheses and may hold
/// spaces and parentheses itself, so the fields are counted from the last
/// `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let f: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    Some(Stat {
        comm,
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        tty_nr: num(7)?,
        cpu_ticks: num(14)? + num(15)?,
        start_ticks: num(22)?,
    })
}

/// `NSpid` (innermost last), real `Uid` and `Gid` of /proc/PID/status.
pub fn parse_status(text: &str) -> Option<(Vec<i32>, u32, u32)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let nspid = field("NSpid:")?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let first = |s: &str| s.split_whitespace().next()?.parse().ok();
    Some((nspid, first(field("Uid:")?)?, first(field("Gid:")?)?))
}

/// Map an id as seen on the host to the id inside, with the lines of a
/// process's uid_map or gid_map read from outside (`inside outside count`).
pub fn id_inside(map: &str, host: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let mut it = l.split_whitespace().map(|x| x.parse::<u64>().ok());
        let (inside, outside, count) = (it.next()??, it.next()??, it.next()??);
        let host = u64::from(host);
        (host >= outside && host < outside + count).then(|| (inside + host - outside) as u32)
    })
}

fn pid_ns(pid: i32) -> io::Result<(u64, u64)> {
    let m = fs::metadata(format!("/proc/{pid}/ns/pid"))?;
    Ok((m.dev(), m.ino()))
}

/// The host pids in the pid namespace of `pid1` (the container's pid 1).
pub fn container_pids(pid1: i32) -> io::Result<Vec<i32>> {
    let ns = pid_ns(pid1)?;
    let mut out = Vec::new();
    for e in fs::read_dir("/proc")? {
        let Ok(e) = e else { continue };
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        // Processes that are gone, or not ours to look at, are not in it.
        if pid_ns(pid).is_ok_and(|n| n == ns) {
            out.push(pid);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// What `top` shows of the processes of the container whose pid 1 is
/// `pid1` on the host.
pub fn container_processes(pid1: i32) -> io::Result<Vec<ProcInfo>> {
    let uid_map = fs::read_to_string(format!("/proc/{pid1}/uid_map")).unwrap_or_default();
    let gid_map = fs::read_to_string(format!("/proc/{pid1}/gid_map")).unwrap_or_default();
    let mut raw = Vec::new();
    for host_pid in container_pids(pid1)? {
        let dir = format!("/proc/{host_pid}");
        let (Ok(stat), Ok(status)) = (
            fs::read_to_string(format!("{dir}/stat")),
            fs::read_to_string(format!("{dir}/status")),
        ) else {
            continue; // gone meanwhile
        };
        let (Some(stat), Some((nspid, uid, gid))) = (parse_stat(&stat), parse_status(&status))
        else {
            continue;
        };
        let cmdline = fs::read(format!("{dir}/cmdline")).unwrap_or_default();
        let args = if cmdline.is_empty() {
            format!("[{}]", stat.comm)
        } else {
            String::from_utf8_lossy(&cmdline)
                .trim_end_matches('\0')
                .replace('\0', " ")
        };
        raw.push((host_pid, nspid, uid, gid, stat, args));
    }
    let inside_of = |host: i32| -> i32 {
        raw.iter()
            .find(|r| r.0 == host)
            .and_then(|r| r.1.last().copied())
            .unwrap_or(0)
    };
    Ok(raw
        .iter()
        .map(|(host_pid, nspid, uid, gid, stat, args)| ProcInfo {
            host_pid: *host_pid,
            pid: nspid.last().copied().unwrap_or(*host_pid),
            ppid: inside_of(stat.ppid),
            uid: id_inside(&uid_map, *uid).unwrap_or(*uid),
            gid: id_inside(&gid_map, *gid).unwrap_or(*gid),
            tty_nr: stat.tty_nr,
            start_ticks: stat.start_ticks,
            cpu_ticks: stat.cpu_ticks,
            comm: stat.comm.clone(),
            args: args.clone(),
        })
        .collect())
}

/// Send `signal` to every process of the container, again until no new
/// one appears (a process forked meanwhile is caught by the next round).
/// Returns how many were signalled.
pub fn signal_all(pid1: i32, signal: nix::sys::signal::Signal) -> io::Result<usize> {
    let mut done: Vec<i32> = Vec::new();
    loop {
        let pids = container_pids(pid1)?;
        let new: Vec<i32> = pids.into_iter().filter(|p| !done.contains(p)).collect();
        if new.is_empty() {
            return Ok(done.len());
        }
        for p in new {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => done.push(p),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A terminal's name from its device number, as ps shows it ("?" for none).
pub fn tty_name(tty_nr: u64) -> String {
    let major = ((tty_nr >> 8) & 0xfff) as u32;
    let minor = ((tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00)) as u32;
    match major {
        0 => "?".to_string(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        _ => format!("{major}:{minor}"),
    }
}

/// User names from an /etc/passwd (or group names from an /etc/group).
pub fn names_by_id(file: &Path) -> Vec<(u32, String)> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.to_string();
            let id = f.nth(1)?.parse().ok()?;
            Some((id, name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parentheses_in_the_name() {
        let text = "8815 (my (odd) prog) S 8800 8815 8815 34816 8815 4194560 100 0 0 0 \
                    7 3 0 0 20 0 1 0 123456 2285568 200 18446744073709551615 1 1 0 0 0 0 0 \
                    0 0 0 0 0 17 1 0 0 0 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "my (odd) prog");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 8800);
        assert_eq!(s.tty_nr, 34816);
        assert_eq!(s.cpu_ticks, 10);
        assert_eq!(s.start_ticks, 123456);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn status_ids_and_maps() {
        let text = "Name:\tsleep\nUid:\t100999\t100999\t100999\t100999\n\
                    Gid:\t100999\t100999\t100999\t100999\nNSpid:\t8880\t12\n";
        assert_eq!(parse_status(text), Some((vec![8880, 12], 100999, 100999)));
        let map = "         0       1001          1\n         1     100000      65536\n";
        assert_eq!(id_inside(map, 1001), Some(0));
        assert_eq!(id_inside(map, 100999), Some(1000));
        assert_eq!(id_inside(map, 100000), Some(1));
        assert_eq!(id_inside(map, 5), None);
    }

    #[test]
    fn terminal_names() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name(34817), "pts/1");
        assert_eq!(tty_name(1025), "tty1");
    }

    #[test]
    fn this_process_is_found_in_its_own_pid_namespace() {
        let me = std::process::id() as i32;
        let pids = container_pids(me).unwrap();
        assert!(pids.contains(&me));
        let procs = container_processes(me).unwrap();
        let mine = procs.iter().find(|p| p.host_pid == me).unwrap();
        assert!(mine.args.contains("burrow") || !mine.args.is_empty());
    }
}
