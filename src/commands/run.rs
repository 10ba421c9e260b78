//! `burrow run`: create a container from an image and run a command in it.

use anyhow::Context as _;
use burrow::confine::{self, CapabilityOptions, SeccompMode, SecurityOpt, parse_security_opt};
use std::path::PathBuf;

use burrow::runtime::MonitorHooks;
use burrow::runtime::attach::parse_detach_keys;
use burrow::runtime::container::new_id;
use burrow::runtime::exec::ExecContext;
use burrow::runtime::inspect::RecordedMount;
use burrow::runtime::lifecycle::{RecordKeeper, RestartPolicy, parse_signal};
use burrow::runtime::process::container_pid;
use burrow::runtime::spec::{Confinement, NameConfig, parse_env_file, resolve_process};
use burrow::runtime::{
    ContainerError, ContainerRecord, ContainerSpec, ContainerStore, ImageConfig, NetworkMode,
    RunOptions, Status, run_container, run_detached,
};
use burrow::runtime::{mounts, rootfs, tty};
use burrow::storage::GcGuard;
use burrow::storage::Store;
use chrono::Utc;
use clap::Args;
use std::collections::BTreeMap;

use super::{Ctx, UserNs};

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow run [OPTIONS] IMAGE [COMMAND [ARG...]]",
    after_help = "Without --rm the container's record and files stay in the store under \
                  containers/<id>: `burrow ps -a` lists them, `burrow start` runs them again, \
                  `burrow rm` removes them.\n\n\
                  Exit status: the command's; 128+N if it was killed by signal N; 125 if burrow \
                  failed; 126 if the command cannot be executed; 127 if it was not found."
)]
pub struct RunArgs {
    /// Run in the background: print the container's ID once its command runs; its output goes
    /// to `burrow logs`
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Keys that detach from a container with a terminal and leave it running
    /// (ctrl-<letter>, comma-separated; "" for none)
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Pass signals burrow receives on to the container; with false, a signal ends only this
    /// command and the container runs on
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub c: CreateArgs,
}

/// The options of `create`, which `run` shares.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open: the container reads burrow's standard input
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal (with -i, the user's terminal is relayed to it in raw mode)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run burrow as pid 1 of the container: it forwards signals to the command and reaps orphans
    #[arg(long)]
    pub init: bool,
    /// Name of the container [default: derived from its ID]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set an environment variable (K=V), or copy K from burrow's environment
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing)
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Replace the image's entrypoint ("" clears it; the image's command is dropped too)
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Hostname inside the container [default: the first 12 digits of its ID]
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Add a capability to the default set (CAP_NAME, NAME or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from the default set (CAP_NAME, NAME or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Security option: seccomp=unconfined, seccomp=PROFILE.json or no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Every capability of the user namespace, no seccomp filter, no masked kernel paths
    #[arg(long)]
    pub privileged: bool,
    /// Run as user[:group] (names from the image's /etc/passwd and /etc/group, or numeric ids)
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Read environment variables from a file (K=V or K lines, # comments), before -e
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// When to pull the image: missing (if not in the store), always, newer (as always: a pull
    /// of an unchanged image transfers nothing) or never
    #[arg(long, value_name = "POLICY", default_value = "missing", value_parser = ["missing", "always", "newer", "never"])]
    pub pull: String,
    /// Print no pull progress
    #[arg(short, long)]
    pub quiet: bool,
    /// Platform to pull (OS/ARCH[/VARIANT]) [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: super::pull::RegistryFlags,
    /// Bind-mount a host path: HOST:CONTAINER[:OPTIONS] (ro, rw, nosuid, nodev, noexec, bind,
    /// rbind, private, rprivate, z, Z); HOST is absolute or starts with "."
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:OPTS]")]
    pub volume: Vec<String>,
    /// Mount: type=bind,source=HOST,target=PATH[,readonly][,bind-propagation=rprivate]
    /// [,bind-nonrecursive] or type=tmpfs,target=PATH[,tmpfs-size=SIZE][,tmpfs-mode=MODE]
    #[arg(long, value_name = "type=TYPE,...")]
    pub mount: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS] (size=, mode=, uid=, gid=, nr_inodes=, ro, [no]exec,
    /// [no]suid, [no]dev; default rw,noexec,nosuid,nodev)
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// With --read-only, mount tmpfs on /run, /tmp and /var/tmp
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub read_only_tmpfs: bool,
    /// User namespace: "" (default: you are root inside, your subordinate ids follow) or
    /// keep-id (your own uid and gid inside, the command runs as you)
    #[arg(long, value_name = "MODE", default_value = "")]
    pub userns: String,
    /// Network: pasta (userspace networking through pasta, the default; slirp4netns where pasta
    /// is not installed), pasta:OPT,... (pasta options of your own), slirp4netns[:mtu=N,cidr=,
    /// allow_host_loopback=,enable_ipv6=,outbound_addr=], container:NAME (share a running
    /// container's network), host (the host's network), none (loopback only), or NAME[,NAME...]
    /// (user networks made with `burrow network create`, whose members reach each other by
    /// name)
    #[arg(
        long,
        visible_alias = "net",
        value_name = "MODE",
        default_value = "pasta"
    )]
    pub network: String,
    /// Another name by which the container's fellow members of its user networks reach it
    #[arg(long = "network-alias", value_name = "NAME")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on its user network (one network only) [default: the first
    /// free one]
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<std::net::Ipv4Addr>,
    /// Publish a container port on the host: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp];
    /// ranges as 8000-8010:80-90; no HOST_PORT picks a free one
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Publish every port the image EXPOSEs on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// DNS server for the container [default: pasta's forwarder to the host's resolvers]
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<String>,
    /// DNS search domain [default: the host's]
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// resolv.conf option (ndots:2, ...) [default: the host's]
    #[arg(long = "dns-option", value_name = "OPT")]
    pub dns_option: Vec<String>,
    /// Add NAME:IP to the container's /etc/hosts
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Restart policy: no, on-failure[:MAX], always or unless-stopped. The container's monitor
    /// restarts it while your session lives (`run` without -d returns at the first exit); after
    /// a reboot or logout nothing restarts it (that is the job of a systemd user unit)
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub restart: String,
    /// Signal `burrow stop` sends first [default: the image's StopSignal, else SIGTERM]
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds `burrow stop` waits before SIGKILL [default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<u32>,
    /// Log option: max-size=SIZE rotates the log past SIZE (10m, 512k, ...), keeping one old
    /// log
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// Set a label on the container (KEY=VALUE, or KEY for an empty value)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The image to run (name, ID or ID prefix), then the command and its
    /// arguments [default: the image's entrypoint and command]. Everything
    /// after the image belongs to the command, as with Docker.
    #[arg(
        value_name = "IMAGE",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub argv: Vec<String>,
}

