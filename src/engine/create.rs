//! `create`: a request checked against the host, the store and the image,
//! turned into the container's record and spec, and both saved.

use chrono::Utc;

use super::error::{EngineError, RequestError};
use super::pull::{ObserverFactory, image_as_policy};
use super::request::{ContainerRequest, NetworkChoice, UsernsMode};
use super::{Engine, UserNs};
use crate::confine::{self, CapabilityOptions};
use crate::netns::network::{Attachment, Network, NetworkStore, allocate_ip, free_ifname};
use crate::netns::ports::{PortMapping, assign_free_ports, parse_exposed};
use crate::runtime::container::{new_id, valid_name};
use crate::runtime::lifecycle::parse_signal;
use crate::runtime::spec::{Confinement, ConfinementSpec, resolve_process};
use crate::runtime::{
    ContainerRecord, ContainerSpec, ContainerStore, ImageConfig, NetworkMode, RunOptions, Status,
    rootfs,
};
use crate::storage::GcGuard;
use crate::userns::find_host_program as find_program;

/// A container made from a request, recorded with its spec in the store,
/// not yet started.
pub struct Created {
    pub record: ContainerRecord,
    /// As `start` runs it.
    pub spec: ContainerSpec,
    /// The namespace it runs in.
    pub userns: UserNs,
    pub containers: ContainerStore,
    /// Held while the container is made and run: garbage collection must
    /// not delete the layers its root is made of.
    pub(crate) gc: GcGuard,
}

