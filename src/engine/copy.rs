//! Copies between the host and a container (`cp`, `export`): a tar stream
//! between two processes, one on each side (see crate::runtime::copy).
//! The host side runs in a child of its own (in the user namespace when it
//! must set container ids); the container side in another, which joins the
//! running container or mounts a stopped one's root privately. The
//! calling process stays where it is.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, Pid, fork, pipe2};

use super::error::{EXIT_ENGINE, EngineError};
use super::{Engine, UserNs};
use crate::runtime::copy::{self, Ids, Landing};
use crate::runtime::diff::MOUNT_POINTS;
use crate::runtime::{ContainerRecord, ContainerSpec, ContainerStore, Status};
use crate::storage::compression;

/// Writes a tar stream, plain or compressed with gzip, bzip2, xz or zstd
/// (what `cp - CONTAINER:PATH` reads); its error says what failed.
pub type TarSource = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()>>;
/// Takes a raw tar stream (what `cp CONTAINER:PATH -` or `export` write).
pub type TarSink = Box<dyn FnOnce(&mut dyn Read) -> io::Result<()>>;

/// What goes into a container.
pub enum CopyFrom {
    /// A host file, directory or symlink (`follow`: the symlink's target);
    /// a path ending in "/." copies a directory's contents.
    Path { path: PathBuf, follow: bool },
    /// A tar stream (plain, gzip, bzip2, xz or zstd, told by its first
    /// bytes), extracted in the destination directory as it is.
    Tar(TarSource),
}

/// Where what comes out of a container goes.
pub enum CopyTo {
    /// A host path; one ending in "/" must be a directory.
    Path(PathBuf),
    /// A tar stream of the source.
    Tar(TarSink),
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{}: no such file or directory", .0.display())]
    NoSource(PathBuf),
    /// The side in the container failed, as it reported it.
    #[error("in container {container}: {message}")]
    InContainer { container: String, message: String },
    /// The side on the host failed, as it reported it.
    #[error("{message}")]
    OnHost { message: String },
    /// Between containers: the copy out of the source failed, as it
    /// reported it.
    #[error("{message}")]
    Source { message: String },
}

/// What one side of the copy does.
enum Role {
    /// Write the tar of this path.
    Produce { path: PathBuf, follow: bool },
    /// Write the tar of the whole root, without what is mounted on these
    /// paths (`export`).
    ProduceRoot { mounted: Vec<PathBuf> },
    /// Write a raw stream.
    Source(TarSource),
    /// Extract the stream here.
    Consume {
        dst: PathBuf,
        dst_is_dir: bool,
        contents_only: bool,
        preserve_owners: bool,
        raw: bool,
    },
    /// Take the stream as it is.
    Sink(TarSink),
}

/// Whose ids the host side records.
enum HostIds {
    Root,
    Mapped(Box<dyn Fn(u32, u32) -> (u32, u32)>),
}

fn ends_with(path: &Path, tail: &[u8]) -> bool {
    path.as_os_str().as_bytes().ends_with(tail)
}

/// A source ending in "/." copies a directory's contents.
fn contents_only(path: &Path) -> bool {
    ends_with(path, b"/.") || path.as_os_str() == "."
}

impl Engine {
    /// Copy `from` to `path` in container `record` (relative paths start
    /// at /; one ending in "/" must be a directory). The files belong to
    /// the container's root, or with `archive` to the ids they have as
    /// seen from the container.
    pub fn copy_into(
        &self,
        containers: &ContainerStore,
        record: &ContainerRecord,
        from: CopyFrom,
        path: &Path,
        archive: bool,
    ) -> Result<(), EngineError> {
        let userns = self.namespace_for(containers.load_spec(&record.id)?.keep_id)?;
        let (host, raw, contents) = match from {
            CopyFrom::Tar(source) => (Role::Source(source), true, false),
            CopyFrom::Path { path, follow } => {
                if !path.exists() && std::fs::symlink_metadata(&path).is_err() {
                    return Err(CopyError::NoSource(path).into());
                }
                let contents = contents_only(&path);
                (Role::Produce { path, follow }, false, contents)
            }
        };
        let ctr = Role::Consume {
            dst: path.to_path_buf(),
            dst_is_dir: ends_with(path, b"/"),
            contents_only: contents,
            preserve_owners: true,
            raw,
        };
        // Ids written by the host side: root's in the container, or with
        // -a the host ids as the container sees them.
        let host_ids = if archive {
            let map = userns.map.clone();
            HostIds::Mapped(Box::new(move |u, g| {
                (
                    map.to_container_uid(u).unwrap_or(65534),
                    map.to_container_gid(g).unwrap_or(65534),
                )
            }))
        } else {
            HostIds::Root
        };
        self.copy_both_ways(containers, record, userns, host, ctr, host_ids, true)
    }

