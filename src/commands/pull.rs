//! `burrow pull`

use std::io::IsTerminal;
use std::path::PathBuf;

use burrow::engine::pull::{PullSetup, RegistryOptions, pull_in_userns};
use burrow::image::{self, PullObserver};
use clap::Args;

use super::{progress, report};
use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull: NAME[:TAG], NAME@DIGEST or REGISTRY[:PORT]/NAME[:TAG]
    pub image: String,
    /// Platform to pick from a multi-platform image (OS/ARCH[/VARIANT]) [default: this host]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Override the architecture of --platform
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Override the OS of --platform
    #[arg(long, value_name = "OS")]
    pub os: Option<String>,
    /// Override the variant of --platform
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Print only the image ID
    #[arg(short, long)]
    pub quiet: bool,
}

/// How to reach a registry: shared by every command that pulls.
#[derive(Debug, Args)]
pub struct RegistryFlags {
    /// Require HTTPS and verify certificates (false also allows plain HTTP)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Credentials (USERNAME[:PASSWORD]) for the registry
    #[arg(long, value_name = "USER[:PASS]")]
    pub creds: Option<String>,
    /// Path of the authentication file [default: $REGISTRY_AUTH_FILE, then
    /// $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

impl RegistryFlags {
    /// The engine's registry options from these flags.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            tls_verify: self.tls_verify,
            creds: self.creds.clone(),
            authfile: self.authfile.clone(),
        }
    }
}

/// Pull progress on stderr: bars on a terminal, lines elsewhere, nothing
/// with `quiet`.
pub fn observer(quiet: bool) -> Box<dyn PullObserver> {
    if quiet {
        Box::new(image::pull::Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(progress::Bars::new())
    } else {
        Box::new(progress::Lines)
    }
}

/// The pull setup from the flags, checked before any work starts.
fn setup(args: &PullArgs) -> anyhow::Result<PullSetup> {
    let mut setup = PullSetup::new(args.platform.as_deref(), &args.registry.options())?;
    if let Some(os) = &args.os {
        setup.platform.os = os.clone();
    }
    if let Some(arch) = &args.arch {
        setup.platform.architecture = arch.clone();
        setup.platform.variant = None;
    }
    if let Some(v) = &args.variant {
        setup.platform.variant = Some(v.clone());
    }
    Ok(setup)
}

pub fn run(ctx: &Engine, args: &PullArgs) -> anyhow::Result<i32> {
    let setup = setup(args)?;
    let store = ctx.store()?;
    let quiet = args.quiet;
    Ok(ctx.in_userns(|ns| {
        let observer = observer(quiet);
        match pull_in_userns(ctx, ns, &store, setup, &args.image, observer.as_ref()) {
            Ok(image) => {
                println!("{}", image.id.hex());
                0
            }
            Err(e) => report(&e.into()),
        }
    })?)
}