impl Engine {
    /// Check `req` against the host and the store, get the image (pulled
    /// as its policy says, with observers from `observer`), and record the
    /// container. Nothing is left behind when it fails.
    pub fn create(
        &self,
        req: &ContainerRequest,
        observer: ObserverFactory<'_>,
    ) -> Result<Created, EngineError> {
        for w in &req.warnings {
            self.warn(w);
        }
        let (mut network, user_networks) = match &req.network.choice {
            NetworkChoice::Mode(m) => (m.clone(), Vec::new()),
            NetworkChoice::Networks(names) => {
                let store = NetworkStore::open(&self.paths.root)?;
                let mut nets: Vec<Network> = Vec::new();
                for name in names {
                    let net = store.get(name)?;
                    if !nets.iter().any(|o| o.id == net.id) {
                        nets.push(net);
                    }
                }
                (NetworkMode::Bridge(Vec::new()), nets)
            }
        };
        check_network_programs(&mut network, &user_networks)?;
        if !req.network.ports.is_empty()
            && !user_networks.is_empty()
            && user_networks.iter().all(|n| n.internal)
        {
            return Err(RequestError::Conflict(format!(
                "-p: network {} is internal, with no way in from the host; publish ports on a container that is also on a network made without --internal",
                req.network.given
            ))
            .into());
        }
        check_limits(&req.limits)?;
        let store = self.store()?;
        let containers = ContainerStore::open(store.root())?;
        let keep_id_wanted = req.userns != UsernsMode::Default;
        if let NetworkMode::Container(q) = &network {
            // It need not run until this one starts (start checks).
            let other = containers.find(q)?;
            if containers.load_spec(&other.id)?.keep_id.is_some() != keep_id_wanted {
                return Err(RequestError::Conflict(format!(
                    "--network container:{q} needs the same --userns as container {} (which was made {}): containers that share a network share a user namespace",
                    other.name,
                    if keep_id_wanted {
                        "without keep-id"
                    } else {
                        "with --userns=keep-id"
                    }
                ))
                .into());
            }
            network = NetworkMode::Container(other.id);
        }
        let mut ports = req.network.ports.clone();
        let default_ns = self.user_namespace()?;
        let identity = default_ns.identity.clone();
        let default_counts = (default_ns.map.uid_count(), default_ns.map.gid_count());
        let keep_id = match req.userns {
            UsernsMode::KeepId { uid, gid } => {
                Some((uid.unwrap_or(identity.uid), gid.unwrap_or(identity.gid)))
            }
            UsernsMode::Default => None,
        };
        let userns = match keep_id {
            Some((uid, gid)) => default_ns.keep_id(uid, gid)?,
            None => default_ns,
        };
        let driver = self.choose_driver(keep_id.is_some())?;
        let gc = store.gc_shared()?;
        let image = image_as_policy(
            self,
            &store,
            &req.image.reference,
            req.image.pull,
            req.image.platform.as_deref(),
            &req.image.registry,
            observer,
        )?;
        let config_blob = store.read_blob(&image.config_digest)?;
        let config = ImageConfig::from_json(&config_blob).map_err(RequestError::from)?;
        // The image's HEALTHCHECK with the --health-* options over it.
        let health = crate::runtime::health::config::from_image_config(&config_blob)
            .and_then(|image_check| req.health.resolve(image_check))
            .map_err(RequestError::Invalid)?;
        // The image's StopSignal is checked as the user's would be: a bad
        // one is named, with the fix.
        let stop_signal = match (req.lifecycle.stop_signal, config.stop_signal.as_str()) {
            (Some(s), _) => Some(s),
            (None, "") => None,
            (None, s) => Some(parse_signal(s).map_err(|e| {
                RequestError::Invalid(format!(
                    "the image's StopSignal {s:?}: {e}; give one with --stop-signal"
                ))
            })?),
        };
        if req.network.publish_all {
            publish_exposed(&config, &mut ports);
        }
        // A taken host port fails here, before anything is created.
        assign_free_ports(&mut ports).map_err(RequestError::from)?;
        let id = new_id()?;
        let opts = RunOptions {
            entrypoint: req.process.entrypoint.clone(),
            cmd: req.process.command.clone(),
            env: req.process.env.clone(),
            workdir: req.process.workdir.clone(),
            hostname: req.process.hostname.clone(),
        };
        let mut process = resolve_process(&config, &opts, &id[..12], |k| std::env::var(k).ok())
            .map_err(RequestError::from)?;
        // A terminal says what it is, as Docker and Podman say, unless the
        // image or the user did.
        if req.process.tty && !process.env.iter().any(|e| e.starts_with("TERM=")) {
            process.env.push("TERM=xterm".to_string());
        }
        let (confine, stored_confinement) = self.confinement(req)?;
        // keep-id runs as the user unless -u says otherwise, as in Podman.
        let run_user = match (&req.process.user, keep_id) {
            (Some(u), _) => u.clone(),
            (None, Some((uid, gid))) => format!("{uid}:{gid}"),
            (None, None) => config.user.clone(),
        };
        let mut labels = config.labels.clone();
        labels.extend(req.labels.clone());
        let mounts = &self.container_mounts(req, &containers, &config)?;
        let mut record = ContainerRecord {
            id: id.clone(),
            name: req
                .name
                .clone()
                .unwrap_or_else(|| format!("ctr-{}", &id[..12])),
            image_id: image.id.clone(),
            image: req.image.reference.clone(),
            command: process.args.clone(),
            created: Utc::now(),
            status: Status::Created,
            exit_code: None,
            finished: None,
            started: None,
            monitor: None,
            pid: None,
            restart: req.lifecycle.restart,
            restart_count: 0,
            stopped_by_user: false,
            stop_signal,
            stop_timeout: req.lifecycle.stop_timeout,
            labels,
            auto_remove: req.lifecycle.auto_remove,
            ports: ports.clone(),
            network: req.network.given.clone(),
            networks: Vec::new(),
            health: None,
        };
        let lowers = image
            .layers
            .iter()
            .rev()
            .map(|l| store.layer_diff_path(&l.chain_id))
            .collect();
        let mut spec = ContainerSpec::builder(&id, containers.dir_of(&id), lowers, process)
            .user(run_user)
            .network(network)
            .ports(ports, req.network.names.clone())
            .confine(stored_confinement, confine)
            .root(driver, keep_id, default_counts)
            .stdio(req.process.stdin, req.process.tty, req.process.init)
            .mounts(mounts.clone(), req.filesystem.read_only)
            .logged(req.lifecycle.log_max_size)
            .log_driver(req.lifecycle.log_driver)
            .container_env(keep_id.map(|(uid, gid)| host_account(&identity.name, uid, gid)))
            .extras(req.process.timezone.clone(), req.process.group_add.clone())
            .ulimits(req.process.ulimits.clone())
            .timeout(
                req.lifecycle.timeout,
                stop_signal,
                req.lifecycle.stop_timeout,
            )
            .health(health)
            .build()
            .map_err(RequestError::from)?;
        if req.replace {
            self.replace_named(&containers, &record.name)?;
        }
        // Held (with the volumes' lock) until the container is recorded.
        let volumes = self.resolve_volumes(&mut spec.mounts)?;
        let (ip, aliases) = (req.network.ip, &req.network.aliases);
        let made = containers.create_with(&mut record, |all, rec| {
            for net in &user_networks {
                let att = attachment_for(net, all, rec, ip, aliases).map_err(|e| e.to_string())?;
                rec.networks.push(att);
            }
            Ok(())
        });
        if let Err(e) = made {
            volumes.undo();
            return Err(e.into());
        }
        if let NetworkMode::Bridge(atts) = &mut spec.network {
            atts.clone_from(&record.networks);
        }
        if let Err(e) = containers.save_spec(&spec) {
            let _ = containers.remove(&id);
            volumes.undo();
            return Err(e.into());
        }
        for name in volumes.created() {
            self.emit(&crate::events::Event::volume(
                crate::events::VolumeAction::Create,
                name,
                "local",
            ));
        }
        drop(volumes);
        self.emit(&crate::events::Event::container(
            crate::events::ContainerAction::Create,
            &(&record).into(),
        ));
        Ok(Created {
            record,
            spec,
            userns,
            containers,
            gc,
        })
    }

