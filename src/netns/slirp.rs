//! slirp4netns, the fallback when pasta is not installed (and with
//! `--network slirp4netns[:OPTIONS]`). The monitor starts it on the
//! container's network namespace (an inherited descriptor, as for pasta)
//! with a ready pipe and an exit pipe (slirp4netns quits when the monitor's
//! end closes, however the monitor ends), then publishes ports through its
//! API socket.

use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ports::PortMapping;

#[derive(Debug, thiserror::Error)]
pub enum SlirpError {
    #[error(
        "neither pasta nor slirp4netns is installed: install the passt package (apt-get install passt), or use --network none or host"
    )]
    Missing,
    #[error(
        "invalid slirp4netns option {0:?}: use mtu=N, cidr=A.B.C.D/N, allow_host_loopback=true|false, enable_ipv6=true|false or outbound_addr=IP"
    )]
    BadOption(String),
    #[error("cannot start slirp4netns: {0}")]
    Spawn(io::Error),
    #[error("slirp4netns failed to set up the container's network: {0}")]
    Failed(String),
    #[error("slirp4netns did not set up the container's network within {0:?}")]
    Timeout(Duration),
    #[error("cannot publish {port} through slirp4netns: {why}")]
    Port { port: String, why: String },
}

/// The network slirp4netns gives the container: the container is `.100`,
/// the gateway (the host) `.2`, the DNS forwarder `.3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlirpConfig {
    pub args: Vec<String>,
    pub network: Ipv4Addr,
}

impl SlirpConfig {
    pub fn gateway(&self) -> Ipv4Addr {
        offset(self.network, 2)
    }
    pub fn dns(&self) -> Ipv4Addr {
        offset(self.network, 3)
    }
}

fn offset(net: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net) + n)
}

/// Podman's `slirp4netns:KEY=VALUE,...` options as slirp4netns arguments.
/// The host's loopback is reachable as the gateway unless
/// `allow_host_loopback=false` (as with pasta's mapping of the gateway).
pub fn config(opts: &[String]) -> Result<SlirpConfig, SlirpError> {
    let mut args = vec!["--mtu=65520".to_string()];
    let mut network = Ipv4Addr::new(10, 0, 2, 0);
    let mut host_loopback = true;
    for o in opts {
        let bad = || SlirpError::BadOption(o.clone());
        let (k, v) = o.split_once('=').ok_or_else(bad)?;
        let flag = |v: &str| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad()),
        };
        match k {
            "mtu" => {
                let m: u32 = v.parse().map_err(|_| bad())?;
                args[0] = format!("--mtu={m}");
            }
            "cidr" => {
                let (ip, len) = v.split_once('/').ok_or_else(bad)?;
                network = ip.parse().map_err(|_| bad())?;
                len.parse::<u8>()
                    .ok()
                    .filter(|l| *l <= 30)
                    .ok_or_else(bad)?;
                args.push(format!("--cidr={v}"));
            }
            "allow_host_loopback" => host_loopback = flag(v)?,
            "enable_ipv6" => {
                if flag(v)? {
                    args.push("--enable-ipv6".into());
                }
            }
            "outbound_addr" => {
                v.parse::<Ipv4Addr>().map_err(|_| bad())?;
                args.push(format!("--outbound-addr={v}"));
            }
            _ => return Err(bad()),
        }
    }
    if !host_loopback {
        args.push("--disable-host-loopback".into());
    }
    Ok(SlirpConfig { args, network })
}

/// A running slirp4netns: the process and the monitor's end of its exit
/// pipe (closing it ends slirp4netns).
pub struct Slirp {
    pub child: Child,
    _exit: OwnedFd,
}

