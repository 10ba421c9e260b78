//! Events: every change burrow makes (a container started, an image
//! pulled, a network removed) as one record in a log under the runtime
//! directory, written by whichever process made the change (a command,
//! or a container's monitor) and read by `burrow events`.
//!
//! An [`Event`] has the shape of Docker's events API (`Type`, `Action`,
//! `Actor{ID, Attributes}`, `scope`, `time`, `timeNano`, and the legacy
//! `status`/`id`/`from` Docker still sends for containers and images), so
//! the log's lines can be served as they are. Actions are Docker's names
//! (`die`, `destroy`, `delete`, `exec_start: CMD`); Podman's own actions
//! with no Docker counterpart (`init`, image `build`) keep Podman's names.
//! [`log::Log`] appends and reads the log, [`filter`] selects events,
//! [`time`] reads the times `--since` and `--until` take.

pub mod filter;
pub mod log;
pub mod time;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use filter::{BadFilter, EventFilter, Filters};
pub use log::{Follower, Log};
pub use time::{BadTime, parse_time};

/// One event, as Docker's API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Legacy: the action, for containers and images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Legacy: the actor's ID, for containers and images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Legacy: a container's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// container, image, network or volume.
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always "local": there is no swarm.
    #[serde(default)]
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// What the event is about: its ID and attributes (a container's name,
/// image, labels; an exit code, a signal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

pub const CONTAINER: &str = "container";
pub const IMAGE: &str = "image";
pub const NETWORK: &str = "network";
pub const VOLUME: &str = "volume";

/// The event types `--filter type=` takes.
pub const TYPES: [&str; 4] = [CONTAINER, IMAGE, NETWORK, VOLUME];

/// A container as events name it: Docker's attributes are its labels,
/// then `image` and `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerActor {
    pub id: String,
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
}

impl From<&crate::runtime::ContainerRecord> for ContainerActor {
    fn from(r: &crate::runtime::ContainerRecord) -> ContainerActor {
        ContainerActor {
            id: r.id.clone(),
            name: r.name.clone(),
            image: r.image.clone(),
            labels: r.labels.clone(),
        }
    }
}

/// Container actions that carry no attribute of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerAction {
    Create,
    /// Podman's: the container's process exists, its command not yet run.
    Init,
    Start,
    Attach,
    Stop,
    Pause,
    Unpause,
    Restart,
    /// Removed (Podman's `remove`).
    Destroy,
}

impl ContainerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerAction::Create => "create",
            ContainerAction::Init => "init",
            ContainerAction::Start => "start",
            ContainerAction::Attach => "attach",
            ContainerAction::Stop => "stop",
            ContainerAction::Pause => "pause",
            ContainerAction::Unpause => "unpause",
            ContainerAction::Restart => "restart",
            ContainerAction::Destroy => "destroy",
        }
    }
}

/// Image actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    Pull,
    Push,
    Tag,
    Untag,
    /// Removed (Podman's `remove`).
    Delete,
    /// Podman's: made by `build`.
    Build,
    Save,
    Load,
    Import,
}

impl ImageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageAction::Pull => "pull",
            ImageAction::Push => "push",
            ImageAction::Tag => "tag",
            ImageAction::Untag => "untag",
            ImageAction::Delete => "delete",
            ImageAction::Build => "build",
            ImageAction::Save => "save",
            ImageAction::Load => "load",
            ImageAction::Import => "import",
        }
    }
}

/// Network actions that carry no container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkAction {
    Create,
    /// Removed (Podman's `remove`).
    Destroy,
}

/// Network actions about one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAction {
    Connect,
    Disconnect,
}

/// Volume actions that carry no attribute but the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeAction {
    Create,
    /// Removed (Podman's `remove`).
    Destroy,
}

/// Podman's names for the actions Docker names otherwise, as
/// `--filter event=` also takes them: (Podman's, Docker's).
pub const PODMAN_ACTIONS: [(&str, &str); 6] = [
    ("died", "die"),
    ("remove", "destroy"),
    ("remove", "delete"),
    ("exec", "exec_start"),
    ("exec_died", "exec_die"),
    ("cleanup", "die"),
];

