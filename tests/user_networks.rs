//! User networks: containers reaching each other by name and alias,
//! published ports into them, isolation between networks, connect and
//! disconnect, bad input, and nothing left once the containers stop. As
//! the unprivileged user; traffic stays on the host's loopback and in the
//! test's own namespaces (networks that might route elsewhere are
//! --internal).

mod common;

use common::net::{host_server, http_get, pastas};
use common::{Burrow, Wait, busybox_image, stderr};

/// For the shared namespace's holder and network helpers to go.
const WAIT: Wait = Wait::secs(10).every_ms(50);

/// The holder of the test's shared network namespace, if one runs.
fn holder(b: &Burrow) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(b.runroot.path().join("netns.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "burrow-netns").then_some(pid)
}

/// `wget` of `url` in container `ctr` fails (within two seconds).
fn unreachable(b: &Burrow, ctr: &str, url: &str) {
    let o = b.run(&["exec", ctr, "wget", "-T", "2", "-qO-", url]);
    assert_ne!(o.status.code(), Some(0), "{ctr} reached {url}");
}

/// A shell loop retrying `cmd` for a few seconds (a server starting).
fn retry(cmd: &str) -> String {
    format!("for i in $(seq 50); do {cmd} && exit 0; sleep 0.2; done; exit 1")
}

const SERVER: &str =
    "mkdir -p /www && echo hello-messages > /www/messages && exec httpd -f -p 2141 -h /www";

/// Workflow 2 of the design notes: a server, and a client that calls it by
/// name over a user network, with its own port published to the host and
/// a host directory receiving what it fetched.
#[test]
fn two_services_talk_by_name_over_a_user_network() {
    let (_reg, b, img) = common::pulled("test/unet1", &busybox_image(|i| i));
    assert_eq!(b.ok(&["network", "create", "app"]), "app\n");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "server",
        "--network",
        "app",
        &img,
        "sh",
        "-c",
        SERVER,
    ]);
    let data = tempfile::tempdir().unwrap();
    // The client's page fetches from the server by name and keeps a copy
    // in the mounted folder.
    let client = r#"mkdir -p /www/cgi-bin && cat > /www/cgi-bin/fetch <<'EOF'
