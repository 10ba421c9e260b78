//! The files a container gets from burrow: hostname, hosts and
//! resolv.conf in `/etc` (with keep-id, passwd and group; with `--tz`,
//! localtime), and `/run/.containerenv`, written into its directory before
//! each start and bound over the image's by the plan.

use std::fs;
use std::io;

use std::io::Read;
use std::path::Path;

use crate::netns::{pasta, slirp};
use crate::runtime::container::ContainerStore;
use crate::runtime::spec::{
    Account, ContainerSpec, NetworkMode, hosts_file_with, resolv_conf_with,
};
use crate::runtime::sys::resolve_in_root;

/// Write the container's hostname, hosts and resolv.conf into its
/// directory (see [`ContainerSpec::etc_file`]), as its network has them.
pub fn write(spec: &ContainerSpec) -> io::Result<()> {
    fs::write(spec.etc_file("hostname"), format!("{}\n", spec.hostname))?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (hosts, resolv) = match &spec.network {
        NetworkMode::None => (
            hosts_file_with(&spec.hostname, &spec.names, None),
            resolv_conf_with(&host_resolv, &spec.names, None, false),
        ),
        NetworkMode::Host => {
            // The host's own names, with the user's additions.
            let mut hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
            if !hosts.is_empty() && !hosts.ends_with('\n') {
                hosts.push('\n');
            }
            for (name, addr) in &spec.names.hosts {
                hosts.push_str(&format!("{addr}\t{name}\n"));
            }
            (
                hosts,
                resolv_conf_with(&host_resolv, &spec.names, None, true),
            )
        }
        NetworkMode::Container(id) => {
            // The other container's names, as Docker shares them.
            let other = spec.dir.parent().map(|p| p.join(id));
            let read = |name: &str| {
                other
                    .as_ref()
                    .and_then(|d| fs::read_to_string(d.join(name)).ok())
                    .unwrap_or_default()
            };
            (read("hosts"), read("resolv.conf"))
        }
        NetworkMode::Slirp4netns(opts) => {
            let cfg = slirp::config(opts).map_err(|e| io::Error::other(e.to_string()))?;
            let (gw, dns) = (cfg.gateway().to_string(), cfg.dns().to_string());
            (
                hosts_file_with(&spec.hostname, &spec.names, Some(&gw)),
                resolv_conf_with(&host_resolv, &spec.names, Some(&dns), false),
            )
        }
        NetworkMode::Bridge(_) => {
            // The container's own lines; the members' are added to them
            // once its veths are up (see super::members).
            let gateway = if spec.network.has_helper() {
                pasta::host_gateway().map(|g| g.to_string())
            } else {
                None
            };
            let forwarder = spec.network.has_helper().then_some(pasta::DNS_FORWARD);
            let base = hosts_file_with(&spec.hostname, &spec.names, gateway.as_deref());
            fs::write(spec.etc_file("hosts.base"), &base)?;
            (
                base,
                resolv_conf_with(&host_resolv, &spec.names, forwarder, false),
            )
        }
        NetworkMode::Pasta(_) => {
            let gateway = pasta::host_gateway().map(|g| g.to_string());
            (
                hosts_file_with(&spec.hostname, &spec.names, gateway.as_deref()),
                resolv_conf_with(&host_resolv, &spec.names, Some(pasta::DNS_FORWARD), false),
            )
        }
    };
    fs::write(spec.etc_file("hosts"), hosts)?;
    fs::write(spec.etc_file("resolv.conf"), resolv)?;
    if spec.container_env {
        fs::write(spec.etc_file(".containerenv"), container_env(spec))?;
    }
    if let Some(zone) = &spec.timezone {
        // A copy: the host's file may change or go while the container runs.
        fs::copy(zone, spec.etc_file("localtime"))?;
    }
    Ok(())
}

