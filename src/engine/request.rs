//! What a front end asks the engine for: a [`ContainerRequest`], made with
//! a [`ContainerRequestBuilder`] whose methods take values as users write
//! them (`8080:80`, `./data:/data:ro`, `on-failure:3`) and check each as
//! it comes, so a bad value is refused before anything is pulled or made.
//! Checks between options wait for [`ContainerRequestBuilder::build`];
//! checks against the image, the store and the host for
//! [`super::Engine::create`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::error::RequestError;
use super::pull::{PullPolicy, RegistryOptions};
use crate::confine::{SeccompMode, SecurityOpt, parse_security_opt};
use crate::netns::ports::{PortMapping, parse_publish};
use crate::runtime::NetworkMode;
use crate::runtime::lifecycle::{RestartPolicy, parse_signal};
use crate::runtime::mounts::{self, Mount};
use crate::runtime::spec::{LogDriver, NameConfig, parse_env_file};

/// The image a container is made from, and how to get it.
#[derive(Debug, Clone, Default)]
pub struct ImageRequest {
    /// Name, ID or ID prefix, as the user wrote it.
    pub reference: String,
    pub pull: PullPolicy,
    /// OS/ARCH[/VARIANT] to pull [default: this host].
    pub platform: Option<String>,
    pub registry: RegistryOptions,
}

/// The container's process.
#[derive(Debug, Clone, Default)]
pub struct ProcessRequest {
    /// Arguments after the image [default: the image's command].
    pub command: Vec<String>,
    /// Replaces the image's entrypoint ("" clears it, and the image's
    /// command with it).
    pub entrypoint: Option<String>,
    /// `K=V`, or `K` to copy K from the caller's environment; later ones
    /// win.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `user[:group]` [default: the image's, or the user with keep-id].
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// A terminal of its own.
    pub tty: bool,
    /// It reads the caller's standard input.
    pub stdin: bool,
    /// burrow stays pid 1, forwarding signals and reaping.
    pub init: bool,
    /// `--tz`: the zone file for /etc/localtime.
    pub timezone: Option<PathBuf>,
    /// `--group-add`: supplementary groups (names or ids).
    pub group_add: Vec<String>,
    /// `--ulimit`: resource limits (a later one of a name wins).
    pub ulimits: Vec<crate::runtime::ulimit::Ulimit>,
}

/// The container's filesystem beyond the image.
#[derive(Debug, Clone, Default)]
pub struct FilesystemRequest {
    /// Bind mounts and tmpfs mounts, checked and ordered at build.
    pub mounts: Vec<Mount>,
    pub read_only: bool,
    /// With `read_only`: tmpfs on /run, /tmp and /var/tmp.
    pub read_only_tmpfs: bool,
    /// `--volumes-from CTR[:ro|rw]`: that container's binds and volumes,
    /// read-only (true), read-write (false) or as they are there (None).
    pub volumes_from: Vec<(String, Option<bool>)>,
}

/// Which network the container is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkChoice {
    /// A mode of its own: pasta, slirp4netns, none, host, container:X.
    Mode(NetworkMode),
    /// User networks by name.
    Networks(Vec<String>),
}

/// The container's network.
#[derive(Debug, Clone)]
pub struct NetworkRequest {
    pub choice: NetworkChoice,
    /// As the user wrote it (kept in the record).
    pub given: String,
    /// Other names on its user networks.
    pub aliases: Vec<String>,
    /// Its address on its (one) user network.
    pub ip: Option<Ipv4Addr>,
    pub ports: Vec<PortMapping>,
    /// Publish every port the image exposes.
    pub publish_all: bool,
    pub names: NameConfig,
}

impl Default for NetworkRequest {
    fn default() -> NetworkRequest {
        NetworkRequest {
            choice: NetworkChoice::Mode(NetworkMode::Pasta(Vec::new())),
            given: "pasta".to_string(),
            aliases: Vec::new(),
            ip: None,
            ports: Vec::new(),
            publish_all: false,
            names: NameConfig::default(),
        }
    }
}

/// The user namespace a container runs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UsernsMode {
    /// Root inside is the user; subordinate ids follow.
    #[default]
    Default,
    /// The user is `uid`:`gid` inside (their own ids when None); the
    /// command runs as the user.
    KeepId { uid: Option<u32>, gid: Option<u32> },
}

/// Capabilities, seccomp and the masked kernel paths.
#[derive(Debug, Clone)]
pub struct ConfinementRequest {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: SeccompMode,
    /// Every capability of the user namespace, no filter, nothing masked.
    pub privileged: bool,
}

