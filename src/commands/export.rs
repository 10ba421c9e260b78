//! `burrow export`

use std::path::PathBuf;

use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(
    after_help = "Writes the container's root filesystem, running or stopped, as a tar \
                        (entries named relative to /). /proc, /sys, /dev, the files burrow \
                        mounts in /etc, volumes and tmpfs mounts are written as empty mount \
                        points. `burrow import` makes an image of it again."
)]
pub struct ExportArgs {
    /// Write the tar to FILE (replaced only once it is complete) instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn run(ctx: &Engine, args: &ExportArgs) -> anyhow::Result<i32> {
    super::cp::export(ctx, &args.container, args.output.as_deref())
}
