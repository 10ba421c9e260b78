//! Container logs: what a detached container writes, one record per line in
//! the CRI ("k8s-file") format Podman also uses:
//! `TIMESTAMP STREAM F|P TEXT`, where `P` marks a partial line (a line cut
//! by a full buffer or by the end of output without a newline).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: DateTime<Utc>,
    pub stream: Stream,
    /// The text, with its newline unless `partial`.
    pub text: String,
    pub partial: bool,
}

/// Parse one record; None for a malformed line (skipped, never fatal).
pub fn parse_line(line: &str) -> Option<LogLine> {
    let mut parts = line.splitn(4, ' ');
    let time = DateTime::parse_from_rfc3339(parts.next()?)
        .ok()?
        .with_timezone(&Utc);
    let stream = match parts.next()? {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        "F" => false,
        "P" => true,
        _ => return None,
    };
    let mut text = parts.next().unwrap_or("").to_string();
    if !partial {
        text.push('\n');
    }
    Some(LogLine {
        time,
        stream,
        text,
        partial,
    })
}

/// Every record of the log at `path` (none if there is no log yet).
pub fn read_log(path: &Path) -> io::Result<Vec<LogLine>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        if let Some(l) = parse_line(&line?) {
            out.push(l);
        }
    }
    Ok(out)
}

/// Appends records; one write(2) per record, so a reader never sees half.
struct Writer {
    file: File,
}

impl Writer {
    fn record(&mut self, stream: Stream, text: &[u8], partial: bool) -> io::Result<()> {
        let mut rec = format!(
            "{} {} {} ",
            Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
            stream.name(),
            if partial { "P" } else { "F" }
        )
        .into_bytes();
        rec.extend_from_slice(text);
        rec.push(b'\n');
        self.file.write_all(&rec)
    }
}

/// Per-stream line assembly.
struct Pending {
    stream: Stream,
    buf: Vec<u8>,
}

/// Longest line kept whole; longer ones are cut into partial records.
const MAX_LINE: usize = 16 * 1024;

impl Pending {
    fn feed(&mut self, data: &[u8], w: &mut Writer) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        while let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            w.record(self.stream, &line[..line.len() - 1], false)?;
        }
        while self.buf.len() >= MAX_LINE {
            let chunk: Vec<u8> = self.buf.drain(..MAX_LINE).collect();
            w.record(self.stream, &chunk, true)?;
        }
        Ok(())
    }

    fn finish(&mut self, w: &mut Writer) -> io::Result<()> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            w.record(self.stream, &rest, true)?;
        }
        Ok(())
    }
}

/// Copy the container's stdout and stderr pipes into the log at `path`
/// until both are closed (every process in the container has exited or
/// closed them).
pub fn pump(stdout: OwnedFd, stderr: OwnedFd, path: &Path) -> io::Result<()> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut w = Writer { file };
    let mut streams = [
        (
            Some(stdout),
            Pending {
                stream: Stream::Stdout,
                buf: Vec::new(),
            },
        ),
        (
            Some(stderr),
            Pending {
                stream: Stream::Stderr,
                buf: Vec::new(),
            },
        ),
    ];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let open: Vec<usize> = (0..2).filter(|i| streams[*i].0.is_some()).collect();
        if open.is_empty() {
            return Ok(());
        }
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|i| {
                    PollFd::new(
                        streams[*i].0.as_ref().map(|f| f.as_fd()).expect("open"),
                        PollFlags::POLLIN,
                    )
                })
                .collect();
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            fds.iter()
                .map(|f| !f.revents().unwrap_or(PollFlags::empty()).is_empty())
                .collect()
        };
        for (k, i) in open.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            let (fd, pending) = &mut streams[*i];
            let n = match fd.as_ref().map(|f| nix::unistd::read(f, &mut buf)) {
                Some(Ok(n)) => n,
                Some(Err(Errno::EINTR | Errno::EAGAIN)) => continue,
                Some(Err(_)) | None => 0,
            };
            if n == 0 {
                pending.finish(&mut w)?;
                *fd = None;
            } else {
                pending.feed(&buf[..n], &mut w)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pumps_lines_partial_lines_and_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let (out_r, out_w) = std::io::pipe().unwrap();
        let (err_r, err_w) = std::io::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            let (mut o, mut e) = (out_w, err_w);
            o.write_all(b"one\ntw").unwrap();
            e.write_all(b"oops\n").unwrap();
            o.write_all(b"o\nno newline").unwrap();
        });
        let p = path.clone();
        let pump_thread =
            std::thread::spawn(move || pump(OwnedFd::from(out_r), OwnedFd::from(err_r), &p));
        writer.join().unwrap();
        pump_thread.join().unwrap().unwrap();
        let lines = read_log(&path).unwrap();
        let out: String = lines
            .iter()
            .filter(|l| l.stream == Stream::Stdout)
            .map(|l| l.text.clone())
            .collect();
        assert_eq!(out, "one\ntwo\nno newline");
        let err: Vec<&LogLine> = lines
            .iter()
            .filter(|l| l.stream == Stream::Stderr)
            .collect();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].text, "oops\n");
        assert!(lines.last().unwrap().partial);
        assert!(lines.windows(2).all(|w| w[0].time <= w[1].time));
    }

    #[test]
    fn long_lines_are_cut_and_bad_records_skipped() {
        assert!(parse_line("garbage").is_none());
        assert!(parse_line("2026-01-01T00:00:00Z stdin F x").is_none());
        let l = parse_line("2026-01-01T00:00:00.5Z stderr F a b").unwrap();
        assert_eq!((l.stream, l.text.as_str()), (Stream::Stderr, "a b\n"));
        let dir = tempfile::tempdir().unwrap();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("l"))
            .unwrap();
        let mut w = Writer { file };
        let mut p = Pending {
            stream: Stream::Stdout,
            buf: Vec::new(),
        };
        p.feed(&vec![b'x'; MAX_LINE + 10], &mut w).unwrap();
        p.feed(b"y\n", &mut w).unwrap();
        let lines = read_log(&dir.path().join("l")).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].partial);
        assert_eq!(lines[0].text.len(), MAX_LINE);
        assert_eq!(lines[1].text, format!("{}y\n", "x".repeat(10)));
    }
}