impl Default for ConfinementRequest {
    fn default() -> ConfinementRequest {
        ConfinementRequest {
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            seccomp: SeccompMode::Default,
            privileged: false,
        }
    }
}

/// Resource limits (`--memory`, `--memory-swap`, `--cpus`,
/// `--pids-limit`), applied through a delegated cgroup v2 subtree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitsRequest {
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// Bytes of memory and swap together; -1 for unlimited swap.
    pub memory_swap: Option<i64>,
    /// CPUs, fractions allowed.
    pub cpus: Option<f64>,
    /// Processes; -1 for no limit.
    pub pids: Option<i64>,
}

impl LimitsRequest {
    pub fn is_empty(&self) -> bool {
        *self == LimitsRequest::default()
    }
}

/// What happens when the container's command exits, and how it is
/// stopped.
#[derive(Debug, Clone, Default)]
pub struct LifecycleRequest {
    pub restart: RestartPolicy,
    /// Removed when it exits.
    pub auto_remove: bool,
    /// The signal `stop` sends first [default: the image's, else SIGTERM].
    pub stop_signal: Option<i32>,
    /// Seconds `stop` waits before SIGKILL [default: 10].
    pub stop_timeout: Option<u32>,
    /// The log is rotated past this size.
    pub log_max_size: Option<u64>,
    /// `--timeout`: seconds it may run before it is stopped.
    pub timeout: Option<u32>,
    /// `--log-driver`.
    pub log_driver: LogDriver,
}

/// Everything a container is made from.
#[derive(Debug, Clone, Default)]
pub struct ContainerRequest {
    pub name: Option<String>,
    pub image: ImageRequest,
    pub process: ProcessRequest,
    pub filesystem: FilesystemRequest,
    pub network: NetworkRequest,
    pub userns: UsernsMode,
    pub confinement: ConfinementRequest,
    pub lifecycle: LifecycleRequest,
    /// Over the image's labels.
    pub labels: BTreeMap<String, String>,
    /// A container already of this name is removed first.
    pub replace: bool,
    pub limits: LimitsRequest,
    /// `--health-*`: over the image's healthcheck.
    pub health: crate::runtime::health::HealthOptions,
    /// What `build` dropped or changed, for [`super::Engine::create`] to
    /// warn about (`-p` with `--network host`).
    pub warnings: Vec<String>,
}

impl ContainerRequest {
    /// A request for a container of `image`, with every default.
    pub fn builder(image: &str) -> ContainerRequestBuilder {
        ContainerRequestBuilder {
            req: ContainerRequest {
                image: ImageRequest {
                    reference: image.to_string(),
                    ..ImageRequest::default()
                },
                filesystem: FilesystemRequest {
                    read_only_tmpfs: true,
                    ..FilesystemRequest::default()
                },
                ..ContainerRequest::default()
            },
            base_dir: None,
        }
    }
}

/// Builds a [`ContainerRequest`], checking each value as it is given.
#[derive(Debug, Clone)]
pub struct ContainerRequestBuilder {
    req: ContainerRequest,
    /// Where relative host paths start [default: the current directory].
    base_dir: Option<PathBuf>,
}

/// Where time zones are looked up.
const ZONEINFO: &str = "/usr/share/zoneinfo";

fn invalid(msg: String) -> RequestError {
    RequestError::Invalid(msg)
}

impl ContainerRequestBuilder {
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 253 characters.
    pub fn name(mut self, name: impl Into<String>) -> Result<Self, RequestError> {
        let name = name.into();
        if !crate::runtime::container::valid_name(&name) {
            return Err(crate::runtime::ContainerError::BadName(name).into());
        }
        self.req.name = Some(name);
        Ok(self)
    }

    pub fn pull(mut self, policy: PullPolicy) -> Self {
        self.req.image.pull = policy;
        self
    }

    pub fn platform(mut self, platform: Option<String>) -> Self {
        self.req.image.platform = platform;
        self
    }

    pub fn registry(mut self, registry: RegistryOptions) -> Self {
        self.req.image.registry = registry;
        self
    }

