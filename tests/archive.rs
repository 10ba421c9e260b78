//! `save`, `load`, `import`, `export` and `history`, end to end: images
//! pulled from a real docker-registry on 127.0.0.1, archives exchanged with
//! Podman, run as an unprivileged user.

mod common;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use common::podman::Podman;
use common::{Burrow, busybox_image, busybox_layer, pulled, stderr, stdout};
use serde_json::Value;

fn image_id(b: &Burrow, name: &str) -> String {
    let out = b.ok(&["image", "inspect", "--format", "{{.Id}}", name]);
    out.trim().to_string()
}

fn ids(b: &Burrow) -> Vec<String> {
    let mut v: Vec<String> = b
        .ok(&["images", "-q", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// `burrow ARGS < file`, which must succeed; returns stdout.
fn ok_with_stdin(b: &Burrow, args: &[&str], file: &Path) -> String {
    let out = b
        .cmd(args)
        .stdin(File::open(file).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "burrow {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// Names and contents of the regular files of a tar archive.
fn tar_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(File::open(path).expect("open archive"));
    let mut out = Vec::new();
    for e in a.entries().expect("a tar") {
        let mut e = e.expect("entry");
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn file_of(entries: &[(String, Vec<u8>)], name: &str) -> Vec<u8> {
    entries
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| {
            panic!(
                "{name} not in the archive: {:?}",
                entries.iter().map(|e| &e.0).collect::<Vec<_>>()
            )
        })
        .1
        .clone()
}

#[test]
fn save_rmi_load_run_keeps_the_image_id() {
    let (_reg, b, img) = pulled("test/save", &busybox_image(|i| i));
    let id = image_id(&b, &img);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("img.tar");
    b.ok(&["save", "-q", "-o", archive.to_str().unwrap(), &img]);

    let entries = tar_entries(&archive);
    let manifest: Value = serde_json::from_slice(&file_of(&entries, "manifest.json")).unwrap();
    assert_eq!(manifest[0]["RepoTags"][0], img.as_str());
    let config = manifest[0]["Config"].as_str().unwrap();
    assert_eq!(format!("sha256:{}", config.trim_end_matches(".json")), id);
    // Layers are plain tars.
    let layer = file_of(&entries, manifest[0]["Layers"][0].as_str().unwrap());
    assert_eq!(&layer[257..262], b"ustar");
    assert!(entries.iter().any(|(n, _)| n == "repositories"));
    assert!(
        !dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".burrow-")),
        "no temporary file is left beside the archive"
    );

    b.ok(&["rmi", &img]);
    assert!(ids(&b).is_empty());
    let out = b.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("Loaded image: {img}"));
    assert_eq!(image_id(&b, &img), id);
    b.ok(&["run", "--rm", &img, "true"]);

    // Standard output, and load from standard input; loading again is harmless.
    let streamed = dir.path().join("streamed.tar");
    let status = b
        .cmd(&["save", &img])
        .stdout(File::create(&streamed).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let out = ok_with_stdin(&b, &["load", "-q"], &streamed);
    assert_eq!(out.trim(), format!("Loaded image: {img}"));
    assert_eq!(ids(&b), vec![id]);
}

#[test]
fn gzip_compressed_archives_and_untagged_images_load() {
    let (_reg, b, img) = pulled("test/gz", &busybox_image(|i| i));
    let id = image_id(&b, &img);
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("img.tar");
    // Saved by ID: the image's names go with it.
    b.ok(&["save", "-q", "-o", plain.to_str().unwrap(), &id[7..19]]);
    let gz = dir.path().join("img.tar.gz");
    let mut enc =
        flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::copy(&mut File::open(&plain).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    b.ok(&["rmi", &img]);
    let out = b.ok(&["load", "-q", "-i", gz.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("Loaded image: {img}"));

    // An archive without names loads as an untagged image.
    let b2 = Burrow::new();
    let entries = tar_entries(&plain);
    let mut manifest: Value = serde_json::from_slice(&file_of(&entries, "manifest.json")).unwrap();
    manifest[0]["RepoTags"] = Value::Null;
    let untagged = dir.path().join("untagged.tar");
    let mut t = tar::Builder::new(File::create(&untagged).unwrap());
    for (name, data) in &entries {
        let data = if name == "manifest.json" {
            serde_json::to_vec(&manifest).unwrap()
        } else {
            data.clone()
        };
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        t.append_data(&mut h, name, &data[..]).unwrap();
    }
    t.finish().unwrap();
    drop(t);
    let out = b2.ok(&["load", "-q", "-i", untagged.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("Loaded image: {id}"));
    b2.ok(&["run", "--rm", &id, "true"]);
}

#[test]
fn oci_archive_round_trip() {
    let (_reg, b, img) = pulled("test/oci", &busybox_image(|i| i));
    let id = image_id(&b, &img);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("img.oci.tar");
    b.ok(&[
        "save",
        "-q",
        "--format",
        "oci-archive",
        "-o",
        archive.to_str().unwrap(),
        &img,
    ]);
    let entries = tar_entries(&archive);
    assert!(entries.iter().any(|(n, _)| n == "oci-layout"));
    let index: Value = serde_json::from_slice(&file_of(&entries, "index.json")).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        img.as_str()
    );
    // The stored blobs, as they are: the layer is the registry's gzip blob.
    let layer = &busybox_layer().digest;
    assert_eq!(
        file_of(&entries, &format!("blobs/sha256/{}", &layer[7..])),
        busybox_layer().blob
    );

    b.ok(&["rmi", &img]);
    let out = b.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    assert_eq!(out.trim(), format!("Loaded image: {img}"));
    assert_eq!(image_id(&b, &img), id);
    b.ok(&["run", "--rm", &img, "true"]);
}

#[test]
fn several_images_in_one_docker_archive() {
    let (reg, b, img) = pulled("test/multi-a", &busybox_image(|i| i));
    reg.push_image(
        "test/multi-b",
        "latest",
        &busybox_image(|i| i.env("WHO=b").cmd(&["sh", "-c", "echo $WHO"])),
    );
    let img_b = reg.reference("test/multi-b", "latest");
    b.ok(&["pull", "-q", "--tls-verify=false", &img_b]);
    let (id_a, id_b) = (image_id(&b, &img), image_id(&b, &img_b));
    assert_ne!(id_a, id_b);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("two.tar");
    b.ok(&[
        "image",
        "save",
        "-q",
        "-o",
        archive.to_str().unwrap(),
        &img,
        &img_b,
    ]);
    let entries = tar_entries(&archive);
    // The shared layer is written once.
    let layers = entries.iter().filter(|(n, _)| n.ends_with(".tar")).count();
    assert_eq!(layers, 1);

    let b2 = Burrow::new();
    let out = b2.ok(&["image", "load", "-q", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image: {img}\nLoaded image: {img_b}\n"));
    assert_eq!(image_id(&b2, &img), id_a);
    assert_eq!(image_id(&b2, &img_b), id_b);
    assert_eq!(b2.ok(&["run", "--rm", &img_b]).trim(), "b");
}

#[test]
fn what_is_not_an_image_archive_is_refused_and_nothing_is_stored() {
    let (_reg, b, _img) = pulled("test/bad", &busybox_image(|i| i));
    let before = ids(&b);
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "just some text, certainly not a tar archive\n".repeat(20),
    )
    .unwrap();
    let plain_tar = dir.path().join("files.tar");
    {
        let mut t = tar::Builder::new(File::create(&plain_tar).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o644);
        t.append_data(&mut h, "hello.txt", &b"hi\n"[..]).unwrap();
        t.finish().unwrap();
    }
    // A docker-archive whose layer is not the one its config names.
    let wrong_layer = dir.path().join("wrong.tar");
    {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]}}"#;
        let manifest = br#"[{"Config":"c.json","RepoTags":["evil:latest"],"Layers":["l.tar"]}]"#;
        let mut t = tar::Builder::new(File::create(&wrong_layer).unwrap());
        for (name, data) in [
            ("c.json", &config[..]),
            ("l.tar", &busybox_layer().tar[..]),
            ("manifest.json", &manifest[..]),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            t.append_data(&mut h, name, data).unwrap();
        }
        t.finish().unwrap();
    }
    let layers_before = std::fs::read_dir(b.root.path().join("layers"))
        .unwrap()
        .count();
    for (file, says) in [
        (&text, "not an image archive"),
        (&plain_tar, "neither manifest.json"),
        (&wrong_layer, "does not belong to this image"),
    ] {
        let out = b.run(&["load", "-q", "-i", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "{err}");
        assert!(out.stdout.is_empty());
        assert_eq!(ids(&b), before);
    }
    let layers_after = std::fs::read_dir(b.root.path().join("layers"))
        .unwrap()
        .count();
    assert_eq!(
        layers_before, layers_after,
        "the refused layer was removed again"
    );
    assert!(
        b.fail(&["save", "-o", "/nonexistent-dir/x.tar", "nothing-here"])
            .contains("nothing-here")
    );
}

#[test]
fn import_with_changes_runs_and_history_shows_it() {
    let (_reg, b, _img) = pulled("test/imp", &busybox_image(|i| i));
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("rootfs.tar.gz");
    std::fs::write(&tarball, &busybox_layer().blob).unwrap();
    let out = b.ok(&[
        "import",
        "-c",
        r#"CMD ["/bin/sh","-c","echo hi $GREETING"]"#,
        "-c",
        "ENV GREETING=there",
        "-m",
        "from a tarball",
        tarball.to_str().unwrap(),
        "imported:v1",
    ]);
    let id = out.trim();
    assert_eq!(id.len(), 64, "{out}");
    assert_eq!(b.ok(&["run", "--rm", "imported:v1"]).trim(), "hi there");
    assert_eq!(image_id(&b, "imported:v1"), format!("sha256:{id}"));

    let history = b.ok(&["history", "imported:v1"]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{history}");
    assert!(lines[0].contains("CREATED BY") && lines[0].contains("COMMENT"));
    assert_eq!(lines.len(), 2, "{history}");
    assert!(
        lines[1].starts_with(&id[..12]) && lines[1].contains("from a tarball"),
        "{history}"
    );
    let json = b.ok_json(&["image", "history", "--format", "json", "imported:v1"]);
    assert_eq!(json[0]["id"], id);
    assert!(json[0]["size"].as_u64().unwrap() > 100_000);
    assert_eq!(b.ok(&["history", "-q", "imported:v1"]).trim(), &id[..12]);
    assert_eq!(
        b.ok(&["history", "--format", "{{.Comment}}", "imported:v1"])
            .trim(),
        "from a tarball"
    );

    // From standard input, and a bad change refused before anything is stored.
    ok_with_stdin(&b, &["import", "-", "stdin-import"], &tarball);
    let before = ids(&b);
    let err = b.fail(&["import", "-c", "RUN rm -rf /", tarball.to_str().unwrap()]);
    assert!(err.contains("RUN cannot be applied"), "{err}");
    assert_eq!(ids(&b), before);

    // From a URL on the loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let blob = busybox_layer().blob.clone();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::Write;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                blob.len()
            );
            let _ = s.write_all(&blob);
        }
    });
    let url = format!("http://127.0.0.1:{port}/rootfs.tar.gz");
    b.ok(&["import", "-c", "CMD echo from-url", &url, "from-url"]);
    assert_eq!(b.ok(&["run", "--rm", "from-url"]).trim(), "from-url");
}

#[test]
fn history_lists_the_layers_of_a_pulled_image() {
    let image = busybox_image(|i| {
        i.layer(common::LayerBuilder::new().file("app/x", b"x", 0o644, 0, 0).finish(common::Compression::Gzip))
            .edit_config(|c| {
                c["history"] = serde_json::json!([
                    {"created": "2024-01-01T00:00:00Z", "created_by": "ADD busybox /"},
                    {"created": "2024-01-01T00:00:01Z", "created_by": "ENV PATH=/bin", "empty_layer": true},
                    {"created": "2024-01-01T00:00:02Z", "created_by": "COPY x /app/x", "comment": "step 3"},
                ]);
            })
    });
    let (_reg, b, img) = pulled("test/hist", &image);
    let out = b.ok(&[
        "history",
        "--format",
        "{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
        &img,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("COPY x /app/x|") && lines[0].ends_with("|step 3"),
        "{out}"
    );
    assert_eq!(lines[1], "ENV PATH=/bin|0 B|");
    assert!(
        lines[2].starts_with("ADD busybox /|") && lines[2].contains("MB"),
        "{out}"
    );
    let q = b.ok(&["history", "-q", "--no-trunc", &img]);
    assert_eq!(
        q.lines().collect::<Vec<_>>(),
        vec![image_id(&b, &img).as_str(), "<missing>", "<missing>"]
    );
}

#[test]
fn export_writes_the_root_without_mounted_content() {
    let (_reg, b, img) = pulled("test/exp", &busybox_image(|i| i));
    b.ok(&[
        "run",
        "--name",
        "done",
        &img,
        "sh",
        "-c",
        "echo written > /made-here",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("rootfs.tar");
    b.ok(&["export", "-o", out_file.to_str().unwrap(), "done"]);
    let entries = tar_entries(&out_file);
    assert_eq!(file_of(&entries, "made-here"), b"written\n");
    assert!(entries.iter().any(|(n, _)| n == "bin/busybox"));
    assert!(
        !entries
            .iter()
            .any(|(n, _)| n.starts_with("proc/") || n.starts_with("sys/") || n.starts_with("dev/"))
    );

    // A running container, to standard output: its namespaces are joined,
    // /proc is mounted there but left out.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        &img,
        "sh",
        "-c",
        "echo alive > /tmp/state; sleep 60",
    ]);
    let mut tries = 0;
    let streamed = dir.path().join("live.tar");
    loop {
        let status = b
            .cmd(&["container", "export", "live"])
            .stdout(File::create(&streamed).unwrap())
            .status()
            .unwrap();
        assert!(status.success());
        let entries = tar_entries(&streamed);
        if entries.iter().any(|(n, _)| n == "tmp/state") || tries > 50 {
            assert_eq!(file_of(&entries, "tmp/state"), b"alive\n");
            assert!(entries.iter().any(|(n, _)| n == "proc"));
            assert!(!entries.iter().any(|(n, _)| n.starts_with("proc/")));
            break;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    b.ok(&["rm", "-f", "live"]);

    // export | import gives an image that runs.
    b.ok(&[
        "import",
        "-c",
        "CMD cat /made-here",
        out_file.to_str().unwrap(),
        "reimported",
    ]);
    assert_eq!(b.ok(&["run", "--rm", "reimported"]).trim(), "written");
    // A terminal is refused only when stdout is one; a missing container is an error.
    assert!(
        b.fail(&["export", "-o", out_file.to_str().unwrap(), "nope"])
            .contains("nope")
    );
}

#[test]
fn a_burrow_archive_loads_and_runs_in_podman() {
    let (_reg, b, img) = pulled("test/topodman", &busybox_image(|i| i));
    let id = image_id(&b, &img);
    let p = Podman::new();
    let archive = p.path("burrow.tar");
    b.ok(&["save", "-q", "-o", archive.to_str().unwrap(), &img]);
    let out = p.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains(&img), "{out}");
    assert_eq!(
        p.ok(&["image", "inspect", "--format", "{{.Id}}", &img])
            .trim(),
        &id[7..]
    );
    let run = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "echo from-podman",
    ]);
    assert!(
        run.status.success() && stdout(&run).trim() == "from-podman",
        "podman run of the loaded image: {}",
        stderr(&run)
    );
}

#[test]
fn a_podman_archive_loads_and_runs_in_burrow() {
    let (reg, _b, img) = pulled(
        "test/frompodman",
        &busybox_image(|i| i.cmd(&["echo", "made-by-podman"])),
    );
    let p = Podman::new();
    p.ok(&["pull", "-q", "--tls-verify=false", &img]);
    let podman_id = p
        .ok(&["image", "inspect", "--format", "{{.Id}}", &img])
        .trim()
        .to_string();
    let archive = p.path("podman.tar");
    p.ok(&["save", "-q", "-o", archive.to_str().unwrap(), &img]);
    let oci = p.path("podman-oci.tar");
    p.ok(&[
        "save",
        "-q",
        "--format",
        "oci-archive",
        "-o",
        oci.to_str().unwrap(),
        &img,
    ]);
    drop(reg);

    let b = Burrow::new();
    let out = b.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {img}")), "{out}");
    assert_eq!(image_id(&b, &img), format!("sha256:{podman_id}"));
    assert_eq!(b.ok(&["run", "--rm", &img]).trim(), "made-by-podman");

    let b2 = Burrow::new();
    let out = b2.ok(&["load", "-q", "-i", oci.to_str().unwrap()]);
    assert!(out.starts_with("Loaded image: "), "{out}");
    assert_eq!(
        b2.ok(&["images", "-q", "--no-trunc"]).trim(),
        format!("sha256:{podman_id}")
    );
    assert_eq!(
        b2.ok(&["run", "--rm", &format!("sha256:{podman_id}")])
            .trim(),
        "made-by-podman"
    );
}
