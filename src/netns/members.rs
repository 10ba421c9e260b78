//! Who is on which user network right now, and the /etc/hosts files that
//! say so. There is no DNS server: each running member has an entry in
//! `networks/members/` of the store (written by its monitor when its
//! veths are up, removed when it stops), and every change rewrites, in
//! place, the /etc/hosts of each member sharing a network with the one that
//! joined or left: its own lines (`hosts.base`) followed by one line per
//! member of its networks.
//!
//! Entries carry their monitor's identity, so one left behind by a killed
//! monitor is ignored, and removed by the next change. All of it happens
//! under one lock, so two containers starting at once both see each other.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::network::{Attachment, HostEntry, hosts_with_members};
use crate::ids::ProcessRef;
use crate::storage::atomic;

/// One running member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub attachments: Vec<Attachment>,
    /// The monitor: while it lives, so does the membership.
    pub monitor: ProcessRef,
    /// The descriptor number of the shared network namespace in the
    /// monitor (see [`super::shared::Anchor`]).
    #[serde(default)]
    pub netns_fd: Option<i32>,
}

/// The members of one store: `<store>/networks/members`, next to the
/// containers' directories, which hold each member's hosts files.
pub struct Members {
    dir: PathBuf,
    containers: PathBuf,
}

impl Members {
    /// For the store holding the container whose directory is `container`.
    pub fn of_container(container: &Path) -> Members {
        Members::for_containers(container.parent().unwrap_or(container))
    }

    /// For the store whose `containers/` directory is `containers`.
    pub fn for_containers(containers: &Path) -> Members {
        let root = containers.parent().unwrap_or(containers);
        Members {
            dir: root.join("networks").join("members"),
            containers: containers.to_path_buf(),
        }
    }

    fn lock(&self) -> io::Result<File> {
        fs::create_dir_all(&self.dir)?;
        atomic::lock(&self.dir.join("members.lock"))
    }

    fn entry(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The live members; entries of dead monitors are removed.
    fn live(&self) -> io::Result<Vec<Member>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let path = e?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let member: Option<Member> = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match member {
                Some(m) if m.monitor.alive() => out.push(m),
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `member` joined (or changed networks): record it and rewrite the
    /// hosts files of everyone on a network it is or was on.
    pub fn join(&self, member: &Member, was_on: &[String]) -> io::Result<()> {
        let _lock = self.lock()?;
        let json = serde_json::to_vec_pretty(member).map_err(io::Error::other)?;
        atomic::write_file(&self.entry(&member.id), &json, 0o644)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut touched: BTreeSet<String> = member
            .attachments
            .iter()
            .map(|a| a.network.clone())
            .collect();
        touched.extend(was_on.iter().cloned());
        self.rewrite(&touched, Some(&member.id))
    }

    /// Container `id` stopped: forget it and rewrite the hosts files of the
    /// members it shared a network with.
    pub fn leave(&self, id: &str) -> io::Result<()> {
        let _lock = self.lock()?;
        let path = self.entry(id);
        let touched: BTreeSet<String> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Member>(&b).ok())
            .map(|m| m.attachments.into_iter().map(|a| a.network).collect())
            .unwrap_or_default();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.rewrite(&touched, None)
    }

    /// A running member's hold on the shared namespaces, to adopt them from.
    pub fn anchor(&self) -> Option<super::shared::Anchor> {
        let _lock = self.lock().ok()?;
        self.live().ok()?.into_iter().find_map(|m| {
            Some(super::shared::Anchor {
                pid: m.monitor.pid,
                netns_fd: m.netns_fd?,
            })
        })
    }

    /// The member entry of container `id`, if it runs on a user network.
    pub fn get(&self, id: &str) -> Option<Member> {
        let _lock = self.lock().ok()?;
        self.live().ok()?.into_iter().find(|m| m.id == id)
    }

    /// Rewrite /etc/hosts of every live member on one of `networks`, and
    /// of member `also` (which may have just left one).
    fn rewrite(&self, networks: &BTreeSet<String>, also: Option<&str>) -> io::Result<()> {
        let live = self.live()?;
        for m in &live {
            let mine: BTreeSet<&str> = m.attachments.iter().map(|a| a.network.as_str()).collect();
            if !mine.iter().any(|n| networks.contains(*n)) && also != Some(m.id.as_str()) {
                continue;
            }
            let mut entries = Vec::new();
            for other in &live {
                for a in &other.attachments {
                    if mine.contains(a.network.as_str()) {
                        entries.push(HostEntry {
                            ip: a.ip,
                            name: &other.name,
                            aliases: &a.aliases,
                            id: &other.id,
                        });
                    }
                }
            }
            let dir = self.containers.join(&m.id);
            let base = fs::read_to_string(dir.join("hosts.base")).unwrap_or_default();
            // In place: the container's /etc/hosts is a bind mount of
            // this very file, which a rename would leave behind.
            let mut f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(dir.join("hosts"))?;
            f.write_all(hosts_with_members(&base, &entries).as_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn att(net: &str, ip: u8) -> Attachment {
        Attachment {
            network: net.into(),
            network_id: "f".repeat(64),
            ip: Ipv4Addr::new(10, 89, 0, ip),
            prefix: 24,
            aliases: vec![format!("{net}-alias")],
            internal: false,
            ifname: "eth0".into(),
        }
    }

    #[test]
    fn members_see_those_on_their_networks_only() {
        let root = tempfile::tempdir().unwrap();
        let containers = root.path().join("containers");
        let members = Members::for_containers(&containers);
        let me = ProcessRef::current().unwrap();
        let make = |id: &str, name: &str, atts: Vec<Attachment>| {
            let d = containers.join(id);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("hosts.base"), format!("127.0.1.1\t{name}\n")).unwrap();
            fs::write(d.join("hosts"), "").unwrap();
            Member {
                id: id.into(),
                name: name.into(),
                attachments: atts,
                monitor: me.clone(),
                netns_fd: None,
            }
        };
        let a = make("aaaa", "a", vec![att("front", 2)]);
        let b = make("bbbb", "b", vec![att("front", 3), att("back", 4)]);
        let c = make("cccc", "c", vec![att("back", 5)]);
        for m in [&a, &b, &c] {
            members.join(m, &[]).unwrap();
        }
        let hosts = |id: &str| fs::read_to_string(containers.join(id).join("hosts")).unwrap();
        let ha = hosts("aaaa");
        assert!(
            ha.starts_with("127.0.1.1\ta\n# burrow network members\n"),
            "{ha}"
        );
        assert!(ha.contains("10.89.0.2\ta front-alias aaaa"), "{ha}");
        assert!(ha.contains("10.89.0.3\tb front-alias bbbb"), "{ha}");
        assert!(!ha.contains("\tc "), "a and c share no network: {ha}");
        assert!(hosts("cccc").contains("10.89.0.4\tb back-alias"));
        members.leave("bbbb").unwrap();
        assert!(!hosts("aaaa").contains("\tb "));
        assert!(!hosts("cccc").contains("\tb "));
        assert!(members.get("bbbb").is_none());
        // A member whose monitor is gone is dropped at the next change.
        let mut dead = make("dddd", "d", vec![att("front", 9)]);
        dead.monitor.start_time += 1;
        members.join(&dead, &[]).unwrap();
        members.leave("cccc").unwrap();
        assert!(!hosts("aaaa").contains("\td "));
        assert!(
            !containers
                .parent()
                .unwrap()
                .join("networks/members/dddd.json")
                .exists()
        );
    }
}
