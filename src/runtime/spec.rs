//! What a container runs: the image's runtime config merged with the run
//! options, resolved before any namespace exists so errors come early.

use std::path::PathBuf;

use serde_json::Value;

use crate::confine::{CapSet, Filter};

/// PATH when neither the image nor `-e` sets one (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("no command to run: the image has no Entrypoint or Cmd; give one after the image name")]
    NoCommand,
    #[error("working directory {0:?} is not absolute; give an absolute path to -w")]
    RelativeWorkdir(String),
    #[error("environment variable {0:?} has an empty name; use -e NAME=VALUE")]
    BadEnv(String),
    #[error("hostname {0:?} is invalid; use 1-64 letters, digits, '-' or '.'")]
    BadHostname(String),
    #[error(
        "network mode {0:?} is not supported: use pasta (the default, with pasta:OPTIONS for pasta's own), slirp4netns[:OPTIONS], container:NAME, host, none, or the name of a network made with `burrow network create`"
    )]
    Network(String),
    #[error("the image config is not valid JSON: {0}")]
    BadConfig(String),
    #[error(
        "--userns=keep-id needs the fuse-overlayfs or vfs storage driver: the kernel overlay cannot map your ids"
    )]
    KeepIdOverlay,
}

/// The parts of an image's runtime config (`config` in the OCI image config)
/// that this runtime honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    /// `user[:group]` the command runs as ("" for root).
    pub user: String,
    /// The signal `stop` sends first ("" for SIGTERM).
    pub stop_signal: String,
    /// The image's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `EXPOSE`d ports, as the config's `ExposedPorts` keys (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// `VOLUME` paths, as the config's `Volumes` keys: anonymous volumes.
    pub volumes: Vec<String>,
}

