//! `burrow push`, `login` and `logout` against real docker-registry
//! instances on 127.0.0.1, run as an unprivileged user.

mod common;

#[path = "common/token_server.rs"]
mod token_server;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use common::{
    Burrow, Compression, LayerBuilder, Registry, busybox_image, pulled, require_tool,
    require_unprivileged, stderr, stdout,
};
use serde_json::Value;

/// `burrow login --tls-verify=false -u USER --password-stdin HOST`.
fn login(b: &Burrow, host: &str, user: &str, password: &str) -> Output {
    b.run_with_stdin(
        &[
            "login",
            "--tls-verify=false",
            "-u",
            user,
            "--password-stdin",
            host,
        ],
        password,
    )
}

/// `skopeo inspect [--raw] docker://REFERENCE`: the registry's view, not
/// burrow's (with `raw`, the manifest as served).
fn skopeo_inspect_with(reference: &str, creds: Option<&str>, raw: bool) -> Value {
    let mut cmd = Command::new(require_tool("skopeo"));
    cmd.args(["inspect", "--tls-verify=false"]);
    if raw {
        cmd.arg("--raw");
    }
    if let Some(c) = creds {
        cmd.arg(format!("--creds={c}"));
    }
    let out = cmd
        .arg(format!("docker://{reference}"))
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("skopeo prints JSON")
}

fn skopeo_inspect(reference: &str, creds: Option<&str>) -> Value {
    skopeo_inspect_with(reference, creds, false)
}

fn skopeo_raw_manifest(reference: &str) -> Value {
    skopeo_inspect_with(reference, None, true)
}

fn manifest_digest(b: &Burrow, name: &str) -> String {
    let v = b.inspect_image(name);
    let digests = v["RepoDigests"].as_array().expect("RepoDigests").clone();
    let d = digests[0].as_str().expect("a repo digest");
    d.split_once('@').expect("name@digest").1.to_string()
}

