//! Shared integration-test harness: a throwaway registry, an exact OCI image
//! builder, a busybox rootfs, a `burrow` runner with private stores and
//! bounded waits.
//!
//! Every test file uses only part of it, hence the dead-code allowance.
#![allow(dead_code, unused_imports)]

pub mod burrow;
pub mod image;
pub mod layer;
pub mod net;
pub mod podman;
pub mod registry;
pub mod rootfs;
pub mod wait;

pub use burrow::{Burrow, stderr, stdout};
pub use image::{Image, ImageBuilder, Platform, index, write_oci_layout};
pub use layer::{Compression, Layer, LayerBuilder, raw_header, zeros_layer};
pub use registry::Registry;
pub use rootfs::{busybox_image, busybox_layer, busybox_rootfs};
pub use wait::Wait;

use sha2::{Digest as _, Sha256};

const UNPRIVILEGED_MSG: &str = "rootless tests must run as an unprivileged user with a subuid range (see README: bash tests/run.sh)";

/// Refuse to run a rootless test as root: root would hide every permission
/// and ID-mapping bug the test exists to find.
pub fn require_unprivileged() {
    if nix::unistd::geteuid().is_root() {
        panic!("{UNPRIVILEGED_MSG}");
    }
    if host_subuid_range().is_none() {
        panic!("{UNPRIVILEGED_MSG}: no /etc/subuid entry for the current user");
    }
}

/// A registry with `image` pushed as `repo:latest`, and a burrow instance
/// that pulled it; returns the reference to run. Rootless tests only.
pub fn pulled(repo: &str, image: &Image) -> (Registry, Burrow, String) {
    require_unprivileged();
    let reg = Registry::start();
    reg.push_image(repo, "latest", image);
    let b = Burrow::new();
    let name = reg.reference(repo, "latest");
    b.ok(&["pull", "--tls-verify=false", &name]);
    (reg, b, name)
}

/// `len` pseudo-random bytes (xorshift): data no compressor shrinks, so
/// transfers take the time and space of their size.
pub fn incompressible(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    data
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The first sub-UID delegated to the current user in /etc/subuid.
pub fn host_subuid_start() -> u32 {
    host_subuid_range()
        .unwrap_or_else(|| panic!("{UNPRIVILEGED_MSG}: no /etc/subuid entry"))
        .0
}

/// `(start, count)` of the current user's first /etc/subuid range.
pub fn host_subuid_range() -> Option<(u32, u32)> {
    subid_range("/etc/subuid")
}

/// `(start, count)` of the current user's first /etc/subgid range.
pub fn host_subgid_range() -> Option<(u32, u32)> {
    subid_range("/etc/subgid")
}

fn subid_range(file: &str) -> Option<(u32, u32)> {
    let uid = nix::unistd::geteuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let who = parts.next()?;
        let start = parts.next()?.parse().ok()?;
        let count = parts.next()?.parse().ok()?;
        let matches = Some(who) == name.as_deref() || who == uid.as_raw().to_string();
        matches.then_some((start, count))
    })
}

/// The fields of `/proc/PID/stat` after the command name (state, ppid,
/// ...): the name is in parentheses and may itself hold spaces and
/// parentheses, so the fields start after the last `)`.
pub fn proc_stat_fields(pid: impl std::fmt::Display) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    let after_name = stat.rfind(')').expect("a command name in /proc/PID/stat") + 2;
    stat[after_name..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Callers must cope
/// with losing the race for it (see `Registry::start`).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Absolute path of a tool the tests need; a missing tool is a failure of
/// the test machine's setup, never a reason to skip.
pub fn require_tool(name: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]) {
        let p = dir.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{name}` not found in PATH: run the test setup (bash tests/run.sh) or install it"
    );
}

/// A static helper program for test images, compiled from
/// `tests/fixtures/NAME.c` with the host's C compiler (`cc -static`; the
/// C library's static archive ships with libc6-dev, which building Rust
/// needs anyway). For what busybox lacks, such as a UDP server.
pub fn static_helper(name: &str) -> Vec<u8> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.c"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join(name);
    let cc = require_tool("cc");
    let status = std::process::Command::new(cc)
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc -static {} failed", src.display());
    std::fs::read(&out).expect("read the helper")
}
