//! Volumes end to end as the unprivileged user: named and anonymous
//! volumes, Docker's copy-up, nocopy and :U, --volumes-from, tmpfs and
//! bound-device volumes, keep-id, export/import, removal rules, many
//! containers at once, and bad input.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{Burrow, Compression, LayerBuilder, Registry, busybox_image, stderr, stdout};

fn busybox() -> (Registry, Burrow, String) {
    common::pulled("test/volumes", &busybox_image(|i| i))
}

/// The store's volumes, as `volume ls -q` lists them.
fn volumes(b: &Burrow) -> Vec<String> {
    b.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// What the store's volumes directory holds besides its lock: one
/// directory per volume, no leftovers of creations or removals.
fn volume_dirs(b: &Burrow) -> Vec<String> {
    let mut v = b.stored("volumes");
    v.sort();
    v
}

fn is_anonymous_name(n: &str) -> bool {
    n.len() == 64 && n.bytes().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn a_named_volume_is_shared_survives_rm_and_is_refused_removal_while_used() {
    let (_reg, b, img) = busybox();
    // Made by the first run that names it.
    b.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/d",
        &img,
        "sh",
        "-c",
        "echo hello > /d/f",
    ]);
    assert_eq!(
        b.ok(&[
            "run",
            "--name",
            "reader",
            "-v",
            "data:/srv:ro",
            &img,
            "cat",
            "/srv/f"
        ]),
        "hello\n"
    );
    let ls = b.ok(&["volume", "ls"]);
    let mut lines = ls.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["DRIVER", "VOLUME", "NAME"], "{ls}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row, ["local", "data"]);
    // Docker's inspect shape.
    let v = &b.ok_json(&["volume", "inspect", "data"])[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert!(v["CreatedAt"].as_str().unwrap().contains('T'), "{v}");
    assert!(v["Labels"].is_object() && v["Options"].is_object(), "{v}");
    let mountpoint = v["Mountpoint"].as_str().unwrap().to_string();
    assert!(mountpoint.ends_with("/volumes/data/_data"), "{mountpoint}");
    assert_eq!(
        b.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"])
            .trim(),
        mountpoint
    );
    let mounts = &b.inspect_container("reader")["Mounts"][0];
    assert_eq!(mounts["Type"], "volume");
    assert_eq!(mounts["Name"], "data");
    assert_eq!(mounts["RW"], false);
    // In use: refused, naming both containers, exit 125.
    let o = b.run(&["volume", "rm", "data"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("writer") && err.contains("reader") && err.contains("volume rm -f"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // system df counts it: one volume, in use, the 6 bytes written.
    let df = b.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}:{{.TotalCount}}:{{.Active}}:{{.RawSize}}:{{.RawReclaimable}}",
    ]);
    assert!(df.contains("Local Volumes:1:1:6:0\n"), "{df}");
    // Containers go (rm -v too): the named volume and its data stay.
    b.ok(&["rm", "writer"]);
    b.ok(&["rm", "-v", "reader"]);
    assert_eq!(volumes(&b), ["data"]);
    let df = b.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}:{{.Active}}:{{.RawReclaimable}}",
    ]);
    assert!(df.contains("Local Volumes:0:6\n"), "{df}");
    assert_eq!(
        b.run_rm_ok(&["-v", "data:/d"], &img, &["cat", "/d/f"]),
        "hello\n"
    );
    // -f removes the containers that use it first, as Podman does.
    b.ok(&[
        "run", "-d", "--name", "holder", "-v", "data:/d", &img, "sleep", "600",
    ]);
    assert_eq!(b.ok(&["volume", "rm", "-f", "data"]), "data\n");
    assert!(b.fail(&["inspect", "holder"]).contains("holder"));
    assert!(volumes(&b).is_empty());
    // No such volume: rm exits 1 and inspect 125, as Podman's do.
    for (cmd, code) in [
        (&["volume", "rm", "data"][..], 1),
        (&["volume", "inspect", "data"], 125),
    ] {
        let o = b.run(cmd);
        assert_eq!(o.status.code(), Some(code), "{cmd:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("no such volume data"), "{}", stderr(&o));
    }
    assert_eq!(b.run(&["volume", "exists", "data"]).status.code(), Some(1));
    assert_eq!(volume_dirs(&b), Vec::<String>::new());
}

