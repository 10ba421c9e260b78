//! `burrow build`: a Dockerfile, step by step, into an image.
//!
//! Each stage starts from its FROM (an image, `scratch`, or an earlier
//! stage) and keeps a state: its layers, its OCI config and a cache key
//! chained over every step. RUN runs the command as a rootless container
//! on the stage's layers (the same code as `burrow run`) and turns the
//! container's overlay upper directory into a layer; COPY and ADD write
//! their layer tar straight from the context. Every other instruction
//! only changes the config.
//!
//! The step cache maps a step's key (the previous key, the instruction as
//! expanded, and for COPY/ADD the content of what it reads) to the layer
//! and config it gave; a rebuild with nothing changed finds every step
//! there and gives the same image ID.

pub mod context;
mod stage;
mod step;
pub mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use parse_dockerfile::Instruction;
use serde_json::{Value, json};

use crate::digest::Digest;
use crate::image::write::{LayerCompression, WriteError, empty_config, put_new_image, string_list};
use crate::runtime::rootfs::Driver;
use crate::runtime::spec::{Confinement, NetworkMode};
use crate::storage::unpack::UnpackOptions;
use crate::storage::{ImageRecord, Store, StoreError, atomic};
use context::Ignore;
use stage::Stage;
use step::{Step, flag};

