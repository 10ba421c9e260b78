use super::*;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::digest::DigestingReader;

/// Run `body` as root of a user namespace mapping only our own uid/gid (as
/// `unshare -r` sets it up: no newuidmap, no subordinate ids). If we are not
/// root already, the test binary re-runs just this test under `unshare`.
fn in_userns(name: &str, body: impl FnOnce()) {
    if rustix::process::geteuid().is_root() {
        body();
        return;
    }
    assert!(
        std::env::var_os("BURROW_TEST_IN_USERNS").is_none(),
        "re-executed test is not root in its namespace"
    );
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--"])
        .arg(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env("BURROW_TEST_IN_USERNS", "1")
        .output()
        .expect("run unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "test {name} in a user namespace failed:\n{stdout}\n{stderr}"
    );
}

macro_rules! userns_test {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            in_userns(
                concat!("storage::unpack::tests::", stringify!($name)),
                || $body,
            )
        }
    };
}

fn opts() -> UnpackOptions {
    UnpackOptions {
        uid_count: 1,
        gid_count: 1,
        ignore_chown_errors: false,
        user_name: "tester".into(),
    }
}

/// A tar writer with full control over header bytes, so hostile archives
/// (which tar::Builder refuses to make) can be built too.
#[derive(Default)]
struct Tar(Vec<u8>);

struct E<'a> {
    name: &'a [u8],
    typ: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: &'a [u8],
    data: &'a [u8],
    size: Option<u64>,
}

impl Default for E<'_> {
    fn default() -> Self {
        E {
            name: b"",
            typ: b'0',
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: b"",
            data: b"",
            size: None,
        }
    }
}

impl Tar {
    fn raw(&mut self, e: E) -> &mut Self {
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..e.name.len()].copy_from_slice(e.name);
            old.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        h.set_entry_type(tar::EntryType::new(e.typ));
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(e.data);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }
    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.raw(E {
            name: name.as_bytes(),
            mode,
            data,
            ..E::default()
        })
    }
    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.raw(E {
            name: name.as_bytes(),
            typ: b'5',
            mode,
            ..E::default()
        })
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(E {
            name: name.as_bytes(),
            typ: b'2',
            mode: 0o777,
            link: target.as_bytes(),
            ..E::default()
        })
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(E {
            name: name.as_bytes(),
            typ: b'1',
            link: target.as_bytes(),
            ..E::default()
        })
    }
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = k.len() + v.len() + 3;
            let mut len = body + 1;
            while len != body + len.to_string().len() {
                len = body + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.raw(E {
            name: b"PaxHeaders/x",
            typ: b'x',
            data: &data,
            ..E::default()
        })
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut v = std::mem::take(&mut self.0);
        v.extend_from_slice(&[0u8; 1024]);
        v
    }
}

fn unpack(tar: &[u8], dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack_layer(tar, dest, &opts())
}

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("dest");
    fs::create_dir(&dest).unwrap();
    (t, dest)
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn clean_path_rules() {
    let c = |s: &str| clean_path(s.as_bytes()).map(|v| String::from_utf8(join(&v)).unwrap());
    assert_eq!(c("/abs/x").as_deref(), Some("abs/x"));
    assert_eq!(c("./a/./b/").as_deref(), Some("a/b"));
    assert_eq!(c("a/b/../c").as_deref(), Some("a/c"));
    assert_eq!(c("./").as_deref(), Some(""));
    assert_eq!(c("../x"), None);
    assert_eq!(c("a/../../x"), None);
    assert_eq!(c("/.."), None);
}

#[test]
fn pax_times() {
    assert_eq!(parse_pax_time(b"1234"), Some((1234, 0)));
    assert_eq!(parse_pax_time(b"1234.5"), Some((1234, 500_000_000)));
    assert_eq!(parse_pax_time(b"-1.5"), Some((-2, 500_000_000)));
    assert_eq!(parse_pax_time(b"12x"), None);
}

#[test]
fn decompressor_sniffs_magic() {
    let tar = Tar::default().file("f", 0o644, b"hello").finish();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for (mt, blob) in [
        ("application/vnd.oci.image.layer.v1.tar", &gz),
        ("application/vnd.oci.image.layer.v1.tar+gzip", &zst),
        ("application/vnd.oci.image.layer.v1.tar+zstd", &tar),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", &gz),
    ] {
        let mut out = Vec::new();
        decompressor(mt, &blob[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tar, "{mt}");
    }
    let xz = b"\xfd7zXZ\0\0\0rest".to_vec();
    assert!(
        matches!(decompressor("x", &xz[..]), Err(UnpackError::UnsupportedCompression(c)) if c == "xz")
    );
    // Tiny and empty streams pass through.
    let mut out = Vec::new();
    decompressor("x", &b"ab"[..])
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, b"ab");
}

