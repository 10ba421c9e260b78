//! Volumes (`burrow volume ...`, `-v NAME:/path`): create, list, inspect,
//! remove, prune, export and import, which containers use one, and the
//! volumes a new container mounts, made and resolved by `create`.
//!
//! A volume's files belong to the ids of the containers that wrote them:
//! what reads or deletes them (remove, prune, sizes, export, import)
//! happens in the user namespace.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, fork, pipe2};
use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, ErrorKind, Reported, RequestError};
use super::request::parse_label;
use crate::events::{Event, VolumeAction};
use crate::runtime::ContainerStore;
use crate::runtime::mounts::{self, Mount, MountKind, VolumeSource};
use crate::runtime::volume_use::{self, VolumeUseError};
use crate::storage::volumes::{
    LOCAL_DRIVER, NewVolume, VolumeError, VolumeKind, VolumeLock, VolumeRecord, VolumeStore,
};

/// `volume create`.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreateRequest {
    /// None: an anonymous volume, named by a random id.
    pub name: Option<String>,
    /// `local` [default], the only one.
    pub driver: Option<String>,
    /// `-o K=V`: type=tmpfs|none, device=PATH, o=OPTIONS.
    pub options: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// `--ignore`: a volume of that name already there is no error.
    pub ignore: bool,
}

/// One condition of `volume ls --filter` and `volume prune --filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeFilter {
    /// Part of the name.
    Name(String),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label(String, Option<String>),
    /// Used by no container (true), or by some (false).
    Dangling(bool),
    Driver(String),
}

impl std::str::FromStr for VolumeFilter {
    type Err = RequestError;

    fn from_str(f: &str) -> Result<VolumeFilter, RequestError> {
        let invalid = |m: String| Err(RequestError::Invalid(m));
        let Some((key, value)) = f.split_once('=') else {
            return invalid(format!(
                "invalid filter {f:?}: use KEY=VALUE, e.g. label=app or dangling=true"
            ));
        };
        Ok(match key {
            "name" => VolumeFilter::Name(value.to_string()),
            "label" => match value.split_once('=') {
                Some((k, v)) => VolumeFilter::Label(k.to_string(), Some(v.to_string())),
                None => VolumeFilter::Label(value.to_string(), None),
            },
            "dangling" => match value {
                "true" | "1" => VolumeFilter::Dangling(true),
                "false" | "0" => VolumeFilter::Dangling(false),
                _ => {
                    return invalid(format!(
                        "invalid dangling filter {value:?}: use dangling=true or dangling=false"
                    ));
                }
            },
            "driver" => VolumeFilter::Driver(value.to_string()),
            other => {
                return invalid(format!(
                    "unknown volume filter {other:?}: use name, label, dangling or driver"
                ));
            }
        })
    }
}

impl VolumeFilter {
    fn matches(&self, v: &VolumeRecord, used: bool) -> bool {
        match self {
            VolumeFilter::Name(n) => v.name.contains(n.as_str()),
            VolumeFilter::Label(k, want) => match (v.labels.get(k), want) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            },
            VolumeFilter::Dangling(d) => used != *d,
            VolumeFilter::Driver(d) => v.driver == *d,
        }
    }
}

/// A volume with what `system df` counts of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeUsage {
    pub record: VolumeRecord,
    /// Bytes of its files (0 for tmpfs and bound host directories, which
    /// are not the store's).
    pub size: u64,
    /// The containers that mount it.
    pub users: Vec<String>,
}

/// What `volume prune` removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VolumesPruned {
    pub names: Vec<String>,
    pub reclaimed: u64,
}

/// A removal's failure as it crosses back from the user namespace,
/// typed again on this side.
#[derive(Debug, Serialize, Deserialize)]
enum RemoveFailure {
    NotFound(String),
    InUse {
        volume: String,
        containers: Vec<String>,
    },
    Other(Reported),
}

impl From<RemoveFailure> for EngineError {
    fn from(f: RemoveFailure) -> EngineError {
        match f {
            RemoveFailure::NotFound(n) => VolumeError::NotFound(n).into(),
            RemoveFailure::InUse { volume, containers } => {
                VolumeError::InUse { volume, containers }.into()
            }
            RemoveFailure::Other(r) => r.into(),
        }
    }
}

fn other(e: impl Into<EngineError>) -> RemoveFailure {
    RemoveFailure::Other(e.into().report())
}

pub(crate) fn use_error(e: VolumeUseError) -> EngineError {
    match e {
        VolumeUseError::Container(e) => e.into(),
        VolumeUseError::Volume(e) => e.into(),
    }
}

