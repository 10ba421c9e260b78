//! Userspace networking with pasta: published ports, the host through
//! host.containers.internal, name resolution files, `--network none|host`,
//! and no pasta left behind. As the unprivileged user; all traffic stays
//! on the host's loopback and in the test's own namespaces.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::net::{helpers, host_server, http_get, pastas};
use common::{Wait, busybox_image, stderr};

/// The host's IPv4 default gateway (connecting a UDP socket to it sends
/// nothing; it only picks the host's own address).
fn burrow_gateway() -> Option<std::net::Ipv4Addr> {
    let route = std::fs::read_to_string("/proc/net/route").ok()?;
    route.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"00000000"))
            .then(|| u32::from_str_radix(f[2], 16).ok())
            .flatten()
            .map(|g| std::net::Ipv4Addr::from(g.to_le_bytes()))
    })
}

const SERVER: &str =
    "mkdir -p /www && echo hello-from-container > /www/index.html && exec httpd -f -p 8080 -h /www";

#[test]
fn published_ports_tcp_udp_and_all() {
    let echo = common::static_helper("udpecho");
    let (_reg, b, img) = common::pulled(
        "test/net",
        &busybox_image(|i| {
            i.expose("8080/tcp").layer(
                common::LayerBuilder::new()
                    .file("udpecho", &echo, 0o755, 0, 0)
                    .finish(common::Compression::Gzip),
            )
        }),
    );
    let port = common::free_port();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &img,
        "sh",
        "-c",
        SERVER,
    ]);
    assert!(http_get(port, "/").contains("hello-from-container"));
    assert_eq!(
        b.ok(&["ps", "--format", "{{.Names}} {{.Ports}}"]),
        format!("web 127.0.0.1:{port}->8080/tcp\n")
    );
    assert_eq!(
        b.ok(&["port", "web"]),
        format!("8080/tcp -> 127.0.0.1:{port}\n")
    );
    assert_eq!(
        b.ok(&["port", "web", "8080"]),
        format!("127.0.0.1:{port}\n")
    );
    let o = b.run(&["port", "web", "9999/udp"]);
    assert_eq!(o.status.code(), Some(1));
    let v = b.ok_json(&["container", "inspect", "web"]);
    assert_eq!(
        v[0]["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"],
        port.to_string()
    );

    // A taken host port fails before anything is made, naming the port.
    let before = b.ok(&["ps", "-a", "-q"]);
    let o = b.run(&["run", "-p", &format!("127.0.0.1:{port}:80"), &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains(&format!("port {port}/tcp on 127.0.0.1 is already in use")),
        "{}",
        stderr(&o)
    );
    assert_eq!(b.ok(&["ps", "-a", "-q"]), before);

    // UDP, both ways through the published port: a tiny static echo server
    // (busybox has no UDP listener) answers what the host sends. The client
    // uses the host's own address (delivered locally, never on a wire): the
    // pasta of Debian 12 loses UDP replies to clients on 127.0.0.1.
    let uport = common::free_port();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        &format!("{uport}:5353/udp"),
        &img,
        "/udpecho",
        "5353",
    ]);
    let host_ip = {
        let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
        let gw = burrow_gateway().expect("a default route on the test host");
        probe.connect((gw, 9)).unwrap();
        probe.local_addr().unwrap().ip()
    };
    let sock = UdpSocket::bind((host_ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 256];
    // No pause between tries: waiting for the answer (200 ms) is one.
    let reply = Wait::secs(20)
        .every_ms(0)
        .for_some(|| {
            sock.send_to(b"datagram-1\n", (host_ip, uport)).unwrap();
            let (n, _) = sock.recv_from(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        })
        .expect("no answer to a datagram");
    assert_eq!(reply, "echo:datagram-1\n");
    assert!(b.ok(&["logs", "udp"]).contains("datagram-1"));

    // -P: every EXPOSEd port on a free host port.
    b.ok(&["run", "-d", "--name", "all", "-P", &img, "sh", "-c", SERVER]);
    let addr = b.ok(&["port", "all", "8080/tcp"]);
    let host_port: u16 = addr.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(http_get(host_port, "/").contains("hello-from-container"));

    // Removing the containers takes their pasta along.
    assert_eq!(pastas(&b).len(), 3, "{:?}", pastas(&b));
    b.ok(&["rm", "-f", "web", "udp"]);
    b.ok(&["stop", "-t", "1", "all"]);
    assert!(
        Wait::secs(10).every_ms(50).until(|| pastas(&b).is_empty()),
        "pasta left behind: {:?}",
        pastas(&b)
    );
}

#[test]
fn the_host_names_and_network_modes() {
    let (_reg, b, img) = common::pulled("test/net2", &busybox_image(|i| i));
    // A server on the host's loopback, reached as host.containers.internal.
    let port = host_server("hi-from-the-host\n");
    let out = b.ok(&[
        "run",
        "--rm",
        &img,
        "sh",
        "-c",
        &format!("wget -qO- http://host.containers.internal:{port}/; cat /etc/resolv.conf"),
    ]);
    assert!(out.starts_with("hi-from-the-host\n"), "{out}");
    assert!(out.contains("nameserver 169.254.1.1"), "{out}");

    let out = b.ok(&[
        "run",
        "--rm",
        "--dns",
        "10.9.8.7",
        "--dns-search",
        "example.test",
        "--dns-option",
        "ndots:3",
        "--add-host",
        "db:10.1.2.3",
        &img,
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts",
    ]);
    assert!(
        out.contains("search example.test\nnameserver 10.9.8.7\noptions ndots:3\n"),
        "{out}"
    );
    assert!(out.contains("10.1.2.3\tdb\n"), "{out}");

    // none: only loopback. host: the host's interfaces.
    let links = |net: &str| -> Vec<String> {
        let mut v: Vec<String> = b
            .ok(&[
                "run",
                "--rm",
                "--network",
                net,
                &img,
                "ls",
                "/sys/class/net",
            ])
            .split_whitespace()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(links("none"), ["lo"]);
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    assert_eq!(links("host"), host);
    let pasta_links = links("pasta");
    assert!(
        pasta_links.contains(&"lo".to_string()) && pasta_links.len() == 2,
        "{pasta_links:?}"
    );

    // Bad input: one line each, exit 125, nothing made.
    for (args, needle) in [
        (vec!["run", "-p", "80:80/sctp", &img, "true"], "tcp or udp"),
        (vec!["run", "-p", "x", &img, "true"], "invalid port mapping"),
        (
            vec!["run", "--network", "none", "-p", "8080:80", &img, "true"],
            "needs --network pasta",
        ),
        (
            vec!["run", "--add-host", "db", &img, "true"],
            "invalid --add-host",
        ),
        (
            vec!["run", "--dns", "resolver", &img, "true"],
            "invalid --dns",
        ),
    ] {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    }
    assert_eq!(b.ok(&["ps", "-a", "-q"]), "");
    assert!(pastas(&b).is_empty(), "{:?}", pastas(&b));
}

#[test]
fn slirp4netns_is_the_other_backend() {
    let (_reg, b, img) = common::pulled("test/net3", &busybox_image(|i| i));
    let port = common::free_port();
    b.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "slirp4netns",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &img,
        "sh",
        "-c",
        SERVER,
    ]);
    assert!(http_get(port, "/").contains("hello-from-container"));
    let hport = host_server("ok\n");
    let out = b.ok(&[
        "run", "--rm", "--network", "slirp4netns", &img, "sh", "-c",
        &format!("wget -qO- http://host.containers.internal:{hport}/; cat /etc/resolv.conf; ip -4 addr show tap0"),
    ]);
    assert!(out.starts_with("ok\n"), "{out}");
    assert!(
        out.contains("nameserver 10.0.2.3") && out.contains("10.0.2.100/24"),
        "{out}"
    );
    let o = b.run(&["run", "--network", "slirp4netns:mtu=big", &img, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("invalid slirp4netns option \"mtu=big\""),
        "{}",
        stderr(&o)
    );
    let slirps = || helpers(&b, "slirp4netns.log").len();
    assert_eq!(slirps(), 1);
    b.ok(&["rm", "-f", "web"]);
    assert!(
        Wait::secs(10).every_ms(50).until(|| slirps() == 0),
        "slirp4netns left behind"
    );
}

#[test]
fn a_container_can_share_another_ones_network() {
    let (_reg, b, img) = common::pulled("test/net4", &busybox_image(|i| i));
    b.ok(&["run", "-d", "--name", "web", &img, "sh", "-c", SERVER]);
    // Its loopback is the other container's: the server answers there.
    let out = b.ok(&[
        "run", "--rm", "--network", "container:web", &img, "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert_eq!(out, "hello-from-container\n");
    b.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        "container:web",
        &img,
        "sleep",
        "60",
    ]);
    assert_eq!(
        b.ok(&["exec", "side", "wget", "-qO-", "http://127.0.0.1:8080/"]),
        "hello-from-container\n"
    );
    let addr = |c: &str| b.ok(&["exec", c, "sh", "-c", "ip -4 -o addr show eth0"]);
    assert_eq!(
        addr("side").split_whitespace().nth(3),
        addr("web").split_whitespace().nth(3)
    );
    for (args, needle) in [
        (
            vec!["run", "--network", "container:nosuch", &img, "true"],
            "no container with name or ID \"nosuch\" found: no such container",
        ),
        (
            vec![
                "run",
                "--network",
                "container:web",
                "-p",
                "80",
                &img,
                "true",
            ],
            "-p with --network container:",
        ),
        (
            vec![
                "run",
                "--userns=keep-id",
                "--network",
                "container:web",
                &img,
                "true",
            ],
            "same --userns",
        ),
    ] {
        let o = b.run(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    b.ok(&["stop", "-t", "0", "web"]);
    b.ok(&["stop", "-t", "0", "side"]);
    let o = b.run(&["start", "side"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("is not running: start it first"),
        "{}",
        stderr(&o)
    );
    b.ok(&["start", "web"]);
    b.ok(&["start", "side"]);
    assert_eq!(
        b.ok(&["exec", "side", "wget", "-qO-", "http://127.0.0.1:8080/"]),
        "hello-from-container\n"
    );
    b.ok(&["rm", "-f", "side", "web"]);
}