impl ImageConfig {
    /// Parse the image config blob.
    pub fn from_json(blob: &[u8]) -> Result<ImageConfig, SpecError> {
        let v: Value =
            serde_json::from_slice(blob).map_err(|e| SpecError::BadConfig(e.to_string()))?;
        let cfg = v.get("config").cloned().unwrap_or(Value::Null);
        let strings = |k: &str| -> Vec<String> {
            cfg.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(ImageConfig {
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            env: strings("Env"),
            working_dir: cfg
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            user: cfg
                .get("User")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            stop_signal: cfg
                .get("StopSignal")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            labels: cfg
                .get("Labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            exposed_ports: cfg
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            volumes: cfg
                .get("Volumes")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        })
    }
}

/// `--network`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A network namespace with only the loopback interface.
    None,
    /// The host's network namespace.
    Host,
    /// A network namespace connected by pasta; extra pasta options.
    Pasta(Vec<String>),
    /// A network namespace connected by slirp4netns; Podman's KEY=VALUE
    /// options (see [`crate::netns::slirp::config`]).
    Slirp4netns(Vec<String>),
    /// The network namespace of another container (`container:NAME`; the
    /// record keeps its ID).
    Container(String),
    /// User networks (`--network NAME[,NAME...]`): a veth on each
    /// network's bridge in the shared namespace (see
    /// [`crate::netns::shared`]), and pasta for the way out and published
    /// ports unless every network is internal.
    Bridge(Vec<crate::netns::network::Attachment>),
}

impl NetworkMode {
    /// `none`, `host`, `pasta` or `pasta:OPT,OPT...` (options passed to
    /// pasta as they are).
    pub fn parse(s: &str) -> Result<NetworkMode, SpecError> {
        match s.split_once(':') {
            None if s == "none" => Ok(NetworkMode::None),
            None if s == "host" => Ok(NetworkMode::Host),
            None if s == "pasta" => Ok(NetworkMode::Pasta(Vec::new())),
            None if s == "slirp4netns" => Ok(NetworkMode::Slirp4netns(Vec::new())),
            Some(("container", c)) if !c.is_empty() => Ok(NetworkMode::Container(c.to_string())),
            Some(("slirp4netns", opts)) => Ok(NetworkMode::Slirp4netns(
                opts.split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            Some(("pasta", opts)) => Ok(NetworkMode::Pasta(
                opts.split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect(),
            )),
            _ => Err(SpecError::Network(s.to_string())),
        }
    }

    /// Whether the container gets a network namespace of its own.
    pub fn own_namespace(&self) -> bool {
        !matches!(self, NetworkMode::Host)
    }

    /// Whether the container makes a new network namespace (not the host's
    /// nor another container's).
    pub fn new_namespace(&self) -> bool {
        !matches!(self, NetworkMode::Host | NetworkMode::Container(_))
    }

    /// Whether a userspace network program connects the namespace.
    pub fn has_helper(&self) -> bool {
        match self {
            NetworkMode::Pasta(_) | NetworkMode::Slirp4netns(_) => true,
            NetworkMode::Bridge(atts) => atts.iter().any(|a| !a.internal),
            _ => false,
        }
    }

    /// Whether the monitor sets the namespace up once it exists (a helper
    /// to start, veths to plug).
    pub fn needs_setup(&self) -> bool {
        self.has_helper() || matches!(self, NetworkMode::Bridge(_))
    }
}

/// Name resolution in the container: `--dns`, `--dns-search`,
/// `--dns-option`, `--add-host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NameConfig {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
    /// (name, address) lines added to /etc/hosts.
    pub hosts: Vec<(String, String)>,
}

/// The user's choices on the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--entrypoint`: `Some("")` clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// Arguments after the image name.
    pub cmd: Vec<String>,
    /// `-e K=V` sets, `-e K` copies K from `host_env` (skipped if unset).
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
}

/// Confinement resolved on the host side (see [`crate::confine`]), applied
/// by the container process right before exec.
#[derive(Debug, Clone, PartialEq)]
pub struct Confinement {
    /// Bounding, permitted, effective and inheritable set of the process.
    pub caps: CapSet,
    /// None for `seccomp=unconfined` and `--privileged`.
    pub seccomp: Option<Filter>,
    /// `--privileged`: no masked or read-only kernel paths either.
    pub privileged: bool,
}

impl Default for Confinement {
    fn default() -> Self {
        Confinement {
            caps: CapSet::default_set(),
            seccomp: None,
            privileged: false,
        }
    }
}

/// The confinement as it is stored: what to compile (a compiled filter is
/// machine code for this kernel and burrow build, so it is made again at
/// each start and exec).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfinementSpec {
    /// The capability mask of the container's process.
    pub caps: u64,
    /// "default", "unconfined" or a profile's path.
    pub seccomp: String,
    /// No filter and no masked kernel paths.
    pub privileged: bool,
}

impl ConfinementSpec {
    /// The stored form of `mode` and `caps`.
    pub fn new(
        caps: &CapSet,
        mode: &crate::confine::SeccompMode,
        privileged: bool,
    ) -> ConfinementSpec {
        use crate::confine::SeccompMode;
        ConfinementSpec {
            caps: caps.mask(),
            seccomp: match mode {
                SeccompMode::Default => "default".to_string(),
                SeccompMode::Unconfined => "unconfined".to_string(),
                SeccompMode::Profile(p) => p.display().to_string(),
            },
            privileged,
        }
    }

    /// The confinement to apply: the filter compiled (or found in the
    /// cache under `seccomp_cache`), a profile read from its host path.
    pub fn compile(
        &self,
        seccomp_cache: &std::path::Path,
    ) -> Result<Confinement, crate::confine::ConfineError> {
        let caps = CapSet::from_mask(self.caps);
        let seccomp = if self.privileged {
            None
        } else {
            let mode = match self.seccomp.as_str() {
                "default" => crate::confine::SeccompMode::Default,
                "unconfined" => crate::confine::SeccompMode::Unconfined,
                path => crate::confine::SeccompMode::Profile(path.into()),
            };
            crate::confine::prepare_cached(&mode, &caps, seccomp_cache)?
        };
        Ok(Confinement {
            caps,
            seccomp,
            privileged: self.privileged,
        })
    }
}

