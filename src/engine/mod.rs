//! The container engine's API: what every front end calls (the command
//! line today; compose, kube play, systemd units and the API socket next).
//! A front end builds a [`ContainerRequest`], hands it to [`Engine::create`]
//! and drives the container with [`Engine::start`], [`Engine::stop`],
//! [`Engine::kill`], [`Engine::remove`], [`Engine::wait`],
//! [`Engine::list`] and [`Engine::inspect`]; copies files in and out
//! ([`Engine::copy_into`], [`Engine::copy_out_of`], [`Engine::export`]),
//! reads and pauses a container ([`Engine::top`], [`Engine::diff`],
//! [`Engine::pause`]), manages user networks ([`Engine::network_create`],
//! [`Engine::network_connect`], ...), volumes ([`Engine::volume_create`],
//! [`Engine::volume_remove`], [`Engine::volume_prune`], ...) and images ([`Engine::build`],
//! [`Engine::commit`], [`Engine::load`], [`Engine::import`],
//! [`Engine::remove_images`]). Nothing here parses a command
//! line or prints: errors are typed ([`EngineError`], with the exit status
//! a command line reports), warnings go to the front end's callback.
//!
//! Every call that forks (into the user namespace, a monitor, a pull)
//! must come from a single-threaded process: enter the namespaces before
//! any thread or async runtime starts.

pub mod build;
pub mod copy;
mod create;
pub mod error;
pub mod health;
pub mod housekeeping;
pub mod images;
mod manage;
mod namespace;
pub mod network;
pub mod processes;
pub mod pull;
pub mod request;
mod start;
pub mod stats;
pub mod system;
pub mod volume;

use std::path::PathBuf;

pub use build::{BuildFailure, BuildRequest};
pub use copy::{CopyError, CopyFrom, CopyTo, TarSink, TarSource};
pub use create::{AttachmentError, Created, attachment_for};
pub use error::{EngineError, ErrorKind, Reported, RequestError};
pub use health::{CheckRun, WaitCondition};
pub use images::{
    CommitRequest, ImageRemoval, ImagesPruned, ImagesRemoved, ImportSource, RemovalFailure,
};
pub use manage::{ContainerFilter, StopOutcome};
pub use namespace::UserNs;
pub use network::{ConnectError, NetworkRequest};
pub use processes::{Processes, Pruned, TopError};
pub use pull::{PullPolicy, RegistryOptions};
pub use request::{ContainerRequest, ContainerRequestBuilder, UsernsMode};
pub use start::{Attach, AttachOptions, Started, needs_monitor};
pub use system::{DiskUsage, DiskUsageReport, Info};
pub use volume::{VolumeCreateRequest, VolumeFilter, VolumeUsage, VolumesPruned};

use crate::config::BurrowConfig;
use crate::paths::Paths;
use crate::runtime::ContainerStore;
use crate::storage::Store;

type WarnFn = Box<dyn Fn(&str)>;

/// One user's engine: where its store and runtime state live, its
/// configuration, and where its warnings go.
pub struct Engine {
    pub paths: Paths,
    pub config: BurrowConfig,
    /// The storage driver asked for (else the configuration's, else the
    /// best the host allows).
    pub storage_driver: Option<String>,
    warn: WarnFn,
}

impl Engine {
    /// The engine of the current user: roots from the arguments, else the
    /// environment (`BURROW_ROOT`, `BURROW_RUNROOT`, the XDG directories),
    /// and `config.toml`. Warnings are logged until
    /// [`Engine::on_warning`] says otherwise.
    pub fn open(root: Option<PathBuf>, runroot: Option<PathBuf>) -> Result<Engine, EngineError> {
        let paths = Paths::resolve(root, runroot)?;
        let config = BurrowConfig::load(&paths.config_file())?;
        let storage_driver = config.storage.driver.clone();
        Ok(Engine {
            paths,
            config,
            storage_driver,
            warn: Box::new(|w| log::warn!("{w}")),
        })
    }

    /// Use `driver` for new containers instead of the configuration's.
    pub fn with_storage_driver(mut self, driver: Option<String>) -> Engine {
        if driver.is_some() {
            self.storage_driver = driver;
        }
        self
    }

    /// Send warnings (a missing subordinate range, a storage driver
    /// fallback) to `f`.
    pub fn on_warning(mut self, f: impl Fn(&str) + 'static) -> Engine {
        self.warn = Box::new(f);
        self
    }

    pub(crate) fn warn(&self, message: &str) {
        (self.warn)(message)
    }

    /// The image store, created if needed.
    pub fn store(&self) -> Result<Store, EngineError> {
        self.paths.ensure()?;
        Ok(Store::open(&self.paths.root)?.with_limits(self.config.storage.unpack_limits()))
    }

    /// The events log (`<runroot>/events/events.log`).
    pub fn events(&self) -> crate::events::Log {
        crate::events::Log::at(&self.paths.runroot).with_max_size(self.config.events.log_max_size)
    }

    /// Record `event` in the events log. Recording never fails the
    /// change it records: a log that cannot be written is a warning.
    pub fn emit(&self, event: &crate::events::Event) {
        if let Err(e) = self.events().append(event) {
            self.warn(&format!(
                "cannot record the {} {} event in {}: {e}",
                event.kind,
                event.action_name(),
                self.events().path().display()
            ));
        }
    }

    /// The containers of the store.
    pub fn containers(&self) -> Result<ContainerStore, EngineError> {
        Ok(ContainerStore::open(&self.paths.root)?)
    }

    /// The current user's namespace with the default map (warning when
    /// they have no subordinate range).
    pub fn user_namespace(&self) -> Result<UserNs, EngineError> {
        let (ns, warning) = UserNs::for_current_user()?;
        if let Some(w) = warning {
            self.warn(&w);
        }
        Ok(ns)
    }

    /// The namespace a container was created for: the default map, or
    /// the keep-id map over the same ids.
    pub fn namespace_for(&self, keep_id: Option<(u32, u32)>) -> Result<UserNs, EngineError> {
        let ns = self.user_namespace()?;
        Ok(match keep_id {
            Some((uid, gid)) => ns.keep_id(uid, gid)?,
            None => ns,
        })
    }

    /// Run `f` as root of a user namespace that maps the user's
    /// subordinate ranges (where the store's files owned by container ids
    /// can be made and removed), in a forked child; its answer comes back.
    pub fn in_userns<T>(&self, f: impl FnOnce(&UserNs) -> T) -> Result<T, EngineError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let ns = self.user_namespace()?;
        namespace::run_in(&ns, None, f)
    }

    /// Like [`Engine::in_userns`], in namespace `ns`, or in the existing
    /// user namespace `existing` that `ns` describes.
    pub fn in_namespace<T>(
        &self,
        ns: &UserNs,
        existing: Option<&std::fs::File>,
        f: impl FnOnce(&UserNs) -> T,
    ) -> Result<T, EngineError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        namespace::run_in(ns, existing, f)
    }
}