    /// The user's mounts with those of `--volumes-from` and the image's
    /// VOLUMEs (anonymous volumes) where the user mounts nothing, parents
    /// before children.
    fn container_mounts(
        &self,
        req: &ContainerRequest,
        containers: &ContainerStore,
        config: &ImageConfig,
    ) -> Result<Vec<crate::runtime::mounts::Mount>, EngineError> {
        let mut mounts = req.filesystem.mounts.clone();
        let from = self.volumes_from(containers, &req.filesystem.volumes_from, &mounts)?;
        mounts.extend(from);
        let image = self.image_volumes(&config.volumes, &mounts);
        mounts.extend(image);
        if mounts.len() == req.filesystem.mounts.len() {
            return Ok(mounts);
        }
        Ok(crate::runtime::mounts::finish(mounts).map_err(RequestError::from)?)
    }

    /// `--replace`: the container called `name`, if any, goes (stopped at
    /// once) so that the new one can take its name.
    fn replace_named(&self, containers: &ContainerStore, name: &str) -> Result<(), EngineError> {
        let Some(old) = containers.list()?.into_iter().find(|c| c.name == name) else {
            return Ok(());
        };
        if let Some(w) = self.kill_for_removal(containers, &old)? {
            self.warn(&w);
        }
        for result in self.remove(containers, std::slice::from_ref(&old.id))? {
            result?;
        }
        Ok(())
    }

    /// The storage driver for a new container: the one asked for, else the
    /// best the host allows (with a warning when that is a fallback).
    pub fn choose_driver(&self, keep_id: bool) -> Result<rootfs::Driver, RequestError> {
        let requested = self
            .storage_driver
            .as_deref()
            .map(rootfs::Driver::parse)
            .transpose()?;
        let (driver, why) = rootfs::choose(requested, keep_id, || {
            rootfs::cached_overlay_probe(&self.paths.runroot.join("overlay.probe"), || {
                crate::system::overlay::probe_overlay(&self.paths)
            })
        })?;
        if let Some(why) = why {
            self.warn(&why);
        }
        Ok(driver)
    }

    /// Capabilities and the seccomp filter, resolved before any record
    /// exists so a bad name or profile leaves nothing behind; with the
    /// form the spec stores.
    fn confinement(
        &self,
        req: &ContainerRequest,
    ) -> Result<(Confinement, ConfinementSpec), EngineError> {
        let c = &req.confinement;
        let caps = confine::resolve(&CapabilityOptions {
            add: c.cap_add.clone(),
            drop: c.cap_drop.clone(),
            privileged: c.privileged,
        })?;
        let seccomp = if c.privileged {
            None
        } else {
            confine::prepare_cached(&c.seccomp, &caps, &self.paths.runroot.join("seccomp"))?
        };
        let stored = ConfinementSpec::new(&caps, &c.seccomp, c.privileged);
        Ok((
            Confinement {
                caps,
                seccomp,
                privileged: c.privileged,
            },
            stored,
        ))
    }
}

