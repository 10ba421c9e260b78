//! Drop-in behaviour of the command line (issue 20): `-p` with the host's
//! network, `--network container:X` made before X runs, compressed `cp`
//! streams and `cp` between containers, ADD of xz and bzip2 archives,
//! `info --format` with Podman's names, `system df`, `network ls
//! --noheading`. Each used as a script would.

mod common;

use common::{Burrow, busybox_image, stderr, stdout};

fn pulled() -> (common::Registry, Burrow, String) {
    common::pulled("test/compatcli", &busybox_image(|i| i))
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
