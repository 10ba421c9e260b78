//! `burrow build`: workflow 3 of the design notes end to end, multi-stage
//! builds, ARG/ENV, .dockerignore, whiteouts, the step cache, and bad
//! Dockerfiles. As the unprivileged user, from the busybox test image.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::net::http_get;
use common::{Wait, busybox_image, stderr, stdout};

/// A build context with `files` (path, content).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let path = dir.path().join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, c).unwrap();
    }
    dir
}

fn build(b: &common::Burrow, ctx: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build", "--network", "none"];
    args.extend_from_slice(extra);
    let c = ctx.display().to_string();
    args.push(&c);
    b.run(&args)
}

/// The last line of a build's output: the image ID.
fn image_id(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(o), stderr(o));
    stdout(o).lines().last().unwrap_or("").to_string()
}

/// Workflow 3: a small web app dockerized and called from the host.
#[test]
fn a_web_app_is_built_run_and_answers() {
    let (_reg, b, img) = common::pulled("test/build1", &busybox_image(|i| i));
    let dockerfile = format!(
        r#"FROM {img}
ENV APP_DIR=/srv/www GREETING="hello from the app"
WORKDIR $APP_DIR
COPY index.html ./
COPY cgi-bin/ cgi-bin/
RUN chmod +x cgi-bin/hi && echo built > built.txt
EXPOSE 2144
CMD ["httpd", "-f", "-p", "2144", "-h", "/srv/www"]
"#
    );
    let ctx = context(&[
        ("Dockerfile", &dockerfile),
        ("index.html", "<h1>the app</h1>\n"),
        (
            "cgi-bin/hi",
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$GREETING\"\n",
        ),
    ]);
    let o = build(&b, ctx.path(), &["-t", "localhost/app:1"]);
    let id = image_id(&o);
    let text = stdout(&o);
    assert!(text.contains("STEP 1/8: FROM"), "{text}");
    assert!(
        text.contains("Successfully tagged localhost/app:1"),
        "{text}"
    );
    let inspect = b.ok_json(&["image", "inspect", "localhost/app:1"]);
    let cfg = &inspect[0]["Config"];
    assert_eq!(cfg["WorkingDir"], "/srv/www", "{inspect}");
    assert!(cfg["ExposedPorts"]["2144/tcp"].is_object(), "{inspect}");
    assert!(
        inspect[0]["Id"].as_str().unwrap().ends_with(&id),
        "{inspect}"
    );
    b.ok(&[
        "run",
        "-d",
        "--name",
        "app",
        "-p",
        "2144:2144",
        "localhost/app:1",
    ]);
    assert!(http_get(2144, "/").contains("<h1>the app</h1>"));
    assert!(http_get(2144, "/cgi-bin/hi").contains("hello from the app"));
    assert_eq!(b.ok(&["exec", "app", "cat", "built.txt"]), "built\n");
    b.ok(&["rm", "-f", "app"]);
    // One source file edited: every step before its COPY comes from the
    // cache, that COPY and the rest run again.
    fs::write(ctx.path().join("index.html"), "<h1>edited</h1>\n").unwrap();
    let o = build(&b, ctx.path(), &["-t", "localhost/app:2"]);
    assert_ne!(image_id(&o), id);
    let text = stdout(&o);
    let copy_at = text.find("COPY index.html").unwrap();
    assert_eq!(
        text[..copy_at].matches("--> Using cache").count(),
        2,
        "{text}"
    );
    assert!(!text[copy_at..].contains("Using cache"), "{text}");
    // One history entry per instruction after the base's.
    let hist = inspect[0]["History"].as_array().map(Vec::len).unwrap_or(0);
    assert!(hist >= 7, "{inspect}");
}

