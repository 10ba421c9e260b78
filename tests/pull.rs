//! `burrow pull` and the image commands, end to end: a real docker-registry
//! on 127.0.0.1, images built by the test, the real kernel, run as an
//! unprivileged user with a subordinate id range.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Burrow, Compression, ImageBuilder, LayerBuilder, Registry, busybox_image, busybox_layer, index,
    raw_header, require_unprivileged, stderr, stdout,
};

/// Layer directories of an image, bottom layer first.
fn layer_dirs(b: &Burrow, name: &str) -> Vec<PathBuf> {
    let v = b.inspect_image(name);
    let data = &v["GraphDriver"]["Data"];
    let mut dirs: Vec<PathBuf> = data["LowerDir"]
        .as_str()
        .map(|s| s.split(':').map(PathBuf::from).collect())
        .unwrap_or_default();
    dirs.reverse();
    dirs.push(PathBuf::from(data["UpperDir"].as_str().expect("UpperDir")));
    dirs
}

/// `stat` inside burrow's user namespace: owners as the container sees them.
fn ns_stat(b: &Burrow, path: &Path, fmt: &str) -> String {
    b.ok(&["unshare", "stat", "-c", fmt, path.to_str().unwrap()])
        .trim()
        .to_string()
}

fn pull(b: &Burrow, reference: &str) -> String {
    let out = b.ok(&["pull", "--tls-verify=false", reference]);
    out.trim().to_string()
}

fn image_count(b: &Burrow) -> usize {
    b.ok(&["images", "-q"]).lines().count()
}