/// Start slirp4netns on the namespace open as `netns` (inherited), with its
/// API socket `api` relative to `dir`, and wait until it has configured the
/// interface.
pub fn start(
    netns: &OwnedFd,
    cfg: &SlirpConfig,
    dir: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<Slirp, SlirpError> {
    let program = crate::userns::find_host_program("slirp4netns").ok_or(SlirpError::Missing)?;
    // Inherited by slirp4netns: not close-on-exec.
    let (ready_r, ready_w) = nix::unistd::pipe().map_err(|e| SlirpError::Spawn(e.into()))?;
    let (exit_r, exit_w) = nix::unistd::pipe().map_err(|e| SlirpError::Spawn(e.into()))?;
    for fd in [&ready_r, &exit_w] {
        nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| SlirpError::Spawn(e.into()))?;
    }
    let logf = std::fs::File::create(log).map_err(SlirpError::Spawn)?;
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .arg("--configure")
        .args(&cfg.args)
        .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
        .arg(format!("--exit-fd={}", exit_r.as_raw_fd()))
        .arg(format!("--api-socket={API_SOCKET}"))
        .arg("--netns-type=path")
        .arg(format!("/proc/self/fd/{}", netns.as_raw_fd()))
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(logf));
    let _ = std::fs::remove_file(dir.join(API_SOCKET));
    let mut child = cmd.spawn().map_err(SlirpError::Spawn)?;
    drop(ready_w);
    drop(exit_r);
    let deadline = Instant::now() + timeout;
    // slirp4netns writes "1" once configured; end of file means it died.
    let mut got = 0;
    while got == 0 && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&ready_r),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {
                let mut byte = [0u8; 1];
                got = match nix::unistd::read(&ready_r, &mut byte) {
                    Ok(1) => 1,
                    _ => 2,
                };
            }
            Err(_) => got = 2,
        }
    }
    if got != 1 {
        let _ = child.kill();
        let _ = child.wait();
        let msg = std::fs::read_to_string(log).unwrap_or_default();
        return Err(if got == 0 {
            SlirpError::Timeout(timeout)
        } else {
            SlirpError::Failed(msg.lines().last().unwrap_or("it exited").to_string())
        });
    }
    Ok(Slirp {
        child,
        _exit: exit_w,
    })
}

/// The API socket's name, in the container's directory.
pub const API_SOCKET: &str = "slirp4netns.sock";

/// Publish `ports` through the API socket in `dir` (reached through
/// /proc/self/fd, so long paths fit).
pub fn publish(dir: &Path, cfg: &SlirpConfig, ports: &[PortMapping]) -> Result<(), SlirpError> {
    if ports.is_empty() {
        return Ok(());
    }
    let d = std::fs::File::open(dir).map_err(SlirpError::Spawn)?;
    let path = format!("/proc/self/fd/{}/{API_SOCKET}", d.as_raw_fd());
    let guest = offset(cfg.network, 100);
    for p in ports {
        let err = |why: String| SlirpError::Port {
            port: p.to_string(),
            why,
        };
        let mut s = UnixStream::connect(&path).map_err(|e| err(e.to_string()))?;
        let req = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": p.proto.as_str(),
                "host_addr": p.host_ip.map_or_else(|| "0.0.0.0".to_string(), |i| i.to_string()),
                "host_port": p.host_port,
                "guest_addr": guest.to_string(),
                "guest_port": p.container_port,
            }
        });
        s.write_all(req.to_string().as_bytes())
            .map_err(|e| err(e.to_string()))?;
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .map_err(|e| err(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&answer)
            .map_err(|_| err(format!("unexpected answer {answer:?}")))?;
        if let Some(e) = v.get("error") {
            return Err(err(e
                .get("desc")
                .and_then(|d| d.as_str())
                .unwrap_or("refused")
                .to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_style_options() {
        let c = config(&[]).unwrap();
        assert_eq!(c.args, ["--mtu=65520"]);
        assert_eq!(c.gateway(), Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(c.dns(), Ipv4Addr::new(10, 0, 2, 3));
        let c = config(&[
            "mtu=1500".into(),
            "cidr=10.5.0.0/24".into(),
            "allow_host_loopback=false".into(),
        ])
        .unwrap();
        assert_eq!(
            c.args,
            [
                "--mtu=1500",
                "--cidr=10.5.0.0/24",
                "--disable-host-loopback"
            ]
        );
        assert_eq!(c.dns(), Ipv4Addr::new(10, 5, 0, 3));
        for bad in [
            "mtu",
            "mtu=x",
            "port_handler=slirp4netns",
            "cidr=10.0.0.0/31",
            "allow_host_loopback=yes",
        ] {
            assert!(config(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
