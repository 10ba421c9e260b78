//! A blocking client for the OCI distribution (Docker registry v2) API:
//! token and basic auth, mirrors from registries.conf, retries, and digest
//! verification of everything it returns whole.
//!
//! It runs inside the user-namespace child on plain threads, so it is
//! blocking; one `Client` is shared by the download threads of a pull.

pub mod challenge;
pub mod manifest;
pub mod platform;
pub mod push;
pub mod search;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::blocking::{Body, Client as HttpClient, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::config::auth::{AuthStore, Credentials};
use crate::config::registries::{Endpoint, RegistriesConf, RegistriesError};
use crate::digest::Digest;
use crate::reference::{DOCKER_HUB, Reference};
pub use platform::{Platform, PlatformError};

/// Manifests are small JSON documents; anything bigger is not one.
pub const MANIFEST_LIMIT: u64 = 4 << 20;
/// Image configs carry history and labels but stay far below this.
pub const CONFIG_LIMIT: u64 = 16 << 20;

const USER_AGENT: &str = concat!("burrow/", env!("CARGO_PKG_VERSION"));
/// Tries of one request while it fails transiently.
pub const ATTEMPTS: u32 = 4;
/// Of those, how many may stall: each stall costs a whole timeout.
pub const STALL_ATTEMPTS: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);
/// How long a registry may send nothing (no connection, no response head,
/// no body data) before it is taken to have stalled, unless
/// `ClientOptions::timeout` says otherwise. It bounds each wait, not a whole
/// transfer: a large blob may take as long as it takes while data flows.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(crate::config::DEFAULT_REGISTRY_TIMEOUT);
/// Tokens without `expires_in` last 60 s (distribution token spec).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// A registry sent nothing for a whole timeout: named, with where it
/// stalled and, once a retry loop gave up, how many tries that took.
#[derive(Debug, Clone)]
pub struct Stall {
    /// `host[:port]` that stalled.
    pub host: String,
    pub timeout: Duration,
    /// What was being waited for: "reading layer sha256:…", "waiting for
    /// the response to GET /v2/…".
    pub what: String,
    /// Tries made, the last of them stalled.
    pub attempts: u32,
    /// From the start of the first try to giving up.
    pub elapsed: Duration,
}

impl Stall {
    /// The stall an `io::Error` from a `BlobReader` carries, if it is one.
    pub fn in_io(e: &std::io::Error) -> Option<&Stall> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Stall>())
    }

    fn new(host: &str, timeout: Duration, what: String) -> Stall {
        Stall {
            host: host.to_string(),
            timeout,
            what,
            attempts: 1,
            elapsed: timeout,
        }
    }

    /// Record that a retry loop gave up after `attempts` tries in `elapsed`.
    pub fn gave_up(mut self, attempts: u32, elapsed: Duration) -> Stall {
        self.attempts = attempts;
        self.elapsed = elapsed;
        self
    }
}

/// Whole seconds, or tenths below that (tests use short timeouts).
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 || d >= Duration::from_secs(10) {
        format!("{}", d.as_secs_f64().round())
    } else {
        format!("{:.1}", d.as_secs_f64())
    }
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no data from {} for {} s while {}",
            self.host,
            seconds(self.timeout),
            self.what
        )?;
        if self.attempts > 1 {
            write!(
                f,
                "; gave up after {} attempts in {} s",
                self.attempts,
                seconds(self.elapsed)
            )?;
        }
        f.write_str(
            " (the registry stalled; to wait longer, set [registry] timeout in config.toml)",
        )
    }
}

