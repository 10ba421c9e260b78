//! The events log: `<runroot>/events/events.log`, one JSON [`Event`] a
//! line (Podman's "file" backend idea). Writers append under an flock of
//! `events.lock` with O_APPEND and no fsync (an event is a record of what
//! happened, not state: losing the last ones in a crash is harmless, and
//! writing one must stay cheap); a log that would grow past its size
//! limit is first renamed to `events.log.1` (the previous one dropped).
//! Readers read both files and follow the current one across renames.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Event;

const LOG: &str = "events.log";
const ROTATED: &str = "events.log.1";
const LOCK: &str = "events.lock";

/// One user's events log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    dir: PathBuf,
    max_size: u64,
}

impl Log {
    /// The size at which the log is rotated, unless
    /// [`Log::with_max_size`] says otherwise.
    pub const DEFAULT_MAX_SIZE: u64 = 1 << 20;

    /// The log of the runtime directory `runroot`.
    pub fn at(runroot: &Path) -> Log {
        Log {
            dir: runroot.join("events"),
            max_size: Log::DEFAULT_MAX_SIZE,
        }
    }

    /// Rotate once the log would grow past `bytes` (at least one event
    /// is always kept in the current file).
    pub fn with_max_size(mut self, bytes: u64) -> Log {
        self.max_size = bytes;
        self
    }

    /// The current log file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// The previous log file, rotated out.
    pub fn rotated_path(&self) -> PathBuf {
        self.dir.join(ROTATED)
    }

    /// Append `event`. Never syncs; safe against other writers (processes
    /// or threads) at the same time.
    pub fn append(&self, event: &Event) -> io::Result<()> {
        self.pin()?.append(event)
    }

    /// The log's directory held open, for appends from a process that
    /// will leave this mount namespace (`exec` joins the container's and
    /// records the command's end from there).
    pub fn pin(&self) -> io::Result<PinnedLog> {
        self.ensure_dir()?;
        let dir = rustix::fs::open(
            &self.dir,
            rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )?;
        Ok(PinnedLog {
            log: self.clone(),
            dir,
        })
    }

    /// Every event still in the log, oldest first (lines that are not
    /// events are skipped).
    pub fn read_all(&self) -> io::Result<Vec<Event>> {
        let mut f = self.follow(true)?;
        f.poll()
    }

    /// A reader of the events appended from now on, or with `from_start`
    /// of every event still in the log and then those appended.
    pub fn follow(&self, from_start: bool) -> io::Result<Follower> {
        let notify = self.watch();
        let mut follower = Follower {
            log: self.clone(),
            file: None,
            inode: 0,
            pending: Vec::new(),
            notify,
        };
        if !from_start {
            // From the end of the current file, made if missing so that
            // the follower knows it when it is rotated out.
            let pinned = self.pin()?;
            drop(pinned.open_owned(LOG, true)?);
            let mut f = File::open(self.path())?;
            use std::io::Seek;
            follower.inode = f.metadata()?.ino();
            f.seek(io::SeekFrom::End(0))?;
            follower.file = Some(f);
        } else {
            if let Ok(mut old) = File::open(self.rotated_path()) {
                old.read_to_end(&mut follower.pending)?;
                if !follower.pending.ends_with(b"\n") && !follower.pending.is_empty() {
                    follower.pending.push(b'\n');
                }
            }
        }
        Ok(follower)
    }

    /// An inotify descriptor watching the log's directory (made if
    /// missing), None where inotify is unavailable (the follower then
    /// polls).
    fn watch(&self) -> Option<OwnedFd> {
        use rustix::fs::inotify;
        self.ensure_dir().ok()?;
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        inotify::add_watch(
            &fd,
            &self.dir,
            inotify::WatchFlags::MODIFY
                | inotify::WatchFlags::CREATE
                | inotify::WatchFlags::MOVED_TO,
        )
        .ok()?;
        Some(fd)
    }

