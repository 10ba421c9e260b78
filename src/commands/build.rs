//! `burrow build`: build an image from a Dockerfile (see burrow::build).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use burrow::build::{BuildEnv, BuildError, BuildHost, BuildOptions};
use burrow::image::find_image;
use burrow::image::write::LayerCompression;
use burrow::runtime::NetworkMode;
use burrow::storage::{ImageRecord, Store};
use chrono::{DateTime, Utc};
use clap::Args;

use super::Ctx;

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow build [OPTIONS] CONTEXT|-",
    after_help = "Each RUN runs as a rootless container on the stage's layers, as `burrow run` \
                  would (default network: pasta); each RUN, COPY and ADD becomes a layer. A step \
                  whose parent, instruction, build args and (for COPY/ADD) files are unchanged \
                  is taken from the step cache: a rebuild with nothing changed gives the same \
                  image ID.\n\nExit status: 0; the RUN command's own status when one fails; 125 \
                  for any other error."
)]
pub struct BuildArgs {
    /// Name (and tag) for the image; may be given more than once
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tag: Vec<String>,
    /// The Dockerfile [default: CONTEXT/Dockerfile, else CONTEXT/Containerfile]; - for stdin
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// A build argument: NAME=VALUE, or NAME to take VALUE from the environment
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Build up to this stage (its AS name) and make it the image
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Do not use the step cache (steps are still cached for later builds)
    #[arg(long)]
    pub no_cache: bool,
    /// Pull base images: always (also --pull), missing (the default) or never
    #[arg(long, value_name = "POLICY", num_args = 0..=1, require_equals = true, default_missing_value = "always", default_value = "missing")]
    pub pull: String,
    /// Set a label on the image (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Print only the image ID
    #[arg(short, long)]
    pub quiet: bool,
    /// Network for RUN steps: pasta (default), slirp4netns, host or none
    #[arg(long, value_name = "MODE", default_value = "pasta")]
    pub network: String,
    /// Platform to build for: only this machine's (linux/ARCH)
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Use and keep the step cache (false: neither, each step runs)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub layers: bool,
    /// Layer compression: gzip (default) or zstd
    #[arg(long, value_name = "FORMAT", default_value = "gzip")]
    pub compression: String,
    /// Seconds since the epoch for every time in the image (created, history, file times
    /// clamped), for reproducible builds [default: $SOURCE_DATE_EPOCH if set]
    #[arg(long, value_name = "SECONDS")]
    pub timestamp: Option<i64>,
    #[command(flatten)]
    pub registry: super::pull::RegistryFlags,
    /// The build context: a directory, or - for a Dockerfile on stdin and no context
    #[arg(value_name = "CONTEXT")]
    pub context: String,
}

/// The Dockerfile's text and how errors name it.
fn dockerfile(args: &BuildArgs, context: Option<&Path>) -> anyhow::Result<(String, String)> {
    let read_stdin = || -> anyhow::Result<String> {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the Dockerfile from standard input")?;
        Ok(s)
    };
    match (&args.file, context) {
        (Some(f), _) if f == "-" => Ok((read_stdin()?, "Dockerfile".into())),
        (Some(f), ctx) => {
            // Relative to the current directory, else to the context (as
            // Podman looks for it).
            let path = match ctx {
                Some(c) if !Path::new(f).exists() && c.join(f).exists() => c.join(f),
                _ => Path::new(f).to_path_buf(),
            };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the Dockerfile {f} (-f)"))?;
            Ok((text, f.clone()))
        }
        (None, None) => Ok((read_stdin()?, "Dockerfile".into())),
        (None, Some(c)) => {
            for name in ["Dockerfile", "Containerfile"] {
                let p = c.join(name);
                if p.is_file() {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    return Ok((text, name.to_string()));
                }
            }
            anyhow::bail!(
                "no Dockerfile or Containerfile in {}: add one, or name it with -f",
                c.display()
            )
        }
    }
}

