//! `burrow system check`

use burrow::system::check::{Check, CheckStatus, run_checks};
use clap::{Args, Subcommand};

use burrow::engine::Engine;

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Check that this host can run rootless containers, and verify the store
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Skip re-hashing every stored blob (the slow part on a large store)
    #[arg(long)]
    pub quick: bool,
}

pub fn run(ctx: &Engine, cmd: &SystemCommand) -> anyhow::Result<i32> {
    match cmd {
        SystemCommand::Check(a) => check(ctx, a),
    }
}

fn check(ctx: &Engine, args: &CheckArgs) -> anyhow::Result<i32> {
    let quick = args.quick;
    let store_check = || -> Check {
        let store = match ctx.store() {
            Ok(s) => s,
            Err(e) => {
                return Check {
                    name: "store".into(),
                    status: CheckStatus::Fail,
                    detail: format!("{e:#}"),
                    fix: None,
                };
            }
        };
        if quick {
            return Check {
                name: "store".into(),
                status: CheckStatus::Ok,
                detail: format!(
                    "{} (blob digests not verified: --quick)",
                    ctx.paths.root.display()
                ),
                fix: None,
            };
        }
        match store.verify() {
            Ok(problems) if problems.is_empty() => Check {
                name: "store".into(),
                status: CheckStatus::Ok,
                detail: format!(
                    "{}: every blob matches its digest, every image is complete",
                    ctx.paths.root.display()
                ),
                fix: None,
            },
            Ok(problems) => Check {
                name: "store".into(),
                status: CheckStatus::Fail,
                detail: problems
                    .iter()
                    .map(|p| p.what.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                fix: Some(
                    "remove the damaged images with `burrow rmi -f` and pull them again".into(),
                ),
            },
            Err(e) => Check {
                name: "store".into(),
                status: CheckStatus::Fail,
                detail: e.to_string(),
                fix: None,
            },
        }
    };
    let checks = run_checks(&ctx.paths, ctx.storage_driver.as_deref(), store_check);
    let mut failed = false;
    for c in &checks {
        let tag = match c.status {
            CheckStatus::Ok => "OK  ",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => {
                failed = true;
                "FAIL"
            }
        };
        println!("{tag}  {}: {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            println!("      fix: {fix}");
        }
    }
    Ok(if failed { 1 } else { 0 })
}
