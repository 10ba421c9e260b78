//! Streaming, hostile-input-safe unpacking of layer tars.
//!
//! Layer blobs come from registries we do not trust, so every filesystem
//! operation goes through directory fds: parents are opened with `openat2`
//! and `RESOLVE_IN_ROOT` (a symlink inside the layer, even one pointing at
//! `/etc`, resolves inside the layer), and the final component is created or
//! changed with `*at` calls that never follow it. Paths escaping with `..`
//! are refused outright. Metadata headers (GNU long names, PAX) are bounded
//! before anything is allocated.
//!
//! It runs as root of a user namespace that maps the user's subordinate ids,
//! so the tar's uid/gid are used as they are.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

/// Upper bound for one metadata entry (GNU long name/link, PAX header).
/// Real ones are a few hundred bytes; a header claiming gigabytes is hostile.
pub const META_LIMIT: u64 = 1 << 20;

/// The input buffer, from which file data is written in chunks up to this
/// big: large enough that per-call overhead vanishes, small enough to stay
/// in cache.
const COPY_BUF: usize = 1 << 20;

/// The id given to out-of-range owners with `ignore_chown_errors`.
const OVERFLOW_ID: u32 = 65534;

#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Ids below this are mapped in our user namespace.
    pub uid_count: u32,
    pub gid_count: u32,
    /// Give unmappable owners the overflow id instead of failing.
    pub ignore_chown_errors: bool,
    /// For the `usermod` hint.
    pub user_name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries (files, dirs, links, whiteouts, skipped devices).
    pub entries: u64,
    /// Regular file bytes written.
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot read the layer stream: {0}")]
    Read(#[source] io::Error),
    #[error("corrupt layer tar: {0}")]
    Corrupt(String),
    #[error("layer entry {entry:?} points outside the layer through \"..\": refusing this image")]
    Escape { entry: String },
    #[error(
        "layer entry after {after:?}: {what} header claims {size} bytes, over the {limit}-byte limit: the image is corrupt or hostile"
    )]
    Oversize {
        after: String,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("layer entry {entry:?} is {what}, which burrow cannot unpack")]
    Unsupported { entry: String, what: String },
    #[error(
        "layer blob is compressed with {0}; burrow supports gzip, zstd and uncompressed layers"
    )]
    UnsupportedCompression(String),
    #[error(
        "hard link {entry} points to {target}, which is not an earlier entry of this layer ({source})"
    )]
    HardlinkTarget {
        entry: String,
        target: String,
        source: io::Error,
    },
    #[error("cannot {op} {path} while unpacking: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
    #[error(
        "{what} {path} in the image is owned by {kind} {id}, outside the {count} ids your subordinate range maps: give {user} at least {missing} more subordinate {kind}s, e.g. `usermod --add-sub{kind}s {EXAMPLE_START}-{end} {user}` with a range no other user has in /etc/sub{kind} (and the same with --add-sub{other}s), or set ignore_chown_errors = true under [storage] in ~/.config/burrow/config.toml",
        missing = missing_ids(*.id, *.count),
        end = EXAMPLE_START + missing_ids(*.id, *.count) - 1,
        other = other_kind(.kind),
        user = user_or_placeholder(.user)
    )]
    IdOutOfRange {
        path: String,
        id: u64,
        kind: &'static str,
        what: &'static str,
        count: u32,
        user: String,
    },
}

/// Where the example range in the hint starts: above the 100000 + 65536·n
/// ranges `useradd` hands out, so it rarely collides (the hint says to check).
const EXAMPLE_START: u64 = 10_000_000;

/// Container ids 0..count are mapped (0 is the user, the rest subordinate
/// ids, in order), so reaching `id` needs this many more.
fn missing_ids(id: u64, count: u32) -> u64 {
    (id + 1).saturating_sub(u64::from(count)).max(1)
}
fn other_kind(kind: &str) -> &'static str {
    if kind == "uid" { "gid" } else { "uid" }
}
fn user_or_placeholder(user: &str) -> &str {
    if user.is_empty() { "USER" } else { user }
}

