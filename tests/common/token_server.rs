//! A token-auth front for a real registry, for tests: a tiny HTTP/1.1
//! reverse proxy that answers 401 with a Bearer challenge unless a request
//! carries a token it issued for the repository, issues tokens at `/token`
//! (checking basic credentials when configured), and forwards authorized
//! requests to the registry. Switches let tests inject 503s, corrupt
//! manifests and redirect blob downloads to a second port.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine;

#[derive(Default)]
pub struct State {
    /// Required basic credentials at `/token`; `None` issues anonymous tokens.
    pub credentials: Option<(String, String)>,
    /// token → the repositories it grants access to.
    tokens: Mutex<HashMap<String, Vec<String>>>,
    pub token_requests: AtomicUsize,
    /// Answer this many of the next `/v2/` requests with 503.
    pub inject_503: AtomicUsize,
    /// Sent as `Retry-After` with injected 503s.
    pub retry_after: Mutex<Option<String>>,
    /// Change one byte of every manifest body served.
    pub corrupt_manifests: AtomicBool,
    /// Redirect blob GETs to the second listener.
    pub redirect_blobs: AtomicBool,
    /// Answer tokens as `access_token` instead of `token`.
    pub use_access_token: AtomicBool,
    pub redirected_requests: AtomicUsize,
    pub redirected_with_auth: AtomicUsize,
    /// The scopes of every token request, space-separated.
    pub scopes: Mutex<Vec<String>>,
    /// "METHOD PATH -> STATUS" for every /v2/ request, in order.
    pub log: Mutex<Vec<String>>,
}

pub struct TokenProxy {
    pub port: u16,
    pub redirect_port: u16,
    pub state: Arc<State>,
    stop: Arc<AtomicBool>,
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl TokenProxy {
    pub fn start(upstream: SocketAddr, credentials: Option<(&str, &str)>) -> TokenProxy {
        let state = Arc::new(State {
            credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
            ..Default::default()
        });
        let main = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let redirect = TcpListener::bind("127.0.0.1:0").expect("bind redirect listener");
        let port = main.local_addr().unwrap().port();
        let redirect_port = redirect.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        for (listener, is_redirect) in [(main, false), (redirect, true)] {
            let state = state.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = state.clone();
                    thread::spawn(move || {
                        let _ = serve(conn, &state, upstream, port, redirect_port, is_redirect);
                    });
                }
            });
        }
        TokenProxy {
            port,
            redirect_port,
            state,
            stop,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loops so they see the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = TcpStream::connect(("127.0.0.1", self.redirect_port));
    }
}

