//! What COPY and ADD read: the build context (less what `.dockerignore`
//! excludes) or another stage's root; the sources an instruction names,
//! by Docker's rules; the content hash that keys the step cache; and the
//! layer tar that puts them at their destination.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::digest::Hasher;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{0}: no such file or directory in the build context")]
    Missing(String),
    #[error("{0}: outside the build context (paths may not climb out with ..)")]
    Outside(String),
    #[error("{0}: no source files were matched")]
    NoMatch(String),
    #[error("cannot read {}: {err}", path.display())]
    Io { path: PathBuf, err: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ContextError + use<> {
    let path = path.to_path_buf();
    move |err| ContextError::Io { path, err }
}

/// `.dockerignore` patterns, in order; a `!` pattern re-includes.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (negate, p) = match l.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, l),
                };
                let clean = clean_rel(p).unwrap_or_default();
                (negate, components(&clean))
            })
            .filter(|(_, c)| !c.is_empty())
            .collect();
        Ignore { patterns }
    }

    pub fn read(context: &Path) -> Ignore {
        fs::read_to_string(context.join(".dockerignore"))
            .map(|t| Ignore::parse(&t))
            .unwrap_or_default()
    }

    /// Whether the context path `rel` (slash-separated, no leading slash)
    /// is excluded: the last pattern that matches it or one of its parents
    /// decides.
    pub fn excludes(&self, rel: &str) -> bool {
        let parts = components(rel);
        let mut excluded = false;
        for (negate, pat) in &self.patterns {
            let hit = (1..=parts.len()).any(|n| match_parts(pat, &parts[..n]));
            if hit {
                excluded = !negate;
            }
        }
        excluded
    }
}

fn components(p: &str) -> Vec<String> {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// Match path components against pattern components: `**` spans any
/// number of components, `*`/`?`/`[...]` work within one.
fn match_parts(pat: &[String], parts: &[String]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((p, rest)) if p == "**" => {
            (0..=parts.len()).any(|skip| match_parts(rest, &parts[skip..]))
        }
        Some((p, rest)) => match parts.split_first() {
            Some((first, others)) => {
                glob(p.as_bytes(), first.as_bytes()) && match_parts(rest, others)
            }
            None => false,
        },
    }
}

/// Shell-style matching of one path component.
pub fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(close) = rest.iter().position(|&c| c == b']') else {
                return s.first() == Some(&b'[') && glob(rest, &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let (negate, set) = match rest[..close].split_first() {
                Some((b'!' | b'^', set)) => (true, set),
                _ => (false, &rest[..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob(&rest[close + 1..], &s[1..])
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            s.first() == Some(&rest[0]) && glob(&rest[1..], &s[1..])
        }
        Some((&c, rest)) => s.first() == Some(&c) && glob(rest, &s[1..]),
    }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `p` made relative and normal (`./a/../b` → `b`); None if it climbs
/// above its root.
pub fn clean_rel(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n.to_str()?),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(out.join("/"))
}

/// Where COPY reads from.
pub struct SourceRoot<'a> {
    pub dir: &'a Path,
    /// The context's `.dockerignore` (none for another stage or image).
    pub ignore: Option<&'a Ignore>,
}

/// One thing to copy: the path it was named by under the root, and where
/// that leads once symlinks are followed inside the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub rel: String,
    pub real: String,
    pub is_dir: bool,
}

/// `rel` with every symlink followed as if `root` were `/`: absolute
/// targets and `..` stay inside it, as Docker resolves COPY sources (a
/// link in the context cannot reach the host's files).
pub fn resolve_in_root(root: &Path, rel: &str) -> io::Result<String> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: std::collections::VecDeque<String> = components(rel).into();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = root.join(done.join("/")).join(&c);
        let m = fs::symlink_metadata(&candidate)?;
        if !m.file_type().is_symlink() {
            done.push(c);
            continue;
        }
        hops += 1;
        if hops > 40 {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let target = fs::read_link(&candidate)?;
        let target = target.to_string_lossy();
        if target.starts_with('/') {
            done.clear();
        }
        let mut next: std::collections::VecDeque<String> = components(&target).into();
        next.extend(todo.drain(..));
        todo = next;
    }
    Ok(done.join("/"))
}