impl CreateArgs {
    pub fn image(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
    pub fn command(&self) -> &[String] {
        self.argv.get(1..).unwrap_or_default()
    }
}

/// A container made from the options, recorded with its spec in the store,
/// not yet started.
pub struct Created {
    pub record: ContainerRecord,
    /// With the log set: as `start` runs it.
    pub spec: ContainerSpec,
    pub userns: UserNs,
    pub containers: ContainerStore,
    /// Held while the container is made and run: garbage collection must
    /// not delete the layers its root is made of.
    _gc: GcGuard,
}

impl Created {
    pub fn new(
        record: ContainerRecord,
        spec: ContainerSpec,
        userns: UserNs,
        containers: ContainerStore,
        gc: GcGuard,
    ) -> Created {
        Created {
            record,
            spec,
            userns,
            containers,
            _gc: gc,
        }
    }
}

/// Check the options, pull the image if needed, and record the container.
/// `Err(code)` inside when a pull failed (its error is already printed).
pub fn create_container(ctx: &Ctx, args: &CreateArgs) -> anyhow::Result<Result<Created, i32>> {
    // A name that is no mode names user networks.
    let (mut network, user_networks) = match NetworkMode::parse(&args.network) {
        Ok(m) => (m, Vec::new()),
        Err(e) => match user_networks(ctx, &args.network) {
            Some(nets) => (NetworkMode::Bridge(Vec::new()), nets?),
            None => return Err(e.into()),
        },
    };
    if user_networks.is_empty() {
        if !args.network_alias.is_empty() {
            anyhow::bail!(
                "--network-alias names a container on user networks: it needs --network NAME (see burrow network create)"
            );
        }
        if args.ip.is_some() {
            anyhow::bail!(
                "--ip sets the container's address on a user network: it needs --network NAME (see burrow network create)"
            );
        }
    } else {
        if args.userns == "keep-id" {
            anyhow::bail!(
                "--userns=keep-id cannot be combined with user networks (--network {}): their members share one user namespace with your default id map",
                args.network
            );
        }
        if args.ip.is_some() && user_networks.len() > 1 {
            anyhow::bail!(
                "--ip sets the address on one network, but --network names {}: give one network, then `burrow network connect --ip` for the others",
                user_networks.len()
            );
        }
        if user_networks.iter().any(|n| !n.internal)
            && burrow::userns::find_host_program("pasta").is_none()
        {
            anyhow::bail!(burrow::netns::pasta::PastaError::Missing.to_string());
        }
    }
    // The default falls back to slirp4netns where pasta is missing.
    let have = |p: &str| burrow::userns::find_host_program(p).is_some();
    match &network {
        NetworkMode::Pasta(o) if o.is_empty() && !have("pasta") && have("slirp4netns") => {
            network = NetworkMode::Slirp4netns(Vec::new());
        }
        NetworkMode::Pasta(_) if !have("pasta") => {
            anyhow::bail!(if have("slirp4netns") {
                "pasta is not installed: install the passt package (apt-get install passt), or use --network slirp4netns".to_string()
            } else {
                burrow::netns::slirp::SlirpError::Missing.to_string()
            })
        }
        NetworkMode::Slirp4netns(opts) => {
            if !have("slirp4netns") {
                anyhow::bail!(
                    "slirp4netns is not installed: install it (apt-get install slirp4netns), or use --network pasta"
                );
            }
            burrow::netns::slirp::config(opts)?;
        }
        _ => {}
    }
    let names = name_config(args)?;
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    if let NetworkMode::Container(q) = &network {
        let other = containers.find(q)?;
        if !other.current_status().is_live() {
            anyhow::bail!(
                "container {} is not running: --network container:{q} shares the network of a running container",
                other.name
            );
        }
        let want_keep_id = args.userns == "keep-id";
        if other.keep_id.is_some() != want_keep_id {
            anyhow::bail!(
                "--network container:{q} needs the same --userns as container {} (which was made {}): containers that share a network share a user namespace",
                other.name,
                if want_keep_id {
                    "without keep-id"
                } else {
                    "with --userns=keep-id"
                }
            );
        }
        network = NetworkMode::Container(other.id);
    }
    let mut ports = Vec::new();
    for p in &args.publish {
        ports.extend(burrow::netns::ports::parse_publish(p)?);
    }
    if !ports.is_empty() && matches!(network, NetworkMode::Container(_)) {
        anyhow::bail!(
            "-p with --network container: publish the ports on the container whose network this one shares"
        );
    }
    if !ports.is_empty() && !user_networks.is_empty() && user_networks.iter().all(|n| n.internal) {
        anyhow::bail!(
            "-p: network {} is internal, with no way in from the host; publish ports on a container that is also on a network made without --internal",
            args.network
        );
    }
    if !ports.is_empty() && user_networks.is_empty() && !network.has_helper() {
        anyhow::bail!(
            "-p publishes ports through pasta or slirp4netns: it needs --network pasta (the default) or slirp4netns, not --network {}",
            args.network
        );
    }
    let restart: RestartPolicy = args.restart.parse()?;
    if args.rm && restart != RestartPolicy::No {
        anyhow::bail!(
            "--rm and --restart={restart} conflict: a container removed at exit cannot be restarted; drop one of them"
        );
    }
    let stop_signal = args.stop_signal.as_deref().map(parse_signal).transpose()?;
    let labels = parse_labels(&args.label)?;
    let log_max_size = parse_log_opts(&args.log_opt)?;
    // Options are checked before anything is pulled or created.
    let mounts = user_mounts(args)?;
    let ns = user_namespace(args)?;
    let keep_id = (args.userns == "keep-id").then_some((ns.identity.uid, ns.identity.gid));
    let requested = ctx
        .storage_driver
        .as_deref()
        .map(rootfs::Driver::parse)
        .transpose()?;
    let (driver, why) = rootfs::choose(requested, keep_id.is_some(), || {
        rootfs::cached_overlay_probe(&ctx.paths.runroot.join("overlay.probe"), || {
            burrow::system::overlay::probe_overlay(&ctx.paths)
        })
    })?;
    if let Some(why) = why {
        eprintln!("WARN: {why}");
    }
    let gc = store.gc_shared()?;
    let image = match image_for_run(ctx, &store, args)? {
        Ok(i) => i,
        Err(code) => return Ok(Err(code)),
    };
    let config = ImageConfig::from_json(&store.read_blob(&image.config_digest)?)?;
    // The image's StopSignal is checked as the user's would be: a bad one
    // is named, with the fix.
    let stop_signal = match (stop_signal, config.stop_signal.as_str()) {
        (Some(s), _) => Some(s),
        (None, "") => None,
        (None, s) => Some(parse_signal(s).with_context(|| {
            format!("the image's StopSignal {s:?}: give one with --stop-signal")
        })?),
    };
    if args.publish_all {
        for e in &config.exposed_ports {
            if let Some((port, proto)) = burrow::netns::ports::parse_exposed(e)
                && !ports
                    .iter()
                    .any(|p| p.container_port == port && p.proto == proto)
            {
                ports.push(burrow::netns::ports::PortMapping {
                    host_ip: None,
                    host_port: 0,
                    container_port: port,
                    proto,
                });
            }
        }
    }
    // A taken host port fails here, before anything is created.
    burrow::netns::ports::assign_free_ports(&mut ports)?;
    let id = new_id()?;
    let mut env = Vec::new();
    for file in &args.env_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading --env-file {}", file.display()))?;
        env.extend(
            parse_env_file(&text).with_context(|| format!("--env-file {}", file.display()))?,
        );
    }
    env.extend(args.env.iter().cloned());
    let opts = RunOptions {
        entrypoint: args.entrypoint.clone(),
        cmd: args.command().to_vec(),
        env,
        workdir: args.workdir.clone(),
        hostname: args.hostname.clone(),
    };
    let process = resolve_process(&config, &opts, &id[..12], |k| std::env::var(k).ok())?;
    let (confine, seccomp_mode) = confinement(ctx, args)?;
    // keep-id runs as the user unless -u says otherwise, as in Podman.
    let run_user = match (&args.user, keep_id) {
        (Some(u), _) => u.clone(),
        (None, Some((uid, gid))) => format!("{uid}:{gid}"),
        (None, None) => config.user.clone(),
    };
    let exec = ExecContext {
        env: process.env.clone(),
        cwd: process.cwd.clone(),
        user: run_user.clone(),
        caps: confine.caps.mask(),
        seccomp: seccomp_mode,
        privileged: args.privileged,
    };
    let mut all_labels = config.labels.clone();
    all_labels.extend(labels);