/// `KEY=VALUE` options of `volume create -o` and `volume-opt=`.
fn parse_options(options: &[String]) -> Result<BTreeMap<String, String>, EngineError> {
    let mut out = BTreeMap::new();
    for o in options {
        match o.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => {
                return Err(VolumeError::BadOption {
                    option: o.clone(),
                    why: "use KEY=VALUE, e.g. type=tmpfs or o=size=64m".into(),
                }
                .into());
            }
        }
    }
    Ok(out)
}

/// What a container mounts of volume `v`.
fn source_of(volumes: &VolumeStore, v: &VolumeRecord) -> Result<VolumeSource, VolumeError> {
    Ok(match v.kind()? {
        VolumeKind::Dir => VolumeSource::Dir(volumes.data_of(&v.name)),
        VolumeKind::Tmpfs { options } => VolumeSource::Tmpfs(options),
        VolumeKind::Bind { device, recursive } => VolumeSource::Bind { device, recursive },
    })
}

/// `name` as a request gives it: labels as `KEY=VALUE`.
pub fn parse_volume_labels(labels: &[String]) -> Result<BTreeMap<String, String>, RequestError> {
    labels.iter().map(|l| parse_label(l)).collect()
}

/// The volumes `create` made, held with the lock until the container that
/// mounts them is recorded: no removal or prune can take them meanwhile.
pub(crate) struct ResolvedVolumes {
    store: Option<VolumeStore>,
    lock: Option<VolumeLock>,
    /// Made for this container: removed again if it is not made.
    created: Vec<String>,
}

impl ResolvedVolumes {
    /// The volumes made for the container.
    pub(crate) fn created(&self) -> &[String] {
        &self.created
    }

    /// The container was not made: the volumes made for it go (their
    /// directories are still the user's own, empty).
    pub(crate) fn undo(self) {
        if let (Some(store), Some(lock)) = (&self.store, &self.lock) {
            for name in &self.created {
                let _ = store.remove_locked(lock, name);
            }
        }
    }
}

impl Engine {
    /// The volumes of the store.
    pub fn volume_store(&self) -> Result<VolumeStore, EngineError> {
        self.paths.ensure()?;
        Ok(VolumeStore::open(&self.paths.root)?)
    }

    /// `volume create`: options and name checked, then the volume made.
    pub fn volume_create(&self, req: &VolumeCreateRequest) -> Result<VolumeRecord, EngineError> {
        if let Some(d) = req.driver.as_deref().filter(|d| *d != LOCAL_DRIVER) {
            return Err(VolumeError::BadDriver(d.to_string()).into());
        }
        let options = parse_options(&req.options)?;
        let store = self.volume_store()?;
        let lock = store.lock()?;
        match store.create_locked(
            &lock,
            NewVolume {
                name: req.name.clone(),
                labels: req.labels.clone(),
                options,
                anonymous: false,
            },
        ) {
            Err(VolumeError::Exists(name)) if req.ignore => Ok(store.get(&name)?),
            other => {
                let made = other?;
                self.emit(&Event::volume(
                    VolumeAction::Create,
                    &made.name,
                    &made.driver,
                ));
                Ok(made)
            }
        }
    }

    /// Volumes by name, each passing every filter.
    pub fn volume_list(&self, filters: &[VolumeFilter]) -> Result<Vec<VolumeRecord>, EngineError> {
        let store = self.volume_store()?;
        let mut list = store.list()?;
        if filters.is_empty() {
            return Ok(list);
        }
        let users = volume_use::volume_users(&self.containers()?)?;
        let used = |name: &str| users.iter().any(|(_, v)| v.iter().any(|n| n == name));
        list.retain(|v| filters.iter().all(|f| f.matches(v, used(&v.name))));
        Ok(list)
    }

    pub fn volume_exists(&self, name: &str) -> Result<bool, EngineError> {
        Ok(self.volume_store()?.exists(name))
    }

