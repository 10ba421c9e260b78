//! The monitor's health checker: a process forked by the container's
//! monitor once the container's command runs, that runs the checks on
//! schedule, records each result, and acts on an unhealthy container
//! (`--health-on-failure`). The monitor kills it when the container ends.
//!
//! Why a forked process, not a timer in the monitor's wait loop: a check
//! joins the container's namespaces (so it needs a process of its own
//! anyway) and may take up to its timeout; done in the monitor's loop it
//! would hold up the container's output, attach clients and signals
//! meanwhile, and the monitor's loop is a foreground `run`'s relay as
//! well as a detached container's hub. A separate process keeps both
//! loops as they are, needs no threads (burrow has none), and sleeps
//! between checks at no cost; a container without a check has none.

use std::os::fd::AsRawFd;
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{SigHandler, SigSet, Signal};
use nix::unistd::{ForkResult, Pid, fork};

use super::probe::{self, Target};
use super::{Health, HealthConfig, HealthStatus, OnFailure, save_result};
use crate::runtime::container::{ContainerRecord, ContainerStore, Status};
use crate::runtime::exec::ExecContext;
use crate::runtime::process::signal_container;
use crate::runtime::spec::ContainerSpec;

/// A running checker, owned by the monitor.
pub struct Checker {
    pid: Pid,
}

impl Checker {
    /// In the monitor, once the container's command runs (each start):
    /// the record's health is starting again, and the checker forked.
    /// None without a check, or with `--health-interval=disable`.
    pub fn start(spec: &ContainerSpec, container_pid: i32) -> Option<Checker> {
        let cfg = spec.health.as_ref()?;
        let store = ContainerStore::of_container_dir(&spec.dir);
        // Before the caller hears that the container runs: `ps` right
        // after `run -d` shows it starting.
        if let Err(e) = store.modify(&spec.id, |r| {
            r.health = Some(Health::restarted(r.health.take()));
        }) {
            eprintln!("WARN: recording the container's health: {e}");
        }
        if cfg.no_schedule {
            return None;
        }
        let monitor = nix::unistd::getpid();
        // SAFETY: the monitor is single-threaded.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => checker_main(spec, cfg, container_pid, monitor),
            Ok(ForkResult::Parent { child }) => Some(Checker { pid: child }),
            Err(e) => {
                eprintln!("WARN: cannot start the container's health checks: {e}");
                None
            }
        }
    }

    /// End the checker (the container is gone).
    pub fn stop(self) {
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The checker: the monitor's copy, left bare (no inherited descriptors,
/// handlers or stdio), then one check per interval until killed.
fn checker_main(spec: &ContainerSpec, cfg: &HealthConfig, container_pid: i32, monitor: Pid) -> ! {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid() != monitor {
        // SAFETY: leave without the monitor's destructors.
        unsafe { libc::_exit(0) };
    }
    let _ = nix::sys::prctl::set_name(c"burrow-health");
    bare_process();
    let store = ContainerStore::of_container_dir(&spec.dir);
    let exec = ExecContext::of_spec(spec);
    let target = Target {
        pid: container_pid,
        exec: &exec,
        filter: spec.confine.seccomp.as_ref(),
    };
    loop {
        let Ok(rec) = store.get(&spec.id) else {
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        };
        std::thread::sleep(next_wait(&rec, cfg));
        let Ok(rec) = store.get(&spec.id) else {
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        };
        // A paused container's processes cannot answer; Docker does not
        // count that as a failure either.
        if rec.status == Status::Paused {
            continue;
        }
        let entry = probe::run(&target, cfg);
        let failed = entry.exit_code != 0;
        match save_result(&store, &spec.id, cfg, entry) {
            Ok((rec, transition)) => {
                if transition.from != transition.to
                    && let Some(runroot) = &spec.events_runroot
                {
                    let _ = crate::events::Log::at(runroot).append(
                        &crate::events::Event::container_health_status(
                            &(&rec).into(),
                            transition.to.as_str(),
                        ),
                    );
                }
                if failed && rec.health.as_ref().map(|h| h.status) == Some(HealthStatus::Unhealthy)
                {
                    act_on_failure(&store, &rec, cfg.on_failure);
                }
            }
            // Removed meanwhile.
            Err(_) => unsafe { libc::_exit(0) },
        }
    }
}

/// The wait before the next check: the start interval while starting
/// within the start period, else the interval.
fn next_wait(rec: &ContainerRecord, cfg: &HealthConfig) -> Duration {
    let starting = rec
        .health
        .as_ref()
        .is_none_or(|h| h.status == HealthStatus::Starting);
    let since_start = rec
        .started
        .and_then(|s| (Utc::now() - s).to_std().ok())
        .unwrap_or_default();
    if starting && since_start < cfg.start_period() {
        cfg.start_interval()
    } else {
        cfg.interval()
    }
}

/// Default signal handlers and mask, stdio on /dev/null, and no other
/// descriptor: the monitor's handlers would pass signals on to the
/// container, and a copy of its pipes would keep the container's input
/// open and its hub from seeing the output end.
fn bare_process() {
    for n in 1..=libc::SIGRTMAX() {
        if n == libc::SIGKILL || n == libc::SIGSTOP {
            continue;
        }
        if let Ok(sig) = Signal::try_from(n) {
            // SAFETY: restoring the default disposition.
            let _ = unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) };
        } else {
            // SAFETY: as above, for real-time signals nix does not name.
            unsafe { libc::signal(n, libc::SIG_DFL) };
        }
    }
    let _ = SigSet::empty().thread_set_mask();
    if let Ok(null) = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR,
        nix::sys::stat::Mode::empty(),
    ) {
        // SAFETY: dup2 onto stdio.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
    // SAFETY: close_range(2) on every descriptor past stdio.
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if closed != 0 {
        // Before Linux 5.9: one by one.
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd > 2)
                .collect();
            for fd in fds {
                // SAFETY: descriptors of this process nothing here uses.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// `--health-on-failure`: what becomes of container `rec`, now unhealthy.
/// Through its monitor (the only one that may signal it): `kill` with
/// SIGKILL (its restart policy applies), `restart` the same with the
/// monitor told to start it again, `stop` as `burrow stop` does (no
/// policy restarts it).
pub fn act_on_failure(store: &ContainerStore, rec: &ContainerRecord, action: OnFailure) {
    let Some(monitor) = rec
        .monitor
        .as_ref()
        .filter(|_| rec.current_status().is_live())
        .map(|m| m.pid)
    else {
        return;
    };
    match action {
        OnFailure::None => {}
        OnFailure::Kill => {
            let _ = signal_container(monitor, libc::SIGKILL);
        }
        OnFailure::Restart => {
            let _ = store.modify(&rec.id, |r| {
                if let Some(h) = &mut r.health {
                    h.restart_pending = true;
                }
            });
            let _ = signal_container(monitor, libc::SIGKILL);
        }
        OnFailure::Stop => {
            let _ = store.modify(&rec.id, |r| r.stopped_by_user = true);
            let _ = signal_container(monitor, rec.stop_signal.unwrap_or(libc::SIGTERM));
            let grace = Duration::from_secs(u64::from(rec.stop_timeout.unwrap_or(10)));
            let deadline = std::time::Instant::now() + grace;
            while std::time::Instant::now() < deadline {
                match store.get(&rec.id) {
                    Ok(r) if r.current_status().is_live() && r.pid == rec.pid => {}
                    _ => return,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = signal_container(monitor, libc::SIGKILL);
        }
    }
}
