//! The id mapping of burrow's user namespace, and writing it for a process.
//!
//! Container id 0 is the user's own id, so files the user owns on the host
//! appear as root's inside; container ids 1.. come from the subordinate
//! ranges. Writing a map with more than the caller's own id needs the setuid
//! helpers newuidmap/newgidmap from shadow-utils (package uidmap), which
//! check the ranges against /etc/subuid and /etc/subgid.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde::Serialize;

use super::subid::{IdRange, UserIdentity};
use super::{UsernsError, find_host_program};

/// One line of a uid_map or gid_map: `size` ids starting at `container_id`
/// inside are `host_id..` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdMapping {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

impl std::fmt::Display for IdMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The layout of /proc/PID/uid_map.
        write!(f, "{} {} {}", self.container_id, self.host_id, self.size)
    }
}

/// The uid and gid maps of one user namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdMap {
    pub uids: Vec<IdMapping>,
    pub gids: Vec<IdMapping>,
}

/// How the map for one process was written, which decides what the child may
/// do afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MapWritten {
    /// False when /proc/PID/setgroups had to be set to "deny" (required
    /// before an unprivileged process may write gid_map itself).
    pub setgroups_allowed: bool,
}

/// What a user without subordinate ranges cannot do, if they have none.
pub fn missing_ranges(user: &UserIdentity) -> Option<String> {
    let what = match (user.subuids.is_empty(), user.subgids.is_empty()) {
        (true, true) => "subuid and subgid ranges",
        (true, false) => "subuid range",
        (false, true) => "subgid range",
        (false, false) => return None,
    };
    Some(format!(
        "user {name} has no {what} in /etc/subuid and /etc/subgid: only your own id is mapped \
         (to root), so images with files owned by other users fail to unpack and `-u` with \
         other users cannot work",
        name = user.name
    ))
}

impl IdMap {
    /// The map burrow uses for `user`, plus a warning when the user has no
    /// subordinate range and only its own id can be mapped.
    pub fn for_user(user: &UserIdentity) -> (IdMap, Option<String>) {
        let uids = build(user.uid, &user.subuids);
        let gids = build(user.gid, &user.subgids);
        let warning = missing_ranges(user)
            .map(|w| format!("{w}; fix: {}", super::subid::usermod_fix(&user.name)));
        (IdMap { uids, gids }, warning)
    }

    /// Podman's `--userns=keep-id` over the same host ids as this (default)
    /// map: container `uid`/`gid` is the user, container 0.. are the
    /// subordinate ids before it and the rest follow. None if the user's ids
    /// do not fit in the mapped range (or there is no range at all).
    pub fn keep_id(&self, uid: u32, gid: u32) -> Option<IdMap> {
        Some(IdMap {
            uids: keep_id_map(&self.uids, uid)?,
            gids: keep_id_map(&self.gids, gid)?,
        })
    }

    /// Number of contiguous container uids mapped from 0.
    pub fn uid_count(&self) -> u32 {
        contiguous_from_zero(&self.uids)
    }

    /// Number of contiguous container gids mapped from 0.
    pub fn gid_count(&self) -> u32 {
        contiguous_from_zero(&self.gids)
    }

    /// The host uid that container uid `c` is stored as.
    pub fn to_host_uid(&self, c: u32) -> Option<u32> {
        to_host(&self.uids, c)
    }

    /// The host gid that container gid `c` is stored as.
    pub fn to_host_gid(&self, c: u32) -> Option<u32> {
        to_host(&self.gids, c)
    }

    /// The uid_map lines, as /proc shows them.
    /// The id inside for a host uid, if the map covers it.
    pub fn to_container_uid(&self, h: u32) -> Option<u32> {
        to_container(&self.uids, h)
    }

    pub fn to_container_gid(&self, h: u32) -> Option<u32> {
        to_container(&self.gids, h)
    }

    pub fn uid_lines(&self) -> Vec<String> {
        self.uids.iter().map(|m| m.to_string()).collect()
    }

    /// The gid_map lines, as /proc shows them.
    pub fn gid_lines(&self) -> Vec<String> {
        self.gids.iter().map(|m| m.to_string()).collect()
    }

    /// Whether every line maps only the given host id, which an unprivileged
    /// process may write itself without the setuid helpers.
    fn only_self(maps: &[IdMapping], id: u32) -> bool {
        maps.len() == 1 && maps[0].host_id == id && maps[0].size == 1
    }

