//! `burrow port`: a container's published ports.

use burrow::netns::ports::Proto;
use burrow::runtime::ContainerStore;
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "Prints CONTAINER_PORT/PROTO -> HOST_IP:HOST_PORT for each published \
                        port, or only the host addresses of PRIVATE_PORT. Exit status 1 when \
                        PRIVATE_PORT is not published, as Docker."
)]
pub struct PortArgs {
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Only this container port (PORT or PORT/tcp|udp)
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub private_port: Option<String>,
}

pub fn run(ctx: &Engine, args: &PortArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let c = containers.find(&args.container)?;
    let host = |p: &burrow::netns::ports::PortMapping| match p.host_ip {
        Some(ip @ std::net::IpAddr::V6(_)) => format!("[{ip}]:{}", p.host_port),
        Some(ip) => format!("{ip}:{}", p.host_port),
        None => format!("0.0.0.0:{}", p.host_port),
    };
    let Some(want) = &args.private_port else {
        for p in &c.ports {
            println!("{}/{} -> {}", p.container_port, p.proto.as_str(), host(p));
        }
        return Ok(0);
    };
    let (port, proto) = match want.split_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some(_) => anyhow::bail!("invalid port {want:?}: use PORT, PORT/tcp or PORT/udp"),
        None => (want.as_str(), Proto::Tcp),
    };
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid port {want:?}: use PORT, PORT/tcp or PORT/udp"))?;
    let found: Vec<_> = c
        .ports
        .iter()
        .filter(|p| p.container_port == port && p.proto == proto)
        .collect();
    if found.is_empty() {
        eprintln!(
            "Error: no public port '{port}/{}' published for {}",
            proto.as_str(),
            c.name
        );
        return Ok(1);
    }
    for p in found {
        println!("{}", host(p));
    }
    Ok(0)
}
