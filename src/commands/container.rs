//! The container commands: each is both a top-level command (`burrow run`)
//! and one of `burrow container` (`burrow container run`), as in Docker
//! and Podman, declared once here. `burrow container` adds the commands
//! whose top-level form is another (`container ls` for `ps`, `container
//! inspect` for the `inspect` of images and containers) or that exist
//! only there (`container prune`).

use burrow::engine::Engine;
use clap::Subcommand;

use super::{
    attach, cp, create, diff, exec, export, inspect, logs, port, prune, ps, rename, rm, run, start,
    stats, stop, top,
};

/// The container commands that read the same at the top level and under
/// `burrow container`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Run a command in a new container
    Run(Box<run::RunArgs>),
    /// Create a container without starting it
    Create(Box<create::CreateCmdArgs>),
    /// Start created or stopped containers in the background
    Start(start::StartArgs),
    /// Stop and start containers again
    Restart(start::RestartArgs),
    /// Attach to a running container's input and output
    Attach(attach::AttachArgs),
    /// Show the processes of a running container
    Top(top::TopArgs),
    /// Pause every process of containers
    Pause(top::PauseArgs),
    /// Continue paused containers
    Unpause(top::PauseArgs),
    /// Rename a container
    Rename(rename::RenameArgs),
    /// Copy files between a container and the host
    Cp(cp::CpArgs),
    /// Show the files a container added, changed or deleted
    Diff(diff::DiffArgs),
    /// Write a container's root filesystem as a tar
    Export(export::ExportArgs),
    /// List a container's published ports
    Port(port::PortArgs),
    /// Remove one or more containers
    Rm(rm::RmArgs),
    /// Run a command in a running container
    Exec(Box<exec::ExecArgs>),
    /// Show what a detached container wrote
    Logs(logs::LogsArgs),
    /// Stop containers: SIGTERM, then SIGKILL after a timeout
    Stop(stop::StopArgs),
    /// Send a signal to containers
    Kill(stop::KillArgs),
    /// Wait for containers to exit and print their exit codes
    Wait(stop::WaitArgs),
    /// Show what containers use: CPU, memory, network and block I/O, PIDs
    Stats(stats::StatsArgs),
}

/// `burrow container SUBCOMMAND`.
#[derive(Debug, Subcommand)]
pub enum ContainerGroup {
    #[command(flatten)]
    Common(ContainerCommand),
    /// Remove every stopped container
    Prune(prune::PruneArgs),
    /// List containers
    #[command(visible_alias = "ls", alias = "ps")]
    List(ps::PsArgs),
    /// Show low-level information on containers
    Inspect(inspect::ContainerInspectArgs),
    /// Exit 0 if the container exists, 1 if not
    Exists(ExistsArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExistsArgs {
    /// The container: name, ID or unique ID prefix
    pub container: String,
}

pub fn run(ctx: &Engine, cmd: &ContainerCommand) -> anyhow::Result<i32> {
    match cmd {
        ContainerCommand::Run(a) => run::run(ctx, a),
        ContainerCommand::Create(a) => create::run(ctx, a),
        ContainerCommand::Start(a) => start::start(ctx, a),
        ContainerCommand::Restart(a) => start::restart(ctx, a),
        ContainerCommand::Attach(a) => attach::run(ctx, a),
        ContainerCommand::Top(a) => top::top(ctx, a),
        ContainerCommand::Pause(a) => top::pause(ctx, a),
        ContainerCommand::Unpause(a) => top::unpause(ctx, a),
        ContainerCommand::Rename(a) => rename::run(ctx, a),
        ContainerCommand::Cp(a) => cp::run(ctx, a),
        ContainerCommand::Diff(a) => diff::run(ctx, a),
        ContainerCommand::Export(a) => export::run(ctx, a),
        ContainerCommand::Port(a) => port::run(ctx, a),
        ContainerCommand::Rm(a) => rm::run(ctx, a),
        ContainerCommand::Exec(a) => exec::run(ctx, a),
        ContainerCommand::Logs(a) => logs::run(ctx, a),
        ContainerCommand::Stop(a) => stop::stop(ctx, a),
        ContainerCommand::Kill(a) => stop::kill(ctx, a),
        ContainerCommand::Wait(a) => stop::wait(ctx, a),
        ContainerCommand::Stats(a) => stats::run(ctx, a),
    }
}

pub fn run_group(ctx: &Engine, cmd: &ContainerGroup) -> anyhow::Result<i32> {
    match cmd {
        ContainerGroup::Common(c) => run(ctx, c),
        ContainerGroup::Prune(a) => prune::run(ctx, a),
        ContainerGroup::List(a) => ps::run(ctx, a),
        ContainerGroup::Inspect(a) => inspect::run_containers(ctx, a),
        ContainerGroup::Exists(a) => match ctx.containers()?.find(&a.container) {
            Ok(_) => Ok(0),
            Err(burrow::runtime::ContainerError::NotFound(_)) => Ok(1),
            Err(e) => Err(e.into()),
        },
    }
}
