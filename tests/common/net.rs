//! Network test helpers: an HTTP client and a one-shot server on the
//! host's loopback, and the network helper processes of a test's store.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::Burrow;

/// GET `path` from 127.0.0.1:port, retried while the server starts; the
/// whole answer (headers and body).
pub fn http_get(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        });
        match attempt {
            Ok(body) if body.contains("200 OK") => return body,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("no answer on port {port} for {path}: {other:?}"),
        }
    }
}

/// A one-request HTTP server on the host's loopback answering `body`; its
/// port. (Not joined: a failed connection must fail the test, not hang it.)
pub fn host_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut req = [0u8; 1024];
        let _ = s.read(&mut req);
        let answer = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(answer.as_bytes()).unwrap();
    });
    port
}

/// Network helpers (pasta, slirp4netns) working for this test's store:
/// their messages go to `log` in a container's directory.
pub fn helpers(b: &Burrow, log: &str) -> Vec<String> {
    let root = b.root.path().display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            // A removed container's log reads "... (deleted)": its pasta
            // still counts.
            std::fs::read_link(e.path().join("fd/2")).is_ok_and(|l| {
                let l = l.display().to_string();
                l.starts_with(&root) && l.trim_end_matches(" (deleted)").ends_with(log)
            })
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

pub fn pastas(b: &Burrow) -> Vec<String> {
    helpers(b, "pasta.log")
}