impl Event {
    /// An event of type `kind` about `actor`, now.
    pub fn new(kind: &str, action: impl Into<String>, actor: Actor) -> Event {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let time_nano = i64::try_from(now.as_nanos()).unwrap_or(i64::MAX);
        let action = action.into();
        // Docker fills the legacy fields for containers and images only.
        let legacy = kind == CONTAINER || kind == IMAGE;
        Event {
            status: legacy.then(|| action.clone()),
            id: legacy.then(|| actor.id.clone()),
            from: (kind == CONTAINER)
                .then(|| actor.attributes.get("image").cloned())
                .flatten(),
            kind: kind.to_string(),
            action,
            actor,
            scope: "local".to_string(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }

    fn of_container(action: String, c: &ContainerActor, extra: &[(&str, String)]) -> Event {
        let mut attributes = c.labels.clone();
        attributes.insert("image".into(), c.image.clone());
        attributes.insert("name".into(), c.name.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_string(), v.clone());
        }
        Event::new(
            CONTAINER,
            action,
            Actor {
                id: c.id.clone(),
                attributes,
            },
        )
    }

    /// `create`, `start`, `stop`, ... of container `c`.
    pub fn container(action: ContainerAction, c: &ContainerActor) -> Event {
        Event::of_container(action.as_str().to_string(), c, &[])
    }

    /// Container `c`'s process ended with `exit_code` (Podman's `died`).
    pub fn container_died(c: &ContainerActor, exit_code: i32) -> Event {
        Event::of_container("die".into(), c, &[("exitCode", exit_code.to_string())])
    }

    /// Signal `signal` (a number) was sent to container `c`.
    pub fn container_killed(c: &ContainerActor, signal: i32) -> Event {
        Event::of_container("kill".into(), c, &[("signal", signal.to_string())])
    }

    /// Container `c` (under its new name) was called `old_name`.
    pub fn container_renamed(c: &ContainerActor, old_name: &str) -> Event {
        Event::of_container("rename".into(), c, &[("oldName", old_name.to_string())])
    }

    /// An exec in container `c` was set up (`exec_create: CMD ARGS`).
    pub fn exec_created(c: &ContainerActor, exec_id: &str, command: &[String]) -> Event {
        Event::of_container(
            format!("exec_create: {}", command.join(" ")),
            c,
            &[("execID", exec_id.to_string())],
        )
    }

    /// An exec in container `c` runs (`exec_start: CMD ARGS`; Podman's `exec`).
    pub fn exec_started(c: &ContainerActor, exec_id: &str, command: &[String]) -> Event {
        Event::of_container(
            format!("exec_start: {}", command.join(" ")),
            c,
            &[("execID", exec_id.to_string())],
        )
    }

    /// An exec in container `c` ended with `exit_code` (Podman's `exec_died`).
    pub fn exec_died(c: &ContainerActor, exec_id: &str, exit_code: i32) -> Event {
        Event::of_container(
            "exec_die".into(),
            c,
            &[
                ("execID", exec_id.to_string()),
                ("exitCode", exit_code.to_string()),
            ],
        )
    }

    /// Container `c` was committed to image `image_id` (named `image_ref`
    /// if it got a name).
    pub fn container_committed(
        c: &ContainerActor,
        image_id: &str,
        image_ref: Option<&str>,
        comment: &str,
    ) -> Event {
        let mut extra = vec![
            ("imageID", image_id.to_string()),
            ("comment", comment.to_string()),
        ];
        if let Some(r) = image_ref {
            extra.push(("imageRef", r.to_string()));
        }
        Event::of_container("commit".into(), c, &extra)
    }

    /// Container `c`'s health check turned `status` (healthy, unhealthy,
    /// starting): Docker's `health_status: healthy`, with Podman's
    /// `health_status` attribute.
    pub fn container_health_status(c: &ContainerActor, status: &str) -> Event {
        Event::of_container(
            format!("health_status: {status}"),
            c,
            &[("health_status", status.to_string())],
        )
    }

    /// Image `id` (a sha256 ID, or for pull and push the reference) was
    /// pulled, tagged, ... under `name`.
    pub fn image(action: ImageAction, id: &str, name: &str) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_string(), name.to_string());
        Event::new(
            IMAGE,
            action.as_str(),
            Actor {
                id: id.to_string(),
                attributes,
            },
        )
    }

    /// User network `id` named `name` was created or removed.
    pub fn network(action: NetworkAction, id: &str, name: &str) -> Event {
        let action = match action {
            NetworkAction::Create => "create",
            NetworkAction::Destroy => "destroy",
        };
        Event::new(NETWORK, action, network_actor(id, name, None))
    }

    /// Container `container_id` joined or left user network `id`.
    pub fn network_member(action: MemberAction, id: &str, name: &str, container_id: &str) -> Event {
        let action = match action {
            MemberAction::Connect => "connect",
            MemberAction::Disconnect => "disconnect",
        };
        Event::new(NETWORK, action, network_actor(id, name, Some(container_id)))
    }

    /// Volume `name` (of `driver`, "local") was created or removed.
    pub fn volume(action: VolumeAction, name: &str, driver: &str) -> Event {
        let action = match action {
            VolumeAction::Create => "create",
            VolumeAction::Destroy => "destroy",
        };
        Event::new(VOLUME, action, volume_actor(name, driver, &[]))
    }

    /// Volume `name` was mounted at `destination` of container
    /// `container_id`.
    pub fn volume_mounted(
        name: &str,
        driver: &str,
        container_id: &str,
        destination: &str,
        read_write: bool,
    ) -> Event {
        Event::new(
            VOLUME,
            "mount",
            volume_actor(
                name,
                driver,
                &[
                    ("container", container_id.to_string()),
                    ("destination", destination.to_string()),
                    ("read/write", read_write.to_string()),
                    ("propagation", String::new()),
                ],
            ),
        )
    }

    /// `volume prune` freed `reclaimed` bytes (Docker's one event for all).
    pub fn volumes_pruned(reclaimed: u64) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("reclaimed".to_string(), reclaimed.to_string());
        Event::new(
            VOLUME,
            "prune",
            Actor {
                id: String::new(),
                attributes,
            },
        )
    }

    /// The action without Docker's `: CMD` tail (`exec_start`,
    /// `health_status`): what `--filter event=` compares.
    pub fn action_name(&self) -> &str {
        self.action
            .split_once(':')
            .map_or(self.action.as_str(), |(a, _)| a)
    }

    /// The event in Podman's text form: `2026-12-04 18:00:00.123456789
    /// +0000 UTC container start ID (image=..., name=..., k=v)`. IDs are
    /// cut to 12 characters unless `full_ids`.
    pub fn to_text(&self, full_ids: bool) -> String {
        let id = if full_ids || self.actor.id.len() <= 12 || !is_hex(&self.actor.id) {
            self.actor.id.as_str()
        } else {
            &self.actor.id[..12]
        };
        let when = format_time(self.time_nano);
        let attrs = &self.actor.attributes;
        let mut out = format!("{when} {} {} {id}", self.kind, self.action);
        match self.kind.as_str() {
            CONTAINER | NETWORK => {
                // Podman's order: image and name first, then the rest.
                let first = ["image", "name"];
                let mut parts: Vec<String> = first
                    .iter()
                    .filter_map(|k| attrs.get(*k).map(|v| format!("{k}={v}")))
                    .collect();
                parts.extend(
                    attrs
                        .iter()
                        .filter(|(k, _)| !first.contains(&k.as_str()))
                        .map(|(k, v)| format!("{k}={v}")),
                );
                out.push_str(&format!(" ({})", parts.join(", ")));
            }
            _ => {
                if let Some(name) = attrs.get("name") {
                    out.push(' ');
                    out.push_str(name);
                }
                let rest: Vec<String> = attrs
                    .iter()
                    .filter(|(k, _)| k.as_str() != "name")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !rest.is_empty() {
                    out.push_str(&format!(" ({})", rest.join(", ")));
                }
            }
        }
        out
    }
}

