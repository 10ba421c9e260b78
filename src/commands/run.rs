//! `burrow run`: create a container from an image and run a command in it.

use burrow::engine::{Attach, AttachOptions, Engine, RequestError, needs_monitor};
use burrow::runtime::attach::parse_detach_keys;
use clap::Args;

use super::create::CreateArgs;

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow run [OPTIONS] IMAGE [COMMAND [ARG...]]",
    after_help = "Without --rm the container's record and files stay in the store under \
                  containers/<id>: `burrow ps -a` lists them, `burrow start` runs them again, \
                  `burrow rm` removes them.\n\n\
                  Exit status: the command's; 128+N if it was killed by signal N; 125 if burrow \
                  failed; 126 if the command cannot be executed; 127 if it was not found."
)]
pub struct RunArgs {
    /// Run in the background: print the container's ID once its command runs; its output goes
    /// to `burrow logs`
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Keys that detach from a container with a terminal and leave it running
    /// (ctrl-<letter>, comma-separated; "" for none)
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Pass signals burrow receives on to the container; with false, a signal ends only this
    /// command and the container runs on
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Attach only these of your streams to the container: stdin, stdout, stderr (repeatable;
    /// stdin implies -i) [default: stdout and stderr, and stdin with -i]
    #[arg(short = 'a', long = "attach", value_name = "STREAM", value_parser = ["stdin", "stdout", "stderr"])]
    pub attach: Vec<String>,
    #[command(flatten)]
    pub c: CreateArgs,
}

/// Whether burrow's stdout is a pipe whose reader has gone: poll(2) says
/// POLLERR for the write end of such a pipe.
fn stdout_reader_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: 1,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd for a descriptor we own, no wait.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & libc::POLLERR != 0
}

/// While it lives, the caller's stdout and stderr that `-a` does not name
/// point at /dev/null (the container, which uses them in the foreground or
/// through the attach relay, writes there); dropped, they come back, so
/// burrow's own messages after the run are seen.
struct Unattached {
    saved: Vec<(i32, i32)>,
}

impl Unattached {
    fn apply(attach: &[String]) -> anyhow::Result<Unattached> {
        let mut saved = Vec::new();
        if attach.is_empty() {
            return Ok(Unattached { saved });
        }
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        for (fd, name) in [(1, "stdout"), (2, "stderr")] {
            if attach.iter().any(|a| a == name) {
                continue;
            }
            // SAFETY: dup/dup2 of the standard descriptors, put back on drop.
            let copy = unsafe { libc::dup(fd) };
            if copy < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            // SAFETY: as above.
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
            saved.push((fd, copy));
        }
        Ok(Unattached { saved })
    }
}

impl Drop for Unattached {
    fn drop(&mut self) {
        for (fd, copy) in self.saved.drain(..) {
            // SAFETY: restoring the descriptor saved by apply.
            unsafe {
                libc::dup2(copy, fd);
                libc::close(copy);
            }
        }
    }
}

pub fn run(ctx: &Engine, run_args: &RunArgs) -> anyhow::Result<i32> {
    let args = &run_args.c;
    let detach_keys = parse_detach_keys(&run_args.detach_keys)?;
    if run_args.detach && args.log_driver == "passthrough" {
        return Err(RequestError::Conflict(
            "--log-driver passthrough gives the container burrow's stdio, which -d closes: run it in the foreground, or use --log-driver none".into(),
        )
        .into());
    }
    if run_args.detach && !run_args.attach.is_empty() {
        return Err(RequestError::Conflict(
            "-a and -d conflict: a detached container has no streams to attach; drop one of them"
                .into(),
        )
        .into());
    }
    let mut req = args.request()?;
    // -a decides about stdin: attached (and so read) only when named.
    let stdin = if run_args.attach.is_empty() {
        args.interactive
    } else {
        run_args.attach.iter().any(|a| a == "stdin")
    };
    req.process.stdin = stdin;
    let created = ctx.create(&req, &|| super::pull::observer(args.quiet))?;
    let attach = if run_args.detach {
        Attach::Detached
    } else if needs_monitor(args.tty, req.lifecycle.restart, run_args.sig_proxy)
        // Only a monitor can start it again.
        || req.health.on_failure == burrow::runtime::health::OnFailure::Restart
    {
        Attach::Relay(AttachOptions {
            stdin,
            detach_keys,
            sig_proxy: run_args.sig_proxy,
        })
    } else {
        Attach::Foreground
    };
    let id = created.record.id.clone();
    let unattached = Unattached::apply(&run_args.attach)?;
    let started = ctx.start(created, attach);
    drop(unattached);
    let started = started?;
    if stdout_reader_gone() {
        // The container wrote into a pipe nobody reads any more (`burrow
        // run IMG seq 100000 | head -1`): end as the Docker and Podman
        // clients do then, by SIGPIPE, whatever the command made of its
        // EPIPE (pid 1 of its namespace does not die of the signal).
        // SAFETY: default action, then the signal: this process ends.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
    if run_args.detach {
        println!("{id}");
    }
    Ok(started.exit_code())
}

#[cfg(test)]
mod tests {
    use crate::commands::container::ContainerCommand;
    use crate::commands::{Cli, Command};
    use clap::Parser;

    #[test]
    fn options_after_the_image_belong_to_the_command() {
        let cli = Cli::try_parse_from([
            "burrow", "run", "--rm", "-e", "A=1", "img", "sh", "-c", "exit 3", "--rm",
        ])
        .unwrap();
        let Command::Containers(ContainerCommand::Run(a)) = cli.command else {
            panic!("not run")
        };
        assert!(a.c.rm);
        assert_eq!(a.c.env, ["A=1"]);
        assert_eq!(a.c.image(), "img");
        assert_eq!(a.c.command(), ["sh", "-c", "exit 3", "--rm"]);
        assert_eq!(a.c.network, "pasta");
        // Burrow's own options after the image are the command's, too.
        let cli =
            Cli::try_parse_from(["burrow", "run", "img", "-u", "1000", "--rm", "id"]).unwrap();
        let Command::Containers(ContainerCommand::Run(a)) = cli.command else {
            panic!("not run")
        };
        assert_eq!(a.c.user, None);
        assert!(!a.c.rm);
        assert_eq!(a.c.command(), ["-u", "1000", "--rm", "id"]);
        let cli = Cli::try_parse_from(["burrow", "run", "-u", "app", "img"]).unwrap();
        let Command::Containers(ContainerCommand::Run(a)) = cli.command else {
            panic!("not run")
        };
        assert_eq!((a.c.user.as_deref(), a.c.image()), (Some("app"), "img"));
        assert!(a.c.command().is_empty());
        assert!(Cli::try_parse_from(["burrow", "run", "--rm"]).is_err());
    }
}
