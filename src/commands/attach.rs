//! `burrow attach`: connect to a running container's input and output.

use burrow::engine::{AttachOptions, Engine};
use burrow::runtime::attach::parse_detach_keys;
use clap::Args;

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

pub fn run(ctx: &Engine, args: &AttachArgs) -> anyhow::Result<i32> {
    let detach_keys = parse_detach_keys(&args.detach_keys)?;
    let containers = ctx.containers()?;
    let record = containers.find(&args.container)?;
    let opts = AttachOptions {
        stdin: !args.no_stdin,
        detach_keys,
        sig_proxy: args.sig_proxy,
    };
    Ok(ctx.attach(&containers, &record, &opts)?.exit_code())
}
