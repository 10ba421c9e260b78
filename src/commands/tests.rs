//! The command line as a whole: its definition, completions and man pages.
use super::*;
use clap::CommandFactory;

#[test]
fn cli_is_consistent() {
    Cli::command().debug_assert();
    command().debug_assert();
}

/// Go's flag parsers let the last of a repeated option win; scripts
/// rely on it (a default, then the caller's).
#[test]
fn a_repeated_option_takes_the_last_value() {
    let parse = |args: &[&str]| parse_from(args.to_vec()).unwrap();
    let cli = parse(&[
        "burrow",
        "run",
        "--name",
        "a",
        "--name",
        "b",
        "-e",
        "A=1",
        "-e",
        "B=2",
        "--pull",
        "never",
        "--pull=missing",
        "img",
    ]);
    let Command::Containers(container::ContainerCommand::Run(r)) = cli.command else {
        panic!("not run")
    };
    assert_eq!(r.c.name.as_deref(), Some("b"));
    assert_eq!(r.c.env, ["A=1", "B=2"]);
    assert_eq!(r.c.pull, "missing");
    let cli = parse(&["burrow", "ps", "--format", "x", "--format", "{{.ID}}"]);
    let Command::Ps(p) = cli.command else {
        panic!("not ps")
    };
    assert_eq!(p.format.as_deref(), Some("{{.ID}}"));
}

#[test]
fn completions_cover_every_command() {
    let mut out = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::Bash,
        &mut Cli::command(),
        "burrow",
        &mut out,
    );
    let script = String::from_utf8(out).unwrap();
    for cmd in [
        "pull",
        "images",
        "rmi",
        "tag",
        "inspect",
        "unshare",
        "image__subcmd__prune",
        "system__subcmd__check",
    ] {
        assert!(script.contains(cmd), "bash completion lacks {cmd}");
    }
}

/// man/ must match --help. Regenerate with
/// `BURROW_UPDATE_MAN=1 cargo test --bin burrow man_pages`.
#[test]
fn man_pages_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = completion::man_pages().unwrap();
    let update = std::env::var_os("BURROW_UPDATE_MAN").is_some();
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
            stale.push(name.clone());
        }
    }
    if !update {
        let on_disk: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for f in on_disk {
            if f.ends_with(".1") && !pages.iter().any(|(n, _)| *n == f) {
                stale.push(format!("{f} (no such command)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run BURROW_UPDATE_MAN=1 cargo test --bin burrow man_pages"
    );
}
