use super::*;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn d(s: &str) -> Digest {
    Digest::of(s.as_bytes())
}

fn store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(&t.path().join("store")).unwrap();
    (t, s)
}

fn info(name: &str) -> LayerInfo {
    LayerInfo {
        chain_id: d(name),
        parent: None,
        diff_id: d(name),
        blob_digest: d(&format!("blob-{name}")),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        compressed_size: 10,
    }
}

/// A layer with one file, made through ensure_layer.
fn add_layer(s: &Store, name: &str) -> LayerRecord {
    let (rec, created) = s
        .ensure_layer(&info(name), |t: &LayerTemp| {
            fs::write(t.diff_dir().join("file"), name)?;
            Ok::<u64, io::Error>(name.len() as u64)
        })
        .unwrap();
    assert!(created);
    rec
}

fn image(config: &str, names: &[&str], layers: &[&str]) -> ImageRecord {
    ImageRecord {
        id: d(config),
        names: names.iter().map(|s| s.to_string()).collect(),
        digests: vec![format!(
            "docker.io/library/x@{}",
            d(&format!("manifest-{config}"))
        )],
        manifest_digest: d(&format!("manifest-{config}")),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        config_digest: d(config),
        layers: layers
            .iter()
            .map(|l| ImageLayer {
                chain_id: d(l),
                diff_id: d(l),
                blob_digest: d(&format!("blob-{l}")),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                compressed_size: 10,
                unpacked_size: 1,
            })
            .collect(),
        created: None,
        added: Utc::now(),
        size: 1,
        os: "linux".into(),
        architecture: "amd64".into(),
    }
}

/// Store the blobs an image refers to.
fn add_blobs(s: &Store, config: &str, layers: &[&str]) {
    let mut all = vec![config.to_string(), format!("manifest-{config}")];
    all.extend(layers.iter().map(|l| format!("blob-{l}")));
    for b in all {
        s.put_blob(&d(&b), b.as_bytes()).unwrap();
    }
}

#[test]
fn chain_ids_known_vector() {
    // Computed independently: printf 'sha256:<a> sha256:<b>' | sha256sum
    let ids = chain_ids(&[d("a"), d("b"), d("c")]);
    assert_eq!(ids[0], d("a"));
    assert_eq!(
        ids[1].hex(),
        "51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
    );
    assert_eq!(
        ids[2].hex(),
        "2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106"
    );
    assert!(chain_ids(&[]).is_empty());
}

#[test]
fn open_creates_layout_and_refuses_future_versions() {
    let (_t, s) = store();
    for sub in ["blobs/sha256", "layers", "locks", "tmp"] {
        assert!(s.root().join(sub).is_dir(), "{sub}");
    }
    assert_eq!(fs::metadata(s.root()).unwrap().mode() & 0o777, 0o700);
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(s.root().join("storage.json")).unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    Store::open(s.root()).unwrap();
    fs::write(s.root().join("storage.json"), br#"{"version": 2}"#).unwrap();
    let err = Store::open(s.root()).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("storage.json"), "{err}");
}

#[test]
fn blobs_are_verified() {
    let (_t, s) = store();
    let good = Digest::of(b"hello");
    let err = s.put_blob(&good, b"not hello").unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(!s.has_blob(&good));
    s.put_blob(&good, b"hello").unwrap();
    assert_eq!(s.read_blob(&good).unwrap(), b"hello");
    // Again: idempotent.
    s.put_blob(&good, b"hello").unwrap();

    let mut w = s.blob_writer().unwrap();
    w.write_all(b"streamed").unwrap();
    let err = w.commit(&Digest::of(b"other")).unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }));
    assert!(!s.has_blob(&Digest::of(b"other")));
    let mut w = s.blob_writer().unwrap();
    w.write_all(b"stream").unwrap();
    w.write_all(b"ed").unwrap();
    assert_eq!(w.commit(&Digest::of(b"streamed")).unwrap(), 8);
    assert_eq!(s.read_blob(&Digest::of(b"streamed")).unwrap(), b"streamed");
    // A dropped writer leaves nothing.
    let mut w = s.blob_writer().unwrap();
    w.write_all(b"abandoned").unwrap();
    drop(w);
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(s.root().join("locks")).unwrap().count(), 0);
    assert!(matches!(
        s.read_blob(&Digest::of(b"missing")),
        Err(StoreError::BlobNotFound { .. })
    ));
}

