//! Registry credentials from containers-auth.json(5) files and Docker's
//! `config.json`, looked up as Podman does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read auth file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid auth file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write auth file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (`identitytoken`), used instead of the
    /// password at the token endpoint when present.
    pub identity_token: Option<String>,
}

impl Credentials {
    pub fn new(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
            identity_token: None,
        }
    }

    /// Parse `--creds USER[:PASS]` (the password may itself contain ':').
    pub fn parse_user_pass(s: &str) -> Credentials {
        match s.split_once(':') {
            Some((u, p)) => Credentials::new(u, p),
            None => Credentials::new(s, ""),
        }
    }
}

// Never print secrets, not even in debug logs.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: BTreeMap<String, RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Clone)]
struct AuthFile {
    path: PathBuf,
    /// Normalized key (`host` or `host/ns/repo`) → credentials.
    entries: BTreeMap<String, Credentials>,
}

/// Credentials from several files, searched in order; the first file with a
/// matching entry wins, and within a file the most specific key wins.
#[derive(Debug, Clone, Default)]
pub struct AuthStore {
    files: Vec<AuthFile>,
}

impl AuthStore {
    /// The files Podman reads: `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`,
    /// `~/.docker/config.json`. Missing files are skipped.
    pub fn load_default() -> Result<AuthStore, AuthError> {
        let mut store = AuthStore::default();
        for path in AuthStore::default_paths() {
            store.add_file(&path)?;
        }
        Ok(store)
    }

    /// The auth file lookups read, most important first.
    pub fn default_paths() -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
            paths.push(PathBuf::from(p));
        }
        if let Some(p) = AuthStore::runtime_auth_path() {
            paths.push(p);
        }
        if let Some(base) = directories::BaseDirs::new() {
            paths.push(base.config_dir().join("containers/auth.json"));
            paths.push(base.home_dir().join(".docker/config.json"));
        }
        paths
    }

    /// Where `login` writes: `$REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json` (as Podman).
    pub fn default_write_path() -> Option<PathBuf> {
        std::env::var_os("REGISTRY_AUTH_FILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(AuthStore::runtime_auth_path)
            .or_else(|| {
                directories::BaseDirs::new().map(|b| b.config_dir().join("containers/auth.json"))
            })
    }

    fn runtime_auth_path() -> Option<PathBuf> {
        std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|p| !p.is_empty())
            .map(|d| PathBuf::from(d).join("containers/auth.json"))
    }

    /// One file only (`--authfile`). A missing file is an error here: the
    /// user named it.
    pub fn from_file(path: &Path) -> Result<AuthStore, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(AuthStore {
            files: vec![parse_file(&text, path)?],
        })
    }

    fn add_file(&mut self, path: &Path) -> Result<(), AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(AuthError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        self.files.push(parse_file(&text, path)?);
        Ok(())
    }

    /// Credentials for `repository` at `registry` (`host[:port]`, with
    /// `docker.io` for Docker Hub).
    pub fn credentials_for(&self, registry: &str, repository: &str) -> Option<Credentials> {
        let registry = normalize_registry(registry);
        let mut candidates = Vec::new();
        let mut key = format!("{registry}/{repository}");
        loop {
            candidates.push(key.clone());
            match key.rfind('/') {
                Some(i) => key.truncate(i),
                None => break,
            }
        }
        self.files
            .iter()
            .find_map(|f| candidates.iter().find_map(|k| f.entries.get(k).cloned()))
    }

    /// The file an entry for `registry` was found in, for messages.
    pub fn source_of(&self, registry: &str) -> Option<&Path> {
        let registry = normalize_registry(registry);
        self.files
            .iter()
            .find(|f| {
                f.entries
                    .keys()
                    .any(|k| k == registry || k.starts_with(&format!("{registry}/")))
            })
            .map(|f| f.path.as_path())
    }

    /// Add or replace the entry for `key` (`host` or `host/ns/repo`) in the
    /// auth file at `path`, keeping everything else in it. Written atomically
    /// with mode 0600.
    pub fn store(path: &Path, key: &str, creds: &Credentials) -> Result<(), AuthError> {
        let key = normalize_key(key);
        let encoded = STANDARD.encode(format!("{}:{}", creds.username, creds.password));
        update_file(path, |auths| {
            let mut entry = serde_json::Map::new();
            entry.insert("auth".into(), serde_json::Value::String(encoded));
            if let Some(t) = &creds.identity_token {
                entry.insert("identitytoken".into(), serde_json::Value::String(t.clone()));
            }
            auths.insert(key, serde_json::Value::Object(entry));
            true
        })
    }

    /// Remove the entry for `key`; returns whether there was one.
    pub fn remove(path: &Path, key: &str) -> Result<bool, AuthError> {
        let key = normalize_key(key);
        remove_from(path, |auths| {
            let before = auths.len();
            auths.retain(|k, _| normalize_key(k) != key);
            auths.len() != before
        })
    }

    /// Remove every entry (`logout --all`); returns whether there was any.
    /// The rest of the file (credHelpers, ...) stays.
    pub fn remove_all(path: &Path) -> Result<bool, AuthError> {
        remove_from(path, |auths| {
            let had = !auths.is_empty();
            auths.clear();
            had
        })
    }
}

