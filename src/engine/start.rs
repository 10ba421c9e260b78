//! `start`: a created (or stopped) container run in the foreground of the
//! caller, under a monitor of its own in the background, or under a
//! monitor with the caller attached to it.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::signal::Signal;

use super::create::Created;
use super::error::{EngineError, ErrorKind, Reported};
use super::{Engine, UserNs};
use crate::events::{ContainerAction, Event};
use crate::runtime::MonitorHooks;
use crate::runtime::attach::{AttachEnd, ClientOptions, connect_to, run_client, socket_pair};
use crate::runtime::lifecycle::{RecordKeeper, RestartPolicy};
use crate::runtime::process::container_pid;
use crate::runtime::{
    ContainerError, ContainerRecord, ContainerSpec, ContainerStore, NetworkMode, Status,
    run_container, run_detached, tty,
};

/// How the caller attaches to the container it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    /// Not at all: the container runs under a monitor of its own, and
    /// `start` returns once its command runs.
    Detached,
    /// The container uses the caller's standard input and output, and
    /// `start` returns its exit code; no monitor outlives the caller (see
    /// [`needs_monitor`] for when this will not do).
    Foreground,
    /// The container runs under a monitor, and the caller's standard
    /// input and output are relayed to it until it exits or the user
    /// detaches.
    Relay(AttachOptions),
}

/// How the caller's standard streams are relayed to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Forward the caller's standard input (where the container reads one).
    pub stdin: bool,
    /// The keys that detach and leave the container running.
    pub detach_keys: Vec<u8>,
    /// Pass the signals the caller receives on to the container.
    pub sig_proxy: bool,
}

/// What `start` (or `attach`) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// It runs in the background.
    Running,
    /// It exited with this code while the caller waited for it.
    Exited(i32),
    /// The user detached; it runs on.
    Detached,
}

impl Started {
    /// The exit status a command line reports.
    pub fn exit_code(self) -> i32 {
        match self {
            Started::Exited(code) => code,
            Started::Running | Started::Detached => 0,
        }
    }
}

impl Engine {
    /// Start a container just made by [`Engine::create`].
    pub fn start(&self, created: Created, attach: Attach) -> Result<Started, EngineError> {
        match attach {
            Attach::Foreground => self.run_in_foreground(created),
            Attach::Detached => self.run_under_monitor(created, None),
            Attach::Relay(opts) => self.run_under_monitor(created, Some(opts)),
        }
    }

    /// Start the stored container `query` (a name, ID or ID prefix) again,
    /// or attach to it if it runs already (starting a running container
    /// is no error, as in Docker).
    pub fn start_existing(
        &self,
        containers: &ContainerStore,
        query: &str,
        attach: Option<AttachOptions>,
    ) -> Result<Started, EngineError> {
        let store = self.store()?;
        let gc = store.gc_shared()?;
        let record = containers.find(query)?;
        if record.current_status().is_live() {
            return match attach {
                Some(opts) => self.attach(containers, &record, &opts),
                None => Ok(Started::Running),
            };
        }
        let mut spec = containers.load_spec(&record.id)?;
        // Input is attached only where the container was made to read it.
        let attach = attach.map(|a| AttachOptions {
            stdin: a.stdin && spec.stdin,
            ..a
        });
        spec.confine = spec
            .confinement
            .compile(&self.paths.runroot.join("seccomp"))
            .map_err(|e| EngineError::Reported {
                kind: ErrorKind::Engine,
                message: format!("container {}: {e}", record.name),
            })?;
        let userns = self.namespace_for(spec.keep_id)?;
        // A fresh start: the policy counts again, and `stop` no longer
        // holds.
        let record = containers.modify(&record.id, |r| {
            r.stopped_by_user = false;
            r.restart_count = 0;
        })?;
        let created = Created {
            record,
            spec,
            userns,
            containers: containers.clone(),
            gc,
        };
        self.run_under_monitor(created, attach)
    }

    /// Stop container `record` as [`Engine::stop`] does (`time` seconds
    /// before SIGKILL), then start it again in the background.
    pub fn restart(
        &self,
        containers: &ContainerStore,
        record: &ContainerRecord,
        time: Option<u64>,
    ) -> Result<Started, EngineError> {
        self.stop(containers, record, time);
        let started = self.start_existing(containers, &record.id, None)?;
        self.emit(&Event::container(ContainerAction::Restart, &record.into()));
        Ok(started)
    }