#[test]
fn pull_lists_inspects_and_unpacks_busybox() {
    require_unprivileged();
    let reg = Registry::start();
    let img = busybox_image(|b| b.cmd(&["echo", "hello"]).label("org.test", "yes"));
    reg.push_image("test/busybox", "latest", &img);
    let b = Burrow::new();

    let id = pull(&b, &reg.reference("test/busybox", "latest"));
    assert_eq!(
        id,
        img.config_digest.trim_start_matches("sha256:"),
        "pull prints the full image ID"
    );

    let listing = b.ok(&["images"]);
    let mut lines = listing.lines();
    let header = lines.next().unwrap();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().expect("one image row");
    assert!(
        row.starts_with(&format!("{}/test/busybox", reg.host())),
        "{row}"
    );
    assert!(row.contains("latest") && row.contains(&id[..12]), "{row}");

    let v = b.inspect_image("test/busybox");
    assert_eq!(v["Id"], img.config_digest.as_str());
    assert_eq!(
        v["RepoTags"][0],
        reg.reference("test/busybox", "latest").as_str()
    );
    assert_eq!(
        v["RepoDigests"][0],
        format!("{}/test/busybox@{}", reg.host(), img.manifest_digest).as_str()
    );
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["echo", "hello"]));
    assert_eq!(v["Config"]["Labels"]["org.test"], "yes");
    assert_eq!(v["RootFS"]["Layers"][0], busybox_layer().diff_id.as_str());
    let f = b.ok(&[
        "inspect",
        "--format",
        "{{.Id}} {{json .Config.Cmd}}",
        &id[..8],
    ]);
    assert_eq!(
        f.trim(),
        format!("{} [\"echo\",\"hello\"]", img.config_digest)
    );

    let dirs = layer_dirs(&b, "test/busybox");
    assert_eq!(dirs.len(), 1);
    let sh = std::fs::symlink_metadata(dirs[0].join("bin/sh")).unwrap();
    assert!(sh.file_type().is_symlink());
    let bb = std::fs::metadata(dirs[0].join("bin/busybox")).unwrap();
    assert_eq!(bb.len(), std::fs::metadata("/bin/busybox").unwrap().len());
    // /var/lib/app belongs to uid 1000 in the image: 1000 inside, start+999 on the host.
    assert_eq!(
        ns_stat(&b, &dirs[0].join("var/lib/app"), "%u:%g"),
        "1000:1000"
    );
    let host = std::fs::metadata(dirs[0].join("var/lib/app")).unwrap();
    assert_eq!(host.uid(), common::host_subuid_start() + 999);

    // JSON, quiet, digests and template listings.
    let json = b.ok_json(&["images", "--format", "json"]);
    assert_eq!(json[0]["Id"], id.as_str());
    assert_eq!(b.ok(&["images", "-q"]).trim(), &id[..12]);
    assert!(
        b.ok(&["images", "--digests"])
            .contains(&img.manifest_digest)
    );
    let t = b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(t.trim(), reg.reference("test/busybox", "latest"));
    let t = b.ok(&["images", "--format", "table {{.Repository}}\t{{.ID}}"]);
    let mut lines = t.lines();
    assert!(lines.next().unwrap().starts_with("REPOSITORY"), "{t}");
    assert!(lines.next().unwrap().ends_with(&id[..12]), "{t}");

    // Pulling again reuses every layer.
    let out = b
        .cmd(&[
            "pull",
            "--tls-verify=false",
            &reg.reference("test/busybox", "latest"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stderr(&out).contains("already exists"));
}

#[test]
fn ownership_setuid_xattrs_links_and_whiteouts_reach_overlayfs() {
    require_unprivileged();
    let reg = Registry::start();
    let lower = LayerBuilder::new()
        .dir("a", 0o755, 0, 0)
        .file("a/gone", "x", 0o644, 0, 0)
        .dir("d", 0o755, 0, 0)
        .file("d/old", "old", 0o644, 0, 0)
        .file("home/user/owned", "mine", 0o640, 1000, 1001)
        .file("usr/bin/su-like", "#!/bin/sh\n", 0o4755, 0, 0)
        .file("usr/bin/sgid", "#!/bin/sh\n", 0o2755, 0, 0)
        .dir("tmp", 0o1777, 0, 0)
        .file("etc/tagged", "x", 0o644, 0, 0)
        .xattr("etc/tagged", "user.burrow.test", "value")
        .symlink("etc/link", "../home/user/owned")
        .hardlink("etc/hard", "etc/tagged")
        .finish(Compression::Gzip);
    let upper = LayerBuilder::new()
        .dir("a", 0o755, 0, 0)
        .whiteout("a/gone")
        .dir("d", 0o755, 0, 0)
        .opaque("d")
        .file("d/new", "new", 0o644, 0, 0)
        .finish(Compression::Gzip);
    let img = ImageBuilder::new().layer(lower).layer(upper).build();
    reg.push_image("test/layers", "v1", &img);
    let b = Burrow::new();
    pull(&b, &reg.reference("test/layers", "v1"));
    let dirs = layer_dirs(&b, &reg.reference("test/layers", "v1"));
    assert_eq!(dirs.len(), 2);
    let (l, u) = (&dirs[0], &dirs[1]);

    assert_eq!(
        ns_stat(&b, &l.join("home/user/owned"), "%u:%g:%a"),
        "1000:1001:640"
    );
    assert_eq!(
        ns_stat(&b, &l.join("usr/bin/su-like"), "%u:%g:%a"),
        "0:0:4755"
    );
    assert_eq!(ns_stat(&b, &l.join("usr/bin/sgid"), "%a"), "2755");
    assert_eq!(ns_stat(&b, &l.join("tmp"), "%a"), "1777");
    assert_eq!(
        std::fs::read_link(l.join("etc/link")).unwrap(),
        PathBuf::from("../home/user/owned")
    );
    let (t, h) = (
        std::fs::metadata(l.join("etc/tagged")).unwrap(),
        std::fs::metadata(l.join("etc/hard")).unwrap(),
    );
    assert_eq!(t.ino(), h.ino(), "hardlink shares the inode");
    let x = rustix::fs::getxattr(l.join("etc/tagged"), "user.burrow.test", &mut [0u8; 64]).unwrap();
    assert_eq!(x, 5);

    // The whiteout is a 0/0 character device, the opaque dir carries user.overlay.opaque.
    let wh = std::fs::symlink_metadata(u.join("a/gone")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    assert!(!u.join("a/.wh.gone").exists());
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(u.join("d"), "user.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(!u.join("d/.wh..wh..opq").exists());

    // And the kernel agrees: mount the two layers with overlayfs in the user namespace.
    let mnt = tempfile::tempdir().unwrap();
    let m = mnt.path().display();
    let script = format!(
        "mount -t overlay overlay -o lowerdir={}:{},userxattr {m} && echo A && ls -A {m}/a && echo D && ls -A {m}/d && cat {m}/home/user/owned",
        u.display(),
        l.display(),
    );
    let out = b.ok(&["unshare", "unshare", "-m", "sh", "-c", &script]);
    assert_eq!(out, "A\nD\nnew\nmine");
}

#[test]
fn manifest_list_picks_the_platform() {
    require_unprivileged();
    let reg = Registry::start();
    let amd = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("arch", "amd64", 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .platform("linux/amd64")
        .build();
    let arm = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("arch", "arm64", 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .platform("linux/arm64/v8")
        .build();
    let (idx, _) = index(&[("linux/amd64", &amd), ("linux/arm64/v8", &arm)]);
    let idx_digest = reg.push_index("test/multi", "latest", &[&amd, &arm], &idx);
    let b = Burrow::new();
    let r = reg.reference("test/multi", "latest");

    let id = b.ok(&[
        "pull",
        "--tls-verify=false",
        "--platform",
        "linux/arm64",
        &r,
    ]);
    assert_eq!(id.trim(), arm.config_digest.trim_start_matches("sha256:"));
    let v = b.inspect_image(&r);
    assert_eq!(v["Architecture"], "arm64");
    // RepoDigests name the list the user pulled, as Docker does.
    assert_eq!(
        v["RepoDigests"][0],
        format!("{}/test/multi@{}", reg.host(), idx_digest).as_str()
    );

    let host_is_amd64 = std::env::consts::ARCH == "x86_64";
    let id = b.ok(&["pull", "--tls-verify=false", &r]);
    if host_is_amd64 {
        assert_eq!(id.trim(), amd.config_digest.trim_start_matches("sha256:"));
    }
    let err = b.fail(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--platform",
        "linux/s390x",
        &r,
    ]);
    assert!(
        err.contains("s390x") && err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err}");
}

#[test]
fn zstd_uncompressed_and_docker_schema2_layers() {
    require_unprivileged();
    let reg = Registry::start();
    let img = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("z", "zstd layer", 0o644, 0, 0)
                .finish(Compression::Zstd),
        )
        .layer(
            LayerBuilder::new()
                .file("p", "plain layer", 0o644, 0, 0)
                .finish(Compression::None),
        )
        .build();
    reg.push_image("test/zstd", "latest", &img);
    let docker = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("d", "docker", 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .docker_schema2()
        .build();
    reg.push_image("test/docker", "latest", &docker);
    let b = Burrow::new();
    pull(&b, &reg.reference("test/zstd", "latest"));
    let dirs = layer_dirs(&b, &reg.reference("test/zstd", "latest"));
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("z")).unwrap(),
        "zstd layer"
    );
    assert_eq!(
        std::fs::read_to_string(dirs[1].join("p")).unwrap(),
        "plain layer"
    );
    pull(&b, &reg.reference("test/docker", "latest"));
    let dirs = layer_dirs(&b, &reg.reference("test/docker", "latest"));
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("d")).unwrap(),
        "docker"
    );
}

