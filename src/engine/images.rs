//! Images made, loaded and removed in the user namespace (their layers
//! hold files of subordinate ids): commit, load, import, rmi and prune.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, ErrorKind, Reported, chain_message};
use crate::digest::Digest;
use crate::events::{ContainerAction, ContainerActor, Event, ImageAction};
use crate::image::archive::{self, Loaded};
use crate::image::changes::apply_change;
use crate::image::commit::{CommitOptions, commit};
use crate::image::find_image;
use crate::image::import::{self, ImportOptions};
use crate::image::remove::{Removal, remove};
use crate::image::write::LayerCompression;
use crate::runtime::lifecycle::set_paused;
use crate::runtime::{ContainerRecord, Status};
use crate::storage::{ImageRecord, Store};

/// A container's changes as a new image (`commit`).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Names for the image, normalized.
    pub names: Vec<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the image's config.
    pub changes: Vec<String>,
    /// Pause a running container while its changes are read.
    pub pause: bool,
    pub compression: LayerCompression,
}

/// Where an imported root filesystem tarball comes from.
pub enum ImportSource {
    /// Read from here.
    Reader(Box<dyn Read + Send>),
    /// Downloaded from the import's source, an http or https URL, in
    /// the user namespace.
    Download,
}

/// What removing one image query did, or why it failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRemoval {
    pub query: String,
    pub result: Result<Vec<Removal>, RemovalFailure>,
}

/// Why an image could not be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct RemovalFailure {
    pub message: String,
    /// No image is known by that query.
    pub not_found: bool,
    /// A container uses the image.
    pub in_use: bool,
}

/// What a removal of several images did: each one's result, and the
/// failure of the clean-up of unreferenced layers that followed, if any.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagesRemoved {
    pub removals: Vec<ImageRemoval>,
    pub cleanup: Option<Reported>,
}

/// What an image prune removed, and the error that stopped it, if any.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagesPruned {
    pub removed: Vec<Digest>,
    pub error: Option<Reported>,
}

fn reported(e: &dyn std::error::Error) -> Reported {
    Reported::new(ErrorKind::Engine, chain_message(e))
}

/// After a failed load or import: layers and blobs stored before the
/// failure belong to no image; remove them rather than wait for a prune.
fn drop_unreferenced(store: &Store) {
    if let Err(e) = store.gc(&[]) {
        log::warn!("cannot remove what the failed command stored: {e}");
    }
}

/// Check Dockerfile-style changes (`commit -c`, `import -c`) before
/// anything is read or written.
pub fn check_changes(changes: &[String]) -> Result<(), EngineError> {
    let mut probe = serde_json::json!({});
    for c in changes {
        apply_change(&mut probe, c)?;
    }
    Ok(())
}