/// [`update_file`] for removals, which `change` reports: a missing file has
/// nothing to remove and is not created.
fn remove_from(
    path: &Path,
    change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> bool,
) -> Result<bool, AuthError> {
    if let Err(e) = std::fs::metadata(path)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Ok(false);
    }
    let mut removed = false;
    update_file(path, |auths| {
        removed = change(auths);
        removed
    })?;
    Ok(removed)
}

/// The auth file key for what a user typed to name a registry
/// (`quay.io`, `quay.io/team`, `https://index.docker.io/v1/`): `host[/path]`,
/// with `docker.io` for Docker Hub.
pub fn registry_key(input: &str) -> String {
    normalize_key(input)
}

fn update_file(
    path: &Path,
    change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> bool,
) -> Result<(), AuthError> {
    let disp = path.display().to_string();
    let mut doc = match std::fs::read_to_string(path) {
        Ok(t) if t.trim().is_empty() => serde_json::Value::Object(Default::default()),
        Ok(t) => serde_json::from_str(&t).map_err(|e| AuthError::Parse {
            path: disp.clone(),
            message: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            serde_json::Value::Object(Default::default())
        }
        Err(source) => return Err(AuthError::Read { path: disp, source }),
    };
    let obj = doc.as_object_mut().ok_or_else(|| AuthError::Parse {
        path: disp.clone(),
        message: "top level is not a JSON object".into(),
    })?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    let auths = auths.as_object_mut().ok_or_else(|| AuthError::Parse {
        path: disp.clone(),
        message: "\"auths\" is not a JSON object".into(),
    })?;
    if !change(auths) {
        return Ok(());
    }
    let mut text = serde_json::to_vec_pretty(&doc).map_err(|e| AuthError::Parse {
        path: disp.clone(),
        message: e.to_string(),
    })?;
    text.push(b'\n');
    write_atomic(path, &text).map_err(|source| AuthError::Write { path: disp, source })
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth.json.")
        .tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

fn parse_file(text: &str, path: &Path) -> Result<AuthFile, AuthError> {
    let disp = || path.display().to_string();
    let raw: RawFile = if text.trim().is_empty() {
        RawFile {
            auths: BTreeMap::new(),
        }
    } else {
        serde_json::from_str(text).map_err(|e| AuthError::Parse {
            path: disp(),
            message: e.to_string(),
        })?
    };
    let mut entries = BTreeMap::new();
    for (key, e) in raw.auths {
        let Some(auth) = e.auth.filter(|a| !a.is_empty()) else {
            // Entries without "auth" belong to credential helpers, which we don't run.
            continue;
        };
        let decoded = STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| AuthError::Parse {
                path: disp(),
                message: format!("entry {key:?}: \"auth\" is not base64"),
            })?;
        let (user, pass) = decoded.split_once(':').ok_or_else(|| AuthError::Parse {
            path: disp(),
            message: format!("entry {key:?}: \"auth\" must encode \"user:password\""),
        })?;
        let creds = Credentials {
            username: user.to_string(),
            password: pass.to_string(),
            identity_token: e.identitytoken.filter(|t| !t.is_empty()),
        };
        // Normalized keys may collide (e.g. docker.io and index.docker.io);
        // the more explicit, scheme-less form is kept.
        let norm = normalize_key(&key);
        if !key.contains("://") || !entries.contains_key(&norm) {
            entries.insert(norm, creds);
        }
    }
    Ok(AuthFile {
        path: path.to_path_buf(),
        entries,
    })
}

/// Keys are `host[/path]`; Docker-style keys with a scheme
/// (`https://index.docker.io/v1/`) only name a host.
fn normalize_key(key: &str) -> String {
    let key = key.trim_end_matches('/');
    let key = match key.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => key,
    };
    match key.split_once('/') {
        Some((host, path)) => format!("{}/{path}", normalize_registry(host)),
        None => normalize_registry(key).to_string(),
    }
}

