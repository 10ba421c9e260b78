//! `stats`, `system df/prune/reset/check --repair`, `version` and
//! `run --ulimit`, end to end as the unprivileged user (issue 11).

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

use common::{Burrow, Registry, busybox_image, stderr, stdout};
use serde_json::Value;

fn pulled() -> (Registry, Burrow, String) {
    common::pulled("test/sys", &busybox_image(|i| i))
}

/// Host pids in the pid namespace of `pid1`.
fn pids_of(pid1: i32) -> Vec<i32> {
    let ns = |p: i32| {
        std::fs::metadata(format!("/proc/{p}/ns/pid"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let want = ns(pid1).expect("the container's pid namespace");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(*p) == Some(want))
        .collect()
}

/// What /proc says the processes of the container use: their PSS.
fn proc_memory(pid1: i32) -> u64 {
    pids_of(pid1)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .sum()
}

fn host_memory() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb * 1024
}

fn pid_of(b: &Burrow, name: &str) -> i32 {
    b.ok(&["inspect", "--format", "{{.State.Pid}}", name])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn stats_shows_a_busy_containers_cpu_and_its_memory() {
    let (_reg, b, img) = pulled();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "burn",
        &img,
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let pid1 = pid_of(&b, "burn");

    let json = b.ok_json(&["stats", "--no-stream", "--format", "json", "burn"]);
    let s = &json[0];
    for field in [
        "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
    ] {
        assert!(s[field].is_string(), "{field} in {s}");
    }
    assert_eq!(s["Name"], "burn");
    assert_eq!(s["ID"].as_str().unwrap().len(), 12);
    let cpu = s["CPU"].as_f64().unwrap();
    assert!(cpu > 50.0, "a busy loop uses more than half a core: {s}");
    assert!(s["CPUPerc"].as_str().unwrap().ends_with('%'), "{s}");
    assert_eq!(s["PIDs"], "1", "{s}");
    // No cgroup of its own here: the host's memory is the limit.
    assert_eq!(s["MemLimit"].as_u64().unwrap(), host_memory(), "{s}");
    let ours = s["MemUsageBytes"].as_u64().unwrap();
    let proc = proc_memory(pid1);
    assert!(ours > 0 && proc > 0, "{s}");
    let diff = ours.abs_diff(proc) as f64 / proc as f64;
    assert!(diff <= 0.10, "stats {ours} vs /proc {proc}: {s}");

    // The table: Docker's columns, one row.
    let table = b.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        lines[1].contains("burn") && lines[1].contains("iB / "),
        "{table}"
    );
    // A template.
    let t = b.ok(&["stats", "--no-stream", "--format", "{{.Name}}:{{.PIDs}}"]);
    assert_eq!(t.trim(), "burn:1");

    // -a shows a stopped container with zeros; an unknown one is an error.
    b.ok(&["create", "--name", "idle", &img, "true"]);
    let all = b.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.CPUPerc}}",
    ]);
    assert!(all.lines().any(|l| l == "idle 0.00%"), "{all}");
    let out = b.run(&["stats", "--no-stream", "nosuch"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));

    b.ok(&["rm", "-f", "burn", "idle"]);
}