/// Set an entry's mtime without following a symlink at `name`.
fn set_times_at(pfd: &OwnedFd, name: &[u8], e: &Entry, shown: &str) -> Result<(), UnpackError> {
    rustix::fs::utimensat(
        pfd,
        os(name),
        &timestamps(e.mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|err| io_err("set times of", shown, err))
}

fn io_err(op: &'static str, path: &str, e: impl Into<io::Error>) -> UnpackError {
    UnpackError::Io {
        op,
        path: path.to_string(),
        source: e.into(),
    }
}

/// Wrap a layer blob reader in the right decompressor. The magic bytes
/// decide (so a blob with a wrong media type still unpacks); the media type
/// only explains what we expected.
pub fn decompressor<'a>(
    media_type: &str,
    r: impl Read + Send + 'a,
) -> Result<Box<dyn Read + Send + 'a>, UnpackError> {
    use super::compression::{self, Compression};
    let (found, stream) = compression::sniff(r).map_err(UnpackError::Read)?;
    match found {
        Compression::Xz | Compression::Bzip2 => {
            return Err(UnpackError::UnsupportedCompression(found.name().into()));
        }
        Compression::Plain if media_type.contains("gzip") || media_type.contains("zstd") => {
            log::debug!(
                "layer media type {media_type} claims compression, but the blob is a plain tar"
            );
        }
        _ => {}
    }
    compression::decoder(found, stream).map_err(UnpackError::Read)
}

/// Extended attributes we can set as root of a user namespace. `trusted.*`
/// needs real root, other `security.*` would be meaningless or refused.
fn xattr_allowed(name: &[u8]) -> bool {
    name.starts_with(b"user.") || name == b"security.capability"
}

#[derive(Default, Clone)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    uid: Option<u64>,
    gid: Option<u64>,
    size: Option<u64>,
    mtime: Option<(i64, u32)>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    sparse: bool,
}

