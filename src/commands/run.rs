//! `burrow run`: create a container from an image and run a command in it.

use anyhow::Context as _;
use burrow::confine::{self, CapabilityOptions, SeccompMode, SecurityOpt, parse_security_opt};
use std::io::IsTerminal;
use std::path::PathBuf;

use burrow::image::{LookupError, PullObserver, find_image};
use burrow::runtime::container::ProcessRef;
use burrow::runtime::container::new_id;
use burrow::runtime::exec::ExecContext;
use burrow::runtime::inspect::RecordedMount;
use burrow::runtime::process::container_pid;
use burrow::runtime::spec::{Confinement, parse_env_file, resolve_process};
use burrow::runtime::{
    ContainerError, ContainerRecord, ContainerSpec, ContainerStore, ImageConfig, NetworkMode,
    RunOptions, Status, run_container, run_detached,
};
use burrow::runtime::{mounts, rootfs, tty};
use burrow::storage::Store;
use chrono::Utc;
use clap::Args;

use super::{Ctx, UserNs};

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow run [OPTIONS] IMAGE [COMMAND [ARG...]]",
    after_help = "Without --rm the container's record and files stay in the store under \
                  containers/<id>: `burrow ps -a` lists them, `burrow rm` removes them.\n\n\
                  Exit status: the command's; 128+N if it was killed by signal N; 125 if burrow \
                  failed; 126 if the command cannot be executed; 127 if it was not found."
)]
pub struct RunArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open: the container reads burrow's standard input
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal (with -i, the user's terminal is relayed to it in raw mode)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run in the background: print the container's ID once its command runs; its output goes
    /// to `burrow logs`
    #[arg(short = 'd', long)]
    pub detach: bool,
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
    /// Network mode; only "none" (loopback only) for now
    #[arg(long, value_name = "MODE", default_value = "none")]
    pub network: String,
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

impl RunArgs {
    pub fn image(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
    pub fn command(&self) -> &[String] {
        self.argv.get(1..).unwrap_or_default()
    }
}

pub fn run(ctx: &Ctx, args: &RunArgs) -> anyhow::Result<i32> {
    let network = NetworkMode::parse(&args.network)?;
    if args.detach && (args.tty || args.interactive) {
        anyhow::bail!(
            "-d with -t or -i needs `burrow attach`, which is not implemented yet: drop -t/-i, and read the output with `burrow logs`"
        );
    }
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
    let store = ctx.store()?;
    // Held for the whole run: garbage collection must not delete the
    // layers the container's root is made of.
    let _gc = store.gc_shared()?;
    let image = match image_for_run(ctx, &store, args)? {
        Ok(i) => i,
        // The pull failed and said why.
        Err(code) => return Ok(code),
    };
    let config = ImageConfig::from_json(&store.read_blob(&image.config_digest)?)?;
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

    let containers = ContainerStore::open(store.root())?;
    let mut record = ContainerRecord {
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
        mounts: mounts
            .iter()
            .map(|m| RecordedMount {
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
            })
            .collect(),
    };
    containers.create(&record)?;
    let mut spec = ContainerSpec {
        id: id.clone(),
        dir: containers.dir_of(&id),
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
        winsize: if args.tty { tty::host_winsize() } else { None },
        init: args.init,
        mounts,
        read_only: args.read_only,
        driver,
        keep_id,
        id_counts: (ns.default_counts.0, ns.default_counts.1),
        log: None,
    };
    if args.detach {
        spec.log = Some(spec.log_path());
    }

    let rm = args.rm;
    let started_at = Utc::now();
    let mut running = record.clone();
    // Raw mode belongs to this process, not to the monitor: whatever
    // happens to the monitor, the user's terminal is restored on return.
    let raw = if args.tty && args.interactive {
        let raw = tty::RawMode::enter().context("putting the terminal in raw mode")?;
        if raw.is_none() {
            eprintln!("WARN: the input device is not a TTY: -t and -i might not work properly");
        }
        raw
    } else {
        None
    };
    let detach = args.detach;
    let finished_record = record.clone();
    let result = ctx.in_namespace(ns.userns, |_| {
        if detach {
            let started = || {
                running.status = Status::Running;
                running.started = Some(started_at);
                running.monitor = ProcessRef::current();
                running.pid = Some(container_pid());
                if let Err(e) = containers.update(&running) {
                    eprintln!("WARN: {e}");
                }
            };
            // In the monitor, once the container is gone.
            let finished = |code: i32| {
                if rm {
                    let _ = containers.remove(&id);
                    return;
                }
                let mut r = finished_record;
                r.monitor = None;
                r.status = Status::Exited;
                r.exit_code = Some(code);
                r.started = Some(started_at);
                r.finished = Some(Utc::now());
                let _ = containers.update(&r);
            };
            return match run_detached(&spec, started, finished) {
                Ok(()) => {
                    println!("{id}");
                    0
                }
                Err((code, messages)) => {
                    eprint!("{messages}");
                    code
                }
            };
        }
        let code = run_container(
            &spec,
            || {
                // Here, in the monitor: its pid is what says the container lives.
                running.status = Status::Running;
                running.started = Some(started_at);
                running.monitor = ProcessRef::current();
                running.pid = Some(container_pid());
                if let Err(e) = containers.update(&running) {
                    eprintln!("WARN: {e}");
                }
            },
            || {},
        );
        // The upper directory holds files of container ids: only here, in
        // the user namespace, can they all be removed.
        if rm && let Err(e) = containers.remove(&id) {
            eprintln!("Error: removing container {id}: {e}");
            return super::EXIT_ENGINE;
        }
        code
    });
    drop(raw);
    let code = match result {
        Ok(c) => c,
        Err(e) => {
            if rm {
                let _ = containers.remove(&id);
            }
            return Err(e).context("starting the container");
        }
    };
    // A detached container's monitor records its end itself.
    if !rm && !detach {
        record.status = Status::Exited;
        record.exit_code = Some(code);
        record.started = Some(started_at);
        record.finished = Some(Utc::now());
        match containers.update(&record) {
            // Removed by `burrow rm -f` while it ran.
            Err(ContainerError::Gone(_)) => {}
            other => other?,
        }
    }
    Ok(code)
}

/// The user namespace a run uses, and the size of the default map.
struct RunNamespace {
    userns: UserNs,
    identity: burrow::userns::UserIdentity,
    default_counts: (u32, u32),
}

fn user_namespace(args: &RunArgs) -> anyhow::Result<RunNamespace> {
    let default = UserNs::for_current_user()?;
    let identity = default.identity.clone();
    let default_counts = (default.map.uid_count(), default.map.gid_count());
    let userns = match args.userns.as_str() {
        "" => default,
        "keep-id" => {
            let map = default.map.keep_id(identity.uid, identity.gid).ok_or_else(|| {
                anyhow::anyhow!(
                    "--userns=keep-id needs subordinate ids for {name} in /etc/subuid and /etc/subgid covering at least {} ids: add a range with `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}`",
                    identity.uid.max(identity.gid) + 1,
                    name = identity.name
                )
            })?;
            UserNs {
                identity: identity.clone(),
                map,
            }
        }
        other => {
            anyhow::bail!("--userns={other} is not supported: use --userns=keep-id or leave it out")
        }
    };
    Ok(RunNamespace {
        userns,
        identity,
        default_counts,
    })
}

/// `-v`, `--mount`, `--tmpfs` and `--read-only`'s tmpfs, checked.
fn user_mounts(args: &RunArgs) -> anyhow::Result<Vec<mounts::Mount>> {
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
    args: &RunArgs,
) -> anyhow::Result<Result<burrow::storage::ImageRecord, i32>> {
    let name = args.image();
    let local = match find_image(store, name) {
        Ok(i) => Some(i),
        Err(LookupError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let pull = match (args.pull.as_str(), &local) {
        ("never", None) => anyhow::bail!(
            "image not known: {name} (pull it first with burrow pull {name}, or drop --pull=never)"
        ),
        ("never" | "missing", Some(_)) => false,
        _ => true,
    };
    if let (false, Some(image)) = (pull, local) {
        return Ok(Ok(image));
    }
    let setup = super::pull::setup(
        args.platform.as_deref(),
        None,
        None,
        None,
        args.registry.tls_verify,
        args.registry.creds.as_deref(),
        args.registry.authfile.as_ref(),
    )?;
    let quiet = args.quiet;
    let code = ctx.in_userns(|ns| {
        let observer: Box<dyn PullObserver> = if quiet {
            Box::new(burrow::image::pull::Quiet)
        } else if std::io::stderr().is_terminal() {
            Box::new(super::progress::Bars::new())
        } else {
            Box::new(super::progress::Lines)
        };
        match super::pull::pull_in_userns(ctx, ns, store, setup, name, observer.as_ref()) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("Error: pulling {name}: {e:#}");
                super::EXIT_ENGINE
            }
        }
    })?;
    if code != 0 {
        return Ok(Err(code));
    }
    // The pull ran in a child process: look the image up again.
    Ok(Ok(find_image(store, name)?))
}

/// Resolved before any record exists, so a bad name or profile leaves
/// nothing behind.
fn confinement(ctx: &Ctx, args: &RunArgs) -> anyhow::Result<(Confinement, String)> {
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
        assert!(a.rm);
        assert_eq!(a.env, ["A=1"]);
        assert_eq!(a.image(), "img");
        assert_eq!(a.command(), ["sh", "-c", "exit 3", "--rm"]);
        assert_eq!(a.network, "none");
        // Burrow's own options after the image are the command's, too.
        let cli =
            Cli::try_parse_from(["burrow", "run", "img", "-u", "1000", "--rm", "id"]).unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!(a.user, None);
        assert!(!a.rm);
        assert_eq!(a.command(), ["-u", "1000", "--rm", "id"]);
        let cli = Cli::try_parse_from(["burrow", "run", "-u", "app", "img"]).unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!((a.user.as_deref(), a.image()), (Some("app"), "img"));
        assert!(a.command().is_empty());
        assert!(Cli::try_parse_from(["burrow", "run", "--rm"]).is_err());
    }
}
