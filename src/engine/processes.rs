//! A container's processes and files as they are now: pause and unpause,
//! top, diff; and the prune of stopped containers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, ErrorKind, Reported, RequestError};
use crate::events::{ContainerAction, Event};
use crate::runtime::diff::{Change, changes};
use crate::runtime::lifecycle::set_paused;
use crate::runtime::procs::{self, ProcInfo};
use crate::runtime::rootfs::Driver;
use crate::runtime::{ContainerError, ContainerRecord, ContainerStore, Status};

/// A running container's processes, and the names its /etc/passwd and
/// /etc/group give to ids.
#[derive(Debug, Clone)]
pub struct Processes {
    pub processes: Vec<ProcInfo>,
    pub users: Vec<(u32, String)>,
    pub groups: Vec<(u32, String)>,
}

impl Processes {
    /// The name of user `uid`, else the number.
    pub fn user(&self, uid: u32) -> String {
        name_of(&self.users, uid)
    }

    /// The name of group `gid`, else the number.
    pub fn group(&self, gid: u32) -> String {
        name_of(&self.groups, gid)
    }
}

fn name_of(names: &[(u32, String)], id: u32) -> String {
    names
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| id.to_string(), |(_, n)| n.clone())
}

/// Why a container's processes could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the processes of container {container}")]
pub struct TopError {
    container: String,
    #[source]
    source: std::io::Error,
}

/// What pruning one stopped container did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Pruned {
    /// Removed (its ID).
    Removed(String),
    /// Started meanwhile: it stays.
    Kept(String),
    /// Removing it failed.
    Failed(Reported),
}

fn refused(message: String) -> EngineError {
    ContainerError::Refused(message).into()
}

impl Engine {
    /// Pause container `query`'s processes.
    pub fn pause(&self, containers: &ContainerStore, query: &str) -> Result<(), EngineError> {
        self.set_paused(containers, query, true)
    }

    /// Continue container `query`'s paused processes.
    pub fn unpause(&self, containers: &ContainerStore, query: &str) -> Result<(), EngineError> {
        self.set_paused(containers, query, false)
    }

    fn set_paused(
        &self,
        containers: &ContainerStore,
        query: &str,
        pause: bool,
    ) -> Result<(), EngineError> {
        let c = containers.find(query)?;
        let pid = match (c.current_status(), c.pid, pause) {
            (Status::Running, Some(pid), true) | (Status::Paused, Some(pid), false) => pid,
            (Status::Paused, _, true) => {
                return Err(refused(format!("container {} is already paused", c.name)));
            }
            (Status::Running, _, false) => {
                return Err(refused(format!("container {} is not paused", c.name)));
            }
            _ => {
                return Err(refused(format!(
                    "container {} is not running: only running containers can be paused",
                    c.name
                )));
            }
        };
        set_paused(containers, &c.id, pid, pause)?;
        let action = if pause {
            ContainerAction::Pause
        } else {
            ContainerAction::Unpause
        };
        self.emit(&Event::container(action, &(&c).into()));
        Ok(())
    }

    /// Running container `c`'s processes.
    pub fn top(&self, c: &ContainerRecord) -> Result<Processes, EngineError> {
        let pid1 = match (c.current_status(), c.pid) {
            (Status::Running | Status::Paused, Some(pid)) => pid,
            _ => {
                return Err(refused(format!(
                    "container {} is not running: top shows the processes of running containers",
                    c.name
                )));
            }
        };
        let processes = procs::container_processes(pid1).map_err(|source| TopError {
            container: c.name.clone(),
            source,
        })?;
        let root = PathBuf::from(format!("/proc/{pid1}/root"));
        Ok(Processes {
            processes,
            users: procs::names_by_id(&root.join("etc/passwd")),
            groups: procs::names_by_id(&root.join("etc/group")),
        })
    }

    /// The files container `c` added, changed or deleted (read from its
    /// overlay upper directory, in its user namespace).
    pub fn diff(
        &self,
        containers: &ContainerStore,
        c: &ContainerRecord,
    ) -> Result<Vec<Change>, EngineError> {
        let spec = containers.load_spec(&c.id)?;
        if spec.driver == Driver::Vfs {
            return Err(RequestError::Conflict(format!(
                "container {} uses the vfs driver, which keeps no record of changes: diff needs overlay or fuse-overlayfs",
                c.name
            ))
            .into());
        }
        let userns = self.namespace_for(spec.keep_id)?;
        let answer: Result<Vec<Change>, Reported> = self.in_namespace(&userns, None, |_| {
            let targets: Vec<String> = spec.mounts.iter().map(|m| m.destination.clone()).collect();
            match changes(&spec.upper(), &spec.lowers, &targets) {
                Ok(l) => Ok(l),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(Reported::new(
                    ErrorKind::Engine,
                    format!("reading the changes of container {}: {e}", c.name),
                )),
            }
        })?;
        Ok(answer?)
    }

    /// Remove every stopped container (one started meanwhile stays);
    /// what happened to each.
    pub fn prune_containers(
        &self,
        containers: &ContainerStore,
    ) -> Result<Vec<Pruned>, EngineError> {
        let records: Vec<ContainerRecord> = containers
            .list()?
            .into_iter()
            .filter(|c| matches!(c.current_status(), Status::Exited | Status::Created))
            .collect();
        let stopped: Vec<String> = records.iter().map(|c| c.id.clone()).collect();
        if stopped.is_empty() {
            return Ok(Vec::new());
        }
        // Upper directories hold files of subordinate ids.
        let pruned: Vec<Pruned> = self.in_userns(|_| {
            stopped
                .into_iter()
                .map(|id| {
                    let still_stopped = |c: &ContainerRecord| !c.current_status().is_live();
                    match containers.remove_if(&id, still_stopped) {
                        Ok(true) => Pruned::Removed(id),
                        Ok(false) => Pruned::Kept(id),
                        Err(e) => Pruned::Failed(Reported::new(
                            ErrorKind::Engine,
                            format!("removing container {id}: {e}"),
                        )),
                    }
                })
                .collect()
        })?;
        for p in &pruned {
            if let Pruned::Removed(id) = p
                && let Some(r) = records.iter().find(|r| r.id == *id)
            {
                self.emit(&Event::container(ContainerAction::Destroy, &r.into()));
            }
        }
        Ok(pruned)
    }
}
