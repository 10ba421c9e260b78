//! The last steps of every process entering a container, the container's
//! own and `exec`'s: its user and environment, the working directory, the
//! program, then (with nothing of burrow's left open) the user switch,
//! the capabilities, the seccomp filter, and execve. One function each,
//! through [`Sys`], so both kinds of process are confined the same way
//! and the order is tested without privileges.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ChildSetupError, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND};
use crate::confine::{CapSet, Filter};
use crate::runtime::spec::DEFAULT_PATH;
use crate::runtime::sys::Sys;
use crate::runtime::ulimit::Ulimit;
use crate::runtime::user::{ExecUser, resolve_groups, resolve_user};

/// What the process runs, and as whom.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub args: &'a [String],
    /// `K=V`; HOME is added from the user's entry when missing.
    pub env: Vec<String>,
    pub cwd: &'a str,
    /// `user[:group]`; "" stays root without touching the groups (unless
    /// groups are added).
    pub user: &'a str,
    /// `--group-add`: more supplementary groups (names or ids).
    pub group_add: &'a [String],
}

/// A launch made ready inside the container: nothing left to look up.
#[derive(Debug)]
pub struct Prepared {
    program: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    /// The user to switch to, when one was asked for.
    user: Option<ExecUser>,
}

impl Prepared {
    /// The uid and gid the command runs as (root's when no user is
    /// asked for).
    pub fn ids(&self) -> (u32, u32) {
        self.user.as_ref().map_or((0, 0), |u| (u.uid, u.gid))
    }
}

/// Inside the container's root (after the pivot, or after joining its
/// mount namespace): resolve the user in the container's own account
/// files, complete the environment, enter the working directory and find
/// the program in the container's PATH.
pub fn prepare(sys: &mut dyn Sys, launch: &Launch<'_>) -> Result<Prepared, ChildSetupError> {
    // Read after the pivot, so that symlinks in them resolve inside the
    // container's root.
    let mut account_file = |path: &'static str| {
        sys.read_file(Path::new(path))
            .map_err(|source| ChildSetupError::AccountFile { path, source })
    };
    let passwd = account_file("/etc/passwd")?;
    let group = account_file("/etc/group")?;
    let mut user = resolve_user(launch.user, passwd.as_deref(), group.as_deref())?;
    for gid in resolve_groups(launch.group_add, group.as_deref())? {
        if !user.groups.contains(&gid) {
            user.groups.push(gid);
        }
    }
    let mut env = launch.env.clone();
    if !env.iter().any(|e| e.split('=').next() == Some("HOME")) {
        env.push(format!("HOME={}", user.home));
    }
    // Only now, inside the container's root: a working directory resolved
    // before the pivot could point at the host (CVE-2024-21626).
    sys.chdir(Path::new(launch.cwd))
        .map_err(|source| ChildSetupError::WorkDir {
            dir: launch.cwd.to_string(),
            source,
        })?;
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let name = launch.args.first().ok_or(ChildSetupError::NoCommand)?;
    let program = find_in_container_path(name, path_var)
        .map_err(|(code, message)| ChildSetupError::Program { code, message })?;
    let to_c = |s: &str| CString::new(s).map_err(|_| ChildSetupError::Nul(s.to_string()));
    Ok(Prepared {
        program: to_c(&program.to_string_lossy())?,
        args: launch
            .args
            .iter()
            .map(|a| to_c(a))
            .collect::<Result<_, _>>()?,
        env: env.iter().map(|a| to_c(a)).collect::<Result<_, _>>()?,
        user: (!launch.user.is_empty() || !launch.group_add.is_empty()).then_some(user),
    })
}

