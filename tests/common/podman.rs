//! Podman beside burrow (interop tests): a private store (vfs), runtime
//! directory and config, as the test user.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Podman with a private store (vfs) and runtime directory, as this user.
pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("podman-")
            .tempdir()
            .unwrap();
        for d in ["xdg", "home"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(
            dir.path().join("containers.conf"),
            "[engine]\nruntime=\"runc\"\nevents_logger=\"file\"\ncgroup_manager=\"cgroupfs\"\n",
        )
        .unwrap();
        Podman { dir }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(super::require_tool("podman"));
        c.arg("--root")
            .arg(self.path("root"))
            .arg("--runroot")
            .arg(self.path("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("CONTAINERS_CONF", self.path("containers.conf"))
            .env("XDG_RUNTIME_DIR", self.path("xdg"))
            .env("HOME", self.path("home"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("spawn podman")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["rm", "-af"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let root = self.path("root");
        let _ = self
            .cmd(&["unshare", "rm", "-rf", root.to_str().unwrap_or_default()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The pause process Podman leaves to keep its user namespace.
        if let Ok(pid) = std::fs::read_to_string(self.path("xdg/libpod/tmp/pause.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
