//! Compiled filters kept on disk, keyed by the profile they came from.
//!
//! The key hashes the whole profile (every rule, condition and action) and
//! the architecture, so a changed profile, a new burrow version with another
//! default profile or other capabilities can never reuse a stale program.
//! A cache file that is missing, short or malformed is ignored and
//! rewritten: the cache can only cost a compile, never change a filter.

use std::fs;
use std::io::Write;
use std::path::Path;

use seccompiler::{BpfProgram, sock_filter};

use super::{ConfineError, Filter, Profile};
use crate::digest::Digest;

/// Bumped whenever the file layout below changes.
const MAGIC: &[u8; 8] = b"BSECC\x00\x00\x01";

/// The cache file name for `profile` on this architecture.
fn key(profile: &Profile) -> String {
    let text = format!("{}\n{profile:?}", std::env::consts::ARCH);
    Digest::of(text.as_bytes()).hex().to_string()
}

/// `compile(profile)`, or its result from an earlier call stored under `dir`.
pub(super) fn compile_cached(
    profile: Profile,
    dir: &Path,
    compile: impl FnOnce(Profile) -> Result<Filter, ConfineError>,
) -> Result<Filter, ConfineError> {
    let path = dir.join(format!("{}.bpf", key(&profile)));
    if let Some(filter) = fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(filter);
    }
    let filter = compile(profile)?;
    // Best effort: a cache that cannot be written only costs time.
    if let Err(e) = store(&path, &encode(&filter)) {
        log::debug!("seccomp cache: cannot write {}: {e}", path.display());
    }
    Ok(filter)
}

/// Written beside its final name and renamed, so a reader never sees half a
/// file; concurrent writers write the same bytes.
fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or_else(|| "filter".into(), |n| n.to_string_lossy().into_owned()),
        crate::storage::atomic::unique_suffix()
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn encode(filter: &Filter) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    put_u32(&mut out, filter.programs.len() as u32);
    for p in &filter.programs {
        put_u32(&mut out, p.len() as u32);
        for i in p {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            put_u32(&mut out, i.k);
        }
    }
    put_u32(&mut out, filter.ignored.len() as u32);
    for name in &filter.ignored {
        put_u32(&mut out, name.len() as u32);
        out.extend_from_slice(name.as_bytes());
    }
    out
}

/// A cursor over the cache file; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A count whose items need at least `item` bytes each: a corrupt count
    /// cannot make us allocate more than the file could hold.
    fn count(&mut self, item: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(item)? <= self.0.len()).then_some(n)
    }
}

fn decode(bytes: &[u8]) -> Option<Filter> {
    let mut r = Reader(bytes);
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let nprog = r.count(4)?;
    let mut programs = Vec::with_capacity(nprog);
    for _ in 0..nprog {
        let len = r.count(8)?;
        let mut p: BpfProgram = Vec::with_capacity(len);
        for _ in 0..len {
            let b = r.take(8)?;
            p.push(sock_filter {
                code: u16::from_le_bytes([b[0], b[1]]),
                jt: b[2],
                jf: b[3],
                k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            });
        }
        // The kernel refuses empty programs and ones over 4096 instructions;
        // neither comes out of the compiler.
        if p.is_empty() || p.len() > 4096 {
            return None;
        }
        programs.push(p);
    }
    let nignored = r.count(4)?;
    let mut ignored = Vec::with_capacity(nignored);
    for _ in 0..nignored {
        let len = r.count(1)?;
        ignored.push(String::from_utf8(r.take(len)?.to_vec()).ok()?);
    }
    r.0.is_empty().then_some(Filter { programs, ignored })
}

#[cfg(test)]
mod tests {
    use super::super::{compile, default_profile};
    use super::*;
    use crate::confine::CapSet;

    #[test]
    fn round_trips_and_reuses_the_compiled_filter() {
        let dir = tempfile::tempdir().unwrap();
        let caps = CapSet::default_set();
        let fresh = compile(default_profile(&caps)).unwrap();
        assert_eq!(decode(&encode(&fresh)).unwrap(), fresh);

        let first = compile_cached(default_profile(&caps), dir.path(), compile).unwrap();
        assert_eq!(first, fresh);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // The second call must not compile at all.
        let second = compile_cached(default_profile(&caps), dir.path(), |_| {
            panic!("compiled although cached")
        })
        .unwrap();
        assert_eq!(second, fresh);
    }

    #[test]
    fn other_capabilities_get_another_entry() {
        let dir = tempfile::tempdir().unwrap();
        let default = CapSet::default_set();
        let all: CapSet = ::caps::all().into_iter().collect();
        assert_ne!(key(&default_profile(&default)), key(&default_profile(&all)));
        compile_cached(default_profile(&default), dir.path(), compile).unwrap();
        let f = compile_cached(default_profile(&all), dir.path(), compile).unwrap();
        assert_eq!(f, compile(default_profile(&all)).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn damaged_files_are_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let caps = CapSet::default_set();
        let profile = default_profile(&caps);
        let path = dir.path().join(format!("{}.bpf", key(&profile)));
        let good = encode(&compile(profile.clone()).unwrap());
        for bad in [
            Vec::new(),
            b"garbage".to_vec(),
            good[..good.len() - 1].to_vec(),
            [good.as_slice(), b"x"].concat(),
            // A count claiming more programs than the file holds.
            [&MAGIC[..], &u32::MAX.to_le_bytes()].concat(),
        ] {
            fs::write(&path, &bad).unwrap();
            assert!(decode(&bad).is_none());
            let f = compile_cached(profile.clone(), dir.path(), compile).unwrap();
            assert_eq!(encode(&f), good);
            assert_eq!(fs::read(&path).unwrap(), good, "rewritten");
        }
    }
}
