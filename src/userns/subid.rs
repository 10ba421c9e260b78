//! Subordinate id ranges from /etc/subuid and /etc/subgid.
//!
//! The format is shadow-utils': one `owner:start:count` entry per line, where
//! owner is a user name or a numeric uid. shadow-utils silently ignores lines
//! it cannot parse, and so do we, so that one bad line written by another tool
//! does not lock the user out of every range.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::UsernsError;

/// Where shadow-utils keeps the subordinate ranges.
pub const SUBUID_FILE: &str = "/etc/subuid";
/// Where shadow-utils keeps the subordinate group ranges.
pub const SUBGID_FILE: &str = "/etc/subgid";

/// A range of host ids `start .. start + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

impl IdRange {
    /// One past the last id; u64 because `start + count` may be 2^32.
    pub fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.count)
    }

    fn overlaps(&self, other: &IdRange) -> bool {
        u64::from(self.start) < other.end() && u64::from(other.start) < self.end()
    }
}

impl std::fmt::Display for IdRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Same notation as `usermod --add-subuids FIRST-LAST`.
        write!(
            f,
            "{}-{} ({} ids)",
            self.start,
            self.end().saturating_sub(1),
            self.count
        )
    }
}

/// Who we are on the host, and which ids we may map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserIdentity {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub subuids: Vec<IdRange>,
    pub subgids: Vec<IdRange>,
}

impl UserIdentity {
    /// The calling user, with ranges from /etc/subuid and /etc/subgid.
    pub fn current() -> Result<UserIdentity, UsernsError> {
        let uid = nix::unistd::getuid();
        let gid = nix::unistd::getgid();
        let name = match nix::unistd::User::from_uid(uid) {
            Ok(Some(user)) => user.name,
            // No passwd entry (e.g. an arbitrary uid in a container): entries
            // keyed by the numeric uid still match.
            Ok(None) => uid.to_string(),
            Err(e) => {
                return Err(UsernsError::UserLookup {
                    uid: uid.as_raw(),
                    reason: e.desc().into(),
                });
            }
        };
        let subuid = read_optional(Path::new(SUBUID_FILE))?;
        let subgid = read_optional(Path::new(SUBGID_FILE))?;
        Ok(UserIdentity::from_files(
            uid.as_raw(),
            gid.as_raw(),
            &name,
            &subuid,
            &subgid,
        ))
    }

    /// Build an identity from the texts of the two files (for tests and for
    /// callers that read them elsewhere).
    pub fn from_files(
        uid: u32,
        gid: u32,
        name: &str,
        subuid_text: &str,
        subgid_text: &str,
    ) -> UserIdentity {
        UserIdentity {
            name: name.to_string(),
            uid,
            gid,
            subuids: parse_ranges(subuid_text, name, uid),
            subgids: parse_ranges(subgid_text, name, uid),
        }
    }

    /// Total number of subordinate uids.
    pub fn subuid_total(&self) -> u64 {
        self.subuids.iter().map(|r| u64::from(r.count)).sum()
    }

    /// Total number of subordinate gids.
    pub fn subgid_total(&self) -> u64 {
        self.subgids.iter().map(|r| u64::from(r.count)).sum()
    }
}

fn read_optional(path: &Path) -> Result<String, UsernsError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(UsernsError::SubidRead {
            path: PathBuf::from(path),
            source,
        }),
    }
}

