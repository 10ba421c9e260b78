//! `events --filter KEY=VALUE`, with Docker's rule: the same key given
//! again widens (OR), different keys narrow (AND); `label=` filters all
//! have to match, as in Docker.

use std::str::FromStr;

use super::{CONTAINER, Event, IMAGE, NETWORK, PODMAN_ACTIONS, TYPES, VOLUME};
use crate::reference::Reference;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// container, image, network or volume.
    Type(String),
    /// An action: Docker's name (`die`, `exec_start`) or Podman's (`died`).
    Event(String),
    /// A container's name, or its ID or a prefix of it.
    Container(String),
    /// An image's name or ID (prefix), for image events and the
    /// containers made from it.
    Image(String),
    Volume(String),
    /// A network's name, or its ID or a prefix of it.
    Network(String),
    /// `label=KEY` or `label=KEY=VALUE`.
    Label(String, Option<String>),
}

const KEYS: &str = "type=, event=, container=, image=, volume=, network= or label=";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFilter {
    #[error("invalid filter {0:?}: use KEY=VALUE with KEY one of {KEYS}")]
    Shape(String),
    #[error("invalid filter {0:?}: unknown key {1:?}, use {KEYS}")]
    Key(String, String),
    #[error(
        "invalid filter {0:?}: unknown event type {1:?}, use container, image, network or volume"
    )]
    Type(String, String),
}

impl FromStr for EventFilter {
    type Err = BadFilter;
    fn from_str(s: &str) -> Result<EventFilter, BadFilter> {
        let Some((key, value)) = s.split_once('=') else {
            return Err(BadFilter::Shape(s.to_string()));
        };
        if value.is_empty() {
            return Err(BadFilter::Shape(s.to_string()));
        }
        let v = value.to_string();
        Ok(match key {
            "type" => {
                if !TYPES.contains(&value) {
                    return Err(BadFilter::Type(s.to_string(), v));
                }
                EventFilter::Type(v)
            }
            "event" => EventFilter::Event(v),
            "container" => EventFilter::Container(v),
            "image" => EventFilter::Image(v),
            "volume" => EventFilter::Volume(v),
            "network" => EventFilter::Network(v),
            "label" => match value.split_once('=') {
                Some((k, val)) => EventFilter::Label(k.to_string(), Some(val.to_string())),
                None => EventFilter::Label(v, None),
            },
            other => return Err(BadFilter::Key(s.to_string(), other.to_string())),
        })
    }
}

impl EventFilter {
    /// Which filters are alternatives of each other.
    fn key(&self) -> &'static str {
        match self {
            EventFilter::Type(_) => "type",
            EventFilter::Event(_) => "event",
            EventFilter::Container(_) => "container",
            EventFilter::Image(_) => "image",
            EventFilter::Volume(_) => "volume",
            EventFilter::Network(_) => "network",
            EventFilter::Label(..) => "label",
        }
    }

    pub fn matches(&self, e: &Event) -> bool {
        let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str);
        match self {
            EventFilter::Type(t) => e.kind == *t,
            EventFilter::Event(a) => {
                let action = e.action_name();
                action == a
                    || PODMAN_ACTIONS
                        .iter()
                        .any(|(podman, docker)| podman == a && *docker == action)
            }
            EventFilter::Container(c) => match e.kind.as_str() {
                CONTAINER => id_prefix(&e.actor.id, c) || attr("name") == Some(c),
                // A network's or volume's event about a container.
                _ => attr("container").is_some_and(|id| id_prefix(id, c)),
            },
            EventFilter::Image(i) => match e.kind.as_str() {
                CONTAINER => attr("image").is_some_and(|img| same_image(img, i)),
                IMAGE => {
                    id_prefix(e.actor.id.trim_start_matches("sha256:"), i)
                        || e.actor.id == *i
                        || same_image(&e.actor.id, i)
                        || attr("name").is_some_and(|n| same_image(n, i))
                }
                _ => false,
            },
            EventFilter::Volume(v) => e.kind == VOLUME && e.actor.id == *v,
            EventFilter::Network(n) => {
                e.kind == NETWORK && (id_prefix(&e.actor.id, n) || attr("name") == Some(n))
            }
            EventFilter::Label(k, v) => match (attr(k), v) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            },
        }
    }
}

