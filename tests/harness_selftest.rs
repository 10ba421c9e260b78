//! Checks the integration-test harness itself, without burrow: if these
//! fail, every other integration test's verdict is meaningless.

mod common;

use std::io::Read;

use common::*;
use tar::EntryType;

/// One tar entry as the `tar` crate reads it back.
struct TarEntry {
    path: String,
    kind: EntryType,
    uid: u64,
    gid: u64,
    mode: u32,
    pax: Vec<(String, Vec<u8>)>,
    data: Vec<u8>,
    link: Option<String>,
}

fn entries(tar_bytes: &[u8]) -> Vec<TarEntry> {
    let mut a = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        let path = e.path().expect("path").to_string_lossy().into_owned();
        let link = e
            .link_name()
            .expect("link name")
            .map(|l| l.to_string_lossy().into_owned());
        let h = e.header().clone();
        let mut pax = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for x in exts {
                let x = x.expect("pax record");
                pax.push((
                    x.key().expect("utf-8 key").to_string(),
                    x.value_bytes().to_vec(),
                ));
            }
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        out.push(TarEntry {
            path,
            kind: h.entry_type(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mode: h.mode().unwrap(),
            pax,
            data,
            link,
        });
    }
    out
}

#[test]
fn layer_round_trips_through_tar_crate() {
    let long = format!("deep/{}/file", "d".repeat(120));
    let layer = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .file("etc/hello", b"hello\n", 0o640, 1000, 1001)
        .xattr("etc/hello", "user.test", b"v1")
        .symlink("etc/link", "hello")
        .hardlink("etc/hard", "etc/hello")
        .whiteout("etc/gone")
        .opaque("var/cache")
        .file(&long, b"x", 0o644, 0, 0)
        .node("dev/null", EntryType::Char, 0o666, 1, 3)
        .finish(Compression::Gzip);
    assert_eq!(layer.digest, sha256_digest(&layer.blob));
    assert_eq!(layer.diff_id, sha256_digest(&layer.tar));
    assert_eq!(layer.size, layer.blob.len() as u64);
    assert_eq!(
        layer.media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let mut unz = Vec::new();
    flate2::read::GzDecoder::new(&layer.blob[..])
        .read_to_end(&mut unz)
        .expect("gunzip");
    assert_eq!(unz, layer.tar);

    let es = entries(&layer.tar);
    let names: Vec<&str> = es.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        names,
        [
            "etc/",
            "etc/hello",
            "etc/link",
            "etc/hard",
            "etc/.wh.gone",
            "var/cache/.wh..wh..opq",
            long.as_str(),
            "dev/null"
        ]
    );
    let hello = &es[1];
    assert_eq!(
        (hello.kind, hello.uid, hello.gid, hello.mode),
        (EntryType::Regular, 1000, 1001, 0o640)
    );
    assert_eq!(hello.data, b"hello\n");
    assert!(
        hello
            .pax
            .contains(&("SCHILY.xattr.user.test".to_string(), b"v1".to_vec())),
        "pax: {:?}",
        hello.pax
    );
    assert_eq!(es[2].kind, EntryType::Symlink);
    assert_eq!(es[3].kind, EntryType::Link);

    assert_eq!(es[2].link.as_deref(), Some("hello"));
    assert_eq!(es[3].link.as_deref(), Some("etc/hello"));
    assert_eq!((es[7].kind, es[7].mode), (EntryType::Char, 0o666));
}

#[test]
fn zstd_and_raw_hostile_entries() {
    let layer = LayerBuilder::new()
        .raw_entry(
            raw_header(b"../escape", EntryType::Regular, 3, 0o644),
            b"bad",
        )
        .finish(Compression::Zstd);
    assert_eq!(
        layer.media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(zstd::decode_all(&layer.blob[..]).unwrap(), layer.tar);
    // The name survives byte for byte (the tar crate itself would refuse
    // to write it).
    assert_eq!(&layer.tar[..9], b"../escape");
    let h = tar::Header::from_byte_slice(&layer.tar[..512]);
    assert_eq!(h.cksum().unwrap(), {
        let mut c = h.clone();
        c.set_cksum();
        c.cksum().unwrap()
    });
}

#[test]
fn registry_accepts_pushed_image() {
    let reg = Registry::start();
    let img = busybox_image(|b| b.cmd(&["echo", "hi"]).label("k", "v"));
    let digest = reg.push_image("test/busybox", "latest", &img);
    assert_eq!(digest, img.manifest_digest);
    let (status, ct, dg, body) = reg.get_manifest("test/busybox", "latest");
    assert_eq!(status, 200);
    assert_eq!(ct, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(dg, img.manifest_digest);
    assert_eq!(body, img.manifest);
    let stored = std::fs::read(reg.blob_data_path(&img.layers[0].digest)).expect("blob on disk");
    assert_eq!(stored, img.layers[0].blob);
    let cfg = img.config_json();
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["echo", "hi"]));
    assert_eq!(
        cfg["rootfs"]["diff_ids"][0],
        serde_json::json!(img.layers[0].diff_id)
    );
}

