//! Containers once made: stop, kill, remove, wait, list and inspect.

use std::time::{Duration, Instant};

use super::Engine;
use super::error::{EngineError, Reported, RequestError};
use crate::events::{ContainerAction, Event};
use crate::runtime::exec::{ExecContext, ExecRequest, exec_in};
use crate::runtime::lifecycle::set_paused;
use crate::runtime::members::Members;
use crate::runtime::process::signal_container;
use crate::runtime::tty;
use crate::runtime::{ContainerError, ContainerRecord, ContainerStore, Status};

/// One condition of a container listing (`ps --filter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerFilter {
    Status(Status),
    /// Part of the name.
    Name(String),
    /// Start of the ID.
    Id(String),
    /// The image: as named, its ID or ID prefix, or its name without tag.
    Ancestor(String),
    Exited(i32),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label(String, Option<String>),
    /// `health=starting|healthy|unhealthy|none` (None: no healthcheck).
    Health(Option<crate::runtime::health::HealthStatus>),
}

impl std::str::FromStr for ContainerFilter {
    type Err = RequestError;

    /// `KEY=VALUE`, Docker's filter keys.
    fn from_str(f: &str) -> Result<ContainerFilter, RequestError> {
        let invalid = |m: String| Err(RequestError::Invalid(m));
        let Some((key, value)) = f.split_once('=') else {
            return invalid(format!(
                "invalid filter {f:?}: use KEY=VALUE, e.g. status=exited"
            ));
        };
        Ok(match key {
            "status" => ContainerFilter::Status(match value {
                "created" => Status::Created,
                "running" => Status::Running,
                "paused" => Status::Paused,
                "restarting" => Status::Restarting,
                "exited" => Status::Exited,
                other => {
                    return invalid(format!(
                        "invalid status filter {other:?}: use created, running, paused, restarting or exited"
                    ));
                }
            }),
            "label" => match value.split_once('=') {
                Some((k, v)) => ContainerFilter::Label(k.to_string(), Some(v.to_string())),
                None => ContainerFilter::Label(value.to_string(), None),
            },
            "name" => ContainerFilter::Name(value.to_string()),
            "id" => ContainerFilter::Id(value.to_string()),
            "ancestor" => ContainerFilter::Ancestor(value.to_string()),
            "exited" => match value.parse() {
                Ok(code) => ContainerFilter::Exited(code),
                Err(_) => {
                    return invalid(format!(
                        "invalid exited filter {value:?}: use an exit code, e.g. exited=0"
                    ));
                }
            },
            "health" => {
                use crate::runtime::health::HealthStatus;
                ContainerFilter::Health(match value {
                    "starting" => Some(HealthStatus::Starting),
                    "healthy" => Some(HealthStatus::Healthy),
                    "unhealthy" => Some(HealthStatus::Unhealthy),
                    "none" => None,
                    other => {
                        return invalid(format!(
                            "invalid health filter {other:?}: use starting, healthy, unhealthy or none"
                        ));
                    }
                })
            }
            other => {
                return invalid(format!(
                    "unknown filter {other:?}: use status, name, id, ancestor, label, exited or health"
                ));
            }
        })
    }
}

impl ContainerFilter {
    /// Whether container `c`, whose status is `status` now, passes.
    pub fn matches(&self, c: &ContainerRecord, status: Status) -> bool {
        match self {
            ContainerFilter::Status(s) => status == *s,
            ContainerFilter::Name(n) => c.name.contains(n.as_str()),
            ContainerFilter::Id(p) => c.id.starts_with(p.as_str()),
            ContainerFilter::Ancestor(i) => {
                c.image == *i
                    || c.image_id
                        .hex()
                        .starts_with(i.trim_start_matches("sha256:"))
                    || c.image.rsplit_once(':').map(|(n, _)| n) == Some(i.as_str())
            }
            ContainerFilter::Exited(code) => status == Status::Exited && c.exit_code == Some(*code),
            ContainerFilter::Label(k, v) => match (c.labels.get(k), v) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            },
            ContainerFilter::Health(h) => crate::runtime::health::current_status(c) == *h,
        }
    }
}

/// How `stop` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// It was not running.
    NotRunning,
    /// It stopped after the stop signal.
    Stopped,
    /// It was killed after the timeout.
    Killed,
}

/// The pid of the monitor of a live container.
fn running_monitor(c: &ContainerRecord) -> Option<i32> {
    c.current_status()
        .is_live()
        .then(|| c.monitor.as_ref().map(|m| m.pid))
        .flatten()
}

