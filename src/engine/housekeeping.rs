//! The whole store at once: `system prune` (what nothing uses), `system
//! reset` (everything of this user's), and `system check --repair` (what
//! is damaged).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, ErrorKind, Reported, RequestError};
use crate::digest::Digest;
use crate::runtime::spec::ImageConfig;
use crate::runtime::{ContainerRecord, ContainerStore, Status};
use crate::storage::{Damage, Store, atomic};

/// `--filter until=` and `label=` / `label!=` of a prune.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// Only what was created before this.
    pub until: Option<DateTime<Utc>>,
    pub labels: Vec<LabelFilter>,
}

/// `label=KEY`, `label=KEY=VALUE`, or with `label!=` their negation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
    pub negate: bool,
}

fn bad_filter(given: &str, why: &str) -> RequestError {
    RequestError::Invalid(format!("invalid --filter {given:?}: {why}"))
}

/// `until=`'s value as Docker takes it: RFC 3339, Unix seconds, or a Go
/// duration (`10m`, `1h30m`) meaning that long before `now`.
pub fn parse_until(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let secs: f64 = s.parse().ok()?;
        return DateTime::from_timestamp(secs.trunc() as i64, (secs.fract() * 1e9) as u32);
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('s', _) => 1.0,
            ('m', _) => 60.0,
            ('h', _) => 3600.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
    }
    if !number.is_empty() || total == 0.0 && s.is_empty() {
        return None;
    }
    Some(now - chrono::Duration::milliseconds((total * 1000.0) as i64))
}

impl PruneFilter {
    /// `KEY=VALUE` filters: until= and label= / label!= (repeatable).
    pub fn parse(filters: &[String]) -> Result<PruneFilter, RequestError> {
        let now = Utc::now();
        let mut out = PruneFilter::default();
        for f in filters {
            if let Some(v) = f.strip_prefix("until=") {
                out.until = Some(parse_until(v, now).ok_or_else(|| {
                    bad_filter(
                        f,
                        "give until= a time: RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or a duration such as 24h",
                    )
                })?);
            } else if let Some((negate, rest)) = f
                .strip_prefix("label!=")
                .map(|r| (true, r))
                .or_else(|| f.strip_prefix("label=").map(|r| (false, r)))
            {
                let (key, value) = match rest.split_once('=') {
                    Some((k, v)) => (k, Some(v.to_string())),
                    None => (rest, None),
                };
                if key.is_empty() {
                    return Err(bad_filter(f, "give label=KEY or label=KEY=VALUE"));
                }
                out.labels.push(LabelFilter {
                    key: key.to_string(),
                    value,
                    negate,
                });
            } else {
                return Err(bad_filter(
                    f,
                    "prune takes until=TIME, label=KEY[=VALUE] and label!=KEY[=VALUE]",
                ));
            }
        }
        Ok(out)
    }

    /// Whether something created at `created` with `labels` is in.
    pub fn matches(&self, created: DateTime<Utc>, labels: &BTreeMap<String, String>) -> bool {
        if self.until.is_some_and(|u| created >= u) {
            return false;
        }
        self.labels.iter().all(|l| {
            let has = match (&l.value, labels.get(&l.key)) {
                (None, Some(_)) => true,
                (Some(want), Some(v)) => want == v,
                (_, None) => false,
            };
            has != l.negate
        })
    }

    /// Whether a label filter is given (build cache entries have none).
    pub fn has_labels(&self) -> bool {
        !self.labels.is_empty()
    }
}

/// What `system prune` removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SystemPruned {
    pub containers: Vec<String>,
    /// With `volumes`: the volumes no container used.
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    pub images: Vec<Digest>,
    pub build_cache: u64,
    /// Bytes freed: the containers' writes, layers and blobs, cache entries.
    pub reclaimed: u64,
    pub errors: Vec<Reported>,
}

/// What `system check` finds.
#[derive(Debug, Clone, Default)]
pub struct StoreDamage {
    pub store: Vec<Damage>,
    /// Container records that cannot be read or point nowhere: (ID, why).
    pub records: Vec<(String, String)>,
}

impl StoreDamage {
    /// One line each.
    pub fn lines(&self) -> Vec<String> {
        self.store
            .iter()
            .map(ToString::to_string)
            .chain(
                self.records
                    .iter()
                    .map(|(id, why)| format!("container {id}: {why}")),
            )
            .collect()
    }
}