    /// The names of the containers that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>, EngineError> {
        self.volume_store()?.get(name)?;
        Ok(volume_use::users_of(&self.containers()?, name)?)
    }

    /// Volume `name` as `volume inspect` shows it (Docker's fields).
    pub fn volume_inspect(&self, name: &str) -> Result<serde_json::Value, EngineError> {
        let store = self.volume_store()?;
        let v = store.get(name)?;
        Ok(inspect_json(&store, &v))
    }

    /// Remove volume `name`. One a container uses is refused, naming
    /// them; with `force` those containers are removed first (stopped at
    /// once), as Podman does.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<(), EngineError> {
        let store = self.volume_store()?;
        store.get(name)?;
        let containers = self.containers()?;
        if force {
            let users = volume_use::users_of(&containers, name)?;
            let mut ids = Vec::new();
            for u in &users {
                let c = containers.find(u)?;
                if let Some(w) = self.kill_for_removal(&containers, &c)? {
                    self.warn(&w);
                }
                ids.push(c.id);
            }
            for r in self.remove(&containers, &ids)? {
                r?;
            }
        }
        let answer: Result<(), RemoveFailure> = self.in_userns(|_| {
            let lock = store.lock().map_err(other)?;
            store.remove_leftovers(&lock);
            let users = volume_use::users_of(&containers, name).map_err(other)?;
            if !users.is_empty() {
                return Err(RemoveFailure::InUse {
                    volume: name.to_string(),
                    containers: users,
                });
            }
            match store.remove_locked(&lock, name) {
                Ok(()) => Ok(()),
                Err(VolumeError::NotFound(n)) => Err(RemoveFailure::NotFound(n)),
                Err(e) => Err(other(e)),
            }
        })?;
        answer?;
        self.emit(&Event::volume(VolumeAction::Destroy, name, LOCAL_DRIVER));
        Ok(())
    }

    /// Remove every volume no container uses that passes the filters;
    /// what went and the bytes it held.
    pub fn volume_prune(&self, filters: &[VolumeFilter]) -> Result<VolumesPruned, EngineError> {
        if let Some(f) = filters
            .iter()
            .find(|f| !matches!(f, VolumeFilter::Label(..)))
        {
            return Err(RequestError::Invalid(format!(
                "volume prune filters by label only (label=KEY or label=KEY=VALUE), not {f:?}"
            ))
            .into());
        }
        self.prune_volumes_where(|v| filters.iter().all(|f| f.matches(v, false)))
    }

    /// Remove every volume no container uses for which `wanted` holds
    /// (`volume prune`, `system prune --volumes`).
    pub(crate) fn prune_volumes_where(
        &self,
        wanted: impl Fn(&VolumeRecord) -> bool,
    ) -> Result<VolumesPruned, EngineError> {
        let store = self.volume_store()?;
        let containers = self.containers()?;
        let answer: Result<VolumesPruned, Reported> = self.in_userns(|_| {
            let run = || -> Result<VolumesPruned, EngineError> {
                let lock = store.lock()?;
                store.remove_leftovers(&lock);
                let users = volume_use::volume_users(&containers)?;
                let mut pruned = VolumesPruned::default();
                for v in store.list()? {
                    let used = users.iter().any(|(_, n)| n.contains(&v.name));
                    if used || !wanted(&v) {
                        continue;
                    }
                    let size = store.size_of(&v.name);
                    store.remove_locked(&lock, &v.name)?;
                    pruned.names.push(v.name);
                    pruned.reclaimed += size;
                }
                Ok(pruned)
            };
            run().map_err(|e| e.report())
        })?;
        let pruned = answer?;
        for name in &pruned.names {
            self.emit(&Event::volume(VolumeAction::Destroy, name, LOCAL_DRIVER));
        }
        self.emit(&Event::volumes_pruned(pruned.reclaimed));
        Ok(pruned)
    }

    /// Every volume with its size and the containers that use it (what
    /// `system df` shows; `system prune --volumes` removes those no
    /// container uses with [`Engine::volume_prune`]).
    pub fn volume_usage(&self) -> Result<Vec<VolumeUsage>, EngineError> {
        let store = self.volume_store()?;
        let containers = self.containers()?;
        let answer: Result<Vec<VolumeUsage>, Reported> = self.in_userns(|_| {
            let run = || -> Result<Vec<VolumeUsage>, EngineError> {
                let users = volume_use::volume_users(&containers)?;
                let mut out = Vec::new();
                for v in store.list()? {
                    let size = match v.kind() {
                        Ok(VolumeKind::Dir) => store.size_of(&v.name),
                        _ => 0,
                    };
                    let users = users
                        .iter()
                        .filter(|(_, n)| n.contains(&v.name))
                        .map(|(c, _)| c.name.clone())
                        .collect();
                    out.push(VolumeUsage {
                        record: v,
                        size,
                        users,
                    });
                }
                Ok(out)
            };
            run().map_err(|e| e.report())
        })?;
        Ok(answer?)
    }

    /// Volume `name` and the directory its files are in (its own, or the
    /// host directory it binds); a tmpfs volume has none, refused with
    /// `tmpfs_why`.
    fn volume_files(
        &self,
        name: &str,
        tmpfs_why: &str,
    ) -> Result<(VolumeRecord, std::path::PathBuf), EngineError> {
        let store = self.volume_store()?;
        let v = store.get(name)?;
        match source_of(&store, &v)? {
            VolumeSource::Dir(d) => Ok((v, d)),
            VolumeSource::Bind { device, .. } => Ok((v, device)),
            VolumeSource::Tmpfs(_) => {
                Err(RequestError::Invalid(format!("volume {name} is a tmpfs: {tmpfs_why}")).into())
            }
        }
    }

    /// Write a tar of volume `name`'s files to `to` (which runs in a
    /// child process of its own, reading the stream).
    pub fn volume_export(&self, name: &str, to: super::copy::TarSink) -> Result<(), EngineError> {
        let (v, data) = self.volume_files(
            name,
            "its files live only while a container mounts it; copy them out with burrow cp",
        )?;
        let (read, write) = pipe()?;
        let sink = spawn(write.as_raw_fd(), move || to(&mut File::from(read)))?;
        let answer: Result<Result<(), Reported>, EngineError> = self.in_userns(|_| {
            let mut out =
                File::from(write.try_clone().map_err(|e| {
                    Reported::new(ErrorKind::Engine, format!("exporting volume: {e}"))
                })?);
            write_tar(&data, &mut out).map_err(|e| {
                Reported::new(
                    ErrorKind::Engine,
                    format!("exporting volume {}: {e}", v.name),
                )
            })
        });
        drop(write);
        let sunk = sink.wait();
        answer??;
        sunk.map_err(|e| EngineError::io(format!("writing the export of volume {name}"), e))
    }

    /// Unpack a tar stream (written by `from`, in a child process of its
    /// own) into volume `name`, owners as the archive says.
    pub fn volume_import(
        &self,
        name: &str,
        from: super::copy::TarSource,
    ) -> Result<(), EngineError> {
        let (v, data) = self.volume_files(
            name,
            "there is nothing to import into until a container mounts it; use burrow cp",
        )?;
        let (read, write) = pipe()?;
        let source = spawn(read.as_raw_fd(), move || from(&mut File::from(write)))?;
        let answer: Result<Result<(), Reported>, EngineError> = self.in_userns(|_| {
            let input = File::from(read.try_clone().map_err(|e| {
                Reported::new(ErrorKind::Engine, format!("importing into volume: {e}"))
            })?);
            let input = crate::storage::compression::decompress_any(input).map_err(|e| {
                Reported::new(
                    ErrorKind::Engine,
                    format!("importing into volume {}: {e}", v.name),
                )
            })?;
            let mut archive = tar::Archive::new(input);
            archive.set_preserve_permissions(true);
            archive.set_preserve_ownerships(true);
            archive.set_preserve_mtime(true);
            archive.set_unpack_xattrs(true);
            archive.set_overwrite(true);
            archive.unpack(&data).map_err(|e| {
                Reported::new(
                    ErrorKind::Engine,
                    format!("importing into volume {}: {e}", v.name),
                )
            })?;
            // The first mount copies nothing over what was imported.
            let _ = std::fs::remove_file(crate::storage::volumes::copy_up_marker(&data));
            Ok(())
        });
        drop(read);
        let sourced = source.wait();
        answer??;
        sourced.map_err(|e| EngineError::io(format!("reading the archive for volume {name}"), e))
    }

    /// `create`'s part: every volume mount of `mounts` resolved (the
    /// image's VOLUMEs and `--volumes-from` already added), named volumes
    /// that do not exist and anonymous ones made. The lock stays held
    /// until the container is recorded.
    pub(crate) fn resolve_volumes(
        &self,
        mounts: &mut [Mount],
    ) -> Result<ResolvedVolumes, EngineError> {
        let mut resolved = ResolvedVolumes {
            store: None,
            lock: None,
            created: Vec::new(),
        };
        if !mounts
            .iter()
            .any(|m| matches!(&m.kind, MountKind::Volume(v) if v.source.is_none()))
        {
            return Ok(resolved);
        }
        let store = self.volume_store()?;
        let lock = store.lock()?;
        let result = (|| -> Result<(), EngineError> {
            for m in mounts.iter_mut() {
                let MountKind::Volume(v) = &mut m.kind else {
                    continue;
                };
                if v.source.is_some() {
                    continue;
                }
                let existing = match &v.name {
                    Some(n) => match store.get(n) {
                        Ok(r) => Some(r),
                        Err(VolumeError::NotFound(_)) => None,
                        Err(e) => return Err(e.into()),
                    },
                    None => None,
                };
                let record = match existing {
                    Some(r) => r,
                    None => {
                        let r = store.create_locked(
                            &lock,
                            NewVolume {
                                name: v.name.clone(),
                                labels: v.labels.clone(),
                                options: v.options.clone(),
                                anonymous: v.anonymous,
                            },
                        )?;
                        resolved.created.push(r.name.clone());
                        r
                    }
                };
                v.source = Some(source_of(&store, &record)?);
                v.anonymous = record.anonymous;
                v.name = Some(record.name);
            }
            Ok(())
        })();
        resolved.store = Some(store);
        resolved.lock = Some(lock);
        if let Err(e) = result {
            resolved.undo();
            return Err(e);
        }
        Ok(resolved)
    }

    /// The mounts of `--volumes-from CTR[:ro|rw]`: the other container's
    /// binds and volumes at destinations `taken` does not have, read-only
    /// or not as the option says (else as they are there).
    pub(crate) fn volumes_from(
        &self,
        containers: &ContainerStore,
        from: &[(String, Option<bool>)],
        taken: &[Mount],
    ) -> Result<Vec<Mount>, EngineError> {
        let mut out: Vec<Mount> = Vec::new();
        for (query, readonly) in from {
            let c = containers
                .find(query)
                .map_err(|e| RequestError::Invalid(format!("--volumes-from {query}: {e}")))?;
            let spec = containers.load_spec(&c.id)?;
            for m in spec.mounts {
                if matches!(m.kind, MountKind::Tmpfs { .. })
                    || taken
                        .iter()
                        .chain(&out)
                        .any(|t| t.destination == m.destination)
                {
                    continue;
                }
                let mut m = m;
                if let Some(ro) = readonly {
                    m.readonly = *ro;
                }
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The image's `VOLUME`s as anonymous volume mounts, where the user
    /// mounts nothing.
    pub(crate) fn image_volumes(&self, paths: &[String], taken: &[Mount]) -> Vec<Mount> {
        let mut out: Vec<Mount> = Vec::new();
        for p in paths {
            match mounts::parse_volume(p, Path::new("/")) {
                Ok(m) if matches!(m.kind, MountKind::Volume(_)) => {
                    if !taken
                        .iter()
                        .chain(&out)
                        .any(|t| t.destination == m.destination)
                    {
                        out.push(m);
                    }
                }
                _ => self.warn(&format!(
                    "the image's VOLUME {p:?} is not an absolute path: no volume is made for it"
                )),
            }
        }
        out
    }
}

/// Docker's `volume inspect` shape.
pub fn inspect_json(store: &VolumeStore, v: &VolumeRecord) -> serde_json::Value {
    serde_json::json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": store.data_of(&v.name),
        "CreatedAt": v.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Labels": v.labels,
        "Scope": "local",
        "Options": v.options,
        "Anonymous": v.anonymous,
    })
}