/// Everything needed to set up and start one container: its one runtime
/// input. Saved with the container (`spec.json`) so that `start` runs it
/// again as it was created and `exec` runs beside it as it does. What
/// changes over the container's life (its user networks, the host ports
/// it was given) is the record's, and filled in at each start.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContainerSpec {
    pub id: String,
    /// The container's directory in the store (upper, work, rootfs, etc files).
    pub dir: PathBuf,
    /// Image layer directories, top layer first (overlay lowerdir order).
    pub lowers: Vec<PathBuf>,
    pub hostname: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub network: NetworkMode,
    /// What `confine` is compiled from.
    pub confinement: ConfinementSpec,
    /// Compiled from `confinement` before each start.
    #[serde(skip)]
    pub confine: Confinement,
    /// `user[:group]`, resolved in the container's /etc/passwd and /etc/group.
    pub user: String,
    /// `-i`: the container reads burrow's stdin (else /dev/null).
    pub stdin: bool,
    /// `-t`: the container gets a terminal of its own, relayed by burrow.
    pub tty: bool,
    /// The terminal's initial size (the user's terminal's).
    #[serde(skip)]
    pub winsize: Option<super::tty::WinSize>,
    /// `--init`: burrow stays pid 1, forwarding signals and reaping.
    pub init: bool,
    /// The user's mounts, parents before children (see [`super::mounts`]).
    pub mounts: Vec<super::mounts::Mount>,
    /// `--read-only`: the root filesystem is mounted read-only.
    pub read_only: bool,
    /// How the root filesystem is made.
    pub driver: super::rootfs::Driver,
    /// `--userns=keep-id`: the user's (uid, gid) inside, which the
    /// fuse-overlayfs mapping or the vfs copy translates ids for.
    pub keep_id: Option<(u32, u32)>,
    /// Number of mapped ids (uids, gids), for the keep-id translation.
    pub id_counts: (u32, u32),
    /// Detached: the container's stdout and stderr go to this log.
    pub log: Option<PathBuf>,
    /// `--log-opt max-size`: the log is rotated past this size.
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// Published ports (with pasta): the record's, at each start.
    #[serde(skip)]
    pub ports: Vec<crate::netns::ports::PortMapping>,
    /// With `--network container:`: the host pid of that container's
    /// process when this one starts (found anew at every start).
    #[serde(skip)]
    pub join_netns_pid: Option<i32>,
    /// On user networks: the descriptor of the shared network namespace,
    /// open in the command that starts the container (and its forks).
    #[serde(skip)]
    pub shared_netns_fd: Option<i32>,
    /// DNS and /etc/hosts additions.
    #[serde(default)]
    pub names: NameConfig,
    /// `/run/.containerenv` is made, as Podman makes it (not for a build's
    /// steps).
    #[serde(default)]
    pub container_env: bool,
    /// `--userns=keep-id`: the user's passwd and group entries, added to
    /// the container's /etc/passwd and /etc/group when their ids are not
    /// there.
    #[serde(default)]
    pub keep_id_account: Option<Account>,
    /// `--tz`: the zone file bound on /etc/localtime (the host's
    /// /etc/localtime for `local`).
    #[serde(default)]
    pub timezone: Option<PathBuf>,
    /// `--group-add`: supplementary groups of the container's process and
    /// exec's (names in the container's /etc/group, or ids).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--timeout`: seconds the container may run before its monitor
    /// stops it.
    #[serde(default)]
    pub timeout: Option<u32>,
    /// The signal `--timeout` stops it with first; SIGKILL follows after
    /// `timeout_grace` seconds.
    #[serde(default)]
    pub stop_signal: Option<i32>,
    #[serde(default)]
    pub timeout_grace: Option<u32>,
    /// `--log-driver`: where a monitored container's output goes.
    #[serde(default)]
    pub log_driver: LogDriver,
    /// `--ulimit`: set in the container's process (and exec's) before
    /// the command is executed.
    #[serde(default)]
    pub ulimits: Vec<super::ulimit::Ulimit>,
    /// The `/etc` files generated at this start beyond hostname, hosts and
    /// resolv.conf (`passwd`, `group`), bound over the image's.
    #[serde(skip)]
    pub generated_etc: Vec<String>,
    /// The runtime directory whose events log this start's monitor and
    /// healthchecks append to (set by whoever starts it).
    #[serde(skip)]
    pub events_runroot: Option<PathBuf>,
    /// The healthcheck its monitor runs (the image's, `--health-*` over it).
    #[serde(default)]
    pub health: Option<super::health::HealthConfig>,
}