fn build_args(list: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            None if !a.is_empty() => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
            _ => anyhow::bail!("invalid --build-arg {a:?}: give NAME=VALUE or NAME"),
        }
    }
    Ok(out)
}

/// Base images, found in the store (the caller pulled them before).
struct Host {
    store: Store,
    quiet: bool,
}

impl BuildHost for Host {
    fn base_image(&mut self, name: &str) -> Result<ImageRecord, String> {
        find_image(&self.store, name).map_err(|e| e.to_string())
    }

    fn say(&mut self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }
}

pub fn run(ctx: &Ctx, args: &BuildArgs) -> anyhow::Result<i32> {
    let context = if args.context == "-" {
        None
    } else {
        let c = std::fs::canonicalize(&args.context)
            .with_context(|| format!("the build context {}: no such directory", args.context))?;
        if !c.is_dir() {
            anyhow::bail!("the build context {} is not a directory", args.context);
        }
        Some(c)
    };
    if args.context == "-" && args.file.as_deref().is_some_and(|f| f != "-") {
        anyhow::bail!("with - as the context the Dockerfile comes from stdin: drop -f");
    }
    let (text, name) = dockerfile(args, context.as_deref())?;
    let mut tags = Vec::new();
    for t in &args.tag {
        tags.push(burrow::reference::tag_name(t).with_context(|| format!("-t {t}"))?);
    }
    let host_platform = format!("linux/{}", burrow::image::write::host_architecture());
    if let Some(p) = &args.platform
        && p != &host_platform
    {
        anyhow::bail!("--platform {p}: this machine builds {host_platform} only (no emulation)");
    }
    let network = NetworkMode::parse(&args.network)?;
    if matches!(network, NetworkMode::Container(_) | NetworkMode::Bridge(_)) {
        anyhow::bail!(
            "--network {}: build steps use pasta, slirp4netns, host or none",
            args.network
        );
    }
    let network = match network {
        NetworkMode::Pasta(o)
            if o.is_empty() && burrow::userns::find_host_program("pasta").is_none() =>
        {
            NetworkMode::Slirp4netns(Vec::new())
        }
        n => n,
    };
    let compression = LayerCompression::parse(&args.compression)
        .ok_or_else(|| anyhow::anyhow!("--compression {}: use gzip or zstd", args.compression))?;
    let timestamp = match args.timestamp {
        Some(t) => Some(t),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Some(v.parse().map_err(|_| {
                anyhow::anyhow!("SOURCE_DATE_EPOCH={v}: give seconds since the epoch")
            })?),
            _ => None,
        },
    };
    let timestamp: Option<DateTime<Utc>> = timestamp
        .map(|t| {
            DateTime::from_timestamp(t, 0)
                .ok_or_else(|| anyhow::anyhow!("--timestamp {t}: out of range"))
        })
        .transpose()?;
    let labels = super::run::parse_labels(&args.label)?;
    if !matches!(
        args.pull.as_str(),
        "always" | "missing" | "never" | "true" | "false"
    ) {
        anyhow::bail!("--pull={}: use always, missing or never", args.pull);
    }
    let opts = BuildOptions {
        context,
        dockerfile: text,
        dockerfile_name: name,
        tags,
        build_args: build_args(&args.build_arg)?,
        target: args.target.clone(),
        cache: args.layers && !args.no_cache,
        labels,
        network,
        compression,
        timestamp,
    };
    let store = ctx.store()?;
    // Base images first, each found or pulled in a process of its own.
    let needed = match burrow::build::images_needed(&opts) {
        Ok(n) => n,
        Err(e) => return fail(&e),
    };
    for image in &needed {
        let found = super::pull::image_as_policy(
            ctx,
            &store,
            image,
            &args.pull,
            None,
            &args.registry,
            args.quiet,
        )?;
        if let Err(code) = found {
            return Ok(code);
        }
    }
    let seccomp_cache = ctx.paths.runroot.join("seccomp");
    let quiet = args.quiet;
    let storage_driver = ctx.storage_driver.clone();
    let probe_path = ctx.paths.runroot.join("overlay.probe");
    let requested = storage_driver
        .as_deref()
        .map(burrow::runtime::rootfs::Driver::parse)
        .transpose()?;
    let (driver, why) = burrow::runtime::rootfs::choose(requested, false, || {
        burrow::runtime::rootfs::cached_overlay_probe(&probe_path, || {
            burrow::system::overlay::probe_overlay(&ctx.paths)
        })
    })?;
    if let Some(why) = why {
        eprintln!("WARN: {why}");
    }
    if driver == burrow::runtime::rootfs::Driver::Vfs {
        anyhow::bail!(
            "build needs the overlay or fuse-overlayfs storage driver (each step's changes are read from its overlay): install fuse-overlayfs"
        );
    }
    let caps = burrow::confine::CapSet::default_set();
    let seccomp = burrow::confine::prepare_cached(
        &burrow::confine::SeccompMode::Default,
        &caps,
        &seccomp_cache,
    )?;
    let confine = burrow::runtime::spec::Confinement {
        caps,
        seccomp,
        privileged: false,
    };
    let work_root = store.root().join("build-tmp");
    let (work, _work_lock) = burrow::build::work_dir(&work_root)?;
    let code = ctx.in_userns(|ns| {
        // Stage views for COPY --from are mounted in a mount namespace of
        // the build's own; stdin is the Dockerfile's or nobody's.
        if let Err(e) = burrow::runtime::process::private_mount_namespace() {
            eprintln!("Error: {e}");
            return super::EXIT_ENGINE;
        }
        if let Ok(null) = std::fs::File::open("/dev/null") {
            // SAFETY: dup2 onto stdin: RUN steps must not read the user's.
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) };
        }
        let env = BuildEnv {
            store: &store,
            unpack: burrow::storage::unpack::UnpackOptions {
                uid_count: ns.map.uid_count(),
                gid_count: ns.map.gid_count(),
                ignore_chown_errors: ctx.config.storage.ignore_chown_errors,
                user_name: ns.identity.name.clone(),
            },
            driver,
            id_counts: (ns.map.uid_count(), ns.map.gid_count()),
            confine: confine.clone(),
            work: work.clone(),
        };
        let mut host = Host {
            store: store.clone(),
            quiet,
        };
        // -q: the RUN steps' output goes nowhere; messages come after.
        let saved = quiet.then(silence_stdio).flatten();
        let result = burrow::build::build(&env, &opts, &mut host);
        if let Some(saved) = saved {
            restore_stdio(saved);
        }
        let _ = burrow::build::remove_work_dir(&work);
        match result {
            Ok(image) => {
                if quiet {
                    println!("{}", image.id.hex());
                } else {
                    for t in &image.names {
                        println!("COMMIT {t}");
                    }
                    println!("--> {}", image.id.short());
                    for t in &image.names {
                        println!("Successfully tagged {t}");
                    }
                    println!("{}", image.id.hex());
                }
                0
            }
            Err(e) => match fail(&e) {
                Ok(code) => code,
                Err(_) => super::EXIT_ENGINE,
            },
        }
    })?;
    Ok(code)
}

/// Point stdout and stderr at /dev/null; the saved originals.
fn silence_stdio() -> Option<(i32, i32)> {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok()?;
    // SAFETY: dup/dup2 of the standard descriptors; restored below.
    unsafe {
        let (out, err) = (libc::dup(1), libc::dup(2));
        if out < 0 || err < 0 {
            return None;
        }
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2);
        Some((out, err))
    }
}

fn restore_stdio((out, err): (i32, i32)) {
    // SAFETY: putting back the descriptors saved by silence_stdio.
    unsafe {
        libc::dup2(out, 1);
        libc::dup2(err, 2);
        libc::close(out);
        libc::close(err);
    }
}

fn fail(e: &BuildError) -> anyhow::Result<i32> {
    eprintln!("Error: {e}");
    Ok(e.exit_code().unwrap_or(super::EXIT_ENGINE))
}