/// Build arguments every Dockerfile may use without declaring them.
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{file}:{line}: {msg}")]
    At {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("{file}:{line}: RUN {command}: exited with code {code}")]
    RunFailed {
        file: String,
        line: usize,
        command: String,
        code: i32,
    },
    #[error(
        "target stage {0:?} is not in the Dockerfile: give the name after AS, or a stage number"
    )]
    NoTarget(String),
    #[error("the Dockerfile has no FROM: every build starts with one")]
    NoFrom,
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BuildError {
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// What the caller asks for.
pub struct BuildOptions {
    /// The context directory; None for a Dockerfile given on stdin alone.
    pub context: Option<PathBuf>,
    pub dockerfile: String,
    /// How errors name the Dockerfile.
    pub dockerfile_name: String,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// Use and keep the step cache.
    pub cache: bool,
    pub labels: BTreeMap<String, String>,
    pub network: NetworkMode,
    pub compression: LayerCompression,
    /// Image and history times, and the newest file time in new layers.
    pub timestamp: Option<DateTime<Utc>>,
}

/// What the engine needs from the command line: base images (found or
/// pulled as the user asked) and a place for progress lines.
pub trait BuildHost {
    fn base_image(&mut self, name: &str) -> Result<ImageRecord, String>;
    fn say(&mut self, line: &str);
}

/// The machine side: the store, and how containers are made here.
pub struct BuildEnv<'a> {
    pub store: &'a Store,
    pub unpack: UnpackOptions,
    pub driver: Driver,
    pub id_counts: (u32, u32),
    pub confine: Confinement,
    /// Where RUN containers and stage views live while the build runs.
    pub work: PathBuf,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The stages `target` needs (itself, its FROM stage and COPY --from
/// sources, transitively).
fn needed_stages(
    stages: &[(Option<String>, String, Vec<String>)],
    target: usize,
) -> BTreeSet<usize> {
    let find = |r: &str| -> Option<usize> {
        stages
            .iter()
            .position(|(name, _, _)| name.as_deref() == Some(r))
            .or_else(|| r.parse::<usize>().ok().filter(|&i| i < stages.len()))
    };
    let mut need = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !need.insert(i) {
            continue;
        }
        let (_, from, froms) = &stages[i];
        for r in std::iter::once(from).chain(froms.iter()) {
            if let Some(j) = find(r).filter(|&j| j < i) {
                todo.push(j);
            }
        }
    }
    need
}

/// Build the Dockerfile of `opts` and record the image. Call as root of
/// the user namespace, single-threaded, in a mount namespace of the
/// build's own (stage views for COPY --from are mounted there).
pub fn build(
    env: &BuildEnv<'_>,
    opts: &BuildOptions,
    host: &mut dyn BuildHost,
) -> Result<ImageRecord, BuildError> {
    // Layers taken from the cache or made by steps belong to no image
    // until the end: garbage collection waits.
    let _gc = env.store.gc_shared()?;
    let text = opts.dockerfile.as_str();
    let file = opts.dockerfile_name.clone();
    let df = parse(opts)?;
    let at = |offset: usize, msg: String| BuildError::At {
        file: file.clone(),
        line: line_of(text, offset),
        msg,
    };
    let plan = plan(&df, opts)?;
    let Plan {
        global,
        index,
        target,
        needed,
        mut used_args,
    } = plan;
    let stages: Vec<_> = df.stages().collect();
    let created = opts.timestamp.unwrap_or_else(Utc::now);
    let clamp = opts.timestamp.map(|t| t.timestamp().max(0) as u64);
    let ignore = opts
        .context
        .as_deref()
        .map(Ignore::read)
        .unwrap_or_default();
    let mut done: Vec<Option<Stage>> = vec![None; stages.len()];
    let find_stage = |r: &str, done: &[Option<Stage>], upto: usize| -> Option<Stage> {
        index[..upto]
            .iter()
            .position(|(n, _, _)| n.as_deref() == Some(r))
            .or_else(|| r.parse::<usize>().ok().filter(|&i| i < upto))
            .and_then(|i| done[i].clone())
    };
    let total_needed = needed.len();
    for (pos, &si) in needed.iter().enumerate() {
        let s = &stages[si];
        let (_, from, _) = &index[si];
        let n_steps = s.instructions.len() + 1;
        let prefix = if total_needed > 1 {
            format!("[{}/{}] ", pos + 1, total_needed)
        } else {
            String::new()
        };
        host.say(&format!(
            "{prefix}STEP 1/{n_steps}: FROM {from}{}",
            s.from
                .as_
                .as_ref()
                .map(|(_, n)| format!(" AS {}", n.value))
                .unwrap_or_default()
        ));
        if let Some(p) = flag(&s.from.options, "platform") {
            let host_platform = format!("linux/{}", crate::image::write::host_architecture());
            if !p.is_empty() && p != host_platform {
                return Err(at(
                    s.from.from.span.start,
                    format!("FROM --platform={p}: this machine builds {host_platform} only"),
                ));
            }
        }
        let mut st = if from == "scratch" {
            Stage {
                layers: Vec::new(),
                config: empty_config(created),
                key: Digest::of(b"FROM scratch"),
                shell: vec!["/bin/sh".into(), "-c".into()],
                args: BTreeMap::new(),
            }
        } else if let Some(mut prev) = find_stage(from, &done, si) {
            prev.args.clear();
            prev
        } else {
            let img = host
                .base_image(from)
                .map_err(|m| at(s.from.from.span.start, m))?;
            let config: Value =
                serde_json::from_slice(&env.store.read_blob(&img.config_digest)?)
                    .map_err(|e| at(s.from.from.span.start, format!("the image's config: {e}")))?;
            Stage {
                layers: img.layers.clone(),
                config,
                key: Digest::of(format!("FROM {}", img.id).as_bytes()),
                shell: vec!["/bin/sh".into(), "-c".into()],
                args: BTreeMap::new(),
            }
        };
        // An image's ONBUILD triggers run first, as Docker runs them, and
        // are not passed on to this image.
        let triggers = string_list(&st.config["config"]["OnBuild"]);
        if !triggers.is_empty() && from != "scratch" && find_stage(from, &done, si).is_none() {
            st.cfg().remove("OnBuild");
            let trigger_text = format!("FROM scratch\n{}\n", triggers.join("\n"));
            let trigger_file = format!("ONBUILD trigger of {from}");
            let tdf = parse_dockerfile::parse(&trigger_text).map_err(|e| BuildError::At {
                file: trigger_file.clone(),
                line: e.line().saturating_sub(1),
                msg: e.to_string(),
            })?;
            let trigger_prefix = format!("{prefix}ONBUILD ");
            for t in tdf.stages() {
                for (n, ins) in t.instructions.iter().enumerate() {
                    let step = Step {
                        env,
                        opts,
                        host: &mut *host,
                        file: &trigger_file,
                        text: &trigger_text,
                        created,
                        clamp,
                        ignore: &ignore,
                        prefix: &trigger_prefix,
                        number: n + 1,
                        of: t.instructions.len(),
                        line_shift: 1,
                    };
                    st = step.apply(st, ins, &global, &mut used_args, &|r: &str| {
                        find_stage(r, &done, si)
                    })?;
                }
            }
        }
        for (n, ins) in s.instructions.iter().enumerate() {
            let step = Step {
                env,
                opts,
                host: &mut *host,
                file: &file,
                text,
                created,
                clamp,
                ignore: &ignore,
                prefix: &prefix,
                number: n + 2,
                of: n_steps,
                line_shift: 0,
            };
            st = step.apply(st, ins, &global, &mut used_args, &|r: &str| {
                find_stage(r, &done, si)
            })?;
        }
        done[si] = Some(st);
    }
    for k in opts.build_args.keys() {
        if !used_args.contains(k) && !PROXY_ARGS.contains(&k.as_str()) {
            host.say(&format!(
                "[Warning] one or more build-args [{k}] were not consumed"
            ));
        }
    }
    let mut st = done[target].take().ok_or(BuildError::NoFrom)?;
    if !opts.labels.is_empty() {
        let mut labels = st.config["config"]["Labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (k, v) in &opts.labels {
            labels.insert(k.clone(), json!(v));
        }
        st.cfg().insert("Labels".into(), Value::Object(labels));
    }
    if let Some(t) = opts.timestamp {
        st.config["created"] = json!(t.to_rfc3339());
    }
    let record = put_new_image(env.store, st.config, st.layers, &opts.tags)?;
    Ok(record)
}

fn parse(opts: &BuildOptions) -> Result<parse_dockerfile::Dockerfile<'_>, BuildError> {
    parse_dockerfile::parse(&opts.dockerfile).map_err(|e| BuildError::At {
        file: opts.dockerfile_name.clone(),
        line: e.line(),
        msg: e.to_string(),
    })
}

