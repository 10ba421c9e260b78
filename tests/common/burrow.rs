//! Runs the `burrow` binary under test against private, throwaway stores.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

pub const BURROW_BIN: &str = env!("CARGO_BIN_EXE_burrow");

pub struct Burrow {
    pub root: TempDir,
    pub runroot: TempDir,
    /// Config dir, HOME, auth file and registries.conf live here.
    pub config: TempDir,
}

impl Default for Burrow {
    fn default() -> Self {
        Burrow::new()
    }
}

impl Burrow {
    pub fn new() -> Burrow {
        let mk = |p: &str| {
            tempfile::Builder::new()
                .prefix(p)
                .tempdir()
                .expect("burrow tempdir")
        };
        let b = Burrow {
            root: mk("broot-"),
            runroot: mk("brun-"),
            config: mk("bcfg-"),
        };
        std::fs::create_dir(b.home()).expect("home dir");
        b.set_registries_conf("unqualified-search-registries = []\n");
        b
    }

    pub fn home(&self) -> PathBuf {
        self.config.path().join("home")
    }

    /// `$BURROW_CONFIG_DIR`.
    pub fn config_dir(&self) -> PathBuf {
        self.config.path().join("burrow")
    }

    /// `$REGISTRY_AUTH_FILE` (not created until someone writes it).
    pub fn auth_file(&self) -> PathBuf {
        self.config.path().join("auth.json")
    }

    /// `$CONTAINERS_REGISTRIES_CONF`.
    pub fn registries_conf(&self) -> PathBuf {
        self.config.path().join("registries.conf")
    }

    pub fn set_registries_conf(&self, contents: &str) {
        std::fs::write(self.registries_conf(), contents).expect("write registries.conf");
    }

    /// A `burrow ARGS` command with this instance's stores and an isolated
    /// HOME, stdin closed.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut c = Command::new(BURROW_BIN);
        c.args(args)
            .env("BURROW_ROOT", self.root.path())
            .env("BURROW_RUNROOT", self.runroot.path())
            .env("BURROW_CONFIG_DIR", self.config_dir())
            .env("REGISTRY_AUTH_FILE", self.auth_file())
            .env("CONTAINERS_REGISTRIES_CONF", self.registries_conf())
            .env("HOME", self.home())
            .env("DOCKER_CONFIG", self.home().join(".docker"))
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::null());
        c
    }

    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd(args).output().expect("spawn burrow")
    }

    /// Runs with `input` on standard input (then closed).
    pub fn run_with_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn burrow");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("write burrow's stdin");
        child.wait_with_output().expect("wait for burrow")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{}", describe("failed", args, &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fail<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{}",
            describe("unexpectedly succeeded", args, &out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn describe<S: AsRef<OsStr>>(what: &str, args: &[S], out: &Output) -> String {
    let args: Vec<_> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    format!(
        "burrow {} {what} ({})\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Makes every directory we own under `p` writable so `remove_dir_all`
/// can empty it (layers legitimately contain 0555 directories).
fn make_removable(p: &Path) {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return;
    };
    if !md.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            make_removable(&e.path());
        }
    }
}

impl Drop for Burrow {
    fn drop(&mut self) {
        // A test that failed half-way leaves running containers: their
        // monitors (and network helpers) go first.
        let _ = self
            .cmd(&["rm", "-f", "--all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Files owned by sub-UIDs can only be removed from inside the user
        // namespace; whatever is left is ours.
        let root = self.root.path().to_path_buf();
        let runroot = self.runroot.path().to_path_buf();
        let _ = self
            .cmd(&[
                OsStr::new("unshare"),
                OsStr::new("rm"),
                OsStr::new("-rf"),
                root.as_os_str(),
                runroot.as_os_str(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for p in [&root, &runroot] {
            make_removable(p);
            let _ = std::fs::remove_dir_all(p);
        }
    }
}
