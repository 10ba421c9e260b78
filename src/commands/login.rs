//! `burrow login` and `burrow logout`: credentials in the auth.json Podman
//! and skopeo share.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use burrow::config::auth::{self, AuthStore, Credentials};
use burrow::config::registries::RegistriesConf;
use burrow::registry::{Client, ClientOptions, RegistryError};
use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry to log in to: HOST[:PORT], or HOST[:PORT]/NAMESPACE for credentials
    /// of part of it
    pub registry: String,
    /// User name [default: asked on the terminal]
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin)
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
    /// Auth file to write [default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Require HTTPS and verify certificates (false also allows plain HTTP)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Print the user name stored for the registry instead of logging in
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    pub get_login: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry to forget the credentials of: HOST[:PORT][/NAMESPACE]
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub registry: Option<String>,
    /// Remove the credentials of every registry
    #[arg(short, long)]
    pub all: bool,
    /// Auth file to change [default: $REGISTRY_AUTH_FILE, else
    /// $XDG_RUNTIME_DIR/containers/auth.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

pub fn login(ctx: &Engine, args: &LoginArgs) -> anyhow::Result<i32> {
    let key = auth::registry_key(&args.registry);
    let (host, path) = key.split_once('/').unwrap_or((&key, ""));
    if args.get_login {
        let store = match &args.authfile {
            Some(f) => AuthStore::from_file(f)?,
            None => AuthStore::load_default()?,
        };
        let creds = store
            .credentials_for(host, path)
            .with_context(|| format!("not logged into {key}"))?;
        println!("{}", creds.username);
        return Ok(0);
    }
    let file = auth_file(args.authfile.as_ref())?;
    let interactive = std::io::stdin().is_terminal();
    let username = match &args.username {
        Some(u) => u.clone(),
        None if args.password_stdin => {
            bail!("--password-stdin needs the user name: pass -u USERNAME")
        }
        None if interactive => prompt("Username: ", true)?,
        None => {
            bail!("no user name for {key}: pass -u USERNAME (standard input is not a terminal)")
        }
    };
    if username.is_empty() {
        bail!("the user name for {key} is empty");
    }
    let password = if let Some(p) = &args.password {
        p.clone()
    } else if args.password_stdin {
        let mut p = String::new();
        std::io::stdin()
            .read_to_string(&mut p)
            .context("reading the password from standard input")?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if interactive {
        prompt("Password: ", false)?
    } else {
        bail!(
            "no password for {key}: pass --password-stdin (or -p PASSWORD); standard input is not a terminal"
        )
    };
    if password.is_empty() {
        bail!("the password for {key} is empty");
    }
    let creds = Credentials::new(&username, &password);
    let client = Client::new(ClientOptions {
        tls_verify: args.tls_verify,
        credentials: Some(creds.clone()),
        auth: AuthStore::default(),
        registries: RegistriesConf::load_default()?,
        timeout: Some(ctx.config.registry.timeout()),
    })?;
    match client.check_login(host) {
        Ok(()) => {}
        Err(RegistryError::InvalidCredentials { .. }) => {
            bail!("logging in to {key}: invalid username or password")
        }
        Err(e) => return Err(e).with_context(|| format!("logging in to {key}")),
    }
    AuthStore::store(&file, &key, &creds)?;
    println!("Login Succeeded!");
    Ok(0)
}

pub fn logout(_ctx: &Engine, args: &LogoutArgs) -> anyhow::Result<i32> {
    let file = auth_file(args.authfile.as_ref())?;
    let Some(registry) = &args.registry else {
        AuthStore::remove_all(&file)?;
        println!("Removed login credentials for all registries");
        return Ok(0);
    };
    let key = auth::registry_key(registry);
    if !AuthStore::remove(&file, &key)? {
        bail!(
            "not logged into {key}: {} has no entry for it",
            file.display()
        );
    }
    println!("Removed login credentials for {key}");
    Ok(0)
}

/// The file login and logout change: `--authfile`, else where Podman writes.
fn auth_file(flag: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    flag.cloned()
        .or_else(AuthStore::default_write_path)
        .context("no place for the auth file: set REGISTRY_AUTH_FILE or XDG_RUNTIME_DIR, or pass --authfile")
}

/// Ask on the terminal; without echo for secrets.
fn prompt(label: &str, echo: bool) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    let saved = if echo {
        None
    } else {
        let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning off the echo")?;
        Some(saved)
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
        eprintln!();
    }
    if read.context("reading the terminal")? == 0 {
        bail!("no answer on the terminal");
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
