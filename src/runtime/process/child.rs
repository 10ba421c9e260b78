//! The container process, from the monitor's fork to execve: its
//! namespaces, the plan's mounts, the network's readiness, its stdio, then
//! the steps it shares with `exec` (see [`super::launch`]). Every system
//! call on itself goes through [`Sys`]; what involves the monitor goes
//! through [`ChildSteps`], so the whole sequence runs against fakes in
//! tests.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::error::ChildSetupError;
use super::launch::{self, Launch};
use super::protocol::{self, Message, ProcessChannel};
use crate::runtime::plan::{apply, build_plan};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::sys::{LinuxSys, Sys};
use crate::runtime::tty;

/// What the container process does that involves more than itself.
pub trait ChildSteps {
    /// Its network namespace exists: the monitor may connect it.
    fn netns_made(&mut self) -> Result<(), ChildSetupError>;
    /// Wait for the monitor's word that the network is connected.
    fn network_ready(&mut self) -> Result<(), ChildSetupError>;
    /// Connect the terminal or the pipes as stdin, stdout and stderr.
    fn stdio(&mut self, sys: &mut dyn Sys) -> Result<(), ChildSetupError>;
    /// Just before execve: the caller's signal mask back, or `--init`'s
    /// fork (pid 1 stays in burrow's code and never returns).
    fn before_exec(&mut self) -> Result<(), ChildSetupError>;
}

/// Set up the container's process for `spec` and execute its command;
/// returns only with the reason it could not.
pub fn setup_and_exec(
    sys: &mut dyn Sys,
    spec: &ContainerSpec,
    join_net: Option<BorrowedFd<'_>>,
    steps: &mut dyn ChildSteps,
) -> ChildSetupError {
    match try_setup(sys, spec, join_net, steps) {
        Ok(prepared) => launch::exec(sys, &prepared, &spec.args[0]),
        Err(e) => e,
    }
}

fn try_setup(
    sys: &mut dyn Sys,
    spec: &ContainerSpec,
    join_net: Option<BorrowedFd<'_>>,
    steps: &mut dyn ChildSteps,
) -> Result<launch::Prepared, ChildSetupError> {
    sys.set_parent_death_signal(Signal::SIGKILL)
        .map_err(ChildSetupError::ParentDeathSignal)?;
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if spec.network.new_namespace() {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    sys.unshare(flags).map_err(ChildSetupError::Namespaces)?;
    if let Some(ns) = join_net {
        sys.setns(ns, CloneFlags::CLONE_NEWNET)
            .map_err(ChildSetupError::JoinNetwork)?;
    }
    let network = spec.network.needs_setup();
    if network {
        // The monitor connects the namespace now, while we set up the rest.
        steps.netns_made()?;
    }
    apply(&build_plan(spec), sys)?;
    if network {
        steps.network_ready()?;
    }
    let prepared = launch::prepare(
        sys,
        &Launch {
            args: &spec.args,
            env: spec.env.clone(),
            cwd: &spec.cwd,
            user: &spec.user,
        },
    )?;
    steps.stdio(sys)?;
    launch::confine(
        sys,
        &prepared,
        &spec.confine.caps,
        spec.confine.seccomp.as_ref(),
    )?;
    steps.before_exec()?;
    Ok(prepared)
}

/// The container process's ends of what connects it to its monitor.
pub struct ChildEnds {
    /// Messages to and from the monitor; its failure report. Close-on-exec:
    /// its end tells the monitor that the command runs.
    pub channel: ProcessChannel,
    /// Where the terminal's master goes (`-t`).
    pub console: Option<OwnedFd>,
    /// stdout and stderr pipes of a detached container.
    pub logs: Option<(OwnedFd, OwnedFd)>,
    /// stdin pipe of a detached `-i` container.
    pub stdin: Option<OwnedFd>,
    /// The network namespace to join (`--network container:`).
    pub join_net: Option<OwnedFd>,
}

/// The container process: set up, execute, or report why not and exit
/// with Docker's code.
pub fn container_main(spec: &ContainerSpec, ends: ChildEnds, old_mask: &SigSet) -> ! {
    let ChildEnds {
        channel,
        console,
        logs,
        stdin,
        join_net,
    } = ends;
    let mut link = MonitorLink {
        spec,
        channel,
        console,
        logs,
        stdin,
        old_mask,
    };
    let err = setup_and_exec(
        &mut LinuxSys,
        spec,
        join_net.as_ref().map(AsFd::as_fd),
        &mut link,
    );
    let _ = link.channel.send(&protocol::failed(&err));
    // SAFETY: _exit skips the parent's destructors and atexit handlers.
    unsafe { libc::_exit(err.exit_code()) }
}

/// The real [`ChildSteps`]: the channel to the monitor, the descriptors
/// it prepared.
struct MonitorLink<'a> {
    spec: &'a ContainerSpec,
    channel: ProcessChannel,
    console: Option<OwnedFd>,
    logs: Option<(OwnedFd, OwnedFd)>,
    stdin: Option<OwnedFd>,
    old_mask: &'a SigSet,
}

