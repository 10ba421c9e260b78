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
pub mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use parse_dockerfile::{Command, Instruction, JsonOrStringArray, Source};
use serde_json::{Value, json};

use crate::digest::Digest;
use crate::image::write::{
    LayerCompression, WriteError, add_layer, empty_config, history_entry, put_new_image,
};
use crate::runtime::ContainerSpec;
use crate::runtime::rootfs::Driver;
use crate::runtime::spec::{Confinement, NameConfig, NetworkMode};
use crate::storage::unpack::UnpackOptions;
use crate::storage::{ImageLayer, ImageRecord, Store, StoreError, atomic};
use context::{CopyAttrs, Ignore, LayerTar, SourceRoot};

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

/// One stage's state between steps.
#[derive(Clone)]
struct Stage {
    layers: Vec<ImageLayer>,
    config: Value,
    key: Digest,
    shell: Vec<String>,
    /// ARGs declared in this stage, with their values.
    args: BTreeMap<String, String>,
}

impl Stage {
    fn cfg(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        match self.config["config"].as_object_mut() {
            Some(m) => m,
            None => unreachable!("set to an object above"),
        }
    }

    fn env(&self) -> Vec<String> {
        self.config["config"]["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Variables for substitution: the stage's ARGs, then its ENV (which
    /// wins, as in Docker).
    fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.args.clone();
        for e in self.env() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_string(), val.to_string());
            }
        }
        v
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(format!("{key}={value}"));
        self.cfg().insert("Env".into(), json!(env));
    }

    fn workdir(&self) -> String {
        self.config["config"]["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    fn lowers(&self, store: &Store) -> Vec<PathBuf> {
        self.layers
            .iter()
            .rev()
            .map(|l| store.layer_diff_path(&l.chain_id))
            .collect()
    }
}

/// The step cache: `build-cache/KEY.json` in the store.
#[derive(serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    layer: Option<ImageLayer>,
    config: Value,
}