#[test]
fn stages_args_ignore_whiteouts_and_the_cache() {
    let (_reg, b, img) = common::pulled("test/build2", &busybox_image(|i| i));
    let dockerfile = format!(
        r#"ARG BASE={img}
FROM $BASE AS tools
RUN echo made-in-stage-one > /tool.txt

FROM $BASE AS unused
RUN exit 1

FROM $BASE
ARG V=default
ARG SHADOW=from-arg
ENV E=$V SHADOW=from-env
COPY --from=tools /tool.txt /opt/
COPY . /ctx
RUN rm /bin/ls && echo "run sees V=$V SHADOW=$SHADOW" > /run.txt && echo RUN-$((1+1))-EXECUTED
"#
    );
    let ctx = context(&[
        ("Dockerfile", &dockerfile),
        ("keep.txt", "kept"),
        ("secret.key", "no"),
        ("logs/a.log", "no"),
        (".dockerignore", "*.key\nlogs\n"),
    ]);
    let o = build(&b, ctx.path(), &["-t", "multi", "--build-arg", "V=given"]);
    let id = image_id(&o);
    // The unused stage (whose RUN fails) was skipped.
    assert!(!stdout(&o).contains("exit 1"), "{}", stdout(&o));
    let check = "cat /opt/tool.txt /run.txt; echo E=$E; ls -A /ctx | sort | tr '\\n' ' '; test -e /bin/ls && echo ls-still-there || echo ls-gone";
    let got = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "multi",
        "sh",
        "-c",
        check,
    ]);
    assert_eq!(
        got,
        "made-in-stage-one\nrun sees V=given SHADOW=from-env\nE=given\n.dockerignore Dockerfile keep.txt ls-gone\n"
    );
    // Rebuilt unchanged: every step from the cache, the same image.
    let again = build(&b, ctx.path(), &["-t", "multi", "--build-arg", "V=given"]);
    assert_eq!(image_id(&again), id);
    let hits = stdout(&again).matches("--> Using cache").count();
    assert_eq!(hits, 5, "{}", stdout(&again));
    assert!(stdout(&o).contains("RUN-2-EXECUTED"), "{}", stdout(&o));
    assert!(
        !stdout(&again).contains("RUN-2-EXECUTED"),
        "a cached RUN does not run"
    );
    // A changed context file: COPY . and what follows run again.
    fs::write(ctx.path().join("keep.txt"), "changed").unwrap();
    let changed = build(&b, ctx.path(), &["-t", "multi", "--build-arg", "V=given"]);
    assert_ne!(image_id(&changed), id);
    let text = stdout(&changed);
    let copy_at = text.find("COPY . /ctx").unwrap();
    assert!(!text[copy_at..].contains("Using cache"), "{text}");
    // --target builds a stage of its own.
    let o = build(&b, ctx.path(), &["--target", "tools", "-t", "tools-only"]);
    image_id(&o);
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "tools-only",
            "cat",
            "/tool.txt"
        ]),
        "made-in-stage-one\n"
    );
    // --no-cache runs every step again.
    let o = build(
        &b,
        ctx.path(),
        &["--no-cache", "-q", "--build-arg", "V=given"],
    );
    assert_eq!(
        stdout(&o).lines().count(),
        1,
        "-q prints the ID only: {}",
        stdout(&o)
    );
    // Nothing is left in the build's work directory.
    let left: Vec<_> = fs::read_dir(b.root.path().join("build-tmp"))
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_dockerfiles_fail_with_the_line_and_leave_nothing() {
    let (_reg, b, img) = common::pulled("test/build3", &busybox_image(|i| i));
    let images_before = b.ok(&["images", "-q"]);
    let cases: Vec<(String, i32, &str)> = vec![
        (
            format!("FROM {img}\nRUN echo one && exit 3\n"),
            3,
            "Dockerfile:2: RUN echo one && exit 3: exited with code 3",
        ),
        (format!("FROM {img}\nFROBNICATE x\n"), 125, "Dockerfile:2"),
        (
            format!("FROM {img}\nCOPY missing.txt /\n"),
            125,
            "Dockerfile:2: COPY missing.txt: missing.txt: no such file",
        ),
        (
            format!("FROM {img}\nCOPY ../outside /\n"),
            125,
            "outside the build context",
        ),
        ("RUN true\n".to_string(), 125, "FROM"),
        (
            format!("FROM {img}\nCOPY --bogus=1 a /\n"),
            125,
            "unknown flag --bogus",
        ),
        (format!("FROM {img} AS a\n"), 125, "target stage \"nope\""),
    ];
    for (i, (dockerfile, code, needle)) in cases.iter().enumerate() {
        let ctx = context(&[("Dockerfile", dockerfile)]);
        let extra: &[&str] = if i == 6 { &["--target", "nope"] } else { &[] };
        let o = build(&b, ctx.path(), extra);
        assert_eq!(o.status.code(), Some(*code), "{dockerfile}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{dockerfile}: {}", stderr(&o));
        assert_eq!(
            stderr(&o)
                .trim()
                .lines()
                .filter(|l| l.starts_with("Error"))
                .count(),
            1,
            "{}",
            stderr(&o)
        );
    }
    assert_eq!(b.ok(&["images", "-q"]), images_before, "no image was made");
    // A build arg nobody uses, and an ARG without a value, are warned of.
    let ctx = context(&[("Dockerfile", &format!("FROM {img}\nARG EMPTY\nRUN true\n"))]);
    let o = build(&b, ctx.path(), &["--build-arg", "UNUSED=1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("build-args [UNUSED] were not consumed"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("ARG EMPTY has no value"),
        "{}",
        stdout(&o)
    );
    // No context: a Dockerfile on stdin cannot COPY.
    let o = b
        .cmd(&["build", "--network", "none", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("FROM {img}\nCOPY x /\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("no build context"), "{}", stderr(&o));
}

/// ADD: a local archive is unpacked, a URL fetched and checked; COPY
/// --chown (by name, from the image's passwd) and --chmod; heredocs refused.
#[test]
fn add_archives_and_urls_copy_owners_and_modes() {
    let (_reg, b, img) = common::pulled("test/build4", &busybox_image(|i| i));
    // A gzipped tar in the context.
    let ctx = context(&[("plain.txt", "plain\n")]);
    let tgz = ctx.path().join("bundle.tar.gz");
    {
        let f = fs::File::create(&tgz).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(7);
        t.append_data(&mut h, "inner/hello.txt", &b"unpack\n"[..])
            .unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    let body = "downloaded\n";
    let sum = common::sha256_digest(body.as_bytes());
    let port = common::net::host_server(body);
    let dockerfile = format!(
        "FROM {img}\n\
         RUN echo 'svc:x:1234:2345:svc:/home/svc:/bin/sh' >> /etc/passwd && echo 'svc:x:2345:' >> /etc/group\n\
         ADD bundle.tar.gz /opt/\n\
         ADD --checksum={sum} http://127.0.0.1:{port}/file.txt /dl/\n\
         COPY --chown=svc:svc --chmod=600 plain.txt /home/svc/\n"
    );
    fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let o = b.run(&[
        "build",
        "--network",
        "host",
        "-t",
        "adds",
        &ctx.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let got = b.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "adds",
        "sh",
        "-c",
        "cat /opt/inner/hello.txt /dl/file.txt; stat -c '%u:%g %a' /home/svc/plain.txt",
    ]);
    assert_eq!(got, "unpack\ndownloaded\n1234:2345 600\n");
    // A wrong checksum stops the build.
    let port = common::net::host_server(body);
    let bad = format!(
        "FROM {img}\nADD --checksum=sha256:{} http://127.0.0.1:{port}/f /f\n",
        "0".repeat(64)
    );
    fs::write(ctx.path().join("Dockerfile"), bad).unwrap();
    let o = b.run(&[
        "build",
        "--network",
        "host",
        &ctx.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("does not match --checksum"),
        "{}",
        stderr(&o)
    );
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {img}\nRUN <<EOF\necho hi\nEOF\n"),
    )
    .unwrap();
    let o = b.run(&[
        "build",
        "--network",
        "none",
        &ctx.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("here-documents"), "{}", stderr(&o));
}

/// An image built and pushed by burrow: skopeo reads it, Podman pulls
/// and runs it. A changed container committed runs with its change.
#[test]
fn built_images_travel_and_containers_commit() {
    let (reg, b, img) = common::pulled("test/build5", &busybox_image(|i| i));
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM {img}\nRUN echo interop > /msg\nCMD [\"cat\", \"/msg\"]\n"),
    )]);
    image_id(&build(&b, ctx.path(), &["-t", "localhost/interop:1"]));
    let dest = reg.reference("test/interop", "1");
    b.ok(&[
        "push",
        "-q",
        "--tls-verify=false",
        "localhost/interop:1",
        &dest,
    ]);
    let skopeo = std::process::Command::new(common::require_tool("skopeo"))
        .args(["inspect", "--tls-verify=false", &format!("docker://{dest}")])
        .output()
        .unwrap();
    assert!(skopeo.status.success(), "{}", stderr(&skopeo));
    let info: serde_json::Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    let base_layers = b.ok_json(&["image", "inspect", &img])[0]["RootFS"]["Layers"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(
        info["Layers"].as_array().map(Vec::len),
        Some(base_layers + 1),
        "{info}"
    );
    let podman = common::podman::Podman::new();
    podman.ok(&["pull", "-q", "--tls-verify=false", &dest]);
    assert_eq!(podman.ok(&["run", "--rm", &dest]), "interop\n");

    // commit: the container's changes (a new file, a deleted one) and -c.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "none",
        &img,
        "sh",
        "-c",
        "echo changed > /changed.txt; rm /bin/ls; touch /ready; sleep 60",
    ]);
    assert!(
        Wait::secs(10).every_ms(50).until(|| b
            .run(&["exec", "c1", "test", "-e", "/ready"])
            .status
            .code()
            == Some(0)),
        "the container never got ready"
    );
    let o = b.run(&[
        "commit",
        "-q",
        "-c",
        r#"CMD ["cat", "/changed.txt"]"#,
        "-c",
        "ENV COMMITTED=yes",
        "-m",
        "my change",
        "c1",
        "committed:1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim().len(), 64, "{}", stdout(&o));
    assert_eq!(
        b.ok(&["run", "--rm", "--network", "none", "committed:1"]),
        "changed\n"
    );
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "committed:1",
            "sh",
            "-c",
            "test -e /bin/ls || echo ls-gone; echo $COMMITTED",
        ]),
        "ls-gone\nyes\n"
    );
    let inspect = b.ok(&["image", "inspect", "committed:1"]);
    assert!(inspect.contains("my change"), "{inspect}");
    // Unpaused again after the commit.
    let state = b.ok(&["ps", "--format", "{{.State}}", "-f", "name=c1"]);
    assert!(!state.contains("paused"), "{state}");
    // A bad change: one line, no image.
    let before = b.ok(&["images", "-q"]);
    let o = b.run(&["commit", "-c", "FROBNICATE x", "c1", "bad:1"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    assert_eq!(b.ok(&["images", "-q"]), before);
    b.ok(&["rm", "-f", "c1"]);
}

/// --timestamp gives the same image from the same Dockerfile and files,
/// without the cache, with new file times in between.
#[test]
fn timestamped_builds_are_reproducible() {
    let (_reg, b, img) = common::pulled("test/build6", &busybox_image(|i| i));
    let ctx = context(&[
        (
            "Dockerfile",
            &format!("FROM {img}\nCOPY a.txt /a.txt\nRUN echo ran > /ran.txt\n"),
        ),
        ("a.txt", "a"),
    ]);
    let args = ["--no-cache", "-q", "--timestamp", "1000000000"];
    let first = image_id(&build(&b, ctx.path(), &args));
    // New file times (content unchanged).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(ctx.path().join("a.txt"), "a").unwrap();
    let second = image_id(&build(&b, ctx.path(), &args));
    assert_eq!(first, second);
    let inspect = b.ok_json(&["image", "inspect", &first]);
    assert_eq!(
        inspect[0]["Created"], "2001-09-09T01:46:40.000000000Z",
        "{inspect}"
    );
}

/// More layers than full paths fit in the kernel's overlay options: each
/// RUN on top of them still works, and so does the image.
#[test]
fn images_with_many_layers_build_and_run() {
    let (_reg, b, img) = common::pulled("test/build7", &busybox_image(|i| i));
    let mut dockerfile = format!("FROM {img}\n");
    for i in 0..60 {
        dockerfile.push_str(&format!("RUN echo {i} > /layer-{i}\n"));
    }
    let ctx = context(&[("Dockerfile", &dockerfile)]);
    image_id(&build(&b, ctx.path(), &["-q", "-t", "tall"]));
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "tall",
            "sh",
            "-c",
            "cat /layer-0 /layer-59"
        ]),
        "0\n59\n"
    );
}