/// An image whose non-root user owns /data (0750) with a file in it.
fn app_image() -> common::Image {
    busybox_image(|i| {
        i.layer(
            LayerBuilder::new()
                .dir("data", 0o750, 1000, 1000)
                .file("data/seed", "from the image\n", 0o640, 1000, 1000)
                .symlink("data/link", "seed")
                .dir("srv", 0o755, 0, 0)
                .finish(Compression::Gzip),
        )
        .user("1000:1000")
    })
}

#[test]
fn copy_up_keeps_owner_and_mode_and_nocopy_and_u_do_what_they_say() {
    let (_reg, b, img) = common::pulled("test/volapp", &app_image());
    let stat = "stat -c '%u:%g %a' /data /data/seed; readlink /data/link; cat /data/seed; \
                echo mine > /data/new && stat -c '%u:%g' /data/new";
    assert_eq!(
        b.run_rm_ok(&["-v", "app:/data"], &img, &["sh", "-c", stat]),
        "1000:1000 750\n1000:1000 640\nseed\nfrom the image\n1000:1000\n"
    );
    // Once: what the volume holds now is kept, the image's content is not
    // copied again.
    b.run_rm_ok(&["-v", "app:/data"], &img, &["rm", "/data/seed"]);
    assert_eq!(
        b.run_rm_ok(&["-v", "app:/data"], &img, &["ls", "/data"]),
        "link\nnew\n"
    );
    // The same through --mount, and read-only with --read-only.
    assert_eq!(
        b.run_rm_ok(
            &["--read-only", "--mount", "type=volume,src=app2,dst=/data"],
            &img,
            &["cat", "/data/seed"]
        ),
        "from the image\n"
    );
    // nocopy: the volume stays empty (and root's), so the user cannot
    // write in it.
    for opts in [
        vec!["-v", "empty:/data:nocopy"],
        vec!["--mount", "type=volume,src=empty2,dst=/data,volume-nocopy"],
    ] {
        let o = b.run_rm(&opts, &img, &["sh", "-c", "ls -A /data; touch /data/x"]);
        assert_ne!(o.status.code(), Some(0), "{opts:?}");
        assert_eq!(stdout(&o), "");
        assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    }
    // :U gives the volume to the container's user.
    assert_eq!(
        b.run_rm_ok(
            &["-v", "given:/srv:U"],
            &img,
            &["sh", "-c", "touch /srv/ok && stat -c '%u:%g' /srv /srv/ok"]
        ),
        "1000:1000\n1000:1000\n"
    );
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm_and_stay_with_plain_rm_until_prune() {
    let image = busybox_image(|i| {
        i.layer(
            LayerBuilder::new()
                .dir("cache", 0o755, 0, 0)
                .file("cache/warm", "w\n", 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .volume("/cache")
    });
    let (_reg, b, img) = common::pulled("test/volanon", &image);
    // The image's VOLUME: an anonymous volume with the image's content.
    let run = |name: &str| {
        b.ok(&[
            "run",
            "--name",
            name,
            "-v",
            "keep:/keep",
            &img,
            "sh",
            "-c",
            "cat /cache/warm; echo x > /cache/mine",
        ])
    };
    assert_eq!(run("a"), "w\n");
    let anon: Vec<String> = volumes(&b).into_iter().filter(|n| n != "keep").collect();
    assert_eq!(anon.len(), 1);
    assert!(is_anonymous_name(&anon[0]), "{anon:?}");
    assert_eq!(
        b.ok_json(&["volume", "inspect", &anon[0]])[0]["Anonymous"],
        true
    );
    // dangling=false while used; plain rm keeps it, then it is dangling.
    assert_eq!(
        b.ok(&["volume", "ls", "-q", "--filter", "dangling=false"])
            .lines()
            .count(),
        2
    );
    b.ok(&["rm", "a"]);
    assert_eq!(volumes(&b).len(), 2);
    let dangling = b.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 2, "{dangling}");
    // prune removes what no container uses, named or not.
    let pruned = b.ok(&["volume", "prune", "-f"]);
    assert!(
        pruned.contains(&anon[0]) && pruned.contains("keep"),
        "{pruned}"
    );
    assert!(volumes(&b).is_empty());
    // rm -v: the anonymous volume goes, the named one stays.
    run("b");
    assert_eq!(volumes(&b).len(), 2);
    b.ok(&["rm", "-v", "b"]);
    assert_eq!(volumes(&b), ["keep"]);
    // run --rm (foreground and detached) and -v /path.
    b.run_rm_ok(
        &["-v", "/scratch"],
        &img,
        &["touch", "/scratch/x", "/cache/y"],
    );
    assert_eq!(volumes(&b), ["keep"]);
    b.ok(&[
        "run", "--rm", "-d", "--name", "gone", "-v", "/scratch", &img, "true",
    ]);
    common::Wait::secs(60)
        .every_ms(200)
        .expect("run --rm -d to remove its volumes", || {
            volumes(&b) == ["keep"] && b.run(&["inspect", "gone"]).status.code() != Some(0)
        });
    // --filter label= and prune --filter label=.
    b.ok(&["volume", "create", "--label", "team=a", "la"]);
    b.ok(&["volume", "create", "--label", "team=b", "lb"]);
    assert_eq!(
        b.ok(&["volume", "ls", "-q", "--filter", "label=team=a"]),
        "la\n"
    );
    assert_eq!(
        b.ok(&["volume", "prune", "-f", "--filter", "label=team=b"]),
        "lb\n"
    );
    let mut left = volumes(&b);
    left.sort();
    assert_eq!(left, ["keep", "la"]);
}

#[test]
fn volumes_from_shares_binds_and_volumes_read_only_or_not() {
    let (_reg, b, img) = busybox();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("h"), "host\n").unwrap();
    b.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/shared",
        "-v",
        "/anon",
        "-v",
        &format!("{}:/host", host.path().display()),
        &img,
        "true",
    ]);
    let anon_before = volumes(&b);
    assert_eq!(anon_before.len(), 2);
    assert_eq!(
        b.run_rm_ok(
            &["--volumes-from", "src"],
            &img,
            &[
                "sh",
                "-c",
                "echo s > /shared/f && echo a > /anon/f && cat /host/h"
            ]
        ),
        "host\n"
    );
    let o = b.run_rm(
        &["--volumes-from", "src:ro"],
        &img,
        &["sh", "-c", "cat /shared/f /anon/f; touch /shared/no"],
    );
    assert_eq!(stdout(&o), "s\na\n");
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    // The anonymous volume is still src's: run --rm of a borrower left it.
    assert_eq!(volumes(&b), anon_before);
    let err = b.fail(&["run", "--rm", "--volumes-from", "nosuch", &img, "true"]);
    assert!(err.contains("--volumes-from nosuch"), "{err}");
    assert_eq!(b.container_dirs().len(), 1);
}

