//! Image archives (`save`, `load`): Docker's archive format, which `docker
//! save` and `podman save` write and `docker load`/`podman load` read
//! (`manifest.json`, one config and one uncompressed layer tar per layer),
//! and OCI image layouts in a tar (`oci-archive`).
//!
//! Loading spools the archive into a private temporary directory first:
//! the entries of a tar may come in any order (manifest.json is often
//! last), and stdin cannot be read twice. Nothing reaches the store until
//! the whole archive has been read and every image in it makes sense; the
//! images are recorded only once all their layers are in and match their
//! configs' diff ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::write::{self, LayerCompression, WriteError};
use crate::digest::Digest;
use crate::reference;
use crate::storage::unpack::{UnpackError, UnpackOptions, decompressor};
use crate::storage::{ImageLayer, ImageRecord, Store, StoreError, chain_ids};

const MANIFEST_JSON: &str = "manifest.json";
const INDEX_JSON: &str = "index.json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read the archive: {0}")]
    Read(io::Error),
    #[error("cannot write the archive: {0}")]
    Output(io::Error),
    #[error(
        "not an image archive: {0} (load reads docker-archive and oci-archive tars, as docker save and podman save write them)"
    )]
    NotAnImage(String),
    #[error("invalid image archive: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("cannot read a stored layer: {0}")]
    Unpack(#[from] UnpackError),
}

/// Which archive `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

impl ArchiveFormat {
    pub fn parse(s: &str) -> Option<ArchiveFormat> {
        match s {
            "docker-archive" => Some(ArchiveFormat::DockerArchive),
            "oci-archive" => Some(ArchiveFormat::OciArchive),
            _ => None,
        }
    }
}

/// An image to save and the names to record for it.
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub image: ImageRecord,
    pub names: Vec<String>,
}

/// Write `items` as one archive to `out`. Docker archives get each layer
/// once, as an uncompressed tar (decompressed from the stored blob); OCI
/// archives get the stored manifest, config and layer blobs as they are, so
/// every digest stays the same. `on_blob` hears of each layer and config
/// as it is written (layers by diff id in Docker archives).
pub fn save(
    store: &Store,
    items: &[SaveItem],
    format: ArchiveFormat,
    out: &mut dyn Write,
    on_blob: &mut dyn FnMut(&Digest),
) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    match format {
        ArchiveFormat::DockerArchive => save_docker(store, items, &mut tar, on_blob)?,
        ArchiveFormat::OciArchive => save_oci(store, items, &mut tar, on_blob)?,
    }
    tar.into_inner()
        .and_then(|w| w.flush())
        .map_err(ArchiveError::Output)
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h
}

fn append_bytes(
    tar: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    let mut h = file_header(bytes.len() as u64);
    tar.append_data(&mut h, name, bytes)
        .map_err(ArchiveError::Output)
}

fn save_docker(
    store: &Store,
    items: &[SaveItem],
    tar: &mut tar::Builder<&mut dyn Write>,
    on_blob: &mut dyn FnMut(&Digest),
) -> Result<(), ArchiveError> {
    let mut written: HashSet<Digest> = HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in items {
        let img = &item.image;
        let config_name = format!("{}.json", img.config_digest.hex());
        if written.insert(img.config_digest.clone()) {
            on_blob(&img.config_digest);
            append_bytes(tar, &config_name, &store.read_blob(&img.config_digest)?)?;
        }
        let mut layers = Vec::new();
        for l in &img.layers {
            let name = format!("{}.tar", l.diff_id.hex());
            if written.insert(l.diff_id.clone()) {
                on_blob(&l.diff_id);
                append_plain_layer(store, l, &name, tar)?;
            }
            layers.push(name);
        }
        for n in &item.names {
            if let Some((repo, tag)) = n.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                let top = img.layers.last().map(|l| l.diff_id.hex().to_string());
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), top.unwrap_or_default());
            }
        }
        manifest.push(json!({
            "Config": config_name,
            "RepoTags": item.names,
            "Layers": layers,
        }));
    }
    append_bytes(tar, MANIFEST_JSON, &json_bytes(&manifest))?;
    append_bytes(tar, "repositories", &json_bytes(&repositories))
}