/// `--log-driver`: what becomes of a monitored container's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    /// burrow's log file (`burrow logs`), Podman's default.
    #[default]
    K8sFile,
    /// The same log file, under Docker's default name.
    JsonFile,
    /// No log: output reaches attached clients only.
    None,
    /// The container's stdio are the caller's (`run` in the foreground);
    /// a monitored container keeps no log, as with `None`.
    Passthrough,
}

impl LogDriver {
    pub fn parse(s: &str) -> Option<LogDriver> {
        Some(match s {
            "k8s-file" => LogDriver::K8sFile,
            "json-file" => LogDriver::JsonFile,
            "none" => LogDriver::None,
            "passthrough" => LogDriver::Passthrough,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            LogDriver::K8sFile => "k8s-file",
            LogDriver::JsonFile => "json-file",
            LogDriver::None => "none",
            LogDriver::Passthrough => "passthrough",
        }
    }

    /// Whether output goes to the container's log file.
    pub fn logs(self) -> bool {
        matches!(self, LogDriver::K8sFile | LogDriver::JsonFile)
    }
}

/// A passwd and group entry of the user, for keep-id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub group: String,
    pub home: String,
    pub shell: String,
}

impl ContainerSpec {
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The lower directories for an overlay (kernel or FUSE): overlayfs
    /// needs one, so an image without layers gets an empty one.
    pub fn overlay_lowers(&self) -> Vec<PathBuf> {
        if self.lowers.is_empty() {
            vec![self.dir.join("empty")]
        } else {
            self.lowers.clone()
        }
    }
    /// The container's log (detached containers).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("ctr.log")
    }
    /// The copied root of the vfs driver.
    pub fn vfs_root(&self) -> PathBuf {
        self.dir.join("vfs")
    }
    /// Where the generated `/etc/<name>` (hostname, hosts, resolv.conf) lives.
    pub fn etc_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The process part of a spec: command, environment and working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
}

/// Merge the image config with the options (Docker's rules): `--entrypoint`
/// replaces the image's entrypoint and drops its Cmd; arguments replace Cmd;
/// `-e` overrides the image's variables; `-w` overrides WorkingDir.
pub fn resolve_process(
    image: &ImageConfig,
    opts: &RunOptions,
    default_hostname: &str,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<ProcessSpec, SpecError> {
    let (entrypoint, image_cmd) = match &opts.entrypoint {
        Some(ep) if ep.is_empty() => (Vec::new(), Vec::new()),
        Some(ep) => (vec![ep.clone()], Vec::new()),
        None => (image.entrypoint.clone(), image.cmd.clone()),
    };
    let mut args = entrypoint;
    if opts.cmd.is_empty() {
        args.extend(image_cmd);
    } else {
        args.extend(opts.cmd.iter().cloned());
    }
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }

    let hostname = opts
        .hostname
        .clone()
        .unwrap_or_else(|| default_hostname.to_string());
    if hostname.is_empty()
        || hostname.len() > 64
        || !hostname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(SpecError::BadHostname(hostname));
    }

    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    };
    for kv in &image.env {
        set(kv.clone());
    }
    for e in &opts.env {
        match e.split_once('=') {
            Some(("", _)) => return Err(SpecError::BadEnv(e.clone())),
            Some(_) => set(e.clone()),
            None if e.is_empty() => return Err(SpecError::BadEnv(e.clone())),
            None => {
                if let Some(v) = host_env(e) {
                    set(format!("{e}={v}"));
                }
            }
        }
    }
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    // HOME, when unset, comes from the user's passwd entry, which only the
    // container process can read.

    let cwd = match &opts.workdir {
        Some(w) => w.clone(),
        None if image.working_dir.is_empty() => "/".to_string(),
        None => image.working_dir.clone(),
    };
    if !cwd.starts_with('/') {
        return Err(SpecError::RelativeWorkdir(cwd));
    }
    Ok(ProcessSpec {
        args,
        env,
        cwd,
        hostname,
    })
}

