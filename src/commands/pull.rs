//! `burrow pull`

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use burrow::config::auth::{AuthStore, Credentials};
use burrow::config::registries::RegistriesConf;
use burrow::image::{self, PullObserver, PullOptions};
use burrow::registry::{Client, ClientOptions, Platform};
use clap::Args;

use super::{Ctx, UserNs, progress, report};

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

/// The pull engine options from the flags, checked before any work starts.
pub struct PullSetup {
    pub client_opts: ClientOptions,
    pub registries: RegistriesConf,
    pub platform: Platform,
}

pub fn setup(
    platform: Option<&str>,
    os: Option<&str>,
    arch: Option<&str>,
    variant: Option<&str>,
    tls_verify: Option<bool>,
    creds: Option<&str>,
    authfile: Option<&PathBuf>,
) -> anyhow::Result<PullSetup> {
    let mut platform = match platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    if let Some(os) = os {
        platform.os = os.to_string();
    }
    if let Some(arch) = arch {
        platform.architecture = arch.to_string();
        platform.variant = None;
    }
    if let Some(v) = variant {
        platform.variant = Some(v.to_string());
    }
    let client_opts = client_options(tls_verify, creds, authfile)?;
    Ok(PullSetup {
        registries: client_opts.registries.clone(),
        client_opts,
        platform,
    })
}

/// Registry client options from the flags every registry command shares.
pub fn client_options(
    tls_verify: Option<bool>,
    creds: Option<&str>,
    authfile: Option<&PathBuf>,
) -> anyhow::Result<ClientOptions> {
    let credentials = match creds {
        None => None,
        Some(c) => {
            let (user, pass) = match c.split_once(':') {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => (c.to_string(), String::new()),
            };
            if user.is_empty() {
                bail!("--creds {c:?}: the user name is empty; use --creds USERNAME:PASSWORD");
            }
            Some(Credentials::new(&user, &pass))
        }
    };
    let auth = match authfile {
        Some(f) => AuthStore::from_file(f)
            .with_context(|| format!("reading --authfile {}", f.display()))?,
        None => AuthStore::load_default()?,
    };
    Ok(ClientOptions {
        tls_verify,
        credentials,
        auth,
        registries: RegistriesConf::load_default()?,
    })
}

pub fn run(ctx: &Ctx, args: &PullArgs) -> anyhow::Result<i32> {
    let setup = setup(
        args.platform.as_deref(),
        args.os.as_deref(),
        args.arch.as_deref(),
        args.variant.as_deref(),
        args.registry.tls_verify,
        args.registry.creds.as_deref(),
        args.registry.authfile.as_ref(),
    )?;
    let store = ctx.store()?;
    let quiet = args.quiet;
    ctx.in_userns(|ns| {
        let observer: Box<dyn PullObserver> = if quiet {
            Box::new(image::pull::Quiet)
        } else if std::io::stderr().is_terminal() {
            Box::new(progress::Bars::new())
        } else {
            Box::new(progress::Lines)
        };
        match pull_in_userns(ctx, ns, &store, setup, &args.image, observer.as_ref()) {
            Ok(id) => {
                println!("{}", id.hex());
                0
            }
            Err(e) => report(&e),
        }
    })
}

/// The part of a pull that runs inside the user namespace. Shared with
/// other commands that pull a missing image.
pub fn pull_in_userns(
    ctx: &Ctx,
    ns: &UserNs,
    store: &burrow::storage::Store,
    setup: PullSetup,
    image_ref: &str,
    observer: &dyn PullObserver,
) -> anyhow::Result<burrow::digest::Digest> {
    let client = Client::new(setup.client_opts)?;
    let opts = PullOptions {
        platform: setup.platform,
        unpack: ns.unpack_options(ctx),
    };
    let record = image::pull(
        store,
        &client,
        &setup.registries,
        image_ref,
        &opts,
        observer,
    )?;
    Ok(record.id)
}

/// The image `name`, found in the store or pulled as the `--pull` policy
/// says (`always`/`true`, `missing`, `never`/`false`), in a process of its
/// own (a pull starts threads). `Err(code)` inside when the pull failed
/// (already reported).
pub fn image_as_policy(
    ctx: &Ctx,
    store: &burrow::storage::Store,
    name: &str,
    policy: &str,
    platform: Option<&str>,
    registry: &RegistryFlags,
    quiet: bool,
) -> anyhow::Result<Result<burrow::storage::ImageRecord, i32>> {
    use burrow::image::{LookupError, PullObserver, find_image};
    use std::io::IsTerminal;
    let local = match find_image(store, name) {
        Ok(i) => Some(i),
        Err(LookupError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let pull = match (policy, &local) {
        ("never" | "false", None) => bail!(
            "image not known: {name} (pull it first with burrow pull {name}, or drop --pull=never)"
        ),
        ("never" | "false" | "missing", Some(_)) => false,
        _ => true,
    };
    if let (false, Some(image)) = (pull, local) {
        return Ok(Ok(image));
    }
    let setup = setup(
        platform,
        None,
        None,
        None,
        registry.tls_verify,
        registry.creds.as_deref(),
        registry.authfile.as_ref(),
    )?;
    let code = ctx.in_userns(|ns| {
        let observer: Box<dyn PullObserver> = if quiet {
            Box::new(burrow::image::pull::Quiet)
        } else if std::io::stderr().is_terminal() {
            Box::new(super::progress::Bars::new())
        } else {
            Box::new(super::progress::Lines)
        };
        match pull_in_userns(ctx, ns, store, setup, name, observer.as_ref()) {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("Error: pulling {name}: {e:#}");
                super::EXIT_ENGINE
            }
        }
    })?;
    if code != 0 {
        return Ok(Err(code));
    }
    // The pull ran in a child process: look the image up again.
    Ok(Ok(find_image(store, name)?))
}
