//! The files a container gets in `/etc` from burrow: hostname, hosts and
//! resolv.conf, written into its directory before each start and bound
//! over the image's by the plan.

use std::fs;
use std::io;

use crate::netns::{pasta, slirp};
use crate::runtime::spec::{ContainerSpec, NetworkMode, hosts_file_with, resolv_conf_with};

/// Write the container's hostname, hosts and resolv.conf into its
/// directory (see [`ContainerSpec::etc_file`]), as its network has them.
pub fn write(spec: &ContainerSpec) -> io::Result<()> {
    fs::write(spec.etc_file("hostname"), format!("{}\n", spec.hostname))?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts, resolv) = match &spec.network {
        NetworkMode::None => (
            hosts_file_with(&spec.hostname, &spec.names, None),
            resolv_conf_with(&host_resolv, &spec.names, None, false),
        ),
        NetworkMode::Host => {
            // The host's own names, with the user's additions.
            let mut hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
            if !hosts.is_empty() && !hosts.ends_with('\n') {
                hosts.push('\n');
            }
            for (name, addr) in &spec.names.hosts {
                hosts.push_str(&format!("{addr}\t{name}\n"));
            }
            (
                hosts,
                resolv_conf_with(&host_resolv, &spec.names, None, true),
            )
        }
        NetworkMode::Container(id) => {
            // The other container's names, as Docker shares them.
            let other = spec.dir.parent().map(|p| p.join(id));
            let read = |name: &str| {
                other
                    .as_ref()
                    .and_then(|d| fs::read_to_string(d.join(name)).ok())
                    .unwrap_or_default()
            };
            (read("hosts"), read("resolv.conf"))
        }
        NetworkMode::Slirp4netns(opts) => {
            let cfg = slirp::config(opts).map_err(|e| io::Error::other(e.to_string()))?;
            let (gw, dns) = (cfg.gateway().to_string(), cfg.dns().to_string());
            (
                hosts_file_with(&spec.hostname, &spec.names, Some(&gw)),
                resolv_conf_with(&host_resolv, &spec.names, Some(&dns), false),
            )
        }
        NetworkMode::Bridge(_) => {
            // The container's own lines; the members' are added to them
            // once its veths are up (see super::members).
            let gateway = if spec.network.has_helper() {
                pasta::host_gateway().map(|g| g.to_string())
            } else {
                None
            };
            let forwarder = spec.network.has_helper().then_some(pasta::DNS_FORWARD);
            let base = hosts_file_with(&spec.hostname, &spec.names, gateway.as_deref());
            fs::write(spec.etc_file("hosts.base"), &base)?;
            (
                base,
                resolv_conf_with(&host_resolv, &spec.names, forwarder, false),
            )
        }
        NetworkMode::Pasta(_) => {
            let gateway = pasta::host_gateway().map(|g| g.to_string());
            (
                hosts_file_with(&spec.hostname, &spec.names, gateway.as_deref()),
                resolv_conf_with(&host_resolv, &spec.names, Some(pasta::DNS_FORWARD), false),
            )
        }
    };
    fs::write(spec.etc_file("hosts"), hosts)?;
    fs::write(spec.etc_file("resolv.conf"), resolv)?;
    Ok(())
}