impl ChildSteps for MonitorLink<'_> {
    fn netns_made(&mut self) -> Result<(), ChildSetupError> {
        Ok(self.channel.send(&Message::NetnsReady)?)
    }

    fn network_ready(&mut self) -> Result<(), ChildSetupError> {
        let word = self.channel.expect("the network's readiness", |m| match m {
            Message::NetworkReady => Ok(Ok(())),
            Message::NetworkFailed { reason } => Ok(Err(reason)),
            other => Err(other),
        });
        match word {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(ChildSetupError::Network(reason)),
            Err(crate::ipc::ChannelError::Closed { .. }) => Err(ChildSetupError::Network(
                "the network was not set up".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn stdio(&mut self, sys: &mut dyn Sys) -> Result<(), ChildSetupError> {
        setup_stdio(
            sys,
            self.spec,
            self.console.take(),
            self.logs.take(),
            self.stdin.take(),
        )
        .map_err(ChildSetupError::Stdio)
    }

    fn before_exec(&mut self) -> Result<(), ChildSetupError> {
        if self.spec.init {
            let mut block = SigSet::empty();
            for s in crate::runtime::init::forwarded() {
                block.add(s);
            }
            let _ = block.thread_block();
            crate::runtime::init::fork_init(self.old_mask, self.spec.tty)
                .map_err(ChildSetupError::Init)
        } else {
            let _ = nix::sys::signal::pthread_sigmask(
                SigmaskHow::SIG_SETMASK,
                Some(self.old_mask),
                None,
            );
            Ok(())
        }
    }
}

/// The container's stdin, stdout and stderr: a new terminal with `-t`
/// (its master sent to the monitor over `console`); else burrow's own
/// stdout and stderr, and stdin with `-i` or /dev/null without, as Docker.
/// Without a terminal the container gets a session of its own, so signals
/// from burrow's terminal reach it only through burrow.
fn setup_stdio(
    sys: &mut dyn Sys,
    spec: &ContainerSpec,
    console: Option<OwnedFd>,
    logs: Option<(OwnedFd, OwnedFd)>,
    stdin: Option<OwnedFd>,
) -> Result<(), String> {
    if spec.tty {
        let sock = console.ok_or("no socket for the terminal")?;
        let master = tty::open_in_container(spec.winsize)
            .map_err(|e| format!("cannot open a terminal in the container: {e}"))?;
        // Programs that write to /dev/console expect the terminal there.
        let n = tty::pts_number(master.as_fd())
            .map_err(|e| format!("cannot name the container's terminal: {e}"))?;
        let console_path = Path::new("/dev/console");
        sys.ensure_file(console_path)
            .and_then(|()| {
                sys.mount(
                    Some(&format!("/dev/pts/{n}")),
                    console_path,
                    None,
                    nix::mount::MsFlags::MS_BIND,
                    None,
                )
            })
            .map_err(|e| format!("cannot bind the terminal over /dev/console: {e}"))?;
        crate::ipc::fdpass::send_fd(sock.as_fd(), master.as_fd())
            .map_err(|e| format!("cannot pass the terminal to burrow: {e}"))?;
        return Ok(());
    }
    if let Some((out, err)) = logs {
        // SAFETY: dup2 onto stdout and stderr; the pipes stay owned.
        if unsafe { libc::dup2(out.as_raw_fd(), 1) } < 0
            || unsafe { libc::dup2(err.as_raw_fd(), 2) } < 0
        {
            return Err("cannot connect the container to its log".into());
        }
    }
    if let Some(input) = stdin {
        // SAFETY: dup2 onto stdin; the pipe stays owned.
        if unsafe { libc::dup2(input.as_raw_fd(), 0) } < 0 {
            return Err("cannot connect the container's stdin".into());
        }
    } else if !spec.stdin {
        let null = nix::fcntl::open("/dev/null", OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
            .map_err(|e| format!("cannot open /dev/null in the container: {e}"))?;
        // SAFETY: dup2 onto stdin; `null` stays owned and closes on drop.
        if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
            return Err("cannot redirect stdin to /dev/null".into());
        }
    }
    nix::unistd::setsid().map_err(|e| format!("cannot start a session: {e}"))?;
    Ok(())
}
