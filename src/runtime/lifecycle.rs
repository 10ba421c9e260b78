//! A container's life after `create`: restart policies, and the monitor's
//! record keeping for detached containers (`run -d`, `start`).

use std::time::Duration;

use chrono::Utc;

use super::container::{ContainerRecord, ContainerStore, ProcessRef, Status};
use super::process::MonitorHooks;
pub use super::types::{BadRestartPolicy, RestartPolicy};
use crate::events::{ContainerAction, Event};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadSignal {
    #[error("invalid signal {0:?}: use a name such as TERM, KILL or USR1, or a number")]
    Name(String),
    #[error("invalid signal {0:?}: use a signal number from 1 to 30")]
    Number(String),
}

/// A signal by name (with or without SIG, any case) or number, 1 to 30.
pub fn parse_signal(s: &str) -> Result<i32, BadSignal> {
    let n = match s.parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let name = s.to_ascii_uppercase();
            let name = name.strip_prefix("SIG").unwrap_or(&name).to_string();
            nix::sys::signal::Signal::iterator()
                .find(|sig| sig.as_str().strip_prefix("SIG") == Some(name.as_str()))
                .map(|sig| sig as i32)
                .ok_or_else(|| BadSignal::Name(s.to_string()))?
        }
    };
    if !(1..=30).contains(&n) {
        return Err(BadSignal::Number(s.to_string()));
    }
    Ok(n)
}

/// Pause (SIGSTOP) or continue (SIGCONT) every process of the running
/// container `id` whose pid 1 is `pid1` on the host, and record it. There
/// is no delegated cgroup to freeze yet, so signals do it; the monitor is
/// outside the container and keeps running.
pub fn set_paused(
    containers: &ContainerStore,
    id: &str,
    pid1: i32,
    pause: bool,
) -> Result<(), PauseError> {
    use nix::sys::signal::Signal;
    let signal = if pause {
        Signal::SIGSTOP
    } else {
        Signal::SIGCONT
    };
    super::procs::signal_all(pid1, signal).map_err(PauseError::Signal)?;
    containers.modify(id, |r| {
        if r.status.is_live() {
            r.status = if pause {
                Status::Paused
            } else {
                Status::Running
            };
        }
    })?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("cannot signal the container's processes: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Record(#[from] super::container::ContainerError),
}

/// The wait before restart number `n` (0-based): 100 ms, doubling, at most
/// 10 s, so that a command that fails at once does not spin.
pub fn restart_delay(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(7))).min(Duration::from_secs(10))
}

/// The monitor's side of a detached container's record: running with its
/// pids on start, exited with its code at the end, restarted as its policy
/// says, removed at the end with `--rm`.
pub struct RecordKeeper<'a> {
    pub containers: &'a ContainerStore,
    pub id: String,
    /// `--rm`: remove the container when it exits for good.
    pub remove: bool,
    /// Where the container's starts and ends are recorded.
    pub events: crate::events::Log,
}

impl RecordKeeper<'_> {
    /// Record what happened to `record`; the container's life goes on
    /// whether or not the log can be written (nobody listens to the
    /// monitor's stderr).
    fn emit(
        &self,
        make: impl Fn(&crate::events::ContainerActor) -> Event,
        record: &ContainerRecord,
    ) {
        let _ = self.events.append(&make(&record.into()));
    }
}