#[test]
fn htpasswd_registry_requires_credentials() {
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let anon = reg.client().get(reg.url("/v2/")).send().unwrap();
    assert_eq!(anon.status().as_u16(), 401);
    let img = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("a", b"a", 0o644, 0, 0)
                .finish(Compression::None),
        )
        .build();
    assert_eq!(reg.push_image("private/a", "v1", &img), img.manifest_digest);
    assert_eq!(reg.get_manifest("private/a", "v1").0, 200);
}

#[test]
fn manifest_list_lists_both_platforms() {
    let reg = Registry::start();
    let mk = |p: &str| {
        ImageBuilder::new()
            .platform(p)
            .layer(
                LayerBuilder::new()
                    .file("arch", p.as_bytes(), 0o644, 0, 0)
                    .finish(Compression::Gzip),
            )
            .build()
    };
    let amd = mk("linux/amd64");
    let arm = mk("linux/arm64/v8");
    let (bytes, digest) = index(&[("linux/amd64", &amd), ("linux/arm64/v8", &arm)]);
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
    let plats: Vec<String> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            Platform::parse(&format!(
                "{}/{}{}",
                m["platform"]["os"].as_str().unwrap(),
                m["platform"]["architecture"].as_str().unwrap(),
                m["platform"]["variant"]
                    .as_str()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            ))
            .to_string()
        })
        .collect();
    assert_eq!(plats, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(
        v["manifests"][1]["digest"],
        serde_json::json!(arm.manifest_digest)
    );
    assert_eq!(
        reg.push_index("multi/img", "latest", &[&amd, &arm], &bytes),
        digest
    );
    let (status, ct, dg, _) = reg.get_manifest("multi/img", "latest");
    assert_eq!(
        (status, ct.as_str(), dg.as_str()),
        (
            200,
            "application/vnd.oci.image.index.v1+json",
            digest.as_str()
        )
    );
    assert_eq!(reg.get_manifest("multi/img", &arm.manifest_digest).0, 200);

    let d_amd = ImageBuilder::new()
        .docker_schema2()
        .layer(amd.layers[0].clone())
        .build();
    assert_eq!(
        d_amd.manifest_json()["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let (dl, _) = index(&[("linux/amd64", &d_amd)]);
    let dl: serde_json::Value = serde_json::from_slice(&dl).unwrap();
    assert_eq!(
        dl["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
}

#[test]
fn skopeo_pushes_oci_layout() {
    let reg = Registry::start();
    let img = busybox_image(|b| b);
    reg.push_with_skopeo("interop/bb", "v1", &img);
    let (status, _, _, body) = reg.get_manifest("interop/bb", "v1");
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["config"]["digest"], serde_json::json!(img.config_digest));
    assert_eq!(
        m["layers"][0]["digest"],
        serde_json::json!(img.layers[0].digest)
    );
}

#[test]
fn busybox_rootfs_is_sane() {
    let dir = tempfile::tempdir().unwrap();
    busybox_rootfs(dir.path());
    let bb = dir.path().join("bin/busybox");
    let md = std::fs::symlink_metadata(&bb).unwrap();
    assert!(md.is_file(), "/bin/busybox must be the binary, not a link");
    assert_eq!(
        std::fs::read_link(dir.path().join("bin/sh"))
            .unwrap()
            .to_str(),
        Some("busybox")
    );
    assert!(
        std::fs::metadata(dir.path().join("bin/sh"))
            .unwrap()
            .is_file()
    );
    let passwd = std::fs::read_to_string(dir.path().join("etc/passwd")).unwrap();
    assert!(passwd.contains("app:x:1000:1000:"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.path().join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    let out = std::process::Command::new(dir.path().join("bin/sh"))
        .args(["-c", "echo ok"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");

    let es = entries(&busybox_layer().tar);
    let app = es
        .iter()
        .find(|e| e.path == "var/lib/app/")
        .expect("var/lib/app in layer");
    assert_eq!((app.uid, app.gid), (1000, 1000));
    assert!(
        es.iter()
            .any(|e| e.path == "bin/sh" && e.kind == EntryType::Symlink)
    );
    assert!(
        !es.iter()
            .any(|e| e.path == "bin/busybox" && e.kind == EntryType::Symlink)
    );
}

#[test]
fn subuid_range_is_readable_when_unprivileged() {
    if nix::unistd::geteuid().is_root() {
        let r = std::panic::catch_unwind(require_unprivileged);
        assert!(r.is_err(), "require_unprivileged must refuse root");
    } else {
        require_unprivileged();
        assert!(host_subuid_start() > 0);
        assert!(host_subuid_range().unwrap().1 >= 65536);
    }
}