/// Wait until the container is no longer running; false on timeout.
fn wait_stopped(containers: &ContainerStore, id: &str, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        match containers.find(id) {
            Ok(c) if c.current_status().is_live() => {}
            _ => return true,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Engine {
    /// Containers, newest first: all of them with `all`, else the live
    /// ones; each with its status now, and passing every filter.
    pub fn list(
        &self,
        containers: &ContainerStore,
        all: bool,
        filters: &[ContainerFilter],
    ) -> Result<Vec<(ContainerRecord, Status)>, EngineError> {
        let mut list: Vec<(ContainerRecord, Status)> = containers
            .list()?
            .into_iter()
            .map(|c| {
                let s = c.current_status();
                (c, s)
            })
            .collect();
        list.sort_by(|a, b| b.0.created.cmp(&a.0.created).then(a.0.id.cmp(&b.0.id)));
        list.retain(|(c, s)| (all || s.is_live()) && filters.iter().all(|f| f.matches(c, *s)));
        Ok(list)
    }

    /// The container `query` names, as `inspect` shows it (Docker's
    /// fields).
    pub fn inspect(
        &self,
        containers: &ContainerStore,
        query: &str,
    ) -> Result<serde_json::Value, EngineError> {
        let c = containers.find(query)?;
        let spec = match containers.load_spec(&c.id) {
            Ok(s) => Some(s),
            Err(ContainerError::NoSpec(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(crate::runtime::inspect::container_json(
            &c,
            spec.as_ref(),
            &containers.dir_of(&c.id),
        ))
    }

    /// Run `req` in running container `query` beside its process, confined
    /// as it is; the command's exit code. With `raw_terminal` the caller's
    /// terminal is in raw mode meanwhile.
    pub fn exec(
        &self,
        containers: &ContainerStore,
        query: &str,
        req: &ExecRequest,
        raw_terminal: bool,
    ) -> Result<i32, EngineError> {
        if let Some(u) = &req.user {
            crate::runtime::user::check_user_spec(u).map_err(RequestError::from)?;
        }
        let c = containers.find(query)?;
        let refused = |m: String| Err(ContainerError::Refused(m).into());
        if c.current_status() == Status::Paused {
            return refused(format!(
                "container {} is paused: continue it with burrow unpause {}, then exec",
                c.name, c.name
            ));
        }
        let (Status::Running, Some(pid)) = (c.current_status(), c.pid) else {
            return refused(format!(
                "container {} is not running: start one with burrow run -d, then exec into it",
                c.name
            ));
        };
        let exec = ExecContext::of_spec(&containers.load_spec(&c.id)?);
        // Prepared here, before joining the container: a profile is a host
        // file.
        let filter = exec
            .confinement(&self.paths.runroot.join("seccomp"))?
            .seccomp;
        let raw = if raw_terminal {
            tty::RawMode::enter()
                .map_err(|e| EngineError::io("putting the terminal in raw mode", e))?
        } else {
            None
        };
        let actor = (&c).into();
        // Docker's exec IDs: 64 hex digits, like a container's.
        let exec_id = crate::ids::new_id().unwrap_or_default();
        self.emit(&Event::exec_created(&actor, &exec_id, &req.args));
        self.emit(&Event::exec_started(&actor, &exec_id, &req.args));
        // exec_in joins the container's mount namespace, where the log's
        // path leads nowhere: its directory is held open.
        let log = self.events().pin();
        let ran = exec_in(pid, &exec, filter.as_ref(), req);
        drop(raw);
        let code = ran.map_err(|e| Reported::of_run(&e))?;
        // A detached exec's end is nobody's to see.
        if !req.detach {
            let event = Event::exec_died(&actor, &exec_id, code);
            if let Err(e) = log.and_then(|l| l.append(&event)) {
                self.warn(&format!("cannot record the exec_die event: {e}"));
            }
        }
        Ok(code)
    }

    /// The bytes each container of `ids` wrote (its upper directory, or
    /// its copied root with the vfs driver), counted in the user namespace
    /// where every file is readable; None where its directory is gone.
    pub fn container_sizes(
        &self,
        containers: &ContainerStore,
        ids: &[String],
    ) -> Result<Vec<Option<u64>>, EngineError> {
        self.in_userns(|_| {
            ids.iter()
                .map(|id| {
                    let dir = containers.dir_of(id);
                    let upper = dir.join("upper");
                    let root = if upper.exists() {
                        upper
                    } else {
                        dir.join("vfs")
                    };
                    root.exists()
                        .then(|| crate::storage::volumes::tree_size(&root))
                })
                .collect()
        })
    }

    /// Stop container `c`: its stop signal (the image's StopSignal, else
    /// SIGTERM), then SIGKILL after `time` seconds (else its
    /// --stop-timeout, else 10). Stopping a stopped container is no error,
    /// as in Docker; no restart policy brings it back.
    pub fn stop(
        &self,
        containers: &ContainerStore,
        c: &ContainerRecord,
        time: Option<u64>,
    ) -> StopOutcome {
        let _ = containers.modify(&c.id, |r| r.stopped_by_user = true);
        // A paused container's processes would not see the signal until
        // continued: continue them first, as Docker does.
        if let (Status::Paused, Some(pid1)) = (c.current_status(), c.pid) {
            let _ = set_paused(containers, &c.id, pid1, false);
        }
        let Some(pid) = running_monitor(c) else {
            return StopOutcome::NotRunning;
        };
        let time = time.unwrap_or_else(|| u64::from(c.stop_timeout.unwrap_or(10)));
        let actor = c.into();
        // Docker's sequence: kill (the signal), die (from the monitor),
        // stop.
        let signal = c.stop_signal.unwrap_or(libc::SIGTERM);
        if signal_container(pid, signal).is_ok() {
            self.emit(&Event::container_killed(&actor, signal));
        }
        if wait_stopped(containers, &c.id, Some(Duration::from_secs(time))) {
            self.emit(&Event::container(ContainerAction::Stop, &actor));
            return StopOutcome::Stopped;
        }
        if signal_container(pid, libc::SIGKILL).is_ok() {
            self.emit(&Event::container_killed(&actor, libc::SIGKILL));
        }
        wait_stopped(containers, &c.id, Some(Duration::from_secs(10)));
        self.emit(&Event::container(ContainerAction::Stop, &actor));
        StopOutcome::Killed
    }

    /// Send `signal` to container `c`'s process. Unlike stop, kill leaves
    /// the restart policy in force (as Podman).
    pub fn kill(&self, c: &ContainerRecord, signal: i32) -> Result<(), EngineError> {
        let Some(pid) = running_monitor(c) else {
            return Err(
                ContainerError::Refused(format!("container {} is not running", c.name)).into(),
            );
        };
        signal_container(pid, signal)
            .map_err(|e| EngineError::io(format!("signalling container {}", c.name), e))?;
        self.emit(&Event::container_killed(&c.into(), signal));
        Ok(())
    }

    /// Give container `c` the name `name` (free, and valid as a name).
    pub fn rename(
        &self,
        containers: &ContainerStore,
        c: &ContainerRecord,
        name: &str,
    ) -> Result<ContainerRecord, EngineError> {
        let renamed = containers.rename(&c.id, name)?;
        self.emit(&Event::container_renamed(&(&renamed).into(), &c.name));
        Ok(renamed)
    }

    /// Wait until container `c` has exited; its exit code, None when its
    /// end was never recorded.
    pub fn wait(&self, containers: &ContainerStore, c: &ContainerRecord) -> Option<i32> {
        wait_stopped(containers, &c.id, None);
        containers.find(&c.id).ok().and_then(|c| c.exit_code)
    }

    /// Make running container `c` removable: its monitor kills it with
    /// SIGKILL and ends, unmounting its root (told not to restart it nor
    /// remove it itself); a monitor that does not end within 10 seconds is
    /// killed, and with it the container's fuse-overlayfs daemon, which
    /// would otherwise keep its mount (and itself) alive. Then its names
    /// leave the other network members' /etc/hosts (a killed monitor could
    /// not). Returns a warning when the last part failed.
    pub fn kill_for_removal(
        &self,
        containers: &ContainerStore,
        c: &ContainerRecord,
    ) -> Result<Option<String>, EngineError> {
        let Some(m) = c.monitor.as_ref().filter(|m| m.alive()) else {
            return Ok(None);
        };
        let _ = containers.modify(&c.id, |r| {
            r.stopped_by_user = true;
            r.auto_remove = false;
        });
        let ended = |within: Duration| {
            let deadline = Instant::now() + within;
            while m.alive() {
                if Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            true
        };
        let asked = signal_container(m.pid, libc::SIGKILL).is_ok();
        if !(asked && ended(Duration::from_secs(10))) {
            // SAFETY: kill(2) of a process whose identity was just checked.
            if m.alive() && unsafe { libc::kill(m.pid, libc::SIGKILL) } != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ESRCH) {
                    return Err(EngineError::io(
                        format!("cannot kill container {}", c.name),
                        err,
                    ));
                }
            }
            if !ended(Duration::from_secs(10)) {
                return Err(ContainerError::Refused(format!(
                    "container {} did not stop within 10 seconds of SIGKILL",
                    c.name
                ))
                .into());
            }
            kill_fuse_daemons(&containers.dir_of(&c.id).join("rootfs"));
        }
        if c.networks.is_empty() {
            return Ok(None);
        }
        let members = Members::of_container(&containers.dir_of(&c.id));
        Ok(members.leave(&c.id).err().map(|e| {
            format!(
                "updating the /etc/hosts of container {}'s network members: {e}",
                c.name
            )
        }))
    }

    /// Remove stopped containers `ids` (their upper directories hold files
    /// of subordinate ids, so this happens in the user namespace); each
    /// one's result, in order.
    pub fn remove(
        &self,
        containers: &ContainerStore,
        ids: &[String],
    ) -> Result<Vec<Result<(), EngineError>>, EngineError> {
        self.remove_with_volumes(containers, ids, false)
    }

    /// Like [`Engine::remove`]; with `volumes` (`rm -v`) each container's
    /// anonymous volumes go too, unless another container uses them.
    /// Named volumes stay.
    pub fn remove_with_volumes(
        &self,
        containers: &ContainerStore,
        ids: &[String],
        volumes: bool,
    ) -> Result<Vec<Result<(), EngineError>>, EngineError> {
        let records: Vec<Option<ContainerRecord>> =
            ids.iter().map(|id| containers.get(id).ok()).collect();
        // Each container's removal, with the anonymous volumes that went
        // with it.
        let results: Vec<Result<Vec<String>, Reported>> = self.in_userns(|_| {
            ids.iter()
                .map(|id| {
                    if volumes {
                        return crate::runtime::volume_use::remove_with_anonymous_volumes(
                            containers, id,
                        )
                        .map_err(|e| super::volume::use_error(e).report());
                    }
                    containers
                        .remove(id)
                        .map(|()| Vec::new())
                        .map_err(|e| EngineError::from(e).report())
                })
                .collect()
        })?;
        for (record, result) in records.iter().zip(&results) {
            if let (Some(r), Ok(volumes)) = (record, result) {
                self.emit(&Event::container(ContainerAction::Destroy, &r.into()));
                for v in volumes {
                    self.emit(&Event::volume(
                        crate::events::VolumeAction::Destroy,
                        v,
                        "local",
                    ));
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.map(|_| ()).map_err(EngineError::from))
            .collect())
    }
}

/// SIGKILL the fuse-overlayfs daemons mounting `rootfs`: a killed
/// monitor cannot unmount it, and the daemon keeps alive the mount
/// namespace that holds its own mount.
fn kill_fuse_daemons(rootfs: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    let target = rootfs.as_os_str().as_encoded_bytes();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|b| *b == 0);
        let program = args.next().unwrap_or_default();
        if program.ends_with(b"fuse-overlayfs") && args.any(|a| a == target) {
            // SAFETY: kill(2) of the user's own daemon for this root.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_hard_links_once() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/a"), [0u8; 1000]).unwrap();
        std::fs::hard_link(t.path().join("d/a"), t.path().join("b")).unwrap();
        std::fs::write(t.path().join("c"), [0u8; 24]).unwrap();
        assert_eq!(crate::storage::volumes::tree_size(t.path()), 1024);
    }

    #[test]
    fn filters_parse_with_clear_errors() {
        let p = |s: &str| s.parse::<ContainerFilter>();
        assert_eq!(
            p("status=exited").unwrap(),
            ContainerFilter::Status(Status::Exited)
        );
        assert_eq!(p("exited=3").unwrap(), ContainerFilter::Exited(3));
        assert_eq!(
            p("label=a=b").unwrap(),
            ContainerFilter::Label("a".into(), Some("b".into()))
        );
        assert_eq!(
            p("label=a").unwrap(),
            ContainerFilter::Label("a".into(), None)
        );
        for (bad, needle) in [
            ("status", "use KEY=VALUE"),
            (
                "status=zombie",
                "use created, running, paused, restarting or exited",
            ),
            ("exited=x", "use an exit code"),
            ("volume=a", "unknown filter \"volume\""),
        ] {
            let e = p(bad).err().unwrap().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