impl std::error::Error for Stall {}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Config(#[from] RegistriesError),
    #[error(transparent)]
    Stalled(#[from] Stall),
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("image not found: {reference}")]
    NotFound { reference: String },
    #[error("blob {digest} not found in {repository} on {registry}")]
    BlobNotFound {
        registry: String,
        repository: String,
        digest: Digest,
    },
    #[error("authentication required for {registry}: run `burrow login {registry}`")]
    AuthRequired { registry: String },
    #[error("invalid username/password for {registry}: run `burrow login {registry}`")]
    InvalidCredentials { registry: String },
    #[error(
        "access to {what} denied by {registry}{detail}: check the name and run `burrow login {registry}`"
    )]
    Denied {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("{registry}: HTTP {status} for {what}{detail}")]
    Http {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("cannot reach registry {registry}: {message}")]
    Network { registry: String, message: String },
    #[error(
        "TLS error talking to {registry}: {message} (for a registry without valid TLS use --tls-verify=false or \
         mark it insecure in registries.conf)"
    )]
    Tls { registry: String, message: String },
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(
        "{reference}: size mismatch: the manifest says {expected} bytes, the registry sent {actual}"
    )]
    SizeMismatch {
        reference: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{reference}: Docker schema 1 manifests are not supported; re-push the image with a current client \
         (schema 2 or OCI)"
    )]
    Schema1 { reference: String },
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        reference: String,
        media_type: String,
    },
    #[error("{what} from {registry} is larger than the {limit}-byte limit")]
    TooLarge {
        registry: String,
        what: String,
        limit: u64,
    },
    #[error("invalid manifest for {reference}: {message}")]
    InvalidManifest { reference: String, message: String },
    #[error("invalid image config for {reference}: {message}")]
    InvalidConfig { reference: String, message: String },
    #[error(
        "no image for platform {wanted} in {reference}; available: {available} (choose one with --platform)"
    )]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("{registry}: {message}")]
    Protocol { registry: String, message: String },
    #[error("cannot read {what}: {source}")]
    Local {
        what: String,
        source: std::io::Error,
    },
    #[error("token server {realm} for {registry}: {message}")]
    Token {
        registry: String,
        realm: String,
        message: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `None`: registries.conf decides (and loopback registries may use
    /// HTTP); `Some(false)`: HTTP and unverified certificates allowed
    /// everywhere; `Some(true)`: verified HTTPS only.
    pub tls_verify: Option<bool>,
    /// `--creds`: used instead of the auth files.
    pub credentials: Option<Credentials>,
    pub auth: AuthStore,
    pub registries: RegistriesConf,
    /// How long a registry may send nothing before it is taken to have
    /// stalled (`[registry] timeout`); `None`: `DEFAULT_TIMEOUT`.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub reference: Reference,
    /// Set when the reference named an index (manifest list).
    pub index_digest: Option<Digest>,
    /// The image manifest for the chosen platform.
    pub manifest: FetchedManifest,
    pub layers: Vec<LayerDescriptor>,
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config: oci_spec::image::ImageConfiguration,
}

impl ResolvedImage {
    /// The digest for RepoDigests: that of the top-level manifest the
    /// reference resolved to (the index, if it was one), as Docker records.
    pub fn repo_digest(&self) -> Digest {
        self.index_digest
            .clone()
            .unwrap_or_else(|| self.manifest.digest.clone())
    }
}

/// A blob body being downloaded. The caller verifies the digest; a transfer
/// failure surfaces as an `io::Error` from `read`.
pub struct BlobReader {
    response: Response,
    size: Option<u64>,
    /// For naming a stall.
    host: String,
    digest: Digest,
    timeout: Duration,
}

impl BlobReader {
    /// The length the registry announced, if it did.
    pub fn size(&self) -> Option<u64> {
        self.size
    }
}

impl Read for BlobReader {
    /// A stall comes out as an `io::Error` of kind `TimedOut` that carries
    /// a `Stall` (find it with `Stall::in_io`).
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.response.read(buf).map_err(|e| {
            if is_timeout(&e) {
                let what = format!("reading blob {}", self.digest);
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    Stall::new(&self.host, self.timeout, what),
                )
            } else {
                e
            }
        })
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("url", &self.response.url().as_str())
            .field("size", &self.size)
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scheme {
    Https,
    Http,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

#[derive(Clone)]
enum HostAuth {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

#[derive(Default)]
struct AuthState {
    /// API host → the challenge it answered with.
    hosts: HashMap<String, HostAuth>,
    /// (API host, scope) → token and expiry.
    tokens: HashMap<(String, String), (String, Instant)>,
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    Retry {
        error: RegistryError,
        after: Option<Duration>,
    },
    Fatal(RegistryError),
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Failure {
        Failure::Fatal(e)
    }
}

/// A request to send, rebuilt for each attempt (scheme fallback, auth).
struct Req<'a> {
    method: Method,
    /// A path on the API host (`/v2/...`), or an absolute URL (an upload
    /// location the registry handed out).
    target: &'a str,
    accept: Option<&'a str>,
    headers: Vec<(&'static str, String)>,
    /// Builds the body afresh: a request may be sent more than once.
    body: Option<Box<dyn Fn() -> Result<Body, RegistryError> + 'a>>,
}

impl<'a> Req<'a> {
    fn new(method: Method, target: &'a str) -> Req<'a> {
        Req {
            method,
            target,
            accept: None,
            headers: Vec::new(),
            body: None,
        }
    }

    fn get(target: &'a str) -> Req<'a> {
        Req::new(Method::GET, target)
    }

    fn accept(mut self, accept: &'a str) -> Req<'a> {
        self.accept = Some(accept);
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Req<'a> {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: impl Fn() -> Result<Body, RegistryError> + 'a) -> Req<'a> {
        self.body = Some(Box::new(body));
        self
    }
}

pub struct Client {
    http: HttpClient,
    /// Accepts any certificate; built on first use of an insecure registry.
    http_insecure: OnceLock<Result<HttpClient, String>>,
    tls_verify: Option<bool>,
    credentials: Option<Credentials>,
    auth: AuthStore,
    registries: RegistriesConf,
    /// API host → the scheme that worked, for hosts allowed plain HTTP.
    schemes: Mutex<HashMap<String, Scheme>>,
    auth_state: Mutex<AuthState>,
    /// Repository name → the endpoint that served its manifest last.
    preferred: Mutex<HashMap<String, Endpoint>>,
    backoff_base: Duration,
    timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps cannot leave it inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// reqwest's blocking `timeout` bounds the wait for a response's head
/// (connecting and sending the request included) and then each `read` of
/// its body, not the whole body: "no data for `timeout`", as wanted.
fn build_http(accept_invalid_certs: bool, timeout: Duration) -> Result<HttpClient, String> {
    HttpClient::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(timeout)
        .timeout(timeout)
        .tls_danger_accept_invalid_certs(accept_invalid_certs)
        .build()
        .map_err(|e| error_chain(&e))
}

/// Docker Hub's API lives on another host than its name.
fn api_host(host: &str) -> &str {
    if host == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        host
    }
}

fn scope(repository: &str, actions: &str) -> String {
    format!("repository:{repository}:{actions}")
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, RegistryError> {
        let timeout = opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
        Ok(Client {
            http: build_http(false, timeout).map_err(RegistryError::Client)?,
            http_insecure: OnceLock::new(),
            tls_verify: opts.tls_verify,
            credentials: opts.credentials,
            auth: opts.auth,
            registries: opts.registries,
            schemes: Mutex::new(HashMap::new()),
            auth_state: Mutex::new(AuthState::default()),
            preferred: Mutex::new(HashMap::new()),
            backoff_base: BACKOFF_BASE,
            timeout,
        })
    }

    pub fn registries(&self) -> &RegistriesConf {
        &self.registries
    }

    fn insecure_allowed(&self, ep: &Endpoint) -> bool {
        match self.tls_verify {
            Some(v) => !v,
            None => ep.insecure || self.registries.is_insecure(&ep.host),
        }
    }

    fn http_for(&self, insecure: bool) -> Result<&HttpClient, RegistryError> {
        if !insecure {
            return Ok(&self.http);
        }
        self.http_insecure
            .get_or_init(|| build_http(true, self.timeout))
            .as_ref()
            .map_err(|e| RegistryError::Client(e.clone()))
    }

    fn credentials_for(&self, ep: &Endpoint) -> Option<Credentials> {
        self.credentials
            .clone()
            .or_else(|| self.auth.credentials_for(&ep.host, &ep.repository))
    }

    /// The endpoints for `r`, the one that served its manifest first.
    fn endpoints(&self, r: &Reference) -> Result<Vec<Endpoint>, RegistryError> {
        let mut eps = self.registries.endpoints(r)?;
        if let Some(p) = lock(&self.preferred).get(&r.name())
            && let Some(i) = eps.iter().position(|e| e == p)
        {
            let ep = eps.remove(i);
            eps.insert(0, ep);
        }
        Ok(eps)
    }

    /// Run `op` on each endpoint in turn until one succeeds; the last error
    /// is returned when all fail.
    fn on_endpoints<T>(
        &self,
        r: &Reference,
        mut op: impl FnMut(&Endpoint) -> Result<T, RegistryError>,
    ) -> Result<(T, Endpoint), RegistryError> {
        let eps = self.endpoints(r)?;
        let n = eps.len();
        let mut last = None;
        for (i, ep) in eps.into_iter().enumerate() {
            match op(&ep) {
                Ok(v) => return Ok((v, ep)),
                Err(e) => {
                    if i + 1 < n {
                        log::warn!("{}: {e}; trying the next endpoint", ep.host);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::NotFound {
            reference: r.to_string(),
        }))
    }

    /// Check that the registry at `registry` (`host[:port]`) accepts our
    /// credentials: `GET /v2/` through the challenge flow (a token without
    /// a repository scope for token auth), as `login` does before storing them.
    pub fn check_login(&self, registry: &str) -> Result<(), RegistryError> {
        let ep = Endpoint {
            host: registry.to_string(),
            repository: String::new(),
            insecure: crate::config::registries::is_local(registry),
        };
        self.retrying(&ep, || {
            let resp = self.send(&ep, &Req::get("/v2/"), "")?;
            self.check_status(
                &ep,
                resp,
                || "/v2/".to_string(),
                |detail| RegistryError::Http {
                    registry: registry.to_string(),
                    what: "/v2/ (is this a container registry?)".into(),
                    status: 404,
                    detail: detail.to_string(),
                },
            )?;
            Ok(())
        })
    }

    /// Fetch the manifest `r` names (tag or digest), verified.
    pub fn fetch_manifest(&self, r: &Reference) -> Result<FetchedManifest, RegistryError> {
        let (m, ep) = self.on_endpoints(r, |ep| self.fetch_manifest_at(ep, r))?;
        lock(&self.preferred).insert(r.name(), ep);
        Ok(m)
    }

    fn fetch_manifest_at(
        &self,
        ep: &Endpoint,
        r: &Reference,
    ) -> Result<FetchedManifest, RegistryError> {
        let path = format!("/v2/{}/manifests/{}", ep.repository, r.manifest_ref());
        self.retrying(ep, || {
            let req = Req::get(&path).accept(manifest::ACCEPT);
            let resp = self.send(ep, &req, &scope(&ep.repository, "pull"))?;
            let resp = self.check_status(
                ep,
                resp,
                || r.to_string(),
                |_| RegistryError::NotFound {
                    reference: r.to_string(),
                },
            )?;
            let content_type = header_str(&resp, CONTENT_TYPE.as_str());
            let header_digest = header_str(&resp, "docker-content-digest");
            let bytes = self.read_capped(ep, resp, MANIFEST_LIMIT, &format!("manifest of {r}"))?;
            let media_type =
                manifest::detect_media_type(content_type.as_deref(), &bytes).unwrap_or_default();
            let digest = Digest::of(&bytes);
            if let Some(expected) = &r.digest {
                if *expected != digest {
                    return Err(Failure::Fatal(RegistryError::DigestMismatch {
                        what: format!("manifest of {r} from {}", ep.host),
                        expected: expected.clone(),
                        actual: digest,
                    }));
                }
            } else if let Some(Ok(expected)) = header_digest.as_deref().map(str::parse::<Digest>)
                && expected != digest
            {
                return Err(Failure::Fatal(RegistryError::DigestMismatch {
                    what: format!("manifest of {r} from {} (Docker-Content-Digest)", ep.host),
                    expected,
                    actual: digest,
                }));
            }
            if media_type == manifest::DOCKER_SCHEMA1
                || media_type == manifest::DOCKER_SCHEMA1_SIGNED
            {
                return Err(Failure::Fatal(RegistryError::Schema1 {
                    reference: r.to_string(),
                }));
            }
            if !manifest::is_index(&media_type) && !manifest::is_image_manifest(&media_type) {
                return Err(Failure::Fatal(RegistryError::UnsupportedMediaType {
                    reference: r.to_string(),
                    media_type,
                }));
            }
            Ok(FetchedManifest {
                bytes,
                media_type,
                digest,
            })
        })
    }

    /// Resolve `r` to one image for `platform`: manifest (through an index
    /// if needed), layers and config, all digest-verified.
    pub fn resolve(
        &self,
        r: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let top = self.fetch_manifest(r)?;
        let (index_digest, manifest) = if manifest::is_index(&top.media_type) {
            let index: manifest::ImageIndex =
                serde_json::from_slice(&top.bytes).map_err(|e| RegistryError::InvalidManifest {
                    reference: r.to_string(),
                    message: e.to_string(),
                })?;
            let candidates: Vec<(usize, Platform)> = index
                .manifests
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    d.media_type.is_empty() || manifest::is_image_manifest(&d.media_type)
                })
                .filter_map(|(i, d)| d.platform.as_ref().map(|p| (i, p.platform())))
                .collect();
            let chosen =
                platform::select(platform, candidates.iter().map(|(_, p)| p)).ok_or_else(|| {
                    let mut available: Vec<String> =
                        candidates.iter().map(|(_, p)| p.to_string()).collect();
                    available.dedup();
                    RegistryError::NoMatchingPlatform {
                        reference: r.to_string(),
                        wanted: platform.to_string(),
                        available: if available.is_empty() {
                            "none".into()
                        } else {
                            available.join(", ")
                        },
                    }
                })?;
            let desc = &index.manifests[candidates[chosen].0];
            if desc.size > MANIFEST_LIMIT {
                return Err(RegistryError::TooLarge {
                    registry: r.registry.clone(),
                    what: format!("manifest {} of {r}", desc.digest),
                    limit: MANIFEST_LIMIT,
                });
            }
            let child = self.fetch_manifest(&r.with_digest(desc.digest.clone()))?;
            if child.bytes.len() as u64 != desc.size {
                return Err(RegistryError::SizeMismatch {
                    reference: format!("{r} ({})", desc.digest),
                    expected: desc.size,
                    actual: child.bytes.len() as u64,
                });
            }
            if !manifest::is_image_manifest(&child.media_type) {
                return Err(RegistryError::InvalidManifest {
                    reference: r.to_string(),
                    message: format!(
                        "index entry {} is a {}, not an image manifest",
                        desc.digest, child.media_type
                    ),
                });
            }
            (Some(top.digest.clone()), child)
        } else {
            (None, top)
        };

        let m: manifest::ImageManifest = serde_json::from_slice(&manifest.bytes).map_err(|e| {
            RegistryError::InvalidManifest {
                reference: r.to_string(),
                message: e.to_string(),
            }
        })?;
        if m.config.size > CONFIG_LIMIT {
            return Err(RegistryError::TooLarge {
                registry: r.registry.clone(),
                what: format!("image config of {r}"),
                limit: CONFIG_LIMIT,
            });
        }
        let config_bytes = self.fetch_blob_bytes(r, &m.config.digest, CONFIG_LIMIT)?;
        if config_bytes.len() as u64 != m.config.size {
            return Err(RegistryError::SizeMismatch {
                reference: format!("{r} (config {})", m.config.digest),
                expected: m.config.size,
                actual: config_bytes.len() as u64,
            });
        }
        let config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&config_bytes)
            .map_err(|e| RegistryError::InvalidConfig {
                reference: r.to_string(),
                message: e.to_string(),
            })?;
        let diff_ids = config.rootfs().diff_ids().len();
        if diff_ids != m.layers.len() {
            return Err(RegistryError::InvalidConfig {
                reference: r.to_string(),
                message: format!(
                    "{} layers in the manifest but {diff_ids} diff_ids in the config",
                    m.layers.len()
                ),
            });
        }
        let config_platform = Platform::new(
            &config.os().to_string(),
            &config.architecture().to_string(),
            None,
        );
        if index_digest.is_none()
            && (config_platform.os != platform.os
                || config_platform.architecture != platform.architecture)
        {
            log::warn!("{r} is built for {config_platform}, not {platform}");
        }
        let layers = m
            .layers
            .iter()
            .map(|l| LayerDescriptor {
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
            })
            .collect();
        Ok(ResolvedImage {
            reference: r.clone(),
            index_digest,
            manifest,
            layers,
            config_digest: m.config.digest.clone(),
            config_bytes,
            config,
        })
    }

    /// Download a whole small blob (at most `limit` bytes), verified.
    pub fn fetch_blob_bytes(
        &self,
        r: &Reference,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let br = r.with_digest(digest.clone());
        let (bytes, _) = self.on_endpoints(&br, |ep| {
            self.retrying(ep, || {
                let resp = self.get_blob(ep, digest)?;
                let bytes = self.read_capped(ep, resp, limit, &format!("blob {digest}"))?;
                let actual = Digest::of(&bytes);
                if actual != *digest {
                    return Err(Failure::Fatal(RegistryError::DigestMismatch {
                        what: format!("blob of {r} from {}", ep.host),
                        expected: digest.clone(),
                        actual,
                    }));
                }
                Ok(bytes)
            })
        })?;
        Ok(bytes)
    }

    /// Start downloading a blob of `r`'s repository. The caller verifies the
    /// digest while reading and retries the whole blob on failure; so a
    /// stall (`RegistryError::Stalled`) is not retried here, to keep one
    /// count of the tries a stalled blob gets.
    pub fn open_blob(&self, r: &Reference, digest: &Digest) -> Result<BlobReader, RegistryError> {
        // Blobs are content-addressed, so digest-only mirrors may serve them.
        let br = r.with_digest(digest.clone());
        let (reader, _) = self.on_endpoints(&br, |ep| {
            self.retrying_with(ep, 1, || {
                let response = self.get_blob(ep, digest)?;
                let size = response.content_length();
                Ok(BlobReader {
                    response,
                    size,
                    host: api_host(&ep.host).to_string(),
                    digest: digest.clone(),
                    timeout: self.timeout,
                })
            })
        })?;
        Ok(reader)
    }

    fn get_blob(&self, ep: &Endpoint, digest: &Digest) -> Result<Response, Failure> {
        let path = format!("/v2/{}/blobs/{digest}", ep.repository);
        let resp = self.send(ep, &Req::get(&path), &scope(&ep.repository, "pull"))?;
        self.check_status(
            ep,
            resp,
            || format!("blob {digest} of {}/{}", ep.host, ep.repository),
            |_| RegistryError::BlobNotFound {
                registry: ep.host.clone(),
                repository: ep.repository.clone(),
                digest: digest.clone(),
            },
        )
    }

    /// Run `op` up to ATTEMPTS times with exponential backoff (or the
    /// server's Retry-After) while it fails transiently, of which at most
    /// STALL_ATTEMPTS may stall: a registry that stalls is given up on after
    /// STALL_ATTEMPTS × timeout plus the backoff between (0.2 s, 0.4 s).
    fn retrying<T>(
        &self,
        ep: &Endpoint,
        op: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        self.retrying_with(ep, STALL_ATTEMPTS, op)
    }

    /// `retrying`, giving up at the `stall_attempts`th stall.
    fn retrying_with<T>(
        &self,
        ep: &Endpoint,
        stall_attempts: u32,
        mut op: impl FnMut() -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        let start = Instant::now();
        let mut attempt = 0;
        let mut stalls = 0;
        loop {
            match op() {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry { error, after }) => {
                    attempt += 1;
                    if let RegistryError::Stalled(stall) = error {
                        stalls += 1;
                        let stall = stall.gave_up(attempt, start.elapsed());
                        if stalls >= stall_attempts || attempt >= ATTEMPTS {
                            return Err(RegistryError::Stalled(stall));
                        }
                        let delay = self.backoff_base * 2u32.pow(attempt - 1);
                        log::info!("{stall}; retrying in {} ms", delay.as_millis());
                        std::thread::sleep(delay);
                        continue;
                    }
                    if attempt >= ATTEMPTS {
                        return Err(error);
                    }
                    let delay = after
                        .unwrap_or(self.backoff_base * 2u32.pow(attempt - 1))
                        .min(RETRY_AFTER_CAP);
                    log::info!("{}: {error}; retrying in {} ms", ep.host, delay.as_millis());
                    std::thread::sleep(delay);
                }
            }
        }
    }

    /// Pass a successful response through; turn the rest into errors,
    /// retryable for 5xx and 429.
    fn check_status(
        &self,
        ep: &Endpoint,
        resp: Response,
        what: impl Fn() -> String,
        not_found: impl Fn(&str) -> RegistryError,
    ) -> Result<Response, Failure> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let after = retry_after(&resp);
        let detail = error_detail(resp);
        let registry = ep.host.clone();
        let err = match status {
            StatusCode::NOT_FOUND => not_found(&detail),
            StatusCode::FORBIDDEN => RegistryError::Denied {
                registry,
                what: what(),
                detail,
            },
            StatusCode::UNAUTHORIZED => RegistryError::AuthRequired { registry },
            s => RegistryError::Http {
                registry,
                what: what(),
                status: s.as_u16(),
                detail,
            },
        };
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Err(Failure::Retry { error: err, after })
        } else {
            Err(Failure::Fatal(err))
        }
    }

    fn read_capped(
        &self,
        ep: &Endpoint,
        resp: Response,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, Failure> {
        let too_large = || {
            Failure::Fatal(RegistryError::TooLarge {
                registry: ep.host.clone(),
                what: what.to_string(),
                limit,
            })
        };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        let host = url_host(resp.url());
        resp.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Retry {
                error: if is_timeout(&e) {
                    Stall::new(&host, self.timeout, format!("reading {what}")).into()
                } else {
                    RegistryError::Network {
                        registry: ep.host.clone(),
                        message: format!("reading {what}: {e}"),
                    }
                },
                after: None,
            })?;
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(bytes)
    }

    /// Send `req` to `ep` with authentication for `scope` (space-separated
    /// scopes for a token): answer one 401 challenge by getting a token (or
    /// sending basic credentials) and asking again.
    fn send(&self, ep: &Endpoint, req: &Req<'_>, scope: &str) -> Result<Response, Failure> {
        let host = api_host(&ep.host).to_string();
        let scope = scope.to_string();
        let creds = self.credentials_for(ep);
        let header = self.cached_auth_header(&host, &scope, creds.as_ref());
        let resp = self.send_raw(ep, req, header.as_deref())?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenges: Vec<challenge::Challenge> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(challenge::parse)
            .collect();
        let registry = ep.host.clone();
        let rejected = |had_creds: bool| {
            Failure::Fatal(if had_creds {
                RegistryError::InvalidCredentials {
                    registry: registry.clone(),
                }
            } else {
                RegistryError::AuthRequired {
                    registry: registry.clone(),
                }
            })
        };
        let header = if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = c.param("realm").unwrap_or_default().to_string();
            if realm.is_empty() {
                return Err(Failure::Fatal(RegistryError::Token {
                    registry,
                    realm,
                    message: "the Bearer challenge has no realm".into(),
                }));
            }
            let service = c.param("service").map(str::to_string);
            lock(&self.auth_state).hosts.insert(
                host.clone(),
                HostAuth::Bearer {
                    realm: realm.clone(),
                    service,
                },
            );
            let token = self.fetch_token(ep, &host, &scope, creds.as_ref())?;
            format!("Bearer {token}")
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            lock(&self.auth_state)
                .hosts
                .insert(host.clone(), HostAuth::Basic);
            match &creds {
                Some(c) if header.is_none() => basic_header(c),
                _ => return Err(rejected(creds.is_some())),
            }
        } else {
            return Err(rejected(creds.is_some()));
        };
        let resp = self.send_raw(ep, req, Some(&header))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            // Drop the token so a later request asks afresh.
            lock(&self.auth_state).tokens.remove(&(host, scope));
            return Err(rejected(creds.is_some()));
        }
        Ok(resp)
    }

    fn cached_auth_header(
        &self,
        host: &str,
        scope: &str,
        creds: Option<&Credentials>,
    ) -> Option<String> {
        let state = lock(&self.auth_state);
        match state.hosts.get(host)? {
            HostAuth::Basic => creds.map(basic_header),
            HostAuth::Bearer { .. } => {
                let (token, expiry) = state.tokens.get(&(host.to_string(), scope.to_string()))?;
                (Instant::now() < *expiry).then(|| format!("Bearer {token}"))
            }
        }
    }

    /// Get a bearer token for `scope` from the host's realm (distribution
    /// token spec): GET with basic credentials, or the OAuth2 refresh-token
    /// POST when an identity token is stored.
    fn fetch_token(
        &self,
        ep: &Endpoint,
        host: &str,
        scope: &str,
        creds: Option<&Credentials>,
    ) -> Result<String, Failure> {
        let Some(HostAuth::Bearer { realm, service }) =
            lock(&self.auth_state).hosts.get(host).cloned()
        else {
            return Err(Failure::Fatal(RegistryError::AuthRequired {
                registry: ep.host.clone(),
            }));
        };
        let token_err = |message: String| RegistryError::Token {
            registry: ep.host.clone(),
            realm: realm.clone(),
            message,
        };
        let mut url = reqwest::Url::parse(&realm)
            .map_err(|e| Failure::Fatal(token_err(format!("bad realm: {e}"))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::Fatal(token_err(
                "the realm is not an http(s) URL".into(),
            )));
        }
        let http = self.http_for(self.insecure_allowed(ep))?;
        let req = match creds.and_then(|c| c.identity_token.as_deref().map(|t| (c, t))) {
            Some((_, refresh)) => {
                let mut form = reqwest::Url::parse("http://form/")
                    .map_err(|e| Failure::Fatal(token_err(e.to_string())))?;
                {
                    let mut q = form.query_pairs_mut();
                    q.append_pair("grant_type", "refresh_token");
                    q.append_pair("refresh_token", refresh);
                    q.append_pair("client_id", "burrow");
                    if !scope.is_empty() {
                        q.append_pair("scope", scope);
                    }
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                }
                http.post(url)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.query().unwrap_or_default().to_string())
            }
            None => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = &service {
                        q.append_pair("service", s);
                    }
                    // One parameter per scope, as the token spec has it.
                    for s in scope.split_whitespace() {
                        q.append_pair("scope", s);
                    }
                }
                let req = http.get(url);
                match creds {
                    Some(c) => req.basic_auth(&c.username, Some(&c.password)),
                    None => req,
                }
            }
        };
        let method = if creds.and_then(|c| c.identity_token.as_ref()).is_some() {
            Method::POST
        } else {
            Method::GET
        };
        let resp = req
            .send()
            .map_err(|e| self.transport_failure(&ep.host, &method, &e))?;
        let token_host = url_host(resp.url());
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Failure::Fatal(if creds.is_some() {
                RegistryError::InvalidCredentials {
                    registry: ep.host.clone(),
                }
            } else {
                RegistryError::AuthRequired {
                    registry: ep.host.clone(),
                }
            }));
        }
        if !status.is_success() {
            let after = retry_after(&resp);
            let error = token_err(format!("HTTP {status}{}", error_detail(resp)));
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    Failure::Retry { error, after }
                } else {
                    Failure::Fatal(error)
                },
            );
        }
        let mut body = Vec::new();
        resp.take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| Failure::Retry {
                error: if is_timeout(&e) {
                    let what = format!("reading a token from {realm}");
                    Stall::new(&token_host, self.timeout, what).into()
                } else {
                    token_err(format!("reading the response: {e}"))
                },
                after: None,
            })?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| Failure::Fatal(token_err(format!("invalid response: {e}"))))?;
        let token = t
            .token
            .filter(|t| !t.is_empty())
            .or(t.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| Failure::Fatal(token_err("the response has no token".into())))?;
        // Renew a little early so a token does not expire in flight.
        let lifetime = t.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(10) - 5;
        lock(&self.auth_state).tokens.insert(
            (host.to_string(), scope.to_string()),
            (
                token.clone(),
                Instant::now() + Duration::from_secs(lifetime),
            ),
        );
        Ok(token)
    }

    /// One request, choosing the scheme: HTTPS, or for hosts allowed plain
    /// HTTP, HTTPS first and HTTP when TLS fails (as Podman); the choice is
    /// remembered per host. An absolute target (an upload location) is used
    /// as it is, with `auth` only if it points at the same host.
    fn send_raw(
        &self,
        ep: &Endpoint,
        req: &Req<'_>,
        auth: Option<&str>,
    ) -> Result<Response, Failure> {
        let host = api_host(&ep.host);
        let insecure = self.insecure_allowed(ep);
        let http = self.http_for(insecure)?;
        let build = |url: &str, auth: Option<&str>| -> Result<RequestBuilder, Failure> {
            let mut rb = http.request(req.method.clone(), url);
            if let Some(a) = req.accept {
                rb = rb.header(ACCEPT, a);
            }
            if let Some(a) = auth {
                rb = rb.header(AUTHORIZATION, a);
            }
            for (name, value) in &req.headers {
                rb = rb.header(*name, value);
            }
            if let Some(body) = &req.body {
                rb = rb.body(body().map_err(Failure::Fatal)?);
            }
            Ok(rb)
        };
        if req.target.contains("://") {
            let same_host = reqwest::Url::parse(req.target).is_ok_and(|u| url_host(&u) == host);
            return build(req.target, auth.filter(|_| same_host))?
                .send()
                .map_err(|e| self.transport_failure(&ep.host, &req.method, &e));
        }
        let url = |scheme: Scheme| format!("{}://{host}{}", scheme.as_str(), req.target);
        let known = lock(&self.schemes).get(host).copied();
        if let Some(scheme) = known {
            return build(&url(scheme), auth)?
                .send()
                .map_err(|e| self.transport_failure(&ep.host, &req.method, &e));
        }
        match build(&url(Scheme::Https), auth)?.send() {
            Ok(resp) => {
                lock(&self.schemes).insert(host.to_string(), Scheme::Https);
                Ok(resp)
            }
            Err(e) if insecure && e.is_connect() => match build(&url(Scheme::Http), auth)?.send() {
                Ok(resp) => {
                    log::debug!("{host}: HTTPS failed ({}), using HTTP", error_chain(&e));
                    lock(&self.schemes).insert(host.to_string(), Scheme::Http);
                    Ok(resp)
                }
                Err(e2) => Err(self.transport_failure(&ep.host, &req.method, &e2)),
            },
            Err(e) => Err(self.transport_failure(&ep.host, &req.method, &e)),
        }
    }

    fn transport_failure(&self, registry: &str, method: &Method, e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            // Named for the host that stalled (a token realm or a redirect
            // target may be another) and the request it stalled on.
            let (host, path) = match e.url() {
                Some(u) => (url_host(u), u.path().to_string()),
                None => (registry.to_string(), String::new()),
            };
            let what = if e.is_connect() {
                format!("connecting to send {method} {path}")
            } else {
                format!("waiting for the response to {method} {path}")
            };
            return Failure::Retry {
                error: Stall::new(&host, self.timeout, what).into(),
                after: None,
            };
        }
        let message = error_chain(e);
        if is_tls_error(e) {
            return Failure::Fatal(RegistryError::Tls {
                registry: registry.to_string(),
                message,
            });
        }
        let error = RegistryError::Network {
            registry: registry.to_string(),
            message,
        };
        if e.is_builder() || e.is_redirect() {
            Failure::Fatal(error)
        } else {
            Failure::Retry { error, after: None }
        }
    }
}

