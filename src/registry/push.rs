//! The upload half of the distribution API: blob existence checks,
//! cross-repository mounts, monolithic and chunked uploads, manifest PUT.
//!
//! Bodies are read from the store's files into memory one chunk at a time:
//! the blocking client sends bodies from its own thread, so a body must own
//! its bytes, and a chunk in memory can be sent again when a request is
//! retried (scheme fallback, a token that expired).

use std::io::Read;
use std::path::Path;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::{Client, Failure, RegistryError, Req, header_str, scope};
use crate::config::registries::Endpoint;
use crate::digest::Digest;
use crate::reference::Reference;

/// Blobs up to this size go up in one PUT; larger ones in PATCH chunks, so
/// no more than a chunk is held in memory per upload.
pub const MONOLITHIC_LIMIT: u64 = 32 << 20;
const CHUNK: u64 = 16 << 20;

/// A blob in local storage to push.
#[derive(Debug, Clone, Copy)]
pub struct LocalBlob<'a> {
    pub digest: &'a Digest,
    pub path: &'a Path,
    pub size: u64,
}

/// How a blob got to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The repository had it already.
    Exists,
    /// Mounted from another repository of the same registry, not uploaded.
    Mounted {
        from: String,
    },
    Uploaded,
}

/// Where a push goes: the destination's primary location (mirrors only
/// serve pulls), with the auth scope every request of the push uses.
pub struct PushTarget<'c> {
    client: &'c Client,
    ep: Endpoint,
    reference: Reference,
    /// Repositories of the same registry that may hold the blobs already.
    mount_from: Vec<String>,
    /// Push and pull on the destination, pull on the mount sources: one
    /// token serves the whole push.
    scope: String,
}

impl Client {
    /// Prepare a push to `r`. `mount_from` names (`host/repo`) where the
    /// image came from; those on the destination's registry are tried as
    /// cross-repository mount sources before uploading a blob.
    pub fn push_target(
        &self,
        r: &Reference,
        mount_from: &[Reference],
    ) -> Result<PushTarget<'_>, RegistryError> {
        let ep = self
            .registries
            .endpoints(r)?
            .pop()
            .ok_or_else(|| RegistryError::NotFound {
                reference: r.to_string(),
            })?;
        let mut sources: Vec<String> = Vec::new();
        for m in mount_from {
            if m.registry == ep.host
                && m.repository != ep.repository
                && !sources.contains(&m.repository)
            {
                sources.push(m.repository.clone());
            }
        }
        let mut scopes = vec![scope(&ep.repository, "pull,push")];
        scopes.extend(sources.iter().map(|s| scope(s, "pull")));
        Ok(PushTarget {
            client: self,
            ep,
            reference: r.clone(),
            mount_from: sources,
            scope: scopes.join(" "),
        })
    }
}