/// JSON text of the values written here (maps of strings and JSON values,
/// which always serialize).
fn json_bytes(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A stored layer blob as the uncompressed tar Docker archives carry. The
/// tar header needs the size first: one pass counts, the second copies.
fn append_plain_layer(
    store: &Store,
    layer: &ImageLayer,
    name: &str,
    tar: &mut tar::Builder<&mut dyn Write>,
) -> Result<(), ArchiveError> {
    let path = store.blob_path(&layer.blob_digest);
    let open = || -> Result<Box<dyn Read + Send>, ArchiveError> {
        let f = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
        Ok(decompressor(&layer.media_type, io::BufReader::new(f))?)
    };
    let size =
        io::copy(&mut open()?, &mut io::sink()).map_err(|e| StoreError::io("read", &path, e))?;
    let mut h = file_header(size);
    // A blob that changed between the passes would make a corrupt tar:
    // the take and the size check catch it.
    let mut reader = open()?.take(size);
    tar.append_data(&mut h, name, &mut reader)
        .map_err(ArchiveError::Output)?;
    Ok(())
}

fn save_oci(
    store: &Store,
    items: &[SaveItem],
    tar: &mut tar::Builder<&mut dyn Write>,
    on_blob: &mut dyn FnMut(&Digest),
) -> Result<(), ArchiveError> {
    let mut written: HashSet<Digest> = HashSet::new();
    let mut descriptors = Vec::new();
    append_bytes(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for item in items {
        let img = &item.image;
        let manifest = store.read_blob(&img.manifest_digest)?;
        let blobs =
            std::iter::once(&img.config_digest).chain(img.layers.iter().map(|l| &l.blob_digest));
        for d in blobs {
            if written.insert(d.clone()) {
                on_blob(d);
                let path = store.blob_path(d);
                let f = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
                let size = f
                    .metadata()
                    .map_err(|e| StoreError::io("stat", &path, e))?
                    .len();
                let mut h = file_header(size);
                tar.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), f.take(size))
                    .map_err(ArchiveError::Output)?;
            }
        }
        if written.insert(img.manifest_digest.clone()) {
            append_bytes(
                tar,
                &format!("blobs/sha256/{}", img.manifest_digest.hex()),
                &manifest,
            )?;
        }
        let descriptor = |name: Option<&String>| {
            let mut d = json!({
                "mediaType": img.manifest_media_type,
                "digest": img.manifest_digest.to_string(),
                "size": manifest.len(),
            });
            if let Some(n) = name {
                d["annotations"] = json!({ REF_NAME: n });
            }
            d
        };
        if item.names.is_empty() {
            descriptors.push(descriptor(None));
        }
        descriptors.extend(item.names.iter().map(|n| descriptor(Some(n))));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": descriptors,
    });
    append_bytes(tar, INDEX_JSON, &json_bytes(&index))
}

/// An image `load` recorded.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Loaded {
    pub id: Digest,
    pub names: Vec<String>,
}

/// One image found in an archive, not yet stored.
struct Found {
    config: Vec<u8>,
    diff_ids: Vec<Digest>,
    /// Layer files in the spool, bottom first.
    layers: Vec<PathBuf>,
    names: Vec<String>,
}

/// Read a docker-archive or oci-archive (plain, gzip or zstd) from `input`
/// and store its images; `on_layer` hears of each layer (by diff id) as
/// it is stored. Call as root of the user namespace.
pub fn load(
    store: &Store,
    input: impl Read + Send,
    unpack: &UnpackOptions,
    on_layer: &mut dyn FnMut(&Digest),
) -> Result<Vec<Loaded>, ArchiveError> {
    let spool = Spool::unpack(input)?;
    let found = if spool.exists(MANIFEST_JSON) {
        docker_images(&spool)?
    } else if spool.exists(INDEX_JSON) {
        oci_images(&spool)?
    } else if spool.entries == 0 {
        return Err(ArchiveError::NotAnImage(
            "it is not a tar archive, or an empty one".into(),
        ));
    } else {
        return Err(ArchiveError::NotAnImage(
            "a tar with neither manifest.json (docker-archive) nor index.json (oci-archive)".into(),
        ));
    };
    if found.is_empty() {
        return Err(ArchiveError::NotAnImage("it lists no images".into()));
    }
    // Layers stay unreferenced until the records are written: keep gc off.
    let _gc = store.gc_shared()?;
    let mut layered = Vec::new();
    for f in &found {
        layered.push(store_layers(store, f, unpack, on_layer)?);
    }
    let mut out = Vec::new();
    for (f, layers) in found.into_iter().zip(layered) {
        let rec = write::put_image_with_config(store, &f.config, layers, &f.names)?;
        out.push(Loaded {
            id: rec.id,
            names: f.names,
        });
    }
    Ok(out)
}

