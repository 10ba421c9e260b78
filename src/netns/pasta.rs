//! Driving pasta (package passt) for one container, as Podman 5 does: the
//! monitor starts `pasta --config-net --netns /proc/self/fd/N` in the
//! foreground as its child, N being the container's network namespace,
//! inherited. pasta
//! gives the namespace an interface with the host's address and default
//! route, forwards published ports from the host, answers DNS queries sent
//! to [`DNS_FORWARD`] with the host's resolver, and maps the gateway address
//! to the host's loopback (`host.containers.internal`).
//!
//! Checked against the pasta in Debian 12 (2023-03): `--netns PATH` with
//! `-f` (a `/proc/PID/ns/net` path needs ptrace rights pasta drops, and a
//! file in the store may sit below a directory only the user may search),
//! `-t`/`-u` with `ADDR/PORT:PORT`, `-T`/`-U none`, `--dns-forward`. That
//! pasta loses UDP replies to clients on the host's 127.0.0.1.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ports::{PortMapping, Proto, pasta_specs};

/// The address in the container whose DNS queries pasta forwards to the
/// host's resolver (Podman's choice).
pub const DNS_FORWARD: &str = "169.254.1.1";

#[derive(Debug, thiserror::Error)]
pub enum PastaError {
    #[error(
        "pasta is not installed: install the passt package (apt-get install passt), or use --network none or host"
    )]
    Missing,
    #[error("cannot start pasta: {0}")]
    Spawn(io::Error),
    #[error("pasta failed to set up the container's network: {0}")]
    Failed(String),
    #[error("pasta did not set up the container's network within {0:?}")]
    Timeout(Duration),
}

/// pasta's arguments for a container.
pub fn args(netns: &Path, ports: &[PortMapping], extra: &[String]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--config-net".into(),
        "-f".into(),
        "-q".into(),
        "--netns".into(),
        netns.display().to_string(),
        "-t".into(),
        pasta_specs(ports, Proto::Tcp),
        "-u".into(),
        pasta_specs(ports, Proto::Udp),
        "-T".into(),
        "none".into(),
        "-U".into(),
        "none".into(),
        "--dns-forward".into(),
        DNS_FORWARD.into(),
    ];
    a.extend(extra.iter().cloned());
    a
}

/// Start pasta on the namespace bound at `netns`, its messages going to
/// `log`.
pub fn spawn(
    netns: &Path,
    ports: &[PortMapping],
    extra: &[String],
    log: &Path,
) -> Result<Child, PastaError> {
    let program = crate::userns::find_host_program("pasta").ok_or(PastaError::Missing)?;
    let log = fs::File::create(log).map_err(PastaError::Spawn)?;
    let mut cmd = Command::new(program);
    cmd.args(args(netns, ports, extra))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    // pasta outlives a namespace given by path; it must not outlive the
    // monitor either (`rm -f` kills the monitor, not pasta).
    // SAFETY: prctl(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(PastaError::Spawn)
}

/// Whether the routing table of `pid`'s network namespace (as
/// /proc/PID/net/route and ipv6_route show it) has a default route: the
/// last thing `--config-net` sets up.
fn has_default_route(pid: i32) -> bool {
    let v4 = fs::read_to_string(format!("/proc/{pid}/net/route")).unwrap_or_default();
    if v4
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
    {
        return true;
    }
    let v6 = fs::read_to_string(format!("/proc/{pid}/net/ipv6_route")).unwrap_or_default();
    v6.lines().any(|l| {
        let mut f = l.split_whitespace();
        f.next() == Some("00000000000000000000000000000000")
            && f.next() == Some("00")
            && l.split_whitespace().last() != Some("lo")
    })
}

/// Wait until pasta has configured the namespace of `pid`, or failed.
/// Packets sent before pasta's own loop runs wait in the tap queue, so a
/// configured route is enough for the container to start.
pub fn wait_ready(
    child: &mut Child,
    pid: i32,
    log: &Path,
    timeout: Duration,
) -> Result<(), PastaError> {
    let deadline = Instant::now() + timeout;
    loop {
        if has_default_route(pid) {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let msg = fs::read_to_string(log).unwrap_or_default();
            let msg: Vec<&str> = msg
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with("Failed to send"))
                .collect();
            return Err(PastaError::Failed(if msg.is_empty() {
                format!("it exited with {status}")
            } else {
                msg.join("; ")
            }));
        }
        if Instant::now() >= deadline {
            return Err(PastaError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// The host's IPv4 default gateway: pasta gives the container the same, and
/// maps it to the host's loopback.
pub fn host_gateway() -> Option<Ipv4Addr> {
    gateway_from(&fs::read_to_string("/proc/net/route").ok()?)
}

fn gateway_from(route: &str) -> Option<Ipv4Addr> {
    route.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&"00000000") {
            return None;
        }
        let g = u32::from_str_radix(f.get(2)?, 16).ok()?;
        // /proc shows the address in host byte order of a little-endian u32.
        Some(Ipv4Addr::from(g.to_le_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_from_the_routing_table() {
        let t = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(gateway_from(t), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(gateway_from("Iface\n"), None);
    }

    #[test]
    fn arguments_for_this_pasta() {
        let ports = super::super::ports::parse_publish("127.0.0.1:8080:80").unwrap();
        let a = args(
            Path::new("/c/netns"),
            &ports,
            &["--mtu".into(), "1500".into()],
        );
        let s = a.join(" ");
        assert!(s.starts_with("--config-net -f -q --netns /c/netns -t 127.0.0.1/8080:80 -u none -T none -U none --dns-forward 169.254.1.1"), "{s}");
        assert!(s.ends_with("--mtu 1500"));
    }
}