impl SourceRoot<'_> {
    fn excluded(&self, rel: &str) -> bool {
        self.ignore
            .is_some_and(|i| !rel.is_empty() && i.excludes(rel))
    }

    /// The sources one COPY argument names: a path, or a pattern matched
    /// against the root's files (sorted).
    pub fn resolve(&self, src: &str) -> Result<Vec<Matched>, ContextError> {
        let rel = clean_rel(src).ok_or_else(|| ContextError::Outside(src.to_string()))?;
        if !has_glob(&rel) {
            if self.excluded(&rel) {
                return Err(ContextError::Missing(src.to_string()));
            }
            // The named path itself is followed if it is a symlink.
            let real = resolve_in_root(self.dir, &rel)
                .map_err(|_| ContextError::Missing(src.to_string()))?;
            let m = fs::metadata(self.dir.join(&real))
                .map_err(|_| ContextError::Missing(src.to_string()))?;
            return Ok(vec![Matched {
                rel,
                real,
                is_dir: m.is_dir(),
            }]);
        }
        let pat = components(&rel);
        let mut out = Vec::new();
        self.glob_walk(Path::new(""), &pat, &mut out)?;
        if out.is_empty() {
            return Err(ContextError::NoMatch(src.to_string()));
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    fn glob_walk(
        &self,
        rel: &Path,
        pat: &[String],
        out: &mut Vec<Matched>,
    ) -> Result<(), ContextError> {
        let Some((first, rest)) = pat.split_first() else {
            return Ok(());
        };
        let dir = self.dir.join(rel);
        let entries = fs::read_dir(&dir).map_err(io_err(&dir))?;
        for e in entries {
            let e = e.map_err(io_err(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !glob(first.as_bytes(), name.as_bytes()) {
                continue;
            }
            let r = rel.join(&name);
            let rs = r.display().to_string();
            if self.excluded(&rs) {
                continue;
            }
            let Ok(real) = resolve_in_root(self.dir, &rs) else {
                continue;
            };
            let is_dir = fs::metadata(self.dir.join(&real))
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if rest.is_empty() {
                out.push(Matched {
                    rel: rs,
                    real,
                    is_dir,
                });
            } else if is_dir {
                self.glob_walk(Path::new(&real), rest, out)?;
            }
        }
        Ok(())
    }

    /// Every entry below the matched source, itself first, in name order,
    /// `.dockerignore` applied: (path under the root, metadata).
    pub fn walk(&self, m: &Matched) -> Result<Vec<(String, fs::Metadata)>, ContextError> {
        let mut out = Vec::new();
        let path = self.dir.join(&m.real);
        let meta = fs::metadata(&path).map_err(io_err(&path))?;
        out.push((m.real.clone(), meta));
        if m.is_dir {
            self.walk_dir(&m.real, &mut out)?;
        }
        Ok(out)
    }

    fn walk_dir(
        &self,
        rel: &str,
        out: &mut Vec<(String, fs::Metadata)>,
    ) -> Result<(), ContextError> {
        let dir = self.dir.join(rel);
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .collect::<Result<_, _>>()
            .map_err(io_err(&dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if self.excluded(&r) {
                continue;
            }
            let m = fs::symlink_metadata(e.path()).map_err(io_err(&e.path()))?;
            let is_dir = m.is_dir();
            out.push((r.clone(), m));
            if is_dir {
                self.walk_dir(&r, out)?;
            }
        }
        Ok(())
    }
}

/// Owner and mode rules of one COPY/ADD.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyAttrs {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
    /// File times are clamped to this (`--timestamp`).
    pub mtime_clamp: Option<u64>,
}

impl CopyAttrs {
    fn mtime(&self, m: &fs::Metadata) -> u64 {
        let t = m.mtime().max(0) as u64;
        self.mtime_clamp.map_or(t, |c| t.min(c))
    }
}

/// One planned entry of the layer: where it lands, and where it comes from.
#[derive(Debug)]
pub struct Placed {
    pub dest: String,
    pub src: PathBuf,
    pub meta: fs::Metadata,
}

/// Docker's destination rules: a directory source copies its contents; a
/// file lands at `dest` itself unless `dest` is a directory (ends in `/`,
/// or several sources). `dest` is absolute.
pub fn place(
    root: &SourceRoot<'_>,
    matched: &[Matched],
    dest: &str,
    dest_is_dir: bool,
) -> Result<Vec<Placed>, ContextError> {
    let dest = dest.trim_end_matches('/');
    let mut out = Vec::new();
    for m in matched {
        for (rel, meta) in root.walk(m)? {
            let below = rel
                .strip_prefix(&m.real)
                .map(|s| s.trim_start_matches('/'))
                .unwrap_or("");
            let target = if m.is_dir {
                if below.is_empty() {
                    dest.to_string()
                } else {
                    format!("{dest}/{below}")
                }
            } else if dest_is_dir {
                let name = Path::new(&m.rel)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{dest}/{name}")
            } else {
                dest.to_string()
            };
            out.push(Placed {
                dest: if target.is_empty() {
                    "/".into()
                } else {
                    target
                },
                src: root.dir.join(&rel),
                meta,
            });
        }
    }
    Ok(out)
}

/// The content hash of placed sources (paths, types, modes, contents,
/// link targets; not times), which keys the step cache.
pub fn content_hash(placed: &[Placed]) -> Result<String, ContextError> {
    let mut h = Hasher::new();
    for p in placed {
        h.update(p.dest.as_bytes());
        h.update(format!("\0{:o}\0", p.meta.mode()).as_bytes());
        if p.meta.file_type().is_symlink() {
            let t = fs::read_link(&p.src).map_err(io_err(&p.src))?;
            h.update(t.as_os_str().as_encoded_bytes());
        } else if p.meta.is_file() {
            let mut f = fs::File::open(&p.src).map_err(io_err(&p.src))?;
            io::copy(&mut f, &mut h).map_err(io_err(&p.src))?;
        }
        h.update(b"\n");
    }
    Ok(h.finish().0.to_string())
}

/// Existing directories the destination lies under, as the image has
/// them: the layer repeats their metadata rather than changing it.
pub type ParentLookup<'a> = &'a dyn Fn(&str) -> Option<fs::Metadata>;

/// A layer tar being written: the entries written so far (each once).
pub struct LayerTar<'a> {
    tar: tar::Builder<&'a mut dyn Write>,
    written: std::collections::BTreeSet<String>,
}

impl<'a> LayerTar<'a> {
    pub fn new(out: &'a mut dyn Write) -> LayerTar<'a> {
        LayerTar {
            tar: tar::Builder::new(out),
            written: std::collections::BTreeSet::new(),
        }
    }

    pub fn finish(mut self) -> io::Result<()> {
        self.tar.finish()
    }
}

/// Add `placed` to the layer: parent directories first (with the image's
/// metadata where it has them, else root 0755), then each entry owned by
/// `attrs`.
pub fn append_placed(
    layer: &mut LayerTar<'_>,
    placed: &[Placed],
    attrs: CopyAttrs,
    parent: ParentLookup<'_>,
) -> io::Result<()> {
    let LayerTar { tar, written } = layer;
    for p in placed {
        let rel = p.dest.trim_start_matches('/');
        // Ancestors of the destination.
        let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        for n in 1..parts.len() {
            let dir = parts[..n].join("/");
            if written.insert(dir.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                match parent(&dir) {
                    Some(m) => {
                        h.set_mode(m.mode() & 0o7777);
                        h.set_uid(u64::from(m.uid()));
                        h.set_gid(u64::from(m.gid()));
                        h.set_mtime(attrs.mtime(&m));
                    }
                    None => {
                        h.set_mode(0o755);
                        h.set_uid(u64::from(attrs.uid));
                        h.set_gid(u64::from(attrs.gid));
                    }
                }
                h.set_size(0);
                tar.append_data(&mut h, format!("{dir}/"), io::empty())?;
            }
        }
        if rel.is_empty() || !written.insert(rel.to_string()) {
            continue;
        }
        let m = &p.meta;
        let mut h = tar::Header::new_gnu();
        let mode = attrs.chmod.unwrap_or(m.permissions().mode() & 0o7777);
        h.set_mode(mode);
        h.set_uid(u64::from(attrs.uid));
        h.set_gid(u64::from(attrs.gid));
        h.set_mtime(attrs.mtime(m));
        h.set_size(0);
        let ft = m.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut h, format!("{rel}/"), io::empty())?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut h, rel, fs::read_link(&p.src)?)?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            tar.append_data(&mut h, rel, fs::File::open(&p.src)?)?;
        }
        // Devices, fifos and sockets of the context are not copied (Docker
        // refuses them too).
    }
    Ok(())
}