/// What `system check --repair` removed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepairReport {
    /// One line per thing removed.
    pub removed: Vec<String>,
    /// Images removed for a damaged part: to pull again.
    pub images: Vec<String>,
}

fn reported(e: &dyn std::error::Error) -> Reported {
    Reported::new(ErrorKind::Engine, super::error::chain_message(e))
}

/// Remove the build cache's entries (older than `until`): how many, and
/// their bytes.
fn remove_cache_entries(store: &Store, filter: &PruneFilter) -> Result<(u64, u64), std::io::Error> {
    let dir = store.root().join("build-cache");
    let mut count = 0;
    let mut bytes = 0;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let md = e.metadata()?;
        let modified: DateTime<Utc> = md.modified()?.into();
        if filter.until.is_some_and(|u| modified >= u) {
            continue;
        }
        match std::fs::remove_file(e.path()) {
            Ok(()) => {
                count += 1;
                bytes += md.len();
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok((count, bytes))
}

impl Engine {
    /// `system prune`: stopped containers, networks no container is on,
    /// dangling images (with `all`, every image no container uses) and
    /// the build cache, as `filter` lets through; then the layers and
    /// blobs nothing refers to any more.
    pub fn system_prune(
        &self,
        all: bool,
        volumes: bool,
        filter: &PruneFilter,
    ) -> Result<SystemPruned, EngineError> {
        let containers = self.containers()?;
        let mut out = SystemPruned::default();

        // Containers first: their images may then be unused.
        let stopped: Vec<ContainerRecord> = containers
            .list()?
            .into_iter()
            .filter(|c| matches!(c.current_status(), Status::Exited | Status::Created))
            .filter(|c| filter.matches(c.created, &c.labels))
            .collect();
        let ids: Vec<String> = stopped.iter().map(|c| c.id.clone()).collect();
        let sizes = self.container_sizes(&containers, &ids)?;
        let removed: Vec<Result<bool, Reported>> = self.in_userns(|_| {
            ids.iter()
                .map(|id| {
                    containers
                        .remove_if(id, |c| !c.current_status().is_live())
                        .map_err(|e| reported(&e))
                })
                .collect()
        })?;
        for ((id, size), r) in ids.iter().zip(sizes).zip(removed) {
            match r {
                Ok(true) => {
                    out.containers.push(id.clone());
                    out.reclaimed += size.unwrap_or(0);
                }
                Ok(false) => {}
                Err(e) => out.errors.push(e),
            }
        }

        // Volumes after the containers that used them; never one a
        // container still mounts.
        if volumes {
            match self.prune_volumes_where(|v| filter.matches(v.created, &v.labels)) {
                Ok(pruned) => {
                    out.volumes = pruned.names;
                    out.reclaimed += pruned.reclaimed;
                }
                Err(e) => out.errors.push(e.report()),
            }
        }

        let networks = self.networks()?;
        for net in networks.list()? {
            if !filter.matches(net.created, &net.labels) {
                continue;
            }
            let all_containers = containers.list()?;
            if let Ok(n) = networks.remove(&net.name, |n| super::network::users(&all_containers, n))
            {
                out.networks.push(n.name);
            }
        }

        let store = self.store()?;
        let used: Vec<Digest> = containers.list()?.into_iter().map(|c| c.image_id).collect();
        let victims: Vec<Digest> = store
            .images()?
            .into_iter()
            .filter(|i| !used.contains(&i.id) && (all || i.names.is_empty()))
            .filter(|i| {
                let labels = store
                    .read_blob(&i.config_digest)
                    .ok()
                    .and_then(|b| ImageConfig::from_json(&b).ok())
                    .map(|c| c.labels)
                    .unwrap_or_default();
                filter.matches(i.created.unwrap_or(i.added), &labels)
            })
            .map(|i| i.id)
            .collect();
        let skip_cache = filter.has_labels();
        type Answer = (Vec<Digest>, u64, u64, Vec<Reported>);
        let (images, freed, cache, errors): Answer = self.in_userns(|_| {
            let mut removed = Vec::new();
            let mut errors = Vec::new();
            for id in victims {
                match store.remove_image(&id) {
                    Ok(_) => removed.push(id),
                    Err(e) => errors.push(reported(&e)),
                }
            }
            let (mut cache, mut freed) = (0, 0);
            if !skip_cache {
                match remove_cache_entries(&store, filter) {
                    Ok((n, bytes)) => (cache, freed) = (n, bytes),
                    Err(e) => errors.push(reported(&e)),
                }
            }
            match store.gc(&[]) {
                Ok(stats) => freed += stats.bytes_freed,
                Err(e) => errors.push(reported(&e)),
            }
            (removed, freed, cache, errors)
        })?;
        out.images = images;
        out.reclaimed += freed;
        out.build_cache = cache;
        out.errors.extend(errors);
        Ok(out)
    }

    /// `system reset`: every container killed (its monitor ends and
    /// unmounts its root), the shared network namespace's holder gone,
    /// then the store and the runtime directory removed. The
    /// configuration stays.
    pub fn system_reset(&self) -> Result<(), EngineError> {
        let store_root = self.paths.root.clone();
        if store_root.join("containers").is_dir() {
            let containers = ContainerStore::open(&store_root)?;
            for c in containers.list()? {
                if let Some(w) = self.kill_for_removal(&containers, &c)? {
                    self.warn(&w);
                }
            }
        }
        self.wait_for_netns_holder();
        let runroot = self.paths.runroot.clone();
        // Files of subordinate ids: removed inside the user namespace.
        let answer: Result<(), Reported> = self.in_userns(|_| {
            for dir in [&store_root, &runroot] {
                atomic::remove_tree(dir).map_err(|e| {
                    Reported::new(
                        ErrorKind::Engine,
                        format!("removing {}: {e}", dir.display()),
                    )
                })?;
            }
            Ok(())
        })?;
        Ok(answer?)
    }

    /// The holder of the shared network namespace leaves once its last
    /// member is gone; one that stays (killed members never closed their
    /// hold) is ended, so that nothing of this user's runs after a reset.
    fn wait_for_netns_holder(&self) {
        let pid_file = self.paths.runroot.join("netns.pid");
        let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
        else {
            return;
        };
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("burrow") || c.contains("netns"))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive() {
            // SAFETY: kill(2) of this user's own holder process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The store's damage and the container records that point nowhere
    /// (`system check`).
    pub fn store_damage(&self) -> Result<StoreDamage, EngineError> {
        Ok(StoreDamage {
            store: self.store()?.find_damage()?,
            records: self.containers()?.damaged()?,
        })
    }

    /// `system check --repair`: remove the damaged blobs and layers, the
    /// images that relied on them, and the container records that point
    /// nowhere.
    pub fn repair_store(&self) -> Result<RepairReport, EngineError> {
        let StoreDamage {
            store: damage,
            records,
        } = self.store_damage()?;
        let store = self.store()?;
        let containers = self.containers()?;
        let answer: Result<RepairReport, Reported> = self.in_userns(|_| {
            let repaired = store.repair(&damage).map_err(|e| reported(&e))?;
            let mut report = RepairReport {
                removed: repaired.removed,
                images: repaired.images,
            };
            for (id, why) in &records {
                containers.remove(id).map_err(|e| reported(&e))?;
                report.removed.push(format!("container {id}: {why}"));
            }
            Ok(report)
        })?;
        Ok(answer?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_docker_times() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s| parse_until(s, now).map(|t| t.to_rfc3339());
        assert_eq!(
            at("2025-12-31T00:00:00Z").unwrap(),
            "2025-12-31T00:00:00+00:00"
        );
        assert_eq!(at("10m").unwrap(), "2026-01-02T11:50:00+00:00");
        assert_eq!(at("1h30m").unwrap(), "2026-01-02T10:30:00+00:00");
        assert_eq!(at("0").unwrap(), "1970-01-01T00:00:00+00:00");
        assert_eq!(at("2025-06-01").unwrap(), "2025-06-01T00:00:00+00:00");
        for bad in ["", "yesterday", "10x", "h"] {
            assert!(at(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn filters_parse_and_match() {
        let f = PruneFilter::parse(&["label=app".into(), "label!=keep=yes".into()]).unwrap();
        let labels = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let t = Utc::now();
        assert!(f.matches(t, &labels(&[("app", "x")])));
        assert!(!f.matches(t, &labels(&[("app", "x"), ("keep", "yes")])));
        assert!(!f.matches(t, &labels(&[])));
        let f = PruneFilter::parse(&["until=1h".into()]).unwrap();
        assert!(f.matches(t - chrono::Duration::hours(2), &labels(&[])));
        assert!(!f.matches(t, &labels(&[])));
        for bad in ["dangling=true", "until=soon", "label="] {
            let e = PruneFilter::parse(&[bad.to_string()])
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
