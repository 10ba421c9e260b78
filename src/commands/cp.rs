//! `burrow cp`: copy files between the host and a container.

use std::io::Write;
use std::path::{Path, PathBuf};

use burrow::engine::{CopyFrom, CopyTo, Engine};
use burrow::runtime::ContainerStore;
use clap::Args;

use super::output::ArchiveOut;

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       burrow cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH\n       burrow cp [OPTIONS] CONTAINER:SRC_PATH CONTAINER:DEST_PATH",
    after_help = "Paths in the container are resolved in its root, following its symlinks \
                  (they never lead out of it); relative ones start at /. A source ending in \
                  \"/.\" copies a directory's contents; a destination ending in \"/\" must be a \
                  directory. \"-\" reads or writes a tar stream; one read may be compressed \
                  with gzip, bzip2, xz or zstd. Files copied in belong to the container's \
                  root (with -a, to the ids they have as seen from the container; between \
                  containers, to the ids the source container gave them); files copied out \
                  belong to you (with -a, to the ids the container gave them, as stored on \
                  the host). Works on running and stopped containers."
)]
pub struct CpArgs {
    /// Archive mode: keep the files' user and group ids
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Follow a symbolic link given as the source
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// The source: CONTAINER:PATH, a host path, or - (a tar stream on stdin, plain or compressed)
    #[arg(value_name = "SRC")]
    pub src: String,
    /// The destination: CONTAINER:PATH, a host path, or - (a tar stream on stdout)
    #[arg(value_name = "DEST")]
    pub dst: String,
}

/// A `cp` operand.
#[derive(Debug, PartialEq, Eq)]
enum Operand {
    Stream,
    Host(String),
    Container(String, String),
}

/// Docker's rule: a path starting with "/" or "." is the host's; otherwise
/// "NAME:PATH" names a container (a host path with a colon: "./a:b").
fn operand(s: &str) -> Operand {
    if s == "-" {
        return Operand::Stream;
    }
    if s.starts_with('/') || s.starts_with('.') {
        return Operand::Host(s.to_string());
    }
    match s.split_once(':') {
        Some((c, p)) if !c.is_empty() => {
            let p = if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            };
            Operand::Container(c.to_string(), p)
        }
        _ => Operand::Host(s.to_string()),
    }
}

pub fn run(ctx: &Engine, args: &CpArgs) -> anyhow::Result<i32> {
    let (src, dst) = (operand(&args.src), operand(&args.dst));
    let container = match (&src, &dst) {
        (Operand::Container(from, src_path), Operand::Container(to, dst_path)) => {
            let containers = ContainerStore::open(ctx.store()?.root())?;
            let (from, to) = (containers.find(from)?, containers.find(to)?);
            ctx.copy_between(
                &containers,
                &from,
                Path::new(src_path),
                args.follow_link,
                &to,
                Path::new(dst_path),
                args.archive,
            )?;
            return Ok(0);
        }
        (Operand::Container(c, _), _) | (_, Operand::Container(c, _)) => c,
        _ => anyhow::bail!(
            "one of {:?} and {:?} must be CONTAINER:PATH; a host path with a colon starts with ./",
            args.src,
            args.dst
        ),
    };
    let containers = ContainerStore::open(ctx.store()?.root())?;
    let record = containers.find(container)?;
    match (src, dst) {
        (Operand::Container(_, path), to) => {
            let to = match to {
                Operand::Stream => CopyTo::Tar(Box::new(|tar| {
                    let mut out = std::io::stdout().lock();
                    std::io::copy(tar, &mut out)
                        .and_then(|_| out.flush())
                        .map_err(|e| in_context("writing the tar stream to stdout", e))
                })),
                Operand::Host(p) => CopyTo::Path(PathBuf::from(p)),
                Operand::Container(..) => unreachable!("checked above"),
            };
            let path = PathBuf::from(path);
            ctx.copy_out_of(
                &containers,
                &record,
                &path,
                args.follow_link,
                to,
                args.archive,
            )?;
        }
        (from, Operand::Container(_, path)) => {
            let from = match from {
                Operand::Stream => CopyFrom::Tar(Box::new(|tar| {
                    std::io::copy(&mut std::io::stdin().lock(), tar)
                        .map(drop)
                        .map_err(|e| in_context("reading the tar stream from stdin", e))
                })),
                Operand::Host(p) => CopyFrom::Path {
                    path: PathBuf::from(p),
                    follow: args.follow_link,
                },
                Operand::Container(..) => unreachable!("checked above"),
            };
            ctx.copy_into(&containers, &record, from, Path::new(&path), args.archive)?;
        }
        _ => unreachable!("checked above"),
    }
    Ok(0)
}

fn in_context(what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// `export`: the container's whole root filesystem as a tar, to `output`
/// or standard output.
pub fn export(ctx: &Engine, container: &str, output: Option<&Path>) -> anyhow::Result<i32> {
    super::output::refuse_terminal(output, "export")?;
    let containers = ContainerStore::open(ctx.store()?.root())?;
    let record = containers.find(container)?;
    let output = output.map(Path::to_path_buf);
    ctx.export(
        &containers,
        &record,
        Box::new(move |tar| {
            let result = ArchiveOut::open(output.as_deref(), "export").and_then(|mut out| {
                std::io::copy(tar, &mut out)?;
                out.finish()
            });
            result.map_err(|e| std::io::Error::other(format!("{e:#}")))
        }),
    )?;
    Ok(0)
}
