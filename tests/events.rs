//! `burrow events` and the events log, end to end as the unprivileged
//! user: what each change records, times, filters, formats, a reader
//! following the log while other processes write it, and rotation.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;

use common::{Burrow, Wait, busybox_image, stderr};
use serde_json::Value;

fn pulled() -> (common::Registry, Burrow, String) {
    common::pulled("test/events", &busybox_image(|i| i))
}

/// Every logged event, as JSON objects, that `filters` select.
fn logged(b: &Burrow, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["events", "--stream=false", "--format", "json"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    b.ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

fn attr<'a>(e: &'a Value, k: &str) -> &'a str {
    e["Actor"]["Attributes"][k].as_str().unwrap_or("")
}

/// A `burrow events ARGS` reader in the background, its lines sent on
/// as they come.
fn reader(b: &Burrow, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut all = vec!["events"];
    all.extend(args);
    let mut child = b.cmd(&all).stdout(Stdio::piped()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The lines `rx` has received until `enough` says they are enough
/// (or the generous limit passes).
fn collect(rx: &mpsc::Receiver<String>, enough: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    Wait::secs(60).until(|| {
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        enough(&lines)
    });
    lines
}

#[test]
fn a_scripted_lifecycle_records_exactly_its_events() {
    let (_reg, b, img) = pulled();
    let id = b
        .ok(&[
            "create",
            "--name",
            "life",
            "-l",
            "team=ci",
            &img,
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 0.1; done",
        ])
        .trim()
        .to_string();
    b.ok(&["start", "life"]);
    b.ok(&["exec", "life", "true"]);
    assert_eq!(
        b.run(&["exec", "life", "sh", "-c", "exit 3"]).status.code(),
        Some(3)
    );
    b.ok(&["stop", "-t", "30", "life"]);
    b.ok(&["start", "life"]);
    b.ok(&["pause", "life"]);
    b.ok(&["unpause", "life"]);
    b.ok(&["kill", "-s", "KILL", "life"]);
    Wait::secs(30).expect("life to exit after kill", || b.ps_state("life") == "exited");
    b.ok(&["rename", "life", "life2"]);
    b.ok(&["rm", "life2"]);

    let events = logged(&b, &[&format!("container={id}")]);
    assert_eq!(
        actions(&events),
        [
            "create",
            "init",
            "start",
            "exec_create: true",
            "exec_start: true",
            "exec_die",
            "exec_create: sh -c exit 3",
            "exec_start: sh -c exit 3",
            "exec_die",
            "kill",
            "die",
            "stop",
            "init",
            "start",
            "pause",
            "unpause",
            "kill",
            "die",
            "rename",
            "destroy",
        ],
        "{events:#?}"
    );
    for e in &events {
        assert_eq!(e["Type"], "container");
        assert_eq!(e["Actor"]["ID"], id.as_str());
        assert_eq!(attr(e, "image"), img);
        assert_eq!(attr(e, "team"), "ci", "labels are attributes: {e}");
    }
    let exit_codes: Vec<&str> = events
        .iter()
        .filter(|e| e["Action"] == "die" || e["Action"] == "exec_die")
        .map(|e| attr(e, "exitCode"))
        .collect();
    assert_eq!(exit_codes, ["0", "3", "0", "137"]);
    let signals: Vec<&str> = events
        .iter()
        .filter(|e| e["Action"] == "kill")
        .map(|e| attr(e, "signal"))
        .collect();
    assert_eq!(signals, ["15", "9"]);
    // One exec, one ID, not the other's.
    assert_eq!(attr(&events[3], "execID"), attr(&events[5], "execID"));
    assert_ne!(attr(&events[3], "execID"), attr(&events[6], "execID"));
    assert_eq!(attr(&events[3], "execID").len(), 64);
    let rename = &events[18];
    assert_eq!(
        (attr(rename, "oldName"), attr(rename, "name")),
        ("life", "life2")
    );
    assert_eq!(attr(&events[0], "name"), "life");
    assert_eq!(attr(&events[19], "name"), "life2");

    // In the foreground, with --rm; and detached, with --rm, by the monitor.
    assert_eq!(
        b.run(&["run", "--rm", "--name", "fg", &img, "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    assert_eq!(
        actions(&logged(&b, &["container=fg"])),
        ["create", "attach", "init", "start", "die", "destroy"]
    );
    assert_eq!(
        attr(&logged(&b, &["container=fg", "event=die"])[0], "exitCode"),
        "5"
    );
    b.ok(&["run", "-d", "--rm", "--name", "bg", &img, "true"]);
    Wait::secs(30).expect("bg to be removed", || {
        logged(&b, &["container=bg", "event=destroy"]).len() == 1
    });
    assert_eq!(
        actions(&logged(&b, &["container=bg"])),
        ["create", "init", "start", "die", "destroy"]
    );
}

#[test]
fn images_and_networks_are_recorded_and_filtered() {
    let (_reg, b, img) = pulled();
    b.ok(&["tag", &img, "mine/ev:1"]);
    b.ok(&["untag", &img, "mine/ev:1"]);
    b.ok(&["network", "create", "evnet"]);
    b.ok(&[
        "run", "--rm", "--name", "c1", "-l", "tier=web", &img, "true",
    ]);
    b.ok(&["network", "rm", "evnet"]);

    let images = logged(&b, &["type=image"]);
    assert_eq!(actions(&images), ["pull", "tag", "untag"], "{images:#?}");
    assert_eq!(images[0]["Actor"]["ID"], img.as_str());
    assert_eq!(attr(&images[1], "name"), "docker.io/mine/ev:1");
    assert!(
        images[1]["Actor"]["ID"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(images[1]["status"], "tag");

    let nets = logged(&b, &["network=evnet"]);
    assert_eq!(actions(&nets), ["create", "destroy"]);
    assert!(nets.iter().all(|e| e["Type"] == "network"));
    assert!(
        nets[0].get("status").is_none(),
        "legacy fields are for containers and images"
    );

    // Same key: either; different keys: both.
    assert_eq!(
        actions(&logged(&b, &["event=tag", "event=untag"])),
        ["tag", "untag"]
    );
    assert_eq!(
        actions(&logged(&b, &["type=container", "event=die"])),
        ["die"]
    );
    assert_eq!(
        actions(&logged(&b, &["event=died"])),
        ["die"],
        "Podman's name"
    );
    assert_eq!(logged(&b, &["label=tier=web"]).len(), 6);
    assert!(logged(&b, &["label=tier=db"]).is_empty());
    assert_eq!(logged(&b, &[&format!("image={img}")]).len(), 7);
    assert_eq!(logged(&b, &["container=c1", "container=nope"]).len(), 6);

    // Text and templates.
    let text = b.ok(&["events", "--stream=false", "--filter", "event=destroy"]);
    let line = text
        .lines()
        .find(|l| l.contains(" container destroy "))
        .unwrap();
    assert!(line.contains(" +0000 UTC container destroy "), "{line}");
    assert!(
        line.ends_with(&format!("(image={img}, name=c1, tier=web)")),
        "{line}"
    );
    let short = b.ok(&[
        "events",
        "--stream=false",
        "--no-trunc=false",
        "--filter",
        "event=destroy",
    ]);
    let id = logged(&b, &["event=destroy"])[0]["Actor"]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(short.contains(&format!(" destroy {} (", &id[..12])) && !short.contains(&id));
    let t = b.ok(&[
        "events",
        "--stream=false",
        "--filter",
        "type=container",
        "--format",
        "{{.Type}}/{{.Action}}/{{.Actor.Attributes.name}}/{{.Status}}",
    ]);
    assert_eq!(
        t.lines().collect::<Vec<_>>(),
        [
            "container/create/c1/create",
            "container/attach/c1/attach",
            "container/init/c1/init",
            "container/start/c1/start",
            "container/die/c1/die",
            "container/destroy/c1/destroy",
        ]
    );
}

#[test]
fn since_and_until_select_by_time() {
    let (_reg, b, img) = pulled();
    b.ok(&["tag", &img, "t/a:1"]);
    b.ok(&["tag", &img, "t/b:1"]);
    let tags = logged(&b, &["event=tag"]);
    let nanos = |e: &Value| e["timeNano"].as_i64().unwrap();
    let (t1, t2) = (nanos(&tags[0]), nanos(&tags[1]));
    assert!(t1 <= t2);
    assert_eq!(tags[0]["time"].as_i64().unwrap(), t1 / 1_000_000_000);
    let unix = |n: i64| format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec![
            "events",
            "--filter",
            "event=tag",
            "--format",
            "{{.Actor.Attributes.name}}",
        ];
        all.extend(args);
        b.ok(&all).lines().map(str::to_string).collect()
    };
    if t1 < t2 {
        assert_eq!(
            names(&["--since", &unix(t2), "--stream=false"]),
            ["docker.io/t/b:1"]
        );
        assert_eq!(
            names(&["--until", &unix(t1), "--stream=false"]),
            ["docker.io/t/a:1"]
        );
    }
    // --until in the past ends once the log is read, stream or not.
    assert_eq!(names(&["--since", "10m", "--until", &unix(t2)]).len(), 2);
    assert_eq!(names(&["--since", "0", "--stream=false"]).len(), 2);
    let rfc = chrono::DateTime::from_timestamp_nanos(t1).to_rfc3339();
    assert_eq!(names(&["--since", &rfc, "--until", "0s"]).len(), 2);
    assert!(names(&["--since", "2000-01-01", "--until", "2000-01-02T00:00:00Z"]).is_empty());
    // A future --until: new events until then, then it ends by itself.
    let (mut child, rx) = reader(
        &b,
        &["--until=-3s", "--format", "{{.Action}}", "--since=-2s"],
    );
    let _ = rx;
    let ended = Wait::secs(60).until(|| matches!(child.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "events --until did not end");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_streaming_reader_sees_what_other_processes_write() {
    let (_reg, b, img) = pulled();
    let (mut child, rx) = reader(&b, &["--format", "json", "--filter", "type=image"]);
    // The reader shows only what happens from now on: wait until it
    // reads, by writing until it has seen something.
    let mut n = 0;
    let first = Wait::secs(60).every_ms(200).for_some(|| {
        n += 1;
        b.ok(&["tag", &img, &format!("s/warmup:{n}")]);
        rx.try_recv().ok()
    });
    assert!(first.is_some(), "the reader saw nothing");
    while rx.try_recv().is_ok() {}
    b.ok(&["tag", &img, "s/x:1"]);
    b.ok(&["run", "--rm", &img, "true"]);
    b.ok(&["untag", &img, "docker.io/s/x:1"]);
    let lines = collect(&rx, |l| l.iter().any(|l| l.contains("\"untag\"")));
    let _ = child.kill();
    let _ = child.wait();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        // (Warm-up tags still on their way are not what this looks at.)
        .filter(|e: &Value| !attr(e, "name").contains("warmup"))
        .collect();
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|e| (e["Action"].as_str().unwrap().into(), attr(e, "name").into()))
        .collect();
    assert_eq!(
        seen,
        [
            ("tag".to_string(), "docker.io/s/x:1".to_string()),
            ("untag".to_string(), "docker.io/s/x:1".to_string())
        ],
        "container events are filtered out, image events come in order"
    );
}

#[test]
fn parallel_writers_lose_no_line() {
    let (_reg, b, img) = pulled();
    // Eight writers at once, each its own processes.
    std::thread::scope(|scope| {
        for w in 0..8 {
            let (b, img) = (&b, &img);
            scope.spawn(move || {
                for n in 0..10 {
                    b.ok(&["tag", img, &format!("p/w{w}:{n}")]);
                }
            });
        }
    });
    let mut names: Vec<String> = logged(&b, &["event=tag"])
        .iter()
        .map(|e| attr(e, "name").to_string())
        .collect();
    assert_eq!(names.len(), 80);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 80);
    // Every line of the file is one whole event.
    let log = std::fs::read_to_string(b.runroot.path().join("events/events.log")).unwrap();
    for l in log.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("torn line ({e}): {l}"));
    }
}

#[test]
fn rotation_keeps_reading_across_files() {
    let (_reg, b, img) = pulled();
    std::fs::create_dir_all(b.config_dir()).unwrap();
    std::fs::write(
        b.config_dir().join("config.toml"),
        "[events]\nlog_max_size = 4096\n",
    )
    .unwrap();
    let (mut child, rx) = reader(
        &b,
        &[
            "--format",
            "{{.Actor.Attributes.name}}",
            "--filter",
            "event=tag",
        ],
    );
    let mut n = 0;
    let warm = Wait::secs(60).every_ms(200).for_some(|| {
        n += 1;
        b.ok(&["tag", &img, &format!("r/warmup:{n}")]);
        rx.try_recv().ok()
    });
    assert!(warm.is_some(), "the reader saw nothing");
    while rx.try_recv().is_ok() {}
    // ~250 bytes an event: 12 of them do not fit in one file.
    for n in 0..12 {
        b.ok(&["tag", &img, &format!("r/x:{n}")]);
    }
    let lines = collect(&rx, |l| l.iter().any(|l| l.ends_with("r/x:11")));
    let _ = child.kill();
    let _ = child.wait();
    // (Warm-up tags still on their way are not what this looks at.)
    let lines: Vec<String> = lines.into_iter().filter(|l| l.contains("r/x:")).collect();
    let want: Vec<String> = (0..12).map(|n| format!("docker.io/r/x:{n}")).collect();
    assert_eq!(lines, want);
    let rotated = b.runroot.path().join("events/events.log.1");
    assert!(rotated.exists());
    assert!(
        std::fs::metadata(b.runroot.path().join("events/events.log"))
            .unwrap()
            .len()
            <= 4096
    );
    // A reader of the log reads the rotated file, then the current one.
    let in_current = std::fs::read_to_string(b.runroot.path().join("events/events.log"))
        .unwrap()
        .lines()
        .count();
    let all = logged(&b, &[]);
    assert!(all.len() > in_current, "{} <= {in_current}", all.len());
    assert_eq!(attr(all.last().unwrap(), "name"), "docker.io/r/x:11");
}

#[test]
fn bad_filters_and_times_are_refused_with_the_fix() {
    let b = Burrow::new();
    for (args, needles) in [
        (
            vec!["--filter", "colour=red"],
            vec!["invalid filter \"colour=red\"", "type=, event="],
        ),
        (vec!["--filter", "container"], vec!["use KEY=VALUE"]),
        (
            vec!["--filter", "type=daemon"],
            vec!["unknown event type \"daemon\"", "container, image"],
        ),
        (
            vec!["--since", "yesterday"],
            vec!["--since: invalid time \"yesterday\"", "RFC 3339"],
        ),
        (
            vec!["--until", "2026-13-45"],
            vec!["--until: invalid time", "10m"],
        ),
        (
            vec!["--format", "{{.Nope"],
            vec!["invalid --format template"],
        ),
    ] {
        let mut all = vec!["events", "--stream=false"];
        all.extend(&args);
        let out = b.run(&all);
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {err}");
        }
    }
}

#[test]
fn a_keep_id_monitor_leaves_the_log_to_the_user() {
    use std::os::unix::fs::MetadataExt;
    let (_reg, b, img) = pulled();
    b.ok(&["create", "--userns=keep-id", "--name", "kid", &img, "true"]);
    // The monitor (a subordinate uid on the host) makes the log afresh.
    std::fs::remove_dir_all(b.runroot.path().join("events")).unwrap();
    b.ok(&["start", "kid"]);
    Wait::secs(30).expect("kid's die event", || {
        !logged(&b, &["container=kid", "event=die"]).is_empty()
    });
    let me = nix::unistd::geteuid().as_raw();
    for f in ["", "events.log", "events.lock"] {
        let md = std::fs::metadata(b.runroot.path().join("events").join(f)).unwrap();
        assert_eq!(md.uid(), me, "{f} belongs to uid {}", md.uid());
    }
    // And the user's own commands go on writing it.
    b.ok(&["rm", "kid"]);
    assert_eq!(
        actions(&logged(&b, &["container=kid"])),
        ["init", "start", "die", "destroy"]
    );
}

/// Volumes and healthchecks record theirs: a volume made, made for a
/// container, pruned and removed; a check's change of status (once per
/// change, as Docker sends it).
#[test]
fn volumes_and_health_status_are_recorded() {
    let (_reg, b, img) = pulled();
    b.ok(&["volume", "create", "named"]);
    b.ok(&["run", "--rm", "-v", "/anon", &img, "true"]);
    b.ok(&["volume", "create", "spare"]);
    b.ok(&["volume", "prune", "-f"]);
    let vols = logged(&b, &["type=volume"]);
    let seen: Vec<(String, String)> = vols
        .iter()
        .map(|e| {
            (
                e["Action"].as_str().unwrap().to_string(),
                e["Actor"]["ID"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(seen[0], ("create".into(), "named".into()), "{seen:?}");
    // The anonymous one: made with its container, gone with it.
    assert_eq!(seen[1].0, "create", "{seen:?}");
    assert_eq!(seen[2], ("destroy".into(), seen[1].1.clone()), "{seen:?}");
    assert_eq!(seen[3], ("create".into(), "spare".into()), "{seen:?}");
    let destroyed: Vec<&str> = seen[4..]
        .iter()
        .filter(|(a, _)| a == "destroy")
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(destroyed.len(), 2, "{seen:?}");
    assert!(destroyed.contains(&"named") && destroyed.contains(&"spare"));
    assert_eq!(seen.last().unwrap().0, "prune", "{seen:?}");

    b.ok(&[
        "run",
        "-d",
        "--name",
        "checked",
        "--health-cmd",
        "test -e /ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        &img,
        "sh",
        "-c",
        "touch /ok; sleep 3; rm /ok; sleep 60",
    ]);
    let statuses = || -> Vec<String> {
        logged(&b, &["event=health_status", "container=checked"])
            .iter()
            .map(|e| attr(e, "health_status").to_string())
            .collect()
    };
    assert!(
        Wait::secs(60).every_ms(200).until(|| statuses().len() >= 2),
        "{:?}",
        statuses()
    );
    assert_eq!(statuses()[..2], ["healthy", "unhealthy"]);
    b.ok(&["rm", "-f", "checked"]);
}
