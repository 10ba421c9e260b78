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
        stdout(&out)
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fail<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{}",
            describe("unexpectedly succeeded", args, &out)
        );
        stderr(&out)
    }

    /// Runs a command that prints JSON (`inspect`, `--format json`) and
    /// parses it, so tests compare fields instead of formatting.
    pub fn ok_json<S: AsRef<OsStr>>(&self, args: &[S]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!(
                "burrow {} printed no JSON ({e}):\n{out}",
                describe_args(args)
            )
        })
    }

    /// `burrow image inspect NAME`: the image's object, not the one-element
    /// array around it.
    pub fn inspect_image(&self, name: &str) -> serde_json::Value {
        self.ok_json(&["image", "inspect", name])[0].clone()
    }

    /// `burrow container inspect NAME`: the container's object, not the
    /// one-element array around it.
    pub fn inspect_container(&self, name: &str) -> serde_json::Value {
        self.ok_json(&["container", "inspect", name])[0].clone()
    }

    /// The container's `.State.Status` as `inspect` reports it (created,
    /// running, paused, exited): what `inspect` clients see.
    pub fn inspect_status(&self, name: &str) -> String {
        self.ok(&["inspect", "--format", "{{.State.Status}}", name])
            .trim()
            .to_string()
    }

    /// The container's state as `ps -a` lists it: what a user watching
    /// `ps` sees (a filter on the name, so empty once it is gone).
    pub fn ps_state(&self, name: &str) -> String {
        self.ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.State}}",
        ])
        .trim()
        .to_string()
    }

    /// `burrow GLOBAL run OPTS IMAGE CMD`: the general form, for tests that
    /// vary global options (`--storage-driver`) or keep the container.
    pub fn run_image(&self, global: &[&str], opts: &[&str], image: &str, cmd: &[&str]) -> Output {
        self.run(&run_args(global, opts, image, cmd))
    }

    /// [`Burrow::run_image`], asserting success; returns stdout.
    pub fn run_image_ok(
        &self,
        global: &[&str],
        opts: &[&str],
        image: &str,
        cmd: &[&str],
    ) -> String {
        self.ok(&run_args(global, opts, image, cmd))
    }

    /// `burrow run --rm OPTS IMAGE CMD`: a one-shot container that leaves
    /// nothing behind, so later checks of the store see only their own.
    pub fn run_rm(&self, opts: &[&str], image: &str, cmd: &[&str]) -> Output {
        self.run(&run_args(&[], &[&["--rm"], opts].concat(), image, cmd))
    }

    /// [`Burrow::run_rm`], asserting success; returns stdout.
    pub fn run_rm_ok(&self, opts: &[&str], image: &str, cmd: &[&str]) -> String {
        self.ok(&run_args(&[], &[&["--rm"], opts].concat(), image, cmd))
    }

    /// Names in the store's `sub` directory (`layers`, `tmp`,
    /// `containers`, ...), lock files included; none if it does not exist.
    pub fn store_entries(&self, sub: &str) -> Vec<String> {
        std::fs::read_dir(self.root.path().join(sub))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// [`Burrow::store_entries`] without the `.lock` files, which stay
    /// behind on purpose: what the store still holds.
    pub fn stored(&self, sub: &str) -> Vec<String> {
        self.store_entries(sub)
            .into_iter()
            .filter(|n| !n.ends_with(".lock"))
            .collect()
    }

    /// The container directories in the store (lock files and other
    /// files aside): one per container that exists or left debris.
    pub fn container_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.root.path().join("containers"))
            .map(|d| {
                d.map(|e| e.expect("read the containers directory").path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `GLOBAL run OPTS IMAGE CMD` as one argument list.
fn run_args<'a>(
    global: &[&'a str],
    opts: &[&'a str],
    image: &'a str,
    cmd: &[&'a str],
) -> Vec<&'a str> {
    let mut all = global.to_vec();
    all.push("run");
    all.extend_from_slice(opts);
    all.push(image);
    all.extend_from_slice(cmd);
    all
}

/// A process's standard output as text: burrow's and the containers'
/// output is text, and a stray invalid byte must not hide the rest.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A process's standard error as text, for error-message checks and for
/// failure messages that show why a command failed.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn describe<S: AsRef<OsStr>>(what: &str, args: &[S], out: &Output) -> String {
    format!(
        "burrow {} {what} ({})\n--- stdout\n{}\n--- stderr\n{}",
        describe_args(args),
        out.status,
        stdout(out),
        stderr(out)
    )
}

fn describe_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    let args: Vec<_> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    args.join(" ")
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
