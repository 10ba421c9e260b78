//! `burrow build`: build an image from a Dockerfile (see burrow::build).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use burrow::build::BuildOptions;
use burrow::engine::{BuildRequest, Engine};
use burrow::image::write::LayerCompression;
use burrow::runtime::NetworkMode;
use chrono::{DateTime, Utc};
use clap::Args;

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

pub fn run(ctx: &Engine, args: &BuildArgs) -> anyhow::Result<i32> {
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
    let network = NetworkMode::parse(&args.network)?;
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
    let labels = burrow::engine::request::parse_labels(&args.label)?;
    if !matches!(
        args.pull.as_str(),
        "always" | "missing" | "never" | "true" | "false"
    ) {
        anyhow::bail!("--pull={}: use always, missing or never", args.pull);
    }
    let options = BuildOptions {
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
    let request = BuildRequest {
        options,
        platform: args.platform.clone(),
        pull: args.pull.parse()?,
        registry: args.registry.options(),
        quiet: args.quiet,
    };
    let pulls = || super::pull::observer(args.quiet);
    let image = ctx.build(request, &pulls, &mut |line| println!("{line}"))?;
    if args.quiet {
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
    Ok(0)
}