#[test]
fn corrupted_blob_is_rejected_and_nothing_is_stored() {
    require_unprivileged();
    let reg = Registry::start();
    let img = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("data", vec![b'x'; 100_000], 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .build();
    reg.push_image("test/corrupt", "latest", &img);
    // Flip bytes of the stored blob, keeping its size.
    let path = reg.blob_data_path(&img.layers[0].digest);
    let mut data = std::fs::read(&path).unwrap();
    let n = data.len();
    for b in &mut data[n / 2..n / 2 + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&path, data).unwrap();

    let b = Burrow::new();
    let err = b.fail(&[
        "pull",
        "-q",
        "--tls-verify=false",
        &reg.reference("test/corrupt", "latest"),
    ]);
    assert!(
        err.contains(&img.layers[0].digest[7..19]) || err.contains(&img.layers[0].digest),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("digest") || err.contains("corrupt") || err.contains("invalid"),
        "{err}"
    );
    assert_eq!(image_count(&b), 0);
    assert!(
        b.stored("layers").is_empty(),
        "no layer stored: {:?}",
        b.stored("layers")
    );
    assert!(
        !b.root
            .path()
            .join("blobs/sha256")
            .join(&img.layers[0].digest[7..])
            .exists()
    );
}

/// Pushes a one-layer image made of `layer` and pulls it; returns the
/// pull's output.
fn pull_layer(b: &Burrow, reg: &Registry, name: &str, layer: LayerBuilder) -> std::process::Output {
    let img = ImageBuilder::new()
        .layer(layer.finish(Compression::Gzip))
        .build();
    reg.push_image(name, "latest", &img);
    b.run(&[
        "pull",
        "-q",
        "--tls-verify=false",
        &reg.reference(name, "latest"),
    ])
}

#[test]
fn hostile_layers_cannot_escape() {
    require_unprivileged();
    let reg = Registry::start();
    let b = Burrow::new();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::create_dir(&victim).unwrap();

    // `..` that climbs out of the layer: refused, naming the entry.
    let out = pull_layer(
        &b,
        &reg,
        "evil/dotdot",
        LayerBuilder::new().raw_entry(
            raw_header(b"../../escape", tar::EntryType::Regular, 4, 0o644),
            b"evil",
        ),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("escape"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(125));

    // An absolute path lands inside the layer.
    let out = pull_layer(
        &b,
        &reg,
        "evil/abs",
        LayerBuilder::new().raw_entry(
            raw_header(b"/abs-file", tar::EntryType::Regular, 4, 0o644),
            b"safe",
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dirs = layer_dirs(&b, &reg.reference("evil/abs", "latest"));
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("abs-file")).unwrap(),
        "safe"
    );

    // A symlink pointing out of the layer, then a write through it.
    let layer = LayerBuilder::new()
        .symlink("link", victim.to_str().unwrap())
        .file("link/pwned", "evil", 0o644, 0, 0);
    let _ = pull_layer(&b, &reg, "evil/symlink", layer);
    assert!(
        !victim.join("pwned").exists(),
        "wrote through a symlink out of the layer"
    );

    // A hardlink to a host file.
    let host_file = outside.path().join("secret");
    std::fs::write(&host_file, "secret").unwrap();
    let out = pull_layer(
        &b,
        &reg,
        "evil/hardlink",
        LayerBuilder::new().hardlink("stolen", host_file.to_str().unwrap()),
    );
    assert!(
        !out.status.success(),
        "a hardlink out of the layer must fail"
    );
    assert_eq!(std::fs::metadata(&host_file).unwrap().nlink(), 1);

    // Device nodes are skipped rootless.
    let out = pull_layer(
        &b,
        &reg,
        "evil/dev",
        LayerBuilder::new()
            .node("dev/sda", tar::EntryType::Block, 0o600, 8, 0)
            .file("ok", "ok", 0o644, 0, 0),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dirs = layer_dirs(&b, &reg.reference("evil/dev", "latest"));
    assert!(!dirs[0].join("dev/sda").exists());
    assert!(dirs[0].join("ok").exists());

    // A GNU long-name header claiming 2 GiB fails fast instead of allocating.
    let mut long = raw_header(
        b"././@LongLink",
        tar::EntryType::GNULongName,
        2 << 30,
        0o644,
    );
    long.set_cksum();
    let start = Instant::now();
    let out = pull_layer(
        &b,
        &reg,
        "evil/longname",
        LayerBuilder::new().raw_entry(long, b"aaaa"),
    );
    assert!(!out.status.success());
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        outside.path().read_dir().unwrap().count() == 2,
        "nothing new outside"
    );
}

#[test]
fn ids_outside_the_subordinate_range_fail_clearly_or_squash_when_asked() {
    require_unprivileged();
    let reg = Registry::start();
    let img = ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("far", "x", 0o644, 4_000_000, 0)
                .finish(Compression::Gzip),
        )
        .build();
    reg.push_image("test/farid", "latest", &img);
    let b = Burrow::new();
    let r = reg.reference("test/farid", "latest");
    let err = b.fail(&["pull", "-q", "--tls-verify=false", &r]);
    assert!(
        err.contains("4000000") && err.contains("usermod --add-subuids"),
        "{err}"
    );
    assert!(err.contains("far"), "names the file: {err}");
    assert_eq!(image_count(&b), 0);

    std::fs::create_dir_all(b.config_dir()).unwrap();
    std::fs::write(
        b.config_dir().join("config.toml"),
        "[storage]\nignore_chown_errors = true\n",
    )
    .unwrap();
    pull(&b, &r);
    let dirs = layer_dirs(&b, &r);
    assert_eq!(ns_stat(&b, &dirs[0].join("far"), "%u"), "65534");
}

/// Every entry of an unpacked layer as seen inside the user namespace:
/// path → "type mode uid gid size target".
fn walk_in_ns(b: &Burrow, dir: &Path) -> BTreeMap<String, String> {
    let out = b.ok(&[
        "unshare",
        "find",
        dir.to_str().unwrap(),
        "-mindepth",
        "1",
        "-printf",
        "%P\t%y %m %U %G %s %l\n",
    ]);
    out.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, rest)| {
            let mut fields: Vec<&str> = rest.split(' ').collect();
            // Directory sizes depend on the filesystem.
            if fields[0] == "d" || fields[0] == "l" {
                fields[4] = "-";
            }
            (p.to_string(), fields.join(" "))
        })
        .collect()
}

