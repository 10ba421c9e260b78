//! Published ports (`-p`, `-P`): Docker's syntax, the checks made before a
//! container starts, and how they are shown (`port`, the PORTS column).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: `host_ip:host_port` on the host reaches
/// `container_port` in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// None: every address of the host.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortMapping {
    /// Docker's PORTS form: `0.0.0.0:8080->80/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}->{}/{}",
            self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error(
        "invalid port mapping {0:?}: use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp], e.g. 8080:80 or 127.0.0.1:8080:80/udp"
    )]
    Syntax(String),
    #[error("invalid port mapping {spec:?}: {why}")]
    Bad { spec: String, why: String },
    #[error("port {port}/{proto} on {ip} is already in use: choose another host port with -p")]
    InUse {
        ip: IpAddr,
        port: u16,
        proto: &'static str,
    },
    #[error("cannot find a free host port for {0}: {1}")]
    NoFree(String, String),
}

fn range(s: &str, spec: &str) -> Result<(u16, u16), PortError> {
    let bad = |why: &str| PortError::Bad {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let num = |p: &str| -> Result<u16, PortError> {
        match p.parse::<u16>() {
            Ok(0) => Err(bad("port 0 is not a port")),
            Ok(n) => Ok(n),
            Err(_) => Err(bad(&format!("{p:?} is not a port number (1-65535)"))),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad("a range goes from low to high"));
            }
            Ok((a, b))
        }
        None => {
            let n = num(s)?;
            Ok((n, n))
        }
    }
}

/// Parse one `-p` value. A missing host port is 0 (a free one is chosen
/// when the container is created, see [`assign_free_ports`]).
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PortError> {
    let (addr_ports, proto) = match spec.rsplit_once('/') {
        Some((rest, "tcp")) => (rest, Proto::Tcp),
        Some((rest, "udp")) => (rest, Proto::Udp),
        Some((_, p)) => {
            return Err(PortError::Bad {
                spec: spec.to_string(),
                why: format!("unknown protocol {p:?}: use tcp or udp"),
            });
        }
        None => (spec, Proto::Tcp),
    };
    // An IPv6 host address comes in brackets: [::1]:8080:80.
    let (ip, rest) = if let Some(inner) = addr_ports.strip_prefix('[') {
        let (ip, rest) = inner
            .split_once("]:")
            .ok_or_else(|| PortError::Syntax(spec.to_string()))?;
        (Some(ip), rest)
    } else {
        let parts: Vec<&str> = addr_ports.split(':').collect();
        match parts.len() {
            1 | 2 => (None, addr_ports),
            3 => (Some(parts[0]), &addr_ports[parts[0].len() + 1..]),
            _ => return Err(PortError::Syntax(spec.to_string())),
        }
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| PortError::Bad {
            spec: spec.to_string(),
            why: format!("{ip:?} is not an IP address"),
        })?),
    };
    let (host, ctr) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest),
    };
    let (c0, c1) = range(ctr, spec)?;
    let (h0, h1) = match host {
        None | Some("") => (0, 0),
        Some(h) => range(h, spec)?,
    };
    if h0 != 0 && h1 - h0 != c1 - c0 {
        return Err(PortError::Bad {
            spec: spec.to_string(),
            why: "the host and container ranges differ in length".into(),
        });
    }
    Ok((0..=(c1 - c0))
        .map(|i| PortMapping {
            host_ip,
            host_port: if h0 == 0 { 0 } else { h0 + i },
            container_port: c0 + i,
            proto,
        })
        .collect())
}

/// `EXPOSE` values of an image config (`80/tcp`, `53/udp`, `8080`).
pub fn parse_exposed(key: &str) -> Option<(u16, Proto)> {
    let (port, proto) = match key.split_once('/') {
        Some((p, "udp")) => (p, Proto::Udp),
        Some((p, _)) => (p, Proto::Tcp),
        None => (key, Proto::Tcp),
    };
    Some((port.parse().ok().filter(|p| *p > 0)?, proto))
}

fn bind_probe(ip: IpAddr, port: u16, proto: Proto) -> std::io::Result<u16> {
    let addr = SocketAddr::new(ip, port);
    match proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    }
    .map(|a| a.port())
}

