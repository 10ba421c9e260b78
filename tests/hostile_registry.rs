//! `burrow pull` from a registry that lies or stalls (issue 22): a small
//! loopback server in the test (`common/lying_registry.rs`) serves one
//! image and misbehaves in one way per test. Each pull must fail with one
//! clear line and exit status 125, within a bounded time, leaving no image,
//! no layer and nothing in the store's tmp/.
//!
//! Covered elsewhere: a blob whose bytes were changed in the registry
//! (tests/pull.rs `corrupted_blob_is_rejected_and_nothing_is_stored`), a
//! manifest whose digest lies (tests/registry_client.rs
//! `corrupted_manifests_are_rejected`), a registry that stays down
//! (`server_errors_are_retried`).

mod common;
#[path = "common/lying_registry.rs"]
mod lying_registry;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{Burrow, Compression, Image, ImageBuilder, LayerBuilder, require_unprivileged};
use lying_registry::{Lie, LyingRegistry};

/// One layer of incompressible data, so half of it is half a gzip stream.
fn image() -> Image {
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("data", common::incompressible(256 << 10), 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .build()
}

/// A burrow whose config.toml sets `[registry] timeout = 1`.
fn burrow_with_short_timeout() -> Burrow {
    let b = Burrow::new();
    std::fs::create_dir_all(b.config_dir()).unwrap();
    std::fs::write(
        b.config_dir().join("config.toml"),
        "[registry]\ntimeout = 1\n",
    )
    .unwrap();
    b
}

/// Runs `burrow pull -q REF`, killing it (and failing the test) if it has
/// not finished in `limit`: a pull from a lying registry must give up.
fn pull_within(b: &Burrow, reference: &str, limit: Duration) -> Output {
    let mut child = b
        .cmd(&["pull", "-q", "--tls-verify=false", reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn burrow pull");
    let start = Instant::now();
    while child.try_wait().expect("wait for burrow pull").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "burrow pull {reference} still running after {limit:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
        .wait_with_output()
        .expect("collect burrow pull's output")
}

/// The pull failed with status 125 and one line on stderr, which it
/// returns, and left nothing behind in the store.
fn failed_cleanly(b: &Burrow, out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    eprintln!("burrow pull said: {err}");
    assert_eq!(out.status.code(), Some(125), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(b.ok(&["images", "-q"]).trim(), "", "no image recorded");
    assert!(b.stored("layers").is_empty(), "{:?}", b.stored("layers"));
    assert!(b.stored("tmp").is_empty(), "tmp/: {:?}", b.stored("tmp"));
    assert!(b.ok(&["system", "check"]).contains("OK    store"));
    err
}

#[test]
fn the_lying_registry_serves_honestly_when_asked() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::Honest);
    let b = Burrow::new();
    let out = pull_within(
        &b,
        &reg.reference("lie/app", "v1"),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        img.config_digest.trim_start_matches("sha256:")
    );
}

#[test]
fn a_registry_that_stalls_mid_layer_is_named_and_given_up_on() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::StallLayerBody);
    let b = burrow_with_short_timeout();
    let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
    let err = failed_cleanly(&b, &out);
    let layer = &img.layers[0].digest;
    assert!(
        err.contains(&format!(
            "no data from 127.0.0.1:{} for 1 s while reading layer {layer}; gave up after 3 attempts in ",
            reg.port
        )),
        "{err}"
    );
    assert!(
        err.contains("set [registry] timeout in config.toml"),
        "{err}"
    );
    assert!(!err.contains("error decoding response body"), "{err}");
    assert_eq!(reg.requests_for(&format!("/blobs/{layer}")), 3);
}

#[test]
fn a_registry_that_stalls_before_answering_a_layer_is_named_and_given_up_on() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::StallLayerHead);
    let b = burrow_with_short_timeout();
    let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
    let err = failed_cleanly(&b, &out);
    let layer = &img.layers[0].digest;
    assert!(
        err.contains(&format!(
            "no data from 127.0.0.1:{} for 1 s while waiting for the response to GET /v2/lie/app/blobs/{layer}; gave up after 3 attempts in ",
            reg.port
        )),
        "{err}"
    );
    // One count of tries for a stalled layer, not the client's times the
    // layer's.
    assert_eq!(reg.requests_for(&format!("/blobs/{layer}")), 3);
}

#[test]
fn a_registry_that_stalls_before_answering_a_manifest_is_named_and_given_up_on() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::StallManifest);
    let b = burrow_with_short_timeout();
    let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
    let err = failed_cleanly(&b, &out);
    assert!(
        err.contains(&format!(
            "no data from 127.0.0.1:{} for 1 s while waiting for the response to GET /v2/lie/app/manifests/v1; gave up after 3 attempts in ",
            reg.port
        )),
        "{err}"
    );
    assert_eq!(reg.requests_for("/manifests/"), 3);
}

#[test]
fn a_truncated_layer_is_retried_then_refused() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::TruncatedLayer);
    let b = Burrow::new();
    let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
    let err = failed_cleanly(&b, &out);
    let layer = &img.layers[0].digest;
    // What the network said and how far the download got, once.
    assert!(
        err.contains(&format!(
            "layer {layer}: download failed: request or response body error: "
        )),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            "end of file before message length reached (after {} of {} bytes)",
            img.layers[0].size / 2,
            img.layers[0].size
        )),
        "{err}"
    );
    assert_eq!(
        err.matches("request or response body error").count(),
        1,
        "{err}"
    );
    assert_eq!(reg.requests_for(&format!("/blobs/{layer}")), 3, "3 tries");
}

#[test]
fn a_layer_whose_bytes_do_not_match_its_digest_is_refused() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::WrongLayerDigest);
    let b = Burrow::new();
    let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
    let err = failed_cleanly(&b, &out);
    let layer = &img.layers[0].digest;
    assert!(err.contains(layer), "{err}");
    assert!(err.to_lowercase().contains("digest"), "{err}");
    assert!(
        !b.root
            .path()
            .join("blobs/sha256")
            .join(&layer[7..])
            .exists()
    );
}

#[test]
fn a_redirect_loop_ends() {
    require_unprivileged();
    let img = image();
    let reg = LyingRegistry::start(&img, Lie::RedirectLoop);
    let b = Burrow::new();
    let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
    let err = failed_cleanly(&b, &out);
    assert!(err.contains("redirect"), "{err}");
    let layer = &img.layers[0].digest;
    // reqwest follows at most 10 redirects; the layer gets at most 3 tries.
    let asked = reg.requests_for(&format!("/blobs/{layer}"));
    assert!(asked <= 3 * 11, "{asked} requests");
}

#[test]
fn a_huge_manifest_is_refused_without_reading_it_all() {
    require_unprivileged();
    let img = image();
    for lie in [Lie::HugeManifest, Lie::HugeManifestUnannounced] {
        let reg = LyingRegistry::start(&img, lie);
        let b = Burrow::new();
        let out = pull_within(&b, &reg.reference("lie/app", "v1"), Duration::from_secs(60));
        let err = failed_cleanly(&b, &out);
        assert!(
            err.contains(&format!(
                "manifest of 127.0.0.1:{}/lie/app:v1 from 127.0.0.1:{} is larger than the 4194304-byte limit",
                reg.port, reg.port
            )),
            "{lie:?}: {err}"
        );
        // Refused, not retried.
        assert_eq!(reg.requests_for("/manifests/"), 1, "{lie:?}");
    }
}