    /// Copy `path` in container `record` (`follow`: the symlink's target)
    /// to `to`. The files belong to the user, or with `archive` to the ids
    /// the container gave them, as stored on the host.
    pub fn copy_out_of(
        &self,
        containers: &ContainerStore,
        record: &ContainerRecord,
        path: &Path,
        follow: bool,
        to: CopyTo,
        archive: bool,
    ) -> Result<(), EngineError> {
        let userns = self.namespace_for(containers.load_spec(&record.id)?.keep_id)?;
        let ctr = Role::Produce {
            path: path.to_path_buf(),
            follow,
        };
        let host = match to {
            CopyTo::Tar(sink) => Role::Sink(sink),
            CopyTo::Path(dst) => Role::Consume {
                dst_is_dir: ends_with(&dst, b"/"),
                dst,
                contents_only: contents_only(path),
                preserve_owners: archive,
                raw: false,
            },
        };
        self.copy_both_ways(containers, record, userns, host, ctr, HostIds::Root, false)
    }

    /// Copy `src` in container `from` (`follow`: the symlink's target) to
    /// `dst` in container `to`, landing by the same rules as a copy from
    /// the host. The files belong to `to`'s root, or with `archive` keep
    /// the ids `from` gave them. Either container may be running or not.
    #[allow(clippy::too_many_arguments)]
    pub fn copy_between(
        &self,
        containers: &ContainerStore,
        from: &ContainerRecord,
        src: &Path,
        follow: bool,
        to: &ContainerRecord,
        dst: &Path,
        archive: bool,
    ) -> Result<(), EngineError> {
        let userns = self.namespace_for(containers.load_spec(&to.id)?.keep_id)?;
        let (r, w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        // The copy out of `from` runs beside the copy into `to`, joined by
        // the pipe. SAFETY: single-threaded (the engine's rule); the child
        // only copies and exits.
        let out_pid = match unsafe { fork() }.map_err(|e| EngineError::io("forking", e.into()))? {
            ForkResult::Child => {
                drop((r, err_r));
                let sink: TarSink = Box::new(move |tar| {
                    let mut out = File::from(w);
                    io::copy(tar, &mut out).map(drop)
                });
                let result = self
                    .copy_out_of(containers, from, src, follow, CopyTo::Tar(sink), archive)
                    .map_err(|e| e.to_string());
                // SAFETY: leave without running the parent's destructors.
                unsafe { libc::_exit(report_to(err_w, result)) }
            }
            ForkResult::Parent { child } => child,
        };
        drop((w, err_w));
        let source: TarSource = Box::new(move |tar| {
            let mut input = File::from(r);
            io::copy(&mut input, tar).map(drop)
        });
        let ctr = Role::Consume {
            dst: dst.to_path_buf(),
            dst_is_dir: ends_with(dst, b"/"),
            contents_only: contents_only(src),
            preserve_owners: archive,
            raw: false,
        };
        let into = self.copy_both_ways(
            containers,
            to,
            userns,
            Role::Source(source),
            ctr,
            HostIds::Root,
            true,
        );
        // The side that reads `from` explains a cut stream, unless it only
        // met the other side giving up first.
        let out_code = wait_child(out_pid);
        match failure(
            out_code,
            err_r,
            "the copy out of the source container failed",
        ) {
            Some(message) if !(into.is_err() && message.contains("Broken pipe")) => {
                Err(CopyError::Source { message }.into())
            }
            _ => into,
        }
    }

    /// Container `record`'s whole root filesystem as a tar, to `to`;
    /// burrow's mount points (/proc, /sys, /dev, /etc/hosts, ...) and the
    /// container's volumes and tmpfs mounts without their content.
    pub fn export(
        &self,
        containers: &ContainerStore,
        record: &ContainerRecord,
        to: TarSink,
    ) -> Result<(), EngineError> {
        let spec = containers.load_spec(&record.id)?;
        let userns = self.namespace_for(spec.keep_id)?;
        let mounted = MOUNT_POINTS
            .iter()
            .map(PathBuf::from)
            .chain(spec.mounts.iter().map(|m| PathBuf::from(&m.destination)))
            .collect();
        let ctr = Role::ProduceRoot { mounted };
        self.copy_both_ways(
            containers,
            record,
            userns,
            Role::Sink(to),
            ctr,
            HostIds::Root,
            false,
        )
    }

    /// Run the host side and the container side in child processes (the
    /// latter in the user namespace for a stopped container), joined by a
    /// pipe; the error that explains the failure, if any.
    #[allow(clippy::too_many_arguments)]
    fn copy_both_ways(
        &self,
        containers: &ContainerStore,
        record: &ContainerRecord,
        userns: UserNs,
        host: Role,
        ctr: Role,
        host_ids: HostIds,
        into: bool,
    ) -> Result<(), EngineError> {
        let running = match (record.current_status(), record.pid) {
            (Status::Running | Status::Paused, Some(pid)) => Some(pid),
            _ => None,
        };
        let spec = match running {
            Some(_) => None,
            None => {
                let mut spec = containers.load_spec(&record.id)?;
                spec.confine = Default::default();
                Some(spec)
            }
        };
        let (r, w) = pipe()?;
        let (host_end, ctr_end) = if into { (w, r) } else { (r, w) };
        let (herr_r, herr_w) = pipe()?;
        let (cerr_r, cerr_w) = pipe()?;
        let host_in_userns = matches!(
            host,
            Role::Consume {
                preserve_owners: true,
                ..
            }
        );
        // SAFETY: single-threaded (the engine's rule); the child only
        // copies and exits.
        let host_pid = match unsafe { fork() }.map_err(|e| EngineError::io("forking", e.into()))? {
            ForkResult::Child => {
                drop(ctr_end);
                drop((herr_r, cerr_r, cerr_w));
                let ids = match &host_ids {
                    HostIds::Root => Ids::Fixed(0, 0),
                    HostIds::Mapped(f) => Ids::Mapped(f.as_ref()),
                };
                let work = move || report_to(herr_w, side(host, host_end, ids));
                let code = if host_in_userns {
                    self.in_namespace(&userns, None, |_| work())
                        .unwrap_or(EXIT_ENGINE)
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
        let ctr_code = match (running, spec) {
            (Some(pid1), _) => {
                // SAFETY: as above; the child joins the container for good.
                match unsafe { fork() } {
                    Ok(ForkResult::Child) => {
                        drop((herr_r, cerr_r));
                        let result = copy::enter_running(pid1)
                            .map_err(|e| e.to_string())
                            .and_then(|()| side(ctr, ctr_end, Ids::AsSeen));
                        // SAFETY: as above.
                        unsafe { libc::_exit(report_to(cerr_w, result)) }
                    }
                    Ok(ForkResult::Parent { child }) => {
                        drop((ctr_end, cerr_w));
                        wait_child(child)
                    }
                    Err(e) => {
                        drop((ctr_end, cerr_w));
                        wait_child(host_pid);
                        return Err(EngineError::io("forking", e.into()));
                    }
                }
            }
            (None, Some(spec)) => self.in_namespace(&userns, None, move |_| {
                let result = enter_stopped(&spec).and_then(|()| side(ctr, ctr_end, Ids::AsSeen));
                report_to(cerr_w, result)
            })?,
            (None, None) => unreachable!("a spec is loaded for stopped containers"),
        };
        let ctr_err = failure(ctr_code, cerr_r, "the copy in the container failed");
        let host_code = wait_child(host_pid);
        let herr = failure(host_code, herr_r, "the copy on the host failed");
        // The producer's error explains the consumer's (a cut stream).
        let ctr_err = ctr_err.map(|message| CopyError::InContainer {
            container: record.name.clone(),
            message,
        });
        let herr = herr.map(|message| CopyError::OnHost { message });
        let (first, second) = if into {
            (herr, ctr_err)
        } else {
            (ctr_err, herr)
        };
        // A producer that met a closed pipe only says the consumer gave up
        // first; the consumer says why.
        let (first, second) = match first {
            Some(f) if f.to_string().contains("Broken pipe") && second.is_some() => {
                (second, Some(f))
            }
            f => (f, second),
        };
        match first.or(second) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

fn enter_stopped(spec: &ContainerSpec) -> Result<(), String> {
    copy::enter_stopped(spec).map_err(|e| e.to_string())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), EngineError> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| EngineError::io("creating a pipe", e.into()))
}

/// A side's exit status: 0, or its error written to `err`.
fn report_to(err: OwnedFd, result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = File::from(err).write_all(e.as_bytes());
            EXIT_ENGINE
        }
    }
}

/// The message of a side that ended with `code`, from its error pipe.
fn failure(code: i32, err: OwnedFd, what: &str) -> Option<String> {
    let mut msg = String::new();
    let _ = File::from(err).read_to_string(&mut msg);
    (code != 0).then(|| {
        if msg.is_empty() {
            format!("{what} (exit {code})")
        } else {
            msg
        }
    })
}

/// One side of the copy, on the stream `fd`; a producer records `ids`.
fn side(role: Role, fd: OwnedFd, ids: Ids<'_>) -> Result<(), String> {
    let mut stream = File::from(fd);
    match role {
        Role::Produce { path, follow } => {
            copy::write_tar(&path, follow, ids, io::BufWriter::new(stream))
                .map_err(|e| e.to_string())
        }
        Role::Consume {
            dst,
            dst_is_dir,
            contents_only,
            preserve_owners,
            raw,
        } => {
            let landing = Landing {
                dst: &dst,
                dst_is_dir,
                contents_only,
                preserve_owners,
                raw,
            };
            let input = io::BufReader::new(stream);
            let result = if raw {
                // A user's stream: plain or compressed, as Docker takes it.
                let plain = compression::decompress_any(input)
                    .map_err(|e| format!("reading the tar stream: {e}"))?;
                copy::read_tar(plain, &landing)
            } else {
                copy::read_tar(input, &landing)
            };
            result.map_err(|e| e.to_string())
        }
        Role::ProduceRoot { mounted } => {
            copy::write_root_tar(&mounted, io::BufWriter::new(stream)).map_err(|e| e.to_string())
        }
        Role::Source(source) => source(&mut stream).map_err(|e| e.to_string()),
        Role::Sink(sink) => sink(&mut stream).map_err(|e| e.to_string()),
    }
}

fn wait_child(pid: Pid) -> i32 {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return c,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return EXIT_ENGINE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_dots_and_slashes_decide_the_landing() {
        assert!(contents_only(Path::new("a/.")));
        assert!(contents_only(Path::new(".")));
        assert!(!contents_only(Path::new("a/..")));
        assert!(!contents_only(Path::new("a")));
        assert!(ends_with(Path::new("/tmp/"), b"/"));
        assert!(!ends_with(Path::new("/tmp"), b"/"));
    }

    #[test]
    fn errors_read_as_before() {
        let e = CopyError::InContainer {
            container: "web".into(),
            message: "/x: gone".into(),
        };
        assert_eq!(e.to_string(), "in container web: /x: gone");
        let e = CopyError::NoSource(PathBuf::from("nope"));
        assert_eq!(e.to_string(), "nope: no such file or directory");
    }
}
