//! Layer tarballs with byte-exact control over every entry, including
//! entries no well-behaved tar writer would produce.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::{EntryType, Header};

use super::sha256_digest;

/// Fixed mtime so identical layers get identical digests across runs.
pub const MTIME: u64 = 1_700_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// A finished layer: the blob as pushed plus the uncompressed tar.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The compressed bytes (the registry blob).
    pub blob: Vec<u8>,
    /// `sha256:` of `blob`.
    pub digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// OCI media type matching `compression`.
    pub media_type: String,
    /// `blob.len()`.
    pub size: u64,
    pub compression: Compression,
    /// The uncompressed tar stream.
    pub tar: Vec<u8>,
}

impl Layer {
    /// The media type this layer has in a Docker schema2 manifest.
    pub fn docker_media_type(&self) -> String {
        match self.compression {
            Compression::Gzip => "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
            // Docker has no zstd type of its own; BuildKit uses the OCI one.
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            Compression::None => "application/vnd.docker.image.rootfs.diff.tar".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Spec {
    path: String,
    kind: EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    data: Vec<u8>,
    link: Option<String>,
    device: Option<(u32, u32)>,
    pax: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone)]
enum Item {
    Entry(Spec),
    Raw(Vec<u8>),
}

/// Composes a layer tar in memory, entry by entry, in call order.
#[derive(Debug, Clone, Default)]
pub struct LayerBuilder {
    items: Vec<Item>,
}

fn clean(path: &str) -> String {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    fn push(&mut self, path: &str, kind: EntryType, mode: u32, uid: u64, gid: u64) -> &mut Spec {
        self.items.push(Item::Entry(Spec {
            path: clean(path),
            kind,
            mode,
            uid,
            gid,
            mtime: MTIME,
            data: Vec::new(),
            link: None,
            device: None,
            pax: Vec::new(),
        }));
        match self.items.last_mut() {
            Some(Item::Entry(s)) => s,
            _ => unreachable!(),
        }
    }

    fn find(&mut self, path: &str) -> &mut Spec {
        let path = clean(path);
        self.items
            .iter_mut()
            .rev()
            .find_map(|i| match i {
                Item::Entry(s) if s.path == path => Some(s),
                _ => None,
            })
            .unwrap_or_else(|| panic!("LayerBuilder: no entry {path:?} added yet"))
    }

    pub fn file(
        mut self,
        path: &str,
        bytes: impl AsRef<[u8]>,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Self {
        self.push(path, EntryType::Regular, mode, uid, gid).data = bytes.as_ref().to_vec();
        self
    }

    pub fn dir(mut self, path: &str, mode: u32, uid: u64, gid: u64) -> Self {
        self.push(path, EntryType::Directory, mode, uid, gid);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.push(path, EntryType::Symlink, 0o777, 0, 0).link = Some(target.to_string());
        self
    }

    /// `target` is a path inside the layer, as tar hardlinks are.
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        self.push(path, EntryType::Link, 0o644, 0, 0).link = Some(clean(target));
        self
    }

    /// Character/block device, FIFO, ...: `kind` is the tar entry type.
    pub fn node(mut self, path: &str, kind: EntryType, mode: u32, major: u32, minor: u32) -> Self {
        self.push(path, kind, mode, 0, 0).device = Some((major, minor));
        self
    }

    /// An AUFS-style whiteout deleting `path` from lower layers: `.wh.NAME`.
    pub fn whiteout(mut self, path: &str) -> Self {
        let path = clean(path);
        let wh = match path.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/.wh.{name}"),
            None => format!(".wh.{path}"),
        };
        self.push(&wh, EntryType::Regular, 0o644, 0, 0);
        self
    }

    /// Marks `dir` opaque: lower-layer contents of it are hidden.
    pub fn opaque(mut self, dir: &str) -> Self {
        let p = format!("{}/.wh..wh..opq", clean(dir));
        self.push(&p, EntryType::Regular, 0o644, 0, 0);
        self
    }

    /// Adds a PAX `SCHILY.xattr.KEY` record to the last entry named `path`.
    pub fn xattr(mut self, path: &str, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.find(path)
            .pax
            .push((format!("SCHILY.xattr.{key}"), value.as_ref().to_vec()));
        self
    }

    /// Adds an arbitrary PAX record to the last entry named `path`.
    pub fn pax(mut self, path: &str, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.find(path)
            .pax
            .push((key.to_string(), value.as_ref().to_vec()));
        self
    }

    pub fn chown(mut self, path: &str, uid: u64, gid: u64) -> Self {
        let s = self.find(path);
        s.uid = uid;
        s.gid = gid;
        self
    }

    pub fn chmod(mut self, path: &str, mode: u32) -> Self {
        self.find(path).mode = mode;
        self
    }

    pub fn mtime(mut self, path: &str, mtime: u64) -> Self {
        self.find(path).mtime = mtime;
        self
    }

    /// Writes `header` verbatim (no checksum fix-up) followed by `data`
    /// padded to a 512-byte block. For hostile entries; see `raw_header`.
    pub fn raw_entry(mut self, header: Header, data: &[u8]) -> Self {
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(data);
        pad(&mut bytes);
        self.items.push(Item::Raw(bytes));
        self
    }

    /// Appends bytes to the stream as they are (no padding).
    pub fn raw_bytes(mut self, bytes: &[u8]) -> Self {
        self.items.push(Item::Raw(bytes.to_vec()));
        self
    }

    /// A builder holding everything under `host_dir` (see `add_dir`).
    pub fn from_dir(host_dir: &Path) -> LayerBuilder {
        LayerBuilder::new().add_dir(host_dir)
    }

    /// Adds everything under `host_dir`, paths relative to it (sorted;
    /// owned by 0:0; modes, symlinks and hardlinks preserved).
    pub fn add_dir(mut self, host_dir: &Path) -> Self {
        let mut seen: HashMap<(u64, u64), String> = HashMap::new();
        let mut stack = vec![host_dir.to_path_buf()];
        let mut all = Vec::new();
        while let Some(d) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&d)
                .unwrap_or_else(|e| panic!("read_dir {}: {e}", d.display()))
                .map(|e| e.expect("dir entry").path())
                .collect();
            entries.sort();
            for p in entries {
                let md = std::fs::symlink_metadata(&p).expect("lstat");
                if md.is_dir() {
                    stack.push(p.clone());
                }
                all.push((p, md));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        for (p, md) in all {
            let rel = p
                .strip_prefix(host_dir)
                .expect("under host_dir")
                .to_str()
                .expect("utf-8 path")
                .to_string();
            let mode = md.mode() & 0o7777;
            let ft = md.file_type();
            if ft.is_dir() {
                self = self.dir(&rel, mode, 0, 0);
            } else if ft.is_symlink() {
                let t = std::fs::read_link(&p).expect("readlink");
                self = self.symlink(&rel, t.to_str().expect("utf-8 link"));
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = seen.get(&(md.dev(), md.ino())) {
                        let first = first.clone();
                        self = self.hardlink(&rel, &first).chmod(&rel, mode);
                        continue;
                    }
                    seen.insert((md.dev(), md.ino()), rel.clone());
                }
                let data = std::fs::read(&p).expect("read file");
                self = self.file(&rel, data, mode, 0, 0);
            } else if ft.is_fifo() {
                self = self.node(&rel, EntryType::Fifo, mode, 0, 0);
            } else {
                panic!("from_dir: unsupported file type at {}", p.display());
            }
        }
        self
    }