    /// The log's directory, made if missing and given to the runtime
    /// directory's owner.
    fn ensure_dir(&self) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        match fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Ok(()) => {
                let dir = File::open(&self.dir)?;
                self.give_to_owner(&dir);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A file made by a process that is not the runtime directory's
    /// owner is given to them: the monitor of a `--userns=keep-id`
    /// container runs as a subordinate uid, and the user's own commands
    /// must go on writing the log after it.
    fn give_to_owner(&self, file: &File) {
        let Some(runroot) = self.dir.parent() else {
            return;
        };
        let Ok(owner) = fs::metadata(runroot) else {
            return;
        };
        if owner.uid() != rustix::process::geteuid().as_raw() {
            let _ = rustix::fs::fchown(
                file,
                Some(rustix::fs::Uid::from_raw(owner.uid())),
                Some(rustix::fs::Gid::from_raw(owner.gid())),
            );
        }
    }
}

/// A log whose directory is held open (see [`Log::pin`]).
#[derive(Debug)]
pub struct PinnedLog {
    log: Log,
    dir: OwnedFd,
}

impl PinnedLog {
    /// Append `event` (see [`Log::append`]).
    pub fn append(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let lock = self.open_owned(LOCK, false)?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
        let mut log = self.open_owned(LOG, true)?;
        let size = log.metadata()?.len();
        if size > 0 && size + line.len() as u64 > self.log.max_size {
            rustix::fs::renameat(&self.dir, LOG, &self.dir, ROTATED)?;
            log = self.open_owned(LOG, true)?;
        }
        // One write: readers never see two events' bytes interleaved.
        log.write_all(&line)?;
        drop(log);
        drop(lock);
        Ok(())
    }