userns_test!(unpacks_all_types, {
    let (_t, dest) = fresh();
    let long_gnu = format!("deep/{}/file", "d".repeat(120));
    let long_pax = format!("pax/{}", "p".repeat(200));
    let long_target = format!("/{}", "t".repeat(150));
    let mut tar = Tar::default();
    tar.dir("./", 0o755)
        .raw(E {
            name: b"etc/",
            typ: b'5',
            mode: 0o751,
            mtime: 1000,
            ..E::default()
        })
        .raw(E {
            name: b"etc/hosts",
            mode: 0o640,
            mtime: 2000,
            data: b"127.0.0.1 localhost\n",
            ..E::default()
        })
        .symlink("etc/link", "hosts")
        .hardlink("etc/hosts2", "etc/hosts")
        .file("usr/bin/su", 0o4755, b"#!/bin/su\n")
        .file("usr/bin/wall", 0o2755, b"")
        .dir("tmp/", 0o1777)
        .raw(E {
            name: b"run/fifo",
            typ: b'6',
            mode: 0o600,
            ..E::default()
        })
        .pax(&[
            ("path", long_pax.as_bytes()),
            ("SCHILY.xattr.user.foo", b"bar"),
            ("mtime", b"1234.5"),
        ])
        .file("ignored-name", 0o644, b"pax data")
        .raw(E {
            name: b"././@LongLink",
            typ: b'K',
            data: format!("{long_target}\0").as_bytes(),
            ..E::default()
        })
        .symlink("longlink", "short");
    let mut bytes = tar.0.clone();
    // A GNU long name as written by a real tar writer.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o600);
    h.set_size(4);
    h.set_mtime(42);
    b.append_data(&mut h, &long_gnu, &b"gnu!"[..]).unwrap();
    bytes.extend_from_slice(&b.into_inner().unwrap());
    bytes.extend_from_slice(&[0u8; 1024]);

    let stats = unpack(&bytes, &dest).unwrap();
    assert_eq!(stats.entries, 12);
    assert_eq!(stats.bytes, 20 + 10 + 8 + 4);

    assert_eq!(
        fs::read(dest.join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    assert_eq!(mode(&dest.join("etc/hosts")), 0o640);
    assert_eq!(mode(&dest.join("etc")), 0o751);
    assert_eq!(mode(&dest), 0o755);
    // Directory mtimes survive the entries created inside them afterwards.
    assert_eq!(fs::metadata(dest.join("etc")).unwrap().mtime(), 1000);
    assert_eq!(fs::metadata(dest.join("etc/hosts")).unwrap().mtime(), 2000);
    assert_eq!(
        fs::read_link(dest.join("etc/link")).unwrap(),
        Path::new("hosts")
    );
    let (a, b) = (
        fs::metadata(dest.join("etc/hosts")).unwrap(),
        fs::metadata(dest.join("etc/hosts2")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(mode(&dest.join("usr/bin/su")), 0o4755, "setuid survives");
    assert_eq!(mode(&dest.join("usr/bin/wall")), 0o2755, "setgid survives");
    assert_eq!(mode(&dest.join("usr")), 0o755, "implicit parent");
    assert_eq!(mode(&dest.join("tmp")), 0o1777);
    assert!(
        fs::symlink_metadata(dest.join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(mode(&dest.join("run/fifo")), 0o600);
    let pax = dest.join(&long_pax);
    assert_eq!(fs::read(&pax).unwrap(), b"pax data");
    assert!(!dest.join("ignored-name").exists());
    let md = fs::metadata(&pax).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec()), (1234, 500_000_000));
    let mut val = [0u8; 16];
    let n = rustix::fs::getxattr(&pax, "user.foo", &mut val[..]).unwrap();
    assert_eq!(&val[..n], b"bar");
    assert_eq!(
        fs::read_link(dest.join("longlink")).unwrap(),
        Path::new(&long_target)
    );
    assert_eq!(fs::read(dest.join(&long_gnu)).unwrap(), b"gnu!");
    assert_eq!(fs::metadata(dest.join(&long_gnu)).unwrap().mtime(), 42);
});

userns_test!(whiteouts_become_overlay_form, {
    let (_t, dest) = fresh();
    let tar = Tar::default()
        .dir("a/", 0o755)
        .file("a/keep", 0o644, b"k")
        .file("a/.wh.gone", 0o644, b"")
        .file("a/.wh..wh..opq", 0o644, b"")
        // Same layer's file: the whiteout does not apply to it.
        .file("a/.wh.keep", 0o644, b"")
        // Parent only implied.
        .file("b/c/.wh.x", 0o644, b"")
        .file(".wh..wh.plnk", 0o644, b"")
        .finish();
    unpack(&tar, &dest).unwrap();
    for p in ["a/gone", "b/c/x"] {
        let md = fs::symlink_metadata(dest.join(p)).unwrap();
        assert!(md.file_type().is_char_device(), "{p}");
        assert_eq!(md.rdev(), 0, "{p}");
    }
    assert_eq!(fs::read(dest.join("a/keep")).unwrap(), b"k");
    let mut val = [0u8; 4];
    let n = rustix::fs::getxattr(dest.join("a"), "user.overlay.opaque", &mut val[..]).unwrap();
    assert_eq!(&val[..n], b"y");
    assert!(rustix::fs::getxattr(dest.join("b"), "user.overlay.opaque", &mut val[..]).is_err());
    assert!(!dest.join(".wh..wh.plnk").exists() && !dest.join("a/.wh.gone").exists());
});

userns_test!(rejects_escaping_paths, {
    let (t, dest) = fresh();
    for bad in ["../x", "a/../../x", "/../x"] {
        let tar = Tar::default().file(bad, 0o644, b"evil").finish();
        let err = unpack(&tar, &dest).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Escape { entry } if entry == bad),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains(bad));
    }
    assert!(!t.path().join("x").exists());
    // Absolute and dotted paths land inside.
    let tar = Tar::default()
        .file("/abs", 0o644, b"1")
        .file("./dot/./f", 0o644, b"2")
        .finish();
    unpack(&tar, &dest).unwrap();
    assert_eq!(fs::read(dest.join("abs")).unwrap(), b"1");
    assert_eq!(fs::read(dest.join("dot/f")).unwrap(), b"2");
});

userns_test!(symlinks_cannot_lead_outside, {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let outside_s = outside.to_str().unwrap();

    // Symlink to an outside directory, then a write through it.
    let dest = t.path().join("d1");
    fs::create_dir(&dest).unwrap();
    let tar = Tar::default()
        .symlink("evil", outside_s)
        .file("evil/passwd", 0o644, b"pwned")
        .finish();
    let err = unpack(&tar, &dest).unwrap_err();
    assert!(err.to_string().contains("/evil"), "{err}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);

    // Links to "/" and up with "..": resolved at the layer root.
    let dest = t.path().join("d2");
    fs::create_dir(&dest).unwrap();
    let tar = Tar::default()
        .dir("etc/", 0o755)
        .symlink("root", "/")
        .symlink("sub/up", "../../../../../..")
        .symlink("etclink", "/etc")
        .file("root/r", 0o644, b"r")
        .file("sub/up/u", 0o644, b"u")
        .file("etclink/passwd", 0o644, b"p")
        .finish();
    unpack(&tar, &dest).unwrap();
    assert_eq!(fs::read(dest.join("r")).unwrap(), b"r");
    assert_eq!(fs::read(dest.join("u")).unwrap(), b"u");
    assert_eq!(fs::read(dest.join("etc/passwd")).unwrap(), b"p");
    assert!(!t.path().join("r").exists() && !t.path().join("u").exists());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);

    // A symlink whose name a later file takes is replaced, not followed.
    let dest = t.path().join("d3");
    fs::create_dir(&dest).unwrap();
    let target = outside.join("victim");
    fs::write(&target, "safe").unwrap();
    let tar = Tar::default()
        .symlink("f", target.to_str().unwrap())
        .file("f", 0o644, b"new")
        .finish();
    unpack(&tar, &dest).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"safe");
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"new");
    assert!(fs::symlink_metadata(dest.join("f")).unwrap().is_file());
});

