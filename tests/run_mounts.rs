//! `burrow run` mounts end to end as the unprivileged user: `-v`,
//! `--mount`, `--tmpfs`, `--read-only` and /dev/mqueue.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{Burrow, Compression, LayerBuilder, Registry, busybox_image, stderr, stdout};

fn pulled(image: common::Image) -> (Registry, Burrow, String) {
    common::pulled("test/mounts", &image)
}

fn busybox() -> (Registry, Burrow, String) {
    pulled(busybox_image(|i| i))
}

#[test]
fn bind_mounts_read_write_and_read_only() {
    let (_reg, b, img) = busybox();
    let host = tempfile::tempdir().unwrap();
    let dir = host.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("in.txt"), "from host\n").unwrap();
    let v = format!("{}:/data", dir.display());
    // rw: the container's root is the user, so new files belong to the user.
    assert_eq!(
        b.run_rm_ok(
            &["-v", &v],
            &img,
            &["sh", "-c", "cat /data/in.txt; echo out > /data/out.txt"]
        ),
        "from host\n"
    );
    let meta = std::fs::metadata(dir.join("out.txt")).unwrap();
    assert_eq!(meta.uid(), nix::unistd::getuid().as_raw());
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "out\n"
    );
    // :ro and --mount readonly refuse writes with EROFS.
    for opts in [
        vec!["-v".to_string(), format!("{v}:ro")],
        vec![
            "--mount".to_string(),
            format!("type=bind,src={},dst=/data,readonly", dir.display()),
        ],
    ] {
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let o = b.run_rm(
            &opts,
            &img,
            &["sh", "-c", "cat /data/in.txt && touch /data/new"],
        );
        assert_ne!(o.status.code(), Some(0));
        assert_eq!(stdout(&o), "from host\n");
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{}",
            stderr(&o)
        );
    }
    assert!(!dir.join("new").exists());
    // A file, a relative ./ source (from the working directory), nested
    // destinations and a host symlink as the source.
    let file = host.path().join("conf.ini");
    std::fs::write(&file, "x=1\n").unwrap();
    std::os::unix::fs::symlink(&dir, host.path().join("link")).unwrap();
    let o = b
        .cmd(&[
            "run",
            "--rm",
            "-v",
            &format!("{}:/etc/app/conf.ini:ro", file.display()),
            "-v",
            "./data:/srv/data",
            "-v",
            &format!("{}:/srv/data/sub", host.path().join("link").display()),
            &img,
            "sh",
            "-c",
            "cat /etc/app/conf.ini; ls /srv/data; ls /srv/data/sub | head -1",
        ])
        .current_dir(host.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "x=1\nin.txt\nout.txt\nsub\nin.txt\n");
    // `sub` was created in the host directory as the mount point.
    assert!(dir.join("sub").is_dir());
}

#[test]
fn destinations_stay_inside_the_container() {
    // /etc/evil points out of the root; the mount must land inside it.
    let evil = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .symlink("etc/evil", "/../../../../../../tmp/escaped")
        .finish(Compression::Gzip);
    let (_reg, b, img) = pulled(busybox_image(|i| i.layer(evil)));
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("marker"), "m\n").unwrap();
    let v = format!("{}:/etc/evil", src.display());
    assert_eq!(
        b.run_rm_ok(&["-v", &v], &img, &["cat", "/tmp/escaped/marker"]),
        "m\n"
    );
    assert!(
        !std::path::Path::new("/tmp/escaped").exists(),
        "mounted on the host's /tmp"
    );
}

#[test]
fn tmpfs_read_only_root_and_mqueue() {
    let (_reg, b, img) = busybox();
    let mounts = b.run_rm_ok(
        &[
            "--tmpfs",
            "/scratch:size=2m,mode=700",
            "--mount",
            "type=tmpfs,dst=/cache,tmpfs-size=1m",
        ],
        &img,
        &[
            "sh",
            "-c",
            "grep -E ' /(scratch|cache|dev/mqueue) ' /proc/mounts; stat -c %a /scratch",
        ],
    );
    assert!(
        mounts.contains("/scratch tmpfs rw,nosuid,nodev,noexec"),
        "{mounts}"
    );
    assert!(mounts.contains("size=2048k"), "{mounts}");
    assert!(mounts.contains("/cache tmpfs rw,nosuid,nodev"), "{mounts}");
    assert!(mounts.contains("mqueue /dev/mqueue mqueue"), "{mounts}");
    assert!(mounts.ends_with("700\n"), "{mounts}");
    // --read-only: the root refuses writes; /tmp, /run, /var/tmp, /dev/shm,
    // volumes and tmpfs mounts take them.
    let host = tempfile::tempdir().unwrap();
    let v = format!("{}:/out", host.path().display());
    let o = b.run_rm(
        &["--read-only", "-v", &v],
        &img,
        &[
            "sh",
            "-c",
            "touch /tmp/a /run/b /var/tmp/c /dev/shm/d /out/e && echo writable; touch /etc/x",
        ],
    );
    assert_eq!(stdout(&o), "writable\n", "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(host.path().join("e").exists());
    let o = b.run_rm(
        &["--read-only", "--read-only-tmpfs=false"],
        &img,
        &["touch", "/tmp/a"],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    // Without --read-only the root is writable as usual.
    b.run_rm_ok(&[], &img, &["touch", "/etc/x"]);
}

#[test]
fn bad_mounts_fail_early_and_leave_nothing() {
    let (_reg, b, img) = busybox();
    let host = tempfile::tempdir().unwrap();
    let d = host.path().display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["-v".into(), "data/x:/d".into()],
            "start it with ./ or give an absolute path",
        ),
        (
            vec!["-v".into(), "data:/d:bogus".into()],
            "known options for a volume",
        ),
        (vec!["-v".into(), "bad$:/d".into()], "invalid volume name"),
        (
            vec!["-v".into(), format!("{d}:rel")],
            "must be an absolute path",
        ),
        (vec!["-v".into(), format!("{d}:/")], "other than /"),
        (
            vec!["-v".into(), "/nonexistent/src:/d".into()],
            "does not exist: create it first",
        ),
        (
            vec!["-v".into(), format!("{d}:/d:nope")],
            "unknown option \"nope\"",
        ),
        (
            vec!["-v".into(), format!("{d}:/d:rshared")],
            "cannot propagate",
        ),
        (
            vec![
                "-v".into(),
                format!("{d}:/d"),
                "--tmpfs".into(),
                "/d".into(),
            ],
            "duplicate mount destination /d",
        ),
        (
            vec![
                "--mount".into(),
                "type=volume,src=v,dst=/d,tmpfs-size=1m".into(),
            ],
            "do not apply to type=volume",
        ),
        (
            vec!["--mount".into(), format!("type=bind,src={d}")],
            "has no target",
        ),
        (vec!["--tmpfs".into(), "/t:size=big".into()], "use a size"),
    ];
    for (opts, needle) in cases {
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let o = b.run_rm(&opts, &img, &["true"]);
        assert_eq!(o.status.code(), Some(125), "{opts:?}");
        let e = stderr(&o);
        assert!(e.contains(needle), "{opts:?}: {e}");
        assert_eq!(
            e.trim_end().lines().count(),
            1,
            "{opts:?}: not one line: {e}"
        );
    }
    assert_eq!(b.container_dirs().len(), 0);
}