impl Engine {
    /// Container `query`'s changes as a new image: its image plus one
    /// layer of the changes, with the container's environment, working
    /// directory and command as its config, then `request.changes`.
    pub fn commit(&self, query: &str, request: &CommitRequest) -> Result<ImageRecord, EngineError> {
        check_changes(&request.changes)?;
        let store = self.store()?;
        let containers = &self.containers()?;
        let rec = containers.find(query)?;
        let spec = containers.load_spec(&rec.id)?;
        let ns = self.namespace_for(spec.keep_id)?;
        let paused = match (request.pause, rec.current_status(), rec.pid) {
            (true, Status::Running, Some(pid)) => {
                set_paused(containers, &rec.id, pid, true)?;
                Some(pid)
            }
            _ => None,
        };
        let change = |config: &mut serde_json::Value| -> Result<(), String> {
            for c in &request.changes {
                apply_change(config, c).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        let opts = CommitOptions {
            names: &request.names,
            message: request.message.as_deref().unwrap_or(""),
            author: request.author.as_deref().unwrap_or(""),
            compression: request.compression,
            change: &change,
        };
        let result: Result<Result<ImageRecord, Reported>, EngineError> =
            self.in_namespace(&ns, None, |ns| {
                let unpack = ns.unpack_options(self.config.storage.ignore_chown_errors);
                commit(&store, &spec, &rec, &unpack, &opts).map_err(|e| {
                    Reported::new(
                        ErrorKind::Engine,
                        format!("committing container {}: {e}", rec.name),
                    )
                })
            });
        if let Some(pid) = paused {
            set_paused(containers, &rec.id, pid, false)?;
        }
        let image = result??;
        self.emit(&Event::container_committed(
            &(&rec).into(),
            &image.id.to_string(),
            image.names.first().map(String::as_str),
            request.message.as_deref().unwrap_or(""),
        ));
        Ok(image)
    }

    /// Load the images of a docker-archive or oci-archive tar (plain,
    /// gzip or zstd); `on_layer` hears of each layer stored. What a
    /// failed load stored is removed.
    pub fn load(
        &self,
        input: Box<dyn Read + Send>,
        on_layer: &mut dyn FnMut(&Digest),
    ) -> Result<Vec<Loaded>, EngineError> {
        let store = self.store()?;
        let answer: Result<Vec<Loaded>, Reported> = self.in_userns(|ns| {
            let unpack = ns.unpack_options(self.config.storage.ignore_chown_errors);
            archive::load(&store, input, &unpack, on_layer).map_err(|e| {
                drop_unreferenced(&store);
                reported(&e)
            })
        })?;
        let loaded = answer?;
        for l in &loaded {
            let id = l.id.to_string();
            self.emit(&Event::image(
                ImageAction::Load,
                &id,
                l.names.first().unwrap_or(&id),
            ));
        }
        Ok(loaded)
    }

    /// A new image of one layer, the root filesystem tarball from
    /// `source`, as `opts` say (its changes are checked first). What a
    /// failed import stored is removed.
    pub fn import(
        &self,
        source: ImportSource,
        opts: &ImportOptions<'_>,
    ) -> Result<ImageRecord, EngineError> {
        check_changes(opts.changes)?;
        let store = self.store()?;
        let answer: Result<ImageRecord, Reported> = self.in_userns(|ns| {
            let unpack = ns.unpack_options(self.config.storage.ignore_chown_errors);
            let result = match source {
                ImportSource::Reader(r) => import::import(&store, r, opts, &unpack),
                ImportSource::Download => import::open_url(opts.source)
                    .and_then(|r| import::import(&store, r, opts, &unpack)),
            };
            result.map_err(|e| {
                drop_unreferenced(&store);
                reported(&e)
            })
        })?;
        let image = answer?;
        let id = image.id.to_string();
        self.emit(&Event::image(
            ImageAction::Import,
            &id,
            image.names.first().unwrap_or(&id),
        ));
        Ok(image)
    }

    /// Remove the images `queries` name (None: every image): a name of an
    /// image with other names only loses it; with `force`, an image goes
    /// with all its names and the stopped containers made from it. Then
    /// unreferenced layers go.
    pub fn remove_images(
        &self,
        queries: Option<&[String]>,
        force: bool,
    ) -> Result<ImagesRemoved, EngineError> {
        let store = self.store()?;
        let all = queries.is_none();
        // The records of containers `--force` may remove with an image,
        // for their events.
        let records = if force {
            self.containers()?.list()?
        } else {
            Vec::new()
        };
        let answer: Result<ImagesRemoved, Reported> = self.in_userns(|_| {
            let queries: Vec<String> = match queries {
                Some(q) => q.to_vec(),
                None => store
                    .images()
                    .map_err(|e| reported(&e))?
                    .iter()
                    .map(|i| i.id.to_string())
                    .collect(),
            };
            let removals = queries
                .into_iter()
                .map(|query| {
                    let id = find_image(&store, &query).ok().map(|i| i.id.to_string());
                    let result = remove(&store, &query, force, all).map_err(|e| RemovalFailure {
                        message: e.to_string(),
                        not_found: e.is_not_found(),
                        in_use: e.is_in_use(),
                    });
                    // Recorded here, where the store changed.
                    for r in result.iter().flatten() {
                        self.emit(&removal_event(r, id.as_deref(), &records));
                    }
                    ImageRemoval { query, result }
                })
                .collect();
            let cleanup = store.gc(&[]).err().map(|e| reported(&e));
            Ok(ImagesRemoved { removals, cleanup })
        })?;
        Ok(answer?)
    }

    /// Remove dangling images (with `all`, every image no container
    /// uses), then unreferenced layers.
    pub fn prune_images(&self, all: bool) -> Result<ImagesPruned, EngineError> {
        let store = self.store()?;
        // An image a container (running or not) was made from stays, as
        // with Podman: its layers are that container's lower layers.
        let used: Vec<Digest> = self
            .containers()?
            .list()?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        self.in_userns(|_| {
            let mut removed = Vec::new();
            let result = (|| -> Result<(), crate::storage::StoreError> {
                let victims: Vec<_> = store
                    .images()?
                    .into_iter()
                    .filter(|i| !used.contains(&i.id) && (all || i.names.is_empty()))
                    .map(|i| i.id)
                    .collect();
                for id in victims {
                    store.remove_image(&id)?;
                    let id_s = id.to_string();
                    self.emit(&Event::image(ImageAction::Delete, &id_s, &id_s));
                    removed.push(id);
                }
                store.gc(&[])?;
                Ok(())
            })();
            ImagesPruned {
                removed,
                error: result.err().map(|e| reported(&e)),
            }
        })
    }
}

/// The event of one part of an image's removal (`image` the removed
/// image's ID; `containers` the records of the containers that went
/// with it).
fn removal_event(r: &Removal, image: Option<&str>, containers: &[ContainerRecord]) -> Event {
    match r {
        Removal::Untagged(name) => Event::image(ImageAction::Untag, image.unwrap_or(name), name),
        Removal::Deleted(id) => {
            let id = id.to_string();
            Event::image(ImageAction::Delete, &id, &id)
        }
        Removal::RemovedContainer(id) => {
            let actor = containers
                .iter()
                .find(|c| c.id == *id)
                .map(ContainerActor::from)
                .unwrap_or_else(|| ContainerActor {
                    id: id.clone(),
                    ..ContainerActor::default()
                });
            Event::container(ContainerAction::Destroy, &actor)
        }
    }
}