/// The variables of a Docker `--env-file`: one `K=V` or `K` per line (the
/// latter copied from burrow's environment, as `-e K`), blank lines and
/// lines starting with `#` skipped, leading blanks ignored, values taken
/// verbatim (no quotes are removed, as with Docker).
pub fn parse_env_file(text: &str) -> Result<Vec<String>, EnvFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split_once('=').map_or(line, |(k, _)| k);
        if name.is_empty() {
            return Err(EnvFileError {
                line: i + 1,
                reason: "a variable without a name; write NAME=VALUE".into(),
            });
        }
        if name.chars().any(char::is_whitespace) {
            return Err(EnvFileError {
                line: i + 1,
                reason: format!("variable name {name:?} contains whitespace"),
            });
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// A line of an env file that cannot be a variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {reason}")]
pub struct EnvFileError {
    pub line: usize,
    pub reason: String,
}

/// `/etc/hosts` for a container with only loopback.
pub fn hosts_file(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )
}

/// `/etc/hosts` with the user's `--add-host` lines and, where the host is
/// reachable (pasta maps its gateway address to the host),
/// `host.containers.internal`.
pub fn hosts_file_with(hostname: &str, names: &NameConfig, host_address: Option<&str>) -> String {
    let mut out = hosts_file(hostname);
    for (name, addr) in &names.hosts {
        out.push_str(&format!("{addr}\t{name}\n"));
    }
    if let Some(addr) = host_address {
        out.push_str(&format!(
            "{addr}\thost.containers.internal host.docker.internal\n"
        ));
    }
    out
}