/// Check that every host port is free now (so that a taken one fails before
/// the container starts, naming the port), and choose free ones where none
/// was given. The probe sockets are closed again at once: another program
/// may still take a port before the container's network helper binds it,
/// and then the container fails to start with the helper's message.
pub fn assign_free_ports(ports: &mut [PortMapping]) -> Result<(), PortError> {
    for p in ports.iter_mut() {
        let ip = p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        match bind_probe(ip, p.host_port, p.proto) {
            Ok(port) => p.host_port = port,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(PortError::InUse {
                    ip,
                    port: p.host_port,
                    proto: p.proto.as_str(),
                });
            }
            Err(e) if p.host_port == 0 => {
                return Err(PortError::NoFree(p.to_string(), e.to_string()));
            }
            Err(e) => {
                return Err(PortError::Bad {
                    spec: p.to_string(),
                    why: format!("cannot bind {ip}:{}: {e}", p.host_port),
                });
            }
        }
    }
    Ok(())
}

/// pasta's `-t`/`-u` values for the mappings of one protocol
/// (`[ADDR/]HOST_PORT:CONTAINER_PORT`), "none" when there are none.
pub fn pasta_specs(ports: &[PortMapping], proto: Proto) -> String {
    let specs: Vec<String> = ports
        .iter()
        .filter(|p| p.proto == proto)
        .map(|p| match p.host_ip {
            Some(ip) => format!("{ip}/{}:{}", p.host_port, p.container_port),
            None => format!("{}:{}", p.host_port, p.container_port),
        })
        .collect();
    if specs.is_empty() {
        "none".to_string()
    } else {
        specs.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> PortMapping {
        let v = parse_publish(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v[0].clone()
    }

    #[test]
    fn docker_forms() {
        let p = one("8080:80");
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.proto),
            (None, 8080, 80, Proto::Tcp)
        );
        let p = one("127.0.0.1:8080:80/udp");
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.proto, Proto::Udp);
        assert_eq!(p.to_string(), "127.0.0.1:8080->80/udp");
        let p = one("80");
        assert_eq!((p.host_port, p.container_port), (0, 80));
        let p = one("127.0.0.1::80");
        assert_eq!((p.host_port, p.container_port), (0, 80));
        let p = one("[::1]:8080:80");
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        let r = parse_publish("8000-8002:9000-9002").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[2].host_port, r[2].container_port), (8002, 9002));
        for bad in [
            "",
            "x",
            "8080:80/sctp",
            "1.2.3:80:80",
            "70000:80",
            "0:80",
            "8000-8002:90",
            "9-8",
            "a:b:c:d",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_publish("8080:80/sctp")
                .unwrap_err()
                .to_string()
                .contains("tcp or udp")
        );
    }

    #[test]
    fn pasta_forms() {
        let mut ports = parse_publish("127.0.0.1:8080:80").unwrap();
        ports.extend(parse_publish("5353:53/udp").unwrap());
        ports.extend(parse_publish("9000:90").unwrap());
        assert_eq!(pasta_specs(&ports, Proto::Tcp), "127.0.0.1/8080:80,9000:90");
        assert_eq!(pasta_specs(&ports, Proto::Udp), "5353:53");
        assert_eq!(pasta_specs(&[], Proto::Udp), "none");
        assert_eq!(parse_exposed("80/tcp"), Some((80, Proto::Tcp)));
        assert_eq!(parse_exposed("53/udp"), Some((53, Proto::Udp)));
        assert_eq!(parse_exposed("x"), None);
    }

    #[test]
    fn ports_in_use_are_named_and_free_ones_chosen() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut ports = parse_publish(&format!("127.0.0.1:{port}:80")).unwrap();
        let e = assign_free_ports(&mut ports).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "port {port}/tcp on 127.0.0.1 is already in use: choose another host port with -p"
            )
        );
        let mut ports = parse_publish("127.0.0.1::80").unwrap();
        assign_free_ports(&mut ports).unwrap();
        assert_ne!(ports[0].host_port, 0);
    }
}
