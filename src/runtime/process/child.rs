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
use super::terminal_pipes::TerminalPipes;
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
        Ok(prepared) => {
            let shown = spec.args.first().map_or("", String::as_str);
            launch::exec(sys, &prepared, shown)
        }
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
            group_add: &spec.group_add,
        },
    )?;
    give_volumes_to_user(sys, spec, prepared.ids())?;
    steps.stdio(sys)?;
    launch::set_ulimits(sys, &spec.ulimits)?;
    launch::confine(
        sys,
        &prepared,
        &spec.confine.caps,
        spec.confine.seccomp.as_ref(),
    )?;
    steps.before_exec()?;
    Ok(prepared)
}

/// `:U`: each such volume goes to the user the command runs as, now
/// that the container's account files have named it.
fn give_volumes_to_user(
    sys: &mut dyn Sys,
    spec: &ContainerSpec,
    (uid, gid): (u32, u32),
) -> Result<(), ChildSetupError> {
    for m in &spec.mounts {
        if let crate::runtime::mounts::MountKind::Volume(v) = &m.kind
            && v.chown
        {
            sys.chown_tree(std::path::Path::new(&m.destination), uid, gid)
                .map_err(|err| crate::runtime::plan::SetupError {
                    step: format!(
                        "giving volume {} at {} to {uid}:{gid}",
                        v.name(),
                        m.destination
                    ),
                    err,
                })?;
        }
    }
    Ok(())
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
    /// The pipes standing in for burrow's terminal (foreground, no `-t`).
    pub terminal: Option<TerminalPipes>,
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
        terminal,
        join_net,
    } = ends;
    let mut link = MonitorLink {
        spec,
        channel,
        console,
        logs,
        stdin,
        terminal,
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
    terminal: Option<TerminalPipes>,
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
            self.terminal.take(),
        )
        .map_err(ChildSetupError::Stdio)
    }

    fn before_exec(&mut self) -> Result<(), ChildSetupError> {
        // The switch to another user cleared the parent-death signal: set
        // again, the container still dies with a monitor that is killed
        // (`rm -f`). A profile that forbids prctl leaves it to the monitor.
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
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
/// stdout and stderr, and stdin with `-i` or /dev/null without, as Docker,
/// except that those which are the user's terminal are pipes (`terminal`).
/// Without a terminal the container gets a session of its own, so signals
/// from burrow's terminal reach it only through burrow.
fn setup_stdio(
    sys: &mut dyn Sys,
    spec: &ContainerSpec,
    console: Option<OwnedFd>,
    logs: Option<(OwnedFd, OwnedFd)>,
    stdin: Option<OwnedFd>,
    terminal: Option<TerminalPipes>,
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
    if let Some(pipes) = terminal {
        pipes
            .connect()
            .map_err(|e| format!("cannot connect the container to burrow's pipes: {e}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::process::error::EXIT_NOT_FOUND;
    use crate::runtime::spec::NetworkMode;
    use crate::runtime::testing::{Fake, Journal, spec};

    /// The monitor's side, recorded in the fake's journal.
    struct FakeSteps {
        journal: Journal,
        network: Result<(), &'static str>,
    }

    impl ChildSteps for FakeSteps {
        fn netns_made(&mut self) -> Result<(), ChildSetupError> {
            self.journal.borrow_mut().push("step netns made".into());
            Ok(())
        }
        fn network_ready(&mut self) -> Result<(), ChildSetupError> {
            self.journal.borrow_mut().push("step network ready".into());
            self.network
                .map_err(|r| ChildSetupError::Network(r.to_string()))
        }
        fn stdio(&mut self, _sys: &mut dyn Sys) -> Result<(), ChildSetupError> {
            self.journal.borrow_mut().push("step stdio".into());
            Ok(())
        }
        fn before_exec(&mut self) -> Result<(), ChildSetupError> {
            self.journal.borrow_mut().push("step before exec".into());
            Ok(())
        }
    }

    /// Runs the container process's setup for `spec` against fakes; the
    /// error it ends with, and every call in order.
    fn run(
        spec: &ContainerSpec,
        fail_on: Option<&'static str>,
        network: Result<(), &'static str>,
        join_net: Option<BorrowedFd<'_>>,
    ) -> (ChildSetupError, Vec<String>) {
        let journal = Journal::default();
        let mut fake = Fake {
            fail_on,
            journal: Some(journal.clone()),
            texts: vec![("/etc/passwd", "app:x:1000:1000::/home/app:/bin/sh\n")],
            ..Default::default()
        };
        let mut steps = FakeSteps {
            journal: journal.clone(),
            network,
        };
        let err = setup_and_exec(&mut fake, spec, join_net, &mut steps);
        let calls = journal.borrow().clone();
        (err, calls)
    }

    fn position(calls: &[String], prefix: &str) -> usize {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {calls:#?}"))
    }

    fn in_order(calls: &[String], prefixes: &[&str]) {
        let at: Vec<usize> = prefixes.iter().map(|p| position(calls, p)).collect();
        for (w, p) in at.windows(2).zip(prefixes.windows(2)) {
            assert!(w[0] < w[1], "{:?} after {:?} in {calls:#?}", p[0], p[1]);
        }
    }

    fn pasta_user_spec() -> ContainerSpec {
        let mut s = spec();
        s.network = NetworkMode::Pasta(Vec::new());
        s.user = "app".into();
        s.args = vec!["/bin/app".into(), "--flag".into()];
        s
    }

    #[test]
    fn the_whole_setup_happens_in_order() {
        let (err, c) = run(&pasta_user_spec(), None, Ok(()), None);
        in_order(
            &c,
            &[
                "pdeathsig SIGKILL",
                "unshare CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET",
                // The monitor connects the network while the mounts happen.
                "step netns made",
                "mount - / - MS_REC|MS_PRIVATE -",
                "mount overlay /c/rootfs",
                "pivot_root /c/rootfs",
                "mkdir /work",
                "step network ready",
                // Account files after the pivot: the container's own.
                "read /etc/passwd",
                "read /etc/group",
                "chdir /work",
                "step stdio",
                // Nothing of burrow's open past the exec, then identity,
                // then capabilities, then the filter.
                "cloexec from 3",
                "setgroups []",
                "setresgid 1000",
                "keepcaps true",
                "setresuid 1000",
                "raise effective caps",
                "apply caps",
                "no_new_privs",
                "step before exec",
                // Nothing burrow ignores stays ignored in the command.
                "reset signal dispositions",
                "execve /bin/app [\"/bin/app\", \"--flag\"]",
            ],
        );
        assert_eq!(
            c.last().unwrap(),
            "execve /bin/app [\"/bin/app\", \"--flag\"]"
        );
        // The fake's execve fails with ENOENT: 127, named as Docker does.
        assert_eq!(err.exit_code(), EXIT_NOT_FOUND);
        assert_eq!(err.to_string(), "\"/bin/app\": no such file or directory");
    }

    #[test]
    fn ulimits_are_set_after_stdio_and_before_the_user_switch() {
        let mut s = pasta_user_spec();
        s.ulimits = vec![
            crate::runtime::ulimit::Ulimit::parse("nofile=100:200").unwrap(),
            crate::runtime::ulimit::Ulimit::parse("core=-1").unwrap(),
        ];
        let (_, c) = run(&s, None, Ok(()), None);
        let nofile = format!("setrlimit {} 100 200", libc::RLIMIT_NOFILE);
        let core = format!(
            "setrlimit {} {} {}",
            libc::RLIMIT_CORE,
            libc::RLIM_INFINITY,
            libc::RLIM_INFINITY
        );
        in_order(
            &c,
            &["step stdio", &nofile, &core, "setresuid 1000", "execve"],
        );
        // A refused limit ends the setup before the exec, naming it.
        let (err, c) = run(&s, Some("setrlimit"), Ok(()), None);
        assert!(!c.iter().any(|x| x.starts_with("execve")), "{c:#?}");
        assert_eq!(
            err.to_string(),
            "cannot set --ulimit nofile=100:200: Operation not permitted (os error 1)"
        );
    }

    #[test]
    fn root_keeps_its_groups_and_no_network_means_no_monitor_steps() {
        let mut s = spec();
        s.args = vec!["/bin/sh".into()];
        let (_, c) = run(&s, None, Ok(()), None);
        assert!(!c.iter().any(|x| x.starts_with("step net")), "{c:#?}");
        assert!(!c.iter().any(|x| x.starts_with("setgroups")), "{c:#?}");
        assert!(!c.iter().any(|x| x.starts_with("setresuid")), "{c:#?}");
        in_order(&c, &["unshare", "chdir /work", "apply caps", "execve"]);
        // --network none: a namespace of its own, with only loopback.
        assert!(c[position(&c, "unshare")].contains("CLONE_NEWNET"));
        assert!(position(&c, "lo up") > position(&c, "pivot_root"));
    }

    #[test]
    fn a_shared_network_namespace_is_joined_after_the_others_are_made() {
        let mut s = spec();
        s.network = NetworkMode::Container("other".into());
        s.args = vec!["/bin/sh".into()];
        let other = std::fs::File::open("/dev/null").unwrap();
        let (_, c) = run(&s, None, Ok(()), Some(other.as_fd()));
        let unshare = position(&c, "unshare");
        assert!(!c[unshare].contains("CLONE_NEWNET"), "{}", c[unshare]);
        in_order(&c, &["unshare", "setns CLONE_NEWNET", "mount"]);
    }

    #[test]
    fn each_failure_names_its_step_and_stops_the_setup() {
        for (fail_on, message) in [
            ("pdeathsig", "cannot set the parent-death signal"),
            ("unshare", "cannot create the container's namespaces: "),
            ("pivot_root", "container setup failed: "),
            ("chdir", "cannot enter the working directory /work: "),
            ("cloexec", "close_range: "),
            ("setgroups", "cannot set supplementary groups []: "),
            ("setresgid", "cannot switch to group 1000: "),
            ("keepcaps", "cannot keep capabilities: "),
            ("setresuid", "cannot switch to user 1000: "),
            ("raise effective", "cannot raise capabilities: "),
            ("apply caps", "cannot drop bounding capabilities: "),
            ("no_new_privs", ""),
        ] {
            let mut s = pasta_user_spec();
            s.user = "1000:1000".into();
            s.network = NetworkMode::None;
            let (err, c) = run(&s, Some(fail_on), Ok(()), None);
            assert!(
                err.to_string().starts_with(message),
                "{fail_on}: {err} (wanted {message:?})"
            );
            assert_eq!(err.exit_code(), 125, "{fail_on}: {err}");
            assert!(c.last().unwrap().starts_with("FAILED"), "{fail_on}: {c:#?}");
        }
    }

    #[test]
    fn a_failed_network_fails_the_container_before_its_user_is_looked_up() {
        let (err, c) = run(&pasta_user_spec(), None, Err("pasta exploded"), None);
        assert_eq!(err.to_string(), "pasta exploded");
        assert_eq!(err.exit_code(), 125);
        assert!(
            !c.iter().any(|x| x.starts_with("read /etc/passwd")),
            "{c:#?}"
        );
    }

    #[test]
    fn an_unknown_user_is_reported_with_runcs_words() {
        let mut s = pasta_user_spec();
        s.user = "nosuch".into();
        s.network = NetworkMode::None;
        let (err, c) = run(&s, None, Ok(()), None);
        assert_eq!(
            err.to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        assert!(!c.iter().any(|x| x.starts_with("cloexec")), "{c:#?}");
    }
}