/// The user's account as keep-id shows it inside: their name, home and
/// shell from the host's passwd, their group's name from its group file,
/// with the ids they have inside (`uid`, `gid`).
fn host_account(name: &str, uid: u32, gid: u32) -> crate::runtime::spec::Account {
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten();
    let group = nix::unistd::Group::from_gid(nix::unistd::getgid())
        .ok()
        .flatten()
        .map_or_else(|| name.to_string(), |g| g.name);
    crate::runtime::spec::Account {
        name: name.to_string(),
        uid,
        gid,
        group,
        home: me
            .as_ref()
            .map_or_else(|| "/".to_string(), |u| u.dir.display().to_string()),
        shell: me
            .as_ref()
            .map(|u| u.shell.display().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".to_string()),
    }
}

/// Resource limits need a cgroup v2 subtree delegated to the user; where
/// there is none, the request is refused with why and what would enable
/// it, never run without its limits.
fn check_limits(limits: &super::request::LimitsRequest) -> Result<(), RequestError> {
    if limits.is_empty() {
        return Ok(());
    }
    let check = crate::system::cgroup::check();
    if check.status != crate::system::check::CheckStatus::Ok {
        let fix = check
            .fix
            .map(|f| format!("; to enable them: {f}"))
            .unwrap_or_default();
        return Err(RequestError::Conflict(format!(
            "--memory, --memory-swap, --cpus and --pids-limit cannot be applied on this host: {}{fix}",
            check.detail
        )));
    }
    Err(RequestError::Conflict(
        "--memory, --memory-swap, --cpus and --pids-limit are not applied by this burrow yet, though this host delegates cgroup v2 to you: drop them".to_string(),
    ))
}

/// The programs the network needs are installed: the default falls back
/// to slirp4netns where pasta is missing.
fn check_network_programs(
    network: &mut NetworkMode,
    user_networks: &[Network],
) -> Result<(), RequestError> {
    let have = |p: &str| find_program(p).is_some();
    if !user_networks.is_empty() {
        if user_networks.iter().any(|n| !n.internal) && !have("pasta") {
            return Err(RequestError::Missing(
                crate::netns::pasta::PastaError::Missing.to_string(),
            ));
        }
        return Ok(());
    }
    match network {
        NetworkMode::Pasta(o) if o.is_empty() && !have("pasta") && have("slirp4netns") => {
            *network = NetworkMode::Slirp4netns(Vec::new());
        }
        NetworkMode::Pasta(_) if !have("pasta") => {
            return Err(RequestError::Missing(if have("slirp4netns") {
                "pasta is not installed: install the passt package (apt-get install passt), or use --network slirp4netns".to_string()
            } else {
                crate::netns::slirp::SlirpError::Missing.to_string()
            }));
        }
        NetworkMode::Slirp4netns(opts) => {
            if !have("slirp4netns") {
                return Err(RequestError::Missing(
                    "slirp4netns is not installed: install it (apt-get install slirp4netns), or use --network pasta".to_string(),
                ));
            }
            crate::netns::slirp::config(opts)?;
        }
        _ => {}
    }
    Ok(())
}

/// Every port the image exposes that is not published yet, on a free
/// host port (`-P`).
fn publish_exposed(config: &ImageConfig, ports: &mut Vec<PortMapping>) {
    for e in &config.exposed_ports {
        if let Some((port, proto)) = parse_exposed(e)
            && !ports
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
        {
            ports.push(PortMapping {
                host_ip: None,
                host_port: 0,
                container_port: port,
                proto,
            });
        }
    }
}

/// Why a container cannot join a network.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("container {container} is already connected to network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error(transparent)]
    Address(#[from] crate::netns::network::NetworkError),
    #[error(
        "invalid network alias {0:?}: use letters, digits, '_', '.' or '-', starting with a letter or digit"
    )]
    BadAlias(String),
}

/// The container's membership of `net`: an address no other container
/// has there (`ip` if given), a free interface name, its aliases.
pub fn attachment_for(
    net: &Network,
    others: &[ContainerRecord],
    rec: &ContainerRecord,
    ip: Option<std::net::Ipv4Addr>,
    aliases: &[String],
) -> Result<Attachment, AttachmentError> {
    if rec.networks.iter().any(|a| a.network_id == net.id) {
        return Err(AttachmentError::AlreadyConnected {
            container: rec.name.clone(),
            network: net.name.clone(),
        });
    }
    let used = others.iter().flat_map(|c| {
        c.networks
            .iter()
            .filter(|a| a.network_id == net.id)
            .map(move |a| (a.ip, c.name.as_str()))
    });
    let ip = allocate_ip(net, used, ip)?;
    if let Some(a) = aliases.iter().find(|a| !valid_name(a)) {
        return Err(AttachmentError::BadAlias(a.clone()));
    }
    Ok(Attachment {
        network: net.name.clone(),
        network_id: net.id.clone(),
        ip,
        prefix: net.subnet.prefix,
        aliases: aliases.to_vec(),
        internal: net.internal,
        ifname: free_ifname(&rec.networks),
    })
}