    /// The command and its arguments [default: the image's].
    pub fn command<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.req.process.command = argv.into_iter().map(Into::into).collect();
        self
    }

    pub fn entrypoint(mut self, entrypoint: Option<String>) -> Self {
        self.req.process.entrypoint = entrypoint;
        self
    }

    /// `K=V`, or `K` to copy K from the caller's environment.
    pub fn env(mut self, var: impl Into<String>) -> Result<Self, RequestError> {
        let var = var.into();
        if var.is_empty() || var.starts_with('=') {
            return Err(crate::runtime::SpecError::BadEnv(var).into());
        }
        self.req.process.env.push(var);
        Ok(self)
    }

    /// The variables of an env file (`K=V` or `K` lines, `#` comments),
    /// before those given later.
    pub fn env_file(mut self, path: &Path) -> Result<Self, RequestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("reading --env-file {}: {e}", path.display())))?;
        let vars = parse_env_file(&text)
            .map_err(|e| invalid(format!("--env-file {}: {e}", path.display())))?;
        self.req.process.env.extend(vars);
        Ok(self)
    }

    pub fn workdir(mut self, dir: Option<String>) -> Self {
        self.req.process.workdir = dir;
        self
    }

    /// `user[:group]`: names, or ids in 0-2147483647.
    pub fn user(mut self, user: Option<String>) -> Result<Self, RequestError> {
        if let Some(u) = &user {
            crate::runtime::user::check_user_spec(u)?;
        }
        self.req.process.user = user;
        Ok(self)
    }

    pub fn hostname(mut self, hostname: Option<String>) -> Self {
        self.req.process.hostname = hostname;
        self
    }

    pub fn tty(mut self, tty: bool) -> Self {
        self.req.process.tty = tty;
        self
    }

    pub fn stdin(mut self, stdin: bool) -> Self {
        self.req.process.stdin = stdin;
        self
    }

    pub fn init(mut self, init: bool) -> Self {
        self.req.process.init = init;
        self
    }

    /// `--tz`: `local` (the host's /etc/localtime) or a zone of
    /// /usr/share/zoneinfo (`Europe/Paris`).
    pub fn timezone(self, zone: &str) -> Result<Self, RequestError> {
        self.timezone_in(zone, Path::new(ZONEINFO), Path::new("/etc/localtime"))
    }

    fn timezone_in(
        mut self,
        zone: &str,
        zoneinfo: &Path,
        local: &Path,
    ) -> Result<Self, RequestError> {
        let path = if zone == "local" {
            std::fs::canonicalize(local).map_err(|e| {
                invalid(format!(
                    "--tz=local: this host's {} cannot be read: {e}",
                    local.display()
                ))
            })?
        } else {
            let known = !zone.is_empty()
                && !zone.starts_with('/')
                && Path::new(zone)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
                && zoneinfo.join(zone).is_file();
            if !known {
                return Err(invalid(format!(
                    "--tz {zone:?}: unknown time zone: give local or a zone of {} such as Europe/Paris",
                    zoneinfo.display()
                )));
            }
            zoneinfo.join(zone)
        };
        self.req.process.timezone = Some(path);
        Ok(self)
    }

    /// `--group-add`: a group name of the container's /etc/group, or a
    /// gid in 0-2147483647.
    pub fn group_add(mut self, group: &str) -> Result<Self, RequestError> {
        let bad = || {
            invalid(format!(
                "invalid --group-add {group:?}: give a group name or a gid in 0-{}",
                crate::runtime::user::MAX_ID
            ))
        };
        if group.is_empty() || group.contains(':') || group.contains(char::is_whitespace) {
            return Err(bad());
        }
        crate::runtime::user::check_user_spec(&format!("0:{group}")).map_err(|_| bad())?;
        self.req.process.group_add.push(group.to_string());
        Ok(self)
    }

    /// `--ulimit NAME=SOFT[:HARD]` (Docker's syntax). A hard limit above
    /// burrow's own is refused now: only root on the host may raise it.
    pub fn ulimit(mut self, given: &str) -> Result<Self, RequestError> {
        let u = crate::runtime::ulimit::Ulimit::parse(given).map_err(|e| invalid(e.to_string()))?;
        if let Some((_, hard)) = u.current()
            && u.exceeds(hard)
        {
            return Err(invalid(format!(
                "--ulimit {given}: the hard limit is above your own ({hard}), which only root can raise; give a hard limit of at most {hard}"
            )));
        }
        let ulimits = &mut self.req.process.ulimits;
        ulimits.retain(|x| x.name != u.name);
        ulimits.push(u);
        Ok(self)
    }

    /// `--timeout`: the seconds the container may run (0: no limit).
    pub fn timeout(mut self, seconds: Option<u32>) -> Self {
        self.req.lifecycle.timeout = seconds.filter(|s| *s > 0);
        self
    }

    /// Where relative host paths of mounts start.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    fn cwd(&self) -> Result<PathBuf, RequestError> {
        match &self.base_dir {
            Some(d) => Ok(d.clone()),
            None => std::env::current_dir()
                .map_err(|e| invalid(format!("finding the current directory for -v: {e}"))),
        }
    }

    /// `HOST:CONTAINER[:OPTIONS]` (`-v`).
    pub fn volume(mut self, spec: &str) -> Result<Self, RequestError> {
        let m = mounts::parse_volume(spec, &self.cwd()?)?;
        self.req.filesystem.mounts.push(m);
        Ok(self)
    }

    /// `type=bind,...` or `type=tmpfs,...` (`--mount`).
    pub fn mount(mut self, spec: &str) -> Result<Self, RequestError> {
        let m = mounts::parse_mount(spec, &self.cwd()?)?;
        self.req.filesystem.mounts.push(m);
        Ok(self)
    }

    /// `CONTAINER[:ro|rw]` (`--volumes-from`).
    pub fn volumes_from(mut self, spec: &str) -> Result<Self, RequestError> {
        let (name, mode) = match spec.split_once(':') {
            None => (spec, None),
            Some((n, "ro")) => (n, Some(true)),
            Some((n, "rw")) => (n, Some(false)),
            Some((n, "z" | "Z")) => (n, None),
            Some(_) => {
                return Err(invalid(format!(
                    "invalid --volumes-from {spec:?}: use CONTAINER, CONTAINER:ro or CONTAINER:rw"
                )));
            }
        };
        if name.is_empty() {
            return Err(invalid(format!(
                "invalid --volumes-from {spec:?}: name a container, e.g. --volumes-from db:ro"
            )));
        }
        self.req
            .filesystem
            .volumes_from
            .push((name.to_string(), mode));
        Ok(self)
    }

    /// `PATH[:OPTIONS]` (`--tmpfs`).
    pub fn tmpfs(mut self, spec: &str) -> Result<Self, RequestError> {
        self.req.filesystem.mounts.push(mounts::parse_tmpfs(spec)?);
        Ok(self)
    }

    pub fn read_only(mut self, read_only: bool, with_tmpfs: bool) -> Self {
        self.req.filesystem.read_only = read_only;
        self.req.filesystem.read_only_tmpfs = with_tmpfs;
        self
    }

    /// A mode (`pasta[:OPTS]`, `slirp4netns[:OPTS]`, `none`, `host`,
    /// `container:NAME`) or user networks (`NAME[,NAME...]`).
    pub fn network(mut self, network: &str) -> Result<Self, RequestError> {
        // Docker's and Podman's names for their default network are this
        // one's: the default, a namespace of its own connected by pasta.
        let mode = match network {
            "bridge" | "podman" | "private" | "default" => "pasta",
            other => other,
        };
        let choice = match NetworkMode::parse(mode) {
            Ok(m) => NetworkChoice::Mode(m),
            Err(e) => {
                if network.contains(':')
                    || crate::netns::network::RESERVED.contains(&network)
                    || network.is_empty()
                {
                    return Err(e.into());
                }
                let mut names: Vec<String> = Vec::new();
                for n in network.split(',') {
                    if !names.iter().any(|o| o == n) {
                        names.push(n.to_string());
                    }
                }
                NetworkChoice::Networks(names)
            }
        };
        self.req.network.choice = choice;
        self.req.network.given = network.to_string();
        Ok(self)
    }

    pub fn network_alias(mut self, alias: impl Into<String>) -> Self {
        self.req.network.aliases.push(alias.into());
        self
    }

    pub fn ip(mut self, ip: Option<Ipv4Addr>) -> Self {
        self.req.network.ip = ip;
        self
    }

    /// `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`, ranges allowed.
    pub fn publish(mut self, spec: &str) -> Result<Self, RequestError> {
        self.req.network.ports.extend(parse_publish(spec)?);
        Ok(self)
    }

    pub fn publish_all(mut self, all: bool) -> Self {
        self.req.network.publish_all = all;
        self
    }

    /// A DNS server's address.
    pub fn dns(mut self, server: &str) -> Result<Self, RequestError> {
        server
            .parse::<IpAddr>()
            .map_err(|_| invalid(format!("invalid --dns {server:?}: give an IP address")))?;
        self.req.network.names.servers.push(server.to_string());
        Ok(self)
    }

    pub fn dns_search(mut self, domain: impl Into<String>) -> Self {
        self.req.network.names.search.push(domain.into());
        self
    }

    pub fn dns_option(mut self, option: impl Into<String>) -> Self {
        self.req.network.names.options.push(option.into());
        self
    }

    /// `NAME:IP`, added to /etc/hosts.
    pub fn add_host(mut self, entry: &str) -> Result<Self, RequestError> {
        let (name, ip) = entry
            .split_once(':')
            .filter(|(n, i)| !n.is_empty() && i.parse::<IpAddr>().is_ok())
            .ok_or_else(|| {
                invalid(format!(
                    "invalid --add-host {entry:?}: use NAME:IP, e.g. db:10.0.0.5"
                ))
            })?;
        self.req
            .network
            .names
            .hosts
            .push((name.to_string(), ip.to_string()));
        Ok(self)
    }

    /// `""` (the default map), `keep-id` or `keep-id:uid=U,gid=G`.
    pub fn userns(mut self, mode: &str) -> Result<Self, RequestError> {
        let unsupported = || {
            invalid(format!(
                "--userns={mode} is not supported: use --userns=keep-id[:uid=UID,gid=GID] or leave it out"
            ))
        };
        self.req.userns = match mode.split_once(':') {
            None if mode.is_empty() => UsernsMode::Default,
            None if mode == "keep-id" => UsernsMode::KeepId {
                uid: None,
                gid: None,
            },
            Some(("keep-id", opts)) => {
                let (mut uid, mut gid) = (None, None);
                for o in opts.split(',') {
                    let (key, value) = o.split_once('=').ok_or_else(unsupported)?;
                    let id = value
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| (1..=crate::runtime::user::MAX_ID).contains(&n))
                        .ok_or_else(|| {
                            invalid(format!(
                                "--userns={mode}: {key} must be a number from 1 to 2147483647 (0 is root, which keep-id maps to your subordinate range)"
                            ))
                        })?;
                    match key {
                        "uid" => uid = Some(id),
                        "gid" => gid = Some(id),
                        _ => return Err(unsupported()),
                    }
                }
                UsernsMode::KeepId { uid, gid }
            }
            _ => return Err(unsupported()),
        };
        Ok(self)
    }

    pub fn cap_add(mut self, cap: impl Into<String>) -> Self {
        self.req.confinement.cap_add.push(cap.into());
        self
    }

    pub fn cap_drop(mut self, cap: impl Into<String>) -> Self {
        self.req.confinement.cap_drop.push(cap.into());
        self
    }

    /// `seccomp=unconfined`, `seccomp=PROFILE.json` or `no-new-privileges`.
    pub fn security_opt(mut self, opt: &str) -> Result<Self, RequestError> {
        match parse_security_opt(opt)? {
            SecurityOpt::Seccomp(m) => self.req.confinement.seccomp = m,
            // Always set: an unprivileged seccomp filter requires it.
            SecurityOpt::NoNewPrivileges => {}
        }
        Ok(self)
    }

    pub fn privileged(mut self, privileged: bool) -> Self {
        self.req.confinement.privileged = privileged;
        self
    }

    /// `no`, `on-failure[:MAX]`, `always` or `unless-stopped`.
    pub fn restart(mut self, policy: &str) -> Result<Self, RequestError> {
        self.req.lifecycle.restart = policy
            .parse()
            .map_err(|e: crate::runtime::lifecycle::BadRestartPolicy| invalid(e.to_string()))?;
        Ok(self)
    }

    pub fn auto_remove(mut self, rm: bool) -> Self {
        self.req.lifecycle.auto_remove = rm;
        self
    }

    /// `--memory`: a size (`512m`, `1g`, bytes without a unit).
    pub fn memory(mut self, size: &str) -> Result<Self, RequestError> {
        self.req.limits.memory = Some(parse_limit_size(size, "--memory")?);
        Ok(self)
    }

    /// `--memory-swap`: memory and swap together, or -1 for unlimited.
    pub fn memory_swap(mut self, size: &str) -> Result<Self, RequestError> {
        self.req.limits.memory_swap = Some(if size == "-1" {
            -1
        } else {
            i64::try_from(parse_limit_size(size, "--memory-swap")?)
                .map_err(|_| invalid(format!("--memory-swap {size}: too large")))?
        });
        Ok(self)
    }

    /// `--cpus`: a positive number of CPUs (`1.5`).
    pub fn cpus(mut self, cpus: &str) -> Result<Self, RequestError> {
        let n = cpus
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n > 0.0)
            .ok_or_else(|| {
                invalid(format!(
                    "invalid --cpus {cpus:?}: give a positive number of CPUs, e.g. 1.5"
                ))
            })?;
        self.req.limits.cpus = Some(n);
        Ok(self)
    }

    /// `--pids-limit`: the most processes, -1 (or 0) for no limit.
    pub fn pids_limit(mut self, limit: &str) -> Result<Self, RequestError> {
        let n = limit
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= -1)
            .ok_or_else(|| {
                invalid(format!(
                    "invalid --pids-limit {limit:?}: give a number of processes, or -1 for no limit"
                ))
            })?;
        self.req.limits.pids = Some(n);
        Ok(self)
    }

    /// Remove a container of the same name first (`--replace`).
    pub fn replace(mut self, replace: bool) -> Self {
        self.req.replace = replace;
        self
    }

    /// A signal name or number.
    pub fn stop_signal(mut self, signal: &str) -> Result<Self, RequestError> {
        self.req.lifecycle.stop_signal =
            Some(parse_signal(signal).map_err(|e| invalid(e.to_string()))?);
        Ok(self)
    }

    pub fn stop_timeout(mut self, seconds: Option<u32>) -> Self {
        self.req.lifecycle.stop_timeout = seconds;
        self
    }

    /// `--log-driver`: k8s-file (the default), json-file, none or
    /// passthrough.
    pub fn log_driver(mut self, driver: &str) -> Result<Self, RequestError> {
        self.req.lifecycle.log_driver = LogDriver::parse(driver).ok_or_else(|| {
            invalid(format!(
                "unknown --log-driver {driver:?}: use k8s-file, json-file, none or passthrough"
            ))
        })?;
        Ok(self)
    }

    /// `max-size=SIZE`, the one option of the container log.
    pub fn log_opt(mut self, opt: &str) -> Result<Self, RequestError> {
        match opt.split_once('=') {
            Some(("max-size", v)) => {
                self.req.lifecycle.log_max_size =
                    Some(crate::runtime::logs::parse_size(v).ok_or_else(|| {
                        invalid(format!(
                            "invalid --log-opt {opt:?}: give a size such as 10m, 512k or 1g"
                        ))
                    })?)
            }
            _ => {
                return Err(invalid(format!(
                    "unsupported --log-opt {opt:?}: the container log (k8s-file) takes max-size=SIZE"
                )));
            }
        }
        Ok(self)
    }

    /// `KEY=VALUE`, or `KEY` for an empty value.
    pub fn label(mut self, label: &str) -> Result<Self, RequestError> {
        let (k, v) = parse_label(label)?;
        self.req.labels.insert(k, v);
        Ok(self)
    }

    /// `--health-cmd`: a command for `/bin/sh -c`, a JSON array, or
    /// `none` (the image's check disabled).
    pub fn health_cmd(mut self, cmd: &str) -> Result<Self, RequestError> {
        match crate::runtime::health::config::parse_health_cmd(cmd).map_err(invalid)? {
            Some(test) => self.req.health.test = Some(test),
            None => self.req.health.disabled = true,
        }
        Ok(self)
    }

    /// `--health-interval`, `--health-timeout`, `--health-start-period`,
    /// `--health-start-interval`: a Go duration (`30s`, `1m30s`); 0 for
    /// Docker's default; `--health-interval=disable` for no scheduled
    /// checks (Podman).
    pub fn health_duration(mut self, flag: &str, value: &str) -> Result<Self, RequestError> {
        use crate::runtime::health::config::parse_duration_flag;
        let h = &mut self.req.health;
        if flag == "--health-interval" && value == "disable" {
            h.no_schedule = true;
            return Ok(self);
        }
        let ns = Some(parse_duration_flag(flag, value).map_err(invalid)?);
        match flag {
            "--health-interval" => h.interval = ns,
            "--health-timeout" => h.timeout = ns,
            "--health-start-period" => h.start_period = ns,
            "--health-start-interval" => h.start_interval = ns,
            other => return Err(invalid(format!("unknown healthcheck option {other}"))),
        }
        Ok(self)
    }

    /// `--health-retries`: failures in a row that make it unhealthy (0
    /// for Docker's default, 3).
    pub fn health_retries(mut self, retries: Option<u32>) -> Self {
        self.req.health.retries = retries;
        self
    }

    /// `--no-healthcheck`: none, not even the image's.
    pub fn no_healthcheck(mut self, none: bool) -> Self {
        self.req.health.disabled |= none;
        self
    }

    /// `--health-on-failure`: none, kill, restart or stop.
    pub fn health_on_failure(mut self, action: &str) -> Result<Self, RequestError> {
        self.req.health.on_failure = action.parse().map_err(invalid)?;
        Ok(self)
    }

    /// The request, once the options are checked against each other.
    pub fn build(self) -> Result<ContainerRequest, RequestError> {
        let mut req = self.req;
        if req.health.disabled && req.health.any_given() {
            return Err(RequestError::Conflict(
                "--no-healthcheck (or --health-cmd none) conflicts with the other --health-* options: drop one of them".into(),
            ));
        }
        let conflict = |m: String| Err(RequestError::Conflict(m));
        // Docker's way: the host's ports are the container's already.
        if req.network.choice == NetworkChoice::Mode(NetworkMode::Host)
            && (!req.network.ports.is_empty() || req.network.publish_all)
        {
            req.network.ports.clear();
            req.network.publish_all = false;
            req.warnings
                .push("published ports are discarded when using host network mode".into());
        }
        let net = &req.network;
        match &net.choice {
            NetworkChoice::Mode(mode) => {
                if !net.aliases.is_empty() {
                    return conflict(
                        "--network-alias names a container on user networks: it needs --network NAME (see burrow network create)".into(),
                    );
                }
                if net.ip.is_some() {
                    return conflict(
                        "--ip sets the container's address on a user network: it needs --network NAME (see burrow network create)".into(),
                    );
                }
                if !net.ports.is_empty() && matches!(mode, NetworkMode::Container(_)) {
                    return conflict(
                        "-p with --network container: publish the ports on the container whose network this one shares".into(),
                    );
                }
                if !net.ports.is_empty() && !mode.has_helper() {
                    return conflict(format!(
                        "-p publishes ports through pasta or slirp4netns: it needs --network pasta (the default) or slirp4netns, not --network {}",
                        net.given
                    ));
                }
            }
            NetworkChoice::Networks(names) => {
                if req.userns != UsernsMode::Default {
                    return conflict(format!(
                        "--userns=keep-id cannot be combined with user networks (--network {}): their members share one user namespace with your default id map",
                        net.given
                    ));
                }
                if net.ip.is_some() && names.len() > 1 {
                    return conflict(format!(
                        "--ip sets the address on one network, but --network names {}: give one network, then `burrow network connect --ip` for the others",
                        names.len()
                    ));
                }
            }
        }
        if req.lifecycle.log_max_size.is_some() && !req.lifecycle.log_driver.logs() {
            return conflict(format!(
                "--log-opt max-size rotates the log, but --log-driver {} keeps none: drop one of them",
                req.lifecycle.log_driver.name()
            ));
        }
        if req.replace && req.name.is_none() {
            return conflict(
                "--replace replaces the container of the --name given: give --name".into(),
            );
        }
        if req.lifecycle.auto_remove && req.lifecycle.restart != RestartPolicy::No {
            return conflict(format!(
                "--rm and --restart={} conflict: a container removed at exit cannot be restarted; drop one of them",
                req.lifecycle.restart
            ));
        }
        let fs = &mut req.filesystem;
        if fs.read_only && fs.read_only_tmpfs {
            let extra = mounts::read_only_tmpfs(&fs.mounts);
            fs.mounts.extend(extra);
        }
        fs.mounts = mounts::finish(std::mem::take(&mut fs.mounts))?;
        Ok(req)
    }
}