/// The same description computed from the layer tar itself. A hardlink is
/// a regular file with its target's attributes.
fn walk_tar(tar_bytes: &[u8]) -> BTreeMap<String, String> {
    let clean = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_string();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut ar = tar::Archive::new(tar_bytes);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let path = clean(&e.path().unwrap().to_string_lossy());
        if path.is_empty() {
            continue;
        }
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (uid, gid, mode) = (
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mode().unwrap() & 0o7777,
        );
        let desc = match h.entry_type() {
            tar::EntryType::Directory => format!("d {mode:o} {uid} {gid} - "),
            tar::EntryType::Symlink => format!("l 777 {uid} {gid} - {link}"),
            tar::EntryType::Link => out[&clean(&link)].clone(),
            _ => format!("f {mode:o} {uid} {gid} {} ", h.size().unwrap()),
        };
        out.insert(path, desc);
    }
    out
}

#[test]
fn skopeo_pushed_image_unpacks_identically_to_its_tars() {
    require_unprivileged();
    let reg = Registry::start();
    let extra = LayerBuilder::new()
        .dir("srv", 0o750, 1000, 1000)
        .file("srv/app.conf", "port=2141\n", 0o640, 1000, 1000)
        .file("srv/run", "#!/bin/sh\n", 0o4755, 0, 0)
        .symlink("srv/current", "app.conf")
        .hardlink("srv/again", "srv/app.conf")
        // Outside srv/, which only its owner (a sub-uid) may enter.
        .file("tagged", "x", 0o644, 0, 0)
        .xattr("tagged", "user.origin", "skopeo-test");
    let extra_layer = extra.finish(Compression::Gzip);
    let img = busybox_image(|b| b.layer(extra_layer.clone()));
    reg.push_with_skopeo("interop/app", "v1", &img);
    let b = Burrow::new();
    pull(&b, &reg.reference("interop/app", "v1"));
    let dirs = layer_dirs(&b, &reg.reference("interop/app", "v1"));
    assert_eq!(dirs.len(), 2);
    for (dir, layer) in dirs.iter().zip([busybox_layer(), &extra_layer]) {
        let got = walk_in_ns(&b, dir);
        let want = walk_tar(&layer.tar);
        assert_eq!(got, want, "layer {} differs from its tar", layer.digest);
    }
    // Contents, byte for byte, of every regular file of the extra layer.
    let sums = b.ok(&[
        "unshare",
        "sh",
        "-c",
        &format!("cd {} && sha256sum srv/app.conf srv/run", dirs[1].display()),
    ]);
    let want = format!(
        "{}  srv/app.conf\n{}  srv/run\n",
        &common::sha256_digest(b"port=2141\n")[7..],
        &common::sha256_digest(b"#!/bin/sh\n")[7..]
    );
    assert_eq!(sums, want);
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(dirs[1].join("tagged"), "user.origin", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"skopeo-test");
}