/// Requests the registry logged ("response completed" lines at level info).
fn logged_requests(reg: &Registry, method: &str, needle: &str) -> usize {
    reg.log()
        .lines()
        .filter(|l| l.contains("response completed"))
        .filter(|l| l.contains(&format!("http.request.method={method}")))
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn push_to_another_repository_mounts_blobs_and_round_trips() {
    let img = busybox_image(|i| i.cmd(&["echo", "pushed"]));
    let (reg, b, src) = pulled("team/src", &img);
    let dest = reg.reference("team/dest", "v1");
    let digestfile = b.config.path().join("digest");
    let out = b.run(&[
        "push",
        "--tls-verify=false",
        "--digestfile",
        digestfile.to_str().unwrap(),
        &src,
        &dest,
    ]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Getting image source signatures"), "{err}");
    assert!(err.contains("mounted from team/src"), "{err}");
    assert!(
        err.contains("Writing manifest to image destination"),
        "{err}"
    );
    // The blob went over by mount: no upload of it was finished.
    assert!(
        logged_requests(&reg, "POST", "mount=") >= 1,
        "no mount request logged:\n{}",
        reg.log()
    );
    assert_eq!(logged_requests(&reg, "PUT", "team/dest/blobs/uploads"), 0);

    // Same bytes, same digest: the one pulled, the one skopeo sees, the one written.
    let digest = manifest_digest(&b, &src);
    assert_eq!(digest, img.manifest_digest);
    assert_eq!(std::fs::read_to_string(&digestfile).unwrap(), digest);
    let seen = skopeo_inspect(&dest, None);
    assert_eq!(seen["Digest"], digest.as_str());

    // Another burrow pulls it back and runs it.
    let b2 = Burrow::new();
    b2.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    assert_eq!(b2.ok(&["run", "--rm", &dest]).trim(), "pushed");
    b2.ok(&["run", "--rm", &dest, "true"]);

    // Pushing again finds everything there; -q prints nothing.
    let out = b.run(&["push", "--tls-verify=false", &src, &dest]);
    assert!(
        stderr(&out).contains("skipped: already exists"),
        "{}",
        stderr(&out)
    );
    let out = b.run(&["push", "-q", "--tls-verify=false", &src, &dest]);
    assert!(out.status.success() && out.stderr.is_empty() && out.stdout.is_empty());
}

#[test]
fn push_uploads_a_large_layer_in_chunks_to_another_registry() {
    // 40 MiB that do not compress, above the 32 MiB monolithic limit.
    let data = common::incompressible(40 << 20);
    let big = LayerBuilder::new()
        .file("big.bin", &data, 0o644, 0, 0)
        .finish(Compression::None);
    let img = busybox_image(|i| i.layer(big).cmd(&["sh", "-c", "wc -c < /big.bin"]));
    let (_reg, b, src) = pulled("big/src", &img);
    let other = Registry::start();
    let dest = other.reference("big/copy", "latest");
    let out = b.run(&["push", "--tls-verify=false", &src, &dest]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("Copying blob").count(), 2, "{err}");
    assert!(err.contains("Copying config"), "{err}");
    assert!(
        logged_requests(&other, "PATCH", "big/copy/blobs/uploads") >= 3,
        "the 40 MiB layer was not sent in chunks:\n{}",
        other.log()
    );
    let seen = skopeo_inspect(&dest, None);
    assert_eq!(seen["Digest"], img.manifest_digest.as_str());

    let b2 = Burrow::new();
    b2.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    assert_eq!(
        b2.ok(&["run", "--rm", &dest]).trim(),
        (40 << 20).to_string()
    );
}

#[test]
fn push_needs_login_on_an_htpasswd_registry() {
    let img = busybox_image(|i| i);
    let (_open, b, src) = pulled("auth/src", &img);
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let host = reg.host();
    let dest = reg.reference("auth/app", "v1");
    // Someone else's entry and Docker's keys must survive.
    let auth_file = b.auth_file();
    std::fs::write(
        &auth_file,
        r#"{"auths":{"other.example:5000":{"auth":"b3RoZXI6cHc="}},"credHelpers":{"x.io":"pass"}}"#,
    )
    .unwrap();

    let out = b.run(&["push", "--tls-verify=false", &src, &dest]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("authentication required for {host}"))
            && err.contains(&format!("burrow login {host}")),
        "{err}"
    );
    assert_eq!(
        err.trim().lines().last().unwrap().matches("Error").count(),
        1
    );

    // Wrong password: refused by the registry, nothing stored.
    let out = login(&b, &host, "alice", "wrong\n");
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("invalid username or password"),
        "{}",
        stderr(&out)
    );
    assert!(!std::fs::read_to_string(&auth_file).unwrap().contains(&host));

    // Without a terminal the password must come from a flag.
    let err = b.fail(&["login", "--tls-verify=false", "-u", "alice", &host]);
    assert!(err.contains("--password-stdin"), "{err}");
    let err = b.fail(&["login", "--tls-verify=false", &host]);
    assert!(err.contains("-u USERNAME"), "{err}");

    let out = login(&b, &host, "alice", "s3cret\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Login Succeeded!");
    let mode = std::fs::metadata(&auth_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let v: Value = serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    assert_eq!(v["auths"][&host]["auth"], expected.as_str());
    assert_eq!(v["auths"]["other.example:5000"]["auth"], "b3RoZXI6cHc=");
    assert_eq!(v["credHelpers"]["x.io"], "pass");
    assert_eq!(b.ok(&["login", "--get-login", &host]).trim(), "alice");

    b.ok(&["push", "--tls-verify=false", &src, &dest]);
    let seen = skopeo_inspect(&dest, Some("alice:s3cret"));
    assert_eq!(seen["Digest"], img.manifest_digest.as_str());

    assert_eq!(
        b.ok(&["logout", &host]).trim(),
        format!("Removed login credentials for {host}")
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    assert!(v["auths"].get(&host).is_none(), "{v}");
    assert_eq!(v["auths"]["other.example:5000"]["auth"], "b3RoZXI6cHc=");
    let err = b.fail(&["logout", &host]);
    assert!(err.contains(&format!("not logged into {host}")), "{err}");
    let err = b.fail(&["login", "--get-login", &host]);
    assert!(err.contains("not logged into"), "{err}");

    // Logged out, push fails again; --creds works without a login.
    let err = b.fail(&["push", "--tls-verify=false", &src, &dest]);
    assert!(err.contains("authentication required"), "{err}");
    let dest2 = reg.reference("auth/app", "v2");
    let err = b.fail(&[
        "push",
        "--tls-verify=false",
        "--creds",
        "alice:nope",
        &src,
        &dest2,
    ]);
    assert!(err.contains("invalid username/password"), "{err}");
    b.ok(&[
        "push",
        "--tls-verify=false",
        "--creds",
        "alice:s3cret",
        &src,
        &dest2,
    ]);

    b.ok(&["logout", "--all"]);
    let v: Value = serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    assert_eq!(v["auths"], serde_json::json!({}));
    assert_eq!(v["credHelpers"]["x.io"], "pass");
}

#[test]
fn push_through_a_token_server_asks_for_push_scope() {
    let img = busybox_image(|i| i);
    let (reg, b, src) = pulled("tok/src", &img);
    let upstream = format!("127.0.0.1:{}", reg.port).parse().unwrap();
    let proxy = token_server::TokenProxy::start(upstream, Some(("bob", "pw")));
    let dest = format!("{}/tok/dest:v1", proxy.host());

    let out = b.run(&["push", "--tls-verify=false", &src, &dest]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(stderr(&out).contains("burrow login"), "{}", stderr(&out));

    let out = login(&b, &proxy.host(), "bob", "pw");
    assert!(out.status.success(), "{}", stderr(&out));
    b.ok(&["push", "--tls-verify=false", &src, &dest]);
    let scopes = proxy.state.scopes.lock().unwrap().clone();
    assert!(
        scopes
            .iter()
            .any(|s| s.contains("repository:tok/dest:pull,push")),
        "{scopes:?}"
    );
    let seen = skopeo_inspect(&reg.reference("tok/dest", "v1"), None);
    assert_eq!(seen["Digest"], img.manifest_digest.as_str());
}

#[test]
fn push_errors_are_one_line() {
    require_unprivileged();
    let b = Burrow::new();
    let out = b.run(&["push", "--tls-verify=false", "nosuch", "127.0.0.1:1/x:y"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("nosuch: image not known"),
        "{}",
        stderr(&out)
    );

    let img = busybox_image(|i| i);
    let (_reg, b, src) = pulled("err/src", &img);
    let port = common::free_port();
    let out = b.run(&[
        "push",
        "--tls-verify=false",
        &src,
        &format!("127.0.0.1:{port}/x:y"),
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach registry 127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 2, "{err}"); // the progress header, then the error

    let id = b.ok(&["images", "-q"]).trim().to_string();
    let err = b.fail(&["push", &id]);
    assert!(err.contains("give a destination"), "{err}");
    let err = b.fail(&["push", &src, "oci:/tmp/x"]);
    assert!(err.contains("only registries"), "{err}");
}

#[test]
fn push_format_converts_between_oci_and_docker_schema2() {
    let img = busybox_image(|i| i.cmd(&["echo", "converted"]));
    let (reg, b, src) = pulled("fmt/src", &img);
    let docker = reg.reference("fmt/docker", "v1");
    let digestfile = b.config.path().join("digest");
    b.ok(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--format",
        "v2s2",
        "--digestfile",
        digestfile.to_str().unwrap(),
        &src,
        &docker,
    ]);
    let m = skopeo_raw_manifest(&docker);
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    // The blobs are the same; only the manifest (and its digest) changed.
    assert_eq!(m["layers"][0]["digest"], img.layers[0].digest.as_str());
    let digest = std::fs::read_to_string(&digestfile).unwrap();
    assert_ne!(digest, img.manifest_digest);
    assert_eq!(skopeo_inspect(&docker, None)["Digest"], digest.as_str());

    let b2 = Burrow::new();
    b2.ok(&["pull", "-q", "--tls-verify=false", &docker]);
    assert_eq!(b2.ok(&["run", "--rm", &docker]).trim(), "converted");
    // And back to OCI from the Docker-format copy.
    let oci = reg.reference("fmt/oci", "v1");
    b2.ok(&[
        "push",
        "-q",
        "--tls-verify=false",
        "--format",
        "oci",
        &docker,
        &oci,
    ]);
    let m = skopeo_raw_manifest(&oci);
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let b3 = Burrow::new();
    b3.ok(&["pull", "-q", "--tls-verify=false", &oci]);
    assert_eq!(b3.ok(&["run", "--rm", &oci]).trim(), "converted");

    let err = b.fail(&["push", "--format", "v2s1", &src, &oci]);
    assert!(err.contains("v2s1"), "{err}");
}

/// `search` reads the registry's catalog and keeps the matching names.
#[test]
fn search_lists_matching_repositories_from_the_catalog() {
    let (reg, b, img) = pulled("search/alpha", &busybox_image(|i| i));
    for repo in ["search/beta", "other/gamma"] {
        b.ok(&[
            "push",
            "-q",
            "--tls-verify=false",
            &img,
            &reg.reference(repo, "1"),
        ]);
    }
    let host = reg.host();
    let out = b.ok(&["search", "--tls-verify=false", &format!("{host}/search")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "DESCRIPTION"]
    );
    assert_eq!(
        lines[1..].iter().map(|l| l.trim()).collect::<Vec<_>>(),
        [
            format!("{host}/search/alpha"),
            format!("{host}/search/beta")
        ]
    );
    let json = b.ok_json(&[
        "search",
        "--tls-verify=false",
        "--limit",
        "1",
        "--format",
        "json",
        &format!("{host}/a"),
    ]);
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(
        b.ok(&[
            "search",
            "--tls-verify=false",
            "--format",
            "{{.Name}}",
            &format!("{host}/gam")
        ]),
        format!("{host}/other/gamma\n")
    );
    // Nothing listens there: one error line, exit 125.
    let o = b.run(&["search", "--tls-verify=false", "127.0.0.1:1/x"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
}