/// Last, after every mount and once stdio is in place: nothing of
/// burrow's stays open past the exec, then the user, then capabilities
/// (shrinking the bounding set needs CAP_SETPCAP and prctl, which a filter
/// may forbid), then the filter (`None`: no_new_privs alone). The report
/// channel keeps working: write(2) stays allowed.
pub fn confine(
    sys: &mut dyn Sys,
    prepared: &Prepared,
    caps: &CapSet,
    seccomp: Option<&Filter>,
) -> Result<(), ChildSetupError> {
    // Every descriptor past stdio closes at exec, so nothing of burrow's
    // leaks into the container (CVE-2024-21626 again): a failure is fatal.
    sys.close_on_exec_from(3)
        .map_err(ChildSetupError::CloseRange)?;
    // The user switch comes first so that it works even when the set lacks
    // CAP_SETUID/CAP_SETGID (`--cap-drop ALL -u 1000`): keep-caps preserves
    // the permitted set across it for the capabilities' step. A non-root
    // user still ends with no capabilities, as with Docker: its execve
    // keeps only ambient ones, and apply_caps clears those.
    if let Some(user) = &prepared.user {
        switch_user(sys, user)?;
    }
    sys.apply_caps(caps)?;
    match seccomp {
        Some(filter) => sys.install_seccomp(filter)?,
        None => sys.set_no_new_privs()?,
    }
    Ok(())
}

