//! The storage drivers (overlay, fuse-overlayfs, vfs) and `--userns=keep-id`,
//! end to end as the unprivileged user.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{
    Burrow, Compression, LayerBuilder, Registry, busybox_image, require_unprivileged, stderr,
    stdout,
};

/// busybox, plus a layer with a uid 1000 file, a setuid file and a dir
/// with content, plus a top layer with a whiteout and an opaque dir.
fn layered() -> (Registry, Burrow, String) {
    require_unprivileged();
    let middle = LayerBuilder::new()
        .dir("home", 0o755, 0, 0)
        .dir("home/app", 0o755, 1000, 1000)
        .file("home/app/data", "owned by 1000\n", 0o644, 1000, 1000)
        .dir("usr", 0o755, 0, 0)
        .dir("usr/local", 0o755, 0, 0)
        .dir("usr/local/bin", 0o755, 0, 0)
        .file("usr/local/bin/suid", "#!/bin/sh\n", 0o4755, 0, 0)
        .dir("var", 0o755, 0, 0)
        .dir("var/lib", 0o755, 0, 0)
        .dir("var/lib/old", 0o755, 0, 0)
        .file("etc/gone", "x\n", 0o644, 0, 0)
        .finish(Compression::Gzip);
    let top = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .whiteout("etc/gone")
        .dir("var", 0o755, 0, 0)
        .dir("var/lib", 0o755, 0, 0)
        .opaque("var/lib")
        .dir("var/lib/new", 0o755, 0, 0)
        .finish(Compression::Gzip);
    common::pulled(
        "test/rootfs",
        &busybox_image(|i| i.layer(middle).layer(top)),
    )
}

const LOOK: &str = "stat -c '%u:%g %a' /home/app/data /usr/local/bin/suid; \
                    ls /var/lib; ls /etc/gone 2>/dev/null || echo gone; cat /home/app/data";
const EXPECTED: &str = "1000:1000 644\n0:0 4755\nnew\ngone\nowned by 1000\n";

#[test]
fn every_driver_shows_the_same_image() {
    let (_reg, b, img) = layered();
    for driver in ["overlay", "fuse-overlayfs", "vfs"] {
        let g = ["--storage-driver", driver];
        assert_eq!(
            b.run_image_ok(&g, &["--rm"], &img, &["sh", "-c", LOOK]),
            EXPECTED,
            "{driver}"
        );
        // Writes land in the container's own directory, never in a layer.
        let name = format!("keep-{driver}");
        b.run_image_ok(
            &g,
            &["--name", &name],
            &img,
            &[
                "sh",
                "-c",
                "echo changed > /home/app/data; rm /usr/local/bin/suid",
            ],
        );
        let o = b.run_image(&g, &["--rm"], &img, &["cat", "/home/app/data"]);
        assert_eq!(stdout(&o), "owned by 1000\n", "{driver}");
    }
    // The container says which driver made it (its spec keeps it).
    let mut drivers: Vec<String> = ["overlay", "fuse-overlayfs", "vfs"]
        .iter()
        .map(|d| {
            let name = format!("keep-{d}");
            let out = b.ok(&["inspect", "--format", "{{.GraphDriver.Name}}", &name]);
            out.trim().to_string()
        })
        .collect();
    drivers.sort();
    assert_eq!(drivers, ["fuse-overlayfs", "overlay", "vfs"]);
}

#[test]
fn the_default_driver_is_probed_once_and_reported() {
    let (_reg, b, img) = layered();
    assert_eq!(
        b.run_image_ok(&[], &["--rm"], &img, &["sh", "-c", LOOK]),
        EXPECTED
    );
    // Kernel overlay works in a user namespace on these machines.
    let probe = std::fs::read_to_string(b.runroot.path().join("overlay.probe")).unwrap();
    assert!(probe.ends_with("\nok"), "{probe}");
    let info = b.ok(&["info", "--format", "{{.store.graphDriverName}}"]);
    assert_eq!(info.trim(), "overlay");
    let check = b.ok(&["system", "check"]);
    assert!(
        check.contains("storage driver") && check.contains("overlay"),
        "{check}"
    );
    // The configuration file, then the flag, choose another one.
    std::fs::create_dir_all(b.config_dir()).unwrap();
    std::fs::write(
        b.config_dir().join("config.toml"),
        "[storage]\ndriver = \"vfs\"\n",
    )
    .unwrap();
    let info = b.ok(&["info", "--format", "{{.store.graphDriverName}}"]);
    assert_eq!(info.trim(), "vfs");
    let info = b.ok(&[
        "--storage-driver",
        "fuse-overlayfs",
        "info",
        "--format",
        "{{.store.graphDriverName}}",
    ]);
    assert_eq!(info.trim(), "fuse-overlayfs");
    assert_eq!(
        b.run_image_ok(&[], &["--rm"], &img, &["sh", "-c", LOOK]),
        EXPECTED
    );
}

#[test]
fn keep_id_is_the_user_inside_without_copying_the_image() {
    let (_reg, b, img) = layered();
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let host = tempfile::tempdir().unwrap();
    let v = format!("{}:/out", host.path().display());
    for driver in ["fuse-overlayfs", "vfs"] {
        let g = ["--storage-driver", driver];
        let out = b.run_image_ok(
            &g,
            &["--rm", "--userns=keep-id", "-v", &v],
            &img,
            &[
                "sh",
                "-c",
                &format!("id -u; id -g; {LOOK}; touch /out/{driver}"),
            ],
        );
        assert_eq!(out, format!("{uid}\n{gid}\n{EXPECTED}"), "{driver}");
        let m = std::fs::metadata(host.path().join(driver)).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{driver}");
        // -u still picks another user; root is a subordinate id there.
        let out = b.run_image_ok(
            &g,
            &["--rm", "--userns=keep-id", "-u", "0"],
            &img,
            &["sh", "-c", "id -u; cat /proc/self/uid_map | head -1"],
        );
        let first: Vec<&str> = out.lines().collect();
        assert_eq!(first[0], "0");
        assert!(!first[1].contains(&format!(" {uid} ")), "{out}");
    }
    // The default (no --storage-driver) picks fuse-overlayfs for keep-id,
    // and nothing is copied: no vfs directory appears.
    let out = b.run_image_ok(
        &[],
        &["--name", "kid", "--userns=keep-id"],
        &img,
        &["id", "-u"],
    );
    assert_eq!(out, format!("{uid}\n"));
    let dirs = b.container_dirs();
    assert_eq!(dirs.len(), 1);
    assert!(!dirs[0].join("vfs").exists());
}

#[test]
fn bad_driver_and_userns_options_fail_early() {
    let (_reg, b, img) = layered();
    let cases: [(&[&str], &[&str], &str); 3] = [
        (
            &["--storage-driver", "zfs"],
            &[],
            "unknown storage driver \"zfs\"",
        ),
        (
            &["--storage-driver", "overlay"],
            &["--userns=keep-id"],
            "use --storage-driver fuse-overlayfs or vfs",
        ),
        (&[], &["--userns=host"], "--userns=host is not supported"),
    ];
    for (global, opts, needle) in cases {
        let o = b.run_image(global, opts, &img, &["true"]);
        assert_eq!(o.status.code(), Some(125));
        let e = stderr(&o);
        assert!(e.contains(needle), "{e}");
    }
    let n = b.container_dirs().len();
    assert_eq!(n, 0);
}
