//! The user namespaces the engine works in, and running engine code there:
//! a fork into the namespace whose answer (a value or a reported error)
//! comes back to the caller, typed.

use std::fs::File;
use std::io::{Read, Seek, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{EngineError, RequestError};
use crate::storage::unpack::UnpackOptions;
use crate::userns::{self, IdMap, UserIdentity};

/// A user namespace: who the user is, and the map that makes them root
/// there.
#[derive(Debug, Clone)]
pub struct UserNs {
    pub identity: UserIdentity,
    pub map: IdMap,
}

impl UserNs {
    /// The current user's default map (their subordinate ranges), and a
    /// warning when they have none (what breaks, and the fix).
    pub fn for_current_user() -> Result<(UserNs, Option<String>), EngineError> {
        let identity = UserIdentity::current()?;
        let (map, warning) = IdMap::for_user(&identity);
        Ok((UserNs { identity, map }, warning))
    }

    /// The keep-id map over the same ids: the user is `uid`:`gid` inside
    /// (their own uid and gid unless `--userns=keep-id:uid=,gid=` says
    /// otherwise).
    pub fn keep_id(self, uid: u32, gid: u32) -> Result<UserNs, RequestError> {
        let identity = self.identity;
        let map = self.map.keep_id(uid, gid).ok_or_else(|| {
            RequestError::Invalid(format!(
                "--userns=keep-id (you as {uid}:{gid} inside) needs subordinate ids for {name} in /etc/subuid and /etc/subgid covering at least {} ids: add a range with `{}`",
                uid.max(gid) + 1,
                crate::userns::subid::usermod_fix(&identity.name),
                name = identity.name
            ))
        })?;
        Ok(UserNs { identity, map })
    }

    /// How layers are unpacked in this namespace (pull, load, import).
    pub fn unpack_options(&self, ignore_chown_errors: bool) -> UnpackOptions {
        UnpackOptions {
            uid_count: self.map.uid_count(),
            gid_count: self.map.gid_count(),
            ignore_chown_errors,
            user_name: self.identity.name.clone(),
        }
    }
}

/// Run `f` as root of the user namespace `ns` (a new one, or the existing
/// one `existing` describes with the same map) in a forked child, and
/// return what it returned. The answer travels through an anonymous file
/// shared with the child, written before it exits and read after: no pipe
/// to fill, and no end of file to wait for that a process the child left
/// running (a container's monitor) would hold back. The caller is
/// single-threaded.
pub fn run_in<T: Serialize + DeserializeOwned>(
    ns: &UserNs,
    existing: Option<&File>,
    f: impl FnOnce(&UserNs) -> T,
) -> Result<T, EngineError> {
    if existing.is_none() && userns::in_userns_already() {
        return Ok(f(ns));
    }
    let answer = answer_file()?;
    let child = || {
        let value = f(ns);
        // The child leaves without flushing (see userns::run_in_userns).
        let _ = std::io::stdout().flush();
        match serde_json::to_vec(&value) {
            Ok(bytes) if (&answer).write_all(&bytes).is_ok() => 0,
            _ => 1,
        }
    };
    let code = match existing {
        Some(file) => userns::run_in_existing_userns(file, child)?,
        None => userns::run_in_userns(&ns.map, child)?,
    };
    let mut bytes = Vec::new();
    let mut file = &answer;
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| EngineError::io("reading the user namespace process's answer", e))?;
    if bytes.is_empty() {
        return Err(EngineError::Ended { code });
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::io(
            "reading the user namespace process's answer",
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

fn answer_file() -> Result<File, EngineError> {
    let fd = rustix::fs::memfd_create("burrow-answer", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| EngineError::io("creating the answer file", e.into()))?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_file_holds_what_was_written() {
        let f = answer_file().unwrap();
        (&f).write_all(b"[1,2]").unwrap();
        let mut s = String::new();
        (&f).rewind().unwrap();
        (&f).read_to_string(&mut s).unwrap();
        assert_eq!(s, "[1,2]");
    }
}