/// Store an image's layers, each checked against its config's diff id;
/// layers already in the store are reused.
fn store_layers(
    store: &Store,
    f: &Found,
    unpack: &UnpackOptions,
    on_layer: &mut dyn FnMut(&Digest),
) -> Result<Vec<ImageLayer>, ArchiveError> {
    let chains = chain_ids(&f.diff_ids);
    let mut layers: Vec<ImageLayer> = Vec::new();
    for (i, path) in f.layers.iter().enumerate() {
        on_layer(&f.diff_ids[i]);
        if let Some(rec) = store.layer(&chains[i])?
            && store.has_blob(&rec.blob_digest)
        {
            layers.push(ImageLayer {
                chain_id: rec.chain_id,
                diff_id: rec.diff_id,
                blob_digest: rec.blob_digest,
                media_type: rec.media_type,
                compressed_size: rec.compressed_size,
                unpacked_size: rec.unpacked_size,
            });
            continue;
        }
        let file = File::open(path).map_err(ArchiveError::Read)?;
        let parent = layers.last().map(|l| l.chain_id.clone());
        let layer = write::add_layer_from(
            store,
            parent.as_ref(),
            LayerCompression::Gzip,
            unpack,
            io::BufReader::new(file),
        )?;
        if layer.diff_id != f.diff_ids[i] {
            return Err(WriteError::DiffIdMismatch {
                layer: i + 1,
                expected: f.diff_ids[i].to_string(),
                actual: layer.diff_id,
            }
            .into());
        }
        layers.push(layer);
    }
    Ok(layers)
}

fn invalid(msg: String) -> ArchiveError {
    ArchiveError::Invalid(msg)
}

/// The config's diff ids, as many as the image has layers.
fn diff_ids(config: &[u8], what: &str, layers: usize) -> Result<Vec<Digest>, ArchiveError> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| invalid(format!("the config of {what} is not JSON: {e}")))?;
    let ids: Vec<Digest> = v["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| invalid(format!("the config of {what} has no rootfs.diff_ids")))?
        .iter()
        .map(|d| d.as_str().and_then(|s| s.parse().ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| invalid(format!("the config of {what} has a malformed diff id")))?;
    if ids.len() != layers {
        return Err(invalid(format!(
            "{what} has {layers} layers but its config lists {}",
            ids.len()
        )));
    }
    Ok(ids)
}

/// A name from an archive, normalized as `tag` does; bad ones are warned
/// about and skipped (the image still loads).
fn archive_name(n: &str) -> Option<String> {
    match reference::tag_name(n) {
        Ok(n) => Some(n),
        Err(e) => {
            log::warn!("ignoring the name {n:?} in the archive: {e}");
            None
        }
    }
}

fn docker_images(spool: &Spool) -> Result<Vec<Found>, ArchiveError> {
    let manifest: Value = serde_json::from_slice(&spool.file(MANIFEST_JSON)?)
        .map_err(|e| invalid(format!("manifest.json is not JSON: {e}")))?;
    let entries = manifest
        .as_array()
        .ok_or_else(|| invalid("manifest.json is not a list of images".into()))?;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let what = format!("image {} of manifest.json", i + 1);
        let config_path = e["Config"]
            .as_str()
            .ok_or_else(|| invalid(format!("{what} has no Config")))?;
        let layer_paths: Vec<&str> = e["Layers"]
            .as_array()
            .ok_or_else(|| invalid(format!("{what} has no Layers")))?
            .iter()
            .map(|l| {
                l.as_str()
                    .ok_or_else(|| invalid(format!("{what} has a malformed layer path")))
            })
            .collect::<Result<_, _>>()?;
        let config = spool.file(config_path)?;
        let diff_ids = diff_ids(&config, &what, layer_paths.len())?;
        let layers = layer_paths
            .iter()
            .map(|p| spool.resolve_file(p))
            .collect::<Result<_, _>>()?;
        let names = e["RepoTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter_map(archive_name)
                    .collect()
            })
            .unwrap_or_default();
        out.push(Found {
            config,
            diff_ids,
            layers,
            names,
        });
    }
    Ok(out)
}