userns_test!(hardlinks_stay_inside, {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), "s").unwrap();
    let mut n = 0;
    let mut dest = || {
        n += 1;
        let d = t.path().join(format!("d{n}"));
        fs::create_dir(&d).unwrap();
        d
    };

    let d = dest();
    let err = unpack(
        &Tar::default().hardlink("h", "../outside/secret").finish(),
        &d,
    )
    .unwrap_err();
    assert!(matches!(err, UnpackError::Escape { .. }), "{err}");

    let d = dest();
    let err = unpack(&Tar::default().hardlink("h", "/etc/passwd").finish(), &d).unwrap_err();
    assert!(matches!(err, UnpackError::HardlinkTarget { .. }), "{err}");
    assert!(err.to_string().contains("/etc/passwd"), "{err}");
    assert!(!d.join("h").exists());

    let d = dest();
    let tar = Tar::default()
        .symlink("o", outside.to_str().unwrap())
        .hardlink("h", "o/secret")
        .finish();
    let err = unpack(&tar, &d).unwrap_err();
    assert!(matches!(err, UnpackError::HardlinkTarget { .. }), "{err}");
    assert_eq!(fs::metadata(outside.join("secret")).unwrap().nlink(), 1);
    assert!(fs::symlink_metadata(d.join("h")).is_err());

    // A hard link to a symlink links the symlink itself.
    let d = dest();
    let tar = Tar::default()
        .symlink("s", "/etc/shadow")
        .hardlink("h", "s")
        .finish();
    unpack(&tar, &d).unwrap();
    assert_eq!(
        fs::read_link(d.join("h")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(fs::symlink_metadata(d.join("h")).unwrap().nlink(), 2);
});

