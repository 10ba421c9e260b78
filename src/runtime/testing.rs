//! A recording fake of [`Sys`] for unit tests: every call is logged as a
//! line ("mount SRC TARGET FSTYPE FLAGS DATA", "setresuid 1000", ...), and
//! a call whose line contains `fail_on` fails with EPERM.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use super::rootfs::Driver;
use super::spec::ContainerSpec;
use super::sys::Sys;
use crate::confine::{CapSet, ConfineError, Filter};

/// Records every call; paths resolve by plain joining.
#[derive(Default)]
pub struct Fake {
    pub calls: Vec<String>,
    pub dirs: Vec<&'static str>,
    pub files: Vec<&'static str>,
    pub fail_on: Option<&'static str>,
    /// Text of files read through the fake (account files).
    pub texts: Vec<(&'static str, &'static str)>,
    /// When set, every call is also written here, where other fakes (the
    /// steps that talk to the monitor) write theirs, in one order.
    pub journal: Option<Journal>,
}

/// A log shared between fakes.
pub type Journal = std::rc::Rc<std::cell::RefCell<Vec<String>>>;

impl Fake {
    pub fn log(&mut self, s: String) -> io::Result<()> {
        let failed = self.fail_on.is_some_and(|f| s.contains(f));
        let line = if failed { format!("FAILED {s}") } else { s };
        if let Some(j) = &self.journal {
            j.borrow_mut().push(line.clone());
        }
        self.calls.push(line);
        if failed {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }
}

fn flag_names(flags: MsFlags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
    if names.is_empty() {
        "(empty)".into()
    } else {
        names.join("|")
    }
}

impl Sys for Fake {
    fn mount(
        &mut self,
        src: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.log(format!(
            "mount {} {} {} {} {}",
            src.unwrap_or("-"),
            target.display(),
            fstype.unwrap_or("-"),
            flag_names(flags),
            data.unwrap_or("-")
        ))
    }
    fn mount_flags(&mut self, _path: &Path) -> io::Result<MsFlags> {
        Ok(MsFlags::MS_NOSUID)
    }
    fn resolve_in_root(&mut self, root: &Path, path: &str) -> io::Result<PathBuf> {
        Ok(root.join(path.trim_start_matches('/')))
    }
    fn ensure_dir(&mut self, path: &Path) -> io::Result<()> {
        self.log(format!("mkdir {}", path.display()))
    }
    fn ensure_file(&mut self, path: &Path) -> io::Result<()> {
        self.log(format!("touch {}", path.display()))
    }
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        self.log(format!("symlink {target} {}", link.display()))
    }
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        self.log(format!("pivot_root {}", new_root.display()))
    }
    fn is_dir(&mut self, path: &Path) -> io::Result<Option<bool>> {
        let p = path.to_str().unwrap_or("");
        Ok(if self.dirs.contains(&p) {
            Some(true)
        } else if self.files.contains(&p) {
            Some(false)
        } else {
            None
        })
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        self.log(format!("sethostname {name}"))
    }
    fn chdir(&mut self, dir: &Path) -> io::Result<()> {
        self.log(format!("chdir {}", dir.display()))
    }
    fn copy_up(&mut self, from: &Path, data: &Path) -> io::Result<()> {
        self.log(format!("copy-up {} {}", from.display(), data.display()))
    }
    fn chown_tree(&mut self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        self.log(format!("chown-tree {} {uid}:{gid}", path.display()))
    }
    fn read_link(&mut self, path: &Path) -> io::Result<PathBuf> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no link {}", path.display()),
        ))
    }
    fn loopback_up(&mut self) -> io::Result<()> {
        self.log("lo up".into())
    }

    fn set_parent_death_signal(&mut self, signal: Signal) -> io::Result<()> {
        self.log(format!("pdeathsig {signal}"))
    }
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        let names: Vec<&str> = flags.iter_names().map(|(n, _)| n).collect();
        self.log(format!("unshare {}", names.join("|")))
    }
    fn setns(&mut self, _ns: BorrowedFd<'_>, nstype: CloneFlags) -> io::Result<()> {
        let names: Vec<&str> = nstype.iter_names().map(|(n, _)| n).collect();
        self.log(format!("setns {}", names.join("|")))
    }
    fn read_file(
        &mut self,
        path: &Path,
    ) -> Result<Option<String>, crate::runtime::sys::FileReadError> {
        self.log(format!("read {}", path.display()))?;
        Ok(self
            .texts
            .iter()
            .find(|(p, _)| Path::new(p) == path)
            .map(|(_, t)| t.to_string()))
    }
    fn close_on_exec_from(&mut self, first: u32) -> io::Result<()> {
        self.log(format!("cloexec from {first}"))
    }
    fn setgroups(&mut self, gids: &[u32]) -> io::Result<()> {
        self.log(format!("setgroups {gids:?}"))
    }
    fn setresgid(&mut self, gid: u32) -> io::Result<()> {
        self.log(format!("setresgid {gid}"))
    }
    fn setresuid(&mut self, uid: u32) -> io::Result<()> {
        self.log(format!("setresuid {uid}"))
    }
    fn set_keep_caps(&mut self, keep: bool) -> io::Result<()> {
        self.log(format!("keepcaps {keep}"))
    }
    fn setrlimit(
        &mut self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()> {
        self.log(format!("setrlimit {resource} {soft} {hard}"))
    }
    fn raise_effective_caps(&mut self) -> io::Result<()> {
        self.log("raise effective caps".into())
    }
    fn apply_caps(&mut self, caps: &CapSet) -> Result<(), ConfineError> {
        self.log(format!("apply caps {:#x}", caps.mask()))
            .map_err(|e| ConfineError::ApplyCapabilities {
                action: "drop bounding",
                reason: e.to_string(),
            })
    }
    fn set_no_new_privs(&mut self) -> Result<(), ConfineError> {
        self.log("no_new_privs".into())
            .map_err(ConfineError::NoNewPrivs)
    }
    fn install_seccomp(&mut self, _filter: &Filter) -> Result<(), ConfineError> {
        self.log("seccomp".into())
            .map_err(|e| ConfineError::Install(e.to_string()))
    }
    fn reset_signal_dispositions(&mut self) {
        let _ = self.log("reset signal dispositions".into());
    }
    fn execve(&mut self, program: &CStr, args: &[CString], _env: &[CString]) -> nix::Error {
        let _ = self.log(format!(
            "execve {} {:?}",
            program.to_string_lossy(),
            args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>()
        ));
        nix::Error::ENOENT
    }
}

/// A small container: two layers, overlay, no network, `sh` in /work.
pub fn spec() -> ContainerSpec {
    let process = crate::runtime::spec::ProcessSpec {
        args: vec!["sh".into()],
        env: vec![],
        cwd: "/work".into(),
        hostname: "box".into(),
    };
    let lowers = vec!["/l/top".into(), "/l/bottom".into()];
    ContainerSpec::builder("abc", "/c".into(), lowers, process)
        .root(Driver::Overlay, None, (65537, 65537))
        .build()
        .expect("a valid spec")
}
