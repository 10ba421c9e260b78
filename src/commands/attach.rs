//! `burrow attach`: connect to a running container's input and output.

use anyhow::Context as _;
use burrow::runtime::attach::{AttachEnd, ClientOptions, connect_to, parse_detach_keys};
use burrow::runtime::{ContainerRecord, ContainerStore, tty};
use clap::Args;

use super::Ctx;
use super::run::{AttachRequest, lost_monitor};

#[derive(Debug, Args)]
#[command(
    after_help = "The detach keys (ctrl-p ctrl-q unless --detach-keys says otherwise) leave \
                  the container running. Exit status: the container's when it exits while \
                  attached; 0 after detaching."
)]
pub struct AttachArgs {
    /// Do not attach stdin
    #[arg(long)]
    pub no_stdin: bool,
    /// Keys that detach from a container with a terminal and leave it running
    /// (ctrl-<letter>, comma-separated; "" for none)
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Pass signals burrow receives on to the container
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(ctx: &Ctx, args: &AttachArgs) -> anyhow::Result<i32> {
    let detach_keys = parse_detach_keys(&args.detach_keys)?;
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let record = containers.find(&args.container)?;
    let req = AttachRequest {
        stdin: !args.no_stdin,
        detach_keys,
        sig_proxy: args.sig_proxy,
    };
    attach_to(&containers, &record, Some(req))
}

/// Attach to a running container (as `attach` and `start -a` of a running
/// one do).
pub fn attach_to(
    containers: &ContainerStore,
    record: &ContainerRecord,
    req: Option<AttachRequest>,
) -> anyhow::Result<i32> {
    let Some(req) = req else { return Ok(0) };
    if !record.current_status().is_live() {
        anyhow::bail!(
            "container {} is not running: you can only attach to running containers; start it with burrow start -a {}",
            record.name,
            record.name
        );
    }
    let spec = containers.load_spec(&record.id)?;
    let sock = connect_to(&containers.dir_of(&record.id)).with_context(|| {
        format!(
            "connecting to container {}'s monitor (is it still running?)",
            record.name
        )
    })?;
    let stdin = req.stdin && spec.stdin;
    let raw = if stdin && spec.tty {
        tty::RawMode::enter().context("putting the terminal in raw mode")?
    } else {
        None
    };
    let code = relay(
        containers,
        &record.id,
        &sock,
        &req,
        stdin,
        spec.tty,
        record.monitor.as_ref().map(|m| m.pid),
    );
    drop(raw);
    code
}

/// Relay between our stdio and the container attached through `sock`
/// until it exits (its exit code) or the user detaches (0).
pub fn relay(
    containers: &ContainerStore,
    id: &str,
    sock: &std::os::fd::OwnedFd,
    req: &AttachRequest,
    stdin: bool,
    tty: bool,
    monitor_pid: Option<i32>,
) -> anyhow::Result<i32> {
    if req.sig_proxy
        && let Some(pid) = monitor_pid
    {
        burrow::runtime::attach::proxy_signals_to(pid);
    }
    let end = burrow::runtime::attach::run_client(
        sock,
        &ClientOptions {
            stdin,
            tty,
            detach_keys: req.detach_keys.clone(),
        },
    )
    .context("relaying the container's input and output")?;
    Ok(match end {
        AttachEnd::Exited(code) => code,
        AttachEnd::Detached => 0,
        AttachEnd::Lost => lost_monitor(containers, id),
    })
}
