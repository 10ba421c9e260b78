//! Volumes: directories of the store that outlive containers
//! (`burrow volume create`, `-v NAME:/path`, an image's `VOLUME`).
//!
//! Layout under the data root:
//!
//! * `volumes/NAME/_data`: what containers see (as Podman lays it out);
//! * `volumes/NAME/volume.json`: the record (driver, options, labels);
//! * `volumes/NAME/copy-up`: present until the first mount that may copy
//!   the image's content in (Docker's copy-up) has happened;
//! * `volumes/volumes.lock`: taken for every change.
//!
//! A volume appears by renaming a complete `.creating-*` directory to its
//! name, and leaves by renaming it to `.removing-*` before its files are
//! deleted, both under the lock: a killed command leaves a dot-directory,
//! never a half-made or half-removed volume. Its files belong to the
//! container's ids, so deleting them happens in the user namespace.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::atomic;

/// The only driver: a directory of the store (or a tmpfs, or a bound
/// host directory, as its options say).
pub const LOCAL_DRIVER: &str = "local";

const RECORD: &str = "volume.json";
const DATA: &str = "_data";
const COPY_UP: &str = "copy-up";

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("no such volume {0}: create it with `burrow volume create {0}` (see burrow volume ls)")]
    NotFound(String),
    #[error(
        "volume {0} already exists: choose another name, or remove it with `burrow volume rm {0}`"
    )]
    Exists(String),
    #[error(
        "invalid volume name {0:?}: use letters, digits, '_', '.' or '-', starting with a letter or digit (a host path must start with / or ./)"
    )]
    BadName(String),
    #[error("unknown volume driver {0:?}: burrow has the local driver only; drop --driver")]
    BadDriver(String),
    #[error("invalid volume option {option:?}: {why}")]
    BadOption { option: String, why: String },
    #[error("volume {volume} is being used by container(s) {}: remove them first, or use burrow volume rm -f {volume} to remove them with it", containers.join(", "))]
    InUse {
        volume: String,
        containers: Vec<String>,
    },
    #[error("cannot {op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("volume record {} is not valid JSON: {err}; remove the volume's directory", path.display())]
    Corrupt {
        path: PathBuf,
        err: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> VolumeError + use<> {
    let path = path.to_path_buf();
    move |err| VolumeError::Io { op, path, err }
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`: never a path, never a dot-directory of
/// the store.
pub fn valid_name(name: &str) -> bool {
    crate::ids::valid_name(name)
}

/// How a volume is mounted, from its `-o` options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeKind {
    /// Its `_data` directory.
    Dir,
    /// A fresh tmpfs at each start, with these mount options.
    Tmpfs { options: String },
    /// A host directory (`device=PATH,o=bind`).
    Bind { device: PathBuf, recursive: bool },
}

/// The options of the local driver (Docker's and Podman's):
/// `type=tmpfs|none`, `device=`, `o=bind|rbind|size=|uid=|gid=|mode=|...`.
/// Checked when the volume is made, so that a mount never fails on them.
pub fn parse_options(options: &BTreeMap<String, String>) -> Result<VolumeKind, VolumeError> {
    let bad = |option: &str, why: &str| VolumeError::BadOption {
        option: option.to_string(),
        why: why.to_string(),
    };
    for k in options.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(bad(
                k,
                "the local driver takes type=tmpfs|none, device=PATH and o=OPTIONS",
            ));
        }
    }
    let kind = options.get("type").map(String::as_str).unwrap_or("");
    let device = options.get("device").map(String::as_str);
    let o: Vec<&str> = options
        .get("o")
        .map(|o| o.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let number = |opt: &str, v: &str| -> Result<(), VolumeError> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(&format!("o={opt}"), "use a number"));
        }
        Ok(())
    };
    match kind {
        "tmpfs" => {
            if device.is_some_and(|d| d != "tmpfs") {
                return Err(bad(
                    "device",
                    "a tmpfs volume has no device (or device=tmpfs)",
                ));
            }
            let mut data = Vec::new();
            for opt in &o {
                match opt.split_once('=') {
                    Some(("size", v)) => {
                        let digits = v.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
                        if digits.is_empty()
                            || !digits.bytes().all(|b| b.is_ascii_digit())
                            || v.len() - digits.len() > 1
                        {
                            return Err(bad(&format!("o={opt}"), "use a size such as 64m"));
                        }
                        data.push(opt.to_string());
                    }
                    Some(("uid" | "gid" | "nr_inodes", v)) => {
                        number(opt, v)?;
                        data.push(opt.to_string());
                    }
                    Some(("mode", v)) => match u32::from_str_radix(v, 8) {
                        Ok(m) if m <= 0o7777 => data.push(format!("mode={m:o}")),
                        _ => {
                            return Err(bad(&format!("o={opt}"), "use an octal mode such as 1777"));
                        }
                    },
                    None if matches!(*opt, "nodev" | "noexec" | "nosuid") => {}
                    _ => {
                        return Err(bad(
                            &format!("o={opt}"),
                            "a tmpfs volume takes size=, uid=, gid=, mode=, nr_inodes=, nodev, noexec, nosuid",
                        ));
                    }
                }
            }
            if !data.iter().any(|d| d.starts_with("mode=")) {
                data.insert(0, "mode=1777".into());
            }
            Ok(VolumeKind::Tmpfs {
                options: data.join(","),
            })
        }
        "" | "none" => {
            let Some(device) = device else {
                if !kind.is_empty() || !o.is_empty() {
                    return Err(bad(
                        "o",
                        "o= applies to type=tmpfs (size=, uid=, gid=, mode=) or to a host directory: type=none,device=/host/dir,o=bind",
                    ));
                }
                return Ok(VolumeKind::Dir);
            };
            let recursive = match o.as_slice() {
                ["bind"] => false,
                ["rbind"] => true,
                _ => {
                    return Err(bad(
                        "o",
                        "device= binds a host directory: give o=bind (or o=rbind) and type=none",
                    ));
                }
            };
            if !device.starts_with('/') {
                return Err(bad(
                    &format!("device={device}"),
                    "give the host directory's absolute path",
                ));
            }
            match fs::metadata(device) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(bad(&format!("device={device}"), "it is not a directory"));
                }
                Err(e) => {
                    return Err(bad(
                        &format!("device={device}"),
                        &format!("{e}: create the directory first"),
                    ));
                }
            }
            Ok(VolumeKind::Bind {
                device: PathBuf::from(device),
                recursive,
            })
        }
        other => Err(bad(
            &format!("type={other}"),
            "a rootless burrow mounts type=tmpfs, or type=none with device= and o=bind; other filesystems need root",
        )),
    }
}

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, an image's VOLUME), named by a
    /// random id; removed with it by `rm -v` and `run --rm`.
    #[serde(default)]
    pub anonymous: bool,
}

impl VolumeRecord {
    pub fn kind(&self) -> Result<VolumeKind, VolumeError> {
        parse_options(&self.options)
    }
}

/// What a new volume is made from.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    /// None: an anonymous volume named by a random id.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub anonymous: bool,
}

/// The volumes of one store.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

/// The volume store's lock, held while it lives.
pub struct VolumeLock(#[allow(dead_code)] File);

impl VolumeStore {
    pub fn open(store_root: &Path) -> Result<VolumeStore, VolumeError> {
        let dir = store_root.join("volumes");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(VolumeStore { dir })
    }

    /// Every change of the store (and whatever must not change meanwhile,
    /// such as the containers that use a volume) happens under it.
    pub fn lock(&self) -> Result<VolumeLock, VolumeError> {
        let path = self.dir.join("volumes.lock");
        Ok(VolumeLock(
            atomic::lock(&path).map_err(io_err("lock", &path))?,
        ))
    }

    /// The volume's directory (record, `_data`).
    pub fn dir_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Where containers see the volume's files.
    pub fn data_of(&self, name: &str) -> PathBuf {
        self.dir_of(name).join(DATA)
    }

    pub fn exists(&self, name: &str) -> bool {
        valid_name(name) && self.dir_of(name).join(RECORD).is_file()
    }

    /// The volume called `name`.
    pub fn get(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        if !valid_name(name) {
            return Err(VolumeError::BadName(name.to_string()));
        }
        let path = self.dir_of(name).join(RECORD);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()));
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|err| VolumeError::Corrupt { path, err })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<VolumeRecord>, VolumeError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))? {
            let e = e.map_err(io_err("read", &self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) || !e.path().is_dir() {
                continue;
            }
            match self.get(&name) {
                Ok(v) => out.push(v),
                // Removed meanwhile.
                Err(VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Make a volume; the caller holds [`VolumeStore::lock`]. Its options
    /// are checked first: nothing is made when they are wrong.
    pub fn create_locked(
        &self,
        _lock: &VolumeLock,
        new: NewVolume,
    ) -> Result<VolumeRecord, VolumeError> {
        let name = match new.name {
            Some(n) => {
                if !valid_name(&n) {
                    return Err(VolumeError::BadName(n));
                }
                n
            }
            None => crate::ids::new_id().map_err(io_err("read", Path::new("/dev/urandom")))?,
        };
        let kind = parse_options(&new.options)?;
        if self.dir_of(&name).exists() {
            return Err(VolumeError::Exists(name));
        }
        let record = VolumeRecord {
            name: name.clone(),
            driver: LOCAL_DRIVER.to_string(),
            created: Utc::now(),
            labels: new.labels,
            options: new.options,
            anonymous: new.anonymous,
        };
        let tmp = self.dir.join(format!(".creating-{name}"));
        let made = (|| -> Result<(), VolumeError> {
            let _ = atomic::remove_tree(&tmp);
            fs::create_dir(&tmp).map_err(io_err("create", &tmp))?;
            let data = tmp.join(DATA);
            fs::create_dir(&data).map_err(io_err("create", &data))?;
            if kind == VolumeKind::Dir {
                let marker = tmp.join(COPY_UP);
                File::create(&marker).map_err(io_err("create", &marker))?;
            }
            let json = serde_json::to_vec_pretty(&record).map_err(|e| VolumeError::Io {
                op: "encode",
                path: tmp.join(RECORD),
                err: io::Error::other(e),
            })?;
            atomic::write_file(&tmp.join(RECORD), &json, 0o600)?;
            let dest = self.dir_of(&name);
            fs::rename(&tmp, &dest).map_err(io_err("rename", &dest))?;
            atomic::fsync_dir(&self.dir)?;
            Ok(())
        })();
        if let Err(e) = made {
            let _ = atomic::remove_tree(&tmp);
            return Err(e);
        }
        Ok(record)
    }

    /// Make a volume, taking the lock.
    pub fn create(&self, new: NewVolume) -> Result<VolumeRecord, VolumeError> {
        let lock = self.lock()?;
        self.create_locked(&lock, new)
    }

    /// Take volume `name` out of the store (the caller holds the lock and
    /// has checked that no container uses it), then delete its files. Run
    /// in the user namespace: they belong to the container's ids.
    pub fn remove_locked(&self, _lock: &VolumeLock, name: &str) -> Result<(), VolumeError> {
        self.get(name)?;
        let dir = self.dir_of(name);
        let trash = self
            .dir
            .join(format!(".removing-{name}-{:016x}", rand::random::<u64>()));
        fs::rename(&dir, &trash).map_err(io_err("remove", &dir))?;
        atomic::fsync_dir(&self.dir)?;
        atomic::remove_tree(&trash).map_err(io_err("remove", &trash))?;
        Ok(())
    }

    /// Dot-directories of creations and removals that were killed midway.
    /// Run in the user namespace, under the lock.
    pub fn remove_leftovers(&self, _lock: &VolumeLock) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".creating-") || name.starts_with(".removing-") {
                let _ = atomic::remove_tree(&e.path());
            }
        }
    }

    /// The bytes of the volume's files (its `_data`); read in the user
    /// namespace, where every file can be seen.
    pub fn size_of(&self, name: &str) -> u64 {
        tree_size(&self.data_of(name))
    }
}

/// The marker of a volume that has not had its first copy-up yet.
pub fn copy_up_marker(data: &Path) -> PathBuf {
    data.parent().unwrap_or(data).join(COPY_UP)
}

/// The apparent size of the files below `root`, each hard-linked file
/// once.
pub fn tree_size(root: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() == 1 || seen.insert((m.dev(), m.ino())) {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(parse_options(&opts(&[])).unwrap(), VolumeKind::Dir);
        assert_eq!(
            parse_options(&opts(&[("type", "tmpfs"), ("o", "size=10m,uid=5")])).unwrap(),
            VolumeKind::Tmpfs {
                options: "mode=1777,size=10m,uid=5".into()
            }
        );
        let t = tempfile::tempdir().unwrap();
        let dev = t.path().to_str().unwrap();
        assert_eq!(
            parse_options(&opts(&[("type", "none"), ("device", dev), ("o", "bind")])).unwrap(),
            VolumeKind::Bind {
                device: t.path().into(),
                recursive: false
            }
        );
        for (bad, needle) in [
            (opts(&[("type", "nfs")]), "need root"),
            (opts(&[("color", "red")]), "the local driver takes"),
            (opts(&[("type", "tmpfs"), ("o", "size=lots")]), "use a size"),
            (opts(&[("type", "tmpfs"), ("o", "uid=x")]), "use a number"),
            (
                opts(&[("device", "/nonexistent/x"), ("o", "bind")]),
                "create the directory",
            ),
            (opts(&[("device", "rel"), ("o", "bind")]), "absolute path"),
            (opts(&[("device", dev)]), "give o=bind"),
            (opts(&[("o", "bind")]), "host directory: type=none,device="),
        ] {
            let e = parse_options(&bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad:?}: {e}");
        }
    }

    #[test]
    fn create_get_list_remove() {
        let t = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(t.path()).unwrap();
        let v = s
            .create(NewVolume {
                name: Some("data".into()),
                ..NewVolume::default()
            })
            .unwrap();
        assert_eq!(v.driver, "local");
        assert!(s.data_of("data").is_dir());
        assert!(copy_up_marker(&s.data_of("data")).exists());
        assert!(matches!(
            s.create(NewVolume {
                name: Some("data".into()),
                ..NewVolume::default()
            }),
            Err(VolumeError::Exists(_))
        ));
        let anon = s
            .create(NewVolume {
                anonymous: true,
                ..NewVolume::default()
            })
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(s.list().unwrap().len(), 2);
        for bad in ["../x", "a/b", ".hidden", "", "/abs"] {
            assert!(matches!(
                s.create(NewVolume {
                    name: Some(bad.into()),
                    ..NewVolume::default()
                }),
                Err(VolumeError::BadName(_))
            ));
            assert!(matches!(s.get(bad), Err(VolumeError::BadName(_))));
        }
        let lock = s.lock().unwrap();
        s.remove_locked(&lock, "data").unwrap();
        assert!(matches!(s.get("data"), Err(VolumeError::NotFound(_))));
        assert!(matches!(
            s.remove_locked(&lock, "data"),
            Err(VolumeError::NotFound(_))
        ));
        assert_eq!(s.list().unwrap().len(), 1);
        let names: Vec<String> = fs::read_dir(t.path().join("volumes"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with('.')), "{names:?}");
    }
}