fn cache_path(store: &Store, key: &Digest) -> PathBuf {
    store
        .root()
        .join("build-cache")
        .join(format!("{}.json", key.hex()))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn command_words(c: &Command<'_>, shell: &[String]) -> (Vec<String>, String) {
    match c {
        Command::Exec(a) => {
            let words: Vec<String> = a.value.iter().map(|s| s.value.to_string()).collect();
            let shown = serde_json::to_string(&words).unwrap_or_default();
            (words, shown)
        }
        Command::Shell(s) => {
            // Line continuations join the lines, as the shell would.
            let text = s.value.replace("\\\n", "");
            let mut words = shell.to_vec();
            words.push(text.trim().to_string());
            (words, text.trim().to_string())
        }
        // A form this parser version does not know: nothing to run.
        _ => (Vec::new(), String::new()),
    }
}

fn flag<'a>(flags: &'a [parse_dockerfile::Flag<'a>], name: &str) -> Option<String> {
    flags.iter().find(|f| f.name.value == name).map(|f| {
        f.value
            .as_ref()
            .map(|v| v.value.to_string())
            .unwrap_or_default()
    })
}

fn check_flags(flags: &[parse_dockerfile::Flag<'_>], known: &[&str]) -> Result<(), String> {
    for f in flags {
        if !known.contains(&f.name.value.as_ref()) {
            return Err(format!(
                "unknown flag --{}: this instruction takes {}",
                f.name.value,
                if known.is_empty() {
                    "no flags".to_string()
                } else {
                    known
                        .iter()
                        .map(|k| format!("--{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
    }
    Ok(())
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn duration_ns(s: &str) -> Result<u64, String> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let bad = || format!("invalid duration {s:?}: use e.g. 30s, 1m30s, 500ms");
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(total as u64)
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
        let triggers: Vec<String> = st.config["config"]["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
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

/// One step of a stage.
struct Step<'a, 'h> {
    env: &'a BuildEnv<'a>,
    opts: &'a BuildOptions,
    host: &'h mut dyn BuildHost,
    file: &'a str,
    text: &'a str,
    created: DateTime<Utc>,
    clamp: Option<u64>,
    ignore: &'a Ignore,
    prefix: &'a str,
    number: usize,
    of: usize,
    /// Lines of `text` before the real first one (the FROM put before
    /// ONBUILD triggers to parse them).
    line_shift: usize,
}

/// Writes a layer's tar.
type LayerWriter = Box<dyn FnOnce(&mut dyn io::Write) -> io::Result<()>>;

/// What a step does to the image, once its key is known.
enum Effect {
    /// Only the config changes (done in place).
    Config,
    /// A layer from a RUN.
    Run { argv: Vec<String>, shown: String },
    /// A layer written straight from sources.
    Files(LayerWriter),
}

impl Step<'_, '_> {
    fn err(&self, offset: usize, msg: impl Into<String>) -> BuildError {
        BuildError::At {
            file: self.file.to_string(),
            line: line_of(self.text, offset)
                .saturating_sub(self.line_shift)
                .max(1),
            msg: msg.into(),
        }
    }

    fn apply(
        mut self,
        mut st: Stage,
        ins: &Instruction<'_>,
        global: &BTreeMap<String, String>,
        used_args: &mut BTreeSet<String>,
        stage_of: &dyn Fn(&str) -> Option<Stage>,
    ) -> Result<Stage, BuildError> {
        let vars = st.vars();
        let (file, text, shift) = (self.file, self.text, self.line_shift);
        let ex = |s: &str, off: usize| {
            words::expand(s, &vars).map_err(|e| BuildError::At {
                file: file.to_string(),
                line: line_of(text, off).saturating_sub(shift).max(1),
                msg: e.to_string(),
            })
        };
        let before = st.clone();
        // The instruction as shown and hashed, and what it does.
        let (shown, effect, extra_key): (String, Effect, String) = match ins {
            Instruction::Arg(a) => {
                for (k, v) in
                    parse_arg(&a.arguments.value).map_err(|m| self.err(a.arg.span.start, m))?
                {
                    let v = match v {
                        Some(v) => Some(ex(&v, a.arg.span.start)?),
                        None => None,
                    };
                    let value = self
                        .opts
                        .build_args
                        .get(&k)
                        .cloned()
                        .or(v)
                        .or_else(|| global.get(&k).cloned());
                    used_args.insert(k.clone());
                    let value = match value {
                        Some(v) => v,
                        None => {
                            self.host.say(&format!(
                                "[Warning] ARG {k} has no value: it is empty unless given with --build-arg {k}=VALUE"
                            ));
                            String::new()
                        }
                    };
                    st.args.insert(k, value);
                }
                // An ARG changes RUN steps only through their environment,
                // which is part of their key.
                return Ok(self.say_step(st, &format!("ARG {}", a.arguments.value)));
            }
            Instruction::Env(e) => {
                let expanded = ex(&e.arguments.value, e.env.span.start)?;
                for (k, v) in words::key_values(&expanded)
                    .map_err(|m| self.err(e.env.span.start, m.to_string()))?
                {
                    st.set_env(&k, &v);
                }
                (format!("ENV {expanded}"), Effect::Config, String::new())
            }
            Instruction::Label(l) => {
                let expanded = ex(&l.arguments.value, l.label.span.start)?;
                let mut labels = st.config["config"]["Labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (k, v) in words::key_values(&expanded)
                    .map_err(|m| self.err(l.label.span.start, m.to_string()))?
                {
                    labels.insert(k, json!(v));
                }
                st.cfg().insert("Labels".into(), Value::Object(labels));
                (format!("LABEL {expanded}"), Effect::Config, String::new())
            }
            Instruction::Maintainer(m) => {
                st.config["author"] = json!(m.name.value);
                (
                    format!("MAINTAINER {}", m.name.value),
                    Effect::Config,
                    String::new(),
                )
            }
            Instruction::Cmd(c) => {
                let (w, shown) = command_words(&c.arguments, &st.shell);
                st.cfg().insert("Cmd".into(), json!(w));
                (format!("CMD {shown}"), Effect::Config, String::new())
            }
            Instruction::Entrypoint(c) => {
                let (w, shown) = command_words(&c.arguments, &st.shell);
                st.cfg().insert("Entrypoint".into(), json!(w));
                // Docker: a new ENTRYPOINT drops an inherited CMD.
                st.cfg().remove("Cmd");
                (format!("ENTRYPOINT {shown}"), Effect::Config, String::new())
            }
            Instruction::Shell(s) => {
                st.shell = s.arguments.iter().map(|a| a.value.to_string()).collect();
                return Ok(self.say_step(st, "SHELL"));
            }
            Instruction::Workdir(w) => {
                let dir = ex(&w.arguments.value, w.workdir.span.start)?;
                let dir = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{}/{dir}", st.workdir().trim_end_matches('/'))
                };
                st.cfg().insert("WorkingDir".into(), json!(dir));
                (format!("WORKDIR {dir}"), Effect::Config, String::new())
            }
            Instruction::User(u) => {
                let user = ex(&u.arguments.value, u.user.span.start)?;
                st.cfg().insert("User".into(), json!(user));
                (format!("USER {user}"), Effect::Config, String::new())
            }
            Instruction::Expose(e) => {
                let mut ports = st.config["config"]["ExposedPorts"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let mut shown = Vec::new();
                for p in &e.arguments {
                    let p = ex(&p.value, e.expose.span.start)?;
                    let key = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    let port = key.split('/').next().unwrap_or("");
                    if port.split('-').any(|n| n.parse::<u16>().is_err()) {
                        return Err(self.err(
                            e.expose.span.start,
                            format!("EXPOSE {p}: not a port (PORT[/tcp|udp])"),
                        ));
                    }
                    ports.insert(key, json!({}));
                    shown.push(p);
                }
                st.cfg().insert("ExposedPorts".into(), Value::Object(ports));
                (
                    format!("EXPOSE {}", shown.join(" ")),
                    Effect::Config,
                    String::new(),
                )
            }
            Instruction::Volume(v) => {
                let list: Vec<String> = match &v.arguments {
                    JsonOrStringArray::Json(a) => {
                        a.value.iter().map(|s| s.value.to_string()).collect()
                    }
                    JsonOrStringArray::String(a) => a.iter().map(|s| s.value.to_string()).collect(),
                };
                let mut vols = st.config["config"]["Volumes"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for p in &list {
                    vols.insert(ex(p, v.volume.span.start)?, json!({}));
                }
                st.cfg().insert("Volumes".into(), Value::Object(vols));
                (format!("VOLUME {list:?}"), Effect::Config, String::new())
            }
            Instruction::Stopsignal(s) => {
                let sig = ex(&s.arguments.value, s.stopsignal.span.start)?;
                st.cfg().insert("StopSignal".into(), json!(sig));
                (format!("STOPSIGNAL {sig}"), Effect::Config, String::new())
            }
            Instruction::Healthcheck(h) => {
                check_flags(
                    &h.options,
                    &[
                        "interval",
                        "timeout",
                        "start-period",
                        "start-interval",
                        "retries",
                    ],
                )
                .map_err(|m| self.err(h.healthcheck.span.start, m))?;
                let test = match &h.arguments {
                    parse_dockerfile::HealthcheckArguments::None { .. } => json!(["NONE"]),
                    parse_dockerfile::HealthcheckArguments::Cmd { arguments, .. } => {
                        match arguments {
                            Command::Exec(a) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(a.value.iter().map(|s| s.value.to_string()));
                                json!(t)
                            }
                            Command::Shell(s) => json!(["CMD-SHELL", s.value.trim()]),
                            _ => {
                                return Err(self.err(
                                    h.healthcheck.span.start,
                                    "HEALTHCHECK CMD: give a command",
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(
                            self.err(h.healthcheck.span.start, "HEALTHCHECK: give CMD or NONE")
                        );
                    }
                };
                let mut hc = json!({ "Test": test });
                for (f, key) in [
                    ("interval", "Interval"),
                    ("timeout", "Timeout"),
                    ("start-period", "StartPeriod"),
                    ("start-interval", "StartInterval"),
                ] {
                    if let Some(v) = flag(&h.options, f) {
                        hc[key] = json!(
                            duration_ns(&v).map_err(|m| self.err(h.healthcheck.span.start, m))?
                        );
                    }
                }
                if let Some(r) = flag(&h.options, "retries") {
                    hc["Retries"] = json!(r.parse::<u32>().map_err(|_| self.err(
                        h.healthcheck.span.start,
                        format!("--retries={r}: not a number")
                    ))?);
                }
                st.cfg().insert("Healthcheck".into(), hc.clone());
                (format!("HEALTHCHECK {hc}"), Effect::Config, String::new())
            }
            Instruction::Onbuild(o) => {
                let inner = &self.text[o.onbuild.span.end..];
                let line = inner.lines().next().unwrap_or("").trim().to_string();
                let mut list = st.config["config"]["OnBuild"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                list.push(json!(line));
                st.cfg().insert("OnBuild".into(), json!(list));
                (format!("ONBUILD {line}"), Effect::Config, String::new())
            }
            Instruction::Run(r) => {
                check_flags(&r.options, &["network"]).map_err(|m| self.err(r.run.span.start, m))?;
                if !r.here_docs.is_empty() {
                    return Err(self.err(r.run.span.start, "RUN with here-documents is not supported yet: put the script in a file and COPY it"));
                }
                if let Some(n) = flag(&r.options, "network")
                    && !matches!(n.as_str(), "default" | "none" | "host")
                {
                    return Err(self.err(
                        r.run.span.start,
                        format!("RUN --network={n}: use default, none or host"),
                    ));
                }
                let (argv, shown) = command_words(&r.arguments, &st.shell);
                if argv.is_empty() {
                    return Err(self.err(r.run.span.start, "RUN: give a command"));
                }
                // The build's ARGs are part of what the command sees.
                let args: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (
                    format!("RUN {shown}"),
                    Effect::Run { argv, shown },
                    args.join("\n"),
                )
            }
            Instruction::Copy(c) => {
                check_flags(&c.options, &["from", "chown", "chmod", "link"])
                    .map_err(|m| self.err(c.copy.span.start, m))?;
                self.copy_effect(
                    &st,
                    "COPY",
                    &c.options,
                    &c.src,
                    &c.dest.value,
                    c.copy.span.start,
                    &ex,
                    stage_of,
                    false,
                )?
            }
            Instruction::Add(a) => {
                check_flags(&a.options, &["chown", "chmod", "checksum", "link"])
                    .map_err(|m| self.err(a.add.span.start, m))?;
                self.copy_effect(
                    &st,
                    "ADD",
                    &a.options,
                    &a.src,
                    &a.dest.value,
                    a.add.span.start,
                    &ex,
                    stage_of,
                    true,
                )?
            }
            Instruction::From(f) => {
                return Err(self.err(f.from.span.start, "FROM inside a stage"));
            }
            _ => return Err(self.err(0, "unknown instruction")),
        };
        // SHELL changes what shell-form RUN, CMD and ENTRYPOINT mean.
        let key =
            Digest::of(format!("{}\n{shown}\n{extra_key}\n{:?}", before.key, st.shell).as_bytes());
        let line = format!("{}STEP {}/{}: {shown}", self.prefix, self.number, self.of);
        self.host.say(&line);
        // The cache.
        let cached = if self.opts.cache {
            fs::read(cache_path(self.env.store, &key))
                .ok()
                .and_then(|b| serde_json::from_slice::<CacheEntry>(&b).ok())
                .filter(|c| match &c.layer {
                    Some(l) => {
                        matches!(self.env.store.layer(&l.chain_id), Ok(Some(_)))
                            && self.env.store.has_blob(&l.blob_digest)
                    }
                    None => true,
                })
        } else {
            None
        };
        if let Some(c) = cached {
            self.host
                .say(&format!("--> Using cache {}", &key.hex()[..12]));
            let mut next = st;
            next.config = c.config;
            if let Some(l) = c.layer {
                next.layers.push(l);
            }
            next.key = key;
            return Ok(next);
        }
        let parent = st.layers.last().map(|l| l.chain_id.clone());
        let layer = match effect {
            Effect::Config => None,
            Effect::Run { argv, shown } => {
                Some(self.run(&st, argv, &shown, ins, parent.as_ref())?)
            }
            Effect::Files(write) => Some(add_layer(
                self.env.store,
                parent.as_ref(),
                self.opts.compression,
                &self.env.unpack,
                write,
            )?),
        };
        let mut history = st.config["history"].as_array().cloned().unwrap_or_default();
        let created_by = match &layer {
            Some(_) if shown.starts_with("RUN ") => format!("/bin/sh -c {}", &shown[4..]),
            _ => format!("/bin/sh -c #(nop) {shown}"),
        };
        history.push(history_entry(
            self.created,
            &created_by,
            "",
            layer.is_none(),
        ));
        st.config["history"] = json!(history);
        st.config["created"] = json!(self.created.to_rfc3339());
        if let Some(l) = &layer {
            st.layers.push(l.clone());
        }
        if self.opts.cache {
            let entry = CacheEntry {
                layer,
                config: st.config.clone(),
            };
            let path = cache_path(self.env.store, &key);
            if let Some(dir) = path.parent() {
                let _ = fs::create_dir_all(dir);
            }
            if let Ok(bytes) = serde_json::to_vec(&entry) {
                // A lost cache entry only costs a rebuild of the step.
                let _ = atomic::write_file(&path, &bytes, 0o644);
            }
        }
        st.key = key;
        self.host.say(&format!("--> {}", &st.key.hex()[..12]));
        Ok(st)
    }

    fn say_step(self, st: Stage, shown: &str) -> Stage {
        self.host.say(&format!(
            "{}STEP {}/{}: {shown}",
            self.prefix, self.number, self.of
        ));
        st
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_effect(
        &mut self,
        st: &Stage,
        what: &str,
        flags: &[parse_dockerfile::Flag<'_>],
        srcs: &[Source<'_>],
        dest: &str,
        off: usize,
        ex: &dyn Fn(&str, usize) -> Result<String, BuildError>,
        stage_of: &dyn Fn(&str) -> Option<Stage>,
        add: bool,
    ) -> Result<(String, Effect, String), BuildError> {
        let store = self.env.store;
        let lowers = st.lowers(store);
        // Owner: --chown names resolve in the stage's own passwd/group.
        let mut attrs = CopyAttrs {
            mtime_clamp: self.clamp,
            ..CopyAttrs::default()
        };
        if let Some(ch) = flag(flags, "chown") {
            let ch = ex(&ch, off)?;
            let passwd = read_in_layers(&lowers, "etc/passwd");
            let group = read_in_layers(&lowers, "etc/group");
            let u = crate::runtime::user::resolve_user(&ch, passwd.as_deref(), group.as_deref())
                .map_err(|e| self.err(off, format!("{what} --chown={ch}: {e}")))?;
            attrs.uid = u.uid;
            attrs.gid = u.gid;
        }
        if let Some(m) = flag(flags, "chmod") {
            attrs.chmod = Some(u32::from_str_radix(&m, 8).map_err(|_| {
                self.err(
                    off,
                    format!("{what} --chmod={m}: give an octal mode such as 755"),
                )
            })?);
        }
        let dest = ex(dest, off)?;
        let abs_dest = normalize_dest(&if dest.starts_with('/') {
            dest.clone()
        } else {
            format!("{}/{dest}", st.workdir().trim_end_matches('/'))
        });
        let mut sources = Vec::new();
        for s in srcs {
            match s {
                Source::Path(p) => sources.push(ex(&p.value, off)?),
                _ => {
                    return Err(self.err(
                        off,
                        format!("{what} with here-documents is not supported yet"),
                    ));
                }
            }
        }
        // Where the sources are read: another stage or image, or the context.
        let from = flag(flags, "from");
        let (root_dir, from_key, ignore): (PathBuf, String, Option<&Ignore>) = match &from {
            Some(f) => {
                let (view_lowers, key) = match stage_of(f) {
                    Some(other) => (other.lowers(store), other.key.to_string()),
                    None => {
                        let img = self.host.base_image(f).map_err(|m| self.err(off, m))?;
                        (img.layers.iter().rev().map(|l| store.layer_diff_path(&l.chain_id)).collect(), img.id.to_string())
                    }
                };
                (self.view(&view_lowers).map_err(|m| self.err(off, m))?, key, None)
            }
            None => match &self.opts.context {
                Some(c) => (c.clone(), String::new(), Some(self.ignore)),
                None => return Err(self.err(off, format!("{what}: there is no build context (the Dockerfile came from stdin): give a context directory"))),
            },
        };
        let root = SourceRoot {
            dir: &root_dir,
            ignore,
        };
        let mut placed = Vec::new();
        let mut archives = Vec::new();
        let mut urls = Vec::new();
        let dest_is_dir = abs_dest.ends_with('/') || sources.len() > 1;
        let mut matched_all = Vec::new();
        for s in &sources {
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                urls.push(s.clone());
                continue;
            }
            let matched = root
                .resolve(s)
                .map_err(|e| self.err(off, format!("{what} {s}: {e}")))?;
            for m in matched {
                if add
                    && from.is_none()
                    && !m.is_dir
                    && context::is_archive(&root_dir.join(&m.real))
                {
                    archives.push(root_dir.join(&m.real));
                } else {
                    matched_all.push(m);
                }
            }
        }
        let dest_is_dir = dest_is_dir || matched_all.len() > 1 || !archives.is_empty();
        placed.extend(
            context::place(&root, &matched_all, &abs_dest, dest_is_dir)
                .map_err(|e| self.err(off, format!("{what}: {e}")))?,
        );
        let mut hash =
            context::content_hash(&placed).map_err(|e| self.err(off, format!("{what}: {e}")))?;
        for a in &archives {
            let bytes =
                fs::read(a).map_err(|e| self.err(off, format!("{what} {}: {e}", a.display())))?;
            hash.push_str(&Digest::of(&bytes).to_string());
        }
        // URLs are fetched now (their content keys the cache).
        let checksum = flag(flags, "checksum");
        let mut fetched = Vec::new();
        for u in &urls {
            let file = self
                .env
                .work
                .join(format!("add-{}", Digest::of(u.as_bytes()).short()));
            fetch_url(u, &file).map_err(|m| self.err(off, format!("ADD {u}: {m}")))?;
            let bytes = fs::read(&file).map_err(|e| self.err(off, format!("ADD {u}: {e}")))?;
            let digest = Digest::of(&bytes);
            if let Some(want) = &checksum
                && &digest.to_string() != want
            {
                return Err(self.err(
                    off,
                    format!("ADD {u}: checksum {digest} does not match --checksum={want}"),
                ));
            }
            hash.push_str(&digest.to_string());
            let name = u
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("download")
                .to_string();
            let target = if dest_is_dir || abs_dest.ends_with('/') || urls.len() > 1 {
                format!("{}/{name}", abs_dest.trim_end_matches('/'))
            } else {
                abs_dest.clone()
            };
            let meta = fs::metadata(&file).map_err(|e| self.err(off, e.to_string()))?;
            fetched.push(context::Placed {
                dest: target,
                src: file,
                meta,
            });
        }
        if checksum.is_some() && urls.is_empty() {
            return Err(self.err(off, "ADD --checksum applies to URL sources only"));
        }
        let shown = format!(
            "{what} {}{} {dest}",
            from.as_ref()
                .map(|f| format!("--from={f} "))
                .unwrap_or_default(),
            sources.join(" ")
        );
        let extra = format!(
            "{hash}\n{from_key}\n{:?}\n{:?}",
            (attrs.uid, attrs.gid),
            attrs.chmod
        );
        let parents = lowers.clone();
        let archive_dest = abs_dest.clone();
        let write = move |w: &mut dyn io::Write| -> io::Result<()> {
            let lookup = |dir: &str| lookup_in_layers(&parents, dir);
            let mut layer = LayerTar::new(w);
            context::append_placed(&mut layer, &placed, attrs, &lookup)?;
            let url_attrs = CopyAttrs {
                chmod: attrs.chmod.or(Some(0o600)),
                ..attrs
            };
            context::append_placed(&mut layer, &fetched, url_attrs, &lookup)?;
            for a in &archives {
                context::append_extracted(&mut layer, fs::File::open(a)?, &archive_dest, attrs)?;
            }
            layer.finish()
        };
        Ok((shown, Effect::Files(Box::new(write)), extra))
    }

    /// A read-only view of `lowers` (top first) for COPY --from: the
    /// single layer itself, or an overlay of them in the build's mount
    /// namespace.
    fn view(&self, lowers: &[PathBuf]) -> Result<PathBuf, String> {
        match lowers {
            [] => {
                let empty = self.env.work.join("empty-view");
                fs::create_dir_all(&empty).map_err(|e| e.to_string())?;
                Ok(empty)
            }
            [one] => Ok(one.clone()),
            many => {
                let key = Digest::of(format!("{many:?}").as_bytes());
                let target = self.env.work.join(format!("view-{}", key.short()));
                if target.join(".").exists()
                    && fs::read_dir(&target)
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(false)
                {
                    return Ok(target);
                }
                fs::create_dir_all(&target).map_err(|e| e.to_string())?;
                let lowerdir = many
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":");
                let mounted = nix::mount::mount(
                    Some("overlay"),
                    &target,
                    Some("overlay"),
                    nix::mount::MsFlags::MS_RDONLY,
                    Some(format!("lowerdir={lowerdir},userxattr").as_str()),
                );
                if mounted.is_err() {
                    // No overlay in this kernel's user namespaces: a copy.
                    let _ = fs::remove_dir(&target);
                    crate::runtime::rootfs::copy_layers(many, &target, None)
                        .map_err(|e| e.to_string())?;
                }
                Ok(target)
            }
        }
    }

    fn run(
        &self,
        st: &Stage,
        argv: Vec<String>,
        shown: &str,
        ins: &Instruction<'_>,
        parent: Option<&Digest>,
    ) -> Result<ImageLayer, BuildError> {
        let off = match ins {
            Instruction::Run(r) => r.run.span.start,
            _ => 0,
        };
        if st.layers.is_empty() {
            return Err(self.err(
                off,
                "RUN needs an image with a shell: this stage is FROM scratch with nothing in it",
            ));
        }
        let id = crate::runtime::container::new_id().map_err(|e| self.err(off, e.to_string()))?;
        let dir = self.env.work.join(format!("run-{}", &id[..12]));
        let network = match ins {
            Instruction::Run(r) => match flag(&r.options, "network").as_deref() {
                Some("none") => NetworkMode::None,
                Some("host") => NetworkMode::Host,
                _ => self.opts.network.clone(),
            },
            _ => self.opts.network.clone(),
        };
        let mut env = st.env();
        for (k, v) in &st.args {
            if !env
                .iter()
                .any(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str()))
            {
                env.push(format!("{k}={v}"));
            }
        }
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(format!("PATH={}", crate::runtime::spec::DEFAULT_PATH));
        }
        for p in PROXY_ARGS {
            if let Some(v) = self.opts.build_args.get(p)
                && !env.iter().any(|e| e.starts_with(&format!("{p}=")))
            {
                env.push(format!("{p}={v}"));
            }
        }
        let spec = ContainerSpec {
            id: id.clone(),
            dir: dir.clone(),
            lowers: st.lowers(self.env.store),
            hostname: id[..12].to_string(),
            args: argv,
            env,
            cwd: st.workdir(),
            network,
            confine: self.env.confine.clone(),
            user: st.config["config"]["User"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            stdin: false,
            tty: false,
            winsize: None,
            init: false,
            mounts: Vec::new(),
            read_only: false,
            driver: self.env.driver,
            keep_id: None,
            id_counts: self.env.id_counts,
            log: None,
            log_max_size: None,
            ports: Vec::new(),
            join_netns_pid: None,
            shared_netns_fd: None,
            names: NameConfig::default(),
        };
        let code = crate::runtime::run_container(&spec, None, || {}, || {});
        let result = if code != 0 {
            Err(BuildError::RunFailed {
                file: self.file.to_string(),
                line: line_of(self.text, off)
                    .saturating_sub(self.line_shift)
                    .max(1),
                command: shown.to_string(),
                code,
            })
        } else {
            add_layer(
                self.env.store,
                parent,
                self.opts.compression,
                &self.env.unpack,
                |w| {
                    crate::runtime::layer_tar::write_upper_tar(
                        &spec.upper(),
                        &spec.lowers,
                        &[],
                        self.clamp,
                        w,
                    )
                },
            )
            .map_err(BuildError::from)
        };
        // The partial layer goes whatever happened.
        let _ = crate::storage::atomic::remove_tree(&dir);
        result
    }
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

/// An absolute destination without `.` and `..` (which stop at `/`),
/// keeping a trailing `/` (it says "into this directory").
fn normalize_dest(dest: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in dest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if dest.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

/// The file `rel` as the image's layers (top first) have it.
fn lookup_in_layers(lowers: &[PathBuf], rel: &str) -> Option<fs::Metadata> {
    for l in lowers {
        if let Ok(m) = fs::symlink_metadata(l.join(rel)) {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            if m.file_type().is_char_device() && m.rdev() == 0 {
                return None;
            }
            return Some(m);
        }
    }
    None
}

fn read_in_layers(lowers: &[PathBuf], rel: &str) -> Option<String> {
    lookup_in_layers(lowers, rel)?;
    lowers
        .iter()
        .find_map(|l| fs::read_to_string(l.join(rel)).ok())
}

/// Download `url` to `dest` in a forked child: the HTTP client starts
/// threads, and the build forks containers after this.
fn fetch_url(url: &str, dest: &Path) -> Result<(), String> {
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    crate::userns::in_forked_child(|| {
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        let mut resp = client.get(url).send().map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("the server answered {}", resp.status()));
        }
        let mut f = fs::File::create(dest).map_err(|e| e.to_string())?;
        io::copy(&mut resp, &mut f).map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_args() {
        assert_eq!(duration_ns("30s").unwrap(), 30_000_000_000);
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("10").is_err());
        assert_eq!(
            parse_arg("A B=2").unwrap(),
            [
                ("A".to_string(), None),
                ("B".to_string(), Some("2".to_string()))
            ]
        );
    }

    #[test]
    fn destinations_stay_below_the_root() {
        assert_eq!(normalize_dest("/app/./x/../y/"), "/app/y/");
        assert_eq!(normalize_dest("/../../etc"), "/etc");
        assert_eq!(normalize_dest("/"), "/");
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