#[test]
fn ensure_layer_creates_once() {
    let (_t, s) = store();
    let rec = add_layer(&s, "l1");
    assert_eq!(rec.unpacked_size, 2);
    assert_eq!(
        fs::read(s.layer_diff_path(&d("l1")).join("file")).unwrap(),
        b"l1"
    );
    assert_eq!(s.layer(&d("l1")).unwrap().unwrap(), rec);
    let (again, created) = s
        .ensure_layer(&info("l1"), |_t: &LayerTemp| -> Result<u64, io::Error> {
            panic!("fill called twice")
        })
        .unwrap();
    assert!(!created);
    assert_eq!(again, rec);
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn ensure_layer_failure_leaves_nothing() {
    let (_t, s) = store();
    let err = s
        .ensure_layer(&info("bad"), |t: &LayerTemp| {
            fs::create_dir(t.diff_dir().join("ro")).unwrap();
            fs::write(t.diff_dir().join("ro/f"), "x").unwrap();
            fs::set_permissions(t.diff_dir().join("ro"), fs::Permissions::from_mode(0o555))
                .unwrap();
            let mut w = t.blob_writer().unwrap();
            w.write_all(b"partial").unwrap();
            Err::<u64, _>(io::Error::other("network went away"))
        })
        .unwrap_err();
    assert!(matches!(err, EnsureError::Fill(_)));
    assert_eq!(err.to_string(), "network went away");
    assert!(s.layer(&d("bad")).unwrap().is_none());
    assert!(!s.root().join("layers").join(d("bad").hex()).exists());
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(s.root().join("blobs/sha256")).unwrap().count(),
        0
    );
    // And it can be made afterwards.
    add_layer(&s, "bad");
}