    /// Open `name` for writing (appending when `append`), creating it
    /// mode 0600 for the runtime directory's owner if it is missing.
    fn open_owned(&self, name: &str, append: bool) -> io::Result<File> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::CLOEXEC
            | OFlags::WRONLY
            | if append {
                OFlags::APPEND
            } else {
                OFlags::empty()
            };
        match rustix::fs::openat(&self.dir, name, flags, Mode::empty()) {
            Ok(fd) => Ok(File::from(fd)),
            Err(rustix::io::Errno::NOENT) => {
                let fd = rustix::fs::openat(
                    &self.dir,
                    name,
                    flags | OFlags::CREATE,
                    Mode::from_raw_mode(0o600),
                )?;
                let file = File::from(fd);
                self.log.give_to_owner(&file);
                Ok(file)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A reader that follows the log: each [`Follower::poll`] returns the
/// events appended since the last, across rotations.
#[derive(Debug)]
pub struct Follower {
    log: Log,
    /// The current log as it was opened (the inode, once renamed to
    /// `events.log.1`, still reads to its end).
    file: Option<File>,
    inode: u64,
    /// Bytes read that do not end a line yet.
    pending: Vec<u8>,
    notify: Option<OwnedFd>,
}

impl Follower {
    /// The events appended since the last call (the first call: since
    /// the follower was made, or every event with `from_start`).
    pub fn poll(&mut self) -> io::Result<Vec<Event>> {
        loop {
            if self.file.is_none() {
                match File::open(self.log.path()) {
                    Ok(f) => {
                        self.inode = f.metadata()?.ino();
                        self.file = Some(f);
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) => return Err(e),
                }
            }
            let Some(file) = self.file.as_mut() else {
                break;
            };
            file.read_to_end(&mut self.pending)?;
            let renamed = match fs::metadata(self.log.path()) {
                Ok(m) => m.ino() != self.inode,
                Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                Err(e) => return Err(e),
            };
            if !renamed {
                break;
            }
            // Rotated: what was written to it before the rename, then the
            // new file from its start.
            file.read_to_end(&mut self.pending)?;
            self.file = None;
        }
        Ok(self.take_lines())
    }

    /// Wait until the log may have changed, at most `timeout`.
    pub fn wait(&mut self, timeout: Duration) {
        let timeout = timeout.min(Duration::from_secs(1));
        let Some(fd) = &self.notify else {
            std::thread::sleep(timeout.min(Duration::from_millis(100)));
            return;
        };
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
        // Drain the notifications: poll reads the files themselves.
        let mut buf = [0u8; 4096];
        while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
    }

    fn take_lines(&mut self) -> Vec<Event> {
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.pending.split_off(end + 1);
        let complete = std::mem::replace(&mut self.pending, rest);
        complete
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ImageAction, NetworkAction};
    use super::*;

    fn tag(n: usize) -> Event {
        Event::image(ImageAction::Tag, &format!("sha256:{n}"), &format!("x:{n}"))
    }

    #[test]
    fn appends_and_reads_back() {
        let t = tempfile::tempdir().unwrap();
        let log = Log::at(t.path());
        assert!(log.read_all().unwrap().is_empty());
        for n in 0..3 {
            log.append(&tag(n)).unwrap();
        }
        let read = log.read_all().unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[2].actor.attributes["name"], "x:2");
    }

    #[test]
    fn rotation_keeps_reading_across_files() {
        let t = tempfile::tempdir().unwrap();
        let line = serde_json::to_vec(&tag(10)).unwrap().len() as u64 + 1;
        let log = Log::at(t.path()).with_max_size(line * 4);
        let mut follower = log.follow(false).unwrap();
        for n in 10..16 {
            log.append(&tag(n)).unwrap();
        }
        // Rotated once: 4 lines in .1, 2 in the current file.
        assert!(log.rotated_path().exists());
        let seen: Vec<String> = follower
            .poll()
            .unwrap()
            .iter()
            .map(|e| e.actor.attributes["name"].clone())
            .collect();
        assert_eq!(seen, ["x:10", "x:11", "x:12", "x:13", "x:14", "x:15"]);
        // A follower from the start reads both files.
        assert_eq!(log.read_all().unwrap().len(), 6);
        // Rotations while the follower waits between polls.
        for n in 16..19 {
            log.append(&tag(n)).unwrap();
        }
        assert_eq!(follower.poll().unwrap().len(), 3);
        assert!(follower.poll().unwrap().is_empty());
    }

    #[test]
    fn followers_start_at_the_end_and_see_later_files() {
        let t = tempfile::tempdir().unwrap();
        let log = Log::at(t.path());
        let mut before = log.follow(false).unwrap();
        log.append(&tag(1)).unwrap();
        let mut after = log.follow(false).unwrap();
        log.append(&Event::network(NetworkAction::Create, "n", "app"))
            .unwrap();
        assert_eq!(before.poll().unwrap().len(), 2);
        let later = after.poll().unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].kind, "network");
    }

    /// 8 threads appending 200 tag events each to `log`.
    fn append_from_8_threads(log: &Log) {
        let threads: Vec<_> = (0..8)
            .map(|w| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for n in 0..200 {
                        log.append(&tag(w * 1000 + n)).unwrap();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
    }

    #[test]
    fn parallel_writers_lose_no_line() {
        let t = tempfile::tempdir().unwrap();
        let log = Log::at(t.path()).with_max_size(64 * 1024);
        append_from_8_threads(&log);
        let mut names: Vec<String> = log
            .read_all()
            .unwrap()
            .into_iter()
            .map(|e| e.actor.attributes["name"].clone())
            .collect();
        // Some went to a rotated-out file: every line left is whole, and
        // what the current file holds is the newest, all distinct.
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(n > 200, "{n}");
        let big = Log::at(t.path()).with_max_size(u64::MAX);
        std::fs::remove_dir_all(t.path().join("events")).unwrap();
        append_from_8_threads(&big);
        assert_eq!(big.read_all().unwrap().len(), 1600);
    }
}