#[test]
fn tmpfs_volumes_start_empty_and_device_volumes_bind_a_host_directory() {
    let (_reg, b, img) = busybox();
    b.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m,mode=700",
        "scratch",
    ]);
    let script = "ls -A /t; echo x > /t/f; stat -c %a /t; df -k /t | tail -1";
    let out = b.run_rm_ok(&["-v", "scratch:/t"], &img, &["sh", "-c", script]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("700"), "{out}");
    let df: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(df[1], "1024", "{out}");
    // Fresh at each start.
    assert_eq!(
        b.run_rm_ok(&["-v", "scratch:/t"], &img, &["ls", "-A", "/t"]),
        ""
    );
    let host = tempfile::tempdir().unwrap();
    let dev = host.path().display().to_string();
    b.ok(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        &format!("device={dev}"),
        "-o",
        "o=bind",
        "hostdir",
    ]);
    b.run_rm_ok(
        &["-v", "hostdir:/h"],
        &img,
        &["sh", "-c", "echo in > /h/out"],
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "in\n"
    );
    assert_eq!(
        std::fs::metadata(host.path().join("out")).unwrap().uid(),
        nix::unistd::getuid().as_raw()
    );
    // Removing the volume leaves the host directory alone.
    b.ok(&["volume", "rm", "hostdir"]);
    assert!(host.path().join("out").exists());
}

