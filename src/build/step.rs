//! One step of a stage: the instruction as expanded, its cache key, and
//! what it does: a config change, a RUN container whose upper directory
//! becomes the layer, or a layer written from COPY/ADD sources.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use parse_dockerfile::{Command, Instruction, JsonOrStringArray, Source};
use serde_json::{Value, json};

use super::context::{self, CopyAttrs, Ignore, LayerTar, SourceRoot};
use super::stage::{CacheEntry, Stage, cache_path};
use super::{BuildEnv, BuildError, BuildHost, BuildOptions, PROXY_ARGS, line_of, parse_arg, words};
use crate::digest::Digest;
use crate::image::write::{add_layer, history_entry};
use crate::runtime::ContainerSpec;
use crate::runtime::spec::NetworkMode;
use crate::runtime::spec::{ConfinementSpec, ProcessSpec};
use crate::storage::{ImageLayer, atomic};

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

pub(super) fn flag<'a>(flags: &'a [parse_dockerfile::Flag<'a>], name: &str) -> Option<String> {
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

/// One step of a stage.
pub(super) struct Step<'a, 'h> {
    pub(super) env: &'a BuildEnv<'a>,
    pub(super) opts: &'a BuildOptions,
    pub(super) host: &'h mut dyn BuildHost,
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) created: DateTime<Utc>,
    pub(super) clamp: Option<u64>,
    pub(super) ignore: &'a Ignore,
    pub(super) prefix: &'a str,
    pub(super) number: usize,
    pub(super) of: usize,
    /// Lines of `text` before the real first one (the FROM put before
    /// ONBUILD triggers to parse them).
    pub(super) line_shift: usize,
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

    pub(super) fn apply(
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
        let prev_key = st.key.clone();
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
            Digest::of(format!("{prev_key}\n{shown}\n{extra_key}\n{:?}", st.shell).as_bytes());
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
        let process = ProcessSpec {
            args: argv,
            env,
            cwd: st.workdir(),
            hostname: id[..12].to_string(),
        };
        let user = st.config["config"]["User"].as_str().unwrap_or("");
        let spec = ContainerSpec::builder(&id, dir.clone(), st.lowers(self.env.store), process)
            .user(user)
            .network(network)
            .confine(
                ConfinementSpec::new(
                    &self.env.confine.caps,
                    &crate::confine::SeccompMode::Default,
                    self.env.confine.privileged,
                ),
                self.env.confine.clone(),
            )
            .root(self.env.driver, None, self.env.id_counts)
            .build()
            .map_err(|e| self.err(off, e.to_string()))?;
        let code = match crate::runtime::run_container(&spec, None, || {}, || {}) {
            Ok(code) => code,
            // Shown as `run` shows it; the step then fails with the code.
            Err(e) => {
                eprintln!("Error: {e}");
                e.exit_code()
            }
        };
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
    fn durations() {
        assert_eq!(duration_ns("30s").unwrap(), 30_000_000_000);
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("10").is_err());
    }

    #[test]
    fn destinations_stay_below_the_root() {
        assert_eq!(normalize_dest("/app/./x/../y/"), "/app/y/");
        assert_eq!(normalize_dest("/../../etc"), "/etc");
        assert_eq!(normalize_dest("/"), "/");
    }
}