/// Add the entries of the archive `archive` (a tar, plain or compressed
/// with gzip, bzip2, xz or zstd)
/// under `dest` (ADD's automatic extraction), owned by `attrs`.
pub fn append_extracted(
    layer: &mut LayerTar<'_>,
    archive: impl Read + Send,
    dest: &str,
    attrs: CopyAttrs,
) -> io::Result<()> {
    let plain = crate::storage::compression::decompress_any(archive)?;
    let mut input = tar::Archive::new(plain);
    let tar = &mut layer.tar;
    let base = dest.trim_matches('/');
    for entry in input.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.display().to_string();
        let Some(clean) = clean_rel(&path) else {
            continue;
        };
        let target = if base.is_empty() {
            clean
        } else if clean.is_empty() {
            base.to_string()
        } else {
            format!("{base}/{clean}")
        };
        if target.is_empty() {
            continue;
        }
        let mut h = entry.header().clone();
        h.set_uid(u64::from(attrs.uid));
        h.set_gid(u64::from(attrs.gid));
        if let Some(mode) = attrs.chmod {
            h.set_mode(mode);
        }
        if let Some(c) = attrs.mtime_clamp {
            h.set_mtime(h.mtime()?.min(c));
        }
        match h.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry
                    .link_name()?
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let link = if h.entry_type() == tar::EntryType::Link {
                    let l = clean_rel(&link.display().to_string()).unwrap_or_default();
                    PathBuf::from(if base.is_empty() {
                        l
                    } else {
                        format!("{base}/{l}")
                    })
                } else {
                    link
                };
                tar.append_link(&mut h, &target, link)?;
            }
            _ => tar.append_data(&mut h, &target, &mut entry)?,
        }
        layer.written.insert(target);
    }
    Ok(())
}

