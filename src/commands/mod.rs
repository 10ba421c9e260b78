//! Command-line parsing and presentation. Each subcommand has its own file
//! with a clap argument struct and a `run` function that calls the engine
//! and prints; no engine logic lives here.

mod attach;
mod build;
mod commit;
mod completion;
mod container;
mod cp;
mod create;
mod diff;
mod events;
mod exec;
mod export;
mod format;
mod healthcheck;
mod history;
mod image;
mod images;
mod import;
mod info;
mod inspect;
mod load;
mod login;
mod logs;
mod network;
mod output;
mod port;
mod progress;
mod prune;
mod ps;
mod pull;
mod push;
mod rename;
mod rm;
mod rmi;
mod run;
mod save;
mod search;
mod select;
mod start;
mod stats;
mod stop;
mod system;
mod tag;
mod template;
mod top;
mod unshare;
mod version;
mod volume;

use std::path::PathBuf;

use burrow::engine::error::chain_message;
use burrow::engine::{Engine, EngineError};
use clap::{Parser, Subcommand};

/// Exit status for errors of burrow itself (Docker/Podman convention).
pub use burrow::engine::error::EXIT_ENGINE;

#[derive(Debug, Parser)]
#[command(
    name = "burrow",
    version,
    about = "Rootless, daemonless containers",
    long_about = "burrow runs OCI containers as an unprivileged user: no daemon, no root. \
                  Images and containers live under $XDG_DATA_HOME/burrow, runtime state under \
                  $XDG_RUNTIME_DIR/burrow.",
    propagate_version = true
)]
pub struct Cli {
    /// Storage root for images and containers [default: $XDG_DATA_HOME/burrow]
    #[arg(long, global = true, env = "BURROW_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Runtime state directory [default: $XDG_RUNTIME_DIR/burrow]
    #[arg(long, global = true, env = "BURROW_RUNROOT", value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// Log messages at this level and above to stderr: trace, debug, info, warn (warning),
    /// error (fatal, panic)
    #[arg(long, global = true, value_name = "LEVEL", default_value = "warn")]
    pub log_level: String,
    /// How container roots are made: overlay, fuse-overlayfs or vfs [default: [storage] driver
    /// in config.toml, else overlay if the kernel allows it, else fuse-overlayfs, else vfs]
    #[arg(long, global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull an image from a registry
    Pull(pull::PullArgs),
    /// Push an image to a registry
    Push(push::PushArgs),
    /// Log in to a registry: check and store credentials
    Login(login::LoginArgs),
    /// Remove stored registry credentials
    Logout(login::LogoutArgs),
    /// List images in local storage
    Images(images::ImagesArgs),
    #[command(flatten)]
    Containers(container::ContainerCommand),
    /// Build an image from a Dockerfile
    Build(Box<build::BuildArgs>),
    /// Create an image from a container's changes
    Commit(commit::CommitArgs),
    /// Search a registry's catalog for repositories
    Search(search::SearchArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// Remove one or more images
    Rmi(rmi::RmiArgs),
    /// Add a name to an image
    Tag(tag::TagArgs),
    /// Remove names from an image
    Untag(tag::UntagArgs),
    /// Show low-level information on images as JSON
    Inspect(inspect::InspectArgs),
    /// Write images to an archive (docker-archive or oci-archive)
    Save(save::SaveArgs),
    /// Load images from an archive written by save, docker save or podman save
    Load(load::LoadArgs),
    /// Make an image from a root filesystem tarball
    Import(import::ImportArgs),
    /// Show how an image was made, layer by layer
    History(history::HistoryArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(container::ContainerGroup),
    /// Manage user networks, on which containers reach each other by name
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Check the host and the store, show disk usage
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Manage volumes, directories of the store that outlive containers
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Run container healthchecks
    #[command(subcommand)]
    Healthcheck(healthcheck::HealthcheckCommand),
    /// Show information about the host and the store
    Info(info::InfoArgs),
    /// Show events: what happened to containers, images, networks and volumes
    Events(events::EventsArgs),
    /// Run a command inside burrow's user namespace
    Unshare(unshare::UnshareArgs),
    /// Show burrow's version
    Version(version::VersionArgs),
    /// Print a shell completion script
    Completion(completion::CompletionArgs),
}

/// Ask before a destructive command, as Podman does (`WARNING! ...`, then
/// `[y/N]`); true for yes. Standard input at its end (a script that gave no
/// answer) is an error naming `--force`.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    eprint!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer)? == 0 {
        anyhow::bail!("no answer on standard input: pass --force to go ahead without asking");
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Print an error the way Podman does (one `Error: ` line, after what the
/// engine's helpers wrote, if anything) and return its exit code: the
/// engine's for its own errors (126 and 127 for a command that cannot be
/// executed or found), else 125.
pub fn report(err: &anyhow::Error) -> i32 {
    let message = chain_message(err.as_ref());
    let engine = err.downcast_ref::<EngineError>();
    if let Some(EngineError::ReportedWithOutput { output, .. }) = engine {
        eprint!("{output}");
    }
    eprintln!("Error: {message}");
    engine.map_or(EXIT_ENGINE, EngineError::exit_code)
}

/// The engine for the global options.
fn open_engine(cli: &Cli) -> anyhow::Result<Engine> {
    Ok(Engine::open(cli.root.clone(), cli.runroot.clone())?
        .with_storage_driver(cli.storage_driver.clone())
        .on_warning(|w| eprintln!("WARN: {w}")))
}

/// The command line's definition with every single-value option
/// overriding itself, as Go's flag parsers do: `--name a --name b` names
/// the container b (options that collect values still collect them).
pub fn command() -> clap::Command {
    fn override_self(cmd: clap::Command) -> clap::Command {
        cmd.args_override_self(true).mut_subcommands(override_self)
    }
    override_self(<Cli as clap::CommandFactory>::command())
}

/// Parse the command line as [`command`] defines it.
/// Plainly first: rebuilding the whole definition with self-overriding
/// options costs every command a few hundred thousand instructions, and
/// only a repeated option (which the plain parse refuses as a conflict)
/// needs it.
fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T> + Clone,
    T: Into<std::ffi::OsString> + Clone,
{
    match <Cli as clap::Parser>::try_parse_from(args.clone()) {
        Err(e) if e.kind() == clap::error::ErrorKind::ArgumentConflict => {
            let matches = command().try_get_matches_from(args)?;
            <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
        }
        parsed => parsed,
    }
}

/// The process's own command line, as [`parse_from`] reads it.
fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    parse_from(args)
}

pub fn main() -> i32 {
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Usage errors are engine errors for Docker/Podman (125);
            // --help and --version are not errors.
            return if e.use_stderr() { EXIT_ENGINE } else { 0 };
        }
    };
    let Some(level) = log_level(&cli.log_level) else {
        // Podman's words and status.
        eprintln!(
            "Error: Log Level {:?} is not supported, choose from: trace, debug, info, warn, warning, error, fatal, panic",
            cli.log_level
        );
        return 1;
    };
    init_logging(level);
    if let Command::Completion(args) = &cli.command {
        return completion::run(args);
    }
    let ctx = match open_engine(&cli) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    let result = match &cli.command {
        Command::Pull(a) => pull::run(&ctx, a),
        Command::Push(a) => push::run(&ctx, a),
        Command::Login(a) => login::login(&ctx, a),
        Command::Logout(a) => login::logout(&ctx, a),
        Command::Images(a) => images::run(&ctx, a),
        Command::Ps(a) => ps::run(&ctx, a),
        Command::Rmi(a) => rmi::run(&ctx, a),
        Command::Tag(a) => tag::run(&ctx, a),
        Command::Untag(a) => tag::untag(&ctx, a),
        Command::Version(a) => version::run(&ctx, a),
        Command::Inspect(a) => inspect::run(&ctx, a),
        Command::Save(a) => save::run(&ctx, a),
        Command::Load(a) => load::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::History(a) => history::run(&ctx, a),
        Command::Image(c) => image::run(&ctx, c),
        Command::Container(c) => container::run_group(&ctx, c),
        Command::Containers(c) => container::run(&ctx, c),
        Command::System(c) => system::run(&ctx, c),
        Command::Healthcheck(c) => healthcheck::run(&ctx, c),
        Command::Network(c) => network::run(&ctx, c),
        Command::Volume(c) => volume::run(&ctx, c),
        Command::Build(a) => build::run(&ctx, a),
        Command::Commit(a) => commit::run(&ctx, a),
        Command::Search(a) => search::run(&ctx, a),
        Command::Info(a) => info::run(&ctx, a),
        Command::Events(a) => events::run(&ctx, a),
        Command::Unshare(a) => unshare::run(&ctx, a),
        Command::Completion(_) => Ok(0),
    };
    match result {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

/// `--log-level` as Podman takes it.
fn log_level(name: &str) -> Option<log::LevelFilter> {
    Some(match name {
        "trace" => log::LevelFilter::Trace,
        "debug" => log::LevelFilter::Debug,
        "info" => log::LevelFilter::Info,
        "warn" | "warning" => log::LevelFilter::Warn,
        "error" | "fatal" | "panic" => log::LevelFilter::Error,
        _ => return None,
    })
}

fn init_logging(filter: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(filter)
        .format_timestamp(None)
        .format_target(false)
        .target(env_logger::Target::Stderr)
        .init();
}

#[cfg(test)]
mod tests;
