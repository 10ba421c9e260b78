//! `burrow exec`: run a command in a running container.

use anyhow::Context as _;
use burrow::runtime::exec::ExecRequest;
use burrow::runtime::tty;
use clap::Args;

use burrow::engine::Engine;

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
    #[arg(
        short = 'u',
        long = "user",
        value_name = "USER[:GROUP]",
        allow_hyphen_values = true
    )]
    pub user: Option<String>,
    /// The container (name, ID or unique ID prefix), then the command and its arguments
    #[arg(value_name = "CONTAINER", required = true, num_args = 2.., trailing_var_arg = true)]
    pub argv: Vec<String>,
}

pub fn run(ctx: &Engine, args: &ExecArgs) -> anyhow::Result<i32> {
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
    let containers = ctx.containers()?;
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
    Ok(ctx.exec(&containers, query, &req, args.tty && args.interactive)?)
}
