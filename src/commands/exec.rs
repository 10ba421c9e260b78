//! `burrow exec`: run a command in a running container.

use anyhow::Context as _;
use burrow::runtime::exec::{ExecRequest, exec_in};
use burrow::runtime::{ContainerError, ContainerStore, Status, tty};
use clap::Args;

use super::Ctx;

#[derive(Debug, Args)]
#[command(override_usage = "burrow exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
pub struct ExecArgs {
    /// Keep stdin open: the command reads burrow's standard input
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the command a terminal (with -i, the user's terminal is relayed in raw mode)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run the command in the background: return once it runs; its output is discarded
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set an environment variable (K=V), or copy K from burrow's environment
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory inside the container [default: the container's]
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run as user[:group] [default: the container's user]
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// The container (name, ID or unique ID prefix), then the command and its arguments
    #[arg(value_name = "CONTAINER", required = true, num_args = 2.., trailing_var_arg = true)]
    pub argv: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &ExecArgs) -> anyhow::Result<i32> {
    let (query, command) = args
        .argv
        .split_first()
        .context("give a container and a command")?;
    let mut env = Vec::new();
    for e in &args.env {
        match e.split_once('=') {
            Some(("", _)) => {
                anyhow::bail!("environment variable {e:?} has an empty name; use -e NAME=VALUE")
            }
            Some(_) => env.push(e.clone()),
            None => {
                if let Ok(v) = std::env::var(e) {
                    env.push(format!("{e}={v}"));
                }
            }
        }
    }
    if let Some(w) = &args.workdir
        && !w.starts_with('/')
    {
        anyhow::bail!("working directory {w:?} is not absolute; give an absolute path to -w");
    }
    if args.detach && (args.tty || args.interactive) {
        anyhow::bail!("exec -d runs the command without input or terminal: drop -t and -i, or -d");
    }
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let c = match containers.find(query) {
        Ok(c) => c,
        Err(e @ (ContainerError::NotFound(_) | ContainerError::Ambiguous { .. })) => {
            anyhow::bail!("{e}")
        }
        Err(e) => return Err(e.into()),
    };
    if c.current_status() == Status::Paused {
        anyhow::bail!(
            "container {} is paused: continue it with burrow unpause {}, then exec",
            c.name,
            c.name
        );
    }
    let (Status::Running, Some(pid), Some(exec)) = (c.current_status(), c.pid, c.exec.clone())
    else {
        anyhow::bail!(
            "container {} is not running: start one with burrow run -d, then exec into it",
            c.name
        );
    };
    // Prepared here, before joining the container: a profile is a host file.
    let filter = exec
        .confinement(&ctx.paths.runroot.join("seccomp"))?
        .seccomp;
    let req = ExecRequest {
        args: command.to_vec(),
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        stdin: args.interactive,
        tty: args.tty,
        winsize: if args.tty { tty::host_winsize() } else { None },
        detach: args.detach,
    };
    let raw = if args.tty && args.interactive {
        tty::RawMode::enter().context("putting the terminal in raw mode")?
    } else {
        None
    };
    let code = exec_in(pid, &exec, filter.as_ref(), &req)
        .unwrap_or_else(|e| super::run::report_run_error(&e));
    drop(raw);
    Ok(code)
}
