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
    let numeric_uid: Option<u32> = user_part.parse().ok();
    let entry = passwd.and_then(|p| {
        passwd_entries(p).find(|e| match numeric_uid {
            Some(n) => e.uid == n,
            None => e.name == user_part,
        })
    });
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
            user.gid = match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => group
                    .and_then(|t| group_entries(t).find(|(name, _, _)| *name == g))
                    .map(|(_, gid, _)| gid)
                    .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
            };
        }
        None => {
            if let (Some(e), Some(t)) = (&entry, group) {
                for (_, gid, members) in group_entries(t) {
                    if members.contains(&e.name) && !user.groups.contains(&gid) {
                        user.groups.push(gid);
                    }
                }
            }
        }
    }
    Ok(user)
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
}