/// `--ulimit`s, set before the user switch and the confinement (the
/// default filter allows setrlimit; a lowered hard limit then binds the
/// container's user too).
pub fn set_ulimits(sys: &mut dyn Sys, ulimits: &[Ulimit]) -> Result<(), ChildSetupError> {
    for u in ulimits {
        let failed = |source| ChildSetupError::Ulimit {
            ulimit: u.to_string(),
            source,
        };
        let resource = u
            .resource()
            .ok_or_else(|| failed(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
        let (soft, hard) = u.raw();
        sys.setrlimit(resource, soft, hard).map_err(failed)?;
    }
    Ok(())
}

/// Become `user`: supplementary groups, group, then user, keeping the
/// permitted capabilities across the uid change.
pub fn switch_user(sys: &mut dyn Sys, user: &ExecUser) -> Result<(), ChildSetupError> {
    sys.setgroups(&user.groups)
        .map_err(|source| ChildSetupError::Groups {
            groups: user.groups.clone(),
            source,
        })?;
    sys.setresgid(user.gid)
        .map_err(|source| ChildSetupError::Group {
            gid: user.gid,
            source,
        })?;
    sys.set_keep_caps(true).map_err(ChildSetupError::KeepCaps)?;
    sys.setresuid(user.uid)
        .map_err(|source| ChildSetupError::SwitchUser {
            uid: user.uid,
            source,
        })?;
    // A non-zero uid loses the effective set; apply_caps needs it back.
    sys.raise_effective_caps()
        .map_err(ChildSetupError::RaiseCaps)
}

/// execve(2), with every signal's disposition the default (as runc);
/// returns only with the reason it failed (126 or 127).
pub fn exec(sys: &mut dyn Sys, prepared: &Prepared, shown_as: &str) -> ChildSetupError {
    sys.reset_signal_dispositions();
    let errno = sys.execve(&prepared.program, &prepared.args, &prepared.env);
    ChildSetupError::Exec {
        program: shown_as.to_string(),
        errno,
    }
}

/// `name` looked up in `path` the way execvp does, but in the container's
/// PATH (glibc's execvpe searches the caller's), from inside the
/// container. Errors carry the exit code. (The host's PATH is searched by
/// [`crate::userns::find_host_program`].)
pub fn find_in_container_path(name: &str, path: &str) -> Result<PathBuf, (i32, String)> {
    if name.is_empty() {
        return Err((
            EXIT_NOT_FOUND,
            "\"\": executable file not found in $PATH".into(),
        ));
    }
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let mut not_executable = false;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        match fs::metadata(&candidate) {
            Ok(m) if m.is_file() => {
                if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
                    return Ok(candidate);
                }
                not_executable = true;
            }
            _ => {}
        }
    }
    if not_executable {
        Err((EXIT_NOT_EXECUTABLE, format!("{name:?}: permission denied")))
    } else {
        Err((
            EXIT_NOT_FOUND,
            format!("{name:?}: executable file not found in $PATH"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::testing::Fake;
    use std::os::unix::fs::PermissionsExt;

    fn exec_like(user: &str) -> (Fake, Result<Prepared, ChildSetupError>) {
        let mut fake = Fake {
            texts: vec![("/etc/group", "staff:x:50:app\n")],
            ..Default::default()
        };
        let args = vec!["/bin/tool".to_string()];
        let launch = Launch {
            args: &args,
            env: vec!["PATH=/bin".into(), "HOME=/root".into()],
            cwd: "/srv",
            user,
            group_add: &[],
        };
        let prepared = prepare(&mut fake, &launch);
        (fake, prepared)
    }

    #[test]
    fn root_stays_root_and_keeps_its_home() {
        let (mut fake, prepared) = exec_like("");
        let prepared = prepared.unwrap();
        assert!(prepared.user.is_none());
        assert!(prepared.env.iter().any(|e| e.to_bytes() == b"HOME=/root"));
        confine(&mut fake, &prepared, &CapSet::from_mask(0), None).unwrap();
        assert_eq!(
            fake.calls,
            [
                "read /etc/passwd",
                "read /etc/group",
                "chdir /srv",
                "cloexec from 3",
                "apply caps 0x0",
                "no_new_privs",
            ]
        );
    }

    #[test]
    fn a_user_gets_its_groups_before_its_uid_and_caps_after() {
        let (mut fake, prepared) = exec_like("1000:1000");
        let mut prepared = prepared.unwrap();
        prepared.user.as_mut().unwrap().groups = vec![50];
        confine(&mut fake, &prepared, &CapSet::from_mask(1), None).unwrap();
        assert_eq!(
            fake.calls[3..],
            [
                "cloexec from 3",
                "setgroups [50]",
                "setresgid 1000",
                "keepcaps true",
                "setresuid 1000",
                "raise effective caps",
                "apply caps 0x1",
                "no_new_privs",
            ]
        );
    }

    #[test]
    fn a_failed_close_range_is_fatal_for_every_process_entering_a_container() {
        let (mut fake, prepared) = exec_like("");
        fake.fail_on = Some("cloexec");
        let err = confine(&mut fake, &prepared.unwrap(), &CapSet::from_mask(0), None).unwrap_err();
        assert!(matches!(err, ChildSetupError::CloseRange(_)), "{err}");
        assert_eq!(err.exit_code(), 125);
        // Nothing is confined (nor executed) after it.
        assert_eq!(fake.calls.last().unwrap(), "FAILED cloexec from 3");
    }

    #[test]
    fn a_missing_working_directory_or_command_is_named() {
        let mut fake = Fake {
            fail_on: Some("chdir"),
            ..Default::default()
        };
        let args: Vec<String> = Vec::new();
        let launch = Launch {
            args: &args,
            env: Vec::new(),
            cwd: "/nowhere",
            user: "",
            group_add: &[],
        };
        let err = prepare(&mut fake, &launch).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot enter the working directory /nowhere: "),
            "{err}"
        );
        fake.fail_on = None;
        let err = prepare(&mut fake, &launch).unwrap_err();
        assert_eq!(err.to_string(), "no command to run");
    }

    #[test]
    fn find_program_searches_the_given_path() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = t.path().join("b");
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(a.join("tool"), "").unwrap();
        fs::set_permissions(a.join("tool"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(b.join("tool"), "").unwrap();
        fs::set_permissions(b.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", a.display(), b.display());
        let find_program = find_in_container_path;
        assert_eq!(find_program("tool", &path).unwrap(), b.join("tool"));
        let only_a = a.display().to_string();
        let err = find_program("tool", &only_a).unwrap_err();
        // Root bypasses the permission check only for files with some x bit.
        assert_eq!(err.0, EXIT_NOT_EXECUTABLE);
        assert_eq!(
            find_program("nosuch", &path).unwrap_err(),
            (
                EXIT_NOT_FOUND,
                "\"nosuch\": executable file not found in $PATH".to_string()
            )
        );
        assert_eq!(find_program("/x/y", "").unwrap(), Path::new("/x/y"));
    }
}