    /// Write the maps of the (freshly unshared) user namespace of `pid`.
    pub(crate) fn write_for(&self, pid: i32) -> Result<MapWritten, UsernsError> {
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        if euid == 0 {
            // Root holds CAP_SETUID/CAP_SETGID over the namespace's parent
            // and may write any map directly.
            write_proc(pid, "uid_map", &self.uids)?;
            write_proc(pid, "gid_map", &self.gids)?;
            return Ok(MapWritten {
                setgroups_allowed: true,
            });
        }
        let self_uid = Self::only_self(&self.uids, euid);
        let self_gid = Self::only_self(&self.gids, egid);
        // Both helpers start before either is waited for: each is a setuid
        // exec costing about a millisecond, a tenth of a container start.
        let uid_helper = if self_uid {
            write_proc(pid, "uid_map", &self.uids)?;
            None
        } else {
            Some(spawn_helper("newuidmap", pid, &self.uids)?)
        };
        let gid_helper = if self_gid {
            None
        } else {
            match spawn_helper("newgidmap", pid, &self.gids) {
                Ok(h) => Some(h),
                Err(e) => {
                    if let Some(h) = uid_helper {
                        let _ = h.finish();
                    }
                    return Err(e);
                }
            }
        };
        let uid_result = uid_helper.map_or(Ok(()), RunningHelper::finish);
        let gid_result = gid_helper.map_or(Ok(()), RunningHelper::finish);
        uid_result?;
        gid_result?;
        if self_gid {
            // The kernel only lets an unprivileged process write gid_map once
            // setgroups is denied, so that it cannot drop supplementary
            // groups used in negative ACLs.
            let path = format!("/proc/{pid}/setgroups");
            fs::write(&path, "deny").map_err(|source| UsernsError::WriteMap {
                path: path.into(),
                source,
            })?;
            write_proc(pid, "gid_map", &self.gids)?;
            Ok(MapWritten {
                setgroups_allowed: false,
            })
        } else {
            // newgidmap leaves setgroups at "allow".
            Ok(MapWritten {
                setgroups_allowed: true,
            })
        }
    }
}

/// The host ids of container ids `from..to` of `maps` (contiguous from 0),
/// as (host start, length) runs.
fn host_runs(maps: &[IdMapping], from: u32, to: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for m in maps {
        let start = m.container_id.max(from);
        let end = (m.container_id + m.size).min(to);
        if start < end {
            out.push((m.host_id + (start - m.container_id), end - start));
        }
    }
    out
}

/// See [`IdMap::keep_id`]: D(1..=id) at 0, D(0) at `id`, D(id+1..) after.
fn keep_id_map(default: &[IdMapping], id: u32) -> Option<Vec<IdMapping>> {
    let total = contiguous_from_zero(default);
    if id == 0 || id >= total {
        return None;
    }
    let mut out = Vec::new();
    let mut next = 0;
    for (from, to) in [(1, id + 1), (0, 1), (id + 1, total)] {
        for (host, len) in host_runs(default, from, to) {
            out.push(IdMapping {
                container_id: next,
                host_id: host,
                size: len,
            });
            next += len;
        }
    }
    Some(out)
}

fn build(own: u32, ranges: &[IdRange]) -> Vec<IdMapping> {
    let mut maps = vec![IdMapping {
        container_id: 0,
        host_id: own,
        size: 1,
    }];
    let mut next: u64 = 1;
    for r in ranges {
        // The user's own id is already mapped to 0; the kernel rejects a
        // second mapping of the same host id, so cut it out of the range.
        let pieces: Vec<(u32, u32)> =
            if u64::from(own) >= u64::from(r.start) && u64::from(own) < r.end() {
                let below = own - r.start;
                let above = r.count - below - 1;
                [(r.start, below), (own.saturating_add(1), above)]
                    .into_iter()
                    .filter(|p| p.1 > 0)
                    .collect()
            } else {
                vec![(r.start, r.count)]
            };
        for (start, count) in pieces {
            // Container ids must stay below 2^32 - 1 ((uid_t)-1 is invalid).
            let room = u64::from(u32::MAX).saturating_sub(next);
            let size = u64::from(count).min(room);
            if size == 0 {
                return maps;
            }
            maps.push(IdMapping {
                container_id: next as u32,
                host_id: start,
                size: size as u32,
            });
            next += size;
        }
    }
    maps
}