userns_test!(devices_are_skipped, {
    let (_t, dest) = fresh();
    let tar = Tar::default()
        .raw(E {
            name: b"dev/null",
            typ: b'3',
            mode: 0o666,
            ..E::default()
        })
        .raw(E {
            name: b"dev/sda",
            typ: b'4',
            mode: 0o660,
            ..E::default()
        })
        .file("after", 0o644, b"ok")
        .finish();
    let stats = unpack(&tar, &dest).unwrap();
    assert_eq!(stats.entries, 3);
    assert!(fs::symlink_metadata(dest.join("dev/null")).is_err());
    assert!(fs::symlink_metadata(dest.join("dev/sda")).is_err());
    assert_eq!(fs::read(dest.join("after")).unwrap(), b"ok");
});

userns_test!(oversize_headers_fail_fast, {
    let (_t, dest) = fresh();
    for typ in [b'L', b'K', b'x', b'g'] {
        let mut tar = Tar::default();
        tar.raw(E {
            name: b"././@LongLink",
            typ,
            size: Some(2 << 30),
            ..E::default()
        });
        let bytes = tar.finish();
        let start = Instant::now();
        let err = unpack(&bytes, &dest).unwrap_err();
        assert!(start.elapsed().as_millis() < 500);
        assert!(
            matches!(err, UnpackError::Oversize { size, .. } if size == 2 << 30),
            "{err}"
        );
    }
    // A file claiming more data than the stream has: truncated, no big allocation.
    let mut tar = Tar::default();
    tar.raw(E {
        name: b"big",
        size: Some(1 << 40),
        data: b"short",
        ..E::default()
    });
    let err = unpack(&tar.finish(), &dest).unwrap_err();
    assert!(
        matches!(err, UnpackError::Corrupt(ref m) if m.contains("/big")),
        "{err}"
    );
    // Sparse files are refused by name.
    let tar = Tar::default()
        .raw(E {
            name: b"sp",
            typ: b'S',
            ..E::default()
        })
        .finish();
    assert!(matches!(
        unpack(&tar, &dest),
        Err(UnpackError::Unsupported { .. })
    ));
});

userns_test!(ids_outside_the_mapping, {
    let (_t, dest) = fresh();
    let tar = Tar::default()
        .raw(E {
            name: b"usr/bin/foo",
            uid: 5,
            data: b"x",
            ..E::default()
        })
        .finish();
    let err = unpack(&tar, &dest).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            UnpackError::IdOutOfRange {
                id: 5,
                kind: "uid",
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.starts_with("file /usr/bin/foo in the image is owned by uid 5, outside the 1 ids"),
        "{msg}"
    );
    assert!(
        msg.contains("give tester at least 5 more subordinate uids, e.g. `usermod --add-subuids 10000000-10000004 tester`"),
        "{msg}"
    );
    assert!(msg.contains("ignore_chown_errors = true"), "{msg}");

    let tar2 = Tar::default()
        .raw(E {
            name: b"d/",
            typ: b'5',
            mode: 0o755,
            gid: 9,
            ..E::default()
        })
        .finish();
    let err = unpack(&tar2, &dest).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("directory /d in the image is owned by gid 9"),
        "{err}"
    );

    let lenient = UnpackOptions {
        ignore_chown_errors: true,
        ..opts()
    };
    let (_t2, dest2) = fresh();
    unpack_layer(&tar[..], &dest2, &lenient).unwrap();
    let md = fs::metadata(dest2.join("usr/bin/foo")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
});