    /// The uncompressed tar stream.
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Raw(b) => out.extend_from_slice(b),
                Item::Entry(s) => write_entry(&mut out, s),
            }
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    pub fn finish(self, compression: Compression) -> Layer {
        let tar = self.tar_bytes();
        let (blob, media_type) = match compression {
            Compression::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&tar).expect("gzip");
                (
                    e.finish().expect("gzip"),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            }
            Compression::Zstd => (
                zstd::encode_all(&tar[..], 3).expect("zstd"),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            Compression::None => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        Layer {
            digest: sha256_digest(&blob),
            diff_id: sha256_digest(&tar),
            media_type: media_type.to_string(),
            size: blob.len() as u64,
            blob,
            compression,
            tar,
        }
    }
}

fn pad(buf: &mut Vec<u8>) {
    let rem = buf.len() % 512;
    if rem != 0 {
        buf.resize(buf.len() + 512 - rem, 0);
    }
}

/// A header whose name is exactly `name` (no normalisation, so `../x` and
/// `/abs` survive) with a valid checksum. GNU long-name/long-link kinds get a
/// GNU header, everything else ustar. `size` is what the header claims,
/// whatever data follows.
pub fn raw_header(name: &[u8], kind: EntryType, size: u64, mode: u32) -> Header {
    let mut h = match kind {
        EntryType::GNULongName | EntryType::GNULongLink => Header::new_gnu(),
        _ => Header::new_ustar(),
    };
    assert!(name.len() <= 100, "raw_header name longer than 100 bytes");
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_cksum();
    h
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    // The length prefix counts itself, so iterate until it is stable.
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

fn write_entry(out: &mut Vec<u8>, s: &Spec) {
    let name = if s.kind == EntryType::Directory {
        format!("{}/", s.path)
    } else {
        s.path.clone()
    };
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    if name.len() > 100 {
        pax.push(("path".into(), name.clone().into_bytes()));
    }
    if let Some(l) = &s.link
        && l.len() > 100
    {
        pax.push(("linkpath".into(), l.clone().into_bytes()));
    }
    pax.extend(s.pax.iter().cloned());
    if !pax.is_empty() {
        let data: Vec<u8> = pax.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let short: String = format!("PaxHeaders/{}", name.trim_end_matches('/'));
        let short = &short.as_bytes()[..short.len().min(100)];
        let mut h = raw_header(short, EntryType::XHeader, data.len() as u64, 0o644);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&data);
        pad(out);
    }
    let truncated = &name.as_bytes()[..name.len().min(100)];
    let size = if s.kind == EntryType::Regular {
        s.data.len() as u64
    } else {
        0
    };
    let mut h = raw_header(truncated, s.kind, size, s.mode);
    h.set_uid(s.uid);
    h.set_gid(s.gid);
    h.set_mtime(s.mtime);
    if let Some(l) = &s.link {
        let lb = &l.as_bytes()[..l.len().min(100)];
        h.as_old_mut().linkname[..lb.len()].copy_from_slice(lb);
    }
    if let Some((major, minor)) = s.device {
        h.set_device_major(major).expect("device major");
        h.set_device_minor(minor).expect("device minor");
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    if size > 0 {
        out.extend_from_slice(&s.data);
        pad(out);
    }
}

/// A gzip layer of one file `path` holding `len` zero bytes: a
/// decompression bomb (deflate shrinks zeros about 1000:1). Built as a
/// stream, so neither the file nor the tar is ever in memory: the
/// returned layer's `tar` is empty, its `diff_id` is the real one.
pub fn zeros_layer(path: &str, len: u64) -> Layer {
    use sha2::{Digest as _, Sha256};
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar_hash = Sha256::new();
    let mut put = |bytes: &[u8]| {
        gz.write_all(bytes).expect("gzip");
        tar_hash.update(bytes);
    };
    put(raw_header(path.as_bytes(), EntryType::Regular, len, 0o644).as_bytes());
    let chunk = vec![0u8; 1 << 20];
    let mut left = len + (512 - len % 512) % 512;
    while left > 0 {
        let n = left.min(chunk.len() as u64);
        put(&chunk[..n as usize]);
        left -= n;
    }
    put(&[0u8; 1024]);
    let blob = gz.finish().expect("gzip");
    Layer {
        digest: sha256_digest(&blob),
        diff_id: format!("sha256:{}", hex::encode(tar_hash.finalize())),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        size: blob.len() as u64,
        blob,
        compression: Compression::Gzip,
        tar: Vec::new(),
    }
}
