//! `burrow cp`: copy files between the host and a container.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use burrow::runtime::copy::{self, Ids, Landing};
use burrow::runtime::diff::MOUNT_POINTS;
use burrow::runtime::{ContainerRecord, ContainerStore, Status};
use clap::Args;
use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, fork, pipe2};

use super::output::ArchiveOut;
use burrow::engine::Engine;
use burrow::engine::UserNs;

#[derive(Debug, Args)]
#[command(
    override_usage = "burrow cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       burrow cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    after_help = "Paths in the container are resolved in its root, following its symlinks \
                  (they never lead out of it); relative ones start at /. A source ending in \
                  \"/.\" copies a directory's contents; a destination ending in \"/\" must be a \
                  directory. \"-\" reads or writes a tar stream. Files copied in belong to the \
                  container's root (with -a, to the ids they have as seen from the container); \
                  files copied out belong to you (with -a, to the ids the container gave them, \
                  as stored on the host). Works on running and stopped containers."
)]
pub struct CpArgs {
    /// Archive mode: keep the files' user and group ids
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Follow a symbolic link given as the source
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// The source: CONTAINER:PATH, a host path, or - (a tar stream on stdin)
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

/// What one side of the copy does.
enum Role {
    /// Write the tar of this path.
    Produce { path: PathBuf, follow: bool },
    /// Write the tar of the whole root, without what is mounted on these
    /// paths (`export`).
    ProduceRoot { mounted: Vec<PathBuf> },
    /// Copy stdin to the stream as it is.
    StdinRaw,
    /// Extract the stream here.
    Consume {
        dst: PathBuf,
        dst_is_dir: bool,
        contents_only: bool,
        preserve_owners: bool,
        raw: bool,
    },
    /// Copy the stream to stdout as it is.
    StdoutRaw,
    /// Copy the stream to this file as it is (`export -o`).
    FileRaw(PathBuf),
}

fn contents_only(path: &str) -> bool {
    path.ends_with("/.") || path == "."
}

pub fn run(ctx: &Engine, args: &CpArgs) -> anyhow::Result<i32> {
    let (src, dst) = (operand(&args.src), operand(&args.dst));
    let (container, into) = match (&src, &dst) {
        (Operand::Container(c, _), Operand::Container(..)) => {
            anyhow::bail!(
                "copying between containers is not supported: copy from {c} to the host first"
            )
        }
        (Operand::Container(c, _), _) => (c.clone(), false),
        (_, Operand::Container(c, _)) => (c.clone(), true),
        _ => anyhow::bail!(
            "one of {:?} and {:?} must be CONTAINER:PATH; a host path with a colon starts with ./",
            args.src,
            args.dst
        ),
    };
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let record = containers.find(&container)?;
    let userns = ctx.namespace_for(containers.load_spec(&record.id)?.keep_id)?;

    let (host, ctr) = if into {
        let Operand::Container(_, cpath) = &dst else {
            unreachable!("checked above")
        };
        let host = match &src {
            Operand::Stream => Role::StdinRaw,
            Operand::Host(p) => {
                if !Path::new(p).exists() && std::fs::symlink_metadata(p).is_err() {
                    anyhow::bail!("{p}: no such file or directory");
                }
                Role::Produce {
                    path: PathBuf::from(p),
                    follow: args.follow_link,
                }
            }
            Operand::Container(..) => unreachable!("checked above"),
        };
        let ctr = Role::Consume {
            dst: PathBuf::from(cpath),
            dst_is_dir: cpath.ends_with('/'),
            contents_only: matches!(&src, Operand::Host(p) if contents_only(p)),
            preserve_owners: true,
            raw: src == Operand::Stream,
        };
        (host, ctr)
    } else {
        let Operand::Container(_, cpath) = &src else {
            unreachable!("checked above")
        };
        let ctr = Role::Produce {
            path: PathBuf::from(cpath),
            follow: args.follow_link,
        };
        let host = match &dst {
            Operand::Stream => Role::StdoutRaw,
            Operand::Host(p) => Role::Consume {
                dst: PathBuf::from(p),
                dst_is_dir: p.ends_with('/'),
                contents_only: contents_only(cpath),
                preserve_owners: args.archive,
                raw: false,
            },
            Operand::Container(..) => unreachable!("checked above"),
        };
        (host, ctr)
    };
    // Ids written by the host side: root's in the container, or with -a
    // the host ids as the container sees them.
    let map = userns.map.clone();
    let to_container = move |u: u32, g: u32| {
        (
            map.to_container_uid(u).unwrap_or(65534),
            map.to_container_gid(g).unwrap_or(65534),
        )
    };
    let host_ids = if args.archive {
        HostIds::Mapped(Box::new(to_container))
    } else {
        HostIds::Root
    };
    copy_both_ways(ctx, &containers, &record, userns, host, ctr, host_ids, into)
}

enum HostIds {
    Root,
    Mapped(Box<dyn Fn(u32, u32) -> (u32, u32)>),
}

/// Run the host side in a child process and the container side here (or
/// in a user-namespace child for a stopped container), joined by a pipe.
#[allow(clippy::too_many_arguments)]
fn copy_both_ways(
    ctx: &Engine,
    containers: &ContainerStore,
    record: &ContainerRecord,
    userns: UserNs,
    host: Role,
    ctr: Role,
    host_ids: HostIds,
    into: bool,
) -> anyhow::Result<i32> {
    let running = match (record.current_status(), record.pid) {
        (Status::Running | Status::Paused, Some(pid)) => Some(pid),
        _ => None,
    };
    let spec = if running.is_none() {
        let mut spec = containers.load_spec(&record.id)?;
        spec.confine = Default::default();
        Some(spec)
    } else {
        None
    };
    let (r, w) = pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    let (host_end, ctr_end) = if into { (w, r) } else { (r, w) };
    let (herr_r, herr_w) = pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    let (cerr_r, cerr_w) = pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    let host_in_userns = matches!(
        host,
        Role::Consume {
            preserve_owners: true,
            ..
        }
    );
    // SAFETY: single-threaded; the child only copies and exits.
    let host_pid = match unsafe { fork() }.context("forking")? {
        ForkResult::Child => {
            drop(ctr_end);
            drop((herr_r, cerr_r, cerr_w));
            let ids = match &host_ids {
                HostIds::Root => Ids::Fixed(0, 0),
                HostIds::Mapped(f) => Ids::Mapped(f.as_ref()),
            };
            let work = move || match side(host, host_end, ids) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = File::from(herr_w).write_all(e.as_bytes());
                    super::EXIT_ENGINE
                }
            };
            let code = if host_in_userns {
                ctx.in_namespace(&userns, None, |_| work())
                    .unwrap_or(super::EXIT_ENGINE)
            } else {
                work()
            };
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(host_end);
    drop(herr_w);
    let ctr_err = match (running, spec) {
        // This process joins the container for good: it only waits and
        // reports afterwards.
        (Some(pid1), _) => {
            drop(cerr_w);
            copy::enter_running(pid1)
                .map_err(|e| e.to_string())
                .and_then(|()| side(ctr, ctr_end, Ids::AsSeen))
                .err()
        }
        (None, Some(spec)) => {
            let code = ctx.in_namespace(&userns, None, move |_| {
                let result = copy::enter_stopped(&spec)
                    .map_err(|e| e.to_string())
                    .and_then(|()| side(ctr, ctr_end, Ids::AsSeen));
                match result {
                    Ok(()) => 0,
                    Err(e) => {
                        let _ = File::from(cerr_w).write_all(e.as_bytes());
                        super::EXIT_ENGINE
                    }
                }
            })?;
            // The child's message, if it failed.
            let mut msg = String::new();
            let _ = File::from(cerr_r).read_to_string(&mut msg);
            (code != 0).then(|| {
                if msg.is_empty() {
                    format!("the copy in the container failed (exit {code})")
                } else {
                    msg
                }
            })
        }
        (None, None) => unreachable!("a spec is loaded for stopped containers"),
    };
    let host_code = wait_child(host_pid);
    let mut herr = String::new();
    let _ = File::from(herr_r).read_to_string(&mut herr);
    let herr = (host_code != 0).then(|| {
        if herr.is_empty() {
            format!("the copy on the host failed (exit {host_code})")
        } else {
            herr
        }
    });
    // The producer's error explains the consumer's (a cut stream).
    let ctr_err = ctr_err.map(|e| format!("in container {}: {e}", record.name));
    let (first, second) = if into {
        (herr, ctr_err)
    } else {
        (ctr_err, herr)
    };
    // A producer that met a closed pipe only says the consumer gave up
    // first; the consumer says why.
    let (first, second) = match first {
        Some(f) if f.contains("Broken pipe") && second.is_some() => (second, Some(f)),
        f => (f, second),
    };
    match first.or(second) {
        Some(msg) => {
            eprintln!("Error: {msg}");
            Ok(super::EXIT_ENGINE)
        }
        None => Ok(0),
    }
}

/// One side of the copy, on the stream `fd`; a producer records `ids`.
fn side(role: Role, fd: OwnedFd, ids: Ids<'_>) -> Result<(), String> {
    let stream = File::from(fd);
    match role {
        Role::Produce { path, follow } => {
            copy::write_tar(&path, follow, ids, std::io::BufWriter::new(stream))
                .map_err(|e| e.to_string())
        }
        Role::Consume {
            dst,
            dst_is_dir,
            contents_only,
            preserve_owners,
            raw,
        } => copy::read_tar(
            std::io::BufReader::new(stream),
            &Landing {
                dst: &dst,
                dst_is_dir,
                contents_only,
                preserve_owners,
                raw,
            },
        )
        .map_err(|e| e.to_string()),
        Role::StdinRaw => {
            let mut out = stream;
            std::io::copy(&mut std::io::stdin().lock(), &mut out)
                .map(|_| ())
                .map_err(|e| format!("reading the tar stream from stdin: {e}"))
        }
        Role::StdoutRaw => {
            let mut input = stream;
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut input, &mut out)
                .and_then(|_| out.flush())
                .map_err(|e| format!("writing the tar stream to stdout: {e}"))
        }
        Role::ProduceRoot { mounted } => {
            copy::write_root_tar(&mounted, std::io::BufWriter::new(stream))
                .map_err(|e| e.to_string())
        }
        Role::FileRaw(path) => {
            let mut input = stream;
            let result = ArchiveOut::open(Some(&path), "export").and_then(|mut out| {
                std::io::copy(&mut input, &mut out)?;
                out.finish()
            });
            result.map_err(|e| format!("{e:#}"))
        }
    }
}