    /// Attach the caller's standard streams to running container `record`
    /// (`attach`, `start -a` of a running one).
    pub fn attach(
        &self,
        containers: &ContainerStore,
        record: &ContainerRecord,
        opts: &AttachOptions,
    ) -> Result<Started, EngineError> {
        if !record.current_status().is_live() {
            return Err(ContainerError::Refused(format!(
                "container {} is not running: you can only attach to running containers; start it with burrow start -a {}",
                record.name, record.name
            ))
            .into());
        }
        let spec = containers.load_spec(&record.id)?;
        let sock = connect_to(&containers.dir_of(&record.id)).map_err(|e| {
            EngineError::io(
                format!(
                    "connecting to container {}'s monitor (is it still running?)",
                    record.name
                ),
                e,
            )
        })?;
        let stdin = opts.stdin && spec.stdin;
        let raw = if stdin && spec.tty {
            tty::RawMode::enter()
                .map_err(|e| EngineError::io("putting the terminal in raw mode", e))?
        } else {
            None
        };
        let monitor = record.monitor.as_ref().map(|m| m.pid);
        self.emit(&Event::container(ContainerAction::Attach, &record.into()));
        let started = relay(
            containers, &record.id, &sock, opts, stdin, spec.tty, monitor,
        );
        drop(raw);
        started
    }

