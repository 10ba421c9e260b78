//! The registry client against a real CNCF distribution registry
//! (`docker-registry` 2.8) on 127.0.0.1, fronted by a token proxy for the
//! bearer-auth, corruption, retry and redirect cases.

#[path = "common/token_server.rs"]
mod token_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use burrow::config::auth::{AuthStore, Credentials};
use burrow::config::registries::RegistriesConf;
use burrow::digest::Digest;
use burrow::reference::Reference;
use burrow::registry::{Client, ClientOptions, Platform, RegistryError, ResolvedImage};
use token_server::TokenProxy;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Start a registry; with `htpasswd_user`, behind basic auth.
    fn start(htpasswd_user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
             storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
             http: {{addr: 127.0.0.1:{port}, secret: burrowtest}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = htpasswd_user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success());
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
                file.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = reqwest::blocking::get(format!("http://127.0.0.1:{port}/v2/"))
                && (resp.status() == 200 || resp.status() == 401)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "registry on port {port} did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Pushes with raw HTTP, the way any client does.
struct Pusher {
    base: String,
    http: reqwest::blocking::Client,
    creds: Option<(String, String)>,
}

impl Pusher {
    fn new(reg: &Registry, creds: Option<(&str, &str)>) -> Pusher {
        Pusher {
            base: format!("http://{}", reg.host()),
            http: reqwest::blocking::Client::new(),
            creds: creds.map(|(u, p)| (u.into(), p.into())),
        }
    }

    fn auth(&self, r: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.creds {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    fn blob(&self, name: &str, data: &[u8]) -> Digest {
        let digest = Digest::of(data);
        let resp = self
            .auth(
                self.http
                    .post(format!("{}/v2/{name}/blobs/uploads/", self.base)),
            )
            .send()
            .unwrap();
        assert_eq!(resp.status(), 202, "start upload");
        let loc = resp.headers()["location"].to_str().unwrap().to_string();
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.base)
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let resp = self
            .auth(self.http.put(format!("{loc}{sep}digest={digest}")))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "finish upload: {}",
            resp.text().unwrap_or_default()
        );
        digest
    }

    fn manifest(&self, name: &str, reference: &str, media_type: &str, body: &[u8]) -> Digest {
        let resp = self
            .auth(
                self.http
                    .put(format!("{}/v2/{name}/manifests/{reference}", self.base)),
            )
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "put manifest: {}",
            resp.text().unwrap_or_default()
        );
        Digest::of(body)
    }
}