fn contiguous_from_zero(maps: &[IdMapping]) -> u32 {
    let mut sorted: Vec<&IdMapping> = maps.iter().collect();
    sorted.sort_by_key(|m| m.container_id);
    let mut next: u64 = 0;
    for m in sorted {
        if u64::from(m.container_id) != next {
            break;
        }
        next += u64::from(m.size);
    }
    u32::try_from(next).unwrap_or(u32::MAX)
}

fn to_container(maps: &[IdMapping], h: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let off = h.checked_sub(m.host_id)?;
        (off < m.size)
            .then(|| m.container_id.checked_add(off))
            .flatten()
    })
}

fn to_host(maps: &[IdMapping], c: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let off = c.checked_sub(m.container_id)?;
        (off < m.size).then(|| m.host_id.checked_add(off)).flatten()
    })
}

fn write_proc(pid: i32, file: &str, maps: &[IdMapping]) -> Result<(), UsernsError> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    let text: String = maps.iter().map(|m| format!("{m}\n")).collect();
    // The kernel wants the whole map in a single write(2); fs::write does one
    // write for a buffer this small.
    fs::write(&path, text).map_err(|source| UsernsError::WriteMap { path, source })
}

/// A newuidmap/newgidmap process on its way.
struct RunningHelper {
    tool: &'static str,
    child: std::process::Child,
}

fn spawn_helper(
    tool: &'static str,
    pid: i32,
    maps: &[IdMapping],
) -> Result<RunningHelper, UsernsError> {
    let path = find_host_program(tool).ok_or(UsernsError::HelperNotFound { tool })?;
    let mut cmd = Command::new(&path);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.arg(m.container_id.to_string())
            .arg(m.host_id.to_string())
            .arg(m.size.to_string());
    }
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| UsernsError::HelperSpawn {
            tool,
            path: path.clone(),
            source,
        })?;
    Ok(RunningHelper { tool, child })
}