fn network_actor(id: &str, name: &str, container: Option<&str>) -> Actor {
    let mut attributes = BTreeMap::new();
    attributes.insert("name".to_string(), name.to_string());
    attributes.insert("type".to_string(), "bridge".to_string());
    if let Some(c) = container {
        attributes.insert("container".to_string(), c.to_string());
    }
    Actor {
        id: id.to_string(),
        attributes,
    }
}

fn volume_actor(name: &str, driver: &str, extra: &[(&str, String)]) -> Actor {
    let mut attributes = BTreeMap::new();
    attributes.insert("driver".to_string(), driver.to_string());
    for (k, v) in extra {
        attributes.insert((*k).to_string(), v.clone());
    }
    Actor {
        id: name.to_string(),
        attributes,
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Go's `time.Time.String()` in UTC, as Podman prints events: nine
/// fractional digits at most, trailing zeros dropped.
pub fn format_time(time_nano: i64) -> String {
    let secs = time_nano.div_euclid(1_000_000_000);
    let nanos = time_nano.rem_euclid(1_000_000_000);
    let when = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    let mut fraction = format!("{nanos:09}");
    while fraction.ends_with('0') {
        fraction.pop();
    }
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    format!("{}{fraction} +0000 UTC", when.format("%Y-%m-%d %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ContainerActor {
        ContainerActor {
            id: "0123456789abcdef".repeat(4),
            name: "web".into(),
            image: "busybox".into(),
            labels: [("team".to_string(), "ci".to_string())].into(),
        }
    }

    #[test]
    fn container_events_have_dockers_shape() {
        let e = Event::container_died(&web(), 3);
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "die");
        assert_eq!(v["status"], "die");
        assert_eq!(v["id"], web().id);
        assert_eq!(v["from"], "busybox");
        assert_eq!(v["scope"], "local");
        assert_eq!(v["Actor"]["ID"], web().id);
        assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
        assert_eq!(v["Actor"]["Attributes"]["team"], "ci");
        assert_eq!(v["Actor"]["Attributes"]["name"], "web");
        assert_eq!(v["time"].as_i64().unwrap(), e.time_nano / 1_000_000_000);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn networks_have_no_legacy_fields() {
        let v = serde_json::to_value(Event::network(NetworkAction::Create, "abc", "app")).unwrap();
        assert!(v.get("status").is_none() && v.get("id").is_none() && v.get("from").is_none());
        assert_eq!(v["Actor"]["Attributes"]["name"], "app");
    }

    #[test]
    fn text_form_is_podmans() {
        let mut e = Event::container(ContainerAction::Start, &web());
        e.time_nano = 1_796_407_200_123_456_789;
        assert_eq!(
            e.to_text(true),
            format!(
                "2026-12-04 18:00:00.123456789 +0000 UTC container start {} (image=busybox, name=web, team=ci)",
                web().id
            )
        );
        assert!(e.to_text(false).contains(" start 0123456789ab (image"));
        e.time_nano = 1_796_407_200_120_000_000;
        assert!(
            e.to_text(true)
                .starts_with("2026-12-04 18:00:00.12 +0000 UTC")
        );
        let mut i = Event::image(ImageAction::Tag, "sha256:00", "x:1");
        i.time_nano = 1_796_407_200_000_000_000;
        assert_eq!(
            i.to_text(true),
            "2026-12-04 18:00:00 +0000 UTC image tag sha256:00 x:1"
        );
    }

    #[test]
    fn action_names_drop_the_command() {
        let e = Event::exec_started(&web(), "e1", &["sh".into(), "-c".into(), "a:b".into()]);
        assert_eq!(e.action, "exec_start: sh -c a:b");
        assert_eq!(e.action_name(), "exec_start");
    }
}