fn layer(files: &[(&str, &[u8])]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

struct Image {
    manifest_digest: Digest,
    config_digest: Digest,
    layers: Vec<(Digest, Vec<u8>)>,
}

/// Push an image with the given layers; `docker` selects schema 2 media types.
fn push_image(
    p: &Pusher,
    name: &str,
    tag: Option<&str>,
    arch: &str,
    variant: Option<&str>,
    docker: bool,
    files: &[&[(&str, &[u8])]],
) -> Image {
    let (layer_mt, config_mt, manifest_mt) = if docker {
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.container.image.v1+json",
            DOCKER_MANIFEST,
        )
    } else {
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.config.v1+json",
            OCI_MANIFEST,
        )
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for f in files {
        let (gz, diff_id) = layer(f);
        let d = p.blob(name, &gz);
        layers.push((d, gz));
        diff_ids.push(diff_id.to_string());
    }
    let mut config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    if let Some(v) = variant {
        config["variant"] = v.into();
    }
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = p.blob(name, &config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_mt,
        "config": {"mediaType": config_mt, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers.iter().map(|(d, b)| serde_json::json!({"mediaType": layer_mt, "digest": d.to_string(), "size": b.len()})).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let reference = tag
        .map(str::to_string)
        .unwrap_or_else(|| Digest::of(&manifest).to_string());
    let manifest_digest = p.manifest(name, &reference, manifest_mt, &manifest);
    Image {
        manifest_digest,
        config_digest,
        layers,
    }
}

struct Fixture {
    app: Image,
    amd64: Image,
    arm64: Image,
    list_digest: Digest,
}

/// `test/app:v1`: OCI, two layers. `test/multi:latest`: a Docker manifest
/// list of an amd64 and an arm64/v8 image.
fn populate(p: &Pusher) -> Fixture {
    let app = push_image(
        p,
        "test/app",
        Some("v1"),
        "amd64",
        None,
        false,
        &[
            &[("etc/hello", b"hello\n")],
            &[("etc/world", b"world\n"), ("bin/tool", b"#!/bin/sh\n")],
        ],
    );
    let amd64 = push_image(
        p,
        "test/multi",
        None,
        "amd64",
        None,
        true,
        &[&[("arch", b"amd64\n")]],
    );
    let arm64 = push_image(
        p,
        "test/multi",
        None,
        "arm64",
        Some("v8"),
        true,
        &[&[("arch", b"arm64\n")]],
    );
    let entry = |img: &Image, arch: &str, variant: Option<&str>, size: usize| {
        let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        serde_json::json!({"mediaType": DOCKER_MANIFEST, "digest": img.manifest_digest.to_string(), "size": size, "platform": platform})
    };
    let size_of = |name: &str, d: &Digest| {
        reqwest::blocking::Client::new()
            .get(format!("{}/v2/{name}/manifests/{d}", p.base))
            .header("accept", DOCKER_MANIFEST)
            .basic_auth(
                p.creds.as_ref().map_or("", |c| &c.0),
                p.creds.as_ref().map(|c| &c.1),
            )
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .len()
    };
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            entry(&amd64, "amd64", None, size_of("test/multi", &amd64.manifest_digest)),
            entry(&arm64, "arm64", Some("v8"), size_of("test/multi", &arm64.manifest_digest)),
        ],
    });
    let list_digest = p.manifest(
        "test/multi",
        "latest",
        DOCKER_LIST,
        &serde_json::to_vec(&list).unwrap(),
    );
    Fixture {
        app,
        amd64,
        arm64,
        list_digest,
    }
}