impl RunningHelper {
    fn finish(self) -> Result<(), UsernsError> {
        let tool = self.tool;
        let out = self
            .child
            .wait_with_output()
            .map_err(|e| UsernsError::HelperFailed {
                tool,
                status: "unknown".into(),
                stderr: format!("cannot wait for it: {e}"),
            })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        Err(UsernsError::HelperFailed {
            tool,
            status: out.status.to_string(),
            stderr: if stderr.is_empty() {
                "(no error output)".into()
            } else {
                stderr
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(subuid: &str, subgid: &str) -> UserIdentity {
        UserIdentity::from_files(1001, 1002, "bt", subuid, subgid)
    }

    #[test]
    fn keep_id_puts_the_user_at_its_own_id() {
        let (d, _) = for_user_text("bt:100000:65536\n", "bt:100000:65536\n");
        let k = d.keep_id(1001, 1002).unwrap();
        let m = |c, h, s| IdMapping {
            container_id: c,
            host_id: h,
            size: s,
        };
        assert_eq!(
            k.uids,
            [m(0, 100000, 1001), m(1001, 1001, 1), m(1002, 101001, 64535)]
        );
        assert_eq!(k.gids[1], m(1002, 1002, 1));
        // The same host ids as the default map.
        assert_eq!(k.uid_count(), d.uid_count());
        let hosts = |map: &IdMap| {
            let mut v: Vec<u32> = (0..map.uid_count())
                .map(|c| map.to_host_uid(c).unwrap())
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(hosts(&k), hosts(&d));
        assert!(d.keep_id(70000, 1002).is_none());
        let (single, _) = for_user_text("", "");
        assert!(single.keep_id(1001, 1002).is_none());
    }

    #[test]
    fn maps_self_then_ranges_in_order() {
        let (m, warn) = for_user_text("bt:100000:65536\nbt:300000:10\n", "bt:200000:65536\n");
        assert!(warn.is_none());
        assert_eq!(
            m.uids,
            vec![
                IdMapping {
                    container_id: 0,
                    host_id: 1001,
                    size: 1
                },
                IdMapping {
                    container_id: 1,
                    host_id: 100000,
                    size: 65536
                },
                IdMapping {
                    container_id: 65537,
                    host_id: 300000,
                    size: 10
                },
            ]
        );
        assert_eq!(
            m.gids[0],
            IdMapping {
                container_id: 0,
                host_id: 1002,
                size: 1
            }
        );
        assert_eq!(
            m.gids[1],
            IdMapping {
                container_id: 1,
                host_id: 200000,
                size: 65536
            }
        );
        assert_eq!(m.uid_count(), 65547);
        assert_eq!(m.gid_count(), 65537);
        assert_eq!(m.to_host_uid(0), Some(1001));
        assert_eq!(m.to_host_uid(1), Some(100000));
        assert_eq!(m.to_host_uid(1000), Some(100999));
        assert_eq!(m.to_host_uid(65536), Some(165535));
        assert_eq!(m.to_host_uid(65537), Some(300000));
        assert_eq!(m.to_host_uid(65546), Some(300009));
        assert_eq!(m.to_host_uid(65547), None);
        assert_eq!(m.to_host_gid(65536), Some(265535));
        assert_eq!(m.to_host_gid(65537), None);
        assert_eq!(
            m.uid_lines(),
            vec!["0 1001 1", "1 100000 65536", "65537 300000 10"]
        );
    }

    fn for_user_text(subuid: &str, subgid: &str) -> (IdMap, Option<String>) {
        IdMap::for_user(&user(subuid, subgid))
    }

    #[test]
    fn no_ranges_maps_only_self_with_warning() {
        let (m, warn) = for_user_text("", "other:1:2\n");
        assert_eq!(
            m.uids,
            vec![IdMapping {
                container_id: 0,
                host_id: 1001,
                size: 1
            }]
        );
        assert_eq!(
            m.gids,
            vec![IdMapping {
                container_id: 0,
                host_id: 1002,
                size: 1
            }]
        );
        assert_eq!(m.uid_count(), 1);
        assert_eq!(m.to_host_uid(1), None);
        let w = warn.unwrap();
        assert!(w.contains("subuid and subgid"), "{w}");
        assert!(w.contains("fail to unpack"), "{w}");
        // The fix names a range no user on this machine has (its range is
        // tested in subid).
        assert!(w.contains("; fix: usermod --add-subuids "), "{w}");
        assert!(w.ends_with(" bt"), "{w}");
        assert!(!w.contains('\n'));
    }

    #[test]
    fn only_one_kind_missing_is_named() {
        let (m, warn) = for_user_text("bt:100000:10\n", "");
        assert_eq!(m.uid_count(), 11);
        assert_eq!(m.gid_count(), 1);
        assert!(warn.unwrap().contains("no subgid range"));
    }

    #[test]
    fn own_id_inside_a_range_is_cut_out() {
        let (m, _) = for_user_text("bt:1000:5\n", "bt:1002:1\n");
        assert_eq!(
            m.uids,
            vec![
                IdMapping {
                    container_id: 0,
                    host_id: 1001,
                    size: 1
                },
                IdMapping {
                    container_id: 1,
                    host_id: 1000,
                    size: 1
                },
                IdMapping {
                    container_id: 2,
                    host_id: 1002,
                    size: 3
                },
            ]
        );
        // Nothing left of a range that is exactly the own gid.
        assert_eq!(
            m.gids,
            vec![IdMapping {
                container_id: 0,
                host_id: 1002,
                size: 1
            }]
        );
    }

    #[test]
    fn container_ids_stop_before_u32_max() {
        let (m, _) = for_user_text("bt:0:4294967295\nbt:4294967295:1\n", "");
        let total: u64 = m.uids.iter().map(|x| u64::from(x.size)).sum();
        assert_eq!(total, u64::from(u32::MAX));
        assert!(
            m.uids
                .iter()
                .all(|x| u64::from(x.container_id) + u64::from(x.size) <= u64::from(u32::MAX))
        );
    }

    #[test]
    fn contiguous_count_ignores_gaps_and_order() {
        let maps = vec![
            IdMapping {
                container_id: 1,
                host_id: 10,
                size: 4,
            },
            IdMapping {
                container_id: 0,
                host_id: 5,
                size: 1,
            },
            IdMapping {
                container_id: 100,
                host_id: 50,
                size: 4,
            },
        ];
        assert_eq!(contiguous_from_zero(&maps), 5);
        assert_eq!(contiguous_from_zero(&maps[..1]), 0);
    }
}
