//! Container records: `containers/<id>/config.json` in the store, next to
//! the container's overlay upper and work directories.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::storage::{StoreError, atomic};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(
        "the container name {name:?} is already in use by container {id}; choose another --name"
    )]
    NameInUse { name: String, id: String },
    #[error(
        "invalid container name {0:?}: use letters, digits, '_', '.' or '-', starting with a letter or digit"
    )]
    BadName(String),
    // The cause is part of the message (and so not a `source`), so that
    // it shows however the error is printed.
    #[error("cannot {op} {}: {err}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("container record {} is not valid JSON: {err}; remove that directory", path.display())]
    Corrupt {
        path: PathBuf,
        err: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ContainerError + use<> {
    let path = path.to_path_buf();
    move |err| ContainerError::Io { op, path, err }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

/// What is kept about one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image_id: Digest,
    /// What the user typed to name the image.
    pub image: String,
    pub command: Vec<String>,
    pub created: DateTime<Utc>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub finished: Option<DateTime<Utc>>,
    /// How its root is made (its upper or copied directory depends on it).
    #[serde(default)]
    pub storage_driver: Option<crate::runtime::rootfs::Driver>,
    /// `--userns=keep-id`: the (uid, gid) the user is inside.
    #[serde(default)]
    pub keep_id: Option<(u32, u32)>,
}

/// The `containers/` directory of a store.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    dir: PathBuf,
}

/// A name Docker would accept: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A new random container id (64 hex digits).
pub fn new_id() -> Result<String, ContainerError> {
    let mut bytes = [0u8; 32];
    let path = Path::new("/dev/urandom");
    let mut f = File::open(path).map_err(io_err("open", path))?;
    io::Read::read_exact(&mut f, &mut bytes).map_err(io_err("read", path))?;
    Ok(hex::encode(bytes))
}

impl ContainerStore {
    /// The containers of the store rooted at `store_root`.
    pub fn open(store_root: &Path) -> Result<ContainerStore, ContainerError> {
        let dir = store_root.join("containers");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(ContainerStore { dir })
    }

    /// The directory of container `id` (config.json, upper, work, rootfs).
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn lock(&self) -> Result<File, ContainerError> {
        let path = self.dir.join("containers.lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("open", &path))?;
        f.lock().map_err(io_err("lock", &path))?;
        Ok(f)
    }

    /// Every container record.
    pub fn list(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))?;
        for e in entries {
            let e = e.map_err(io_err("read", &self.dir))?;
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = e.path().join("config.json");
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                // A directory being created or removed right now.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_err("read", &path)(err)),
            };
            let rec = serde_json::from_slice(&bytes).map_err(|err| ContainerError::Corrupt {
                path: path.clone(),
                err,
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Record a new container, making its directory; fails if the name is
    /// taken. The check and the write happen under one lock.
    pub fn create(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        if !valid_name(&rec.name) {
            return Err(ContainerError::BadName(rec.name.clone()));
        }
        let _lock = self.lock()?;
        if let Some(other) = self.list()?.into_iter().find(|c| c.name == rec.name) {
            return Err(ContainerError::NameInUse {
                name: rec.name.clone(),
                id: other.id,
            });
        }
        let dir = self.dir_of(&rec.id);
        fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        self.write(rec)
    }

    fn write(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        let json = serde_json::to_vec_pretty(rec).map_err(|err| ContainerError::Corrupt {
            path: self.dir_of(&rec.id),
            err,
        })?;
        atomic::write_file(&self.dir_of(&rec.id).join("config.json"), &json, 0o600)?;
        Ok(())
    }

    /// Replace a container's record.
    pub fn update(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        let _lock = self.lock()?;
        self.write(rec)
    }

    /// Remove a container's record and directory. Its upper directory holds
    /// files of container ids, so this must run inside the user namespace.
    pub fn remove(&self, id: &str) -> Result<(), ContainerError> {
        let _lock = self.lock()?;
        let dir = self.dir_of(id);
        // The record goes first: a crash midway leaves a directory without
        // a record, not a record of a half-removed container.
        let record = dir.join("config.json");
        match fs::remove_file(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &record)(e)),
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &dir)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            storage_driver: None,
            keep_id: None,
            id: id.into(),
            name: name.into(),
            image_id: Digest::of(b"img"),
            image: "busybox".into(),
            command: vec!["sh".into()],
            created: Utc::now(),
            status: Status::Created,
            exit_code: None,
            finished: None,
        }
    }

    #[test]
    fn create_update_list_remove() {
        let t = tempfile::tempdir().unwrap();
        let s = ContainerStore::open(t.path()).unwrap();
        let mut a = rec("aaa", "web");
        s.create(&a).unwrap();
        assert!(matches!(
            s.create(&rec("bbb", "web")),
            Err(ContainerError::NameInUse { ref id, .. }) if id == "aaa"
        ));
        assert!(matches!(
            s.create(&rec("ccc", "-bad")),
            Err(ContainerError::BadName(_))
        ));
        a.status = Status::Exited;
        a.exit_code = Some(3);
        s.update(&a).unwrap();
        assert_eq!(s.list().unwrap(), vec![a.clone()]);
        fs::create_dir(s.dir_of("aaa").join("upper")).unwrap();
        s.remove("aaa").unwrap();
        assert!(!s.dir_of("aaa").exists());
        assert!(s.list().unwrap().is_empty());
        s.create(&rec("bbb", "web")).unwrap();
    }

    #[test]
    fn ids_and_names() {
        let a = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_id().unwrap());
        assert!(valid_name("a_b.c-1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
    }
}