/// `export`: the container's whole root filesystem as a tar, to `output`
/// or standard output; burrow's mount points (/proc, /sys, /dev, /etc/hosts,
/// ...) and the container's volumes and tmpfs mounts without their content.
pub fn export(ctx: &Engine, container: &str, output: Option<&Path>) -> anyhow::Result<i32> {
    super::output::refuse_terminal(output, "export")?;
    let store = ctx.store()?;
    let containers = ContainerStore::open(store.root())?;
    let record = containers.find(container)?;
    let userns = ctx.namespace_for(containers.load_spec(&record.id)?.keep_id)?;
    let spec = containers.load_spec(&record.id)?;
    let mounted = MOUNT_POINTS
        .iter()
        .map(PathBuf::from)
        .chain(spec.mounts.iter().map(|m| PathBuf::from(&m.destination)))
        .collect();
    let host = match output {
        Some(p) => Role::FileRaw(p.to_path_buf()),
        None => Role::StdoutRaw,
    };
    let ctr = Role::ProduceRoot { mounted };
    copy_both_ways(
        ctx,
        &containers,
        &record,
        userns,
        host,
        ctr,
        HostIds::Root,
        false,
    )
}

fn wait_child(pid: nix::unistd::Pid) -> i32 {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return c,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return super::EXIT_ENGINE,
        }
    }
}
