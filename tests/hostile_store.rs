//! What a hostile image or a killed command can do to the store, end to
//! end (issue 22, items 4 and 5): a decompression bomb and a full disk are
//! refused with one line naming the layer and the setting, and what a
//! killed pull leaves in `tmp/` is reported and reclaimed by the next
//! store write, never a live (even stopped) pull's work.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Output, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use common::{
    Burrow, Compression, Image, ImageBuilder, LayerBuilder, Registry, Wait, require_unprivileged,
    stderr, stdout, zeros_layer,
};

fn pull(b: &Burrow, reference: &str) -> Output {
    b.run(&["pull", "-q", "--tls-verify=false", reference])
}

fn write_config(b: &Burrow, storage: &str) {
    std::fs::create_dir_all(b.config_dir()).unwrap();
    std::fs::write(
        b.config_dir().join("config.toml"),
        format!("[storage]\n{storage}"),
    )
    .unwrap();
}

/// A failed command's stderr, asserted to be one line, exit status 125.
fn one_line_125(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // The cause once, not once per link of the error chain.
    let parts: Vec<&str> = err.split(": ").filter(|p| p.len() > 20).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(!parts[..i].contains(p), "repeats {p:?}: {err}");
    }
    err
}

/// Nothing of a refused pull stays: no image, no layer, no temp entry.
fn assert_nothing_stored(b: &Burrow) {
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
    assert!(b.stored("layers").is_empty(), "{:?}", b.stored("layers"));
    assert!(b.stored("tmp").is_empty(), "{:?}", b.stored("tmp"));
}

fn single_layer_image(layer: common::Layer) -> Image {
    ImageBuilder::new().layer(layer).build()
}

