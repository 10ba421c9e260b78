//! Container records: `containers/<id>/config.json` in the store, next to
//! the container's overlay upper and work directories.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
pub use crate::ids::{ProcessRef, valid_name};
use crate::storage::{StoreError, atomic};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(
        "the container name {name:?} is already in use by container {id}; choose another --name"
    )]
    NameInUse { name: String, id: String },
    #[error(
        "invalid container name {:?}: use at most 253 letters, digits, '_', '.' or '-', starting with a letter or digit", shorten(.0)
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
    #[error("no container with name or ID {0:?} found: no such container (see burrow ps -a)")]
    NotFound(String),
    #[error("container {query:?} is ambiguous: it matches {}; give more of the ID or the name", ids.join(", "))]
    Ambiguous { query: String, ids: Vec<String> },
    #[error("container {0} was removed meanwhile")]
    Gone(String),
    /// A check made under the store's lock refused the change.
    #[error("{0}")]
    Refused(String),
    #[error(
        "container {0} was made by an older burrow that did not save how to start it: remove it with `burrow rm {0}` and run it again"
    )]
    NoSpec(String),
}

/// A name as an error message shows it: a very long one cut short.
fn shorten(name: &str) -> String {
    match name.char_indices().nth(40) {
        Some((i, _)) => format!("{}... ({} characters)", &name[..i], name.chars().count()),
        None => name.to_string(),
    }
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
    /// Frozen by `pause`.
    Paused,
    /// Exited; its monitor waits to start it again (`--restart`).
    Restarting,
    Exited,
}

impl Status {
    /// Whether a monitor owns the container (running, paused, or between
    /// two runs of a restart policy).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// Docker's word for it (`State.Status`, `ps --filter status=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
        }
    }
}

/// What is kept about one container besides its spec (`spec.json`, how it
/// runs): who it is, its state, and what is assigned to it and may change
/// (its ports, its user networks). Records of older burrows carry more
/// fields; they are ignored, the spec has them.
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
    /// When the container's process started.
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    /// The process that owns the running container (its monitor): how a
    /// later command tells a live container from one whose monitor died.
    #[serde(default)]
    pub monitor: Option<ProcessRef>,
    /// The host pid of the container's pid 1 while it runs.
    #[serde(default)]
    pub pid: Option<i32>,
    /// `--restart`: what the monitor does when the command exits.
    #[serde(default)]
    pub restart: super::types::RestartPolicy,
    /// How often the monitor restarted it since it was last started.
    #[serde(default)]
    pub restart_count: u32,
    /// Set by `stop`: no restart policy applies to an exit the user asked
    /// for (`kill` leaves the policy in force, as in Podman).
    #[serde(default)]
    pub stopped_by_user: bool,
    /// The signal `stop` sends first (the image's StopSignal or
    /// `--stop-signal`); None for SIGTERM.
    #[serde(default)]
    pub stop_signal: Option<i32>,
    /// Seconds `stop` waits before SIGKILL (`--stop-timeout`); None for 10.
    #[serde(default)]
    pub stop_timeout: Option<u32>,
    /// The image's labels with `--label`s over them.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--rm`: removed when it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<crate::netns::ports::PortMapping>,
    /// `--network` as given.
    #[serde(default)]
    pub network: String,
    /// User networks joined (`--network NAME`, `network connect`), with
    /// the address and interface on each.
    #[serde(default)]
    pub networks: Vec<crate::netns::network::Attachment>,
    /// The healthcheck's state (`State.Health`), once a check is set up;
    /// written by the container's monitor and `healthcheck run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

impl ContainerRecord {
    /// The status as it is now: a record says "running" only while its
    /// monitor lives; one left behind by a killed monitor, or from before
    /// a reboot, is exited (with no exit code known).
    pub fn current_status(&self) -> Status {
        match (self.status, &self.monitor) {
            (s, Some(m)) if s.is_live() && m.alive() => s,
            (s, _) if s.is_live() => Status::Exited,
            (s, _) => s,
        }
    }
}

/// The `containers/` directory of a store.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    dir: PathBuf,
}

/// A new random container id (64 hex digits).
pub fn new_id() -> Result<String, ContainerError> {
    crate::ids::new_id().map_err(io_err("read", Path::new("/dev/urandom")))
}

impl ContainerStore {
    /// The containers of the store rooted at `store_root`.
    pub fn open(store_root: &Path) -> Result<ContainerStore, ContainerError> {
        let dir = store_root.join("containers");
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(ContainerStore { dir })
    }

    /// The store holding the container directory `dir` (a monitor knows
    /// its container by its directory).
    pub fn of_container_dir(dir: &Path) -> ContainerStore {
        ContainerStore {
            dir: dir.parent().unwrap_or(dir).to_path_buf(),
        }
    }

