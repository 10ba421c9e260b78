//! User networks (`burrow network create`): their records under
//! `$XDG_DATA_HOME/burrow/networks`, the subnets they take, the addresses
//! their members get, and the /etc/hosts lines by which members find each
//! other by name.
//!
//! A network is a bridge in burrow's shared network namespace (see
//! [`super::shared`]); each member container has a veth on it. The record
//! only says what the bridge is called and which subnet it serves: the
//! bridge itself exists while members run.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::storage::atomic;

/// Names the network modes own (or Docker's and Podman's default
/// networks, which burrow does not have); no user network may take them.
pub const RESERVED: [&str; 7] = [
    "none",
    "host",
    "pasta",
    "slirp4netns",
    "bridge",
    "private",
    "default",
];

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(
        "unable to find network with name or ID {0}: network not found: create it with `burrow network create {0}` (see burrow network ls)"
    )]
    NotFound(String),
    #[error(
        "network {0} already exists: choose another name, or remove it with `burrow network rm {0}`"
    )]
    Exists(String),
    #[error(
        "invalid network name {0:?}: use letters, digits, '_', '.' or '-', starting with a letter or digit, and not none, host, pasta, slirp4netns, bridge, private or default"
    )]
    BadName(String),
    #[error(
        "invalid subnet {0:?}: give an IPv4 network as ADDRESS/PREFIX with a prefix from 8 to 30, e.g. 10.89.5.0/24"
    )]
    BadSubnet(String),
    #[error(
        "subnet {subnet} overlaps subnet {other} of network {network}: choose another --subnet"
    )]
    Overlap {
        subnet: Subnet,
        other: Subnet,
        network: String,
    },
    #[error(
        "subnet {subnet} overlaps the host's route to {route} ({iface}): choose another --subnet"
    )]
    HostOverlap {
        subnet: Subnet,
        route: Subnet,
        iface: String,
    },
    #[error(
        "no free subnet left in 10.89.0.0/16: remove unused networks (burrow network prune) or give --subnet"
    )]
    NoFreeSubnet,
    #[error(
        "network {network} has no free address left in {subnet}: remove containers from it or create a larger --subnet"
    )]
    Full { network: String, subnet: Subnet },
    #[error(
        "IP address {ip} is not usable in network {network} ({subnet}): give a host address of that subnet other than its first"
    )]
    AddressOutside {
        ip: Ipv4Addr,
        network: String,
        subnet: Subnet,
    },
    #[error(
        "IP address {ip} is already used by container {container} on network {network}: choose another --ip"
    )]
    AddressInUse {
        ip: Ipv4Addr,
        network: String,
        container: String,
    },
    #[error("network {network} is used by container(s) {}: remove them or disconnect them first (burrow network disconnect {network} NAME)", containers.join(", "))]
    InUse {
        network: String,
        containers: Vec<String>,
    },
    #[error("cannot {op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("network record {} is not valid JSON: {err}; remove the file", path.display())]
    Corrupt {
        path: PathBuf,
        err: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> NetworkError + use<> {
    let path = path.to_path_buf();
    move |err| NetworkError::Io { op, path, err }
}

/// An IPv4 network, `ADDRESS/PREFIX`, its address the network's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(self, other: Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The `n`th address of the subnet (0 is the network's own).
    pub fn nth(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + n)
    }

    /// The number of addresses, network and broadcast included.
    pub fn size(self) -> u32 {
        (!self.mask()).wrapping_add(1)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Subnet, NetworkError> {
        let bad = || NetworkError::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let net = Subnet { addr, prefix };
        // Docker and Podman take 10.89.5.7/24 as 10.89.5.0/24.
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & net.mask()),
            prefix,
        })
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A user network's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub subnet: Subnet,
    /// No pasta for members: no way out of the network, no published ports.
    pub internal: bool,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// The bridge's interface name in the shared namespace (at most 15
    /// bytes, as the kernel wants).
    pub fn bridge(&self) -> String {
        bridge_name(&self.id)
    }
}

pub fn bridge_name(network_id: &str) -> String {
    format!("bw-{}", &network_id[..network_id.len().min(12)])
}

