//! User networks: create, list, inspect, remove and prune them, and
//! connect containers to them or disconnect them (see
//! crate::netns::network and crate::netns::shared).

use crate::events::{Event, MemberAction, NetworkAction};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};

use serde_json::{Value, json};

use super::Engine;
use super::error::{EngineError, RequestError};
use crate::netns::network::{Attachment, Network, NetworkStore, Subnet};
use crate::netns::shared::{self, SharedError};
use crate::runtime::members::{Member, Members};
use crate::runtime::{ContainerRecord, ContainerStore, NetworkMode};
use crate::userns::UsernsError;

/// Why a container's networks could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "container {container} uses --network {mode}: only a container made on user networks (--network NAME) can be connected to or disconnected from one"
    )]
    NotBridged { container: String, mode: String },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error(
        "container {0} runs, but the user networks' shared namespace is gone: restart the container"
    )]
    SharedGone(String),
    #[error(transparent)]
    Shared(#[from] SharedError),
    #[error("creating a pipe")]
    Pipe(#[source] std::io::Error),
    #[error("entering the user networks' user namespace")]
    Enter(#[source] UsernsError),
    /// The change in the user networks' namespace failed, as it reported.
    #[error("{message}")]
    Live { message: String },
    #[error("changing the networks of container {0} failed")]
    Failed(String),
}

/// A new user network.
#[derive(Debug, Clone, Default)]
pub struct NetworkRequest {
    pub name: String,
    /// The driver asked for: only "bridge" (the default) is.
    pub driver: Option<String>,
    /// Its IPv4 subnet [default: the first free /24 of 10.89.0.0/16].
    pub subnet: Option<Subnet>,
    /// No way out: members reach only each other.
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// The containers on `net`, with their attachment to it.
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

/// The names of the containers on `net`, sorted.
pub(super) fn users(containers: &[ContainerRecord], net: &Network) -> Vec<String> {
    let mut names: Vec<String> = members_of(net, containers)
        .into_iter()
        .map(|(c, _)| c.name.clone())
        .collect();
    names.sort();
    names
}

impl Engine {
    pub(super) fn networks(&self) -> Result<NetworkStore, EngineError> {
        Ok(NetworkStore::open(&self.paths.root)?)
    }

    /// Record a new user network.
    pub fn network_create(&self, request: NetworkRequest) -> Result<Network, EngineError> {
        if let Some(driver) = request.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(RequestError::Invalid(format!(
                "network driver {driver:?} is not supported: burrow makes bridge networks (leave out --driver)"
            ))
            .into());
        }
        let net = self.networks()?.create(
            &request.name,
            request.subnet,
            request.internal,
            request.labels,
        )?;
        self.emit(&Event::network(NetworkAction::Create, &net.id, &net.name));
        Ok(net)
    }

    /// Every user network.
    pub fn network_list(&self) -> Result<Vec<Network>, EngineError> {
        Ok(self.networks()?.list()?)
    }

    /// The network `query` names (name or ID).
    pub fn network(&self, query: &str) -> Result<Network, EngineError> {
        Ok(self.networks()?.get(query)?)
    }

    /// Whether a network `query` names exists.
    pub fn network_exists(&self, query: &str) -> Result<bool, EngineError> {
        Ok(self.networks()?.get(query).is_ok())
    }

    /// Network `query` as `network inspect` shows it (Podman's fields),
    /// with its members among `containers`.
    pub fn network_inspect(
        &self,
        containers: &[ContainerRecord],
        query: &str,
    ) -> Result<Value, EngineError> {
        let net = self.network(query)?;
        let members: BTreeMap<String, Value> = members_of(&net, containers)
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
        Ok(json!({
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
        }))
    }

    /// Remove network `query`, which no container may be on.
    pub fn network_remove(
        &self,
        containers: &ContainerStore,
        query: &str,
    ) -> Result<Network, EngineError> {
        let all = containers.list()?;
        let net = self.networks()?.remove(query, |net| users(&all, net))?;
        self.emit(&Event::network(NetworkAction::Destroy, &net.id, &net.name));
        Ok(net)
    }

    /// Remove every network no container is on; those removed.
    pub fn network_prune(&self, containers: &ContainerStore) -> Result<Vec<Network>, EngineError> {
        let store = self.networks()?;
        let mut removed = Vec::new();
        for net in store.list()? {
            let all = containers.list()?;
            // In use (now, under the lock): it stays.
            if let Ok(n) = store.remove(&net.name, |n| users(&all, n)) {
                self.emit(&Event::network(NetworkAction::Destroy, &n.id, &n.name));
                removed.push(n);
            }
        }
        Ok(removed)
    }

    /// Connect container `container` to network `network`, at `ip` (else
    /// the first free address) and also known as `aliases`. A running
    /// container gets its interface now, and the members' /etc/hosts are
    /// rewritten; a stopped one gets it at its next start. On failure
    /// nothing is left half-made.
    pub fn network_connect(
        &self,
        containers: &ContainerStore,
        network: &str,
        container: &str,
        ip: Option<Ipv4Addr>,
        aliases: &[String],
    ) -> Result<(), EngineError> {
        let net = self.network(network)?;
        let rec = bridged(containers, container)?;
        let updated = containers.modify_with_others(&rec.id, |others, r| {
            let att =
                super::attachment_for(&net, others, r, ip, aliases).map_err(|e| e.to_string())?;
            r.networks.push(att);
            Ok(())
        })?;
        let Some(att) = updated.networks.last().cloned() else {
            return Ok(());
        };
        if let Err(e) = self.apply_live(containers, &updated, |shared_netns, ctr_netns| {
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
            return Err(e.into());
        }
        self.emit(&Event::network_member(
            MemberAction::Connect,
            &net.id,
            &net.name,
            &rec.id,
        ));
        Ok(())
    }

    /// Disconnect container `container` from network `network`: now for
    /// a running one (its interface goes, the members' /etc/hosts are
    /// rewritten), else from its next start.
    pub fn network_disconnect(
        &self,
        containers: &ContainerStore,
        network: &str,
        container: &str,
    ) -> Result<(), EngineError> {
        let net = self.network(network)?;
        let rec = bridged(containers, container)?;
        let Some(att) = rec
            .networks
            .iter()
            .find(|a| a.network_id == net.id)
            .cloned()
        else {
            return Err(ConnectError::NotConnected {
                container: rec.name,
                network: net.name,
            }
            .into());
        };
        let updated = containers.modify(&rec.id, |r| {
            r.networks.retain(|a| a.network_id != net.id);
        })?;
        self.apply_live(containers, &updated, |shared_netns, _| {
            shared::detach(shared_netns, &updated.id, &att)
        })?;
        self.emit(&Event::network_member(
            MemberAction::Disconnect,
            &net.id,
            &net.name,
            &rec.id,
        ));
        Ok(())
    }

    /// For a running container: apply `change` to its veths in the shared
    /// namespace (given the shared and the container's network namespace),
    /// then record its memberships anew, which rewrites the members'
    /// /etc/hosts. A stopped container gets its networks at its next start.
    fn apply_live(
        &self,
        containers: &ContainerStore,
        rec: &ContainerRecord,
        change: impl FnOnce(BorrowedFd<'_>, BorrowedFd<'_>) -> Result<(), String>,
    ) -> Result<(), ConnectError> {
        let (true, Some(pid)) = (rec.current_status().is_live(), rec.pid) else {
            return Ok(());
        };
        let container_dir = containers.dir_of(&rec.id);
        let Some(held) = shared::connect(&self.paths.runroot)? else {
            return Err(ConnectError::SharedGone(rec.name.clone()));
        };
        let (r, w) = nix::unistd::pipe().map_err(|e| ConnectError::Pipe(e.into()))?;
        let code = crate::userns::run_in_existing_userns(&held.userns, || {
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
                    super::error::EXIT_ENGINE
                }
            }
        })
        .map_err(ConnectError::Enter)?;
        drop(w);
        let mut message = String::new();
        let _ = std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut message);
        match (code, message.is_empty()) {
            (0, _) => Ok(()),
            (_, true) => Err(ConnectError::Failed(rec.name.clone())),
            (_, false) => Err(ConnectError::Live { message }),
        }
    }
}

/// The container `query`, which must have been made on user networks.
fn bridged(containers: &ContainerStore, query: &str) -> Result<ContainerRecord, EngineError> {
    let rec = containers.find(query)?;
    let spec = containers.load_spec(&rec.id)?;
    if !matches!(spec.network, NetworkMode::Bridge(_)) {
        return Err(ConnectError::NotBridged {
            container: rec.name,
            mode: rec.network,
        }
        .into());
    }
    Ok(rec)
}