fn oci_images(spool: &Spool) -> Result<Vec<Found>, ArchiveError> {
    let index = spool.json(INDEX_JSON)?;
    let descriptors = index["manifests"]
        .as_array()
        .ok_or_else(|| invalid("index.json has no manifests".into()))?;
    // Several descriptors of one manifest (one per name) make one image.
    let mut out: Vec<(Digest, Found)> = Vec::new();
    for d in descriptors {
        let name = d["annotations"][CONTAINERD_NAME]
            .as_str()
            .or_else(|| d["annotations"][REF_NAME].as_str())
            // The OCI convention puts a bare tag ("latest") in ref.name;
            // that names no repository.
            .filter(|n| n.contains(['/', ':']))
            .and_then(archive_name);
        let (digest, manifest) = oci_manifest(spool, d)?;
        if let Some((_, f)) = out.iter_mut().find(|(m, _)| *m == digest) {
            f.names.extend(name);
            continue;
        }
        let what = format!("manifest {digest}");
        let config_digest = descriptor_digest(&manifest["config"], &what)?;
        let config = spool.blob(&config_digest)?;
        let layer_descs = manifest["layers"]
            .as_array()
            .ok_or_else(|| invalid(format!("{what} has no layers")))?;
        let diff_ids = diff_ids(&config, &what, layer_descs.len())?;
        let layers = layer_descs
            .iter()
            .map(|l| spool.blob_path(&descriptor_digest(l, &what)?))
            .collect::<Result<_, _>>()?;
        out.push((
            digest,
            Found {
                config,
                diff_ids,
                layers,
                names: name.into_iter().collect(),
            },
        ));
    }
    Ok(out.into_iter().map(|(_, f)| f).collect())
}

fn descriptor_digest(d: &Value, what: &str) -> Result<Digest, ArchiveError> {
    d["digest"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("{what} has a descriptor without a valid digest")))
}

/// The image manifest a descriptor of index.json names; an index (several
/// platforms) gives this machine's.
fn oci_manifest(spool: &Spool, desc: &Value) -> Result<(Digest, Value), ArchiveError> {
    let mut desc = desc.clone();
    for _ in 0..4 {
        let digest = descriptor_digest(&desc, "index.json")?;
        let v: Value = serde_json::from_slice(&spool.blob(&digest)?)
            .map_err(|e| invalid(format!("blob {digest} is not JSON: {e}")))?;
        let media = v["mediaType"]
            .as_str()
            .or(desc["mediaType"].as_str())
            .unwrap_or("");
        if media != OCI_INDEX && media != DOCKER_LIST && v.get("manifests").is_none() {
            return Ok((digest, v));
        }
        let arch = write::host_architecture();
        desc = v["manifests"]
            .as_array()
            .and_then(|m| {
                m.iter().find(|d| {
                    d["platform"]["os"] == "linux" && d["platform"]["architecture"] == arch
                })
            })
            .cloned()
            .ok_or_else(|| invalid(format!("index {digest} has no image for linux/{arch}")))?;
    }
    Err(invalid("index.json nests indexes too deeply".into()))
}

/// An archive unpacked into a private temporary directory: regular files
/// and directories; symbolic and hard links are kept as names and followed
/// only within the archive.
struct Spool {
    dir: tempfile::TempDir,
    links: HashMap<PathBuf, PathBuf>,
    entries: usize,
}