    /// The store these containers belong to (its volumes are beside them).
    pub fn store_root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// The directory of container `id` (config.json, upper, work, rootfs).
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn lock(&self) -> Result<File, ContainerError> {
        let path = self.dir.join("containers.lock");
        atomic::lock(&path).map_err(io_err("lock", &path))
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

    /// Container directories whose record or spec cannot be read, and
    /// stopped containers whose image layers are gone: records that point
    /// nowhere (`system check`). Each with why. A directory without a
    /// record is one being created or removed, not damage.
    pub fn damaged(&self) -> Result<Vec<(String, String)>, ContainerError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(io_err("read", &self.dir))?;
        for e in entries {
            let e = e.map_err(io_err("read", &self.dir))?;
            let id = e.file_name().to_string_lossy().into_owned();
            if !e.file_type().is_ok_and(|t| t.is_dir()) || id.starts_with('.') {
                continue;
            }
            let path = e.path().join("config.json");
            let record = match fs::read(&path) {
                Ok(b) => serde_json::from_slice::<ContainerRecord>(&b),
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(io_err("read", &path)(err)),
            };
            let record = match record {
                Ok(r) => r,
                Err(err) => {
                    out.push((id, format!("{} is damaged: {err}", path.display())));
                    continue;
                }
            };
            let spec = match self.load_spec(&id) {
                Ok(s) => s,
                Err(ContainerError::NoSpec(_)) => continue,
                Err(err) => {
                    out.push((id, err.to_string()));
                    continue;
                }
            };
            // A vfs container has its own copy of the image.
            if record.current_status().is_live() || spec.driver == super::rootfs::Driver::Vfs {
                continue;
            }
            if let Some(gone) = spec.lowers.iter().find(|l| !l.exists()) {
                out.push((
                    id,
                    format!(
                        "container {}: its image layer {} is gone",
                        record.name,
                        gone.display()
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// Record a new container, making its directory; fails if the name is
    /// taken. The check and the write happen under one lock.
    pub fn create(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        self.create_with(&mut rec.clone(), |_, _| Ok(()))
    }

    /// Like [`ContainerStore::create`], with `allocate` completing the
    /// record from the others (user network addresses) under the same lock.
    pub fn create_with(
        &self,
        rec: &mut ContainerRecord,
        allocate: impl FnOnce(&[ContainerRecord], &mut ContainerRecord) -> Result<(), String>,
    ) -> Result<(), ContainerError> {
        if !valid_name(&rec.name) {
            return Err(ContainerError::BadName(rec.name.clone()));
        }
        let _lock = self.lock()?;
        let all = self.list()?;
        if let Some(other) = all.iter().find(|c| c.name == rec.name) {
            return Err(ContainerError::NameInUse {
                name: rec.name.clone(),
                id: other.id.clone(),
            });
        }
        allocate(&all, rec).map_err(ContainerError::Refused)?;
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

    /// Replace a container's record; `Gone` if it was removed meanwhile.
    pub fn update(&self, rec: &ContainerRecord) -> Result<(), ContainerError> {
        let _lock = self.lock()?;
        if !self.dir_of(&rec.id).join("config.json").exists() {
            return Err(ContainerError::Gone(rec.id.clone()));
        }
        self.write(rec)
    }

    /// Change a container's record under the store's lock, starting from
    /// what is on disk now, so that concurrent changes (the monitor
    /// recording an exit while `rename` runs) are not lost. `Gone` if it
    /// was removed.
    pub fn modify(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord, ContainerError> {
        let _lock = self.lock()?;
        let mut rec = self.get(id)?;
        change(&mut rec);
        self.write(&rec)?;
        Ok(rec)
    }

    /// Like [`ContainerStore::modify`], where the change may look at the
    /// other records and refuse.
    pub fn modify_with_others(
        &self,
        id: &str,
        change: impl FnOnce(&[ContainerRecord], &mut ContainerRecord) -> Result<(), String>,
    ) -> Result<ContainerRecord, ContainerError> {
        let _lock = self.lock()?;
        let mut rec = self.get(id)?;
        let others: Vec<ContainerRecord> =
            self.list()?.into_iter().filter(|c| c.id != id).collect();
        change(&others, &mut rec).map_err(ContainerError::Refused)?;
        self.write(&rec)?;
        Ok(rec)
    }

    /// The record of container `id` as it is on disk; `Gone` if there is
    /// none.
    pub fn get(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let path = self.dir_of(id).join("config.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContainerError::Gone(id.to_string()));
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|err| ContainerError::Corrupt { path, err })
    }

    /// Rename a container, under the lock that keeps names unique.
    pub fn rename(&self, id: &str, name: &str) -> Result<ContainerRecord, ContainerError> {
        if !valid_name(name) {
            return Err(ContainerError::BadName(name.to_string()));
        }
        let _lock = self.lock()?;
        let all = self.list()?;
        if let Some(other) = all.iter().find(|c| c.name == name && c.id != id) {
            return Err(ContainerError::NameInUse {
                name: name.to_string(),
                id: other.id.clone(),
            });
        }
        let mut rec = all
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ContainerError::Gone(id.to_string()))?;
        rec.name = name.to_string();
        self.write(&rec)?;
        Ok(rec)
    }

    /// Save what `start` needs to run the container again.
    pub fn save_spec(&self, spec: &crate::runtime::ContainerSpec) -> Result<(), ContainerError> {
        let path = self.dir_of(&spec.id).join("spec.json");
        let json = serde_json::to_vec_pretty(spec).map_err(|err| ContainerError::Corrupt {
            path: path.clone(),
            err,
        })?;
        atomic::write_file(&path, &json, 0o600)?;
        Ok(())
    }

    /// The saved spec of container `id`, as it runs: with the ports its
    /// record has now. A spec saved by an older burrow, whose confinement
    /// the record kept, gets it from there.
    pub fn load_spec(&self, id: &str) -> Result<crate::runtime::ContainerSpec, ContainerError> {
        let path = self.dir_of(id).join("spec.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContainerError::NoSpec(id.to_string()));
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let corrupt = |err| ContainerError::Corrupt {
            path: path.clone(),
            err,
        };
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
        let record_path = self.dir_of(id).join("config.json");
        let record: serde_json::Value = match fs::read(&record_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|err| ContainerError::Corrupt {
                path: record_path.clone(),
                err,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContainerError::Gone(id.to_string()));
            }
            Err(e) => return Err(io_err("read", &record_path)(e)),
        };
        if value.get("confinement").is_none() {
            let exec = record
                .get("exec")
                .filter(|e| e.is_object())
                .ok_or_else(|| ContainerError::NoSpec(id.to_string()))?;
            value["confinement"] = serde_json::json!({
                "caps": exec["caps"],
                "seccomp": exec["seccomp"],
                "privileged": exec["privileged"],
            });
        }
        let mut spec: crate::runtime::ContainerSpec =
            serde_json::from_value(value).map_err(corrupt)?;
        if let Some(ports) = record.get("ports") {
            spec.ports =
                serde_json::from_value(ports.clone()).map_err(|err| ContainerError::Corrupt {
                    path: record_path.clone(),
                    err,
                })?;
        }
        Ok(spec)
    }

    /// The container named `query`: a full ID, a name, or a unique ID prefix.
    pub fn find(&self, query: &str) -> Result<ContainerRecord, ContainerError> {
        let all = self.list()?;
        if let Some(c) = all.iter().find(|c| c.id == query || c.name == query) {
            return Ok(c.clone());
        }
        let matches: Vec<&ContainerRecord> = if query.is_empty() {
            Vec::new()
        } else {
            all.iter().filter(|c| c.id.starts_with(query)).collect()
        };
        match matches.as_slice() {
            [] => Err(ContainerError::NotFound(query.to_string())),
            [one] => Ok((*one).clone()),
            many => Err(ContainerError::Ambiguous {
                query: query.to_string(),
                ids: many.iter().map(|c| c.id[..12].to_string()).collect(),
            }),
        }
    }

    /// Remove a container's record and directory. Its upper directory holds
    /// files of container ids, so this must run inside the user namespace.
    pub fn remove(&self, id: &str) -> Result<(), ContainerError> {
        self.remove_if(id, |_| true).map(|_| ())
    }

    /// Remove container `id` if `wanted` says so of its record as it is
    /// under the lock (prune: only if it is still stopped). Returns whether
    /// it was removed. The directory is renamed away under the lock and
    /// deleted after it, so a big upper directory does not hold up every
    /// other command; leftovers of a removal killed midway are deleted by
    /// the next removal.
    pub fn remove_if(
        &self,
        id: &str,
        wanted: impl FnOnce(&ContainerRecord) -> bool,
    ) -> Result<bool, ContainerError> {
        let dir = self.dir_of(id);
        let trash = self.dir.join(format!(".removing-{id}"));
        {
            let _lock = self.lock()?;
            let record = dir.join("config.json");
            match fs::read(&record) {
                Ok(bytes) => {
                    if let Ok(rec) = serde_json::from_slice::<ContainerRecord>(&bytes)
                        && !wanted(&rec)
                    {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("read", &record)(e)),
            }
            // The record goes first: a crash midway leaves a directory
            // without a record, not a record of a half-removed container.
            match fs::remove_file(&record) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &record)(e)),
            }
            match fs::rename(&dir, &trash) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("remove", &dir)(e)),
            }
        }
        // Another removal may be deleting leftovers at the same time: an
        // error only counts if something is left.
        if let Err(e) = fs::remove_dir_all(&trash)
            && fs::symlink_metadata(&trash).is_ok()
        {
            return Err(io_err("remove", &trash)(e));
        }
        self.remove_leftovers();
        Ok(true)
    }

    /// Directories of removals that were killed midway.
    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".removing-") {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            started: None,
            monitor: None,
            pid: None,
            restart: Default::default(),
            restart_count: 0,
            stopped_by_user: false,
            stop_signal: None,
            stop_timeout: None,
            labels: Default::default(),
            auto_remove: false,
            ports: Vec::new(),
            network: String::new(),
            networks: Vec::new(),
            health: None,
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
    fn find_by_name_id_or_prefix() {
        let t = tempfile::tempdir().unwrap();
        let s = ContainerStore::open(t.path()).unwrap();
        let a = "abc1".repeat(16);
        let b = "abc2".repeat(16);
        s.create(&rec(&a, "web")).unwrap();
        s.create(&rec(&b, "db")).unwrap();
        assert_eq!(s.find("web").unwrap().id, a);
        assert_eq!(s.find(&b).unwrap().name, "db");
        assert_eq!(s.find("abc2").unwrap().id, b);
        let err = s.find("abc").unwrap_err();
        assert!(matches!(err, ContainerError::Ambiguous { ref ids, .. } if ids.len() == 2));
        assert!(err.to_string().contains("give more of the ID"));
        assert!(matches!(s.find("zzz"), Err(ContainerError::NotFound(_))));
        assert!(matches!(s.find(""), Err(ContainerError::NotFound(_))));
        s.remove(&a).unwrap();
        let mut gone = rec(&a, "web");
        gone.status = Status::Exited;
        assert!(matches!(s.update(&gone), Err(ContainerError::Gone(_))));
    }

    #[test]
    fn running_only_while_the_monitor_lives() {
        let mut r = rec("x", "x");
        r.status = Status::Running;
        assert_eq!(r.current_status(), Status::Exited, "no monitor known");
        let me = ProcessRef::current().unwrap();
        assert!(me.alive());
        r.monitor = Some(me.clone());
        assert_eq!(r.current_status(), Status::Running);
        // A recycled pid has another start time; another boot another id.
        r.monitor = Some(ProcessRef {
            start_time: me.start_time + 1,
            ..me.clone()
        });
        assert_eq!(r.current_status(), Status::Exited);
        r.monitor = Some(ProcessRef {
            boot_id: "other".into(),
            ..me
        });
        assert_eq!(r.current_status(), Status::Exited);
        r.status = Status::Created;
        assert_eq!(r.current_status(), Status::Created);
    }

    /// A container made before the spec kept its confinement: the record's
    /// `exec` supplies it, and the record's ports are the spec's.
    #[test]
    fn an_older_spec_gets_its_confinement_from_the_record() {
        let t = tempfile::tempdir().unwrap();
        let s = ContainerStore::open(t.path()).unwrap();
        s.create(&rec("old", "old")).unwrap();
        let process = crate::runtime::spec::ProcessSpec {
            args: vec!["sh".into()],
            env: vec![],
            cwd: "/".into(),
            hostname: "old".into(),
        };
        let spec = crate::runtime::ContainerSpec::builder("old", s.dir_of("old"), vec![], process)
            .build()
            .unwrap();
        let mut json = serde_json::to_value(&spec).unwrap();
        json.as_object_mut().unwrap().remove("confinement");
        fs::write(s.dir_of("old").join("spec.json"), json.to_string()).unwrap();
        assert!(matches!(s.load_spec("old"), Err(ContainerError::NoSpec(_))));

        let record_path = s.dir_of("old").join("config.json");
        let mut record: serde_json::Value =
            serde_json::from_slice(&fs::read(&record_path).unwrap()).unwrap();
        record["exec"] = serde_json::json!({
            "env": [], "cwd": "/", "user": "", "caps": 5,
            "seccomp": "unconfined", "privileged": true,
        });
        record["ports"] = serde_json::json!([
            {"host_ip": null, "host_port": 8080, "container_port": 80, "proto": "tcp"}
        ]);
        fs::write(&record_path, record.to_string()).unwrap();
        let loaded = s.load_spec("old").unwrap();
        assert_eq!(
            loaded.confinement,
            crate::runtime::spec::ConfinementSpec {
                caps: 5,
                seccomp: "unconfined".into(),
                privileged: true,
            }
        );
        assert_eq!(loaded.ports.len(), 1);
        assert_eq!(loaded.ports[0].host_port, 8080);
        // The old record still reads; its extra fields are the spec's now.
        assert_eq!(s.get("old").unwrap().ports.len(), 1);
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