/// Podman's `/run/.containerenv`: what engine made the container, its
/// name, ID and image, and that it is rootless.
fn container_env(spec: &ContainerSpec) -> String {
    let record = ContainerStore::of_container_dir(&spec.dir)
        .get(&spec.id)
        .ok();
    let (name, image, image_id) = match &record {
        Some(r) => (
            r.name.clone(),
            r.image.clone(),
            r.image_id.hex().to_string(),
        ),
        None => (spec.id.clone(), String::new(), String::new()),
    };
    format!(
        "engine=\"burrow-{}\"\nname=\"{name}\"\nid=\"{}\"\nimage=\"{image}\"\nimageid=\"{image_id}\"\nrootless=1\n",
        env!("CARGO_PKG_VERSION"),
        spec.id
    )
}

/// The most of an account file read from an image.
const ACCOUNT_FILE_MAX: u64 = 4 << 20;

/// An account file of the container's root `root` (symlinks resolved
/// inside it); None when missing or unreadable.
fn image_account_file(root: &Path, path: &str) -> Option<String> {
    let file = fs::File::open(resolve_in_root(root, path).ok()?).ok()?;
    let mut text = String::new();
    file.take(ACCOUNT_FILE_MAX).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Whether an account file (passwd or group) has an entry with id `id`.
fn has_id(text: &str, id: u32) -> bool {
    text.lines().any(|l| {
        let f: Vec<&str> = l.split(':').collect();
        f.len() >= 3 && !f[0].starts_with('#') && f[2].parse() == Ok(id)
    })
}

/// `text` with `line` appended (on a line of its own).
fn appended(mut text: String, line: &str) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text
}

/// With keep-id, the image's /etc/passwd and /etc/group (of the root made
/// at `root`) with the user's entries added where their ids are missing,
/// written into the container's directory; the names of those written, for
/// the plan to bind.
pub fn write_accounts(spec: &ContainerSpec, root: &Path) -> io::Result<Vec<String>> {
    let Some(a) = &spec.keep_id_account else {
        return Ok(Vec::new());
    };
    let mut written = Vec::new();
    for (name, entry) in account_lines(a) {
        let text = image_account_file(root, &format!("/etc/{name}")).unwrap_or_default();
        let id = if name == "passwd" { a.uid } else { a.gid };
        if has_id(&text, id) {
            continue;
        }
        fs::write(spec.etc_file(name), appended(text, &entry))?;
        written.push(name.to_string());
    }
    Ok(written)
}

/// The passwd and group lines of `a`, as Podman adds them.
fn account_lines(a: &Account) -> [(&'static str, String); 2] {
    [
        (
            "passwd",
            format!(
                "{}:*:{}:{}:{}:{}:{}\n",
                a.name, a.uid, a.gid, a.name, a.home, a.shell
            ),
        ),
        ("group", format!("{}:x:{}:{}\n", a.group, a.gid, a.name)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_id_entries_are_added_only_where_the_ids_are_missing() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:1000:\n").unwrap();
        let mut spec = crate::runtime::testing::spec();
        spec.dir = t.path().to_path_buf();
        spec.keep_id_account = Some(Account {
            name: "me".into(),
            uid: 1000,
            gid: 1000,
            group: "me".into(),
            home: "/home/me".into(),
            shell: "/bin/bash".into(),
        });
        assert_eq!(write_accounts(&spec, &root).unwrap(), ["passwd"]);
        assert_eq!(
            fs::read_to_string(t.path().join("passwd")).unwrap(),
            "root:x:0:0:root:/root:/bin/sh\nme:*:1000:1000:me:/home/me:/bin/bash\n"
        );
        // An image without the files gets the entries alone.
        fs::remove_file(root.join("etc/group")).unwrap();
        assert_eq!(write_accounts(&spec, &root).unwrap(), ["passwd", "group"]);
        assert_eq!(
            fs::read_to_string(t.path().join("group")).unwrap(),
            "me:x:1000:me\n"
        );
        // A symlink out of the root is resolved inside it.
        fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("etc/passwd")).unwrap();
        write_accounts(&spec, &root).unwrap();
        assert_eq!(
            fs::read_to_string(t.path().join("passwd")).unwrap(),
            "me:*:1000:1000:me:/home/me:/bin/bash\n"
        );
    }
}