/// `host[:port]` of `u`, without any user info.
fn url_host(u: &reqwest::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    }
}

fn basic_header(c: &Credentials) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
    )
}

fn header_str(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `: MESSAGE` from a registry's JSON error body, or empty.
fn error_detail(resp: Response) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    let mut body = Vec::new();
    if resp.take(64 << 10).read_to_end(&mut body).is_err() {
        return String::new();
    }
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) => e
            .errors
            .first()
            .and_then(|e| e.message.clone().or(e.code.clone()))
            .map(|m| format!(" ({})", m.replace('\n', " ")))
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The error and its causes on one line: reqwest's own message alone
/// ("error sending request") says nothing useful.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = s.source();
    }
    parts.join(": ").replace('\n', " ")
}

/// Whether `e` or one of its causes is a timeout (reqwest's own, or an
/// `io::Error` of kind `TimedOut`). reqwest hands a body read that timed
/// out back as an `io::Error` wrapping its error, whose `source()` skips the
/// wrapped one, so `get_ref` is followed too.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = cur {
        if s.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
            if let Some(inner) = io.get_ref()
                && is_timeout(inner)
            {
                return true;
            }
        }
        cur = s.source();
    }
    false
}

/// TLS failures (bad certificates, HTTPS to an HTTP port) don't go away on
/// retry. rustls reports them as `io::ErrorKind::InvalidData`, wrapped by
/// hyper-util in another io::Error whose `source()` skips the inner one, so
/// `get_ref` is followed too.
fn is_tls_error(e: &reqwest::Error) -> bool {
    fn io_is_tls(io: &std::io::Error) -> bool {
        io.kind() == std::io::ErrorKind::InvalidData
            || io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>())
                .is_some_and(io_is_tls)
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = cur {
        if s.downcast_ref::<std::io::Error>().is_some_and(io_is_tls) {
            return true;
        }
        cur = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn client_is_shareable() {
        assert_send_sync::<Client>();
        fn assert_send<T: Send>() {}
        assert_send::<BlobReader>();
    }

    #[test]
    fn a_stall_names_host_wait_and_tries() {
        let s = Stall::new(
            "127.0.0.1:5055",
            Duration::from_secs(60),
            "reading layer sha256:abc".into(),
        );
        assert_eq!(
            s.to_string(),
            "no data from 127.0.0.1:5055 for 60 s while reading layer sha256:abc (the registry \
             stalled; to wait longer, set [registry] timeout in config.toml)"
        );
        let s = s.gave_up(3, Duration::from_millis(181_600));
        assert!(
            s.to_string()
                .contains("sha256:abc; gave up after 3 attempts in 182 s (the registry stalled"),
            "{s}"
        );
        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, s);
        assert_eq!(Stall::in_io(&e).unwrap().attempts, 3);
        assert!(is_timeout(&e));
        assert!(!is_timeout(&std::io::Error::other("x")));
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
        assert_eq!(seconds(Duration::from_secs(2)), "2");
    }

    #[test]
    fn hub_api_host_and_scope() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
        assert_eq!(
            scope("library/alpine", "pull"),
            "repository:library/alpine:pull"
        );
    }

    #[test]
    fn repo_digest_prefers_index() {
        let m = FetchedManifest {
            bytes: b"m".to_vec(),
            media_type: manifest::OCI_MANIFEST.into(),
            digest: Digest::of(b"m"),
        };
        let config: oci_spec::image::ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let mut img = ResolvedImage {
            reference: Reference::parse("x").unwrap(),
            index_digest: None,
            manifest: m,
            layers: vec![],
            config_digest: Digest::of(b"c"),
            config_bytes: vec![],
            config,
        };
        assert_eq!(img.repo_digest(), Digest::of(b"m"));
        img.index_digest = Some(Digest::of(b"i"));
        assert_eq!(img.repo_digest(), Digest::of(b"i"));
    }

    #[test]
    fn docker_config_deserializes() {
        // A Docker schema 2 config carries extra fields OCI does not define.
        let j = r#"{"architecture":"amd64","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"ArgsEscaped":true},
            "container":"abc","container_config":{"Hostname":"x"},"created":"2024-01-01T00:00:00Z",
            "docker_version":"20.10","history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD x"}],
            "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
        let c: oci_spec::image::ImageConfiguration = serde_json::from_str(j).unwrap();
        assert_eq!(c.rootfs().diff_ids().len(), 1);
        assert_eq!(
            c.config().as_ref().unwrap().cmd().as_ref().unwrap(),
            &vec!["sh".to_string()]
        );
    }

    #[test]
    fn challenge_with_insufficient_scope() {
        let c = challenge::parse(
            r#"Bearer realm="http://127.0.0.1:1/token",service="test",error="insufficient_scope""#,
        );
        assert_eq!(c[0].param("service"), Some("test"));
    }
}