/// A container's membership of a network: its address there, its aliases,
/// and its interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    pub network: String,
    pub network_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub internal: bool,
    /// The interface in the container (`eth0`, `eth1`, ...).
    pub ifname: String,
}

impl Attachment {
    pub fn bridge(&self) -> String {
        bridge_name(&self.network_id)
    }

    /// The host end of the container's veth, in the shared namespace:
    /// unique per container and interface, at most 15 bytes.
    pub fn host_veth(&self, container_id: &str) -> String {
        let n = self.ifname.trim_start_matches("eth");
        format!("vb{}{n}", &container_id[..container_id.len().min(10)])
    }
}

/// The first free `ethN` among `taken` interfaces.
pub fn free_ifname(taken: &[Attachment]) -> String {
    (0..)
        .map(|n| format!("eth{n}"))
        .find(|name| !taken.iter().any(|a| &a.ifname == name))
        .unwrap_or_else(|| "eth0".into())
}

/// The address for a new member of `net`: `wanted` if usable and free,
/// else the lowest free one from the subnet's second host up (the first is
/// left for a gateway, as Docker and Podman do). `used` are the members'
/// addresses with the containers' names.
pub fn allocate_ip<'a>(
    net: &Network,
    used: impl IntoIterator<Item = (Ipv4Addr, &'a str)>,
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, NetworkError> {
    let used: Vec<(Ipv4Addr, &str)> = used.into_iter().collect();
    let first = 2;
    let last = net.subnet.size().saturating_sub(2);
    if let Some(ip) = wanted {
        let n = u32::from(ip).wrapping_sub(u32::from(net.subnet.addr));
        if !net.subnet.contains(ip) || n < first || n > last {
            return Err(NetworkError::AddressOutside {
                ip,
                network: net.name.clone(),
                subnet: net.subnet,
            });
        }
        if let Some((_, who)) = used.iter().find(|(u, _)| *u == ip) {
            return Err(NetworkError::AddressInUse {
                ip,
                network: net.name.clone(),
                container: who.to_string(),
            });
        }
        return Ok(ip);
    }
    (first..=last)
        .map(|n| net.subnet.nth(n))
        .find(|ip| !used.iter().any(|(u, _)| u == ip))
        .ok_or_else(|| NetworkError::Full {
            network: net.name.clone(),
            subnet: net.subnet,
        })
}

/// The host's IPv4 routes other than the default one, with their
/// interfaces (from /proc/net/route): a user network must not shadow them.
pub fn host_routes() -> Vec<(Subnet, String)> {
    parse_routes(&fs::read_to_string("/proc/net/route").unwrap_or_default())
}

fn parse_routes(text: &str) -> Vec<(Subnet, String)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dest), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // The kernel prints the network-order words as native integers.
        let dest = Ipv4Addr::from(dest.to_ne_bytes());
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        out.push((Subnet { addr: dest, prefix }, f[0].to_string()));
    }
    out
}

/// One member of a network as the others' /etc/hosts name it.
pub struct HostEntry<'a> {
    pub ip: Ipv4Addr,
    pub name: &'a str,
    pub aliases: &'a [String],
    pub id: &'a str,
}

/// The line that marks where burrow's member entries start in a
/// container's /etc/hosts.
pub const MEMBERS_MARK: &str = "# burrow network members";

