//! `burrow unshare`: a shell (or command) inside the user namespace, where
//! files of the store owned by container ids can be read, changed or removed.

use clap::Args;

use burrow::engine::Engine;

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub struct UnshareArgs {
    /// Command to run [default: $SHELL]
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Engine, args: &UnshareArgs) -> anyhow::Result<i32> {
    ctx.paths.ensure()?;
    let ns = ctx.user_namespace()?;
    let env = [(
        "BURROW_ROOT".to_string(),
        ctx.paths.root.display().to_string(),
    )];
    let code = burrow::userns::unshare_command(&ns.map, &args.command, &env)?;
    Ok(code)
}
