//! containers-registries.conf(5): search registries, mirrors, insecure and
//! blocked registries. Version 2 (`[[registry]]`) and version 1
//! (`[registries.search]`, ...) files are both read, so the file a Podman user
//! already has works unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reference::Reference;

#[derive(Debug, thiserror::Error)]
pub enum RegistriesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error(
        "registry {registry} is blocked in {path}: remove `blocked = true` there to pull from it"
    )]
    Blocked { registry: String, path: String },
}

/// Where to fetch a repository from: one mirror or the primary location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` (brackets kept for IPv6).
    pub host: String,
    /// The repository at that host, after prefix → location rewriting.
    pub repository: String,
    /// Plain HTTP and unverified TLS allowed.
    pub insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PullFromMirror {
    #[default]
    All,
    DigestOnly,
    TagOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub location: String,
    pub insecure: bool,
    pub pull_from_mirror: PullFromMirror,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    pub prefix: String,
    pub location: String,
    pub insecure: bool,
    pub blocked: bool,
    pub mirror_by_digest_only: bool,
    pub mirrors: Vec<Mirror>,
    /// The file this entry came from, for error messages.
    pub source: String,
}

#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    pub unqualified_search_registries: Vec<String>,
    pub registries: Vec<RegistryEntry>,
    /// `[aliases]`: short name → fully-qualified reference.
    pub aliases: BTreeMap<String, String>,
    /// Files read, in order.
    pub sources: Vec<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawConf {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    aliases: Option<BTreeMap<String, String>>,
    registries: Option<RawV1>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawV1 {
    search: Option<RawV1List>,
    insecure: Option<RawV1List>,
    block: Option<RawV1List>,
}

#[derive(Deserialize, Default)]
struct RawV1List {
    #[serde(default)]
    registries: Vec<String>,
}

impl RegistriesConf {
    /// `$CONTAINERS_REGISTRIES_CONF` alone if set; else the user's
    /// `~/.config/containers/registries.conf` if it exists, else
    /// `/etc/containers/registries.conf`; each followed by the `*.conf`
    /// drop-ins of the `registries.conf.d` directory next to it, in name order.
    /// Missing files are an empty configuration.
    pub fn load_default() -> Result<RegistriesConf, RegistriesError> {
        if let Some(p) = std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|p| !p.is_empty()) {
            return RegistriesConf::load_files(&[PathBuf::from(p)]);
        }
        let user =
            directories::BaseDirs::new().map(|b| b.config_dir().join("containers/registries.conf"));
        let main = match user {
            Some(u) if u.exists() => u,
            _ => PathBuf::from("/etc/containers/registries.conf"),
        };
        let mut files = vec![main.clone()];
        if let Some(dir) = main.parent() {
            files.extend(drop_ins(&dir.join("registries.conf.d"))?);
        }
        RegistriesConf::load_files(&files)
    }

    /// Read the files in order; later files override earlier ones (search
    /// list replaced when set, registries replaced by prefix, aliases merged).
    pub fn load_files(files: &[PathBuf]) -> Result<RegistriesConf, RegistriesError> {
        let mut conf = RegistriesConf::default();
        for path in files {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(RegistriesError::Read {
                        path: path.display().to_string(),
                        source,
                    });
                }
            };
            conf.merge(RegistriesConf::parse(&text, path)?);
        }
        Ok(conf)
    }

    pub fn parse(text: &str, path: &Path) -> Result<RegistriesConf, RegistriesError> {
        let src = path.display().to_string();
        let perr = |message: String| RegistriesError::Parse {
            path: src.clone(),
            message,
        };
        let raw: RawConf =
            toml::from_str(text).map_err(|e| perr(e.to_string().trim().replace('\n', " ")))?;
        let v2 = raw.unqualified_search_registries.is_some()
            || !raw.registry.is_empty()
            || raw.aliases.is_some();
        let mut conf = RegistriesConf {
            sources: vec![path.to_path_buf()],
            ..Default::default()
        };

        if let Some(v1) = raw.registries {
            if v2 {
                return Err(perr(
                    "mixes the version 1 [registries.*] tables with version 2 settings: use one format".into(),
                ));
            }
            let list = |l: Option<RawV1List>| l.map(|l| l.registries).unwrap_or_default();
            conf.unqualified_search_registries = list(v1.search);
            let mut add = |host: String, insecure: bool, blocked: bool| match conf
                .registries
                .iter_mut()
                .find(|r| r.prefix == host)
            {
                Some(r) => {
                    r.insecure |= insecure;
                    r.blocked |= blocked;
                }
                None => conf.registries.push(RegistryEntry {
                    prefix: host.clone(),
                    location: host,
                    insecure,
                    blocked,
                    mirror_by_digest_only: false,
                    mirrors: Vec::new(),
                    source: src.clone(),
                }),
            };
            for h in list(v1.insecure) {
                add(h, true, false);
            }
            for h in list(v1.block) {
                add(h, false, true);
            }
            return Ok(conf);
        }

        conf.unqualified_search_registries = raw.unqualified_search_registries.unwrap_or_default();
        conf.aliases = raw.aliases.unwrap_or_default();
        for r in raw.registry {
            let location = r
                .location
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string();
            let prefix = r
                .prefix
                .map(|p| p.trim_end_matches('/').to_string())
                .unwrap_or_else(|| location.clone());
            if prefix.is_empty() {
                return Err(perr(
                    "a [[registry]] entry needs a prefix or a location".into(),
                ));
            }
            if prefix.starts_with("*.") {
                if !location.is_empty() {
                    return Err(perr(format!(
                        "wildcard prefix {prefix:?} cannot have a location"
                    )));
                }
            } else if prefix.contains('*') {
                return Err(perr(format!(
                    "invalid prefix {prefix:?}: a wildcard is only allowed as a leading '*.'"
                )));
            }
            let mut mirrors = Vec::new();
            for m in r.mirror {
                let pull_from_mirror = match m.pull_from_mirror.as_deref() {
                    None | Some("") | Some("all") => PullFromMirror::All,
                    Some("digest-only") => PullFromMirror::DigestOnly,
                    Some("tag-only") => PullFromMirror::TagOnly,
                    Some(other) => {
                        return Err(perr(format!(
                            "invalid pull-from-mirror {other:?}: use \"all\", \"digest-only\" or \"tag-only\""
                        )));
                    }
                };
                mirrors.push(Mirror {
                    location: m.location.trim_end_matches('/').to_string(),
                    insecure: m.insecure,
                    pull_from_mirror,
                });
            }
            conf.registries.retain(|e| e.prefix != prefix);
            conf.registries.push(RegistryEntry {
                prefix,
                location,
                insecure: r.insecure,
                blocked: r.blocked,
                mirror_by_digest_only: r.mirror_by_digest_only,
                mirrors,
                source: src.clone(),
            });
        }
        Ok(conf)
    }

    fn merge(&mut self, other: RegistriesConf) {
        if !other.unqualified_search_registries.is_empty() {
            self.unqualified_search_registries = other.unqualified_search_registries;
        }
        for r in other.registries {
            self.registries.retain(|e| e.prefix != r.prefix);
            self.registries.push(r);
        }
        self.aliases.extend(other.aliases);
        self.sources.extend(other.sources);
    }

    /// Registries to try, in order, for a short name. Empty means the caller
    /// uses docker.io.
    pub fn search_registries(&self) -> Vec<String> {
        self.unqualified_search_registries.clone()
    }

    /// The `[aliases]` entry for a short name, if any.
    pub fn alias(&self, short: &str) -> Option<&str> {
        self.aliases.get(short).map(String::as_str)
    }

    /// The entry with the longest prefix matching `name` (`host/repo...`).
    fn find(&self, name: &str) -> Option<&RegistryEntry> {
        let host = name.split('/').next().unwrap_or(name);
        self.registries
            .iter()
            .filter(|e| prefix_matches(&e.prefix, name, host))
            .max_by_key(|e| {
                if e.prefix.starts_with("*.") {
                    e.prefix.len() - 2
                } else {
                    e.prefix.len() + 1
                }
            })
    }

    /// Where to pull `reference` from: its mirrors first, then the primary
    /// location.
    pub fn endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>, RegistriesError> {
        let name = reference.name();
        let Some(entry) = self.find(&name) else {
            return Ok(vec![Endpoint {
                host: reference.registry.clone(),
                repository: reference.repository.clone(),
                insecure: is_local(&reference.registry),
            }]);
        };
        if entry.blocked {
            return Err(RegistriesError::Blocked {
                registry: entry.prefix.clone(),
                path: entry.source.clone(),
            });
        }
        let rewrite = |location: &str| -> String {
            if entry.prefix.starts_with("*.") || location.is_empty() {
                name.clone()
            } else {
                format!("{location}{}", &name[entry.prefix.len()..])
            }
        };
        let by_digest = reference.digest.is_some();
        let mut out = Vec::new();
        if !entry.mirror_by_digest_only || by_digest {
            for m in &entry.mirrors {
                let wanted = match m.pull_from_mirror {
                    PullFromMirror::All => true,
                    PullFromMirror::DigestOnly => by_digest,
                    PullFromMirror::TagOnly => !by_digest,
                };
                if wanted {
                    out.push(endpoint_from(&rewrite(&m.location), m.insecure));
                }
            }
        }
        out.push(endpoint_from(&rewrite(&entry.location), entry.insecure));
        if let Some(bad) = out.iter().find(|e| e.repository.is_empty()) {
            return Err(RegistriesError::Parse {
                path: entry.source.clone(),
                message: format!(
                    "prefix {:?} rewrites {name} to {:?}, which names no repository: add a path to the location",
                    entry.prefix, bad.host
                ),
            });
        }
        Ok(out)
    }

    /// Whether plain HTTP / unverified TLS is allowed for `host` (`host[:port]`).
    pub fn is_insecure(&self, host: &str) -> bool {
        if is_local(host) {
            return true;
        }
        self.registries.iter().any(|e| {
            (e.insecure
                && (location_host(&e.location) == host || prefix_matches(&e.prefix, host, host)))
                || e.mirrors
                    .iter()
                    .any(|m| m.insecure && location_host(&m.location) == host)
        })
    }
}

fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, RegistriesError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RegistriesError::Read {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    Ok(files)
}

/// containers-registries.conf prefix matching: the prefix must end at a
/// path boundary (`example.com/foo` matches `example.com/foo/bar`, not
/// `example.com/foobar`); `*.example.com` matches any subdomain host.
fn prefix_matches(prefix: &str, name: &str, host: &str) -> bool {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let h = host.split(':').next().unwrap_or(host);
        return h.len() > domain.len() + 1
            && h.ends_with(domain)
            && h[..h.len() - domain.len()].ends_with('.');
    }
    match name.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with(['/', ':', '@']),
        None => false,
    }
}

fn location_host(location: &str) -> &str {
    location.split('/').next().unwrap_or(location)
}

fn endpoint_from(location_name: &str, insecure: bool) -> Endpoint {
    let (host, repository) = location_name.split_once('/').unwrap_or((location_name, ""));
    Endpoint {
        host: host.to_string(),
        repository: repository.to_string(),
        insecure: insecure || is_local(host),
    }
}

/// Loopback registries may use plain HTTP, as in Podman.
pub fn is_local(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    h == "localhost"
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        RegistriesConf::parse(text, Path::new("/test/registries.conf")).unwrap()
    }
    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    const V2: &str = r#"
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true
[[registry.mirror]]
location = "digests.example.com"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com/team"
location = "internal.example.com/mirror/team"