/// `base` (the container's own /etc/hosts) followed by one line per member:
/// address, name, aliases, short ID.
pub fn hosts_with_members(base: &str, members: &[HostEntry<'_>]) -> String {
    let mut out = base.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(MEMBERS_MARK);
    out.push('\n');
    for m in members {
        out.push_str(&format!("{}\t{}", m.ip, m.name));
        for a in m.aliases {
            if a != m.name {
                out.push(' ');
                out.push_str(a);
            }
        }
        out.push(' ');
        out.push_str(&m.id[..m.id.len().min(12)]);
        out.push('\n');
    }
    out
}

/// The networks of one store.
pub struct NetworkStore {
    dir: PathBuf,
}

impl NetworkStore {
    pub fn open(store_root: &Path) -> Result<NetworkStore, NetworkError> {
        let dir = store_root.join("networks");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(NetworkStore { dir })
    }

    fn lock(&self) -> Result<fs::File, NetworkError> {
        let path = self.dir.join("networks.lock");
        atomic::lock(&path).map_err(io_err("lock", &path))
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>, NetworkError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))?;
        for e in entries {
            let e = e.map_err(io_err("read", &self.dir))?;
            let path = e.path();
            if path.extension().is_some_and(|x| x == "json") {
                let bytes = fs::read(&path).map_err(io_err("read", &path))?;
                out.push(
                    serde_json::from_slice(&bytes)
                        .map_err(|err| NetworkError::Corrupt { path, err })?,
                );
            }
        }
        out.sort_by(|a: &Network, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The network named `query`, or whose ID starts with it.
    pub fn get(&self, query: &str) -> Result<Network, NetworkError> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == query) {
            return Ok(n.clone());
        }
        let by_id: Vec<&Network> = all
            .iter()
            .filter(|n| query.len() >= 3 && n.id.starts_with(query))
            .collect();
        match by_id.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(NetworkError::NotFound(query.to_string())),
        }
    }

    /// Record a new network. Without `subnet`, the first /24 of
    /// 10.89.0.0/16 that no network and no host route uses (Podman's
    /// range); with one, it must overlap neither.
    pub fn create(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        internal: bool,
        labels: BTreeMap<String, String>,
    ) -> Result<Network, NetworkError> {
        if !crate::ids::valid_name(name) || RESERVED.contains(&name) {
            return Err(NetworkError::BadName(name.to_string()));
        }
        let _lock = self.lock()?;
        let all = self.list()?;
        if all.iter().any(|n| n.name == name) {
            return Err(NetworkError::Exists(name.to_string()));
        }
        let routes = host_routes();
        let check = |s: Subnet| -> Result<(), NetworkError> {
            if let Some(n) = all.iter().find(|n| n.subnet.overlaps(s)) {
                return Err(NetworkError::Overlap {
                    subnet: s,
                    other: n.subnet,
                    network: n.name.clone(),
                });
            }
            if let Some((r, iface)) = routes.iter().find(|(r, _)| r.overlaps(s)) {
                return Err(NetworkError::HostOverlap {
                    subnet: s,
                    route: *r,
                    iface: iface.clone(),
                });
            }
            Ok(())
        };
        let subnet = match subnet {
            Some(s) => {
                check(s)?;
                s
            }
            None => (0..=255u8)
                .map(|n| Subnet {
                    addr: Ipv4Addr::new(10, 89, n, 0),
                    prefix: 24,
                })
                .find(|s| check(*s).is_ok())
                .ok_or(NetworkError::NoFreeSubnet)?,
        };
        let id = crate::ids::new_id().map_err(|err| NetworkError::Io {
            op: "make an ID for",
            path: self.path_of(name),
            err,
        })?;
        let net = Network {
            name: name.to_string(),
            id,
            driver: "bridge".into(),
            subnet,
            internal,
            created: Utc::now(),
            labels,
        };
        let json = serde_json::to_vec_pretty(&net).map_err(|err| NetworkError::Corrupt {
            path: self.path_of(name),
            err,
        })?;
        atomic::write_file(&self.path_of(name), &json, 0o644)?;
        Ok(net)
    }

    /// Remove network `name`'s record, if `in_use` names no container
    /// (asked under the store's lock).
    pub fn remove(
        &self,
        name: &str,
        in_use: impl FnOnce(&Network) -> Vec<String>,
    ) -> Result<Network, NetworkError> {
        let _lock = self.lock()?;
        let net = self.get(name)?;
        let users = in_use(&net);
        if !users.is_empty() {
            return Err(NetworkError::InUse {
                network: net.name,
                containers: users,
            });
        }
        let path = self.path_of(&net.name);
        fs::remove_file(&path).map_err(io_err("remove", &path))?;
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(subnet: &str) -> Network {
        Network {
            name: "n".into(),
            id: "a".repeat(64),
            driver: "bridge".into(),
            subnet: subnet.parse().unwrap(),
            internal: false,
            created: Utc::now(),
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn subnets_parse_and_overlap() {
        let s: Subnet = "10.89.5.7/24".parse().unwrap();
        assert_eq!(s.to_string(), "10.89.5.0/24");
        assert!(s.contains(Ipv4Addr::new(10, 89, 5, 200)));
        assert!(!s.contains(Ipv4Addr::new(10, 89, 6, 1)));
        assert!(s.overlaps("10.89.0.0/16".parse().unwrap()));
        assert!(!s.overlaps("10.89.6.0/24".parse().unwrap()));
        assert_eq!(s.size(), 256);
        for bad in [
            "10.89.0.0",
            "10.89.0.0/33",
            "10.89.0.0/31",
            "x/24",
            "10.89.0/24",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err().to_string();
            assert!(e.contains("ADDRESS/PREFIX"), "{bad}: {e}");
        }
    }

    #[test]
    fn addresses_are_allocated_from_the_second_host_up() {
        let n = net("10.89.0.0/24");
        let ip = |d| Ipv4Addr::new(10, 89, 0, d);
        assert_eq!(allocate_ip(&n, [], None).unwrap(), ip(2));
        assert_eq!(
            allocate_ip(&n, [(ip(2), "a"), (ip(4), "b")], None).unwrap(),
            ip(3)
        );
        assert_eq!(allocate_ip(&n, [], Some(ip(9))).unwrap(), ip(9));
        let e = allocate_ip(&n, [(ip(9), "web")], Some(ip(9))).unwrap_err();
        assert!(
            e.to_string().contains("already used by container web"),
            "{e}"
        );
        for bad in [ip(0), ip(1), ip(255), Ipv4Addr::new(10, 90, 0, 2)] {
            let e = allocate_ip(&n, [], Some(bad)).unwrap_err();
            assert!(matches!(e, NetworkError::AddressOutside { .. }), "{bad}");
        }
        let small = net("10.89.0.0/30");
        assert_eq!(allocate_ip(&small, [], None).unwrap(), ip(2));
        let e = allocate_ip(&small, [(ip(2), "a")], None).unwrap_err();
        assert!(matches!(e, NetworkError::Full { .. }), "{e}");
    }

    #[test]
    fn host_routes_are_read_in_host_byte_order() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_routes(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0.to_string(), "10.0.2.0/24");
        assert_eq!(r[0].1, "eth0");
    }

    #[test]
    fn hosts_list_members_after_the_base() {
        let aliases = vec!["web".to_string(), "srv".to_string()];
        let id = "0123456789abcdef0123";
        let out = hosts_with_members(
            "127.0.0.1\tlocalhost",
            &[HostEntry {
                ip: Ipv4Addr::new(10, 89, 0, 2),
                name: "srv",
                aliases: &aliases,
                id,
            }],
        );
        assert_eq!(
            out,
            "127.0.0.1\tlocalhost\n# burrow network members\n10.89.0.2\tsrv web 0123456789ab\n"
        );
    }

    #[test]
    fn store_allocates_subnets_and_refuses_overlaps_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = NetworkStore::open(dir.path()).unwrap();
        let routes = host_routes();
        let a = s.create("a", None, false, BTreeMap::new()).unwrap();
        let b = s.create("b", None, true, BTreeMap::new()).unwrap();
        assert!(!a.subnet.overlaps(b.subnet));
        assert!(routes.iter().all(|(r, _)| !r.overlaps(a.subnet)));
        assert!(matches!(
            s.create("a", None, false, BTreeMap::new()),
            Err(NetworkError::Exists(_))
        ));
        let e = s
            .create("c", Some(a.subnet), false, BTreeMap::new())
            .unwrap_err();
        assert!(e.to_string().contains("overlaps subnet"), "{e}");
        for bad in ["host", "none", "-x", "a/b"] {
            assert!(matches!(
                s.create(bad, None, false, BTreeMap::new()),
                Err(NetworkError::BadName(_))
            ));
        }
        assert_eq!(s.get("b").unwrap(), b);
        assert_eq!(s.get(&b.id[..6]).unwrap().name, "b");
        assert_eq!(s.list().unwrap().len(), 2);
        let e = s.remove("a", |_| vec!["web".into()]).unwrap_err();
        assert!(e.to_string().contains("used by container(s) web"), "{e}");
        s.remove("a", |_| vec![]).unwrap();
        assert!(matches!(s.get("a"), Err(NetworkError::NotFound(_))));
    }
}