#!/bin/sh
body=$(wget -qO- http://server:2141/messages)
echo "$body" > /my_folder/got.txt
printf 'Content-Type: text/plain\r\n\r\nclient got: %s\n' "$body"
EOF
chmod +x /www/cgi-bin/fetch && exec httpd -f -p 2142 -h /www"#;
    let volume = format!("{}:/my_folder", data.path().display());
    b.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "app",
        "-p",
        "2142:2142",
        "-v",
        &volume,
        &img,
        "sh",
        "-c",
        client,
    ]);
    let page = http_get(2142, "/cgi-bin/fetch");
    assert!(page.contains("client got: hello-messages"), "{page}");
    assert_eq!(
        std::fs::read_to_string(data.path().join("got.txt")).unwrap(),
        "hello-messages\n"
    );
    assert_eq!(
        b.ok(&[
            "ps",
            "--format",
            "{{.Names}} {{.Networks}}",
            "-f",
            "name=server"
        ]),
        "server app\n"
    );
    // Each sees the other in /etc/hosts, and both share one subnet.
    let hosts = b.ok(&["exec", "client", "cat", "/etc/hosts"]);
    assert!(hosts.contains("\tserver "), "{hosts}");
    assert!(hosts.contains("\tclient "), "{hosts}");
    let inspect = b.ok_json(&["network", "inspect", "app"]);
    let members = inspect[0]["containers"].as_object().unwrap();
    assert_eq!(members.len(), 2, "{inspect}");
    let subnet = inspect[0]["subnets"][0]["subnet"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(subnet.starts_with("10.89."), "{subnet}");
    // The client still reaches the host and the outside through pasta:
    // its default route is pasta's interface, and a server on the host's
    // loopback answers as host.containers.internal.
    let routes = b.ok(&["exec", "client", "ip", "route"]);
    assert!(
        routes.contains("default") && routes.contains("pasta0"),
        "{routes}"
    );
    let port = host_server("hello-from-the-host");
    let url = format!("http://host.containers.internal:{port}/");
    assert_eq!(
        b.ok(&["exec", "client", "wget", "-qO-", &url]),
        "hello-from-the-host"
    );
    // One holder for the shared namespace; pasta per container with
    // a way out; all gone with the containers.
    assert!(holder(&b).is_some());
    assert_eq!(pastas(&b).len(), 2);
    let o = b.run(&["network", "rm", "app"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("used by container(s) client, server"),
        "{}",
        stderr(&o)
    );
    b.ok(&["rm", "-f", "client", "server"]);
    WAIT.expect("the holder and pastas to go", || {
        holder(&b).is_none() && pastas(&b).is_empty()
    });
    assert!(!b.runroot.path().join("netns.sock").exists());
    assert_eq!(b.ok(&["network", "rm", "app"]), "app\n");
    assert_eq!(b.ok(&["network", "ls", "-q"]), "");
}

/// Names and aliases within a network, nothing across networks; `--ip`;
/// connect and disconnect of a running container; a member that stops
/// leaves the others' /etc/hosts.
#[test]
fn networks_isolate_and_members_come_and_go() {
    let (_reg, b, img) = common::pulled("test/unet2", &busybox_image(|i| i));
    // Internal networks: no way out, so a stray packet cannot leave the
    // machine.
    b.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.89.77.0/24",
        "red",
    ]);
    b.ok(&["network", "create", "--internal", "blue"]);
    let ls = b.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    assert!(ls.contains(" red ") || ls.contains("red  "), "{ls}");
    let web = "mkdir -p /www && echo hi-from-web > /www/index.html && exec httpd -f -p 80 -h /www";
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "red",
        "--network-alias",
        "www",
        "--ip",
        "10.89.77.50",
        &img,
        "sh",
        "-c",
        web,
    ]);
    // On the same network: by name, by alias, by address.
    for target in ["web", "www", "10.89.77.50"] {
        let out = b.ok(&[
            "run",
            "--rm",
            "--network",
            "red",
            &img,
            "sh",
            "-c",
            &retry(&format!("wget -qO- http://{target}/")),
        ]);
        assert_eq!(out, "hi-from-web\n", "{target}");
    }
    // Internal: no default route, no pasta.
    let routes = b.ok(&["exec", "web", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    assert!(pastas(&b).is_empty());
    // From another network: neither the name nor the address.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "blue",
        &img,
        "sleep",
        "60",
    ]);
    unreachable(&b, "other", "http://web/");
    unreachable(&b, "other", "http://10.89.77.50/");
    // Connected to red while it runs: it reaches web, and web sees it.
    b.ok(&["network", "connect", "--alias", "newbie", "red", "other"]);
    assert_eq!(
        b.ok(&["exec", "other", "wget", "-qO-", "http://web/"]),
        "hi-from-web\n"
    );
    let hosts = b.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains("other newbie"), "{hosts}");
    let addrs = b.ok(&["exec", "other", "ip", "-4", "-o", "addr"]);
    assert!(
        addrs.contains("eth1") && addrs.contains("10.89.77."),
        "{addrs}"
    );
    // Twice is an error; so is an address in use.
    let o = b.run(&["network", "connect", "red", "other"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("already connected"), "{}", stderr(&o));
    // Disconnected: gone from both sides.
    b.ok(&["network", "disconnect", "red", "other"]);
    unreachable(&b, "other", "http://10.89.77.50/");
    let hosts = b.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("other"), "{hosts}");
    let own = b.ok(&["exec", "other", "cat", "/etc/hosts"]);
    assert!(!own.contains("\tweb "), "{own}");
    // A member that stops leaves the others' /etc/hosts.
    b.ok(&[
        "run",
        "-d",
        "--name",
        "brief",
        "--network",
        "red",
        &img,
        "sleep",
        "60",
    ]);
    assert!(
        b.ok(&["exec", "web", "cat", "/etc/hosts"])
            .contains("\tbrief ")
    );
    b.ok(&["stop", "-t", "0", "brief"]);
    assert!(
        !b.ok(&["exec", "web", "cat", "/etc/hosts"])
            .contains("\tbrief ")
    );
    // Started again, it comes back with the same address.
    b.ok(&["start", "brief"]);
    let hosts = b.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(hosts.contains("\tbrief "), "{hosts}");
    let o = b.run(&[
        "run",
        "--rm",
        "--network",
        "red",
        "--ip",
        "10.89.77.50",
        &img,
        "true",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("already used by container web"),
        "{}",
        stderr(&o)
    );
    // Removed while it runs (its monitor killed): gone from the others'
    // /etc/hosts all the same.
    b.ok(&["rm", "-f", "brief"]);
    assert!(
        !b.ok(&["exec", "web", "cat", "/etc/hosts"])
            .contains("\tbrief ")
    );
    b.ok(&["rm", "-f", "web", "other"]);
    WAIT.expect("the holder to go", || holder(&b).is_none());
}

