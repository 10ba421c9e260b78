//! Images as the engine needs them: registry options from what the user
//! gave, a pull in the user namespace, and the image a container is made
//! from, found or pulled as the pull policy says.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{EngineError, RequestError};
use super::{Engine, UserNs};
use crate::config::auth::{AuthError, AuthStore, Credentials};
use crate::config::registries::{RegistriesConf, RegistriesError};
use crate::image::{self, LookupError, PullObserver, PullOptions, find_image};
use crate::registry::{Client, ClientOptions, Platform, PlatformError, RegistryError};
use crate::storage::{ImageRecord, Store};

/// Why registry options could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    #[error("--creds {0:?}: the user name is empty; use --creds USERNAME:PASSWORD")]
    EmptyUser(String),
    #[error("reading --authfile {}: {source}", path.display())]
    AuthFile { path: PathBuf, source: AuthError },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Registries(#[from] RegistriesError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Client(#[from] RegistryError),
}

/// How to reach a registry, as every command that talks to one is told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryOptions {
    /// Require HTTPS and verify certificates (false also allows plain HTTP).
    pub tls_verify: Option<bool>,
    /// `USERNAME[:PASSWORD]`.
    pub creds: Option<String>,
    /// The authentication file [default: the usual places].
    pub authfile: Option<PathBuf>,
}

impl RegistryOptions {
    /// The registry client's options: credentials, auth file and
    /// registries.conf loaded and checked.
    pub fn client_options(&self) -> Result<ClientOptions, RegistrySetupError> {
        let credentials = match &self.creds {
            None => None,
            Some(c) => {
                let (user, pass) = c.split_once(':').unwrap_or((c.as_str(), ""));
                if user.is_empty() {
                    return Err(RegistrySetupError::EmptyUser(c.clone()));
                }
                Some(Credentials::new(user, pass))
            }
        };
        let auth = match &self.authfile {
            Some(f) => AuthStore::from_file(f).map_err(|source| RegistrySetupError::AuthFile {
                path: f.clone(),
                source,
            })?,
            None => AuthStore::load_default()?,
        };
        Ok(ClientOptions {
            tls_verify: self.tls_verify,
            credentials,
            auth,
            registries: RegistriesConf::load_default()?,
            // The engine's `[registry] timeout`, set where it pulls.
            timeout: None,
        })
    }
}

/// When `create` pulls the image (`--pull`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    /// Only when the store lacks it.
    #[default]
    Missing,
    /// Every time (a pull of an unchanged image transfers nothing).
    Always,
    /// Never: the image must be in the store.
    Never,
}

impl std::str::FromStr for PullPolicy {
    type Err = RequestError;
    /// Podman's words: missing, always (or true), newer (as always), never
    /// (or false).
    fn from_str(s: &str) -> Result<PullPolicy, RequestError> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" | "true" | "newer" => Ok(PullPolicy::Always),
            "never" | "false" => Ok(PullPolicy::Never),
            _ => Err(RequestError::Invalid(format!(
                "invalid --pull {s:?}: use missing, always, newer or never"
            ))),
        }
    }
}

/// What to pull: the platform and the registry options, checked before
/// anything is transferred.
#[derive(Debug)]
pub struct PullSetup {
    pub client_opts: ClientOptions,
    pub platform: Platform,
}

impl PullSetup {
    /// `platform` (OS/ARCH[/VARIANT], default this host) and the registry
    /// options.
    pub fn new(
        platform: Option<&str>,
        registry: &RegistryOptions,
    ) -> Result<PullSetup, RegistrySetupError> {
        let platform = match platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        Ok(PullSetup {
            client_opts: registry.client_options()?,
            platform,
        })
    }
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullFailed {
    #[error(transparent)]
    Client(#[from] RegistryError),
    #[error(transparent)]
    Pull(#[from] image::PullError),
}

/// Makes the observer of a pull, in the process that pulls.
pub type ObserverFactory<'a> = &'a dyn Fn() -> Box<dyn PullObserver>;

/// Pull `reference` into `store`; the part of a pull that runs inside the
/// user namespace `ns` (it starts threads: call it in a process of its
/// own).
pub fn pull_in_userns(
    engine: &Engine,
    ns: &UserNs,
    store: &Store,
    setup: PullSetup,
    reference: &str,
    observer: &dyn PullObserver,
) -> Result<ImageRecord, PullFailed> {
    let registries = setup.client_opts.registries.clone();
    let mut client_opts = setup.client_opts;
    // `[registry] timeout` unless the caller chose one.
    client_opts
        .timeout
        .get_or_insert(engine.config.registry.timeout());
    let client = Client::new(client_opts)?;
    let opts = PullOptions {
        platform: setup.platform,
        unpack: ns.unpack_options(engine.config.storage.ignore_chown_errors),
    };
    let pulled = image::pull(store, &client, &registries, reference, &opts, observer)?;
    // Docker's pull event names the reference pulled.
    let name = pulled.names.first().map_or(reference, String::as_str);
    engine.emit(&crate::events::Event::image(
        crate::events::ImageAction::Pull,
        name,
        name,
    ));
    Ok(pulled)
}

fn pull_error(reference: &str, e: &dyn std::error::Error) -> EngineError {
    EngineError::Pull {
        image: reference.to_string(),
        message: super::error::chain_message(e),
    }
}

/// The image `reference`, found in the store or pulled as `policy` says,
/// in a process of its own (a pull starts threads; the caller must stay
/// single-threaded).
pub fn image_as_policy(
    engine: &Engine,
    store: &Store,
    reference: &str,
    policy: PullPolicy,
    platform: Option<&str>,
    registry: &RegistryOptions,
    observer: ObserverFactory<'_>,
) -> Result<ImageRecord, EngineError> {
    let local = match find_image(store, reference) {
        Ok(i) => Some(i),
        Err(LookupError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    match (policy, local) {
        (PullPolicy::Never, None) => return Err(EngineError::ImageNotKnown(reference.into())),
        (PullPolicy::Never | PullPolicy::Missing, Some(image)) => return Ok(image),
        _ => {}
    }
    let setup = PullSetup::new(platform, registry).map_err(|e| pull_error(reference, &e))?;
    let pulled: Result<(), super::error::Reported> = engine.in_userns(|ns| {
        let observer = observer();
        pull_in_userns(engine, ns, store, setup, reference, observer.as_ref())
            .map(|_| ())
            .map_err(|e| pull_error(reference, &e).report())
    })?;
    pulled?;
    // The pull ran in a child process: look the image up again.
    Ok(find_image(store, reference)?)
}
