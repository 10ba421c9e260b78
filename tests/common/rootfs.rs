//! A small but real root filesystem from Debian's busybox-static.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::image::{Image, ImageBuilder};
use super::layer::{Compression, Layer, LayerBuilder};
use super::require_tool;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n";

/// Populates `dir` with /bin/busybox, one `/bin/APPLET -> busybox` symlink
/// per applet, /etc/passwd + /etc/group (root, app 1000, nobody),
/// /tmp (1777), /root, /home/app, /var/lib/app and empty mount points.
pub fn busybox_rootfs(dir: &Path) {
    let busybox = require_tool("busybox");
    let mkdir = |p: &str, mode: u32| {
        let d = dir.join(p);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    for d in [
        "bin", "etc", "dev", "proc", "sys", "run", "usr", "usr/bin", "var", "var/lib", "home",
    ] {
        mkdir(d, 0o755);
    }
    mkdir("tmp", 0o1777);
    mkdir("root", 0o700);
    mkdir("home/app", 0o755);
    mkdir("var/lib/app", 0o755);
    let dest = dir.join("bin/busybox");
    std::fs::copy(&busybox, &dest).expect("copy busybox");
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).expect("chmod busybox");
    let out = Command::new(&busybox)
        .arg("--list")
        .stdin(Stdio::null())
        .output()
        .expect("busybox --list");
    assert!(out.status.success(), "busybox --list failed");
    for applet in String::from_utf8_lossy(&out.stdout).lines().map(str::trim) {
        // A `busybox -> busybox` link would replace the binary with a loop.
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", dir.join("bin").join(applet)).expect("applet symlink");
    }
    symlink("../../bin/busybox", dir.join("usr/bin/env")).expect("env symlink");
    std::fs::write(dir.join("etc/passwd"), PASSWD).expect("passwd");
    std::fs::write(dir.join("etc/group"), GROUP).expect("group");
    std::fs::write(
        dir.join("etc/os-release"),
        "ID=burrow-test\nNAME=\"burrow test busybox\"\n",
    )
    .expect("os-release");
}

/// The busybox rootfs as one gzip layer with /home/app and /var/lib/app
/// owned by app (1000:1000). Built once per test process.
pub fn busybox_layer() -> &'static Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("rootfs tempdir");
        busybox_rootfs(dir.path());
        LayerBuilder::from_dir(dir.path())
            .chown("home/app", 1000, 1000)
            .chown("var/lib/app", 1000, 1000)
            .finish(Compression::Gzip)
    })
}

/// A one-layer busybox image (Cmd `sh`, PATH set) customised by
/// `configure`, e.g. `busybox_image(|b| b.cmd(&["echo", "hi"]))`. Extra
/// layers added by `configure` go on top of busybox.
pub fn busybox_image(configure: impl FnOnce(ImageBuilder) -> ImageBuilder) -> Image {
    let base = ImageBuilder::new()
        .layer(busybox_layer().clone())
        .env("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .cmd(&["sh"]);
    configure(base).build()
}