/// Two builds at once share the store without harm: both succeed, and
/// with the same timestamp they make the same image.
#[test]
fn concurrent_builds_share_the_store() {
    let (_reg, b, img) = common::pulled("test/build8", &busybox_image(|i| i));
    let ctx = context(&[
        (
            "Dockerfile",
            &format!("FROM {img}\nCOPY f /f\nRUN cat /f > /g\nRUN echo more >> /g\n"),
        ),
        ("f", "content\n"),
    ]);
    let c = ctx.path().display().to_string();
    let spawn = || {
        b.cmd(&[
            "build",
            "--network",
            "none",
            "-q",
            "--no-cache",
            "--timestamp",
            "0",
            &c,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
    };
    let (one, two) = (spawn(), spawn());
    let (one, two) = (
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    );
    assert_eq!(image_id(&one), image_id(&two));
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            &image_id(&one),
            "cat",
            "/g"
        ]),
        "content\nmore\n"
    );
}

/// RUN steps get the default network of `run` (pasta: a default route and
/// the host as host.containers.internal); `RUN --network=none` only lo.
#[test]
fn run_steps_have_the_default_network() {
    let (_reg, b, img) = common::pulled("test/build9", &busybox_image(|i| i));
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM {img}\n\
             RUN ip route | grep -q default && grep -q host.containers.internal /etc/hosts && echo ok > /net\n\
             RUN --network=none sh -c 'ip route | grep -q default && exit 1; ls /sys/class/net > /none'\n"
        ),
    )]);
    let o = b.run(&[
        "build",
        "-q",
        "-t",
        "netted",
        &ctx.path().display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "netted",
            "cat",
            "/net",
            "/none"
        ]),
        "ok\nlo\n"
    );
}

