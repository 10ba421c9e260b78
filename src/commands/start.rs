//! `burrow create`, `burrow start` and `burrow restart`.

use anyhow::Context as _;
use burrow::runtime::{ContainerError, ContainerStore};
use clap::Args;

use super::Ctx;
use super::run::{
    AttachRequest, CreateArgs, Created, create_container, namespace_for, start_detached,
};
use burrow::runtime::attach::parse_detach_keys;

#[derive(Debug, Args)]
#[command(override_usage = "burrow create [OPTIONS] IMAGE [COMMAND [ARG...]]")]
pub struct CreateCmdArgs {
    #[command(flatten)]
    pub c: CreateArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "A started container runs in the background under a monitor of its own, \
                  as with `run -d`; `burrow logs` shows its output."
)]
pub struct StartArgs {
    /// Attach to the container's output (and its exit code) until it exits
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's stdin too (implies --attach)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Keys that detach from a container with a terminal and leave it running
    /// (ctrl-<letter>, comma-separated; "" for none)
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Pass signals burrow receives on to the attached container
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL [default: the container's
    /// --stop-timeout, else 10]
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u64>,
    /// Containers: names, IDs or unique ID prefixes
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn create(ctx: &Ctx, args: &CreateCmdArgs) -> anyhow::Result<i32> {
    match create_container(ctx, &args.c)? {
        Ok(created) => {
            println!("{}", created.record.id);
            Ok(0)
        }
        Err(code) => Ok(code),
    }
}

pub fn start(ctx: &Ctx, args: &StartArgs) -> anyhow::Result<i32> {
    let detach_keys = parse_detach_keys(&args.detach_keys)?;
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    if args.attach || args.interactive {
        let [q] = args.containers.as_slice() else {
            anyhow::bail!("--attach and --interactive take one container: start the others apart");
        };
        let attach = AttachRequest {
            stdin: args.interactive,
            detach_keys,
            sig_proxy: args.sig_proxy,
        };
        return start_one(ctx, &store, &containers, q, Some(attach));
    }
    Ok(each(&args.containers, |q| {
        start_one(ctx, &store, &containers, q, None)
    }))
}

/// Do `one` for each container, printing its name when it worked (exit
/// 0), its error when not; the worst exit code.
fn each(queries: &[String], mut one: impl FnMut(&str) -> anyhow::Result<i32>) -> i32 {
    let mut code = 0;
    for q in queries {
        match one(q) {
            Ok(0) => println!("{q}"),
            Ok(c) => code = code.max(c),
            Err(e) => {
                eprintln!("Error: {e:#}");
                code = code.max(super::EXIT_ENGINE);
            }
        }
    }
    code
}

pub fn restart(ctx: &Ctx, args: &RestartArgs) -> anyhow::Result<i32> {
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    Ok(each(&args.containers, |q| {
        let c = containers.find(q)?;
        super::stop::stop_container(&containers, &c, args.time);
        start_one(ctx, &store, &containers, &c.id, None)
    }))
}

/// Start one container unless it runs already (no error, as Docker).
fn start_one(
    ctx: &Ctx,
    store: &burrow::storage::Store,
    containers: &ContainerStore,
    query: &str,
    attach: Option<AttachRequest>,
) -> anyhow::Result<i32> {
    let gc = store.gc_shared()?;
    let record = containers.find(query)?;
    if record.current_status().is_live() {
        if attach.is_some() {
            return super::attach::attach_to(containers, &record, attach);
        }
        return Ok(0);
    }
    let mut spec = containers.load_spec(&record.id)?;
    // Input is attached only where the container was made to read it.
    let attach = attach.map(|a| AttachRequest {
        stdin: a.stdin && spec.stdin,
        ..a
    });
    let exec = record
        .exec
        .clone()
        .ok_or_else(|| ContainerError::NoSpec(record.id.clone()))?;
    spec.confine = exec
        .confinement(&ctx.paths.runroot.join("seccomp"))
        .with_context(|| format!("container {}", record.name))?;
    let userns = namespace_for(record.keep_id)?;
    // A fresh start: the policy counts again, and `stop` no longer holds.
    let record = containers.modify(&record.id, |r| {
        r.stopped_by_user = false;
        r.restart_count = 0;
    })?;
    start_detached(
        ctx,
        Created::new(record, spec, userns, containers.clone(), gc),
        false,
        attach,
    )
}