/// `/etc/resolv.conf`: the host's, without loopback name servers, which
/// would point into the container's own (empty) loopback.
pub fn resolv_conf(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver")
            && words
                .next()
                .is_some_and(|a| a.starts_with("127.") || a == "::1")
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `/etc/resolv.conf` for a container: `--dns` servers if given, else
/// `forwarder` (pasta's DNS forwarder) if there is one, else the host's
/// servers (without loopback ones, unless the container shares the host's
/// network); the host's search and options unless `--dns-search` and
/// `--dns-option` replace them.
pub fn resolv_conf_with(
    host: &str,
    names: &NameConfig,
    forwarder: Option<&str>,
    host_network: bool,
) -> String {
    let mut servers: Vec<String> = names.servers.clone();
    let mut search: Vec<String> = names.search.clone();
    let mut options: Vec<String> = names.options.clone();
    let mut host_servers = Vec::new();
    let mut host_search = Vec::new();
    let mut host_options = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(a) = words.next()
                    && (host_network || !(a.starts_with("127.") || a == "::1"))
                {
                    host_servers.push(a.to_string());
                }
            }
            Some("search" | "domain") => host_search.extend(words.map(str::to_string)),
            Some("options") => host_options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = match forwarder {
            Some(f) => vec![f.to_string()],
            None => host_servers,
        };
    }
    if search.is_empty() {
        search = host_search;
    }
    if options.is_empty() {
        options = host_options;
    }
    let mut out = String::new();
    if !search.is_empty() && search != ["."] {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img() -> ImageConfig {
        ImageConfig {
            entrypoint: vec!["/ep".into()],
            cmd: vec!["a".into(), "b".into()],
            env: vec!["PATH=/bin".into(), "X=1".into()],
            working_dir: "/srv".into(),
            ..ImageConfig::default()
        }
    }

    fn resolve(image: &ImageConfig, opts: &RunOptions) -> Result<ProcessSpec, SpecError> {
        resolve_process(image, opts, "abc", |k| {
            (k == "FROMHOST").then(|| "h".to_string())
        })
    }

    #[test]
    fn parses_image_config() {
        let c = ImageConfig::from_json(
            br#"{"config":{"Entrypoint":["/ep"],"Cmd":["a","b"],"Env":["PATH=/bin","X=1"],"WorkingDir":"/srv"}}"#,
        )
        .unwrap();
        assert_eq!(c, img());
        assert_eq!(
            ImageConfig::from_json(b"{}").unwrap(),
            ImageConfig::default()
        );
        assert!(ImageConfig::from_json(b"nope").is_err());
    }

    #[test]
    fn image_defaults() {
        let p = resolve(&img(), &RunOptions::default()).unwrap();
        assert_eq!(p.args, ["/ep", "a", "b"]);
        assert_eq!(p.cwd, "/srv");
        assert_eq!(p.env, ["PATH=/bin", "X=1", "HOSTNAME=abc"]);
        assert_eq!(p.hostname, "abc");
    }

    #[test]
    fn arguments_replace_cmd_and_entrypoint_drops_cmd() {
        let opts = RunOptions {
            cmd: vec!["c".into()],
            ..Default::default()
        };
        assert_eq!(resolve(&img(), &opts).unwrap().args, ["/ep", "c"]);
        let opts = RunOptions {
            entrypoint: Some("/bin/x".into()),
            ..Default::default()
        };
        assert_eq!(resolve(&img(), &opts).unwrap().args, ["/bin/x"]);
        let opts = RunOptions {
            entrypoint: Some(String::new()),
            cmd: vec!["ls".into()],
            ..Default::default()
        };
        assert_eq!(resolve(&img(), &opts).unwrap().args, ["ls"]);
        let opts = RunOptions {
            entrypoint: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(resolve(&img(), &opts), Err(SpecError::NoCommand));
    }

    #[test]
    fn env_and_workdir_options_override() {
        let opts = RunOptions {
            env: vec![
                "X=2".into(),
                "FROMHOST".into(),
                "UNSET".into(),
                "Y=a=b".into(),
            ],
            workdir: Some("/w".into()),
            hostname: Some("box".into()),
            cmd: vec!["x".into()],
            ..Default::default()
        };
        let p = resolve(&ImageConfig::default(), &opts).unwrap();
        assert_eq!(
            p.env,
            [
                format!("PATH={DEFAULT_PATH}"),
                "X=2".into(),
                "FROMHOST=h".into(),
                "Y=a=b".into(),
                "HOSTNAME=box".into(),
            ]
        );
        assert_eq!(p.cwd, "/w");
        let p = resolve(&img(), &opts).unwrap();
        assert_eq!(&p.env[..2], ["PATH=/bin", "X=2"]);
    }

    #[test]
    fn rejects_bad_input() {
        let bad = |o: RunOptions| resolve(&img(), &o).unwrap_err();
        assert!(matches!(
            bad(RunOptions {
                workdir: Some("rel".into()),
                ..Default::default()
            }),
            SpecError::RelativeWorkdir(_)
        ));
        assert!(matches!(
            bad(RunOptions {
                env: vec!["=x".into()],
                ..Default::default()
            }),
            SpecError::BadEnv(_)
        ));
        assert!(matches!(
            bad(RunOptions {
                hostname: Some("a b".into()),
                ..Default::default()
            }),
            SpecError::BadHostname(_)
        ));
        assert_eq!(NetworkMode::parse("host").unwrap(), NetworkMode::Host);
        assert_eq!(NetworkMode::parse("none").unwrap(), NetworkMode::None);
        assert_eq!(
            NetworkMode::parse("pasta:--mtu,1500").unwrap(),
            NetworkMode::Pasta(vec!["--mtu".into(), "1500".into()])
        );
        assert!(NetworkMode::parse("bridge").is_err());
    }

    #[test]
    fn env_files_as_docker_reads_them() {
        let text = "\u{feff}# comment\n\n  A=1\nB=\"quoted\" value \nC\n#D=4\nE=x=y\n";
        assert_eq!(
            parse_env_file(text).unwrap(),
            ["A=1", "B=\"quoted\" value ", "C", "E=x=y"]
        );
        assert_eq!(
            parse_env_file("A=1\nB C=2\n").unwrap_err(),
            EnvFileError {
                line: 2,
                reason: "variable name \"B C\" contains whitespace".into()
            }
        );
        assert_eq!(parse_env_file("=x").unwrap_err().line, 1);
    }

    #[test]
    fn resolv_conf_for_each_network() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n";
        let none = NameConfig::default();
        assert_eq!(
            resolv_conf_with(host, &none, Some("169.254.1.1"), false),
            "search lan\nnameserver 169.254.1.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf_with(host, &none, None, false),
            "search lan\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf_with(host, &none, None, true),
            "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n"
        );
        let mine = NameConfig {
            servers: vec!["9.9.9.9".into()],
            search: vec!["example.com".into()],
            options: vec!["ndots:2".into()],
            hosts: vec![("db".into(), "10.1.2.3".into())],
        };
        assert_eq!(
            resolv_conf_with(host, &mine, Some("169.254.1.1"), false),
            "search example.com\nnameserver 9.9.9.9\noptions ndots:2\n"
        );
        let hosts = hosts_file_with("h", &mine, Some("192.0.2.1"));
        assert!(
            hosts.ends_with(
                "10.1.2.3\tdb\n192.0.2.1\thost.containers.internal host.docker.internal\n"
            ),
            "{hosts}"
        );
    }

    #[test]
    fn resolv_conf_drops_loopback_servers() {
        let out = resolv_conf("search x\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n");
        assert_eq!(out, "search x\nnameserver 10.0.0.1\n");
    }
}

