//! `burrow network`: user networks, on which containers reach each other
//! by name (see burrow::netns::network and burrow::netns::shared).

use burrow::engine::{Engine, NetworkRequest};
use burrow::netns::network::Network;
use burrow::runtime::ContainerStore;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{print_table, print_template};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a user network
    Create(CreateArgs),
    /// List user networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show user networks as JSON
    Inspect(NamesArgs),
    /// Remove user networks no container uses
    #[command(visible_alias = "remove")]
    Rm(NamesArgs),
    /// Connect a container to a user network
    Connect(ConnectArgs),
    /// Disconnect a container from a user network
    Disconnect(DisconnectArgs),
    /// Remove every user network no container uses
    Prune(PruneArgs),
    /// Exit 0 if the network exists, 1 if not
    Exists(ExistsArgs),
}

#[derive(Debug, Args)]
#[command(
    after_help = "Members of a network reach each other by container name and --network-alias \
                  (burrow keeps their /etc/hosts up to date), and the host and the outside \
                  world through pasta, unless the network is --internal. Containers on \
                  different networks cannot reach each other."
)]
pub struct CreateArgs {
    /// The network's IPv4 subnet, ADDRESS/PREFIX [default: the first free /24 of 10.89.0.0/16]
    #[arg(long, value_name = "SUBNET")]
    pub subnet: Option<String>,
    /// No way out: members reach only each other (no pasta, no published ports)
    #[arg(long)]
    pub internal: bool,
    /// The driver: bridge, the only one
    #[arg(short, long, value_name = "DRIVER", default_value = "bridge")]
    pub driver: String,
    /// Set a label on the network (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The network's name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print only the networks' IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Print whole IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: table, json, or a Go template such as '{{.Name}} {{.Subnet}}'
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Print no header line
    #[arg(long)]
    pub noheading: bool,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Network names or IDs
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Another name by which the network's members reach the container
    #[arg(long, value_name = "NAME")]
    pub alias: Vec<String>,
    /// The container's IPv4 address on the network [default: the first free one]
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<std::net::Ipv4Addr>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    pub network: String,
}

pub fn run(ctx: &Engine, cmd: &NetworkCommand) -> anyhow::Result<i32> {
    match cmd {
        NetworkCommand::Create(a) => create(ctx, a),
        NetworkCommand::Ls(a) => ls(ctx, a),
        NetworkCommand::Inspect(a) => inspect(ctx, a),
        NetworkCommand::Rm(a) => rm(ctx, a),
        NetworkCommand::Connect(a) => {
            let containers = ContainerStore::open(&ctx.paths.root)?;
            ctx.network_connect(&containers, &a.network, &a.container, a.ip, &a.alias)?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            let containers = ContainerStore::open(&ctx.paths.root)?;
            ctx.network_disconnect(&containers, &a.network, &a.container)?;
            Ok(0)
        }
        NetworkCommand::Prune(a) => prune(ctx, a),
        NetworkCommand::Exists(a) => Ok(if ctx.network_exists(&a.network)? {
            0
        } else {
            1
        }),
    }
}

fn create(ctx: &Engine, args: &CreateArgs) -> anyhow::Result<i32> {
    let request = NetworkRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        subnet: args.subnet.as_deref().map(str::parse).transpose()?,
        internal: args.internal,
        labels: burrow::engine::request::parse_labels(&args.label)?,
    };
    let net = ctx.network_create(request)?;
    println!("{}", net.name);
    Ok(0)
}

fn summary(net: &Network) -> Value {
    json!({
        "Name": net.name,
        "ID": net.id,
        "Driver": net.driver,
        "Subnet": net.subnet.to_string(),
        "Internal": net.internal,
        "Created": net.created.to_rfc3339(),
        "Labels": net.labels,
    })
}

/// The column Podman prints for a network field.
fn column(field: &str) -> Option<&'static str> {
    Some(match field {
        "ID" => "NETWORK ID",
        "Name" => "NAME",
        "Driver" => "DRIVER",
        "Subnet" => "SUBNET",
        "Internal" => "INTERNAL",
        "Created" => "CREATED",
        "Labels" => "LABELS",
        _ => return None,
    })
}

fn ls(ctx: &Engine, args: &LsArgs) -> anyhow::Result<i32> {
    if args.noheading {
        super::format::omit_headings();
    }
    let nets = ctx.network_list()?;
    let id = |n: &Network| {
        if args.no_trunc {
            n.id.clone()
        } else {
            n.id[..12].to_string()
        }
    };
    if args.quiet {
        for n in &nets {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            let list: Vec<Value> = nets.iter().map(summary).collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Some("table") | None => {
            let rows: Vec<Vec<String>> = nets
                .iter()
                .map(|n| vec![id(n), n.name.clone(), n.driver.clone()])
                .collect();
            print_table(&["NETWORK ID", "NAME", "DRIVER"], &rows);
        }
        Some(template) => {
            let items: Vec<Value> = nets.iter().map(summary).collect();
            print_template(template, &items, column)?;
        }
    }
    Ok(0)
}

fn inspect(ctx: &Engine, args: &NamesArgs) -> anyhow::Result<i32> {
    let all = ContainerStore::open(&ctx.paths.root)?.list()?;
    let mut out = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match ctx.network_inspect(&all, name) {
            Ok(net) => out.push(net),
            Err(e) => {
                eprintln!("Error: {e}");
                code = super::EXIT_ENGINE;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(code)
}

fn rm(ctx: &Engine, args: &NamesArgs) -> anyhow::Result<i32> {
    let containers = ContainerStore::open(&ctx.paths.root)?;
    let mut code = 0;
    for name in &args.names {
        match ctx.network_remove(&containers, name) {
            Ok(net) => println!("{}", net.name),
            // Podman: 1 for a network that does not exist.
            Err(burrow::engine::EngineError::Network(
                e @ burrow::netns::network::NetworkError::NotFound(_),
            )) => {
                eprintln!("Error: {e}");
                code = code.max(1);
            }
            Err(e) => {
                eprintln!("Error: {e}");
                code = super::EXIT_ENGINE;
            }
        }
    }
    Ok(code)
}

fn prune(ctx: &Engine, args: &PruneArgs) -> anyhow::Result<i32> {
    if !args.force
        && !super::confirm("This will remove all networks not used by at least one container.")?
    {
        return Ok(0);
    }
    let containers = ContainerStore::open(&ctx.paths.root)?;
    for net in ctx.network_prune(&containers)? {
        println!("{}", net.name);
    }
    Ok(0)
}