#[test]
fn keep_id_containers_write_volumes_as_the_user() {
    let (_reg, b, img) = busybox();
    assert_eq!(
        b.run_rm_ok(
            &["--userns=keep-id", "-v", "kv:/d"],
            &img,
            &["sh", "-c", "echo me > /d/f && stat -c %u /d/f && id -u"]
        ),
        format!("{0}\n{0}\n", nix::unistd::getuid().as_raw())
    );
    let mp = b.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "kv"]);
    let f = std::path::Path::new(mp.trim()).join("f");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "me\n");
    assert_eq!(
        std::fs::metadata(&f).unwrap().uid(),
        nix::unistd::getuid().as_raw()
    );
    // The default map sees the same file.
    assert_eq!(
        b.run_rm_ok(&["-v", "kv:/d"], &img, &["cat", "/d/f"]),
        "me\n"
    );
}

#[test]
fn export_and_import_round_trip_owners_and_content() {
    let (_reg, b, img) = busybox();
    b.run_rm_ok(
        &["-v", "orig:/d"],
        &img,
        &[
            "sh",
            "-c",
            "mkdir /d/sub && echo one > /d/sub/f && chown 123:456 /d/sub/f && chmod 600 /d/sub/f && ln -s sub/f /d/l",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("v.tar");
    b.ok(&["volume", "export", "-o", tar.to_str().unwrap(), "orig"]);
    assert!(std::fs::metadata(&tar).unwrap().len() > 0);
    b.ok(&["volume", "create", "copy"]);
    b.ok(&["volume", "import", "copy", tar.to_str().unwrap()]);
    assert_eq!(
        b.run_rm_ok(
            &["-v", "copy:/d"],
            &img,
            &["sh", "-c", "cat /d/l; stat -c '%u:%g %a' /d/sub/f"]
        ),
        "one\n123:456 600\n"
    );
    // Through standard input too.
    b.ok(&["volume", "create", "piped"]);
    let bytes = std::fs::read(&tar).unwrap();
    let mut child = b
        .cmd(&["volume", "import", "piped", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &bytes).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_eq!(
        b.run_rm_ok(&["-v", "piped:/d"], &img, &["cat", "/d/sub/f"]),
        "one\n"
    );
    let err = b.fail(&["volume", "import", "nosuch", tar.to_str().unwrap()]);
    assert!(err.contains("no such volume nosuch"), "{err}");
}

#[test]
fn twenty_parallel_runs_on_one_volume_leave_a_consistent_store() {
    let (_reg, b, img) = busybox();
    let b = &b;
    let img = img.as_str();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                s.spawn(move || {
                    let name = format!("p{i}");
                    let run = b.run(&[
                        "run",
                        "-d",
                        "--name",
                        &name,
                        "-v",
                        "same:/d",
                        "-v",
                        "/anon",
                        img,
                        "sh",
                        "-c",
                        &format!("echo {i} > /d/{i}"),
                    ]);
                    assert!(run.status.success(), "{}", stderr(&run));
                    let rm = b.run(&["rm", "-f", "-v", &name]);
                    assert!(rm.status.success(), "{}", stderr(&rm));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert!(b.container_dirs().is_empty(), "{:?}", b.container_dirs());
    assert_eq!(volumes(b), ["same"]);
    assert_eq!(volume_dirs(b), ["same"]);
    let v = b.ok_json(&["volume", "inspect", "same"]);
    assert_eq!(v[0]["Name"], "same");
}

#[test]
fn bad_input_is_refused_in_one_line_and_leaves_nothing() {
    let (_reg, b, img) = busybox();
    let one_line = |args: &[&str], needle: &str| {
        let o = b.run(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(needle), "{args:?}: {e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{args:?}: {e}");
    };
    one_line(&["volume", "create", "../x"], "invalid volume name");
    one_line(&["volume", "create", "a/b"], "invalid volume name");
    one_line(&["volume", "create", "-d", "nfs", "x"], "local driver only");
    one_line(&["volume", "create", "-o", "type=nfs", "x"], "need root");
    one_line(&["volume", "create", "-o", "color", "x"], "use KEY=VALUE");
    one_line(
        &[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "o=size=big",
            "x",
        ],
        "use a size",
    );
    one_line(
        &["volume", "ls", "--filter", "colour=red"],
        "unknown volume filter",
    );
    one_line(
        &["volume", "ls", "--filter", "dangling=maybe"],
        "dangling=true",
    );
    one_line(
        &["volume", "prune", "-f", "--filter", "name=x"],
        "label only",
    );
    one_line(
        &["run", "--rm", "-v", "bad$:/d", &img, "true"],
        "invalid volume name",
    );
    one_line(
        &["run", "--rm", "-v", "v:/d:color", &img, "true"],
        "known options for a volume",
    );
    one_line(
        &["run", "--rm", "-v", "v:/d:ro,U", &img, "true"],
        "drop ro or U",
    );
    one_line(
        &["run", "--rm", "--volumes-from", "nosuch", &img, "true"],
        "--volumes-from nosuch",
    );
    one_line(
        &["run", "--rm", "--volumes-from", "x:rx", &img, "true"],
        "CONTAINER:ro",
    );
    one_line(
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=v,dst=/d,volume-opt=type=nfs",
            &img,
            "true",
        ],
        "need root",
    );
    b.ok(&["volume", "create", "dup"]);
    one_line(&["volume", "create", "dup"], "already exists");
    assert_eq!(b.ok(&["volume", "create", "--ignore", "dup"]), "dup\n");
    assert_eq!(volume_dirs(&b), ["dup"]);
    assert!(b.container_dirs().is_empty());
}

/// Podman's `volume ls` and `volume inspect` beside burrow's: the same
/// columns, Docker's inspect keys, the same exit statuses for a volume
/// that does not exist.
#[test]
fn output_shape_and_statuses_match_podman() {
    common::require_unprivileged();
    let podman = common::podman::Podman::new();
    let b = Burrow::new();
    b.ok(&["volume", "create", "cmp"]);
    podman.ok(&["volume", "create", "cmp"]);
    let head = |s: String| {
        s.lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        head(b.ok(&["volume", "ls"])),
        head(podman.ok(&["volume", "ls"]))
    );
    let ours = &b.ok_json(&["volume", "inspect", "cmp"])[0];
    let theirs: serde_json::Value =
        serde_json::from_str(&podman.ok(&["volume", "inspect", "cmp"])).unwrap();
    for key in [
        "Name",
        "Driver",
        "Mountpoint",
        "CreatedAt",
        "Labels",
        "Scope",
        "Options",
    ] {
        assert_eq!(
            ours[key].is_null(),
            theirs[0][key].is_null(),
            "{key}: {ours} / {theirs}"
        );
        assert!(!ours[key].is_null(), "{key}: {ours}");
    }
    for args in [
        &["volume", "rm", "nosuch"][..],
        &["volume", "inspect", "nosuch"],
        &["volume", "create", "../x"],
        &["volume", "exists", "nosuch"],
    ] {
        assert_eq!(
            b.run(args).status.code(),
            podman.run(args).status.code(),
            "{args:?}"
        );
    }
}