#[test]
fn ensure_layer_concurrent_threads_fill_once() {
    let (_t, s) = store();
    let s = Arc::new(s);
    let calls = Arc::new(AtomicUsize::new(0));
    let created = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (s, calls, created) = (s.clone(), calls.clone(), created.clone());
            std::thread::spawn(move || {
                // Half on one layer, half on their own.
                let name = if i % 2 == 0 {
                    "shared".to_string()
                } else {
                    format!("own-{i}")
                };
                let (rec, c) = s
                    .ensure_layer(&info(&name), |t: &LayerTemp| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        fs::write(t.diff_dir().join("f"), &name)?;
                        Ok::<u64, io::Error>(1)
                    })
                    .unwrap();
                if c {
                    created.fetch_add(1, Ordering::SeqCst);
                }
                assert_eq!(rec.chain_id, d(&name));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(created.load(Ordering::SeqCst), 5);
    assert_eq!(fs::read_dir(s.root().join("layers")).unwrap().count(), 5);
    assert!(s.verify().unwrap().is_empty());
}

#[test]
fn index_put_merge_move_remove() {
    let (_t, s) = store();
    add_layer(&s, "l1");
    add_layer(&s, "l2");
    assert!(s.images().unwrap().is_empty());

    // Unknown layer: refused.
    let err = s
        .put_image(image("cfg-x", &["x:1"], &["nope"]))
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingLayer { .. }), "{err}");

    s.put_image(image(
        "cfg-a",
        &["docker.io/library/a:1", "docker.io/library/a:latest"],
        &["l1"],
    ))
    .unwrap();
    s.put_image(image("cfg-b", &["docker.io/library/b:1"], &["l1", "l2"]))
        .unwrap();
    // Merge: same id, new name; a:latest moves from a to b.
    let mut b2 = image(
        "cfg-b",
        &["docker.io/library/a:latest", "docker.io/library/b:1"],
        &["l1", "l2"],
    );
    b2.digests.push("docker.io/library/b@sha256:1111111111111111111111111111111111111111111111111111111111111111".into());
    s.put_image(b2).unwrap();
    let a = s.image(&d("cfg-a")).unwrap().unwrap();
    let b = s.image(&d("cfg-b")).unwrap().unwrap();
    assert_eq!(a.names, vec!["docker.io/library/a:1"]);
    assert_eq!(
        b.names,
        vec!["docker.io/library/b:1", "docker.io/library/a:latest"]
    );
    assert_eq!(b.digests.len(), 2);
    assert_eq!(s.images().unwrap().len(), 2);

    // Tag / untag.
    s.set_names(
        &d("cfg-a"),
        &["docker.io/library/b:1".into()],
        &["docker.io/library/a:1".into()],
    )
    .unwrap();
    let a = s.image(&d("cfg-a")).unwrap().unwrap();
    let b = s.image(&d("cfg-b")).unwrap().unwrap();
    assert_eq!(a.names, vec!["docker.io/library/b:1"]);
    assert_eq!(b.names, vec!["docker.io/library/a:latest"]);
    assert!(matches!(
        s.set_names(&d("zzz"), &[], &[]),
        Err(StoreError::ImageNotFound(_))
    ));

    let removed = s.remove_image(&d("cfg-a")).unwrap();
    assert_eq!(removed.id, d("cfg-a"));
    assert!(s.image(&d("cfg-a")).unwrap().is_none());
    assert!(matches!(
        s.remove_image(&d("cfg-a")),
        Err(StoreError::ImageNotFound(_))
    ));

    // update_index: an error leaves the index untouched.
    let before = fs::read(s.root().join("images.json")).unwrap();
    let err = s
        .update_index(|imgs| {
            imgs.clear();
            Err::<(), _>(StoreError::ImageNotFound(d("x")))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::ImageNotFound(_)));
    assert_eq!(fs::read(s.root().join("images.json")).unwrap(), before);
    let n = s.update_index(|imgs| Ok(imgs.len())).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn concurrent_index_updates_are_not_lost() {
    let (_t, s) = store();
    add_layer(&s, "l1");
    let s = Arc::new(s);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                for j in 0..5 {
                    s.put_image(image(
                        &format!("cfg-{i}-{j}"),
                        &["docker.io/library/shared:latest"],
                        &["l1"],
                    ))
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let imgs = s.images().unwrap();
    assert_eq!(imgs.len(), 40);
    // The tag moved each time: exactly one image holds it.
    assert_eq!(imgs.iter().filter(|i| !i.names.is_empty()).count(), 1);
}

#[test]
fn gc_removes_unreferenced_and_defers_while_shared() {
    let (_t, s) = store();
    for l in ["l1", "l2", "l3", "l4"] {
        add_layer(&s, l);
    }
    // l4 is a container's layer whose parent is l3.
    let mut i4 = info("l4b");
    i4.parent = Some(d("l3"));
    s.ensure_layer(&i4, |_t: &LayerTemp| Ok::<u64, io::Error>(0))
        .unwrap();
    add_blobs(&s, "cfg-a", &["l1", "l2"]);
    add_blobs(&s, "cfg-b", &["l1"]);
    s.put_blob(&d("stray"), b"stray").unwrap();
    s.put_image(image("cfg-a", &["a:1"], &["l1", "l2"]))
        .unwrap();
    s.put_image(image("cfg-b", &["b:1"], &["l1"])).unwrap();

    {
        let _guard = s.gc_shared().unwrap();
        let _guard2 = s.gc_shared().unwrap();
        let st = s.gc(&[]).unwrap();
        assert!(st.deferred);
        assert!(s.layer(&d("l4")).unwrap().is_some());
    }

    s.remove_image(&d("cfg-a")).unwrap();
    let st = s.gc(&[d("l4b")]).unwrap();
    assert!(!st.deferred);
    // l2 (only in a) and l4 (nobody) go; l1 (b), l4b and its parent l3 stay.
    assert_eq!(st.layers_removed, 2);
    assert!(s.layer(&d("l2")).unwrap().is_none());
    assert!(s.layer(&d("l4")).unwrap().is_none());
    for keep in ["l1", "l3", "l4b"] {
        assert!(s.layer(&d(keep)).unwrap().is_some(), "{keep}");
    }
    // Blobs: a's config, manifest, blob-l2 and the stray go.
    assert_eq!(st.blobs_removed, 4);
    assert!(!s.has_blob(&d("stray")));
    assert!(
        s.has_blob(&d("cfg-b")) && s.has_blob(&d("manifest-cfg-b")) && s.has_blob(&d("blob-l1"))
    );
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    assert!(s.verify().unwrap().is_empty());
    // The image's unpacked files are really gone.
    assert!(!s.layer_diff_path(&d("l2")).exists());

    // A layer with a read-only directory inside is removed too.
    s.ensure_layer(&info("ro"), |t: &LayerTemp| {
        fs::create_dir(t.diff_dir().join("d"))?;
        fs::write(t.diff_dir().join("d/f"), "x")?;
        fs::set_permissions(t.diff_dir().join("d"), fs::Permissions::from_mode(0o555))?;
        Ok::<u64, io::Error>(1)
    })
    .unwrap();
    let st = s.gc(&[d("l4b")]).unwrap();
    assert_eq!(st.layers_removed, 1);
    assert!(s.layer(&d("ro")).unwrap().is_none());
}

#[test]
fn gc_cleans_dead_tmp_entries_only() {
    let (_t, s) = store();
    // A dead pull: entry and lock file, nobody holding the lock.
    let dead = s.root().join("tmp/layer-dead");
    fs::create_dir_all(dead.join("diff/sub")).unwrap();
    fs::set_permissions(dead.join("diff/sub"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::write(s.root().join("locks/tmp-layer-dead.lock"), "").unwrap();
    // Dead without even a lock file.
    fs::write(s.root().join("tmp/blob-orphan"), "x").unwrap();
    // A live one.
    let (live, lock) = s.new_temp("layer-live-").unwrap();
    fs::create_dir(&live).unwrap();
    // A stale lock file with no entry.
    fs::write(s.root().join("locks/tmp-gone.lock"), "").unwrap();

    let st = s.gc(&[]).unwrap();
    assert_eq!(st.tmp_removed, 2);
    assert!(!dead.exists());
    assert!(!s.root().join("tmp/blob-orphan").exists());
    assert!(live.is_dir());
    assert!(!s.root().join("locks/tmp-gone.lock").exists());
    assert!(!s.root().join("locks/tmp-layer-dead.lock").exists());
    fs::remove_dir(&live).unwrap();
    drop(lock);
    assert_eq!(
        fs::read_dir(s.root().join("locks"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("tmp-")
            })
            .count(),
        0
    );
}

#[test]
fn store_writes_reclaim_dead_tmp_entries_and_skip_live_ones() {
    let (_t, s) = store();
    let dead = s.root().join("tmp/layer-dead");
    fs::create_dir_all(dead.join("diff")).unwrap();
    fs::write(dead.join("diff/big"), vec![7u8; 1 << 20]).unwrap();
    fs::write(s.root().join("locks/tmp-layer-dead.lock"), "").unwrap();
    fs::write(s.root().join("tmp/blob-orphan"), vec![1u8; 64 << 10]).unwrap();
    // A live (or stopped) pull's entry: its lock is held.
    let (live, lock) = s.new_temp("blob-live-").unwrap();
    fs::write(&live, vec![2u8; 64 << 10]).unwrap();

    let left = s.dead_temp().unwrap();
    assert_eq!(left.entries, 2, "{left:?}");
    assert!(left.bytes >= (1 << 20) + (64 << 10), "{left:?}");
    // Reporting removes nothing.
    assert!(dead.exists());

    // Any store write (pull, load, build, commit) takes this guard first.
    let guard = s.gc_shared().unwrap();
    assert!(!dead.exists());
    assert!(!s.root().join("tmp/blob-orphan").exists());
    assert!(live.exists(), "a live entry is never removed");
    assert_eq!(s.dead_temp().unwrap(), TempLeftovers::default());

    // While a pull holds off gc, a prune still removes dead entries.
    fs::write(s.root().join("tmp/blob-orphan2"), "x").unwrap();
    let st = s.gc(&[]).unwrap();
    assert!(st.deferred);
    assert_eq!(st.tmp_removed, 1);
    assert!(live.exists());
    drop(guard);

    fs::remove_file(&live).unwrap();
    drop(lock);
    assert_eq!(s.dead_temp().unwrap(), TempLeftovers::default());
}

#[test]
fn gc_cleans_entries_of_a_killed_process() {
    let (_t, s) = store();
    // A real process takes a temp entry and dies without cleaning up.
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([
            "storage::tests::helper_take_temp_and_die",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env("BURROW_TEST_STORE", s.root())
        .output()
        .unwrap();
    assert!(!status.status.success(), "the helper should have died");
    let names: Vec<_> = fs::read_dir(s.root().join("tmp")).unwrap().collect();
    assert_eq!(names.len(), 1, "helper left its entry");
    let st = s.gc(&[]).unwrap();
    assert_eq!(st.tmp_removed, 1);
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

#[test]
#[ignore = "helper for gc_cleans_entries_of_a_killed_process"]
fn helper_take_temp_and_die() {
    let Some(root) = std::env::var_os("BURROW_TEST_STORE") else {
        return;
    };
    let s = Store::open(Path::new(&root)).unwrap();
    let (p, _lock) = s.new_temp("layer-killed-").unwrap();
    fs::create_dir(&p).unwrap();
    fs::write(p.join("partial"), "x").unwrap();
    // As abrupt as SIGKILL: no destructors run.
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL)
        .unwrap();
}

#[test]
fn a_layer_published_before_its_parent_is_consistent_and_collected() {
    // Layers unpack in parallel: a pull killed after publishing layer 2 but
    // before layer 1 leaves a child without its parent. That is not damage.
    let (_t, s) = store();
    let mut child = info("child");
    child.parent = Some(d("parent"));
    s.ensure_layer(&child, |t: &LayerTemp| {
        fs::write(t.diff_dir().join("file"), "c")?;
        Ok::<u64, io::Error>(1)
    })
    .unwrap();
    assert_eq!(s.verify().unwrap(), vec![]);
    // No image uses it, so gc removes it.
    let stats = s.gc(&[]).unwrap();
    assert!(!stats.deferred);
    assert!(s.layer(&d("child")).unwrap().is_none());
}

#[test]
fn verify_detects_problems() {
    let (_t, s) = store();
    add_layer(&s, "l1");
    add_blobs(&s, "cfg-a", &["l1"]);
    s.put_image(image("cfg-a", &["a:1"], &["l1"])).unwrap();
    assert_eq!(s.verify().unwrap(), vec![]);

    // Corrupt a blob in place.
    let p = s.blob_path(&d("blob-l1"));
    fs::write(&p, "tampered").unwrap();
    // Remove the manifest.
    fs::remove_file(s.blob_path(&d("manifest-cfg-a"))).unwrap();
    // Break a layer record.
    fs::write(
        s.root()
            .join("layers")
            .join(d("l1").hex())
            .join("layer.json"),
        "{",
    )
    .unwrap();
    let problems = s.verify().unwrap();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains(&d("blob-l1").to_string()) && t.contains("corrupt")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("manifest blob") && t.contains("missing")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains(&format!("layer {}", d("l1"))) && t.contains("layer.json")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.contains("image a:1: layer")),
        "{text:?}"
    );
    assert!(text.iter().all(|t| !t.contains('\n')));

    // ensure_layer repairs the broken layer.
    let (_, created) = s
        .ensure_layer(&info("l1"), |t: &LayerTemp| {
            fs::write(t.diff_dir().join("file"), "l1")?;
            Ok::<u64, io::Error>(2)
        })
        .unwrap();
    assert!(created);
}

#[test]
fn eight_processes_share_a_store() {
    let (_t, s) = store();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            std::process::Command::new(&exe)
                .args([
                    "storage::tests::helper_pull_worker",
                    "--exact",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("BURROW_TEST_STORE", s.root())
                .env("BURROW_TEST_WORKER", i.to_string())
                .output()
                .unwrap()
        })
        .collect();
    // Output is collected in order, but the processes were all started first.
    for (i, out) in children.iter().enumerate() {
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "worker {i}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The shared base layer was unpacked exactly once.
    assert_eq!(fs::read_dir(s.root().join("fills")).unwrap().count(), 1 + 8);
    assert_eq!(
        fs::read_dir(s.root().join("fills"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("base-")
            })
            .count(),
        1
    );
    let imgs = s.images().unwrap();
    assert_eq!(imgs.len(), 8);
    assert_eq!(
        imgs.iter()
            .filter(|i| i.names.contains(&"shared:latest".to_string()))
            .count(),
        1
    );
    for i in 0..8 {
        assert!(
            imgs.iter()
                .any(|img| img.names.contains(&format!("own:{i}")))
        );
    }
    assert_eq!(s.verify().unwrap(), vec![]);
    let st = s.gc(&[]).unwrap();
    assert_eq!(
        (st.layers_removed, st.blobs_removed, st.tmp_removed),
        (0, 0, 0)
    );
}

#[test]
#[ignore = "helper for eight_processes_share_a_store"]
fn helper_pull_worker() {
    let (Some(root), Some(i)) = (
        std::env::var_os("BURROW_TEST_STORE"),
        std::env::var("BURROW_TEST_WORKER").ok(),
    ) else {
        return;
    };
    let s = Store::open(Path::new(&root)).unwrap();
    let fills = s.root().join("fills");
    fs::create_dir_all(&fills).unwrap();
    let _guard = s.gc_shared().unwrap();
    for (layer, parent) in [
        ("base".to_string(), None),
        (format!("own-{i}"), Some(d("base"))),
    ] {
        let mut inf = info(&layer);
        inf.parent = parent;
        s.ensure_layer(&inf, |t: &LayerTemp| {
            fs::write(fills.join(format!("{layer}-{}", std::process::id())), "")?;
            for n in 0..50 {
                fs::write(t.diff_dir().join(format!("f{n}")), &layer)?;
            }
            let mut w = t.blob_writer().map_err(io::Error::other)?;
            w.write_all(format!("blob-{layer}").as_bytes())?;
            w.commit(&d(&format!("blob-{layer}")))
                .map_err(io::Error::other)?;
            Ok::<u64, io::Error>(50)
        })
        .unwrap();
    }
    let cfg = format!("cfg-{i}");
    s.put_blob(&d(&cfg), cfg.as_bytes()).unwrap();
    let m = format!("manifest-{cfg}");
    s.put_blob(&d(&m), m.as_bytes()).unwrap();
    let own = format!("own-{i}");
    s.put_image(image(
        &cfg,
        &["shared:latest", &format!("own:{i}")],
        &["base", &own],
    ))
    .unwrap();
    drop(_guard);
    // Collect while others may still be pulling: deferred or harmless.
    s.gc(&[]).unwrap();
}