/// Builds a [`ContainerSpec`]: every container burrow starts (`create`,
/// `run`, a build's RUN step) is made through it, with the defaults of
/// `run` for what the caller does not set.
#[derive(Debug, Clone)]
pub struct SpecBuilder {
    spec: ContainerSpec,
}

impl ContainerSpec {
    /// Container `id`, in directory `dir`, over the image layers `lowers`
    /// (top first), running `process`; no network until one is set.
    pub fn builder(
        id: &str,
        dir: PathBuf,
        lowers: Vec<PathBuf>,
        process: ProcessSpec,
    ) -> SpecBuilder {
        SpecBuilder {
            spec: ContainerSpec {
                id: id.to_string(),
                dir,
                lowers,
                hostname: process.hostname,
                args: process.args,
                env: process.env,
                cwd: process.cwd,
                network: NetworkMode::None,
                confinement: ConfinementSpec::new(
                    &CapSet::default_set(),
                    &crate::confine::SeccompMode::Default,
                    false,
                ),
                confine: Confinement::default(),
                user: String::new(),
                stdin: false,
                tty: false,
                winsize: None,
                init: false,
                mounts: Vec::new(),
                read_only: false,
                driver: super::rootfs::Driver::Overlay,
                keep_id: None,
                id_counts: (65536, 65536),
                log: None,
                log_max_size: None,
                ports: Vec::new(),
                join_netns_pid: None,
                shared_netns_fd: None,
                names: NameConfig::default(),
                container_env: false,
                keep_id_account: None,
                timezone: None,
                group_add: Vec::new(),
                timeout: None,
                stop_signal: None,
                timeout_grace: None,
                log_driver: LogDriver::default(),
                ulimits: Vec::new(),
                generated_etc: Vec::new(),
                events_runroot: None,
                health: None,
            },
        }
    }
}