    let record = ContainerRecord {
        id: id.clone(),
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("ctr-{}", &id[..12])),
        image_id: image.id.clone(),
        image: args.image().to_string(),
        command: process.args.clone(),
        created: Utc::now(),
        status: Status::Created,
        exit_code: None,
        finished: None,
        storage_driver: Some(driver),
        keep_id,
        started: None,
        monitor: None,
        pid: None,
        exec: Some(exec),
        mounts: mounts.iter().map(recorded_mount).collect(),
        restart,
        restart_count: 0,
        stopped_by_user: false,
        stop_signal,
        stop_timeout: args.stop_timeout,
        labels: all_labels,
        auto_remove: args.rm,
        ports: ports.clone(),
        network: args.network.clone(),
        networks: Vec::new(),
    };
    let dir = containers.dir_of(&id);
    let mut spec = ContainerSpec {
        id: id.clone(),
        log: None,
        dir,
        lowers: image
            .layers
            .iter()
            .rev()
            .map(|l| store.layer_diff_path(&l.chain_id))
            .collect(),
        hostname: process.hostname,
        args: process.args,
        env: process.env,
        cwd: process.cwd,
        network,
        confine,
        user: run_user,
        stdin: args.interactive,
        tty: args.tty,
        winsize: None,
        init: args.init,
        mounts,
        read_only: args.read_only,
        driver,
        keep_id,
        id_counts: (ns.default_counts.0, ns.default_counts.1),
        log_max_size,
        ports,
        names,
        join_netns_pid: None,
        shared_netns_fd: None,
    };
    spec.log = Some(spec.log_path());
    let mut record = record;
    containers.create_with(&mut record, |all, rec| {
        for net in &user_networks {
            let att = attachment_for(net, all, rec, args.ip, &args.network_alias)?;
            rec.networks.push(att);
        }
        Ok(())
    })?;
    if let NetworkMode::Bridge(atts) = &mut spec.network {
        atts.clone_from(&record.networks);
    }
    if let Err(e) = containers.save_spec(&spec) {
        let _ = containers.remove(&id);
        return Err(e.into());
    }
    Ok(Ok(Created {
        record,
        spec,
        userns: ns.userns,
        containers,
        _gc: gc,
    }))
}