impl MonitorHooks for RecordKeeper<'_> {
    fn started(&mut self, container_pid: i32) {
        let monitor = ProcessRef::current();
        let r = self.containers.modify(&self.id, |r| {
            r.status = Status::Running;
            r.started = Some(Utc::now());
            r.finished = None;
            r.exit_code = None;
            r.monitor = monitor;
            r.pid = Some(container_pid);
        });
        match r {
            Ok(record) => {
                self.emit(|c| Event::container(ContainerAction::Init, c), &record);
                self.emit(|c| Event::container(ContainerAction::Start, c), &record);
            }
            Err(e) => eprintln!("WARN: {e}"),
        }
    }

    fn exited(&mut self, code: i32, ran: bool) -> Option<Duration> {
        let mut again = None;
        // `rm -f` takes the removal over: it clears the record's flag.
        let mut remove = self.remove;
        // Before the record says so: whoever waits for the exit (`stop`)
        // records what follows after the death.
        if let Ok(record) = self.containers.get(&self.id) {
            self.emit(|c| Event::container_died(c, code), &record);
        }
        let result = self.containers.modify(&self.id, |r| {
            remove &= r.auto_remove;
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished = Some(Utc::now());
            r.pid = None;
            // `--health-on-failure=restart` killed it to start it again.
            let health_restart = r
                .health
                .as_mut()
                .is_some_and(|h| std::mem::take(&mut h.restart_pending));
            let restarts = r.restart.restarts(code, r.restart_count, r.stopped_by_user)
                || (health_restart && !r.stopped_by_user);
            if ran && restarts {
                again = Some(restart_delay(r.restart_count));
                r.restart_count += 1;
                r.status = Status::Restarting;
                // The monitor stays, waiting to start it again.
            } else {
                r.monitor = None;
            }
        });
        if result.is_err() {
            // Removed meanwhile (`rm -f`): nothing left to restart.
            return None;
        }
        if again.is_none()
            && remove
            && let Ok(record) = result
        {
            // `--rm` takes the container's anonymous volumes with it.
            if let Ok(volumes) =
                super::volume_use::remove_with_anonymous_volumes(self.containers, &self.id)
            {
                self.emit(|c| Event::container(ContainerAction::Destroy, c), &record);
                for v in volumes {
                    let _ = self.events.append(&Event::volume(
                        crate::events::VolumeAction::Destroy,
                        &v,
                        "local",
                    ));
                }
            }
        }
        again
    }

    fn restart_wanted(&mut self) -> bool {
        match self.containers.get(&self.id) {
            Ok(r) if !r.stopped_by_user => true,
            Ok(_) => {
                let _ = self.containers.modify(&self.id, |r| r.monitor = None);
                false
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print_as_docker() {
        for (s, p) in [
            ("no", RestartPolicy::No),
            ("on-failure", RestartPolicy::OnFailure { max: 0 }),
            ("on-failure:3", RestartPolicy::OnFailure { max: 3 }),
            ("always", RestartPolicy::Always),
            ("unless-stopped", RestartPolicy::UnlessStopped),
        ] {
            assert_eq!(s.parse::<RestartPolicy>().unwrap(), p);
            assert_eq!(p.to_string(), s);
        }
        for bad in ["sometimes", "always:2", "on-failure:x", "on-failure:-1"] {
            let e = bad.parse::<RestartPolicy>().unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("unless-stopped"), "{e}");
        }
    }

    #[test]
    fn restart_decisions() {
        let f2 = RestartPolicy::OnFailure { max: 2 };
        assert!(f2.restarts(1, 0, false));
        assert!(f2.restarts(1, 1, false));
        assert!(!f2.restarts(1, 2, false));
        assert!(!f2.restarts(0, 0, false));
        assert!(RestartPolicy::OnFailure { max: 0 }.restarts(1, 1000, false));
        assert!(RestartPolicy::Always.restarts(0, 5, false));
        assert!(!RestartPolicy::Always.restarts(0, 5, true));
        assert!(!RestartPolicy::UnlessStopped.restarts(137, 0, true));
        assert!(!RestartPolicy::No.restarts(1, 0, false));
    }

    #[test]
    fn delays_grow_and_stop_growing() {
        assert_eq!(restart_delay(0), Duration::from_millis(100));
        assert_eq!(restart_delay(1), Duration::from_millis(200));
        assert_eq!(restart_delay(6), Duration::from_millis(6400));
        assert_eq!(restart_delay(7), Duration::from_secs(10));
        assert_eq!(restart_delay(1000), Duration::from_secs(10));
    }
}
