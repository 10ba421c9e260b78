//! Drop-in behaviour of the command line (issue 20): `-p` with the host's
//! network, `--network container:X` made before X runs, compressed `cp`
//! streams and `cp` between containers, ADD of xz and bzip2 archives,
//! `info --format` with Podman's names, `system df`, `network ls
//! --noheading`. Each used as a script would.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Output, Stdio};

use common::{Burrow, busybox_image, stderr, stdout};

fn pulled() -> (common::Registry, Burrow, String) {
    common::pulled("test/compatcli", &busybox_image(|i| i))
}

/// `burrow ARGS` with `input` (bytes) on standard input.
fn with_stdin(b: &Burrow, args: &[&str], input: &[u8]) -> Output {
    let mut child = b
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A tar holding `name` with `content`.
fn tar_of(name: &str, content: &str) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(content.len() as u64);
    t.append_data(&mut h, name, content.as_bytes()).unwrap();
    t.into_inner().unwrap()
}

/// `data` compressed as `kind` says (gzip, bzip2, xz, zstd).
fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        other => panic!("no compressor {other}"),
    }
}

/// Docker's way: the ports of the host's network are the host's already.
#[test]
fn publishing_on_the_hosts_network_warns_and_runs() {
    let (_reg, b, img) = pulled();
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "8080:80",
        &img,
        "echo",
        "ran",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ran\n");
    assert!(
        stderr(&o).contains("published ports are discarded when using host network mode"),
        "{}",
        stderr(&o)
    );
    // -P too; and the record publishes nothing.
    b.ok(&[
        "create",
        "--name",
        "h",
        "--network",
        "host",
        "-P",
        "-p",
        "80",
        &img,
        "true",
    ]);
    assert_eq!(b.ok(&["port", "h"]), "");
    // Other modes without a helper still refuse -p.
    let o = b.run(&["run", "--rm", "--network", "none", "-p", "80", &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
}

/// `create --network container:X` before X runs; `start` wants it running.
#[test]
fn a_shared_network_is_joined_at_start() {
    let (_reg, b, img) = pulled();
    b.ok(&["create", "--name", "web", &img, "sleep", "60"]);
    b.ok(&[
        "create",
        "--name",
        "side",
        "--network",
        "container:web",
        &img,
        "sleep",
        "60",
    ]);
    let o = b.run(&["start", "side"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("container web, whose network this one shares, is not running"),
        "{}",
        stderr(&o)
    );
    b.ok(&["start", "web"]);
    b.ok(&["start", "side"]);
    let ns = |c: &str| b.ok(&["exec", c, "readlink", "/proc/self/ns/net"]);
    assert_eq!(ns("side"), ns("web"));
    // A container that does not exist is still refused at create.
    let o = b.run(&["create", "--network", "container:nosuch", &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
    b.ok(&["rm", "-f", "side", "web"]);
}

/// `cp - CTR:DIR` takes what `tar czf -`, `tar cjf -`, `tar cJf -` and
/// `tar --zstd -cf -` write.
#[test]
fn cp_takes_compressed_tar_streams() {
    let (_reg, b, img) = pulled();
    b.ok(&["run", "-d", "--name", "box", &img, "sleep", "60"]);
    b.ok(&["exec", "box", "mkdir", "/in"]);
    for kind in ["plain", "gzip", "bzip2", "xz", "zstd"] {
        let tar = tar_of(&format!("{kind}.txt"), &format!("from {kind}\n"));
        let stream = if kind == "plain" {
            tar
        } else {
            compress(kind, &tar)
        };
        let o = with_stdin(&b, &["cp", "-", "box:/in"], &stream);
        assert_eq!(o.status.code(), Some(0), "{kind}: {}", stderr(&o));
        let got = b.ok(&["exec", "box", "cat", &format!("/in/{kind}.txt")]);
        assert_eq!(got, format!("from {kind}\n"));
    }
    // A stream that is no tar at all is one line of error.
    let o = with_stdin(&b, &["cp", "-", "box:/in"], &compress("xz", b"not a tar"));
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    b.ok(&["rm", "-f", "box"]);
}

/// `cp CTR1:SRC CTR2:DST` lands as a copy from the host does, running or
/// stopped on either side.
#[test]
fn cp_copies_between_containers() {
    let (_reg, b, img) = pulled();
    b.ok(&["run", "-d", "--name", "a", &img, "sleep", "60"]);
    b.ok(&[
        "exec",
        "a",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo one > /data/f && echo two > /data/sub/g && chown 1234:2345 /data/f",
    ]);
    // b is stopped: it shows what landed when it runs.
    b.ok(&[
        "create",
        "--name",
        "b",
        &img,
        "sh",
        "-c",
        "cat /tmp/data/f /tmp/data/sub/g /tmp/renamed; stat -c %u:%g /tmp/renamed /tmp/owned",
    ]);
    b.ok(&["cp", "a:/data", "b:/tmp/"]);
    b.ok(&["cp", "a:/data/f", "b:/tmp/renamed"]);
    b.ok(&["cp", "-a", "a:/data/f", "b:/tmp/owned"]);
    b.ok(&["start", "b"]);
    b.ok(&["wait", "b"]);
    assert_eq!(b.ok(&["logs", "b"]), "one\ntwo\none\n0:0\n1234:2345\n");
    // Into a running container, from a stopped one.
    b.ok(&["cp", "b:/tmp/renamed", "a:/back"]);
    assert_eq!(b.ok(&["exec", "a", "cat", "/back"]), "one\n");
    // What is missing in the source is named.
    let o = b.run(&["cp", "a:/nope", "b:/tmp/"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("/nope"), "{}", stderr(&o));
    let o = b.run(&["cp", "a:/data", "nosuch:/tmp/"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("no such container"), "{}", stderr(&o));
    b.ok(&["rm", "-f", "a", "b"]);
}

/// ADD extracts xz and bzip2 archives as it does gzip and zstd ones.
#[test]
fn build_add_extracts_xz_and_bzip2() {
    let (_reg, b, img) = pulled();
    let ctx = tempfile::tempdir().unwrap();
    for (kind, file) in [
        ("xz", "a.tar.xz"),
        ("bzip2", "b.tar.bz2"),
        ("gzip", "c.tgz"),
        ("zstd", "d.tar.zst"),
    ] {
        let tar = tar_of(&format!("{kind}.txt"), &format!("{kind} inside\n"));
        fs::write(ctx.path().join(file), compress(kind, &tar)).unwrap();
    }
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {img}\nADD a.tar.xz b.tar.bz2 c.tgz d.tar.zst /x/\n"),
    )
    .unwrap();
    b.ok(&[
        "build",
        "--network",
        "none",
        "-t",
        "adds",
        &ctx.path().display().to_string(),
    ]);
    let got = b.ok(&[
        "run",
        "--rm",
        "adds",
        "sh",
        "-c",
        "cat /x/xz.txt /x/bzip2.txt /x/gzip.txt /x/zstd.txt",
    ]);
    assert_eq!(got, "xz inside\nbzip2 inside\ngzip inside\nzstd inside\n");
}

/// `info --format` takes Podman's field names; `--format json` has
/// Podman's shape where burrow has the fact.
#[test]
fn info_answers_podmans_fields() {
    common::require_unprivileged();
    let b = Burrow::new();
    let p = common::podman::Podman::new();
    let field = |t: &str| b.ok(&["info", "--format", t]).trim().to_string();
    assert_eq!(field("{{.Host.OCIRuntime.Name}}"), "burrow");
    assert_eq!(
        field("{{.Store.GraphRoot}}"),
        b.root.path().display().to_string()
    );
    assert!(
        ["overlay", "fuse-overlayfs", "vfs"]
            .contains(&field("{{.Store.GraphDriverName}}").as_str())
    );
    assert_eq!(field("{{.Version.Version}}"), env!("CARGO_PKG_VERSION"));
    // No systemd as PID 1 on these machines: cgroupfs, as Podman says.
    let pid1 = fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() != "systemd" {
        assert_eq!(field("{{.Host.CgroupManager}}"), "cgroupfs");
    }
    // Where both tell the same fact, they print it the same.
    for t in [
        "{{.Host.LogDriver}}",
        "{{.Store.GraphOptions}}",
        "{{.Host.Security.Rootless}}",
        "{{.Host.Arch}}",
        "{{.Host.OS}}",
        "{{.Host.Kernel}}",
    ] {
        assert_eq!(field(t), p.ok(&["info", "--format", t]).trim(), "{t}");
    }
    // The JSON has Podman's paths to the same facts.
    let ours = b.ok_json(&["info", "--format", "json"]);
    let theirs: serde_json::Value =
        serde_json::from_str(&p.ok(&["info", "--format", "json"])).unwrap();
    for path in [
        "/host/ociRuntime/name",
        "/host/cgroupManager",
        "/host/logDriver",
        "/host/security/rootless",
        "/host/arch",
        "/host/kernel",
        "/host/distribution/distribution",
        "/store/graphRoot",
        "/store/graphDriverName",
        "/store/graphOptions",
        "/store/imageStore/number",
        "/store/containerStore/number",
        "/version/Version",
        "/version/OsArch",
    ] {
        assert!(theirs.pointer(path).is_some(), "podman lacks {path}");
        assert!(
            ours.pointer(path).is_some(),
            "burrow lacks {path}: {ours:#}"
        );
    }
    assert_eq!(ours["host"]["security"]["rootless"], true);
}

/// `system df` lists what Podman's does, under its columns.
#[test]
fn system_df_has_podmans_columns() {
    let (reg, b, img) = pulled();
    let p = common::podman::Podman::new();
    p.ok(&["pull", "-q", "--tls-verify=false", &img]);
    let _keep = reg;
    let create = ["create", "--name", "c", &img, "true"];
    b.ok(&create);
    p.ok(&create);
    let both = |args: &[&str]| (b.ok(args), p.ok(args));
    let columns = |table: &str| -> Vec<Vec<String>> {
        table
            .lines()
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect()
            })
            .collect()
    };
    let (ours, theirs) = both(&["system", "df"]);
    let (ours, theirs) = (columns(&ours), columns(&theirs));
    assert_eq!(ours[0], theirs[0], "the header");
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs).skip(1) {
        assert_eq!(o[..3], t[..3], "type, total, active");
    }
    let t = "{{.Type}}:{{.Total}}:{{.Active}}";
    let (ours, theirs) = both(&["system", "df", "--format", t]);
    assert_eq!(ours, theirs);
    assert_eq!(ours, "Images:1:1\nContainers:1:0\nLocal Volumes:0:0\n");
    // Sizes: the image's layers, with its share to reclaim.
    let size = b.ok(&["system", "df", "--format", "{{.Size}} {{.Reclaimable}}"]);
    let first = size.lines().next().unwrap();
    assert!(
        first.ends_with(" (0%)") && !first.starts_with("0B"),
        "{size}"
    );
    let json = b.ok_json(&["system", "df", "--format", "json"]);
    assert_eq!(json[0]["Type"], "Images");
    assert!(json[0]["RawSize"].as_u64().unwrap() > 0);
    // -v: the same sections and columns as Podman's.
    let (ours, theirs) = both(&["system", "df", "-v"]);
    let heads = |s: &str| -> Vec<Vec<String>> {
        let lines: Vec<&str> = s.lines().collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if l.ends_with("space usage:") {
                out.push(vec![l.to_string()]);
                out.extend(columns(lines.get(i + 2).copied().unwrap_or("")));
            }
        }
        out
    };
    assert_eq!(heads(&ours), heads(&theirs), "{ours}\n{theirs}");
    assert!(ours.contains(" c\n") || ours.ends_with(" c"), "{ours}");
    let o = b.run(&["system", "df", "-v", "--format", "json"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
}

/// `network ls --noheading`, as Podman spells it.
#[test]
fn network_ls_takes_noheading() {
    common::require_unprivileged();
    let b = Burrow::new();
    b.ok(&["network", "create", "n1"]);
    let table = b.ok(&["network", "ls"]);
    assert!(table.starts_with("NETWORK ID"), "{table}");
    let rows = b.ok(&["network", "ls", "--noheading"]);
    assert_eq!(rows.lines().count(), table.lines().count() - 1, "{rows}");
    assert!(
        rows.contains("n1") && !rows.contains("NETWORK ID"),
        "{rows}"
    );
    let names = b.ok(&[
        "network",
        "ls",
        "--noheading",
        "--format",
        "table {{.Name}}",
    ]);
    assert!(!names.contains("NAME"), "{names}");
    b.ok(&["network", "rm", "n1"]);
}