userns_test!(later_entries_replace_earlier, {
    let (_t, dest) = fresh();
    let tar = Tar::default()
        .file("f", 0o644, b"one")
        .file("f", 0o600, b"two")
        .file("x", 0o644, b"file first")
        .dir("x/", 0o750)
        .dir("d/", 0o700)
        .file("d/inner", 0o644, b"i")
        .dir("d/", 0o755)
        .dir("e/", 0o755)
        .symlink("e", "f")
        .finish();
    unpack(&tar, &dest).unwrap();
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"two");
    assert_eq!(mode(&dest.join("f")), 0o600);
    assert!(dest.join("x").is_dir());
    assert_eq!(mode(&dest.join("x")), 0o750);
    assert_eq!(mode(&dest.join("d")), 0o755);
    assert_eq!(
        fs::read(dest.join("d/inner")).unwrap(),
        b"i",
        "an existing directory keeps its contents"
    );
    assert_eq!(fs::read_link(dest.join("e")).unwrap(), Path::new("f"));

    // A non-empty directory cannot be replaced by a file.
    let (_t, dest) = fresh();
    let tar = Tar::default()
        .file("d/inner", 0o644, b"i")
        .file("d", 0o644, b"x")
        .finish();
    assert!(matches!(unpack(&tar, &dest), Err(UnpackError::Io { .. })));
});

userns_test!(reads_stream_to_the_end, {
    let (_t, dest) = fresh();
    let mut tar = Tar::default().file("f", 0o644, b"data").finish();
    tar.extend_from_slice(&[0u8; 4096]);
    tar.extend_from_slice(b"trailing junk after the end blocks");
    let mut r = DigestingReader::new(&tar[..]);
    unpack_layer(&mut r, &dest, &opts()).unwrap();
    assert_eq!(r.bytes_read(), tar.len() as u64);

    // Corrupt checksum and truncation are errors.
    let mut bad = Tar::default().file("g", 0o644, b"data").finish();
    bad[0] ^= 1;
    assert!(matches!(unpack(&bad, &dest), Err(UnpackError::Corrupt(m)) if m.contains("checksum")));
    let good = Tar::default().file("h", 0o644, &[7u8; 3000]).finish();
    assert!(matches!(
        unpack(&good[..1500], &dest),
        Err(UnpackError::Corrupt(_))
    ));
    assert!(matches!(
        unpack(&good[..100], &dest),
        Err(UnpackError::Corrupt(_))
    ));
    // An empty stream is an empty layer.
    assert_eq!(unpack(b"", &dest).unwrap(), UnpackStats::default());
});

/// Throughput check on a real tar: `BURROW_UNPACK_BENCH=/path/layer.tar`
/// (plain, gzip or zstd). Run as root or inside `unshare -r`.
#[test]
#[ignore = "benchmark; needs BURROW_UNPACK_BENCH"]
fn bench_unpack() {
    let Some(path) = std::env::var_os("BURROW_UNPACK_BENCH") else {
        return;
    };
    let t = tempfile::tempdir_in(std::env::var_os("BURROW_BENCH_DIR").unwrap_or("/var/tmp".into()))
        .unwrap();
    let dest = t.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let f = fs::File::open(&path).unwrap();
    // The size of our uid map's first range ("0 <host> <count>").
    let count = fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| {
            m.split_whitespace()
                .nth(2)
                .and_then(|c| c.parse::<u64>().ok())
        })
        .map_or(1, |c| u32::try_from(c).unwrap_or(u32::MAX));
    let o = UnpackOptions {
        uid_count: count,
        gid_count: count,
        ignore_chown_errors: true,
        user_name: String::new(),
    };
    let start = Instant::now();
    let r = decompressor("", f).unwrap();
    let stats = unpack_layer(r, &dest, &o).unwrap();
    let el = start.elapsed();
    eprintln!(
        "unpacked {} entries, {} MB in {:.3} s ({:.0} MB/s)",
        stats.entries,
        stats.bytes / 1_000_000,
        el.as_secs_f64(),
        stats.bytes as f64 / 1e6 / el.as_secs_f64()
    );
    let start = Instant::now();
    crate::storage::atomic::remove_tree(&dest).unwrap();
    eprintln!("removed in {:.3} s", start.elapsed().as_secs_f64());
}