fn client(opts: ClientOptions) -> Client {
    Client::new(opts).unwrap()
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

fn read_blob(c: &Client, reference: &Reference, d: &Digest) -> Vec<u8> {
    let mut reader = c.open_blob(reference, d).unwrap();
    let mut v = Vec::new();
    reader.read_to_end(&mut v).unwrap();
    if let Some(n) = reader.size() {
        assert_eq!(n, v.len() as u64);
    }
    v
}

fn check_app(img: &ResolvedImage, fx: &Fixture) {
    assert_eq!(img.manifest.digest, fx.app.manifest_digest);
    assert_eq!(img.manifest.media_type, OCI_MANIFEST);
    assert_eq!(img.index_digest, None);
    assert_eq!(img.repo_digest(), fx.app.manifest_digest);
    assert_eq!(img.config_digest, fx.app.config_digest);
    assert_eq!(Digest::of(&img.config_bytes), fx.app.config_digest);
    assert_eq!(img.layers.len(), 2);
    for (l, (d, b)) in img.layers.iter().zip(&fx.app.layers) {
        assert_eq!(&l.digest, d);
        assert_eq!(l.size, b.len() as u64);
        assert_eq!(l.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
    }
    assert_eq!(img.config.rootfs().diff_ids().len(), 2);
}

#[test]
fn pull_by_tag_digest_and_platform() {
    let reg = Registry::start(None);
    let fx = populate(&Pusher::new(&reg, None));
    let c = Arc::new(client(ClientOptions::default()));
    let host = reg.host();

    // By tag; a plain-HTTP loopback registry is found by falling back from HTTPS.
    let app = r(&format!("{host}/test/app:v1"));
    let img = c.resolve(&app, &amd64()).unwrap();
    check_app(&img, &fx);

    // Layers stream from several threads sharing one client.
    let threads: Vec<_> = fx
        .app
        .layers
        .iter()
        .map(|(d, b)| {
            let (c, app, d, b) = (c.clone(), app.clone(), d.clone(), b.clone());
            std::thread::spawn(move || assert_eq!(read_blob(&c, &app, &d), b))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // By digest, and by tag+digest.
    let pinned = r(&format!("{host}/test/app@{}", fx.app.manifest_digest));
    check_app(&c.resolve(&pinned, &amd64()).unwrap(), &fx);
    let both = r(&format!("{host}/test/app:v1@{}", fx.app.manifest_digest));
    assert_eq!(
        c.fetch_manifest(&both).unwrap().digest,
        fx.app.manifest_digest
    );

    // Platform selection in a Docker manifest list.
    let multi = r(&format!("{host}/test/multi"));
    let img = c.resolve(&multi, &amd64()).unwrap();
    assert_eq!(img.manifest.digest, fx.amd64.manifest_digest);
    assert_eq!(img.manifest.media_type, DOCKER_MANIFEST);
    assert_eq!(img.index_digest.as_ref(), Some(&fx.list_digest));
    assert_eq!(img.repo_digest(), fx.list_digest);
    assert_eq!(img.config.architecture().to_string(), "amd64");
    assert_eq!(
        img.layers[0].media_type,
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );

    let img = c
        .resolve(&multi, &Platform::parse("linux/arm64/v8").unwrap())
        .unwrap();
    assert_eq!(img.manifest.digest, fx.arm64.manifest_digest);
    assert_eq!(img.config_digest, fx.arm64.config_digest);
    assert_eq!(img.config.architecture().to_string(), "arm64");
    assert_eq!(
        read_blob(&c, &multi, &fx.arm64.layers[0].0),
        fx.arm64.layers[0].1
    );
    let img = c
        .resolve(
            &multi.with_digest(fx.list_digest.clone()),
            &Platform::parse("linux/arm64").unwrap(),
        )
        .unwrap();
    assert_eq!(img.manifest.digest, fx.arm64.manifest_digest);

    let list = c.fetch_manifest(&multi).unwrap();
    assert_eq!(list.media_type, DOCKER_LIST);
    assert_eq!(list.digest, fx.list_digest);

    // Errors.
    let e = c
        .resolve(&multi, &Platform::parse("linux/s390x").unwrap())
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::NoMatchingPlatform { .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/amd64, linux/arm64/v8"),
        "{msg}"
    );

    let e = c
        .resolve(&r(&format!("{host}/test/app:nope")), &amd64())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("image not found: {host}/test/app:nope")
    );
    let e = c
        .resolve(&r(&format!("{host}/test/missing")), &amd64())
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
    let e = c
        .fetch_manifest(&r(&format!("{host}/test/app@{}", Digest::of(b"other"))))
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
    let e = c.open_blob(&app, &Digest::of(b"no such blob")).unwrap_err();
    assert!(matches!(e, RegistryError::BlobNotFound { .. }), "{e:?}");

    // --tls-verify=true never falls back to HTTP.
    let strict = client(ClientOptions {
        tls_verify: Some(true),
        ..Default::default()
    });
    let e = strict.fetch_manifest(&app).unwrap_err();
    assert!(matches!(e, RegistryError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("--tls-verify=false"), "{e}");
}

#[test]
fn mirrors_and_blocked_registries() {
    let reg = Registry::start(None);
    let fx = populate(&Pusher::new(&reg, None));
    let conf = format!(
        "[[registry]]\nprefix = \"registry.invalid/mirrored\"\nlocation = \"registry.invalid/mirrored\"\n\
         [[registry.mirror]]\nlocation = \"{host}/test\"\n\n\
         [[registry]]\nlocation = \"{host}/test/app\"\nblocked = true\n",
        host = reg.host()
    );
    let registries = RegistriesConf::parse(&conf, Path::new("/etc/test-registries.conf")).unwrap();
    let c = client(ClientOptions {
        registries,
        ..Default::default()
    });
    let via_mirror = r("registry.invalid/mirrored/app:v1");
    let img = c.resolve(&via_mirror, &amd64()).unwrap();
    check_app(&img, &fx);
    assert_eq!(
        read_blob(&c, &via_mirror, &fx.app.layers[1].0),
        fx.app.layers[1].1
    );

    let e = c
        .resolve(&r(&format!("{}/test/app:v1", reg.host())), &amd64())
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("blocked") && msg.contains("/etc/test-registries.conf"),
        "{msg}"
    );
}

#[test]
fn basic_auth() {
    let reg = Registry::start(Some(("alice", "s3cret")));
    let fx = populate(&Pusher::new(&reg, Some(("alice", "s3cret"))));
    let host = reg.host();
    let app = r(&format!("{host}/test/app:v1"));

    let c = client(ClientOptions {
        credentials: Some(Credentials::new("alice", "s3cret")),
        ..Default::default()
    });
    check_app(&c.resolve(&app, &amd64()).unwrap(), &fx);
    assert_eq!(read_blob(&c, &app, &fx.app.layers[0].0), fx.app.layers[0].1);

    // From an auth file.
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("auth.json");
    AuthStore::store(
        &authfile,
        &format!("{host}/test"),
        &Credentials::new("alice", "s3cret"),
    )
    .unwrap();
    let c = client(ClientOptions {
        auth: AuthStore::from_file(&authfile).unwrap(),
        ..Default::default()
    });
    check_app(&c.resolve(&app, &amd64()).unwrap(), &fx);

    let anon = client(ClientOptions::default());
    let e = anon.resolve(&app, &amd64()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("authentication required for {host}: run `burrow login {host}`")
    );

    let wrong = client(ClientOptions {
        credentials: Some(Credentials::new("alice", "nope")),
        ..Default::default()
    });
    let e = wrong.resolve(&app, &amd64()).unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidCredentials { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("invalid username/password"), "{e}");
}

fn proxied(creds: Option<(&str, &str)>) -> (Registry, Fixture, TokenProxy) {
    let reg = Registry::start(None);
    let fx = populate(&Pusher::new(&reg, None));
    let proxy = TokenProxy::start(reg.addr(), creds);
    (reg, fx, proxy)
}

#[test]
fn bearer_token_flow() {
    let (_reg, fx, proxy) = proxied(Some(("bob", "pw")));
    let host = proxy.host();
    let app = r(&format!("{host}/test/app:v1"));

    let c = client(ClientOptions {
        credentials: Some(Credentials::new("bob", "pw")),
        ..Default::default()
    });
    check_app(&c.resolve(&app, &amd64()).unwrap(), &fx);
    for (d, b) in &fx.app.layers {
        assert_eq!(&read_blob(&c, &app, d), b);
    }
    // One token serves the whole pull of a repository.
    assert_eq!(proxy.state.token_requests.load(Ordering::SeqCst), 1);
    let multi = r(&format!("{host}/test/multi"));
    c.resolve(&multi, &amd64()).unwrap();
    assert_eq!(proxy.state.token_requests.load(Ordering::SeqCst), 2);

    // `access_token` works as well as `token`.
    proxy.state.use_access_token.store(true, Ordering::SeqCst);
    let c2 = client(ClientOptions {
        credentials: Some(Credentials::new("bob", "pw")),
        ..Default::default()
    });
    check_app(&c2.resolve(&app, &amd64()).unwrap(), &fx);

    let anon = client(ClientOptions::default());
    let e = anon.resolve(&app, &amd64()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("authentication required for {host}: run `burrow login {host}`")
    );
    let wrong = client(ClientOptions {
        credentials: Some(Credentials::new("bob", "bad")),
        ..Default::default()
    });
    let e = wrong.resolve(&app, &amd64()).unwrap_err();
    assert!(
        matches!(e, RegistryError::InvalidCredentials { .. }),
        "{e:?}"
    );
}

#[test]
fn anonymous_tokens_and_redirects_without_credentials_leak() {
    let (_reg, fx, proxy) = proxied(None);
    let app = r(&format!("{}/test/app:v1", proxy.host()));
    let c = client(ClientOptions::default());
    check_app(&c.resolve(&app, &amd64()).unwrap(), &fx);

    proxy.state.redirect_blobs.store(true, Ordering::SeqCst);
    for (d, b) in &fx.app.layers {
        assert_eq!(&read_blob(&c, &app, d), b);
    }
    assert_eq!(proxy.state.redirected_requests.load(Ordering::SeqCst), 2);
    // The redirect goes to another port: the bearer token must not follow.
    assert_eq!(proxy.state.redirected_with_auth.load(Ordering::SeqCst), 0);
}

#[test]
fn corrupted_manifests_are_rejected() {
    let (_reg, fx, proxy) = proxied(None);
    proxy.state.corrupt_manifests.store(true, Ordering::SeqCst);
    let c = client(ClientOptions::default());

    // By tag: checked against Docker-Content-Digest.
    let e = c
        .resolve(&r(&format!("{}/test/app:v1", proxy.host())), &amd64())
        .unwrap_err();
    assert!(matches!(e, RegistryError::DigestMismatch { .. }), "{e:?}");
    // By digest: checked against the reference.
    let pinned = r(&format!(
        "{}/test/app@{}",
        proxy.host(),
        fx.app.manifest_digest
    ));
    let e = c.fetch_manifest(&pinned).unwrap_err();
    match &e {
        RegistryError::DigestMismatch { expected, .. } => {
            assert_eq!(expected, &fx.app.manifest_digest)
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().starts_with("digest mismatch for manifest of"),
        "{e}"
    );

    proxy.state.corrupt_manifests.store(false, Ordering::SeqCst);
    check_app(&c.resolve(&pinned, &amd64()).unwrap(), &fx);
}

#[test]
fn server_errors_are_retried() {
    let (_reg, fx, proxy) = proxied(None);
    let c = client(ClientOptions::default());
    let app = r(&format!("{}/test/app:v1", proxy.host()));

    proxy.state.inject_503.store(2, Ordering::SeqCst);
    check_app(&c.resolve(&app, &amd64()).unwrap(), &fx);
    let log = proxy.state.log.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|l| l.ends_with("503")).count(),
        2,
        "{log:?}"
    );

    proxy.state.inject_503.store(1, Ordering::SeqCst);
    assert_eq!(read_blob(&c, &app, &fx.app.layers[0].0), fx.app.layers[0].1);

    // Retry-After is honoured instead of the backoff.
    *proxy.state.retry_after.lock().unwrap() = Some("1".into());
    proxy.state.inject_503.store(1, Ordering::SeqCst);
    let start = Instant::now();
    c.fetch_manifest(&app).unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    *proxy.state.retry_after.lock().unwrap() = None;

    // A registry that stays down gives up after a few attempts.
    proxy.state.inject_503.store(100, Ordering::SeqCst);
    let start = Instant::now();
    let e = c.fetch_manifest(&app).unwrap_err();
    assert!(
        matches!(e, RegistryError::Http { status: 503, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("try later"), "{e}");
    assert_eq!(proxy.state.inject_503.load(Ordering::SeqCst), 96);
    assert!(start.elapsed() >= Duration::from_millis(200 + 400 + 800));
}

#[test]
fn unreachable_registry_is_a_clear_error() {
    // Nothing listens on this port once the listener is dropped.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(ClientOptions::default());
    let e = c
        .fetch_manifest(&r(&format!("127.0.0.1:{port}/x/y:1")))
        .unwrap_err();
    assert!(matches!(e, RegistryError::Network { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot reach registry 127.0.0.1:{port}")),
        "{e}"
    );
}