/// The ranges of `name` (or of the numeric `uid`) in file order. Entries with
/// a zero count, past the 32-bit id space, or overlapping an earlier entry are
/// dropped: the kernel rejects overlapping lines in uid_map, and a name entry
/// duplicated by a uid entry is common.
pub fn parse_ranges(text: &str, name: &str, uid: u32) -> Vec<IdRange> {
    let uid_str = uid.to_string();
    let mut out: Vec<IdRange> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(owner), Some(start), Some(count), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let owner = owner.trim();
        if owner != name && owner != uid_str {
            continue;
        }
        let (Ok(start), Ok(count)) = (start.trim().parse::<u32>(), count.trim().parse::<u32>())
        else {
            continue;
        };
        let range = IdRange { start, count };
        if count == 0 || range.end() > u64::from(u32::MAX) + 1 {
            continue;
        }
        if out.iter().any(|r| r.overlaps(&range)) {
            continue;
        }
        out.push(range);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_uid_entries_multiple_ranges_in_order() {
        let text = "\
# comment line
alice:100000:65536
bob:165536:65536

1000:300000:1000
  alice : 400000 : 10  
alice:500000:5:extra
";
        let r = parse_ranges(text, "alice", 1000);
        assert_eq!(
            r,
            vec![
                IdRange {
                    start: 100000,
                    count: 65536
                },
                IdRange {
                    start: 300000,
                    count: 1000
                },
                IdRange {
                    start: 400000,
                    count: 10
                },
            ]
        );
        assert_eq!(
            parse_ranges(text, "bob", 1001),
            vec![IdRange {
                start: 165536,
                count: 65536
            }]
        );
        assert!(parse_ranges(text, "carol", 1002).is_empty());
    }

    #[test]
    fn malformed_zero_overflowing_and_overlapping_entries_are_dropped() {
        let text = "\
alice:abc:10
alice:-5:10
alice:10
alice:100:0
alice:4294967290:100
alice:4294967286:10
alice:200000:65536
1000:200000:65536
alice:250000:100
alice:265536:1
";
        let r = parse_ranges(text, "alice", 1000);
        assert_eq!(
            r,
            vec![
                IdRange {
                    start: 4294967286,
                    count: 10
                },
                IdRange {
                    start: 200000,
                    count: 65536
                },
                IdRange {
                    start: 265536,
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn prefix_of_name_does_not_match() {
        let r = parse_ranges("alice2:100000:10\n10000:5:5\n", "alice", 1000);
        assert!(r.is_empty());
    }

    #[test]
    fn from_files_fills_both() {
        let u = UserIdentity::from_files(1001, 1002, "t", "t:1:2\n", "1001:3:4\n");
        assert_eq!(u.subuids, vec![IdRange { start: 1, count: 2 }]);
        assert_eq!(u.subgids, vec![IdRange { start: 3, count: 4 }]);
        assert_eq!(u.subuid_total(), 2);
        assert_eq!(u.subgid_total(), 4);
        assert_eq!(
            IdRange {
                start: 100000,
                count: 65536
            }
            .to_string(),
            "100000-165535 (65536 ids)"
        );
    }

    #[test]
    fn current_reads_something_sane() {
        let u = UserIdentity::current().unwrap();
        assert_eq!(u.uid, nix::unistd::getuid().as_raw());
        assert!(!u.name.is_empty());
    }
}

/// The size of the range burrow suggests adding: enough for images whose
/// files belong to any 16-bit id.
pub const SUGGESTED_RANGE: u64 = 65536;

/// The first range of [`SUGGESTED_RANGE`] ids, from 100000 on, that starts
/// after every range any user has in `subuid` and `subgid` (the files'
/// texts): one that collides with nobody's.
pub fn free_range_after(subuid: &str, subgid: &str) -> (u64, u64) {
    let mut start: u64 = 100_000;
    for line in subuid.lines().chain(subgid.lines()) {
        let mut fields = line.trim().split(':');
        let (Some(_), Some(first), Some(count)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if let (Ok(first), Ok(count)) = (first.trim().parse::<u64>(), count.trim().parse::<u64>()) {
            start = start.max(first + count);
        }
    }
    (start, start + SUGGESTED_RANGE - 1)
}

/// The command that gives `name` a range of its own, with the ranges
/// /etc/subuid and /etc/subgid hold now.
pub fn usermod_fix(name: &str) -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    usermod_fix_from(name, &read("/etc/subuid"), &read("/etc/subgid"))
}

/// [`usermod_fix`] for the files' texts.
pub fn usermod_fix_from(name: &str, subuid: &str, subgid: &str) -> String {
    let (first, last) = free_range_after(subuid, subgid);
    format!("usermod --add-subuids {first}-{last} --add-subgids {first}-{last} {name}")
}

#[cfg(test)]
mod suggestion_tests {
    use super::*;

    #[test]
    fn the_suggested_range_collides_with_nobody() {
        assert_eq!(free_range_after("", ""), (100_000, 165_535));
        let uid = "alice:100000:65536\nbob:165536:65536\n";
        let gid = "alice:100000:65536\ncarol:300000:1000\n";
        assert_eq!(free_range_after(uid, gid), (301_000, 366_535));
        assert_eq!(
            usermod_fix_from("dave", uid, gid),
            "usermod --add-subuids 301000-366535 --add-subgids 301000-366535 dave"
        );
        // Small ranges low down do not pull the suggestion below 100000.
        assert_eq!(
            free_range_after("x:1000:10\n", "# comment\n"),
            (100_000, 165_535)
        );
    }
}