/// Whether the file at `path` is a tar archive (compressed or not).
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let Ok(plain) = crate::storage::compression::decompress_any(f) else {
        return false;
    };
    let mut block = [0u8; 512];
    let mut r = plain.take(512);
    let mut n = 0;
    while n < 512 {
        match r.read(&mut block[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n == 512 && &block[257..262] == b"ustar"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns_exceptions_and_parents() {
        let i = Ignore::parse("# comment\n*.log\nbuild/\n!build/keep.txt\n**/secret\n");
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("dir/a.log"), "* stays within one component");
        assert!(i.excludes("build/out.o"));
        assert!(!i.excludes("build/keep.txt"));
        assert!(i.excludes("x/y/secret"));
        assert!(i.excludes("secret/file"));
        assert!(!i.excludes("app.py"));
    }

    #[test]
    fn globs_and_clean_paths() {
        assert!(glob(b"*.txt", b"a.txt"));
        assert!(!glob(b"*.txt", b"a.txt.bak"));
        assert!(glob(b"f?le[0-9]", b"file7"));
        assert!(!glob(b"f[!i]le", b"file"));
        assert_eq!(clean_rel("./a/../b/").unwrap(), "b");
        assert_eq!(clean_rel("/abs/x").unwrap(), "abs/x");
        assert!(clean_rel("../up").is_none());
    }

    #[test]
    fn sources_land_by_dockers_rules() {
        let ctx = tempfile::tempdir().unwrap();
        let c = ctx.path();
        fs::create_dir_all(c.join("src/sub")).unwrap();
        fs::write(c.join("src/a.py"), "a").unwrap();
        fs::write(c.join("src/sub/b.py"), "b").unwrap();
        fs::write(c.join("src/skip.log"), "x").unwrap();
        fs::write(c.join("one.txt"), "1").unwrap();
        let ignore = Ignore::parse("*.log\nsrc/*.log\n");
        let root = SourceRoot {
            dir: c,
            ignore: Some(&ignore),
        };
        // A directory copies its contents.
        let m = root.resolve("src").unwrap();
        let placed = place(&root, &m, "/app", true).unwrap();
        let dests: Vec<&str> = placed.iter().map(|p| p.dest.as_str()).collect();
        assert_eq!(dests, ["/app", "/app/a.py", "/app/sub", "/app/sub/b.py"]);
        // A file onto a name, or into a directory.
        let m = root.resolve("one.txt").unwrap();
        assert_eq!(
            place(&root, &m, "/etc/one.conf", false).unwrap()[0].dest,
            "/etc/one.conf"
        );
        assert_eq!(
            place(&root, &m, "/etc/", true).unwrap()[0].dest,
            "/etc/one.txt"
        );
        // Patterns, misses, escapes.
        let m = root.resolve("src/*.py").unwrap();
        assert_eq!(m.len(), 1);
        assert!(matches!(
            root.resolve("nope"),
            Err(ContextError::Missing(_))
        ));
        assert!(matches!(
            root.resolve("src/skip.log"),
            Err(ContextError::Missing(_))
        ));
        assert!(matches!(
            root.resolve("*.none"),
            Err(ContextError::NoMatch(_))
        ));
        assert!(matches!(
            root.resolve("../etc/passwd"),
            Err(ContextError::Outside(_))
        ));
        // Links resolve inside the context, never on the host.
        std::os::unix::fs::symlink("/etc/passwd", c.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../one.txt", c.join("src/up")).unwrap();
        assert!(matches!(
            root.resolve("escape"),
            Err(ContextError::Missing(_))
        ));
        let m = root.resolve("src/up").unwrap();
        assert_eq!(
            (m[0].rel.as_str(), m[0].real.as_str()),
            ("src/up", "one.txt")
        );
        assert_eq!(place(&root, &m, "/x/", true).unwrap()[0].dest, "/x/up");
        // The hash follows content, not times.
        let m = root.resolve("src").unwrap();
        let h1 = content_hash(&place(&root, &m, "/app", true).unwrap()).unwrap();
        fs::write(c.join("src/a.py"), "changed").unwrap();
        let h2 = content_hash(&place(&root, &m, "/app", true).unwrap()).unwrap();
        assert_ne!(h1, h2);
        // The tar: parents first, then the entries, owned as asked.
        let placed = place(&root, &m, "/srv/app", true).unwrap();
        let mut out = Vec::new();
        let attrs = CopyAttrs {
            uid: 1000,
            gid: 1000,
            chmod: None,
            mtime_clamp: None,
        };
        let mut layer = LayerTar::new(&mut out);
        append_placed(&mut layer, &placed, attrs, &|_| None).unwrap();
        layer.finish().unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let names: Vec<(String, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(names[0].0, "srv/");
        assert_eq!(names[1].0, "srv/app/");
        assert!(
            names
                .iter()
                .any(|(n, uid)| n == "srv/app/sub/b.py" && *uid == 1000)
        );
    }
}