/// Text that compresses like real files do (a few times, not a thousand).
fn ordinary_text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let words = [
        "alpha", "beta", "gamma", "delta", "usr/lib", "config", "=", "\n",
    ];
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(words[(x % 8) as usize].as_bytes());
        out.extend_from_slice(format!(" {} ", x % 100_000).as_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn a_decompression_bomb_is_refused_after_a_bounded_write() {
    require_unprivileged();
    let reg = Registry::start();
    // 512 MiB of zeros in about half a megabyte of gzip.
    let bomb = zeros_layer("zeros", 512 << 20);
    assert!(bomb.size < 2 << 20, "{}", bomb.size);
    let digest = bomb.digest.clone();
    reg.push_image("evil/bomb", "latest", &single_layer_image(bomb));
    let b = Burrow::new();

    let out = pull(&b, &reg.reference("evil/bomb", "latest"));
    let err = one_line_125(&out);
    assert!(err.contains(&digest), "names the layer: {err}");
    assert!(
        err.contains("max_unpack_ratio = 100"),
        "names the setting: {err}"
    );
    assert!(err.contains("config.toml"), "says where: {err}");
    assert_nothing_stored(&b);
    // Nothing was written to the end: the refusal came at the ceiling
    // (64 MiB, the floor for so small a blob), not after 512 MiB.
    assert!(err.contains("64.0 MiB"), "{err}");
    let check = b.ok(&["system", "check"]);
    assert!(check.contains("OK    store"), "{check}");
}

#[test]
fn max_unpack_ratio_in_config_refuses_or_accepts_an_ordinary_layer() {
    require_unprivileged();
    let reg = Registry::start();
    // Past the 64 MiB floor, compressing a few times.
    let layer = LayerBuilder::new()
        .file("data.txt", ordinary_text(72 << 20), 0o644, 0, 0)
        .finish(Compression::Gzip);
    let ratio = (72 << 20) as f64 / layer.size as f64;
    assert!((1.5..20.0).contains(&ratio), "ratio {ratio}");
    let digest = layer.digest.clone();
    reg.push_image("plain/text", "latest", &single_layer_image(layer));
    let r = reg.reference("plain/text", "latest");

    // A ceiling of 1: no layer may unpack bigger than it came (over 64 MiB).
    let b = Burrow::new();
    write_config(&b, "max_unpack_ratio = 1\n");
    let err = one_line_125(&pull(&b, &r));
    assert!(err.contains(&digest), "{err}");
    assert!(err.contains("max_unpack_ratio"), "{err}");
    assert_nothing_stored(&b);

    // A generous one lets it through, and so does the default.
    write_config(&b, "max_unpack_ratio = 1000\n");
    let out = pull(&b, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    let b2 = Burrow::new();
    let out = pull(&b2, &r);
    assert!(out.status.success(), "{}", stderr(&out));

    // A value that is not a ratio is a configuration error on one line.
    write_config(&b, "max_unpack_ratio = \"lots\"\n");
    let err = one_line_125(&b.run(&["images"]));
    assert!(
        err.contains("config.toml") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn min_free_above_the_free_space_refuses_before_writing() {
    require_unprivileged();
    let reg = Registry::start();
    let layer = LayerBuilder::new()
        .file("f", b"hello", 0o644, 0, 0)
        .finish(Compression::Gzip);
    let digest = layer.digest.clone();
    reg.push_image("small/one", "latest", &single_layer_image(layer));
    let r = reg.reference("small/one", "latest");
    let b = Burrow::new();

    // More than any test machine has free.
    write_config(&b, "min_free = \"1024T\"\n");
    let err = one_line_125(&pull(&b, &r));
    assert!(err.contains(&digest), "{err}");
    assert!(err.contains("min_free"), "{err}");
    assert!(err.contains("1.0 PiB"), "{err}");
    assert_nothing_stored(&b);
    // Not even the compressed blob was downloaded.
    assert!(
        b.stored("blobs/sha256").is_empty(),
        "{:?}",
        b.stored("blobs/sha256")
    );

    // A percentage no filesystem leaves free for a user.
    write_config(&b, "min_free = \"100%\"\n");
    let err = one_line_125(&pull(&b, &r));
    assert!(err.contains("min_free = 100% ("), "{err}");
    assert_nothing_stored(&b);

    // Turned off, or at a size the disk has: the pull goes through.
    write_config(&b, "min_free = \"0\"\n");
    let out = pull(&b, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    write_config(&b, "min_free = \"1M\"\n");
    b.ok(&["rmi", &r]);
    let out = pull(&b, &r);
    assert!(out.status.success(), "{}", stderr(&out));
}

// ------------------------------------------------------------ item 5

/// A pull running in a process group of its own (its user namespace child
/// included), killed with the group when dropped.
struct GroupedPull {
    child: Child,
}

impl GroupedPull {
    fn start(b: &Burrow, reference: &str) -> GroupedPull {
        let child = b
            .cmd(&["pull", "-q", "--tls-verify=false", reference])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn burrow pull");
        GroupedPull { child }
    }

    fn signal(&self, sig: Signal) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Whether the pull already ended (it may be quicker than the test).
    fn ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for GroupedPull {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Bytes under `path`, as far as the test user can read.
fn tree_size(path: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Two incompressible 40 MiB layers: a pull takes long enough to be caught
/// in the middle.
fn big_image() -> Image {
    let data = common::incompressible(80 << 20);
    ImageBuilder::new()
        .layer(
            LayerBuilder::new()
                .file("big1", &data[..40 << 20], 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .layer(
            LayerBuilder::new()
                .file("big2", &data[40 << 20..], 0o644, 0, 0)
                .finish(Compression::Gzip),
        )
        .build()
}

/// Starts a pull of `reference` into a fresh store and catches it (stops
/// its whole process group) once it has written at least 1 MiB to `tmp/`.
/// Tries again with another store if the pull was quicker than that.
fn caught_mid_pull(reference: &str) -> (Burrow, GroupedPull) {
    for _ in 0..5 {
        let b = Burrow::new();
        let tmp = b.root.path().join("tmp");
        let mut p = GroupedPull::start(&b, reference);
        let caught = Wait::secs(60)
            .every_ms(1)
            .until(|| tree_size(&tmp) >= 1 << 20 || p.ended());
        assert!(caught, "the pull neither wrote to tmp/ nor ended");
        p.signal(Signal::SIGSTOP);
        if !p.ended() && tree_size(&tmp) >= 1 << 20 {
            return (b, p);
        }
    }
    panic!("five pulls in a row ended before they could be stopped");
}

#[test]
fn a_killed_pulls_leftovers_are_reported_then_reclaimed_by_the_next_write() {
    require_unprivileged();
    let reg = Registry::start();
    let img = big_image();
    reg.push_image("big/app", "latest", &img);
    let r = reg.reference("big/app", "latest");

    let (b, p) = caught_mid_pull(&r);
    drop(p); // SIGKILL to the stopped group: no cleanup runs.
    let left = b.stored("tmp");
    assert!(!left.is_empty(), "a killed pull leaves temp entries");
    let left_bytes = tree_size(&b.root.path().join("tmp"));
    assert!(left_bytes >= 1 << 20, "{left_bytes}");

    // system check names them and their size (a warning, not damage).
    let out = b.run(&["system", "check"]);
    let check = stdout(&out);
    assert!(out.status.success(), "{check}");
    let line = check
        .lines()
        .find(|l| l.contains("store temporary files"))
        .unwrap_or_else(|| panic!("no temp line: {check}"));
    assert!(line.starts_with("WARN"), "{line}");
    assert!(
        line.contains(&format!("{} entr", left.len())) && line.contains("MiB"),
        "{line}"
    );
    assert!(check.contains("the next pull"), "{check}");

    // The next store write removes them, and the pull finishes.
    let out = pull(&b, &r);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(b.stored("tmp").is_empty(), "{:?}", b.stored("tmp"));
    let check = b.ok(&["system", "check"]);
    let line = check
        .lines()
        .find(|l| l.contains("store temporary files"))
        .unwrap_or_else(|| panic!("no temp line: {check}"));
    assert!(line.starts_with("OK"), "{line}");
    assert!(check.contains("OK    store"), "{check}");
}

#[test]
fn a_stopped_pull_keeps_its_temp_entries_and_does_not_hold_up_reclamation() {
    require_unprivileged();
    let reg = Registry::start();
    let big = big_image();
    reg.push_image("big/app", "latest", &big);
    let small = single_layer_image(
        LayerBuilder::new()
            .file("hello", b"hello", 0o644, 0, 0)
            .finish(Compression::Gzip),
    );
    reg.push_image("small/app", "latest", &small);

    let (b, stopped) = caught_mid_pull(&reg.reference("big/app", "latest"));
    let tmp = b.root.path().join("tmp");
    let live = b.stored("tmp");
    let live_bytes = tree_size(&tmp);
    // What a pull killed long ago left: an entry nobody holds.
    std::fs::write(tmp.join("blob-dead"), vec![0u8; 1 << 20]).unwrap();

    // system check counts only the dead entry.
    let check = b.ok(&["system", "check"]);
    assert!(
        check.contains("WARN  store temporary files: 1 entry"),
        "{check}"
    );

    // Another pull, while the first is stopped: it neither waits for the
    // stopped one nor removes its work, but removes the dead entry.
    let mut other = b
        .cmd(&[
            "pull",
            "-q",
            "--tls-verify=false",
            &reg.reference("small/app", "latest"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = Wait::secs(60)
        .every_ms(50)
        .until(|| matches!(other.try_wait(), Ok(Some(_))));
    if !done {
        let _ = other.kill();
        panic!("a pull waited for a stopped one");
    }
    let out = other.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !tmp.join("blob-dead").exists(),
        "the dead entry was removed"
    );
    for name in &live {
        assert!(tmp.join(name).exists(), "live entry {name} was removed");
    }
    assert!(tree_size(&tmp) >= live_bytes);

    // A prune while the pull holds off garbage collection: deferred, but
    // dead entries go all the same.
    std::fs::write(tmp.join("blob-dead2"), b"x").unwrap();
    b.ok(&["image", "prune", "-f"]);
    assert!(!tmp.join("blob-dead2").exists());
    for name in &live {
        assert!(tmp.join(name).exists(), "live entry {name} was removed");
    }

    // Let it go on: it finishes as if nothing happened.
    let mut stopped = stopped;
    stopped.signal(Signal::SIGCONT);
    let status = {
        let child = &mut stopped.child;
        let ended = Wait::secs(120)
            .every_ms(50)
            .for_some(|| child.try_wait().ok().flatten());
        ended.expect("the resumed pull finished")
    };
    assert!(status.success(), "the resumed pull failed");
    assert!(b.stored("tmp").is_empty(), "{:?}", b.stored("tmp"));
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 2);
    let check = b.ok(&["system", "check"]);
    assert!(check.contains("OK    store"), "{check}");
}
