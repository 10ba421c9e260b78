//! `burrow network`: user networks, on which containers reach each other
//! by name (see burrow::netns::network and burrow::netns::shared).

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use anyhow::Context as _;
use burrow::netns::network::{Attachment, Network, NetworkStore, Subnet};
use burrow::netns::shared;
use burrow::runtime::members::{Member, Members};
use burrow::runtime::{ContainerRecord, ContainerStore, NetworkMode};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::format::{print_table, print_template};
use burrow::engine::Engine;

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
        NetworkCommand::Connect(a) => connect(ctx, a),
        NetworkCommand::Disconnect(a) => disconnect(ctx, a),
        NetworkCommand::Prune(a) => prune(ctx, a),
        NetworkCommand::Exists(a) => {
            let store = NetworkStore::open(&ctx.paths.root)?;
            Ok(if store.get(&a.network).is_ok() { 0 } else { 1 })
        }
    }
}

fn stores(ctx: &Engine) -> anyhow::Result<(NetworkStore, ContainerStore)> {
    Ok((
        NetworkStore::open(&ctx.paths.root)?,
        ContainerStore::open(&ctx.paths.root)?,
    ))
}

fn create(ctx: &Engine, args: &CreateArgs) -> anyhow::Result<i32> {
    if args.driver != "bridge" {
        anyhow::bail!(
            "network driver {:?} is not supported: burrow makes bridge networks (leave out --driver)",
            args.driver
        );
    }
    let subnet: Option<Subnet> = args.subnet.as_deref().map(str::parse).transpose()?;
    let labels = burrow::engine::request::parse_labels(&args.label)?;
    let store = NetworkStore::open(&ctx.paths.root)?;
    let net = store.create(&args.name, subnet, args.internal, labels)?;
    println!("{}", net.name);
    Ok(0)
}

