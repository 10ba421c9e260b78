//! What a hostile image or a careless script can hand burrow (issue 22):
//! each case is refused with one line and an engine exit status, and
//! nothing is left behind.

mod common;

use common::{Burrow, Compression, LayerBuilder, busybox_image, stderr, stdout};

/// The refusal is one line (no usage text) and exit 125.
fn refused(o: &std::process::Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

fn no_containers(b: &Burrow) {
    assert_eq!(b.ok(&["ps", "-aq"]), "");
}

/// (uid_t)-1 means "leave unchanged" to setresuid(2): an id of 4294967295
/// once ran the command as root. Flags, exec and the image's own User are
/// refused alike, before anything runs.
#[test]
fn ids_beyond_the_signed_range_never_run() {
    let (_reg, b, img) = common::pulled("test/hostile-ids", &busybox_image(|i| i));
    for user in [
        "4294967295",
        "0:4294967295",
        "4294967295:0",
        "-1",
        "2147483648",
    ] {
        let o = b.run(&["run", "--rm", "-u", user, &img, "id", "-u"]);
        refused(&o, "uids and gids must be in range 0-2147483647");
        assert_eq!(stdout(&o), "", "{user}: nothing ran");
    }
    no_containers(&b);
    // An id in range (and in the user's subordinate range) runs as itself.
    let o = b.run(&["run", "--rm", "-u", "1000:1000", &img, "id", "-u"]);
    assert_eq!(stdout(&o), "1000\n", "{}", stderr(&o));

    b.ok(&["run", "-d", "--name", "box", &img, "sleep", "60"]);
    let o = b.run(&["exec", "-u", "4294967295", "box", "id", "-u"]);
    refused(&o, "uids and gids must be in range 0-2147483647");
    assert_eq!(stdout(&o), "");
    b.ok(&["rm", "-f", "box"]);
}

#[test]
fn an_image_that_names_an_impossible_user_is_refused() {
    let image = busybox_image(|i| i.user("4294967295:4294967295"));
    let (_reg, b, img) = common::pulled("test/hostile-image-user", &image);
    let o = b.run(&["run", "--rm", &img, "id", "-u"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("uids and gids must be in range 0-2147483647"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "", "nothing ran");
    // A passwd entry with such an id is no better than the flag.
    let passwd = LayerBuilder::new()
        .dir("etc", 0o755, 0, 0)
        .file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nevil:x:4294967295:0:evil:/:/bin/sh\n",
            0o644,
            0,
            0,
        )
        .finish(Compression::Gzip);
    let (_reg2, b2, img2) =
        common::pulled("test/hostile-passwd", &busybox_image(|i| i.layer(passwd)));
    let o = b2.run(&["run", "--rm", "-u", "evil", &img2, "id", "-u"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("must be in range"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "nothing ran");
}

/// Values that start with a dash reach burrow's own checks, which answer
/// in one line, not clap's usage text.
#[test]
fn dashed_and_huge_values_get_one_line() {
    let (_reg, b, img) = common::pulled("test/hostile-args", &busybox_image(|i| i));
    let o = b.run(&["run", "--rm", "-p", "-1:80", &img, "true"]);
    refused(&o, "-1:80");
    let o = b.run(&["run", "--rm", "-u", "-1", &img, "true"]);
    refused(&o, "must be in range");
    let long = "a".repeat(120_000);
    let o = b.run(&["run", "--rm", "--name", &long, &img, "true"]);
    refused(&o, "invalid container name");
    assert!(stderr(&o).len() < 400, "the name is not echoed whole");
    let o = b.run(&["create", "--name", &"b".repeat(254), &img, "true"]);
    refused(&o, "at most 253");
    no_containers(&b);
    b.ok(&["create", "--name", &"c".repeat(253), &img, "true"]);
}

/// A cause is named once, then the fix: the message for a file owned
/// beyond the subordinate range once printed its whole text twice.
#[test]
fn an_owner_beyond_the_range_is_explained_once() {
    let reg = common::Registry::start();
    let owned = LayerBuilder::new()
        .file("far", "x\n", 0o644, 70_000, 70_000)
        .finish(Compression::Gzip);
    reg.push_image(
        "test/far-owner",
        "latest",
        &busybox_image(|i| i.layer(owned)),
    );
    let b = Burrow::new();
    let name = reg.reference("test/far-owner", "latest");
    let o = b.run(&["pull", "-q", "--tls-verify=false", &name]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert_eq!(err.matches("is owned by uid 70000").count(), 1, "{err}");
    assert_eq!(err.matches("usermod").count(), 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