#[test]
fn system_df_and_prune_remove_exactly_what_is_unused() {
    let (_reg, b, img) = pulled();
    // Two stopped containers, one of which wrote 512 KiB; a running one.
    b.ok(&["run", "--name", "done", &img, "true"]);
    b.ok(&[
        "run",
        "--name",
        "writer",
        &img,
        "dd",
        "if=/dev/zero",
        "of=/big",
        "bs=1024",
        "count=512",
    ]);
    b.ok(&[
        "run",
        "-d",
        "--name",
        "keep",
        "-v",
        "kept-vol:/d",
        &img,
        "sleep",
        "600",
    ]);
    // A volume no container uses, with 256 KiB in it.
    b.ok(&["volume", "create", "spare"]);
    b.ok(&[
        "run",
        "--rm",
        "-v",
        "spare:/s",
        &img,
        "dd",
        "if=/dev/zero",
        "of=/s/f",
        "bs=1024",
        "count=256",
    ]);
    // A dangling image: a commit without a name.
    let dangling = b.ok(&["commit", "writer"]).trim().to_string();
    let dangling = dangling.trim_start_matches("sha256:").to_string();
    b.ok(&["network", "create", "unused"]);

    let df = b.ok_json(&["system", "df", "--format", "json"]);
    assert_eq!(df[0]["Type"], "Images");
    assert_eq!(df[0]["Total"], 2, "{df}");
    assert_eq!(df[0]["Active"], 1, "{df}");
    assert_eq!(df[1]["Type"], "Containers");
    assert_eq!(df[1]["Total"], 3, "{df}");
    assert_eq!(df[1]["Active"], 1, "{df}");
    let reclaimable = df[1]["RawReclaimable"].as_u64().unwrap();
    assert!(reclaimable >= 512 * 1024, "{df}");

    // Bad input first: nothing is touched.
    let out = b.run(&["system", "prune", "-f", "--filter", "until=soon"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    // The prompt, answered no.
    let out = b.run_with_stdin(&["system", "prune"], "n\n");
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("WARNING! This command removes:")
            && stderr(&out).contains("all stopped containers"),
        "{}",
        stderr(&out)
    );
    let out = b.run_with_stdin(&["system", "prune", "--volumes"], "n\n");
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("all volumes not used by at least one container"),
        "{}",
        stderr(&out)
    );
    // Nothing older than 2000.
    b.ok(&[
        "system",
        "prune",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]);
    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 3);

    let ids = |names: &[&str]| -> BTreeSet<String> {
        names
            .iter()
            .map(|n| {
                b.ok(&["inspect", "--format", "{{.Id}}", n])
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let stopped = ids(&["done", "writer"]);
    let kept = ids(&["keep"]);
    let out = b.ok(&["system", "prune", "-f"]);
    let lines: BTreeSet<String> = out.lines().map(String::from).collect();
    for id in &stopped {
        assert!(lines.contains(id), "{id} removed: {out}");
    }
    for id in &kept {
        assert!(!lines.contains(id), "{id} kept: {out}");
    }
    assert!(lines.contains(&dangling), "dangling image removed: {out}");
    assert!(lines.contains("unused"), "unused network removed: {out}");
    let total = out
        .lines()
        .find_map(|l| l.strip_prefix("Total reclaimed space: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(total != "0B" && total.ends_with('B'), "{out}");

    // Volumes stay without --volumes; df -v shows who uses them.
    let vols = |b: &Burrow| -> BTreeSet<String> {
        b.ok(&["volume", "ls", "-q"])
            .lines()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        vols(&b),
        BTreeSet::from(["kept-vol".into(), "spare".into()])
    );
    let verbose = b.ok(&["system", "df", "-v"]);
    let links = |name: &str| {
        verbose
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1).map(String::from))
            .unwrap_or_else(|| panic!("{name} in {verbose}"))
    };
    assert_eq!(links("kept-vol"), "1", "{verbose}");
    assert_eq!(links("spare"), "0", "{verbose}");
    let out = b.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Volumes\nspare\n"), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(vols(&b), BTreeSet::from(["kept-vol".into()]));

    // What is left: the running container and its image.
    assert_eq!(b.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "keep");
    assert_eq!(b.ok(&["images", "-q"]).lines().count(), 1);
    let df = b.ok_json(&["system", "df", "--format", "json"]);
    assert_eq!(df[1]["Total"], 1, "{df}");
    assert_eq!(df[0]["Total"], 1, "{df}");
    b.ok(&["rm", "-f", "keep"]);
    // -a: the image no container uses goes too.
    b.ok(&["system", "prune", "-af"]);
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
    assert!(b.stored("layers").is_empty(), "{:?}", b.stored("layers"));
}

#[test]
fn system_reset_leaves_an_empty_store_and_no_processes() {
    let (_reg, b, img) = pulled();
    b.ok(&["run", "-d", "--name", "s1", &img, "sleep", "600"]);
    b.ok(&["create", "--name", "s2", &img, "true"]);
    let pid1 = pid_of(&b, "s1");
    let monitor: i32 = b.ok_json(&["ps", "--format", "json"])[0]["MonitorPid"]
        .as_i64()
        .unwrap() as i32;

    // Without -f and no answer: refused, nothing removed.
    let out = b.run_with_stdin(&["system", "reset"], "");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("WARNING! This will remove:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.ok(&["ps", "-aq"]).lines().count(), 2);

    b.ok(&["system", "reset", "-f"]);
    // Gone, or ended and not yet reaped by whoever adopted it.
    let gone = |p: i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).map_or(true, |s| {
            s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z'))
        })
    };
    assert!(gone(pid1), "the container's process is gone");
    assert!(gone(monitor), "its monitor is gone");
    let left: Vec<_> = std::fs::read_dir(b.root.path())
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "store left: {left:?}");
    assert!(
        !b.runroot.path().exists()
            || std::fs::read_dir(b.runroot.path())
                .unwrap()
                .next()
                .is_none()
    );
    // No mount of the store remains.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(b.root.path().to_str().unwrap()),
        "{mounts}"
    );
    // And burrow works on the empty store.
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "");
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn system_check_repair_removes_damage_and_names_the_image() {
    let (_reg, b, img) = pulled();
    b.ok(&["create", "--name", "broken", &img, "true"]);
    let cid = b
        .ok(&["inspect", "--format", "{{.Id}}", "broken"])
        .trim()
        .to_string();
    let image_id = b
        .ok(&["image", "inspect", "--format", "{{.Id}}", &img])
        .trim()
        .trim_start_matches("sha256:")
        .to_string();
    let root = b.root.path();
    // A blob whose content no longer matches its digest (the config).
    let blob = root.join("blobs/sha256").join(&image_id);
    assert!(blob.exists(), "{}", blob.display());
    std::fs::write(&blob, b"not the config").unwrap();
    // A half-unpacked layer: a directory without its record.
    let half = root.join("layers").join("ab".repeat(32));
    std::fs::create_dir_all(half.join("diff")).unwrap();
    // A record that points nowhere: its config.json is cut short.
    std::fs::write(
        root.join("containers").join(&cid).join("config.json"),
        b"{\"id\":",
    )
    .unwrap();

    let out = b.run(&["system", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("FAIL  store"), "{text}");
    assert!(text.contains("--repair"), "{text}");

    let out = b.run(&["system", "check", "--repair"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("Removed blob") && l.contains(&image_id)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("Removed layer") && l.contains(&"ab".repeat(32))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("Removed container") && l.contains(&cid)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("Image ") && l.contains(&img) && l.contains("pull")),
        "names the image to pull again: {text}"
    );
    assert!(text.contains("OK    store"), "{text}");
    assert!(!blob.exists() && !half.exists());
    assert_eq!(b.ok(&["images", "-q"]).trim(), "");
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "");
    // Pulled again, it runs.
    b.ok(&["pull", "--tls-verify=false", &img]);
    assert_eq!(b.run_rm_ok(&[], &img, &["echo", "ok"]).trim(), "ok");
    let out = b.run(&["system", "check", "--repair"]);
    assert!(
        stdout(&out).contains("Nothing to repair"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn run_ulimit_sets_the_containers_limits_and_bad_ones_are_refused() {
    let (_reg, b, img) = pulled();
    let out = b.run_rm_ok(
        &["--ulimit", "nofile=100:200", "--ulimit", "core=0"],
        &img,
        &["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["100", "200", "0"],
        "{out}"
    );
    // exec inherits them, as in Docker.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--ulimit",
        "nofile=64",
        &img,
        "sleep",
        "600",
    ]);
    assert_eq!(b.ok(&["exec", "lim", "sh", "-c", "ulimit -n"]).trim(), "64");
    b.ok(&["rm", "-f", "lim"]);

    for (bad, says) in [
        (
            "nofile=200:100",
            "soft limit 200 is above the hard limit 100",
        ),
        ("files=10", "unknown resource \"files\""),
        ("nofile=lots", "NAME=SOFT[:HARD]"),
        ("nofile=1:99999999999", "only root can raise"),
    ] {
        let out = b.run(&["run", "--rm", "--ulimit", bad, &img, "true"]);
        assert_eq!(out.status.code(), Some(125), "{bad}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{bad}: {err}");
    }
    assert_eq!(b.ok(&["ps", "-aq"]).trim(), "", "nothing half-made");
}

#[test]
fn version_has_podmans_client_block() {
    let b = Burrow::new();
    let text = b.ok(&["version"]);
    let keys: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "Client",
            "Version",
            "API Version",
            "Rust Version",
            "Git Commit",
            "Built",
            "OS/Arch"
        ],
        "{text}"
    );
    assert!(text.contains("rustc "), "{text}");
    let json: Value = b.ok_json(&["version", "--format", "json"]);
    let c = &json["Client"];
    for f in [
        "Version",
        "APIVersion",
        "GoVersion",
        "RustVersion",
        "GitCommit",
        "BuiltTime",
        "Built",
        "OsArch",
        "Os",
    ] {
        assert!(!c[f].is_null(), "{f}: {json}");
    }
    assert!(c["Built"].as_i64().unwrap() > 0, "{json}");
}