[[registry]]
location = "bad.example.com"
blocked = true

[[registry]]
location = "plain.example.com:8080"
insecure = true

[[registry]]
prefix = "*.corp.example"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"#;

    #[test]
    fn v2_search_and_aliases() {
        let c = conf(V2);
        assert_eq!(
            c.search_registries(),
            vec!["registry.fedoraproject.org", "docker.io"]
        );
        assert_eq!(c.alias("fedora"), Some("registry.fedoraproject.org/fedora"));
        assert_eq!(c.alias("nope"), None);
    }

    #[test]
    fn mirrors_first_then_primary() {
        let c = conf(V2);
        let eps = c.endpoints(&r("alpine")).unwrap();
        assert_eq!(
            eps,
            vec![
                Endpoint {
                    host: "mirror.local:5000".into(),
                    repository: "hub/library/alpine".into(),
                    insecure: true
                },
                Endpoint {
                    host: "docker.io".into(),
                    repository: "library/alpine".into(),
                    insecure: false
                },
            ]
        );
        let d = crate::digest::Digest::of(b"x");
        let eps = c.endpoints(&r("alpine").with_digest(d)).unwrap();
        assert_eq!(eps.len(), 3);
        assert_eq!(eps[1].host, "digests.example.com");
    }

    #[test]
    fn prefix_rewrite_and_boundaries() {
        let c = conf(V2);
        let eps = c.endpoints(&r("example.com/team/app:1")).unwrap();
        assert_eq!(
            eps,
            vec![Endpoint {
                host: "internal.example.com".into(),
                repository: "mirror/team/app".into(),
                insecure: false
            }]
        );
        // "example.com/teammate" is not under the "example.com/team" prefix.
        let eps = c.endpoints(&r("example.com/teammate/app")).unwrap();
        assert_eq!(eps[0].host, "example.com");
        assert_eq!(eps[0].repository, "teammate/app");
        // Wildcard entries keep the location.
        let eps = c.endpoints(&r("a.corp.example/x")).unwrap();
        assert_eq!(eps[0].host, "a.corp.example");
        assert!(!prefix_matches(
            "*.corp.example",
            "corp.example/x",
            "corp.example"
        ));
        let c = conf("[[registry]]\nprefix = \"a.io/x\"\nlocation = \"b.io\"\n");
        assert!(
            c.endpoints(&r("a.io/x"))
                .unwrap_err()
                .to_string()
                .contains("no repository")
        );
        assert_eq!(c.endpoints(&r("a.io/x/y")).unwrap()[0].repository, "y");
    }

    #[test]
    fn blocked_names_registry_and_file() {
        let e = conf(V2).endpoints(&r("bad.example.com/x")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("bad.example.com") && msg.contains("/test/registries.conf"),
            "{msg}"
        );
    }

    #[test]
    fn insecure_hosts() {
        let c = conf(V2);
        assert!(c.is_insecure("plain.example.com:8080"));
        assert!(c.is_insecure("mirror.local:5000"));
        assert!(!c.is_insecure("docker.io"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(c.is_insecure("localhost"));
        assert!(!c.is_insecure("localhost.example.com"));
        let eps = RegistriesConf::default()
            .endpoints(&r("127.0.0.1:5000/x"))
            .unwrap();
        assert!(eps[0].insecure);
        assert!(
            !RegistriesConf::default()
                .endpoints(&r("quay.io/x"))
                .unwrap()[0]
                .insecure
        );
    }

    #[test]
    fn v1_format() {
        let c = conf(
            r#"
[registries.search]
registries = ["quay.io", "docker.io"]
[registries.insecure]
registries = ["old.example.com:5000"]
[registries.block]
registries = ["evil.example.com"]
"#,
        );
        assert_eq!(c.search_registries(), vec!["quay.io", "docker.io"]);
        assert!(c.is_insecure("old.example.com:5000"));
        assert!(c.endpoints(&r("evil.example.com/x")).is_err());
        assert!(
            RegistriesConf::parse(
                "unqualified-search-registries = []\n[registries.search]\nregistries = []\n",
                Path::new("x")
            )
            .is_err()
        );
    }

    #[test]
    fn bad_files_are_reported_with_path() {
        let e = RegistriesConf::parse("[[registry]]\ninsecure = true\n", Path::new("/a/b.conf"))
            .unwrap_err();
        assert!(e.to_string().starts_with("/a/b.conf: "), "{e}");
        assert!(RegistriesConf::parse("x = [", Path::new("/a/b.conf")).is_err());
        assert!(RegistriesConf::parse("[[registry]]\nprefix=\"a*b\"\n", Path::new("p")).is_err());
    }

    #[test]
    fn drop_ins_override() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("registries.conf");
        std::fs::write(
            &main,
            "unqualified-search-registries = [\"a.io\"]\n[[registry]]\nlocation=\"x.io\"\n",
        )
        .unwrap();
        let d = dir.path().join("registries.conf.d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            d.join("10-b.conf"),
            "[[registry]]\nlocation=\"x.io\"\nblocked=true\n",
        )
        .unwrap();
        std::fs::write(
            d.join("20-c.conf"),
            "unqualified-search-registries = [\"c.io\"]\n",
        )
        .unwrap();
        std::fs::write(d.join("ignored.txt"), "garbage [").unwrap();
        let mut files = vec![main];
        files.extend(drop_ins(&d).unwrap());
        let c = RegistriesConf::load_files(&files).unwrap();
        assert_eq!(c.search_registries(), vec!["c.io"]);
        let e = c.endpoints(&r("x.io/y")).unwrap_err().to_string();
        assert!(e.contains("10-b.conf"), "{e}");
        assert!(
            RegistriesConf::load_files(&[dir.path().join("missing.conf")])
                .unwrap()
                .registries
                .is_empty()
        );
    }

    #[test]
    fn docker_hub_default() {
        let eps = RegistriesConf::default().endpoints(&r("alpine")).unwrap();
        assert_eq!(eps[0].host, "docker.io");
    }
}