/// The user networks `--network` names (comma-separated), or None when
/// it cannot name any (`MODE:OPTIONS`, then a bad mode); an error names an
/// unknown network.
fn user_networks(
    ctx: &Ctx,
    arg: &str,
) -> Option<anyhow::Result<Vec<burrow::netns::network::Network>>> {
    if arg.contains(':') || burrow::netns::network::RESERVED.contains(&arg) {
        return None;
    }
    let lookup = || -> anyhow::Result<Vec<burrow::netns::network::Network>> {
        let store = burrow::netns::network::NetworkStore::open(&ctx.paths.root)?;
        let mut out: Vec<burrow::netns::network::Network> = Vec::new();
        for name in arg.split(',') {
            let net = store.get(name)?;
            if !out.iter().any(|o| o.id == net.id) {
                out.push(net);
            }
        }
        Ok(out)
    };
    Some(lookup())
}

/// The container's membership of `net`: an address no other container
/// has there (`ip` if given), a free interface name, its aliases.
pub fn attachment_for(
    net: &burrow::netns::network::Network,
    others: &[ContainerRecord],
    rec: &ContainerRecord,
    ip: Option<std::net::Ipv4Addr>,
    aliases: &[String],
) -> Result<burrow::netns::network::Attachment, String> {
    use burrow::netns::network::{Attachment, allocate_ip, free_ifname};
    if rec.networks.iter().any(|a| a.network_id == net.id) {
        return Err(format!(
            "container {} is already connected to network {}",
            rec.name, net.name
        ));
    }
    let used = others.iter().flat_map(|c| {
        c.networks
            .iter()
            .filter(|a| a.network_id == net.id)
            .map(move |a| (a.ip, c.name.as_str()))
    });
    let ip = allocate_ip(net, used, ip).map_err(|e| e.to_string())?;
    for a in aliases {
        if !burrow::runtime::container::valid_name(a) {
            return Err(format!(
                "invalid network alias {a:?}: use letters, digits, '_', '.' or '-', starting with a letter or digit"
            ));
        }
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

fn recorded_mount(m: &mounts::Mount) -> RecordedMount {
    RecordedMount {
        kind: match m.kind {
            mounts::MountKind::Bind { .. } => "bind".into(),
            mounts::MountKind::Tmpfs { .. } => "tmpfs".into(),
        },
        source: match &m.kind {
            mounts::MountKind::Bind { source, .. } => source.display().to_string(),
            mounts::MountKind::Tmpfs { .. } => "tmpfs".into(),
        },
        destination: m.destination.clone(),
        rw: !m.readonly,
    }
}

/// The user namespace a container starts in, when not a new one of its
/// own.
pub enum Join {
    Own,
    /// `--network container:ID`: that container's (an open
    /// /proc/PID/ns/user), whose network namespace it shares.
    Userns(std::fs::File),
    /// User networks: burrow's shared namespaces, held while this lives
    /// (the container's monitor inherits the hold).
    Shared(burrow::netns::shared::SharedNetns),
}

impl Join {
    pub fn userns(&self) -> Option<&std::fs::File> {
        match self {
            Join::Own => None,
            Join::Userns(f) => Some(f),
            Join::Shared(s) => Some(&s.userns),
        }
    }
}

/// What a container joins as it starts: with `--network container:ID`
/// that container's user namespace (its process recorded in the spec), on
/// user networks the shared namespaces (connecting to, or starting, their
/// holder), with the memberships as the record has them now.
pub fn join_target(
    ctx: &Ctx,
    containers: &ContainerStore,
    spec: &mut ContainerSpec,
    map: &burrow::userns::IdMap,
) -> anyhow::Result<Join> {
    match &spec.network {
        NetworkMode::Container(id) => {
            let other = containers.find(id).map_err(|_| {
                anyhow::anyhow!(
                    "container {id}, whose network this one shares, no longer exists: remove this container and make it again"
                )
            })?;
            match (other.current_status().is_live(), other.pid) {
                (true, Some(pid)) => {
                    spec.join_netns_pid = Some(pid);
                    let path = format!("/proc/{pid}/ns/user");
                    let file = std::fs::File::open(&path).with_context(|| {
                        format!(
                            "opening {path} (is container {} still running?)",
                            other.name
                        )
                    })?;
                    Ok(Join::Userns(file))
                }
                _ => anyhow::bail!(
                    "container {}, whose network this one shares, is not running: start it first",
                    other.name
                ),
            }
        }
        NetworkMode::Bridge(_) => {
            let networks = containers.get(&spec.id)?.networks;
            spec.network = NetworkMode::Bridge(networks);
            let members = burrow::runtime::members::Members::of_container(&spec.dir);
            let shared = burrow::netns::shared::connect_or_start(&ctx.paths.runroot, map, || {
                members.anchor()
            })
            .context("joining the user networks' shared namespace")?;
            spec.shared_netns_fd = Some(std::os::fd::AsRawFd::as_raw_fd(&shared.netns));
            Ok(Join::Shared(shared))
        }
        _ => Ok(Join::Own),
    }
}

/// `--dns`, `--dns-search`, `--dns-option`, `--add-host`, checked.
fn name_config(args: &CreateArgs) -> anyhow::Result<NameConfig> {
    for d in &args.dns {
        d.parse::<std::net::IpAddr>()
            .map_err(|_| anyhow::anyhow!("invalid --dns {d:?}: give an IP address"))?;
    }
    let mut hosts = Vec::new();
    for h in &args.add_host {
        let (name, ip) = h
            .split_once(':')
            .filter(|(n, i)| !n.is_empty() && i.parse::<std::net::IpAddr>().is_ok())
            .ok_or_else(|| {
                anyhow::anyhow!("invalid --add-host {h:?}: use NAME:IP, e.g. db:10.0.0.5")
            })?;
        hosts.push((name.to_string(), ip.to_string()));
    }
    Ok(NameConfig {
        servers: args.dns.clone(),
        search: args.dns_search.clone(),
        options: args.dns_option.clone(),
        hosts,
    })
}

/// `--log-opt max-size=SIZE`: the one log option of the k8s-file log.
fn parse_log_opts(opts: &[String]) -> anyhow::Result<Option<u64>> {
    let mut max = None;
    for o in opts {
        match o.split_once('=') {
            Some(("max-size", v)) => {
                max = Some(burrow::runtime::logs::parse_size(v).ok_or_else(|| {
                    anyhow::anyhow!("invalid --log-opt {o:?}: give a size such as 10m, 512k or 1g")
                })?)
            }
            _ => anyhow::bail!(
                "unsupported --log-opt {o:?}: the container log (k8s-file) takes max-size=SIZE"
            ),
        }
    }
    Ok(max)
}

/// `--label KEY=VALUE` (or `KEY`, an empty value).
pub fn parse_labels(labels: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        if k.is_empty() {
            anyhow::bail!("invalid label {l:?}: use KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, run_args: &RunArgs) -> anyhow::Result<i32> {
    let args = &run_args.c;
    let detach_keys = parse_detach_keys(&run_args.detach_keys)?;
    let created = match create_container(ctx, args)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if run_args.detach {
        return start_detached(ctx, created, true, None);
    }
    // With a terminal, a restart policy (someone must outlive this command
    // to restart the container, as Docker's daemon does) or without signal
    // proxying, the container belongs to a monitor from the start and this
    // command attaches to it: the detach keys leave it running.
    if args.tty || created.record.restart != RestartPolicy::No || !run_args.sig_proxy {
        let attach = AttachRequest {
            stdin: args.interactive,
            detach_keys,
            sig_proxy: run_args.sig_proxy,
        };
        return start_detached(ctx, created, false, Some(attach));
    }
    let Created {
        record,
        spec,
        userns,
        containers,
        _gc,
    } = created;
    let id = record.id.clone();
    let mut spec = spec;
    // In the foreground the container writes to burrow's own stdout and
    // stderr; only a detached one has a log.
    spec.log = None;
    let join = join_target(ctx, &containers, &mut spec, &userns.map)?;
    let rm = args.rm;
    let result = ctx.in_namespace_of(userns, join.userns(), |_| {
        // Here, in the monitor: its pid is what says the container lives.
        let mut keeper = RecordKeeper {
            containers: &containers,
            id: id.clone(),
            remove: false,
        };
        let code = run_container(&spec, None, || keeper.started(container_pid()), || {})
            .unwrap_or_else(|e| report_run_error(&e));
        // The upper directory holds files of container ids: only here, in
        // the user namespace, can they all be removed.
        if rm && let Err(e) = containers.remove(&id) {
            eprintln!("Error: removing container {id}: {e}");
            return super::EXIT_ENGINE;
        }
        code
    });
    let code = match result {
        Ok(c) => c,
        Err(e) => {
            if rm {
                let _ = containers.remove(&id);
            }
            return Err(e).context("starting the container");
        }
    };
    if !rm {
        match containers.modify(&id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished = Some(Utc::now());
            r.monitor = None;
            r.pid = None;
        }) {
            // Removed by `burrow rm -f` while it ran.
            Err(ContainerError::Gone(_)) => {}
            other => {
                other?;
            }
        }
    }
    Ok(code)
}

/// Show why a container's command did not run, as Docker does (burrow's
/// failures as `Error:`, the command's own, 126/127, as burrow's remark
/// about it), and return the exit code to leave with.
pub(crate) fn report_run_error(e: &burrow::runtime::RunError) -> i32 {
    if let burrow::runtime::RunError::Monitor { output, .. } = e {
        eprint!("{output}");
    }
    let message = e.to_string();
    if !message.is_empty() {
        if e.is_engine_failure() {
            eprintln!("Error: {message}");
        } else {
            eprintln!("burrow: {message}");
        }
    }
    e.exit_code()
}

/// How the command that starts a container attaches to it.
pub struct AttachRequest {
    /// Forward our stdin.
    pub stdin: bool,
    pub detach_keys: Vec<u8>,
    /// Pass the signals we receive on to the container.
    pub sig_proxy: bool,
}

/// Start a created container under a monitor of its own. Without `attach`
/// return once its command runs (printing its ID with `print_id`, as `run
/// -d`); with it, relay between our stdio and the container until it
/// exits (its exit code) or the user detaches (0).
pub fn start_detached(
    ctx: &Ctx,
    created: Created,
    print_id: bool,
    attach: Option<AttachRequest>,
) -> anyhow::Result<i32> {
    let Created {
        record,
        mut spec,
        userns,
        containers,
        _gc,
    } = created;
    let id = record.id.clone();
    let remove = record.auto_remove;
    let (client, monitor_end) = match &attach {
        Some(_) => {
            let (a, b) =
                burrow::runtime::attach::socket_pair().context("creating the attach socket")?;
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    // Raw mode belongs to this process, not to the monitor: whatever
    // happens to the monitor, the user's terminal is restored on return.
    let raw = match &attach {
        Some(a) if a.stdin && spec.tty => {
            let raw = tty::RawMode::enter().context("putting the terminal in raw mode")?;
            if raw.is_none() {
                eprintln!("WARN: the input device is not a TTY: -t and -i might not work properly");
            }
            raw
        }
        _ => None,
    };
    if spec.tty {
        spec.winsize = tty::host_winsize();
    }
    let join = join_target(ctx, &containers, &mut spec, &userns.map)?;
    // The forked side must not keep our end of the attach socket: the
    // monitor would then never see this command go away.
    let client_fd = client.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    let result = ctx.in_namespace_of(userns, join.userns(), |_| {
        if let Some(fd) = client_fd {
            // SAFETY: the fork's copy of the descriptor, never used (nor
            // dropped: this process leaves with _exit) on this side.
            unsafe { libc::close(fd) };
        }
        let mut keeper = RecordKeeper {
            containers: &containers,
            id: id.clone(),
            remove,
        };
        match run_detached(&spec, monitor_end, &mut keeper) {
            Ok(()) => {
                if print_id {
                    println!("{id}");
                }
                0
            }
            Err(e) => report_run_error(&e),
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            if remove {
                let _ = containers.remove(&id);
            }
            return Err(e).context("starting the container");
        }
    };
    let (Some(client), Some(req), 0) = (client, attach, code) else {
        return Ok(code);
    };
    let monitor = containers.find(&id).ok().and_then(|r| r.monitor);
    let code = super::attach::relay(
        &containers,
        &id,
        &client,
        &req,
        req.stdin,
        spec.tty,
        monitor.map(|m| m.pid),
    );
    drop(raw);
    code
}

/// The exit code to report when the monitor went away mid-attachment: the
/// recorded one, if it got that far, else an engine error.
pub fn lost_monitor(containers: &ContainerStore, id: &str) -> i32 {
    match containers.find(id) {
        Ok(r) if r.current_status() == Status::Exited && r.exit_code.is_some() => {
            r.exit_code.unwrap_or(super::EXIT_ENGINE)
        }
        _ => {
            eprintln!(
                "Error: the monitor of container {} ended unexpectedly",
                &id[..12]
            );
            super::EXIT_ENGINE
        }
    }
}

/// The user namespace a run uses, and the size of the default map.
struct RunNamespace {
    userns: UserNs,
    identity: burrow::userns::UserIdentity,
    default_counts: (u32, u32),
}

fn user_namespace(args: &CreateArgs) -> anyhow::Result<RunNamespace> {
    if !matches!(args.userns.as_str(), "" | "keep-id") {
        anyhow::bail!(
            "--userns={} is not supported: use --userns=keep-id or leave it out",
            args.userns
        );
    }
    let default = UserNs::for_current_user()?;
    let identity = default.identity.clone();
    let default_counts = (default.map.uid_count(), default.map.gid_count());
    let userns = if args.userns == "keep-id" {
        keep_id_namespace(default)?
    } else {
        default
    };
    Ok(RunNamespace {
        userns,
        identity,
        default_counts,
    })
}

/// The namespace a container was created for: the user's default map, or
/// the keep-id map over the same ids when it was made with keep-id.
pub fn namespace_for(keep_id: Option<(u32, u32)>) -> anyhow::Result<UserNs> {
    let default = UserNs::for_current_user()?;
    match keep_id {
        Some(_) => keep_id_namespace(default),
        None => Ok(default),
    }
}

fn keep_id_namespace(default: UserNs) -> anyhow::Result<UserNs> {
    let identity = default.identity;
    let map = default.map.keep_id(identity.uid, identity.gid).ok_or_else(|| {
        anyhow::anyhow!(
            "--userns=keep-id needs subordinate ids for {name} in /etc/subuid and /etc/subgid covering at least {} ids: add a range with `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}`",
            identity.uid.max(identity.gid) + 1,
            name = identity.name
        )
    })?;
    Ok(UserNs { identity, map })
}

/// `-v`, `--mount`, `--tmpfs` and `--read-only`'s tmpfs, checked.
fn user_mounts(args: &CreateArgs) -> anyhow::Result<Vec<mounts::Mount>> {
    let cwd = std::env::current_dir().context("finding the current directory for -v")?;
    let mut all = Vec::new();
    for v in &args.volume {
        all.push(mounts::parse_volume(v, &cwd)?);
    }
    for m in &args.mount {
        all.push(mounts::parse_mount(m, &cwd)?);
    }
    for t in &args.tmpfs {
        all.push(mounts::parse_tmpfs(t)?);
    }
    if args.read_only && args.read_only_tmpfs {
        let extra = mounts::read_only_tmpfs(&all);
        all.extend(extra);
    }
    Ok(mounts::finish(all)?)
}

/// The image to run, pulled first if `--pull` says so; `Err(code)` when
/// the pull failed (its error is already printed).
fn image_for_run(
    ctx: &Ctx,
    store: &Store,
    args: &CreateArgs,
) -> anyhow::Result<Result<burrow::storage::ImageRecord, i32>> {
    super::pull::image_as_policy(
        ctx,
        store,
        args.image(),
        &args.pull,
        args.platform.as_deref(),
        &args.registry,
        args.quiet,
    )
}

/// Resolved before any record exists, so a bad name or profile leaves
/// nothing behind.
fn confinement(ctx: &Ctx, args: &CreateArgs) -> anyhow::Result<(Confinement, String)> {
    let mut mode = SeccompMode::Default;
    for o in &args.security_opt {
        match parse_security_opt(o)? {
            SecurityOpt::Seccomp(m) => mode = m,
            // Always set: an unprivileged seccomp filter requires it.
            SecurityOpt::NoNewPrivileges => {}
        }
    }
    let caps = confine::resolve(&CapabilityOptions {
        add: args.cap_add.clone(),
        drop: args.cap_drop.clone(),
        privileged: args.privileged,
    })?;
    let seccomp = if args.privileged {
        None
    } else {
        confine::prepare_cached(&mode, &caps, &ctx.paths.runroot.join("seccomp"))?
    };
    let mode_name = match &mode {
        SeccompMode::Default => "default".to_string(),
        SeccompMode::Unconfined => "unconfined".to_string(),
        SeccompMode::Profile(p) => p.display().to_string(),
    };
    Ok((
        Confinement {
            caps,
            seccomp,
            privileged: args.privileged,
        },
        mode_name,
    ))
}

#[cfg(test)]
mod tests {
    use crate::commands::{Cli, Command};
    use clap::Parser;

    #[test]
    fn options_after_the_image_belong_to_the_command() {
        let cli = Cli::try_parse_from([
            "burrow", "run", "--rm", "-e", "A=1", "img", "sh", "-c", "exit 3", "--rm",
        ])
        .unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert!(a.c.rm);
        assert_eq!(a.c.env, ["A=1"]);
        assert_eq!(a.c.image(), "img");
        assert_eq!(a.c.command(), ["sh", "-c", "exit 3", "--rm"]);
        assert_eq!(a.c.network, "pasta");
        // Burrow's own options after the image are the command's, too.
        let cli =
            Cli::try_parse_from(["burrow", "run", "img", "-u", "1000", "--rm", "id"]).unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!(a.c.user, None);
        assert!(!a.c.rm);
        assert_eq!(a.c.command(), ["-u", "1000", "--rm", "id"]);
        let cli = Cli::try_parse_from(["burrow", "run", "-u", "app", "img"]).unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!((a.c.user.as_deref(), a.c.image()), (Some("app"), "img"));
        assert!(a.c.command().is_empty());
        assert!(Cli::try_parse_from(["burrow", "run", "--rm"]).is_err());
    }
}