impl PushTarget<'_> {
    /// The registry the push goes to (`host[:port]`).
    pub fn registry(&self) -> &str {
        &self.ep.host
    }

    /// Make sure the repository has `blob`: present already, mounted, or
    /// uploaded. `progress` gets the bytes sent so far.
    pub fn push_blob(
        &self,
        blob: LocalBlob<'_>,
        progress: &dyn Fn(u64),
    ) -> Result<BlobOutcome, RegistryError> {
        self.client.retrying(&self.ep, || {
            if self.blob_exists(blob.digest)? {
                return Ok(BlobOutcome::Exists);
            }
            let location = match self.start_upload(blob.digest)? {
                Started::Mounted(from) => return Ok(BlobOutcome::Mounted { from }),
                Started::Upload(location) => location,
            };
            self.upload(&location, blob, progress)?;
            Ok(BlobOutcome::Uploaded)
        })
    }

    /// PUT the manifest under the destination's tag (or digest). Returns its
    /// digest, checked against the one the registry computed.
    pub fn push_manifest(&self, bytes: &[u8], media_type: &str) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let path = format!(
            "/v2/{}/manifests/{}",
            self.ep.repository,
            self.reference.manifest_ref()
        );
        self.client.retrying(&self.ep, || {
            let req = Req::new(Method::PUT, &path)
                .header(CONTENT_TYPE.as_str(), media_type)
                .body(|| Ok(bytes.to_vec().into()));
            let resp = self.expect(req, StatusCode::CREATED, || {
                format!("manifest {}", self.reference)
            })?;
            if let Some(Ok(theirs)) =
                header_str(&resp, "docker-content-digest").map(|d| d.parse::<Digest>())
                && theirs != digest
            {
                return Err(Failure::Fatal(RegistryError::DigestMismatch {
                    what: format!("manifest pushed to {}", self.reference),
                    expected: digest.clone(),
                    actual: theirs,
                }));
            }
            Ok(())
        })?;
        Ok(digest)
    }

    fn blob_exists(&self, digest: &Digest) -> Result<bool, Failure> {
        let path = format!("/v2/{}/blobs/{digest}", self.ep.repository);
        let resp = self
            .client
            .send(&self.ep, &Req::new(Method::HEAD, &path), &self.scope)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        self.client.check_status(
            &self.ep,
            resp,
            || format!("blob {digest} in {}", self.ep.repository),
            |detail| self.http_error(StatusCode::NOT_FOUND, "blob", detail),
        )?;
        Ok(true)
    }

    /// Mount the blob from a source repository, or open an upload session.
    fn start_upload(&self, digest: &Digest) -> Result<Started, Failure> {
        let base = format!("/v2/{}/blobs/uploads/", self.ep.repository);
        let mut paths: Vec<(Option<&str>, String)> = self
            .mount_from
            .iter()
            .map(|from| {
                (
                    Some(from.as_str()),
                    format!("{base}?mount={digest}&from={from}"),
                )
            })
            .collect();
        paths.push((None, base.clone()));
        let last = paths.len() - 1;
        for (i, (from, path)) in paths.iter().enumerate() {
            let req = Req::new(Method::POST, path).body(|| Ok(Vec::new().into()));
            let resp = self.client.send(&self.ep, &req, &self.scope)?;
            if let Some(from) = from
                && resp.status() == StatusCode::CREATED
            {
                log::debug!("{digest}: mounted from {from}");
                return Ok(Started::Mounted(from.to_string()));
            }
            let resp = self.client.check_status(
                &self.ep,
                resp,
                || format!("upload to {}", self.ep.repository),
                |detail| self.http_error(StatusCode::NOT_FOUND, "upload", detail),
            )?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(self.protocol(format!(
                    "starting an upload answered HTTP {}, not 202",
                    resp.status()
                )));
            }
            let location = self.location(&resp)?;
            if i == last {
                return Ok(Started::Upload(location));
            }
            // The mount failed (the source lacks the blob, or we may not
            // read it) and the registry opened an upload session instead;
            // another source may still have it, so this session goes.
            log::debug!("{digest}: no mount from {from:?}");
            let cancel = Req::new(Method::DELETE, &location);
            let _ = self.client.send(&self.ep, &cancel, &self.scope);
        }
        Err(self.protocol("no upload session".into()))
    }

    fn upload(
        &self,
        location: &str,
        blob: LocalBlob<'_>,
        progress: &dyn Fn(u64),
    ) -> Result<(), Failure> {
        let local = |source: std::io::Error| {
            Failure::Fatal(RegistryError::Local {
                what: format!("blob {} ({})", blob.digest, blob.path.display()),
                source,
            })
        };
        let file = std::fs::File::open(blob.path).map_err(local)?;
        let mut reader = file.take(blob.size);
        let mut location = location.to_string();
        let mut sent = 0u64;
        progress(0);
        if blob.size > MONOLITHIC_LIMIT {
            let mut chunk = Vec::with_capacity(CHUNK as usize);
            while sent < blob.size {
                chunk.clear();
                (&mut reader)
                    .take(CHUNK)
                    .read_to_end(&mut chunk)
                    .map_err(local)?;
                if chunk.is_empty() {
                    break;
                }
                let end = sent + chunk.len() as u64 - 1;
                let req = Req::new(Method::PATCH, &location)
                    .header(CONTENT_TYPE.as_str(), "application/octet-stream")
                    .header("content-range", format!("{sent}-{end}"))
                    .body(|| Ok(chunk.clone().into()));
                let resp = self.expect(req, StatusCode::ACCEPTED, || {
                    format!("chunk {sent}-{end} of blob {}", blob.digest)
                })?;
                location = self.location(&resp)?;
                sent = end + 1;
                progress(sent);
            }
        }
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).map_err(local)?;
        if sent + rest.len() as u64 != blob.size {
            return Err(local(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the file has {} bytes, the image says {}",
                    sent + rest.len() as u64,
                    blob.size
                ),
            )));
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", blob.digest);
        let req = Req::new(Method::PUT, &put)
            .header(CONTENT_TYPE.as_str(), "application/octet-stream")
            .body(|| Ok(rest.clone().into()));
        self.expect(req, StatusCode::CREATED, || format!("blob {}", blob.digest))?;
        progress(blob.size);
        Ok(())
    }

    /// Send `req`; anything but `wanted` is an error.
    fn expect(
        &self,
        req: Req<'_>,
        wanted: StatusCode,
        what: impl Fn() -> String,
    ) -> Result<reqwest::blocking::Response, Failure> {
        let resp = self.client.send(&self.ep, &req, &self.scope)?;
        let resp = self.client.check_status(&self.ep, resp, &what, |detail| {
            self.http_error(StatusCode::NOT_FOUND, &what(), detail)
        })?;
        if resp.status() != wanted {
            return Err(self.protocol(format!(
                "{} answered HTTP {}, not {wanted}",
                what(),
                resp.status()
            )));
        }
        Ok(resp)
    }

    /// The upload location a response names, relative to the API host or
    /// absolute.
    fn location(&self, resp: &reqwest::blocking::Response) -> Result<String, Failure> {
        header_str(resp, reqwest::header::LOCATION.as_str())
            .filter(|l| !l.is_empty())
            .ok_or_else(|| self.protocol("the upload response has no Location".into()))
    }

    fn http_error(&self, status: StatusCode, what: &str, detail: &str) -> RegistryError {
        RegistryError::Http {
            registry: self.ep.host.clone(),
            what: format!("{what} in {}", self.ep.repository),
            status: status.as_u16(),
            detail: detail.to_string(),
        }
    }

    fn protocol(&self, message: String) -> Failure {
        Failure::Fatal(RegistryError::Protocol {
            registry: self.ep.host.clone(),
            message,
        })
    }
}

enum Started {
    Mounted(String),
    Upload(String),
}