fn normalize_registry(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        h => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    fn write(dir: &Path, name: &str, json: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, json).unwrap();
        p
    }

    #[test]
    fn most_specific_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "auth.json",
            &format!(
                r#"{{"auths": {{
                    "quay.io": {{"auth": "{}"}},
                    "quay.io/team": {{"auth": "{}"}},
                    "quay.io/team/app": {{"auth": "{}"}},
                    "localhost:5000": {{"auth": "{}", "identitytoken": "refresh"}},
                    "helper.io": {{}}
                }}, "credHelpers": {{"x": "y"}}}}"#,
                b64("host:h"),
                b64("ns:n"),
                b64("repo:r:with:colons"),
                b64("local:l")
            ),
        );
        let s = AuthStore::from_file(&p).unwrap();
        assert_eq!(
            s.credentials_for("quay.io", "team/app").unwrap(),
            Credentials::new("repo", "r:with:colons")
        );
        assert_eq!(
            s.credentials_for("quay.io", "team/other").unwrap().username,
            "ns"
        );
        assert_eq!(
            s.credentials_for("quay.io", "teamx/app").unwrap().username,
            "host"
        );
        assert_eq!(
            s.credentials_for("quay.io", "other").unwrap().username,
            "host"
        );
        let l = s.credentials_for("localhost:5000", "x").unwrap();
        assert_eq!(l.identity_token.as_deref(), Some("refresh"));
        assert!(s.credentials_for("helper.io", "x").is_none());
        assert!(s.credentials_for("localhost", "x").is_none());
        assert_eq!(s.source_of("quay.io"), Some(p.as_path()));
        let dbg = format!("{:?}", Credentials::new("someone", "secretpw"));
        assert!(
            dbg.contains("someone") && !dbg.contains("secretpw"),
            "{dbg}"
        );
    }

    #[test]
    fn docker_config_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}},
                               "http://myreg.example.com:5000/v2/": {{"auth": "{}"}}}}}}"#,
                b64("hub:pw"),
                b64("me:pw2")
            ),
        );
        let s = AuthStore::from_file(&p).unwrap();
        assert_eq!(
            s.credentials_for("docker.io", "library/alpine")
                .unwrap()
                .username,
            "hub"
        );
        assert_eq!(
            s.credentials_for("myreg.example.com:5000", "a/b")
                .unwrap()
                .username,
            "me"
        );
    }

    #[test]
    fn first_file_wins_and_missing_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.json",
            &format!(r#"{{"auths":{{"r.io":{{"auth":"{}"}}}}}}"#, b64("a:1")),
        );
        let b = write(
            dir.path(),
            "b.json",
            &format!(
                r#"{{"auths":{{"r.io/x":{{"auth":"{}"}},"s.io":{{"auth":"{}"}}}}}}"#,
                b64("b:1"),
                b64("s:1")
            ),
        );
        let mut s = AuthStore::default();
        s.add_file(&dir.path().join("missing.json")).unwrap();
        s.add_file(&a).unwrap();
        s.add_file(&b).unwrap();
        // a.json has a (less specific) match, and files are searched in order.
        assert_eq!(s.credentials_for("r.io", "x").unwrap().username, "a");
        assert_eq!(s.credentials_for("s.io", "x").unwrap().username, "s");
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "bad.json",
            r#"{"auths": {"r.io": {"auth": "!!notbase64"}}}"#,
        );
        let e = AuthStore::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("r.io"), "{e}");
        let p = write(
            dir.path(),
            "bad2.json",
            &format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                b64("nocolon")
            ),
        );
        assert!(AuthStore::from_file(&p).is_err());
        let p = write(dir.path(), "bad3.json", "{");
        assert!(AuthStore::from_file(&p).is_err());
        assert!(AuthStore::from_file(&dir.path().join("missing.json")).is_err());
        let p = write(dir.path(), "empty.json", "");
        assert!(
            AuthStore::from_file(&p)
                .unwrap()
                .credentials_for("r.io", "x")
                .is_none()
        );
    }

    #[test]
    fn store_and_remove_keep_other_content() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/auth.json");
        AuthStore::store(&p, "r.io", &Credentials::new("u", "p:w")).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        v["credHelpers"] = serde_json::json!({"k": "v"});
        std::fs::write(&p, v.to_string()).unwrap();
        AuthStore::store(
            &p,
            "https://index.docker.io/v1/",
            &Credentials::new("hub", "x"),
        )
        .unwrap();
        let s = AuthStore::from_file(&p).unwrap();
        assert_eq!(
            s.credentials_for("r.io", "a").unwrap(),
            Credentials::new("u", "p:w")
        );
        assert_eq!(
            s.credentials_for("docker.io", "library/a")
                .unwrap()
                .username,
            "hub"
        );
        assert!(AuthStore::remove(&p, "r.io").unwrap());
        assert!(!AuthStore::remove(&p, "r.io").unwrap());
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["credHelpers"]["k"], "v");
        assert!(
            AuthStore::from_file(&p)
                .unwrap()
                .credentials_for("r.io", "a")
                .is_none()
        );
        assert!(!AuthStore::remove(&dir.path().join("none.json"), "r.io").unwrap());
        AuthStore::store(&p, "s.io", &Credentials::new("s", "x")).unwrap();
        assert!(AuthStore::remove_all(&p).unwrap());
        assert!(!AuthStore::remove_all(&p).unwrap());
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["credHelpers"]["k"], "v");
        assert_eq!(v["auths"], serde_json::json!({}));
        assert_eq!(registry_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_key("quay.io/team/"), "quay.io/team");
    }

    #[test]
    fn parse_user_pass() {
        assert_eq!(
            Credentials::parse_user_pass("a:b:c"),
            Credentials::new("a", "b:c")
        );
        assert_eq!(Credentials::parse_user_pass("a"), Credentials::new("a", ""));
    }
}