/// An entry name as plain components; `None` for names that would leave
/// the archive (absolute or with `..` above the top).
fn clean(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

impl Spool {
    fn unpack(input: impl Read + Send) -> Result<Spool, ArchiveError> {
        let dir = tempfile::Builder::new()
            .prefix("burrow-load-")
            .tempdir()
            .map_err(|e| {
                ArchiveError::Read(io::Error::new(
                    e.kind(),
                    format!("cannot make a temporary directory: {e}"),
                ))
            })?;
        let stream = decompressor("", input).map_err(|e| match e {
            UnpackError::Read(e) => ArchiveError::Read(e),
            other => ArchiveError::NotAnImage(other.to_string()),
        })?;
        let mut archive = tar::Archive::new(stream);
        let mut spool = Spool {
            dir,
            links: HashMap::new(),
            entries: 0,
        };
        let not_tar = |e: io::Error| {
            if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidData {
                // The tar reader's message quotes the bytes it choked on.
                log::debug!("reading the archive: {e}");
                ArchiveError::NotAnImage("it is not a tar archive".into())
            } else {
                ArchiveError::Read(e)
            }
        };
        for entry in archive.entries().map_err(not_tar)? {
            let mut entry = entry.map_err(not_tar)?;
            spool.entries += 1;
            let raw = entry.path().map_err(not_tar)?.into_owned();
            let Some(name) = clean(&raw) else {
                continue;
            };
            if name.as_os_str().is_empty() {
                continue;
            }
            let kind = entry.header().entry_type();
            let on_disk = spool.dir.path().join(&name);
            match kind {
                tar::EntryType::Directory => {
                    fs::create_dir_all(&on_disk).map_err(ArchiveError::Read)?;
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if let Some(p) = on_disk.parent() {
                        fs::create_dir_all(p)
                            .map_err(|e| invalid(format!("entry {}: {e}", name.display())))?;
                    }
                    let mut f = File::create(&on_disk)
                        .map_err(|e| invalid(format!("entry {}: {e}", name.display())))?;
                    io::copy(&mut entry, &mut f).map_err(ArchiveError::Read)?;
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(not_tar)?
                        .ok_or_else(|| invalid(format!("link {} has no target", name.display())))?
                        .into_owned();
                    // Symbolic links are relative to their directory, hard
                    // links to the archive's top.
                    let target = if kind == tar::EntryType::Symlink && target.is_relative() {
                        name.parent().unwrap_or(Path::new("")).join(target)
                    } else {
                        target
                    };
                    spool.links.insert(name, target);
                }
                _ => {}
            }
        }
        // Trailing padding is read so a writer on a pipe is not cut off.
        let _ = io::copy(&mut archive.into_inner(), &mut io::sink());
        Ok(spool)
    }

    /// The file in the spool an archive path names, through the archive's
    /// links.
    fn resolve_file(&self, name: &str) -> Result<PathBuf, ArchiveError> {
        let missing = || invalid(format!("{name} is missing from the archive"));
        let mut path = clean(Path::new(name)).ok_or_else(missing)?;
        'hops: for _ in 0..40 {
            let mut prefix = PathBuf::new();
            let comps: Vec<_> = path.components().collect();
            for (i, c) in comps.iter().enumerate() {
                prefix.push(c);
                if let Some(target) = self.links.get(&prefix) {
                    let mut next = target.clone();
                    for rest in &comps[i + 1..] {
                        next.push(rest);
                    }
                    path = clean(&next).ok_or_else(missing)?;
                    continue 'hops;
                }
            }
            let p = self.dir.path().join(&path);
            return if p.is_file() { Ok(p) } else { Err(missing()) };
        }
        Err(invalid(format!("{name}: too many links in the archive")))
    }

    fn exists(&self, name: &str) -> bool {
        self.resolve_file(name).is_ok()
    }

    fn file(&self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        fs::read(self.resolve_file(name)?).map_err(ArchiveError::Read)
    }

    fn json(&self, name: &str) -> Result<Value, ArchiveError> {
        serde_json::from_slice(&self.file(name)?)
            .map_err(|e| invalid(format!("{name} is not JSON: {e}")))
    }

    fn blob_path(&self, d: &Digest) -> Result<PathBuf, ArchiveError> {
        self.resolve_file(&format!("blobs/sha256/{}", d.hex()))
    }

    /// A small blob (manifest, config), checked against its digest.
    fn blob(&self, d: &Digest) -> Result<Vec<u8>, ArchiveError> {
        let bytes = fs::read(self.blob_path(d)?).map_err(ArchiveError::Read)?;
        let actual = Digest::of(&bytes);
        if &actual != d {
            return Err(invalid(format!("blob {d} has the digest {actual}")));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_link_name(link).unwrap();
            }
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn spool_follows_links_inside_the_archive_only() {
        let t = tar_of(&[
            ("abc.tar", tar::EntryType::Regular, b"layer", ""),
            (
                "legacy/layer.tar",
                tar::EntryType::Symlink,
                b"",
                "../abc.tar",
            ),
            ("hard.tar", tar::EntryType::Link, b"", "abc.tar"),
            ("escape", tar::EntryType::Symlink, b"", "/etc/passwd"),
        ]);
        let s = Spool::unpack(&t[..]).unwrap();
        assert_eq!(s.file("legacy/layer.tar").unwrap(), b"layer");
        assert_eq!(s.file("./hard.tar").unwrap(), b"layer");
        // An absolute target means the archive's top, which has no etc/.
        assert!(s.file("escape").is_err());
        assert!(!s.exists(MANIFEST_JSON));
    }

    #[test]
    fn docker_manifest_is_checked_against_the_config() {
        let config = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
        let manifest = br#"[{"Config":"c.json","RepoTags":["app:v1","bad@@"],"Layers":["l.tar"]}]"#;
        let t = tar_of(&[
            ("c.json", tar::EntryType::Regular, config, ""),
            ("l.tar", tar::EntryType::Regular, b"", ""),
            ("manifest.json", tar::EntryType::Regular, manifest, ""),
        ]);
        let found = docker_images(&Spool::unpack(&t[..]).unwrap()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].names, vec!["docker.io/library/app:v1".to_string()]);
        assert_eq!(found[0].diff_ids.len(), 1);

        let two_layers = br#"[{"Config":"c.json","Layers":["l.tar","l.tar"]}]"#;
        let t = tar_of(&[
            ("c.json", tar::EntryType::Regular, config, ""),
            ("l.tar", tar::EntryType::Regular, b"", ""),
            ("manifest.json", tar::EntryType::Regular, two_layers, ""),
        ]);
        let e = docker_images(&Spool::unpack(&t[..]).unwrap())
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("has 2 layers but its config lists 1"),
            "{e}"
        );

        let missing = br#"[{"Config":"c.json","Layers":["gone.tar"]}]"#;
        let t = tar_of(&[
            ("c.json", tar::EntryType::Regular, config, ""),
            ("manifest.json", tar::EntryType::Regular, missing, ""),
        ]);
        let e = docker_images(&Spool::unpack(&t[..]).unwrap())
            .err()
            .unwrap();
        assert!(e.to_string().contains("gone.tar is missing"), "{e}");
    }

    #[test]
    fn oci_index_names_and_digests() {
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cd = Digest::of(config);
        let manifest = format!(r#"{{"schemaVersion":2,"config":{{"digest":"{cd}"}},"layers":[]}}"#);
        let md = Digest::of(manifest.as_bytes());
        let index = format!(
            r#"{{"manifests":[{{"digest":"{md}","annotations":{{"{REF_NAME}":"127.0.0.1:5000/a:v1"}}}},{{"digest":"{md}","annotations":{{"{REF_NAME}":"latest"}}}}]}}"#
        );
        let cpath = format!("blobs/sha256/{}", cd.hex());
        let mpath = format!("blobs/sha256/{}", md.hex());
        let t = tar_of(&[
            ("oci-layout", tar::EntryType::Regular, b"{}", ""),
            (&cpath, tar::EntryType::Regular, config, ""),
            (&mpath, tar::EntryType::Regular, manifest.as_bytes(), ""),
            ("index.json", tar::EntryType::Regular, index.as_bytes(), ""),
        ]);
        let found = oci_images(&Spool::unpack(&t[..]).unwrap()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].names, vec!["127.0.0.1:5000/a:v1".to_string()]);

        let t = tar_of(&[
            (&cpath, tar::EntryType::Regular, b"{\"tampered\":1}", ""),
            (&mpath, tar::EntryType::Regular, manifest.as_bytes(), ""),
            ("index.json", tar::EntryType::Regular, index.as_bytes(), ""),
        ]);
        let e = oci_images(&Spool::unpack(&t[..]).unwrap()).err().unwrap();
        assert!(e.to_string().contains("has the digest"), "{e}");
    }

    #[test]
    fn garbage_is_not_an_image() {
        let e = Spool::unpack(&b"this is not a tar archive at all, just some text"[..])
            .map(|s| s.entries)
            .err();
        // Either the tar reader refuses it, or it yields no entries.
        match e {
            Some(ArchiveError::NotAnImage(_)) | None => {}
            Some(other) => panic!("{other}"),
        }
    }
}