#[test]
fn basic_auth_from_flags_and_auth_files() {
    require_unprivileged();
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let img = busybox_image(|b| b);
    reg.push_image("private/app", "latest", &img);
    let b = Burrow::new();
    let r = reg.reference("private/app", "latest");

    let err = b.fail(&["pull", "-q", "--tls-verify=false", &r]);
    assert!(
        err.contains("login") || err.contains("credentials"),
        "{err}"
    );
    let err = b.fail(&[
        "pull",
        "-q",
        "--tls-verify=false",
        "--creds",
        "alice:wrong",
        &r,
    ]);
    assert!(err.contains(&reg.host()), "{err}");

    pull_with(&b, &["--creds", "alice:s3cret"], &r);
    b.ok(&["rmi", &r]);
    assert_eq!(image_count(&b), 0);

    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        b.auth_file(),
        format!(
            "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
            reg.host()
        ),
    )
    .unwrap();
    pull(&b, &r);
    assert_eq!(image_count(&b), 1);
}

fn pull_with(b: &Burrow, flags: &[&str], r: &str) -> String {
    let mut args = vec!["pull", "-q", "--tls-verify=false"];
    args.extend_from_slice(flags);
    args.push(r);
    b.ok(&args)
}

#[test]
fn parallel_pulls_share_layers_and_keep_the_store_consistent() {
    require_unprivileged();
    let reg = Registry::start();
    let a = busybox_image(|b| {
        b.layer(
            LayerBuilder::new()
                .file("a", vec![b'a'; 300_000], 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
    });
    let c = busybox_image(|b| {
        b.layer(
            LayerBuilder::new()
                .file("c", vec![b'c'; 300_000], 0o644, 0, 0)
                .finish(Compression::Zstd),
        )
    });
    reg.push_image("par/a", "latest", &a);
    reg.push_image("par/c", "latest", &c);
    let b = Burrow::new();
    let children: Vec<_> = (0..8)
        .map(|i| {
            let r = reg.reference(if i % 2 == 0 { "par/a" } else { "par/c" }, "latest");
            b.cmd(&["pull", "-q", "--tls-verify=false", &r])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(image_count(&b), 2);
    // busybox + one layer each: three layers, each unpacked once.
    assert_eq!(b.stored("layers").len(), 3, "{:?}", b.stored("layers"));
    let check = b.ok(&["system", "check"]);
    assert!(check.contains("OK    store"), "{check}");

    // Removing one image keeps the shared base layer for the other.
    b.ok(&["rmi", "par/a"]);
    assert_eq!(b.stored("layers").len(), 2);
    let dirs = layer_dirs(&b, "par/c");
    assert!(dirs[0].join("bin/busybox").exists());
}

#[test]
fn a_killed_pull_leaves_a_consistent_store_and_the_next_pull_finishes() {
    require_unprivileged();
    let reg = Registry::start();
    // Incompressible data so the download and unpack take a moment.
    let data = common::incompressible(48 << 20);
    let img = busybox_image(|b| {
        b.layer(
            LayerBuilder::new()
                .file("big1", &data[..24 << 20], 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("big2", &data[24 << 20..], 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
    });
    reg.push_image("big/app", "latest", &img);
    let b = Burrow::new();
    let r = reg.reference("big/app", "latest");

    let mut killed_mid_way = false;
    for delay_ms in [150u64, 400, 800] {
        let mut child = b
            .cmd(&["pull", "-q", "--tls-verify=false", &r])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        killed_mid_way |= !status.success();
        // Whatever was interrupted, the store reads consistently: no image
        // or the whole image, and every blob matches its digest.
        assert!(image_count(&b) <= 1);
        let check = b.ok(&["system", "check"]);
        assert!(check.contains("OK    store"), "{check}");
    }
    assert!(
        killed_mid_way,
        "at least one pull was killed before it finished"
    );
    let id = pull(&b, &r);
    assert_eq!(id, img.config_digest.trim_start_matches("sha256:"));
    let dirs = layer_dirs(&b, &r);
    assert_eq!(
        std::fs::metadata(dirs[2].join("big2")).unwrap().len(),
        24 << 20
    );
    let check = b.ok(&["system", "check"]);
    assert!(check.contains("OK    store"), "{check}");
    // Garbage collection removes what the killed pulls left in tmp/.
    b.ok(&["image", "prune", "-f"]);
    let leftovers = b.stored("tmp");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn tag_untag_and_remove() {
    require_unprivileged();
    let reg = Registry::start();
    let img = busybox_image(|b| b);
    reg.push_image("test/tags", "latest", &img);
    let b = Burrow::new();
    let r = reg.reference("test/tags", "latest");
    let id = pull(&b, &r);
    b.ok(&["tag", &r, "mine/app:v1", "other"]);
    let names = b.inspect_image(&id)["RepoTags"].clone();
    assert_eq!(
        names,
        serde_json::json!([r, "docker.io/mine/app:v1", "docker.io/library/other:latest"])
    );
    // An image with several names needs -f when removed by ID.
    let err = b.fail(&["rmi", &id[..12]]);
    assert!(err.contains("force"), "{err}");
    // Removing by name only untags.
    let out = b.ok(&["rmi", "other"]);
    assert_eq!(out.trim(), "Untagged: docker.io/library/other:latest");
    assert!(!b.stored("layers").is_empty());
    let out = b.ok(&["rmi", "-f", &id[..12]]);
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(image_count(&b), 0);
    assert!(
        b.stored("layers").is_empty(),
        "layers collected: {:?}",
        b.stored("layers")
    );
    let blobs = b.store_entries("blobs/sha256");
    assert!(blobs.is_empty(), "blobs collected: {blobs:?}");

    let out = b.run(&["rmi", "nosuchimage"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nosuchimage"));
}

#[test]
fn bad_references_and_unknown_images_fail_with_one_line() {
    require_unprivileged();
    let b = Burrow::new();
    for bad in ["Alpine", "a::b", "registry:5000/Repo", "app:bad tag", ""] {
        let out = b.run(&["pull", "--tls-verify=false", bad]);
        assert_eq!(out.status.code(), Some(125), "{bad:?}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: {err}");
    }
    let reg = Registry::start();
    let err = b.fail(&[
        "pull",
        "--tls-verify=false",
        &reg.reference("no/such", "latest"),
    ]);
    assert!(err.contains("no/such"), "{err}");
    let out = b.run(&["inspect", "nothing-here"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn system_check_reports_this_host() {
    require_unprivileged();
    let b = Burrow::new();
    let out = b.run(&["system", "check"]);
    let text = stdout(&out);
    for name in [
        "user namespaces",
        "newuidmap",
        "subuid",
        "overlay",
        "pasta",
        "store",
    ] {
        assert!(text.to_lowercase().contains(name), "missing {name}: {text}");
    }
    assert!(out.status.success(), "{text}");
    let info = b.ok_json(&["info", "--format", "json"]);
    assert_eq!(info["store"]["graphRoot"], b.root.path().to_str().unwrap());
}

#[path = "common/token_server.rs"]
mod token_server;

#[test]
fn bearer_token_flow_through_a_token_server() {
    require_unprivileged();
    let reg = Registry::start();
    let img = busybox_image(|b| b);
    reg.push_image("tok/app", "latest", &img);
    let upstream = format!("127.0.0.1:{}", reg.port).parse().unwrap();
    let proxy = token_server::TokenProxy::start(upstream, Some(("bob", "pw")));
    let b = Burrow::new();
    let r = format!("{}/tok/app:latest", proxy.host());

    let err = b.fail(&["pull", "-q", "--tls-verify=false", &r]);
    assert!(
        err.contains("login") || err.contains("credentials") || err.contains("401"),
        "{err}"
    );
    let id = pull_with(&b, &["--creds", "bob:pw"], &r);
    assert_eq!(id.trim(), img.config_digest.trim_start_matches("sha256:"));
    assert!(
        proxy
            .state
            .token_requests
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1
    );
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    require_unprivileged();
    let reg = Registry::start();
    let img = busybox_image(|b| b);
    reg.push_image("test/used", "latest", &img);
    let b = Burrow::new();
    let r = reg.reference("test/used", "latest");
    pull(&b, &r);
    b.ok(&["run", "--name", "keeper", &r, "true"]);

    let out = b.run(&["rmi", &r]);
    // Podman's status for an image in use.
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("in use by container") && err.contains("keeper"),
        "{err}"
    );
    assert_eq!(image_count(&b), 1);

    let out = b.ok(&["rmi", "-f", &r]);
    assert!(out.contains("Removed container: "), "{out}");
    assert!(
        out.contains(&format!(
            "Deleted: {}",
            img.config_digest.trim_start_matches("sha256:")
        )),
        "{out}"
    );
    assert_eq!(image_count(&b), 0);
    assert!(
        b.store_entries("containers")
            .iter()
            .all(|n| n.ends_with(".lock")),
        "{:?}",
        b.store_entries("containers")
    );
    assert!(b.stored("layers").is_empty());
}