fn members_of<'a>(
    net: &Network,
    containers: &'a [ContainerRecord],
) -> Vec<(&'a ContainerRecord, &'a Attachment)> {
    containers
        .iter()
        .filter_map(|c| {
            c.networks
                .iter()
                .find(|a| a.network_id == net.id)
                .map(|a| (c, a))
        })
        .collect()
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
    let (store, _) = stores(ctx)?;
    let nets = store.list()?;
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
    let (store, containers) = stores(ctx)?;
    let all = containers.list()?;
    let mut out = Vec::new();
    let mut code = 0;
    for name in &args.names {
        match store.get(name) {
            Ok(net) => {
                let members: BTreeMap<String, Value> = members_of(&net, &all)
                    .into_iter()
                    .map(|(c, a)| {
                        (
                            c.id.clone(),
                            json!({
                                "name": c.name,
                                "interface": a.ifname,
                                "ip": a.ip.to_string(),
                                "aliases": a.aliases,
                                "status": c.current_status().as_str(),
                            }),
                        )
                    })
                    .collect();
                out.push(json!({
                    "name": net.name,
                    "id": net.id,
                    "driver": net.driver,
                    "network_interface": net.bridge(),
                    "created": net.created.to_rfc3339(),
                    "subnets": [{ "subnet": net.subnet.to_string() }],
                    "ipv6_enabled": false,
                    "internal": net.internal,
                    "dns_enabled": false,
                    "labels": net.labels,
                    "ipam_options": { "driver": "host-local" },
                    "containers": members,
                }));
            }
            Err(e) => {
                eprintln!("Error: {e}");
                code = super::EXIT_ENGINE;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(code)
}

/// The names of the containers on `net`.
fn users(containers: &[ContainerRecord], net: &Network) -> Vec<String> {
    let mut names: Vec<String> = members_of(net, containers)
        .into_iter()
        .map(|(c, _)| c.name.clone())
        .collect();
    names.sort();
    names
}

fn rm(ctx: &Engine, args: &NamesArgs) -> anyhow::Result<i32> {
    let (store, containers) = stores(ctx)?;
    let mut code = 0;
    for name in &args.names {
        let all = containers.list()?;
        match store.remove(name, |net| users(&all, net)) {
            Ok(net) => println!("{}", net.name),
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
    let (store, containers) = stores(ctx)?;
    for net in store.list()? {
        let all = containers.list()?;
        // In use (now, under the lock): it stays.
        if let Ok(n) = store.remove(&net.name, |n| users(&all, n)) {
            println!("{}", n.name);
        }
    }
    Ok(0)
}

/// The container `query`, which must have been made on user networks.
fn bridged(containers: &ContainerStore, query: &str) -> anyhow::Result<ContainerRecord> {
    let rec = containers.find(query)?;
    let spec = containers.load_spec(&rec.id)?;
    if !matches!(spec.network, NetworkMode::Bridge(_)) {
        anyhow::bail!(
            "container {} uses --network {}: only a container made on user networks (--network NAME) can be connected to or disconnected from one",
            rec.name,
            rec.network
        );
    }
    Ok(rec)
}

fn connect(ctx: &Engine, args: &ConnectArgs) -> anyhow::Result<i32> {
    let (store, containers) = stores(ctx)?;
    let net = store.get(&args.network)?;
    let rec = bridged(&containers, &args.container)?;
    let updated = containers.modify_with_others(&rec.id, |others, r| {
        let att = burrow::engine::attachment_for(&net, others, r, args.ip, &args.alias)
            .map_err(|e| e.to_string())?;
        r.networks.push(att);
        Ok(())
    })?;
    let Some(att) = updated.networks.last().cloned() else {
        return Ok(0);
    };
    if let Err(e) = apply_live(ctx, &containers, &updated, |shared_netns, ctr_netns| {
        shared::attach(
            shared_netns,
            ctr_netns,
            &updated.id,
            std::slice::from_ref(&att),
        )
    }) {
        // Nothing half-made: the record goes back.
        let _ = containers.modify(&rec.id, |r| {
            r.networks.retain(|a| a.network_id != net.id);
        });
        return Err(e);
    }
    Ok(0)
}

fn disconnect(ctx: &Engine, args: &DisconnectArgs) -> anyhow::Result<i32> {
    let (store, containers) = stores(ctx)?;
    let net = store.get(&args.network)?;
    let rec = bridged(&containers, &args.container)?;
    let Some(att) = rec
        .networks
        .iter()
        .find(|a| a.network_id == net.id)
        .cloned()
    else {
        anyhow::bail!(
            "container {} is not connected to network {}",
            rec.name,
            net.name
        );
    };
    let updated = containers.modify(&rec.id, |r| {
        r.networks.retain(|a| a.network_id != net.id);
    })?;
    apply_live(ctx, &containers, &updated, |shared_netns, _| {
        shared::detach(shared_netns, &updated.id, &att)
    })?;
    Ok(0)
}

/// For a running container: apply `change` to its veths in the shared
/// namespace (given the shared and the container's network namespace),
/// then record its memberships anew, which rewrites the members'
/// /etc/hosts. A stopped container gets its networks at its next start.
fn apply_live(
    ctx: &Engine,
    containers: &ContainerStore,
    rec: &ContainerRecord,
    change: impl FnOnce(std::os::fd::BorrowedFd<'_>, std::os::fd::BorrowedFd<'_>) -> Result<(), String>,
) -> anyhow::Result<()> {
    let (true, Some(pid)) = (rec.current_status().is_live(), rec.pid) else {
        return Ok(());
    };
    let container_dir = containers.dir_of(&rec.id);
    let Some(held) = shared::connect(&ctx.paths.runroot)? else {
        anyhow::bail!(
            "container {} runs, but the user networks' shared namespace is gone: restart the container",
            rec.name
        );
    };
    let mut message = String::new();
    let (r, w) = nix::unistd::pipe()?;
    let code = burrow::userns::run_in_existing_userns(&held.userns, || {
        let result = (|| -> Result<(), String> {
            let path = format!("/proc/{pid}/ns/net");
            let ctr = std::fs::File::open(&path)
                .map_err(|e| format!("cannot open {path} (has the container stopped?): {e}"))?;
            change(held.netns.as_fd(), ctr.as_fd())?;
            let members = Members::of_container(&container_dir);
            let mut member: Member = members.get(&rec.id).ok_or_else(|| {
                format!(
                    "container {} is not a running member of its networks",
                    rec.name
                )
            })?;
            let was_on: Vec<String> = member
                .attachments
                .iter()
                .map(|a| a.network.clone())
                .collect();
            member.attachments.clone_from(&rec.networks);
            members
                .join(&member, &was_on)
                .map_err(|e| format!("cannot rewrite the members' /etc/hosts: {e}"))
        })();
        match result {
            Ok(()) => 0,
            Err(msg) => {
                let _ = nix::unistd::write(&w, msg.as_bytes());
                super::EXIT_ENGINE
            }
        }
    })
    .context("entering the user networks' user namespace")?;
    drop(w);
    let _ = std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut message);
    if code != 0 {
        anyhow::bail!(if message.is_empty() {
            format!("changing the networks of container {} failed", rec.name)
        } else {
            message
        });
    }
    Ok(())
}