    /// `run` in the foreground: the container writes to the caller's own
    /// standard streams, and the caller's namespace process is its
    /// monitor.
    fn run_in_foreground(&self, created: Created) -> Result<Started, EngineError> {
        let Created {
            record,
            mut spec,
            userns,
            containers,
            gc: _gc,
        } = created;
        let id = record.id.clone();
        let rm = record.auto_remove;
        // Only a detached container has a log.
        spec.log = None;
        spec.events_runroot = Some(self.paths.runroot.clone());
        let join = self.join_target(&containers, &mut spec, &userns)?;
        // The caller's streams are the container's.
        self.emit(&Event::container(
            ContainerAction::Attach,
            &(&record).into(),
        ));
        let result = self.in_namespace(&userns, join.userns(), |_| {
            // Here, in the monitor: its pid is what says the container
            // lives.
            let mut keeper = RecordKeeper {
                containers: &containers,
                id: id.clone(),
                remove: false,
                events: self.events(),
            };
            let ran = run_container(&spec, None, || keeper.started(container_pid()), || {});
            // The upper directory holds files of container ids: only here,
            // in the user namespace, can they all be removed.
            let mut volumes = Vec::new();
            if rm {
                match crate::runtime::volume_use::remove_with_anonymous_volumes(&containers, &id) {
                    Ok(removed) => volumes = removed,
                    Err(e) => {
                        return Err(Reported::new(
                            ErrorKind::Engine,
                            format!("removing container {id}: {e}"),
                        ));
                    }
                }
            }
            ran.map(|code| (code, volumes))
                .map_err(|e| Reported::of_run(&e))
        });
        let (code, volumes) = match result {
            Ok(answer) => answer?,
            // The monitor was killed: its status is the run's, as a
            // shell reports it (137 for SIGKILL).
            Err(EngineError::Ended { code }) => (code, Vec::new()),
            Err(e) => {
                if rm {
                    let _ = containers.remove(&id);
                }
                return Err(e);
            }
        };
        let actor = (&record).into();
        self.emit(&Event::container_died(&actor, code));
        if rm {
            self.emit(&Event::container(ContainerAction::Destroy, &actor));
        }
        for v in volumes {
            self.emit(&Event::volume(
                crate::events::VolumeAction::Destroy,
                &v,
                "local",
            ));
        }
        if !rm {
            let ended = containers.modify(&id, |r| {
                r.status = Status::Exited;
                r.exit_code = Some(code);
                r.finished = Some(chrono::Utc::now());
                r.monitor = None;
                r.pid = None;
            });
            match ended {
                // Removed by `burrow rm -f` while it ran.
                Err(ContainerError::Gone(_)) | Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Started::Exited(code))
    }

    /// Start a container under a monitor of its own. Without `attach`,
    /// return once its command runs; with it, relay between the caller's
    /// standard streams and the container until it exits or the user
    /// detaches.
    fn run_under_monitor(
        &self,
        created: Created,
        attach: Option<AttachOptions>,
    ) -> Result<Started, EngineError> {
        let Created {
            record,
            mut spec,
            userns,
            containers,
            gc: _gc,
        } = created;
        let id = record.id.clone();
        let remove = record.auto_remove;
        let (client, monitor_end) = match &attach {
            Some(_) => {
                let (a, b) =
                    socket_pair().map_err(|e| EngineError::io("creating the attach socket", e))?;
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        // Raw mode belongs to this process, not to the monitor: whatever
        // happens to the monitor, the user's terminal is restored on
        // return.
        let raw = match &attach {
            Some(a) if a.stdin && spec.tty => {
                let raw = tty::RawMode::enter()
                    .map_err(|e| EngineError::io("putting the terminal in raw mode", e))?;
                if raw.is_none() {
                    self.warn("the input device is not a TTY: -t and -i might not work properly");
                }
                raw
            }
            _ => None,
        };
        if spec.tty {
            spec.winsize = tty::host_winsize();
        }
        spec.events_runroot = Some(self.paths.runroot.clone());
        let join = self.join_target(&containers, &mut spec, &userns)?;
        if attach.is_some() {
            self.emit(&Event::container(
                ContainerAction::Attach,
                &(&record).into(),
            ));
        }
        // The forked side must not keep our end of the attach socket: the
        // monitor would then never see this command go away.
        let client_fd = client.as_ref().map(AsRawFd::as_raw_fd);
        let result = self.in_namespace(&userns, join.userns(), |_| {
            if let Some(fd) = client_fd {
                // SAFETY: the fork's copy of the descriptor, never used
                // (nor dropped: this process leaves with _exit) on this
                // side.
                unsafe { libc::close(fd) };
            }
            let mut keeper = RecordKeeper {
                containers: &containers,
                id: id.clone(),
                remove,
                events: self.events(),
            };
            run_detached(&spec, monitor_end, &mut keeper).map_err(|e| Reported::of_run(&e))
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(reported)) => return Err(reported.into()),
            Err(e) => {
                if remove {
                    let _ = containers.remove(&id);
                }
                // Ended by a signal burrow passed on before the monitor
                // existed: nothing started, and burrow ends by it too.
                redeliver(&crate::userns::take_forwarded_signals(), None, raw);
                return Err(e);
            }
        }
        let monitor = containers
            .find(&id)
            .ok()
            .and_then(|r| r.monitor)
            .map(|m| m.pid);
        // What burrow was sent while its namespace process started the
        // container: the start went on regardless (see run_detached), so
        // the signals take effect now, on the container when attached with
        // --sig-proxy, else on burrow, as they would have without the
        // start in between.
        let pending = crate::userns::take_forwarded_signals();
        let proxy_to = match &attach {
            Some(opts) if opts.sig_proxy => monitor,
            _ => None,
        };
        let raw = redeliver(&pending, proxy_to, raw);
        let (Some(client), Some(opts)) = (client, attach) else {
            return Ok(Started::Running);
        };
        let started = relay(
            &containers,
            &id,
            &client,
            &opts,
            opts.stdin,
            spec.tty,
            monitor,
        );
        drop(raw);
        started
    }

    /// What a container joins as it starts: with `--network container:ID`
    /// that container's user namespace (its process recorded in the spec),
    /// on user networks the shared namespaces (connecting to, or starting,
    /// their holder), with the memberships as the record has them now.
    pub(crate) fn join_target(
        &self,
        containers: &ContainerStore,
        spec: &mut ContainerSpec,
        ns: &UserNs,
    ) -> Result<Join, EngineError> {
        match &spec.network {
            NetworkMode::Container(id) => {
                let other = containers.find(id).map_err(|_| {
                    ContainerError::Refused(format!(
                        "container {id}, whose network this one shares, no longer exists: remove this container and make it again"
                    ))
                })?;
                match (other.current_status().is_live(), other.pid) {
                    (true, Some(pid)) => {
                        spec.join_netns_pid = Some(pid);
                        let path = format!("/proc/{pid}/ns/user");
                        let file = std::fs::File::open(&path).map_err(|e| {
                            EngineError::io(
                                format!(
                                    "opening {path} (is container {} still running?)",
                                    other.name
                                ),
                                e,
                            )
                        })?;
                        Ok(Join::Userns(file))
                    }
                    _ => Err(ContainerError::Refused(format!(
                        "container {}, whose network this one shares, is not running: start it first",
                        other.name
                    ))
                    .into()),
                }
            }
            NetworkMode::Bridge(_) => {
                let networks = containers.get(&spec.id)?.networks;
                spec.network = NetworkMode::Bridge(networks);
                let members = crate::runtime::members::Members::of_container(&spec.dir);
                let shared =
                    crate::netns::shared::connect_or_start(&self.paths.runroot, &ns.map, || {
                        members.anchor()
                    })
                    .map_err(|e| EngineError::Reported {
                        kind: ErrorKind::Engine,
                        message: format!("joining the user networks' shared namespace: {e}"),
                    })?;
                spec.shared_netns_fd = Some(shared.netns.as_raw_fd());
                Ok(Join::Shared(shared))
            }
            _ => Ok(Join::Own),
        }
    }
}

/// Deliver `pending` signals again, to the container through its monitor
/// `proxy_to` or else to this process with its own dispositions (which
/// usually end it: the user's terminal is restored first, and raw mode
/// entered again if it lives on). Returns the raw mode to keep.
fn redeliver(
    pending: &[Signal],
    proxy_to: Option<i32>,
    mut raw: Option<tty::RawMode>,
) -> Option<tty::RawMode> {
    if let Some(pid) = proxy_to {
        crate::runtime::attach::proxy_signals_to(pid);
    }
    // The relay sends the terminal's size as it begins.
    let pending: Vec<Signal> = pending
        .iter()
        .copied()
        .filter(|s| *s != Signal::SIGWINCH)
        .collect();
    let had_raw = raw.is_some();
    if !pending.is_empty() && proxy_to.is_none() {
        raw = None;
    }
    for s in pending {
        let _ = nix::sys::signal::raise(s);
    }
    // When burrow was already root in a user namespace, the start ran in
    // this very process and left the signals blocked; those sent
    // meanwhile are delivered here.
    let _ = crate::ipc::signals::unblock_forwarded();
    if had_raw && raw.is_none() {
        raw = tty::RawMode::enter().ok().flatten();
    }
    raw
}

/// Relay between the caller's standard streams and the container attached
/// through `sock` until it exits or the user detaches.
fn relay(
    containers: &ContainerStore,
    id: &str,
    sock: &OwnedFd,
    opts: &AttachOptions,
    stdin: bool,
    tty: bool,
    monitor_pid: Option<i32>,
) -> Result<Started, EngineError> {
    if opts.sig_proxy
        && let Some(pid) = monitor_pid
    {
        crate::runtime::attach::proxy_signals_to(pid);
    }
    let end = run_client(
        sock,
        &ClientOptions {
            stdin,
            tty,
            detach_keys: opts.detach_keys.clone(),
        },
    )
    .map_err(|e| EngineError::io("relaying the container's input and output", e))?;
    match end {
        AttachEnd::Exited(code) => Ok(Started::Exited(code)),
        AttachEnd::Detached => Ok(Started::Detached),
        AttachEnd::Lost => lost_monitor(containers, id).map(Started::Exited),
    }
}

/// The exit code to report when the monitor went away mid-attachment: the
/// recorded one, if it got that far.
fn lost_monitor(containers: &ContainerStore, id: &str) -> Result<i32, EngineError> {
    match containers.find(id) {
        Ok(r) if r.current_status() == Status::Exited && r.exit_code.is_some() => {
            Ok(r.exit_code.unwrap_or(super::error::EXIT_ENGINE))
        }
        _ => Err(EngineError::Reported {
            kind: ErrorKind::Engine,
            message: format!(
                "the monitor of container {} ended unexpectedly",
                &id[..12.min(id.len())]
            ),
        }),
    }
}

/// The user namespace a container starts in, when not a new one of its
/// own.
pub(crate) enum Join {
    Own,
    /// `--network container:ID`: that container's (an open
    /// /proc/PID/ns/user), whose network namespace it shares.
    Userns(std::fs::File),
    /// User networks: burrow's shared namespaces, held while this lives
    /// (the container's monitor inherits the hold).
    Shared(crate::netns::shared::SharedNetns),
}

impl Join {
    pub(crate) fn userns(&self) -> Option<&std::fs::File> {
        match self {
            Join::Own => None,
            Join::Userns(f) => Some(f),
            Join::Shared(s) => Some(&s.userns),
        }
    }
}

/// Whether a container the caller waits for must still run under a
/// monitor (and the caller attach to it): a terminal needs one to hold
/// it, a restart policy someone who outlives the caller (as Docker's
/// daemon does), and a caller that passes no signals on must be able to
/// go while the container runs on.
pub fn needs_monitor(tty: bool, restart: RestartPolicy, sig_proxy: bool) -> bool {
    tty || restart != RestartPolicy::No || !sig_proxy
}