/// The stages of a Dockerfile as the build sees them before it starts.
struct Plan {
    /// Global ARGs with their values.
    global: BTreeMap<String, String>,
    /// Per stage: its AS name, its FROM (expanded), its COPY --from refs.
    index: Vec<(Option<String>, String, Vec<String>)>,
    target: usize,
    needed: BTreeSet<usize>,
    used_args: BTreeSet<String>,
}

fn plan(df: &parse_dockerfile::Dockerfile<'_>, opts: &BuildOptions) -> Result<Plan, BuildError> {
    let text = opts.dockerfile.as_str();
    let at = |offset: usize, msg: String| BuildError::At {
        file: opts.dockerfile_name.clone(),
        line: line_of(text, offset),
        msg,
    };
    // Global ARGs (before the first FROM) are for FROM lines.
    let mut used_args: BTreeSet<String> = BTreeSet::new();
    let mut global: BTreeMap<String, String> = BTreeMap::new();
    for a in df.global_args() {
        for (k, v) in parse_arg(&a.arguments.value).map_err(|m| at(a.arg.span.start, m))? {
            let value = opts.build_args.get(&k).cloned().or(v).unwrap_or_default();
            used_args.insert(k.clone());
            global.insert(k, value);
        }
    }
    let stages: Vec<_> = df.stages().collect();
    if stages.is_empty() {
        return Err(BuildError::NoFrom);
    }
    let mut index = Vec::new();
    for s in &stages {
        let name = s.from.as_.as_ref().map(|(_, n)| n.value.to_string());
        let from = words::expand(&s.from.image.value, &global)
            .map_err(|e| at(s.from.from.span.start, e.to_string()))?;
        let mut froms = Vec::new();
        for i in s.instructions {
            if let Instruction::Copy(c) = i
                && let Some(f) = flag(&c.options, "from")
            {
                froms.push(f);
            }
        }
        index.push((name, from, froms));
    }
    let target = match &opts.target {
        None => stages.len() - 1,
        Some(t) => index
            .iter()
            .position(|(n, _, _)| n.as_deref() == Some(t.as_str()))
            .ok_or_else(|| BuildError::NoTarget(t.clone()))?,
    };
    let needed = needed_stages(&index, target);
    Ok(Plan {
        global,
        index,
        target,
        needed,
        used_args,
    })
}

