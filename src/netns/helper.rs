//! The network helper's lifecycle for one run of a container: once the
//! container's process has made its network namespace, connect it (pasta,
//! slirp4netns, or veths on user networks with pasta for the way out),
//! record the container as a member of its user networks, and when the
//! container is gone, stop the helper and leave the networks.
//!
//! The helper gets the namespace as an inherited descriptor
//! (`/proc/self/fd/N`): a path in the store might not be searchable for
//! it, and a /proc/PID path needs more than pasta keeps.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::members::{Member, Members};
use super::network::Attachment;
use super::ports::PortMapping;
use super::{pasta, shared, slirp};
use crate::ids::ProcessRef;

/// How long a helper may take to configure the namespace.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("cannot open the container's network namespace: {0}")]
    OpenNamespace(nix::Error),
    #[error(transparent)]
    Pasta(#[from] pasta::PastaError),
    #[error(transparent)]
    Slirp(#[from] slirp::SlirpError),
    #[error("the shared network namespace of user networks is not open")]
    NoSharedNamespace,
    /// Plugging the veths into the shared namespace failed.
    #[error("{0}")]
    Attach(String),
    #[error("cannot read the monitor's own /proc entry")]
    NoProcessRef,
    #[error("cannot write the network members' /etc/hosts: {0}")]
    Members(io::Error),
}

/// How the container's network namespace is connected.
#[derive(Debug, Clone, Copy)]
pub enum Wiring<'a> {
    /// pasta, with extra options.
    Pasta { options: &'a [String] },
    /// slirp4netns, with Podman's KEY=VALUE options.
    Slirp { options: &'a [String] },
    /// User networks: a veth on each network's bridge in the shared
    /// namespace (open as descriptor `shared_netns_fd` in this process),
    /// and pasta unless every network is internal.
    Bridge {
        attachments: &'a [Attachment],
        shared_netns_fd: Option<i32>,
        with_pasta: bool,
    },
}

/// The container a helper is started for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The container's directory: helper logs, slirp4netns's socket and
    /// hosts files live there.
    pub dir: &'a Path,
    pub id: &'a str,
    /// Its name on user networks.
    pub name: &'a str,
    /// Published ports.
    pub ports: &'a [PortMapping],
    pub wiring: Wiring<'a>,
}

/// The program that connects a container's network namespace.
pub enum Helper {
    Pasta(Child),
    Slirp(slirp::Slirp),
    /// On user networks: veths (gone with the namespace), pasta unless
    /// every network is internal.
    Bridge(Option<Child>),
}

/// Connect the network namespace of the container process `child`, which
/// has made it.
pub fn start(req: &Request<'_>, child: Pid) -> Result<Helper, HelperError> {
    // Not close-on-exec: the helper inherits it. Closed here once it runs.
    let netns = nix::fcntl::open(
        format!("/proc/{child}/ns/net").as_str(),
        OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(HelperError::OpenNamespace)?;
    match req.wiring {
        Wiring::Pasta { options } => Ok(Helper::Pasta(start_pasta(req, child, netns, options)?)),
        Wiring::Bridge {
            attachments,
            shared_netns_fd,
            with_pasta,
        } => {
            let shared = shared_netns_fd.ok_or(HelperError::NoSharedNamespace)?;
            // SAFETY: the command that started this monitor holds it open
            // (see ContainerSpec::shared_netns_fd) and so does this fork.
            let shared = unsafe { BorrowedFd::borrow_raw(shared) };
            shared::attach(shared, netns.as_fd(), req.id, attachments)
                .map_err(HelperError::Attach)?;
            // pasta's interface is named apart from the veths (eth0, eth1,
            // ...), which it would otherwise collide with.
            let pasta = if with_pasta {
                let options = ["-I".to_string(), "pasta0".to_string()];
                Some(start_pasta(req, child, netns, &options)?)
            } else {
                None
            };
            if let Err(e) = join_members(req, attachments, shared_netns_fd) {
                if let Some(p) = pasta {
                    stop_pasta(p);
                }
                return Err(e);
            }
            Ok(Helper::Bridge(pasta))
        }
        Wiring::Slirp { options } => {
            let cfg = slirp::config(options)?;
            let log = req.dir.join("slirp4netns.log");
            let started = slirp::start(&netns, &cfg, req.dir, &log, READY_TIMEOUT);
            drop(netns);
            let mut s = started?;
            if let Err(e) = slirp::publish(req.dir, &cfg, req.ports) {
                let _ = s.child.kill();
                let _ = s.child.wait();
                return Err(e.into());
            }
            Ok(Helper::Slirp(s))
        }
    }
}

/// pasta on the namespace, with the published ports; ready once it set
/// the default route.
fn start_pasta(
    req: &Request<'_>,
    child: Pid,
    netns: OwnedFd,
    options: &[String],
) -> Result<Child, HelperError> {
    let path = PathBuf::from(format!("/proc/self/fd/{}", netns.as_raw_fd()));
    let log = req.dir.join("pasta.log");
    let spawned = pasta::spawn(&path, req.ports, options, &log);
    drop(netns);
    let mut p = spawned?;
    if let Err(e) = pasta::wait_ready(&mut p, child.as_raw(), &log, READY_TIMEOUT) {
        let _ = p.kill();
        let _ = p.wait();
        return Err(e.into());
    }
    Ok(p)
}

/// Record the container as a running member of its networks, which
/// rewrites its /etc/hosts and that of the members it shares a network with.
fn join_members(
    req: &Request<'_>,
    attachments: &[Attachment],
    netns_fd: Option<i32>,
) -> Result<(), HelperError> {
    let monitor = ProcessRef::current().ok_or(HelperError::NoProcessRef)?;
    Members::of_container(req.dir)
        .join(
            &Member {
                id: req.id.to_string(),
                name: req.name.to_string(),
                attachments: attachments.to_vec(),
                monitor,
                netns_fd,
            },
            &[],
        )
        .map_err(HelperError::Members)
}

/// The container is gone: its network helper goes too, and on user
/// networks its name leaves the other members' /etc/hosts (the error says
/// if it could not).
pub fn stop(dir: &Path, id: &str, helper: Helper) -> io::Result<()> {
    match helper {
        Helper::Pasta(p) => stop_pasta(p),
        Helper::Slirp(s) => stop_pasta(s.child),
        Helper::Bridge(pasta) => {
            if let Some(p) = pasta {
                stop_pasta(p);
            }
            return Members::of_container(dir).leave(id);
        }
    }
    Ok(())
}

/// The container is gone: pasta goes too. It is not waited for (taking
/// down its socket and pipe pools costs tens of milliseconds, which `run`
/// would otherwise add to every container); it is reaped when the monitor
/// exits, or by the next stop of a restarted container.
fn stop_pasta(mut p: Child) {
    // SAFETY: kill(2) of our own child, not yet reaped.
    unsafe { libc::kill(p.id() as i32, libc::SIGKILL) };
    let _ = p.try_wait();
    // Earlier pastas of this monitor (restarts), gone by now.
    while let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
        waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG))
    {}
}