fn parse_pax(data: &[u8], into: &mut Pax, after: &str) -> Result<(), UnpackError> {
    let bad =
        |why: &str| UnpackError::Corrupt(format!("malformed PAX header after {after:?}: {why}"));
    let mut rest = data;
    while !rest.is_empty() {
        // Padding NULs may follow the last record.
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("record length is not a number"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad("record length does not match its content"));
        }
        let kv = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = kv
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record without '='"))?;
        let (key, value) = (&kv[..eq], &kv[eq + 1..]);
        let num = |v: &[u8]| -> Result<u64, UnpackError> {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("numeric field is not a number"))
        };
        match key {
            b"path" => into.path = Some(value.to_vec()),
            b"linkpath" => into.linkpath = Some(value.to_vec()),
            b"uid" => into.uid = Some(num(value)?),
            b"gid" => into.gid = Some(num(value)?),
            b"size" => into.size = Some(num(value)?),
            b"mtime" => {
                into.mtime = Some(parse_pax_time(value).ok_or_else(|| bad("mtime is not a time"))?)
            }
            k if k.starts_with(b"SCHILY.xattr.") => {
                into.xattrs
                    .push((k[b"SCHILY.xattr.".len()..].to_vec(), value.to_vec()));
            }
            k if k.starts_with(b"GNU.sparse.") => into.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

/// `123`, `123.456`, `-1.5`: seconds and nanoseconds.
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = int.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: u32 = digits.parse().ok()?;
    if s.starts_with('-') && nanos > 0 {
        // -1.5 is 1.5 s before the epoch: -2 s + 0.5 s.
        return Some((secs - 1, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

/// Split a tar path into clean components: leading `/` and `./` dropped,
/// `.` and empty components skipped, `..` applied lexically. `None` if `..`
/// climbs above the layer root.
fn clean_path(raw: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn show(comps: &[&[u8]]) -> String {
    format!("/{}", String::from_utf8_lossy(&join(comps)))
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn timestamps(mtime: (i64, u32)) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime.0,
        tv_nsec: mtime.1.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// One file-like tar entry with all extension headers applied.
struct Entry {
    raw_path: Vec<u8>,
    link: Vec<u8>,
    typ: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: (i64, u32),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    size: u64,
}

/// Mode and mtime of a directory, applied after its contents are in place
/// (creating entries changes a directory's mtime, and a 0555 directory would
/// refuse them if we were not root).
struct DirMeta {
    path: Vec<u8>,
    depth: usize,
    mode: u32,
    mtime: Option<(i64, u32)>,
}

struct Unpacker<'o> {
    root: Rc<OwnedFd>,
    opts: &'o UnpackOptions,
    /// The last parent directory opened: tars list a directory's entries
    /// together, so this saves an `openat2` for almost every entry.
    cache: Option<(Vec<u8>, Rc<OwnedFd>, bool)>,
    /// Whether the directory `parent` last returned is setgid (new entries
    /// in it take its group rather than ours).
    parent_setgid: bool,
    root_setgid: bool,
    dirs: Vec<DirMeta>,
    dir_index: HashMap<Vec<u8>, usize>,
    stats: UnpackStats,
    /// We create files as 0:0, so chowning a new file to 0:0 can be skipped.
    creates_as_root: bool,
    /// The entry being chowned was just created by us in a directory that is
    /// not setgid, so it is owned by 0:0 if `creates_as_root`.
    fresh: bool,
}

/// Unpack one layer tar into `dest` (an existing, empty directory).
pub fn unpack_layer(
    tar: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let dest_s = dest.display().to_string();
    let root = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", &dest_s, e))?;
    let mut u = Unpacker {
        root: Rc::new(root),
        opts,
        cache: None,
        parent_setgid: false,
        root_setgid: false,
        fresh: false,
        dirs: Vec::new(),
        dir_index: HashMap::new(),
        stats: UnpackStats::default(),
        creates_as_root: rustix::process::geteuid().is_root()
            && rustix::process::getegid().as_raw() == 0,
    };
    u.root_setgid = is_setgid(&u.root);
    let mut r = BufReader::with_capacity(COPY_BUF, tar);
    let mut block = [0u8; 512];
    let mut global = Pax::default();
    let mut local: Option<Pax> = None;
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    // For error messages about extension headers, which have no name of their own.
    let mut last = String::from("(start of layer)");

    loop {
        if !read_block(&mut r, &mut block, &last)? {
            // A stream that ends without the two zero blocks; Docker's own
            // tar reader accepts this, and so do we.
            break;
        }
        if block.iter().all(|&b| b == 0) {
            // End of archive. Read the rest so the caller's digest of the
            // blob covers every byte.
            io::copy(&mut r, &mut io::sink()).map_err(UnpackError::Read)?;
            break;
        }
        let h = tar::Header::from_byte_slice(&block);
        check_cksum(&block, &last)?;
        let header_size = non_negative(num_field(&block, 124..136, "size", &last)?, "size", &last)?;
        let typ = block[156];
        match typ {
            b'L' => {
                long_name = Some(trim_nul(read_meta(
                    &mut r,
                    header_size,
                    "GNU long name",
                    &last,
                )?));
                continue;
            }
            b'K' => {
                long_link = Some(trim_nul(read_meta(
                    &mut r,
                    header_size,
                    "GNU long link",
                    &last,
                )?));
                continue;
            }
            b'x' => {
                let data = read_meta(&mut r, header_size, "PAX", &last)?;
                let mut p = Pax::default();
                parse_pax(&data, &mut p, &last)?;
                local = Some(p);
                continue;
            }
            b'g' => {
                let data = read_meta(&mut r, header_size, "PAX global", &last)?;
                parse_pax(&data, &mut global, &last)?;
                continue;
            }
            _ => {}
        }
        let pax = local.take().unwrap_or_default();
        let name = long_name.take();
        let link = long_link.take();
        let raw_path = pax
            .path
            .or(name)
            .unwrap_or_else(|| h.path_bytes().into_owned());
        last = String::from_utf8_lossy(&raw_path).into_owned();
        if typ == b'S' || pax.sparse {
            return Err(UnpackError::Unsupported {
                entry: last,
                what: "a sparse file".into(),
            });
        }
        if typ == b'M' {
            return Err(UnpackError::Unsupported {
                entry: last,
                what: "a multi-volume continuation".into(),
            });
        }
        let size = pax.size.unwrap_or(header_size);
        let id = |range, what| {
            num_field(&block, range, what, &last).and_then(|v| non_negative(v, what, &last))
        };
        let entry = Entry {
            link: pax.linkpath.or(link).unwrap_or_else(|| {
                h.link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default()
            }),
            typ,
            mode: (id(100..108, "mode")? & 0o7777) as u32,
            uid: match pax.uid.or(global.uid) {
                Some(u) => u,
                None => id(108..116, "uid")?,
            },
            gid: match pax.gid.or(global.gid) {
                Some(g) => g,
                None => id(116..124, "gid")?,
            },
            mtime: match pax.mtime.or(global.mtime) {
                Some(t) => t,
                None => (num_field(&block, 136..148, "mtime", &last)?, 0),
            },
            xattrs: pax.xattrs,
            size,
            raw_path,
        };
        let consumed = u.entry(&mut r, &entry)?;
        skip(&mut r, size - consumed + padding(size), &last)?;
        u.stats.entries += 1;
    }
    u.finish_dirs()?;
    Ok(u.stats)
}

fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Read one 512-byte block. `false` at a clean end of stream.
fn read_block(r: &mut impl Read, block: &mut [u8; 512], last: &str) -> Result<bool, UnpackError> {
    let mut n = 0;
    while n < block.len() {
        match r.read(&mut block[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => {
                return Err(UnpackError::Corrupt(format!(
                    "stream ends inside a header after {last:?}"
                )));
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::Read(e)),
        }
    }
    Ok(true)
}

/// A numeric header field: octal text (NUL/space padded, empty meaning 0,
/// as Go's archive/tar reads it) or GNU base-256 with the high bit set.
fn num_field(
    block: &[u8; 512],
    range: std::ops::Range<usize>,
    what: &str,
    last: &str,
) -> Result<i64, UnpackError> {
    let f = &block[range];
    let bad = || UnpackError::Corrupt(format!("bad {what} field in the header after {last:?}"));
    if f[0] & 0x80 != 0 {
        // Two's complement big-endian; 0xff marks a negative number.
        let mut v: i128 = if f[0] == 0xff {
            -1
        } else {
            i128::from(f[0] & 0x7f)
        };
        for &b in &f[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(i128::from(b)))
                .ok_or_else(bad)?;
        }
        return i64::try_from(v).map_err(|_| bad());
    }
    let text = f.split(|&b| b == 0).next().unwrap_or_default();
    let text = std::str::from_utf8(text).map_err(|_| bad())?.trim();
    if text.is_empty() {
        return Ok(0);
    }
    i64::from_str_radix(text, 8).map_err(|_| bad())
}

fn non_negative(v: i64, what: &str, last: &str) -> Result<u64, UnpackError> {
    u64::try_from(v)
        .map_err(|_| UnpackError::Corrupt(format!("negative {what} in the header after {last:?}")))
}

fn check_cksum(block: &[u8; 512], last: &str) -> Result<(), UnpackError> {
    let stored = num_field(block, 148..156, "checksum", last)?;
    let mut unsigned: u32 = 0;
    let mut signed: i32 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u32::from(b);
        signed += i32::from(b as i8);
    }
    // Some old tars summed signed bytes; accept either.
    if stored == i64::from(unsigned) || stored == i64::from(signed) {
        Ok(())
    } else {
        Err(UnpackError::Corrupt(format!(
            "header checksum mismatch after {last:?}: not a tar stream, or damaged"
        )))
    }
}

/// Read a bounded metadata payload (and its padding).
fn read_meta(
    r: &mut impl Read,
    size: u64,
    what: &'static str,
    last: &str,
) -> Result<Vec<u8>, UnpackError> {
    if size > META_LIMIT {
        return Err(UnpackError::Oversize {
            after: last.to_string(),
            what,
            size,
            limit: META_LIMIT,
        });
    }
    let mut data = Vec::with_capacity(size as usize);
    r.take(size)
        .read_to_end(&mut data)
        .map_err(UnpackError::Read)?;
    if data.len() as u64 != size {
        return Err(UnpackError::Corrupt(format!(
            "stream ends inside a {what} header after {last:?}"
        )));
    }
    skip(r, padding(size), last)?;
    Ok(data)
}

fn skip(r: &mut impl Read, n: u64, last: &str) -> Result<(), UnpackError> {
    if n == 0 {
        return Ok(());
    }
    let copied = io::copy(&mut r.take(n), &mut io::sink()).map_err(UnpackError::Read)?;
    if copied != n {
        return Err(UnpackError::Corrupt(format!(
            "stream ends inside entry {last:?}"
        )));
    }
    Ok(())
}

/// Open a directory of the layer. Symlinks on the way, including a last
/// component when `follow`, resolve as if the layer root were `/`.
fn open_dir_in_root(root: &OwnedFd, path: &[u8], follow: bool) -> rustix::io::Result<OwnedFd> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    loop {
        match rustix::fs::openat2(root, os(path), flags, Mode::empty(), ResolveFlags::IN_ROOT) {
            // The kernel asks for a retry if a rename raced the lookup.
            Err(Errno::AGAIN) => continue,
            other => return other,
        }
    }
}

impl Unpacker<'_> {
    /// Create one entry. Returns how many data bytes it consumed.
    fn entry(&mut self, r: &mut impl BufRead, e: &Entry) -> Result<u64, UnpackError> {
        let lossy = || String::from_utf8_lossy(&e.raw_path).into_owned();
        let comps =
            clean_path(&e.raw_path).ok_or_else(|| UnpackError::Escape { entry: lossy() })?;
        let is_dir = e.typ == b'5'
            || e.typ == b'D'
            || (matches!(e.typ, b'0' | 0) && e.raw_path.ends_with(b"/"));
        let Some((&name, parent)) = comps.split_last() else {
            if is_dir {
                self.fresh = false;
                self.apply_dir_owner(&self.root.clone(), b".", e, "/")?;
                self.record_dir(Vec::new(), e.mode, Some(e.mtime));
                return Ok(0);
            }
            return Err(UnpackError::Unsupported {
                entry: lossy(),
                what: "a non-directory at the layer root".into(),
            });
        };
        let shown = show(&comps);

        if let Some(target) = name.strip_prefix(b".wh.") {
            self.whiteout(parent, target, &shown)?;
            return Ok(0);
        }
        let pfd = self.parent(parent)?;
        self.fresh = !self.parent_setgid;
        match e.typ {
            _ if is_dir => self.dir(&pfd, &comps, e, &shown)?,
            b'0' | 0 | b'7' => return self.regular(r, &pfd, name, e, &shown),
            b'2' => {
                self.replace_with(&pfd, name, &shown, |p, n| {
                    rustix::fs::symlinkat(os(&e.link), p, os(n))
                })?;
                self.chown_at(&pfd, name, e, &shown, "symlink")?;
                self.log_skipped_xattrs(e, &shown);
                set_times_at(&pfd, name, e, &shown)?;
            }
            b'1' => self.hardlink(&pfd, name, e, &shown)?,
            b'6' => {
                let mode = Mode::from_raw_mode(e.mode);
                self.replace_with(&pfd, name, &shown, |p, n| {
                    rustix::fs::mknodat(p, os(n), FileType::Fifo, mode, 0)
                })?;
                self.chown_at(&pfd, name, e, &shown, "fifo")?;
                // After chown, which clears setuid/setgid. The name is a FIFO
                // we just made in a tree only we write to, so following is moot.
                rustix::fs::chmodat(&*pfd, os(name), mode, AtFlags::empty())
                    .map_err(|err| io_err("set mode of", &shown, err))?;
                self.log_skipped_xattrs(e, &shown);
                set_times_at(&pfd, name, e, &shown)?;
            }
            b'3' | b'4' => {
                // Only real root can create device nodes; containers get
                // their /dev from the runtime, not from image layers.
                log::debug!(
                    "skipping device node {shown} in layer (rootless cannot create devices)"
                );
            }
            other => log::debug!(
                "skipping {shown}: unknown tar entry type {:?}",
                other as char
            ),
        }
        Ok(0)
    }

    /// The directory holding an entry, opened inside the layer root. Missing
    /// parents are created (0755, root-owned) as tar does.
    fn parent(&mut self, comps: &[&[u8]]) -> Result<Rc<OwnedFd>, UnpackError> {
        if comps.is_empty() {
            self.parent_setgid = self.root_setgid;
            return Ok(self.root.clone());
        }
        let key = join(comps);
        if let Some((k, fd, setgid)) = &self.cache
            && *k == key
        {
            self.parent_setgid = *setgid;
            return Ok(fd.clone());
        }
        let fd = match open_dir_in_root(&self.root, &key, true) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => self.make_parents(comps)?,
            Err(e) => return Err(io_err("open directory", &show(comps), e)),
        };
        let fd = Rc::new(fd);
        self.parent_setgid = is_setgid(&fd);
        self.cache = Some((key, fd.clone(), self.parent_setgid));
        Ok(fd)
    }

    fn make_parents(&mut self, comps: &[&[u8]]) -> Result<OwnedFd, UnpackError> {
        let mut cur: Option<OwnedFd> = None;
        for i in 0..comps.len() {
            let sub = join(&comps[..=i]);
            let fd = match open_dir_in_root(&self.root, &sub, true) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    let at: &OwnedFd = cur.as_ref().unwrap_or(&self.root);
                    match rustix::fs::mkdirat(at, os(comps[i]), Mode::from_raw_mode(0o755)) {
                        Ok(()) => {}
                        // Resolving said "missing" but the name exists: a
                        // dangling symlink. Creating its target would mean
                        // following it; refuse instead.
                        Err(Errno::EXIST) => {
                            return Err(io_err(
                                "create parent directory",
                                &show(&comps[..=i]),
                                io::Error::other("a dangling symlink is in the way"),
                            ));
                        }
                        Err(e) => {
                            return Err(io_err("create parent directory", &show(&comps[..=i]), e));
                        }
                    }
                    if !self.dir_index.contains_key(&sub) {
                        self.record_dir(sub.clone(), 0o755, None);
                    }
                    open_dir_in_root(&self.root, &sub, true)
                        .map_err(|e| io_err("open directory", &show(&comps[..=i]), e))?
                }
                Err(e) => return Err(io_err("open directory", &show(&comps[..=i]), e)),
            };
            cur = Some(fd);
        }
        cur.ok_or_else(|| io_err("open directory", "/", io::Error::other("empty path")))
    }

    fn record_dir(&mut self, path: Vec<u8>, mode: u32, mtime: Option<(i64, u32)>) {
        match self.dir_index.get(&path) {
            Some(&i) => {
                self.dirs[i].mode = mode;
                self.dirs[i].mtime = mtime;
            }
            None => {
                let depth = if path.is_empty() {
                    0
                } else {
                    path.iter().filter(|&&b| b == b'/').count() + 1
                };
                self.dir_index.insert(path.clone(), self.dirs.len());
                self.dirs.push(DirMeta {
                    path,
                    depth,
                    mode,
                    mtime,
                });
            }
        }
    }

    /// Run `make`; if the name is taken, remove what is there (later tar
    /// entries win) and run it again.
    fn replace_with<T>(
        &mut self,
        pfd: &OwnedFd,
        name: &[u8],
        shown: &str,
        mut make: impl FnMut(&OwnedFd, &[u8]) -> rustix::io::Result<T>,
    ) -> Result<T, UnpackError> {
        match make(pfd, name) {
            Err(Errno::EXIST) => {
                self.remove_existing(pfd, name, shown)?;
                make(pfd, name).map_err(|e| io_err("create", shown, e))
            }
            other => other.map_err(|e| io_err("create", shown, e)),
        }
    }

    fn remove_existing(
        &mut self,
        pfd: &OwnedFd,
        name: &[u8],
        shown: &str,
    ) -> Result<(), UnpackError> {
        let st = rustix::fs::statat(pfd, os(name), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| io_err("inspect existing", shown, e))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            // The cached parent fd could be this directory.
            self.cache = None;
            rustix::fs::unlinkat(pfd, os(name), AtFlags::REMOVEDIR).map_err(|e| {
                io_err(
                    "replace directory (a later entry is not a directory)",
                    shown,
                    e,
                )
            })
        } else {
            rustix::fs::unlinkat(pfd, os(name), AtFlags::empty())
                .map_err(|e| io_err("replace", shown, e))
        }
    }

    fn regular(
        &mut self,
        r: &mut impl BufRead,
        pfd: &OwnedFd,
        name: &[u8],
        e: &Entry,
        shown: &str,
    ) -> Result<u64, UnpackError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = self.replace_with(pfd, name, shown, |p, n| {
            rustix::fs::openat(p, os(n), flags, Mode::from_raw_mode(0o600))
        })?;
        let mut f = File::from(fd);
        // Written straight from the reader's buffer: one copy less than
        // reading into a buffer of our own.
        let mut left = e.size;
        while left > 0 {
            let avail = match r.fill_buf() {
                Ok([]) => {
                    return Err(UnpackError::Corrupt(format!(
                        "stream ends inside file {shown}"
                    )));
                }
                Ok(a) => a,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(UnpackError::Read(err)),
            };
            let n = avail.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            f.write_all(&avail[..n])
                .map_err(|err| io_err("write", shown, err))?;
            r.consume(n);
            left -= n as u64;
        }
        self.stats.bytes += e.size;
        self.chown_fd(&f, e, shown, "file")?;
        // Mode after owner: chown clears setuid/setgid.
        rustix::fs::fchmod(&f, Mode::from_raw_mode(e.mode))
            .map_err(|err| io_err("set mode of", shown, err))?;
        self.set_xattrs(&f, e, shown)?;
        rustix::fs::futimens(&f, &timestamps(e.mtime))
            .map_err(|err| io_err("set times of", shown, err))?;
        // No fsync: the store publishes the finished layer by renaming its
        // directory, and syncing each file would dominate unpack time.
        Ok(e.size)
    }

    fn dir(
        &mut self,
        pfd: &OwnedFd,
        comps: &[&[u8]],
        e: &Entry,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let name = comps[comps.len() - 1];
        // Created owner-only; the real mode comes after the contents.
        match rustix::fs::mkdirat(pfd, os(name), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                let st = rustix::fs::statat(pfd, os(name), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|err| io_err("inspect existing", shown, err))?;
                // An existing directory stays (with the new metadata);
                // anything else is replaced.
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    self.remove_existing(pfd, name, shown)?;
                    rustix::fs::mkdirat(pfd, os(name), Mode::from_raw_mode(0o700))
                        .map_err(|err| io_err("create directory", shown, err))?;
                } else {
                    self.fresh = false;
                }
            }
            Err(err) => return Err(io_err("create directory", shown, err)),
        }
        self.apply_dir_owner(pfd, name, e, shown)?;
        self.record_dir(join(comps), e.mode, Some(e.mtime));
        Ok(())
    }

    fn apply_dir_owner(
        &mut self,
        pfd: &OwnedFd,
        name: &[u8],
        e: &Entry,
        shown: &str,
    ) -> Result<(), UnpackError> {
        self.chown_at(pfd, name, e, shown, "directory")?;
        if e.xattrs.iter().any(|(n, _)| xattr_allowed(n)) {
            let fd = rustix::fs::openat(
                pfd,
                os(name),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|err| io_err("open directory", shown, err))?;
            self.set_xattrs(&fd, e, shown)?;
        } else {
            self.log_skipped_xattrs(e, shown);
        }
        Ok(())
    }

    fn hardlink(
        &mut self,
        pfd: &OwnedFd,
        name: &[u8],
        e: &Entry,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let target_lossy = String::from_utf8_lossy(&e.link).into_owned();
        let tcomps = clean_path(&e.link).ok_or_else(|| UnpackError::Escape {
            entry: target_lossy.clone(),
        })?;
        let target = show(&tcomps);
        let link_err = |source: io::Error| UnpackError::HardlinkTarget {
            entry: shown.to_string(),
            target: target.clone(),
            source,
        };
        let Some((&tname, tparent)) = tcomps.split_last() else {
            return Err(link_err(io::Error::other("it names the layer root")));
        };
        // The target's directory must already exist: no implicit creation.
        let tfd = if tparent.is_empty() {
            self.root.clone()
        } else {
            Rc::new(
                open_dir_in_root(&self.root, &join(tparent), true)
                    .map_err(|err| link_err(err.into()))?,
            )
        };
        // Flags 0: linkat does not follow a symlink target, so the link is to
        // the symlink itself, as tar means it.
        match rustix::fs::linkat(&*tfd, os(tname), pfd, os(name), AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let a = rustix::fs::statat(&*tfd, os(tname), AtFlags::SYMLINK_NOFOLLOW);
                let b = rustix::fs::statat(pfd, os(name), AtFlags::SYMLINK_NOFOLLOW);
                if let (Ok(a), Ok(b)) = (a, b)
                    && a.st_dev == b.st_dev
                    && a.st_ino == b.st_ino
                {
                    return Ok(());
                }
                self.remove_existing(pfd, name, shown)?;
                rustix::fs::linkat(&*tfd, os(tname), pfd, os(name), AtFlags::empty())
                    .map_err(|err| link_err(err.into()))
            }
            Err(err) => Err(link_err(err.into())),
        }
    }

    /// OCI whiteouts, written the way kernel overlayfs reads them inside a
    /// user namespace when mounted with `userxattr` (as `run` does), and as
    /// fuse-overlayfs reads them too:
    /// * `.wh.NAME` becomes a 0/0 character device NAME. Creating that one
    ///   device needs no privilege since Linux 5.8, unlike any other mknod.
    /// * `.wh..wh..opq` becomes `user.overlay.opaque=y` on the directory:
    ///   with `userxattr`, overlayfs reads `user.overlay.*` instead of the
    ///   `trusted.overlay.*` that only real root may set.
    fn whiteout(
        &mut self,
        parent: &[&[u8]],
        target: &[u8],
        shown: &str,
    ) -> Result<(), UnpackError> {
        if target == b".wh..opq" {
            let dfd = self.parent(parent)?;
            return rustix::fs::fsetxattr(&*dfd, "user.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(|e| io_err("mark opaque", &show(parent), e));
        }
        if target.starts_with(b".wh.") {
            log::debug!("skipping AUFS metadata entry {shown}");
            return Ok(());
        }
        if target.is_empty() || target == b"." || target == b".." {
            return Err(UnpackError::Corrupt(format!(
                "whiteout {shown} names no file"
            )));
        }
        let pfd = self.parent(parent)?;
        let mut comps = parent.to_vec();
        comps.push(target);
        let target_shown = show(&comps);
        // Whiteouts hide lower layers only; a file of this same layer stays.
        match rustix::fs::statat(&*pfd, os(target), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => {
                log::debug!("whiteout {shown} ignored: {target_shown} is part of the same layer");
                Ok(())
            }
            Err(Errno::NOENT) => rustix::fs::mknodat(
                &*pfd,
                os(target),
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| {
                io_err(
                    "create whiteout (a 0/0 character device; needs Linux 5.8+) for",
                    &target_shown,
                    e,
                )
            }),
            Err(e) => Err(io_err("inspect", &target_shown, e)),
        }
    }

    fn map_id(
        &self,
        id: u64,
        count: u32,
        kind: &'static str,
        shown: &str,
        what: &'static str,
    ) -> Result<u32, UnpackError> {
        if id < u64::from(count) {
            return Ok(id as u32);
        }
        if self.opts.ignore_chown_errors {
            log::debug!(
                "{what} {shown}: {kind} {id} is not mapped; using {}",
                fallback_id(count)
            );
            return Ok(fallback_id(count));
        }
        Err(UnpackError::IdOutOfRange {
            path: shown.to_string(),
            id,
            kind,
            what,
            count,
            user: self.opts.user_name.clone(),
        })
    }

    fn owner(
        &self,
        e: &Entry,
        shown: &str,
        what: &'static str,
    ) -> Result<Option<(u32, u32)>, UnpackError> {
        let uid = self.map_id(e.uid, self.opts.uid_count, "uid", shown, what)?;
        let gid = self.map_id(e.gid, self.opts.gid_count, "gid", shown, what)?;
        if uid == 0 && gid == 0 && self.creates_as_root && self.fresh {
            return Ok(None);
        }
        Ok(Some((uid, gid)))
    }

    /// EINVAL from chown: the id is not mapped after all (a map with holes).
    fn chown_einval(&self, e: &Entry, shown: &str, what: &'static str) -> UnpackError {
        let (kind, id, count) = if e.uid != 0 {
            ("uid", e.uid, self.opts.uid_count)
        } else {
            ("gid", e.gid, self.opts.gid_count)
        };
        UnpackError::IdOutOfRange {
            path: shown.to_string(),
            id,
            kind,
            what,
            count,
            user: self.opts.user_name.clone(),
        }
    }

    /// With `ignore_chown_errors`, an owner the kernel refused becomes the
    /// overflow id, or root if even that is not mapped.
    fn chown_fallback(
        &self,
        set: impl Fn(u32, u32) -> rustix::io::Result<()>,
        shown: &str,
    ) -> Result<(), UnpackError> {
        let (u, g) = (
            fallback_id(self.opts.uid_count),
            fallback_id(self.opts.gid_count),
        );
        match set(u, g) {
            Err(Errno::INVAL) => set(0, 0),
            other => other,
        }
        .map_err(|err| io_err("set owner of", shown, err))
    }

    fn chown_fd(
        &self,
        fd: &impl AsFd,
        e: &Entry,
        shown: &str,
        what: &'static str,
    ) -> Result<(), UnpackError> {
        self.chown_with(e, shown, what, |u, g| {
            rustix::fs::fchown(
                fd,
                Some(rustix::fs::Uid::from_raw(u)),
                Some(rustix::fs::Gid::from_raw(g)),
            )
        })
    }

    fn chown_at(
        &self,
        pfd: &OwnedFd,
        name: &[u8],
        e: &Entry,
        shown: &str,
        what: &'static str,
    ) -> Result<(), UnpackError> {
        self.chown_with(e, shown, what, |u, g| {
            rustix::fs::chownat(
                pfd,
                os(name),
                Some(rustix::fs::Uid::from_raw(u)),
                Some(rustix::fs::Gid::from_raw(g)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
        })
    }

    /// Give an entry its owner with `set` (fchown or chownat), turning the
    /// kernel's EINVAL for an unmapped id into the fix hint or, with
    /// `ignore_chown_errors`, into the fallback owner.
    fn chown_with(
        &self,
        e: &Entry,
        shown: &str,
        what: &'static str,
        set: impl Fn(u32, u32) -> rustix::io::Result<()>,
    ) -> Result<(), UnpackError> {
        let Some((uid, gid)) = self.owner(e, shown, what)? else {
            return Ok(());
        };
        match set(uid, gid) {
            Ok(()) => Ok(()),
            Err(Errno::INVAL) if self.opts.ignore_chown_errors => self.chown_fallback(set, shown),
            Err(Errno::INVAL) => Err(self.chown_einval(e, shown, what)),
            Err(err) => Err(io_err("set owner of", shown, err)),
        }
    }

    fn set_xattrs(&self, fd: &impl AsFd, e: &Entry, shown: &str) -> Result<(), UnpackError> {
        for (name, value) in &e.xattrs {
            if !xattr_allowed(name) {
                log::debug!(
                    "{shown}: skipping xattr {} (cannot be set rootless)",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            rustix::fs::fsetxattr(fd, os(name), value, XattrFlags::empty())
                .map_err(|err| io_err("set extended attribute on", shown, err))?;
        }
        Ok(())
    }

    fn log_skipped_xattrs(&self, e: &Entry, shown: &str) {
        if !e.xattrs.is_empty() {
            // The kernel allows user.* only on files and directories.
            log::debug!(
                "{shown}: skipping {} xattrs on a special file",
                e.xattrs.len()
            );
        }
    }

    /// Set directory modes and mtimes, deepest first, once nothing more will
    /// be created inside them.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.depth));
        for d in dirs {
            let shown = format!("/{}", String::from_utf8_lossy(&d.path));
            let fd = match open_dir_in_root(&self.root, &d.path, false) {
                Ok(fd) => fd,
                // Replaced by a later entry: nothing to do.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                Err(e) => return Err(io_err("open directory", &shown, e)),
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .map_err(|e| io_err("set mode of", &shown, e))?;
            if let Some(t) = d.mtime {
                rustix::fs::futimens(&fd, &timestamps(t))
                    .map_err(|e| io_err("set times of", &shown, e))?;
            }
        }
        Ok(())
    }
}

fn is_setgid(fd: &OwnedFd) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|st| st.st_mode & 0o2000 != 0)
}

fn fallback_id(count: u32) -> u32 {
    if OVERFLOW_ID < count { OVERFLOW_ID } else { 0 }
}

#[cfg(test)]
mod tests;