/// The images the build reads (FROM and COPY --from that name no stage),
/// for the caller to find or pull before the build starts: a pull starts
/// threads, and the build forks containers.
pub fn images_needed(opts: &BuildOptions) -> Result<Vec<String>, BuildError> {
    let df = parse(opts)?;
    let p = plan(&df, opts)?;
    let mut out: Vec<String> = Vec::new();
    for &i in &p.needed {
        let (_, from, froms) = &p.index[i];
        for r in std::iter::once(from).chain(froms.iter()) {
            let is_stage = p.index[..i]
                .iter()
                .any(|(n, _, _)| n.as_deref() == Some(r.as_str()))
                || r.parse::<usize>().is_ok_and(|j| j < i);
            if !is_stage && r != "scratch" && !out.contains(r) {
                out.push(r.clone());
            }
        }
    }
    Ok(out)
}

/// `ARG NAME[=default] ...`.
fn parse_arg(s: &str) -> Result<Vec<(String, Option<String>)>, String> {
    words::split_words(s)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Some(v.to_string()))),
            None if !w.is_empty() => Ok((w, None)),
            _ => Err(format!("ARG {w:?}: give NAME or NAME=DEFAULT")),
        })
        .collect()
}

/// A fresh work directory under `root` for one build, locked while the
/// build runs; directories of builds that died (their lock is free) are
/// removed first.
pub fn work_dir(root: &Path) -> Result<(PathBuf, fs::File), StoreError> {
    fs::create_dir_all(root).map_err(|e| StoreError::io("create", root, e))?;
    if let Ok(entries) = fs::read_dir(root) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "lock")
                && let Ok(f) = atomic::open_lock(&path)
                && f.try_lock().is_ok()
            {
                let _ = atomic::remove_tree(&path.with_extension(""));
                let _ = fs::remove_file(&path);
            }
        }
    }
    let name = format!(
        "build-{}",
        &Digest::of(
            format!("{}-{:?}", std::process::id(), std::time::SystemTime::now()).as_bytes()
        )
        .hex()[..12]
    );
    let dir = root.join(&name);
    let lock_path = root.join(format!("{name}.lock"));
    let lock = atomic::lock(&lock_path).map_err(|e| StoreError::io("lock", &lock_path, e))?;
    fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
    Ok((dir, lock))
}

/// Remove a build's work directory, after unmounting the stage views
/// mounted in it.
pub fn remove_work_dir(work: &Path) -> io::Result<()> {
    if let Ok(entries) = fs::read_dir(work) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("view-") {
                let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
    atomic::remove_tree(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_are_names_with_optional_defaults() {
        assert_eq!(
            parse_arg("A B=2").unwrap(),
            [
                ("A".to_string(), None),
                ("B".to_string(), Some("2".to_string()))
            ]
        );
    }

    #[test]
    fn only_needed_stages_are_built() {
        let stages = vec![
            (Some("deps".to_string()), "img".to_string(), vec![]),
            (Some("unused".to_string()), "img".to_string(), vec![]),
            (Some("build".to_string()), "deps".to_string(), vec![]),
            (None, "img".to_string(), vec!["build".to_string()]),
        ];
        assert_eq!(
            needed_stages(&stages, 3).into_iter().collect::<Vec<_>>(),
            [0, 2, 3]
        );
        assert_eq!(
            needed_stages(&stages, 1).into_iter().collect::<Vec<_>>(),
            [1]
        );
    }
}