/// A size of memory as Docker takes it: bytes, or with b, k, m or g.
fn parse_limit_size(size: &str, flag: &str) -> Result<u64, RequestError> {
    let lower = size.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let scale: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            invalid(format!(
                "invalid {flag} {size:?}: give a size such as 512m or 1g"
            ))
        })
}

/// `KEY=VALUE` (or `KEY`, an empty value), as labels are given.
pub fn parse_label(label: &str) -> Result<(String, String), RequestError> {
    let (k, v) = label.split_once('=').unwrap_or((label, ""));
    if k.is_empty() {
        return Err(invalid(format!("invalid label {label:?}: use KEY=VALUE")));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Labels given as `KEY=VALUE`.
pub fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>, RequestError> {
    labels.iter().map(|l| parse_label(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_is_checked_as_it_comes() {
        let b = ContainerRequest::builder("img");
        assert!(b.clone().publish("x:80").is_err());
        assert!(b.clone().dns("not-an-ip").is_err());
        assert!(b.clone().add_host("db").is_err());
        assert!(b.clone().restart("sometimes").is_err());
        assert!(b.clone().stop_signal("NOPE").is_err());
        assert!(b.clone().log_opt("max-file=3").is_err());
        assert!(b.clone().userns("auto").is_err());
        assert_eq!(
            b.clone()
                .memory("512m")
                .unwrap()
                .build()
                .unwrap()
                .limits
                .memory,
            Some(512 << 20)
        );
        for bad in ["", "0", "12x", "-5m", "m"] {
            assert!(b.clone().memory(bad).is_err(), "{bad}");
        }
        assert!(b.clone().cpus("0").is_err());
        assert!(b.clone().cpus("1.5").is_ok());
        assert!(b.clone().pids_limit("-2").is_err());
        assert!(b.clone().memory_swap("-1").is_ok());
        assert!(b.clone().userns("keep-id:uid=0").is_err());
        assert!(b.clone().userns("keep-id:size=2").is_err());
        let r = b
            .clone()
            .userns("keep-id:uid=1001,gid=1002")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            r.userns,
            UsernsMode::KeepId {
                uid: Some(1001),
                gid: Some(1002)
            }
        );
        assert!(b.clone().label("=v").is_err());
        assert!(b.clone().user(Some("4294967295".into())).is_err());
        assert!(b.clone().user(Some("0:-1".into())).is_err());
        assert!(b.clone().user(Some("app:wheel".into())).is_ok());
        assert!(b.clone().name("a".repeat(254)).is_err());
        assert!(b.clone().name("a".repeat(253)).is_ok());
        assert!(b.clone().network("pasta:").is_ok());
        assert!(b.clone().network("container:").is_err());
        let err = b.clone().env("=x").unwrap_err().to_string();
        assert!(err.contains("use -e NAME=VALUE"), "{err}");
    }

    #[test]
    fn time_zones_and_groups_are_checked() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("Europe")).unwrap();
        std::fs::write(t.path().join("Europe/Paris"), "TZif").unwrap();
        std::fs::write(t.path().join("localtime"), "TZif").unwrap();
        let b = ContainerRequest::builder("img");
        let tz = |z: &str| {
            b.clone()
                .timezone_in(z, t.path(), &t.path().join("localtime"))
                .map(|b| b.build().unwrap().process.timezone)
        };
        assert_eq!(
            tz("Europe/Paris").unwrap(),
            Some(t.path().join("Europe/Paris"))
        );
        assert_eq!(tz("local").unwrap(), Some(t.path().join("localtime")));
        for bad in ["Mars/Olympus", "", "/etc/passwd", "../x", "Europe"] {
            let e = tz(bad).unwrap_err().to_string();
            assert!(e.contains("unknown time zone") && !e.contains('\n'), "{e}");
        }
        assert!(b.clone().group_add("wheel").is_ok());
        assert!(b.clone().group_add("2147483647").is_ok());
        for bad in ["2147483648", "-1", "", "a:b", "4294967295"] {
            assert!(b.clone().group_add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_are_checked_against_each_other() {
        let b = ContainerRequest::builder("img");
        let e = |r: Result<ContainerRequest, RequestError>| r.unwrap_err().to_string();
        assert!(
            e(b.clone()
                .auto_remove(true)
                .restart("always")
                .unwrap()
                .build())
            .contains("--rm")
        );
        assert!(e(b.clone().network_alias("x").build()).contains("--network-alias"));
        assert!(e(b.clone().ip(Some(Ipv4Addr::LOCALHOST)).build()).contains("--ip"));
        let none = b.clone().network("none").unwrap().publish("80").unwrap();
        assert!(e(none.build()).contains("-p publishes ports"));
        let host = b.clone().network("host").unwrap().publish("80").unwrap();
        let req = host.build().unwrap();
        assert!(req.network.ports.is_empty());
        assert_eq!(
            req.warnings,
            ["published ports are discarded when using host network mode"]
        );
        let keep = b
            .clone()
            .network("net1")
            .unwrap()
            .userns("keep-id")
            .unwrap();
        assert!(e(keep.build()).contains("keep-id"));
        let two = b
            .clone()
            .network("a,b")
            .unwrap()
            .ip(Some(Ipv4Addr::LOCALHOST));
        assert!(e(two.build()).contains("one network"));
    }

    #[test]
    fn a_request_keeps_what_was_given() {
        let req = ContainerRequest::builder("busybox")
            .name("web")
            .unwrap()
            .command(["sh", "-c", "exit 3"])
            .env("A=1")
            .unwrap()
            .network("a,b,a")
            .unwrap()
            .label("k=v")
            .unwrap()
            .label("flag")
            .unwrap()
            .publish("8080:80")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(req.image.reference, "busybox");
        assert_eq!(req.process.command, ["sh", "-c", "exit 3"]);
        assert_eq!(
            req.network.choice,
            NetworkChoice::Networks(vec!["a".into(), "b".into()])
        );
        assert_eq!(req.network.ports[0].container_port, 80);
        assert_eq!(req.labels["flag"], "");
        assert_eq!(req.name.as_deref(), Some("web"));
    }
}