/// A tar of the directory `dir`'s contents, owners and modes as they are.
fn write_tar(dir: &Path, out: &mut dyn Write) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", dir)?;
    b.into_inner()?.flush()
}

fn pipe() -> Result<(OwnedFd, OwnedFd), EngineError> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| EngineError::io("creating a pipe", e.into()))
}

/// A child process running `f`, its failure kept for [`Child::wait`].
struct Child(nix::unistd::Pid);

/// Fork a child that closes `other_end` (the pipe's end it does not use,
/// so that its reader sees the end) and runs `f`; `f`'s captures close
/// on this side when it returns.
fn spawn(other_end: RawFd, f: impl FnOnce() -> io::Result<()>) -> Result<Child, EngineError> {
    // SAFETY: burrow is single-threaded here; the child only runs `f` and
    // leaves with _exit.
    match unsafe { fork() }.map_err(|e| EngineError::io("forking", e.into()))? {
        ForkResult::Child => {
            // SAFETY: this process's copy of a descriptor it never uses.
            unsafe { libc::close(other_end) };
            let code = match f() {
                Ok(()) => 0,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("Error: {e}");
                    1
                }
            };
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(Child(child)),
    }
}

impl Child {
    fn wait(self) -> io::Result<()> {
        match nix::sys::wait::waitpid(self.0, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(status) => Err(io::Error::other(format!("it ended with {status:?}"))),
            Err(e) => Err(e.into()),
        }
    }
}
