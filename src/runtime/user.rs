//! `-u user[:group]` and the image's `User`, resolved against the
//! container's own /etc/passwd and /etc/group with runc's rules.

/// The identity the container's command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// HOME when neither the image nor `-e` sets it.
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid user {0:?}: use NAME, UID, NAME:GROUP or UID:GID")]
    Invalid(String),
    /// An id the kernel would misread: (uid_t)-1 means "leave unchanged"
    /// to setresuid(2), so 4294967295 would keep root.
    #[error("invalid user {0:?}: uids and gids must be in range 0-{MAX_ID}")]
    OutOfRange(String),
}

/// The largest uid or gid a container may run as (Podman's bound).
pub const MAX_ID: u32 = i32::MAX as u32;

/// `part` as an id: None for a name, an error for a number out of range
/// (negative ones included). Every user and group a container runs as,
/// whether from a flag, the image, exec or a build's USER, is read here.
fn parse_id(part: &str, spec: &str) -> Result<Option<u32>, UserError> {
    let digits = part.strip_prefix('-').unwrap_or(part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match part.parse::<u32>() {
        Ok(n) if n <= MAX_ID => Ok(Some(n)),
        _ => Err(UserError::OutOfRange(spec.to_string())),
    }
}

/// Check `spec` (`user[:group]`) without the container's files: the form
/// and the range of numeric ids, so a bad `-u` is refused before anything
/// is made.
pub fn check_user_spec(spec: &str) -> Result<(), UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if group_part == Some("") {
        return Err(UserError::Invalid(spec.to_string()));
    }
    parse_id(user_part, spec)?;
    if let Some(g) = group_part {
        parse_id(g, spec)?;
    }
    Ok(())
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || f[0].starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// (name, gid, members) of each well-formed line of a group file.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || f[0].starts_with('#') {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolves `spec` ("" for root) given the container's passwd and group
/// files (None when missing). Numeric ids need no entry. Supplementary
/// groups come from group membership only when no group is given, as in
/// runc and Docker.
pub fn resolve_user(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if group_part == Some("") {
        return Err(UserError::Invalid(spec.to_string()));
    }
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let numeric_uid = parse_id(user_part, spec)?;
    let entry = passwd.and_then(|p| {
        passwd_entries(p).find(|e| match numeric_uid {
            Some(n) => e.uid == n,
            None => e.name == user_part,
        })
    });
    // The image's own files are no more trusted than a flag.
    if let Some(e) = &entry
        && (e.uid > MAX_ID || e.gid > MAX_ID)
    {
        return Err(UserError::OutOfRange(format!("{}:{}", e.uid, e.gid)));
    }
    let mut user = match (&entry, numeric_uid) {
        (Some(e), _) => ExecUser {
            uid: e.uid,
            gid: e.gid,
            groups: Vec::new(),
            home: e.home.to_string(),
        },
        (None, Some(n)) => ExecUser {
            uid: n,
            gid: 0,
            groups: Vec::new(),
            home: "/".to_string(),
        },
        (None, None) => return Err(UserError::NoUser(user_part.to_string())),
    };
    match group_part {
        Some(g) => {
            user.gid = match parse_id(g, spec)? {
                Some(n) => n,
                None => group
                    .and_then(|t| group_entries(t).find(|(name, _, _)| *name == g))
                    .map(|(_, gid, _)| gid)
                    .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
            };
            if user.gid > MAX_ID {
                return Err(UserError::OutOfRange(spec.to_string()));
            }
        }
        None => {
            if let (Some(e), Some(t)) = (&entry, group) {
                for (_, gid, members) in group_entries(t) {
                    if members.contains(&e.name) && gid <= MAX_ID && !user.groups.contains(&gid) {
                        user.groups.push(gid);
                    }
                }
            }
        }
    }
    Ok(user)
}

/// `--group-add`'s groups: ids as they are, names looked up in the
/// container's group file.
pub fn resolve_groups(groups: &[String], group: Option<&str>) -> Result<Vec<u32>, UserError> {
    let mut out = Vec::new();
    for g in groups {
        let gid = match parse_id(g, g)? {
            Some(n) => n,
            None => group
                .and_then(|t| group_entries(t).find(|(name, _, _)| name == g))
                .map(|(_, gid, _)| gid)
                .filter(|gid| *gid <= MAX_ID)
                .ok_or_else(|| UserError::NoGroup(g.clone()))?,
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\ndocker:x:20:app\n";

    fn r(s: &str) -> Result<ExecUser, UserError> {
        resolve_user(s, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn names_and_ids() {
        let root = r("").unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let app = r("app").unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.groups, [10, 20]);
        assert_eq!(app.home, "/home/app");
        assert_eq!(r("1000").unwrap(), app);
        let odd = r("4242").unwrap();
        assert_eq!((odd.uid, odd.gid, odd.home.as_str()), (4242, 0, "/"));
        assert!(odd.groups.is_empty());
        let explicit = r("app:wheel").unwrap();
        assert_eq!((explicit.uid, explicit.gid), (1000, 10));
        assert!(explicit.groups.is_empty());
        assert_eq!(r("1000:55").unwrap().gid, 55);
        assert_eq!(resolve_user("7:8", None, None).unwrap().gid, 8);
    }

    #[test]
    fn added_groups_by_name_or_id() {
        let add = |g: &[&str]| {
            let g: Vec<String> = g.iter().map(|s| s.to_string()).collect();
            resolve_groups(&g, Some(GROUP))
        };
        assert_eq!(add(&["wheel", "7", "docker", "7"]).unwrap(), [10, 7, 20]);
        assert_eq!(
            add(&["nogrp"]).unwrap_err(),
            UserError::NoGroup("nogrp".into())
        );
        assert!(matches!(
            add(&["4294967295"]),
            Err(UserError::OutOfRange(_))
        ));
    }

    #[test]
    fn errors() {
        assert_eq!(
            r("nosuch").unwrap_err().to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        assert_eq!(
            r("app:nogrp").unwrap_err(),
            UserError::NoGroup("nogrp".into())
        );
        assert!(matches!(r("app:"), Err(UserError::Invalid(_))));
        assert!(resolve_user("app", None, None).is_err());
    }

    /// (uid_t)-1 reaching setresuid(2) would leave the process root: no
    /// flag, image or passwd entry may bring an id above 2147483647.
    #[test]
    fn ids_beyond_the_signed_range_are_refused() {
        for bad in [
            "4294967295",
            "0:4294967295",
            "4294967295:0",
            "-1",
            "0:-1",
            "2147483648",
        ] {
            let e = r(bad).unwrap_err();
            assert_eq!(e, UserError::OutOfRange(bad.into()), "{bad}");
            assert!(
                e.to_string().contains("must be in range 0-2147483647"),
                "{e}"
            );
            assert!(check_user_spec(bad).is_err(), "{bad}");
        }
        assert_eq!(r("2147483647").unwrap().uid, 2147483647);
        assert!(check_user_spec("app:wheel").is_ok());
        assert!(check_user_spec("1000:1000").is_ok());
        assert!(matches!(
            check_user_spec("app:"),
            Err(UserError::Invalid(_))
        ));
        let hostile = "root:x:4294967295:4294967295:root:/root:/bin/sh\n";
        assert!(matches!(
            resolve_user("root", Some(hostile), None),
            Err(UserError::OutOfRange(_))
        ));
        let group = "evil:x:4294967295:app\n";
        assert!(r("app").unwrap().groups.iter().all(|g| *g <= MAX_ID));
        let app = resolve_user("app", Some(PASSWD), Some(group)).unwrap();
        assert!(app.groups.is_empty());
    }
}
