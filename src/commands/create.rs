//! `burrow create`, and the options of a new container that `run` shares:
//! each turns into a call of the engine's request builder.

use std::path::PathBuf;

use burrow::engine::{ContainerRequest, Engine, PullPolicy, RequestError};
use clap::Args;

#[derive(Debug, Args)]
#[command(override_usage = "burrow create [OPTIONS] IMAGE [COMMAND [ARG...]]")]
pub struct CreateCmdArgs {
    #[command(flatten)]
    pub c: CreateArgs,
}

pub fn run(ctx: &Engine, args: &CreateCmdArgs) -> anyhow::Result<i32> {
    let req = args.c.request()?;
    let created = ctx.create(&req, &|| super::pull::observer(args.c.quiet))?;
    println!("{}", created.record.id);
    Ok(0)
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
    /// With --name: remove a container of that name first (stopping it), as Podman's --replace
    #[arg(long, requires = "name")]
    pub replace: bool,
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
    #[arg(
        short = 'u',
        long = "user",
        value_name = "USER[:GROUP]",
        allow_hyphen_values = true
    )]
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
    /// Mount a host path, HOST:CONTAINER[:OPTIONS] (ro, rw, nosuid, nodev, noexec, bind, rbind,
    /// private, rprivate, z, Z; HOST is absolute or starts with "."), a volume,
    /// NAME:CONTAINER[:OPTIONS] (ro, rw, nocopy, U, z, Z; made if missing), or a new anonymous
    /// volume, CONTAINER
    #[arg(short = 'v', long = "volume", value_name = "[SOURCE:]CONTAINER[:OPTS]")]
    pub volume: Vec<String>,
    /// Mount: type=bind,source=HOST,target=PATH[,readonly][,bind-propagation=rprivate]
    /// [,bind-nonrecursive], type=volume[,source=NAME],target=PATH[,readonly][,volume-nocopy]
    /// [,volume-opt=K=V][,volume-label=K=V] or type=tmpfs,target=PATH[,tmpfs-size=SIZE]
    /// [,tmpfs-mode=MODE]
    #[arg(long, value_name = "type=TYPE,...")]
    pub mount: Vec<String>,
    /// Mount the binds and volumes of another container: CONTAINER[:ro|rw] (default: as they
    /// are mounted there)
    #[arg(long, value_name = "CONTAINER[:ro|rw]")]
    pub volumes_from: Vec<String>,
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
    /// keep-id[:uid=UID,gid=GID] (your own uid and gid inside, or UID:GID; the command runs as
    /// you)
    #[arg(long, value_name = "MODE", default_value = "")]
    pub userns: String,
    /// Network: pasta (userspace networking through pasta, the default, also named bridge,
    /// podman, private and default as Docker and Podman name theirs; slirp4netns where pasta
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
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
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
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "OPT")]
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
    /// Where the output of a monitored container (-d, -t, --restart) goes: k8s-file or
    /// json-file (the container's log, read by `burrow logs`), none (no log), passthrough (no
    /// log; in the foreground the container's stdio are burrow's; not with -d)
    #[arg(long, value_name = "DRIVER", default_value = "k8s-file")]
    pub log_driver: String,
    /// Log option: max-size=SIZE rotates the log past SIZE (10m, 512k, ...), keeping one old
    /// log
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// Memory limit (512m, 1g, ...): needs a cgroup v2 subtree delegated to you (see `burrow
    /// system check`)
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Memory and swap together (or -1 for unlimited swap); as --memory
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPUs the container may use (1.5, ...); as --memory
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    /// The most processes in the container (-1 for no limit); as --memory
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Time zone of the container: local (the host's) or a zone of /usr/share/zoneinfo
    /// (Europe/Paris, ...), bound on /etc/localtime
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Add a supplementary group to the container's process and exec's (a name from the
    /// container's /etc/group, or a gid in 0-2147483647; repeatable)
    #[arg(long = "group-add", value_name = "GROUP", allow_hyphen_values = true)]
    pub group_add: Vec<String>,
    /// Resource limit of the container's processes, in Docker's syntax: NAME=SOFT[:HARD]
    /// (nofile=1024:2048, nproc=100, core=-1 for unlimited; repeatable)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Seconds the container may run: then it is stopped with its stop signal, and killed
    /// after its stop timeout (0: no limit)
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u32>,
    /// Set a label on the container (KEY=VALUE, or KEY for an empty value)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    #[command(flatten)]
    pub health: super::healthcheck::HealthFlags,
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

    /// The request these options make.
    pub fn request(&self) -> Result<ContainerRequest, RequestError> {
        let mut b = ContainerRequest::builder(self.image())
            .pull(self.pull.parse::<PullPolicy>()?)
            .platform(self.platform.clone())
            .registry(self.registry.options())
            .command(self.command().iter().cloned())
            .entrypoint(self.entrypoint.clone())
            .workdir(self.workdir.clone())
            .hostname(self.hostname.clone())
            .stdin(self.interactive)
            .tty(self.tty)
            .init(self.init)
            .read_only(self.read_only, self.read_only_tmpfs)
            .privileged(self.privileged)
            .auto_remove(self.rm)
            .replace(self.replace)
            .stop_timeout(self.stop_timeout)
            .timeout(self.timeout)
            .ip(self.ip)
            .publish_all(self.publish_all)
            .user(self.user.clone())?
            .network(&self.network)?
            .userns(&self.userns)?
            .restart(&self.restart)?
            .log_driver(&self.log_driver)?;
        if let Some(name) = &self.name {
            b = b.name(name)?;
        }
        // Env files first: -e wins.
        for f in &self.env_file {
            b = b.env_file(f)?;
        }
        if let Some(tz) = &self.tz {
            b = b.timezone(tz)?;
        }
        for g in &self.group_add {
            b = b.group_add(g)?;
        }
        for u in &self.ulimit {
            b = b.ulimit(u)?;
        }
        for e in &self.env {
            b = b.env(e)?;
        }
        for v in &self.volume {
            b = b.volume(v)?;
        }
        for m in &self.mount {
            b = b.mount(m)?;
        }
        for c in &self.volumes_from {
            b = b.volumes_from(c)?;
        }
        for t in &self.tmpfs {
            b = b.tmpfs(t)?;
        }
        for c in &self.cap_add {
            b = b.cap_add(c);
        }
        for c in &self.cap_drop {
            b = b.cap_drop(c);
        }
        for o in &self.security_opt {
            b = b.security_opt(o)?;
        }
        for a in &self.network_alias {
            b = b.network_alias(a);
        }
        for p in &self.publish {
            b = b.publish(p)?;
        }
        for d in &self.dns {
            b = b.dns(d)?;
        }
        for d in &self.dns_search {
            b = b.dns_search(d);
        }
        for o in &self.dns_option {
            b = b.dns_option(o);
        }
        for h in &self.add_host {
            b = b.add_host(h)?;
        }
        if let Some(s) = &self.stop_signal {
            b = b.stop_signal(s)?;
        }
        for o in &self.log_opt {
            b = b.log_opt(o)?;
        }
        for l in &self.label {
            b = b.label(l)?;
        }
        if let Some(m) = &self.memory {
            b = b.memory(m)?;
        }
        if let Some(m) = &self.memory_swap {
            b = b.memory_swap(m)?;
        }
        if let Some(c) = &self.cpus {
            b = b.cpus(c)?;
        }
        if let Some(p) = &self.pids_limit {
            b = b.pids_limit(p)?;
        }
        b = self.health.apply(b)?;
        b.build()
    }
}
