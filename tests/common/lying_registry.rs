//! A registry that lies, for tests: a tiny HTTP/1.1 server on 127.0.0.1
//! serving one image (its manifest under any tag or its digest, its config
//! and layer blobs) honestly, except for the one `Lie` it was started
//! with. It needs nothing but the standard library: one thread per
//! connection, one response per connection (`Connection: close`), and TLS
//! client hellos refused by closing, as a plain-HTTP server does.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::Image;

/// How the registry misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// None: an honest registry (to check the server itself).
    Honest,
    /// Reads manifest requests and never answers them.
    StallManifest,
    /// Reads layer requests and never answers them.
    StallLayerHead,
    /// Answers layer requests with the headers and half the body, then
    /// sends nothing more and keeps the connection open.
    StallLayerBody,
    /// Sends half the layer with the full Content-Length, then closes.
    TruncatedLayer,
    /// Serves the layer with other bytes of the same size that unpack to
    /// the same files (the gzip header's timestamp changed): only the
    /// compressed digest tells.
    WrongLayerDigest,
    /// Redirects layer requests back to themselves, forever.
    RedirectLoop,
    /// Serves a 100 MB manifest, announced in Content-Length.
    HugeManifest,
    /// Serves a 100 MB manifest without a length (till the connection
    /// closes), so only counting the bytes catches it.
    HugeManifestUnannounced,
}

pub struct LyingRegistry {
    pub port: u16,
    /// "METHOD PATH" of every request, in order.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

struct Served {
    image: Image,
    lie: Lie,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl LyingRegistry {
    pub fn start(image: &Image, lie: Lie) -> LyingRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the lying registry");
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Served {
            image: image.clone(),
            lie,
            log: log.clone(),
            stop: stop.clone(),
        });
        thread::spawn(move || {
            for conn in listener.incoming() {
                if served.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let served = served.clone();
                thread::spawn(move || {
                    let _ = serve(conn, &served);
                });
            }
        });
        LyingRegistry { port, log, stop }
    }

    /// `127.0.0.1:PORT/REPO:TAG`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("127.0.0.1:{}/{repo}:{tag}", self.port)
    }

    /// How many requests were for `path_part`.
    pub fn requests_for(&self, path_part: &str) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(path_part)).count()
    }
}

impl Drop for LyingRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads the request head: `None` for what is not HTTP (a TLS hello).
fn read_head(conn: &TcpStream) -> std::io::Result<Option<(String, String)>> {
    let mut r = BufReader::new(conn);
    if r.fill_buf()?
        .first()
        .is_none_or(|b| !b.is_ascii_uppercase())
    {
        return Ok(None);
    }
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    Ok(Some((method, path)))
}

fn head(conn: &mut TcpStream, status: &str, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    conn.write_all(h.as_bytes())
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut headers = headers.to_vec();
    headers.push(("Content-Length", body.len().to_string()));
    head(conn, status, &headers)?;
    conn.write_all(body)
}

/// Keeps the connection open and silent until the test ends (or two
/// minutes pass).
fn stall(served: &Served) {
    let end = Instant::now() + Duration::from_secs(120);
    while !served.stop.load(Ordering::SeqCst) && Instant::now() < end {
        thread::sleep(Duration::from_millis(50));
    }
}

fn serve(mut conn: TcpStream, served: &Served) -> std::io::Result<()> {
    let Some((method, path)) = read_head(&conn)? else {
        return Ok(());
    };
    served.log.lock().unwrap().push(format!("{method} {path}"));
    let image = &served.image;
    let lie = served.lie;
    let layer = &image.layers[0];
    if path == "/v2/" {
        return respond(&mut conn, "200 OK", &[], b"{}");
    }
    if path.contains("/manifests/") {
        return match lie {
            Lie::StallManifest => {
                stall(served);
                Ok(())
            }
            Lie::HugeManifest | Lie::HugeManifestUnannounced => {
                let total: usize = 100 << 20;
                let mut headers = vec![("Content-Type", image.media_type.clone())];
                if lie == Lie::HugeManifest {
                    headers.push(("Content-Length", total.to_string()));
                }
                head(&mut conn, "200 OK", &headers)?;
                // JSON that never ends: an object opening, then spaces.
                conn.write_all(b"{\"schemaVersion\": 2, \"padding\": \"")?;
                let chunk = vec![b' '; 64 << 10];
                let mut sent = 0;
                while sent < total {
                    conn.write_all(&chunk)?;
                    sent += chunk.len();
                }
                Ok(())
            }
            _ => respond(
                &mut conn,
                "200 OK",
                &[
                    ("Content-Type", image.media_type.clone()),
                    ("Docker-Content-Digest", image.manifest_digest.clone()),
                ],
                &image.manifest,
            ),
        };
    }
    if path.ends_with(&format!("/blobs/{}", image.config_digest)) {
        return respond(&mut conn, "200 OK", &[], &image.config);
    }
    if path.ends_with(&format!("/blobs/{}", layer.digest)) {
        let blob = &layer.blob;
        let half = blob.len() / 2;
        let length = [("Content-Length", blob.len().to_string())];
        return match lie {
            Lie::StallLayerHead => {
                stall(served);
                Ok(())
            }
            Lie::StallLayerBody => {
                head(&mut conn, "200 OK", &length)?;
                conn.write_all(&blob[..half])?;
                conn.flush()?;
                stall(served);
                Ok(())
            }
            Lie::TruncatedLayer => {
                head(&mut conn, "200 OK", &length)?;
                conn.write_all(&blob[..half])
            }
            Lie::WrongLayerDigest => {
                let mut other = blob.clone();
                assert_eq!(&other[..2], b"\x1f\x8b", "the layer is gzip");
                // MTIME, bytes 4..8 of the gzip header: not in the data's CRC.
                other[4] ^= 0x5a;
                respond(&mut conn, "200 OK", &[], &other)
            }
            Lie::RedirectLoop => respond(
                &mut conn,
                "307 Temporary Redirect",
                &[("Location", path.clone())],
                b"",
            ),
            _ => respond(&mut conn, "200 OK", &[], blob),
        };
    }
    respond(
        &mut conn,
        "404 Not Found",
        &[("Content-Type", "application/json".into())],
        br#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#,
    )
}