#[test]
fn bad_network_input_is_refused_with_the_fix() {
    let (_reg, b, img) = common::pulled("test/unet3", &busybox_image(|i| i));
    b.ok(&["network", "create", "--subnet", "10.89.60.0/24", "n1"]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--rm", "--network", "nosuch", &img, "true"],
            "unable to find network with name or ID nosuch: network not found: create it with `burrow network create nosuch`",
        ),
        (
            vec!["network", "create", "--subnet", "10.89.60.128/25", "n2"],
            "overlaps subnet 10.89.60.0/24 of network n1",
        ),
        (vec!["network", "create", "n1"], "network n1 already exists"),
        (vec!["network", "create", "host"], "invalid network name"),
        (
            vec!["network", "create", "--subnet", "10.89.0.0", "n3"],
            "invalid subnet",
        ),
        (
            vec!["network", "create", "--driver", "macvlan", "n3"],
            "bridge networks",
        ),
        (
            vec![
                "run",
                "--rm",
                "--network",
                "n1",
                "--ip",
                "10.89.61.5",
                &img,
                "true",
            ],
            "not usable in network n1",
        ),
        (
            vec!["run", "--rm", "--network-alias", "x", &img, "true"],
            "--network-alias",
        ),
        (
            vec![
                "run",
                "--rm",
                "--network",
                "n1",
                "--userns=keep-id",
                &img,
                "true",
            ],
            "keep-id",
        ),
        (
            vec![
                "run",
                "--rm",
                "--network",
                "n1",
                "-p",
                "notaport",
                &img,
                "true",
            ],
            "notaport",
        ),
        (
            vec!["network", "connect", "nosuch", "x"],
            "unable to find network with name or ID nosuch: network not found",
        ),
    ];
    // Podman's status for removing a network that does not exist.
    let o = b.run(&["network", "rm", "nosuch"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unable to find network with name or ID nosuch: network not found"),
        "{}",
        stderr(&o)
    );
    for (args, needle) in cases {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o).trim().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // Nothing half-made: no container, no holder, no new network.
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert!(holder(&b).is_none());
    // A container that fails once its network is up leaves nothing either.
    let o = b.run(&["run", "--rm", "--network", "n1", &img, "/no/such/command"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    WAIT.expect("the holder to go", || holder(&b).is_none());
    assert!(pastas(&b).is_empty());
    assert_eq!(b.ok(&["ps", "-aq"]), "");
    assert_eq!(b.ok(&["network", "ls", "--format", "{{.Name}}"]), "n1\n");
    // A container on the default network cannot be connected.
    b.ok(&["create", "--name", "plain", &img, "true"]);
    let o = b.run(&["network", "connect", "n1", "plain"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("only a container made on user networks"),
        "{}",
        stderr(&o)
    );
    assert_eq!(b.run(&["network", "exists", "n1"]).status.code(), Some(0));
    assert_eq!(b.run(&["network", "exists", "n9"]).status.code(), Some(1));
    b.ok(&["rm", "plain"]);
    assert_eq!(b.ok(&["network", "prune", "-f"]), "n1\n");
}

/// The holder killed while members run: the next member starts a new
/// holder in the same namespaces (adopted from a running member), so it
/// joins the same bridges.
#[test]
fn a_killed_holder_is_replaced_in_the_same_namespaces() {
    let (_reg, b, img) = common::pulled("test/unet4", &busybox_image(|i| i));
    b.ok(&["network", "create", "--internal", "kept"]);
    let web = "mkdir -p /www && echo still-here > /www/index.html && exec httpd -f -p 80 -h /www";
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "kept",
        &img,
        "sh",
        "-c",
        web,
    ]);
    let first = holder(&b).expect("a holder runs");
    // SAFETY: kill(2) of the test's own holder process.
    unsafe { libc::kill(first, libc::SIGKILL) };
    WAIT.expect("the holder to die", || holder(&b).is_none());
    b.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "kept",
        &img,
        "sleep",
        "60",
    ]);
    let second = holder(&b).expect("a new holder runs");
    assert_ne!(first, second);
    assert_eq!(
        b.ok(&["exec", "late", "sh", "-c", &retry("wget -qO- http://web/")]),
        "still-here\n"
    );
    b.ok(&["rm", "-f", "web", "late"]);
    WAIT.expect("the holder to go", || holder(&b).is_none());
}

/// Members started at once get distinct addresses, one holder, and each
/// other in /etc/hosts.
#[test]
fn members_started_at_once_all_see_each_other() {
    let (_reg, b, img) = common::pulled("test/unet5", &busybox_image(|i| i));
    b.ok(&["network", "create", "--internal", "crowd"]);
    let names = ["m1", "m2", "m3", "m4"];
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            b.cmd(&[
                "run",
                "-d",
                "--name",
                n,
                "--network",
                "crowd",
                &img,
                "sleep",
                "60",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let inspect = b.ok_json(&["network", "inspect", "crowd"]);
    let mut ips: Vec<String> = inspect[0]["containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["ip"].as_str().unwrap().to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 4, "{inspect}");
    for n in names {
        let hosts = b.ok(&["exec", n, "cat", "/etc/hosts"]);
        for other in names {
            assert!(
                hosts.contains(&format!("\t{other} ")),
                "{n} misses {other}: {hosts}"
            );
        }
    }
    b.ok(&["rm", "-f", "m1", "m2", "m3", "m4"]);
    WAIT.expect("the holder to go", || holder(&b).is_none());
}