fn read_request(conn: &TcpStream) -> std::io::Result<Request> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(
    mut conn: &TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    conn.write_all(out.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

/// `/v2/NAME/(manifests|blobs|tags)/...` → NAME.
fn repository_of(path: &str) -> Option<String> {
    let p = path.strip_prefix("/v2/")?;
    let p = p.split('?').next()?;
    for marker in ["/manifests/", "/blobs/", "/tags/"] {
        if let Some(i) = p.find(marker) {
            return Some(p[..i].to_string());
        }
    }
    None
}

fn query_param(path: &str, name: &str) -> Option<String> {
    query_params(path, name).into_iter().next()
}

/// Every value of a repeated parameter (`scope=a&scope=b`).
fn query_params(path: &str, name: &str) -> Vec<String> {
    let Some((_, q)) = path.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() => {
                let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?');
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(
    conn: TcpStream,
    state: &State,
    upstream: SocketAddr,
    port: u16,
    redirect_port: u16,
    is_redirect: bool,
) -> std::io::Result<()> {
    let req = read_request(&conn)?;
    if is_redirect {
        state.redirected_requests.fetch_add(1, Ordering::SeqCst);
        if req.header("authorization").is_some() {
            state.redirected_with_auth.fetch_add(1, Ordering::SeqCst);
        }
        return forward(&conn, &req, upstream, state);
    }

    if req.path.starts_with("/token") {
        state.token_requests.fetch_add(1, Ordering::SeqCst);
        if let Some((user, pass)) = &state.credentials {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            );
            if req.header("authorization") != Some(expected.as_str()) {
                return respond(
                    &conn,
                    "401 Unauthorized",
                    &[],
                    b"{\"details\":\"bad credentials\"}",
                );
            }
        }
        if query_param(&req.path, "service").as_deref() != Some("test") {
            return respond(
                &conn,
                "400 Bad Request",
                &[],
                b"{\"details\":\"wrong service\"}",
            );
        }
        // `repository:NAME:pull` or `repository:NAME:pull,push`, possibly
        // several; the proxy does not tell the actions apart.
        let repos: Vec<String> = query_params(&req.path, "scope")
            .iter()
            .filter_map(|s| s.strip_prefix("repository:")?.rsplit_once(':'))
            .map(|(name, _)| name.to_string())
            .collect();
        state
            .scopes
            .lock()
            .unwrap()
            .push(query_params(&req.path, "scope").join(" "));
        let mut tokens = state.tokens.lock().unwrap();
        let token = format!("tok-{}", tokens.len() + 1);
        tokens.insert(token.clone(), repos);
        let field = if state.use_access_token.load(Ordering::SeqCst) {
            "access_token"
        } else {
            "token"
        };
        let body = format!("{{\"{field}\":\"{token}\",\"expires_in\":300}}");
        return respond(
            &conn,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        );
    }

    if !req.path.starts_with("/v2/") {
        return respond(&conn, "404 Not Found", &[], b"");
    }
    let log = |status: &str| {
        state
            .log
            .lock()
            .unwrap()
            .push(format!("{} {} -> {status}", req.method, req.path))
    };

    if state.inject_503.load(Ordering::SeqCst) > 0 {
        state.inject_503.fetch_sub(1, Ordering::SeqCst);
        log("503");
        let retry_after = state.retry_after.lock().unwrap().clone();
        let headers: Vec<(&str, String)> = retry_after
            .into_iter()
            .map(|v| ("Retry-After", v))
            .collect();
        return respond(
            &conn,
            "503 Service Unavailable",
            &headers,
            b"{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"try later\"}]}",
        );
    }

    let repo = repository_of(&req.path);
    let authorized = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| state.tokens.lock().unwrap().get(t).cloned())
        .is_some_and(|granted| {
            repo.as_deref()
                .is_none_or(|r| granted.iter().any(|g| g == r))
        });
    if !authorized {
        log("401");
        let scope = repo
            .map(|r| format!(",scope=\"repository:{r}:pull\""))
            .unwrap_or_default();
        let challenge =
            format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\"{scope}");
        return respond(
            &conn,
            "401 Unauthorized",
            &[
                ("WWW-Authenticate", challenge),
                ("Content-Type", "application/json".into()),
            ],
            b"{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
        );
    }

    if state.redirect_blobs.load(Ordering::SeqCst)
        && req.method == "GET"
        && req.path.contains("/blobs/sha256:")
    {
        log("307");
        let location = format!("http://127.0.0.1:{redirect_port}{}", req.path);
        return respond(
            &conn,
            "307 Temporary Redirect",
            &[("Location", location)],
            b"",
        );
    }
    log("proxied");
    forward(&conn, &req, upstream, state)
}

/// Send `req` to the registry and relay its answer.
fn forward(
    conn: &TcpStream,
    req: &Request,
    upstream: SocketAddr,
    state: &State,
) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n",
        req.method, req.path
    );
    for (k, v) in &req.headers {
        if ["accept", "content-type", "content-length"].contains(&k.to_ascii_lowercase().as_str()) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;

    if state.corrupt_manifests.load(Ordering::SeqCst)
        && req.path.contains("/manifests/")
        && resp.starts_with(b"HTTP/1.1 200")
        && let Some(split) = resp.windows(4).position(|w| w == b"\r\n\r\n")
    {
        // Same length, still valid JSON: flip one hex digit of the first digest.
        let body = &mut resp[split + 4..];
        if let Some(i) = body.windows(7).position(|w| w == b"sha256:") {
            let c = &mut body[i + 7];
            *c = if *c == b'0' { b'1' } else { b'0' };
        }
    }
    let mut conn = conn;
    conn.write_all(&resp)?;
    conn.flush()
}