impl SpecBuilder {
    /// `user[:group]` as the image's passwd and group files name them.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.spec.user = user.into();
        self
    }

    pub fn network(mut self, network: NetworkMode) -> Self {
        self.spec.network = network;
        self
    }

    /// Published ports and name resolution.
    pub fn ports(
        mut self,
        ports: Vec<crate::netns::ports::PortMapping>,
        names: NameConfig,
    ) -> Self {
        self.spec.ports = ports;
        self.spec.names = names;
        self
    }

    /// The confinement as stored, and compiled.
    pub fn confine(mut self, stored: ConfinementSpec, compiled: Confinement) -> Self {
        self.spec.confinement = stored;
        self.spec.confine = compiled;
        self
    }

    /// How the root is made, the keep-id ids, and the size of the id map.
    pub fn root(
        mut self,
        driver: super::rootfs::Driver,
        keep_id: Option<(u32, u32)>,
        id_counts: (u32, u32),
    ) -> Self {
        self.spec.driver = driver;
        self.spec.keep_id = keep_id;
        self.spec.id_counts = id_counts;
        self
    }

    /// Standard input, a terminal, and burrow as pid 1.
    pub fn stdio(mut self, stdin: bool, tty: bool, init: bool) -> Self {
        self.spec.stdin = stdin;
        self.spec.tty = tty;
        self.spec.init = init;
        self
    }

    pub fn mounts(mut self, mounts: Vec<super::mounts::Mount>, read_only: bool) -> Self {
        self.spec.mounts = mounts;
        self.spec.read_only = read_only;
        self
    }

    /// Output to the container's log (a detached container), rotated past
    /// `max_size`.
    pub fn logged(mut self, max_size: Option<u64>) -> Self {
        self.spec.log = Some(self.spec.log_path());
        self.spec.log_max_size = max_size;
        self
    }

    /// `--log-driver`: none and passthrough keep no log.
    pub fn log_driver(mut self, driver: LogDriver) -> Self {
        self.spec.log_driver = driver;
        if !driver.logs() {
            self.spec.log = None;
        }
        self
    }

    /// `/run/.containerenv` for the container (every container `create`
    /// makes), and with keep-id the user's account entries.
    pub fn container_env(mut self, account: Option<Account>) -> Self {
        self.spec.container_env = true;
        self.spec.keep_id_account = account;
        self
    }

    /// `--tz`'s zone file and `--group-add`'s groups.
    pub fn extras(mut self, timezone: Option<PathBuf>, group_add: Vec<String>) -> Self {
        self.spec.timezone = timezone;
        self.spec.group_add = group_add;
        self
    }

    /// `--ulimit`s.
    pub fn ulimits(mut self, ulimits: Vec<super::ulimit::Ulimit>) -> Self {
        self.spec.ulimits = ulimits;
        self
    }

    /// `--timeout`: stopped with `signal` (None: SIGTERM) after `seconds`,
    /// killed `grace` seconds later (None: 10).
    pub fn timeout(
        mut self,
        seconds: Option<u32>,
        signal: Option<i32>,
        grace: Option<u32>,
    ) -> Self {
        self.spec.timeout = seconds;
        self.spec.stop_signal = signal;
        self.spec.timeout_grace = grace;
        self
    }

    /// The healthcheck its monitor runs.
    pub fn health(mut self, health: Option<super::health::HealthConfig>) -> Self {
        self.spec.health = health;
        self
    }

    /// The spec, if it can run: a command, an absolute working directory,
    /// and no keep-id ids on the kernel overlay (which cannot map them).
    pub fn build(self) -> Result<ContainerSpec, SpecError> {
        let s = self.spec;
        if s.args.is_empty() {
            return Err(SpecError::NoCommand);
        }
        if !s.cwd.starts_with('/') {
            return Err(SpecError::RelativeWorkdir(s.cwd));
        }
        if s.keep_id.is_some() && s.driver == super::rootfs::Driver::Overlay {
            return Err(SpecError::KeepIdOverlay);
        }
        Ok(s)
    }
}