/// An image's ONBUILD triggers run when it is used as a base, and are not
/// passed on.
#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let (_reg, b, img) = common::pulled("test/build10", &busybox_image(|i| i));
    let base = context(&[(
        "Dockerfile",
        &format!("FROM {img}\nONBUILD RUN echo triggered > /t\nONBUILD ENV FROM_TRIGGER=1\n"),
    )]);
    image_id(&build(
        &b,
        base.path(),
        &["-t", "localhost/base-with-triggers"],
    ));
    let inspect = b.ok(&["image", "inspect", "localhost/base-with-triggers"]);
    assert!(inspect.contains("RUN echo triggered > /t"), "{inspect}");
    let child = context(&[(
        "Dockerfile",
        "FROM localhost/base-with-triggers\nRUN cat /t > /seen\n",
    )]);
    let o = build(&b, child.path(), &["-t", "child"]);
    image_id(&o);
    assert!(
        stdout(&o).contains("ONBUILD STEP 1/2: RUN echo triggered > /t"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "child",
            "sh",
            "-c",
            "cat /seen; echo $FROM_TRIGGER"
        ]),
        "triggered\n1\n"
    );
    let inspect = b.ok_json(&["image", "inspect", "child"]);
    assert!(
        inspect[0]["Config"]["OnBuild"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{inspect}"
    );
}