/// Filters as given: alternatives per key, all keys required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(Vec<EventFilter>);

impl Filters {
    pub fn new(filters: Vec<EventFilter>) -> Filters {
        Filters(filters)
    }

    /// Parse `--filter` values; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Filters, BadFilter> {
        values
            .iter()
            .map(|v| v.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(Filters)
    }

    pub fn matches(&self, e: &Event) -> bool {
        let mut keys: Vec<&str> = self.0.iter().map(EventFilter::key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|key| {
            let mut of_key = self.0.iter().filter(|f| f.key() == *key);
            if *key == "label" {
                of_key.all(|f| f.matches(e))
            } else {
                of_key.any(|f| f.matches(e))
            }
        })
    }
}

fn id_prefix(id: &str, prefix: &str) -> bool {
    !prefix.is_empty() && id.starts_with(prefix)
}

/// The same image name, as typed or normalized (`busybox` is
/// `docker.io/library/busybox:latest`).
fn same_image(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (Reference::parse(a), Reference::parse(b)) {
        (Ok(x), Ok(y)) => x.to_string() == y.to_string(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ContainerAction, ContainerActor, ImageAction, NetworkAction};
    use super::*;

    fn web() -> Event {
        Event::container_died(
            &ContainerActor {
                id: "abcdef0123456789".into(),
                name: "web".into(),
                image: "busybox".into(),
                labels: [("team".to_string(), "ci".to_string())].into(),
            },
            0,
        )
    }

    fn f(values: &[&str]) -> Filters {
        Filters::parse(values).unwrap()
    }

    #[test]
    fn same_key_widens_other_keys_narrow() {
        let e = web();
        assert!(f(&[]).matches(&e));
        assert!(f(&["container=web"]).matches(&e));
        assert!(f(&["container=abcd"]).matches(&e));
        assert!(!f(&["container=we"]).matches(&e));
        assert!(f(&["container=db", "container=web"]).matches(&e));
        assert!(f(&["container=web", "event=die"]).matches(&e));
        assert!(f(&["container=web", "event=died"]).matches(&e));
        assert!(!f(&["container=web", "event=start"]).matches(&e));
        assert!(f(&["event=start", "event=die", "type=container"]).matches(&e));
        assert!(!f(&["type=image"]).matches(&e));
        assert!(f(&["image=docker.io/library/busybox:latest"]).matches(&e));
        assert!(f(&["label=team", "label=team=ci"]).matches(&e));
        assert!(!f(&["label=team", "label=team=qa"]).matches(&e));
    }

    #[test]
    fn images_and_networks_by_name_or_id() {
        let i = Event::image(ImageAction::Tag, "sha256:feed01", "docker.io/library/x:1");
        assert!(f(&["image=x:1"]).matches(&i));
        assert!(f(&["image=feed"]).matches(&i));
        assert!(!f(&["container=x:1"]).matches(&i));
        let n = Event::network(NetworkAction::Create, "beef99", "app");
        assert!(f(&["network=app"]).matches(&n) && f(&["network=bee"]).matches(&n));
        assert!(!f(&["network=ap"]).matches(&n));
        let c = Event::container(ContainerAction::Start, &ContainerActor::default());
        assert!(!f(&["network=app"]).matches(&c));
    }

    #[test]
    fn bad_filters_say_what_to_use() {
        for (bad, needle) in [
            ("nope", "use KEY=VALUE"),
            ("type=", "use KEY=VALUE"),
            ("color=red", "unknown key \"color\""),
            ("type=daemon", "unknown event type \"daemon\""),
        ] {
            let e = bad.parse::<EventFilter>().unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(bad), "{bad}: {e}");
        }
    }
}
