//! A throwaway CNCF distribution registry (Debian's `docker-registry`) on
//! loopback, plus a raw HTTP push client that owes nothing to burrow.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use tempfile::TempDir;

use super::image::{Image, write_oci_layout};
use super::{free_port, require_tool, sha256_digest};

pub struct Registry {
    pub port: u16,
    /// Config, log and storage (under `storage/`).
    pub dir: TempDir,
    child: Child,
    creds: Option<(String, String)>,
    client: Client,
}

impl Registry {
    /// An open registry (no auth).
    pub fn start() -> Registry {
        Self::launch(None)
    }

    /// A registry requiring HTTP basic auth against a bcrypt htpasswd file.
    pub fn start_with_htpasswd(user: &str, pass: &str) -> Registry {
        Self::launch(Some((user.to_string(), pass.to_string())))
    }

    fn launch(creds: Option<(String, String)>) -> Registry {
        let bin = require_tool("docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("registry-")
            .tempdir()
            .expect("registry tempdir");
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).expect("registry storage dir");
        let mut auth = String::new();
        if let Some((user, pass)) = &creds {
            let out = Command::new(require_tool("htpasswd"))
                .args(["-Bbn", user, pass])
                .stdin(Stdio::null())
                .output()
                .expect("run htpasswd");
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: burrow-test\n    path: {}\n",
                file.display()
            );
        }
        let client = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("http client");
        let mut last_log = String::new();
        // The port is free when picked but another process may take it
        // before the registry binds: retry with a new one.
        for _ in 0..8 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: burrow-test-secret\n{auth}",
                storage.display()
            );
            let cfg = dir.path().join("config.yml");
            std::fs::write(&cfg, config).expect("write registry config");
            let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .env_remove("REGISTRY_HTTP_ADDR")
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/v2/")).send() {
                    let s = r.status().as_u16();
                    if s == 200 || s == 401 {
                        return Registry {
                            port,
                            dir,
                            child,
                            creds,
                            client,
                        };
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        }
        panic!("docker-registry did not come up; last log:\n{last_log}");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.host(), path)
    }

    /// `127.0.0.1:PORT/REPO:TAG`, the reference burrow is given.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.host())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The registry's own file holding blob `digest`, for corrupting it.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn authed(&self, r: RequestBuilder) -> RequestBuilder {
        match &self.creds {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    fn send(&self, r: RequestBuilder, what: &str) -> Response {
        self.authed(r)
            .send()
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Uploads a blob monolithically (POST then PUT ?digest=), skipping it
    /// if already present. Returns its digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let head = self.send(
            self.client
                .head(self.url(&format!("/v2/{repo}/blobs/{digest}"))),
            "HEAD blob",
        );
        if head.status().is_success() {
            return digest;
        }
        let r = self.send(
            self.client
                .post(self.url(&format!("/v2/{repo}/blobs/uploads/"))),
            "POST upload",
        );
        assert_eq!(
            r.status().as_u16(),
            202,
            "start upload: {}",
            r.text().unwrap_or_default()
        );
        let loc = r
            .headers()
            .get("location")
            .expect("upload Location")
            .to_str()
            .expect("ascii Location")
            .to_string();
        let loc = if loc.starts_with('/') {
            self.url(&loc)
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = self
            .client
            .put(format!("{loc}{sep}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(data.to_vec());
        let r = self.send(put, "PUT blob");
        assert_eq!(
            r.status().as_u16(),
            201,
            "finish upload of {digest}: {}",
            r.text().unwrap_or_default()
        );
        digest
    }

    /// PUT a manifest under `reference` (tag or digest). Returns the digest
    /// the registry computed, asserted equal to ours.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> String {
        let put = self
            .client
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("Content-Type", media_type)
            .body(bytes.to_vec());
        let r = self.send(put, "PUT manifest");
        let status = r.status().as_u16();
        let got = r
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            status,
            201,
            "PUT manifest {repo}:{reference}: {}",
            r.text().unwrap_or_default()
        );
        let digest = sha256_digest(bytes);
        if let Some(got) = got {
            assert_eq!(got, digest, "registry digest of manifest differs");
        }
        digest
    }

    /// Pushes config, layers and manifest; tags it `tag`. Returns the
    /// manifest digest.
    pub fn push_image(&self, repo: &str, tag: &str, image: &Image) -> String {
        self.push_image_blobs(repo, image);
        self.push_manifest(repo, tag, &image.manifest, &image.media_type)
    }

    fn push_image_blobs(&self, repo: &str, image: &Image) {
        for l in &image.layers {
            self.push_blob(repo, &l.blob);
        }
        self.push_blob(repo, &image.config);
    }

    /// Pushes every image by digest, then the index (from `common::index`)
    /// under `tag`. Returns the index digest.
    pub fn push_index(
        &self,
        repo: &str,
        tag: &str,
        images: &[&Image],
        index_bytes: &[u8],
    ) -> String {
        for img in images {
            self.push_image_blobs(repo, img);
            self.push_manifest(repo, &img.manifest_digest, &img.manifest, &img.media_type);
        }
        let v: serde_json::Value = serde_json::from_slice(index_bytes).expect("index json");
        let mt = v["mediaType"]
            .as_str()
            .expect("index mediaType")
            .to_string();
        self.push_manifest(repo, tag, index_bytes, &mt)
    }

    /// Pushes through `skopeo copy` from an OCI layout, for interop tests.
    pub fn push_with_skopeo(&self, repo: &str, tag: &str, image: &Image) {
        let layout = tempfile::tempdir().expect("layout tempdir");
        write_oci_layout(layout.path(), image, tag);
        let mut cmd = Command::new(require_tool("skopeo"));
        cmd.args(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.creds {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        cmd.arg(format!("oci:{}:{tag}", layout.path().display()));
        cmd.arg(format!("docker://{}", self.reference(repo, tag)));
        let out = cmd.stdin(Stdio::null()).output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// GET a manifest: (status, Content-Type, Docker-Content-Digest, body).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> (u16, String, String, Vec<u8>) {
        let accept = [
            super::image::OCI_MANIFEST,
            super::image::OCI_INDEX,
            super::image::DOCKER_MANIFEST,
            super::image::DOCKER_LIST,
        ]
        .join(", ");
        let r = self.send(
            self.client
                .get(self.url(&format!("/v2/{repo}/manifests/{reference}")))
                .header("Accept", accept),
            "GET manifest",
        );
        let h = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (status, ct, dg) = (
            r.status().as_u16(),
            h("content-type"),
            h("docker-content-digest"),
        );
        (status, ct, dg, r.bytes().expect("manifest body").to_vec())
    }

    /// DELETE a manifest by digest (deletion is enabled in our config).
    pub fn delete_manifest(&self, repo: &str, digest: &str) -> u16 {
        let r = self.send(
            self.client
                .delete(self.url(&format!("/v2/{repo}/manifests/{digest}"))),
            "DELETE manifest",
        );
        r.status().as_u16()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
