//! Container logs: what a detached container writes, one record per line in
//! the CRI ("k8s-file") format Podman also uses:
//! `TIMESTAMP STREAM F|P TEXT`, where `P` marks a partial line (a line cut
//! by a full buffer or by the end of output without a newline).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
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

/// Every record of the log at `path` (none if there is no log yet),
/// after those of its rotated predecessor (`path.1`, see [`LogSink`]).
pub fn read_log(path: &Path) -> io::Result<Vec<LogLine>> {
    let mut out = read_one(&rotated(path))?;
    out.extend(read_one(path)?);
    Ok(out)
}

fn read_one(path: &Path) -> io::Result<Vec<LogLine>> {
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

/// Where a full log goes when it is rotated.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Reads records as they are appended to a log (`logs -f`), across
/// rotations: when the file at the path is a new one, the rest of the old
/// one is read first, then the new one from its start.
pub struct LogFollower {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
}

impl LogFollower {
    /// Follow the log at `path` from its current end.
    pub fn from_end(path: &Path) -> io::Result<LogFollower> {
        let mut f = LogFollower {
            path: path.to_path_buf(),
            file: None,
            partial: Vec::new(),
        };
        if let Some(mut file) = open_if_present(path)? {
            file.seek(SeekFrom::End(0))?;
            f.file = Some(file);
        }
        Ok(f)
    }

    /// Follow the log at `path` from its start: the first
    /// [`LogFollower::read_new`] gives what the rotated log
    /// (`path.1`) and the log hold, then what is appended.
    pub fn from_start(path: &Path) -> io::Result<(LogFollower, Vec<LogLine>)> {
        let old = read_one(&rotated(path))?;
        let f = LogFollower {
            path: path.to_path_buf(),
            file: open_if_present(path)?,
            partial: Vec::new(),
        };
        Ok((f, old))
    }

    /// The records appended since the last call.
    pub fn read_new(&mut self) -> io::Result<Vec<LogLine>> {
        let mut out = Vec::new();
        loop {
            if let Some(file) = self.file.as_mut() {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                self.take_lines(&bytes, &mut out);
            }
            // Rotated (or created) since we opened it?
            let current = match fs::metadata(&self.path) {
                Ok(m) => Some((m.dev(), m.ino())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let ours = match &self.file {
                Some(f) => {
                    let m = f.metadata()?;
                    Some((m.dev(), m.ino()))
                }
                None => None,
            };
            if current.is_none() || current == ours {
                return Ok(out);
            }
            self.file = open_if_present(&self.path)?;
            self.partial.clear();
        }
    }

    fn take_lines(&mut self, bytes: &[u8], out: &mut Vec<LogLine>) {
        self.partial.extend_from_slice(bytes);
        while let Some(nl) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            if let Some(l) = parse_line(&String::from_utf8_lossy(&line[..line.len() - 1])) {
                out.push(l);
            }
        }
    }
}

fn open_if_present(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Per-stream line assembly.
struct Pending {
    stream: Stream,
    buf: Vec<u8>,
}

/// Longest line kept whole; longer ones are cut into partial records.
const MAX_LINE: usize = 16 * 1024;

/// The writing end of a container's log: records appended with one
/// write(2) each (a reader never sees half of one), lines assembled per
/// stream. With a maximum size (`--log-opt max-size`), a log that grows
/// past it is renamed to `PATH.1` (replacing the previous one) and a new
/// one is started: at most about twice the size is kept.
pub struct LogSink {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    pending: [Pending; 2],
}

impl LogSink {
    pub fn open(path: &Path, max_size: Option<u64>) -> io::Result<LogSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogSink {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            pending: [
                Pending {
                    stream: Stream::Stdout,
                    buf: Vec::new(),
                },
                Pending {
                    stream: Stream::Stderr,
                    buf: Vec::new(),
                },
            ],
        })
    }

    /// Output of the container on `stream`.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let i = stream as usize;
        self.pending[i].buf.extend_from_slice(data);
        while let Some(nl) = self.pending[i].buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending[i].buf.drain(..=nl).collect();
            self.record(stream, &line[..line.len() - 1], false)?;
        }
        while self.pending[i].buf.len() >= MAX_LINE {
            let chunk: Vec<u8> = self.pending[i].buf.drain(..MAX_LINE).collect();
            self.record(stream, &chunk, true)?;
        }
        Ok(())
    }

    /// The end of output: what is left of a line becomes a partial record.
    pub fn finish(&mut self) -> io::Result<()> {
        for i in 0..2 {
            if !self.pending[i].buf.is_empty() {
                let rest = std::mem::take(&mut self.pending[i].buf);
                let stream = self.pending[i].stream;
                self.record(stream, &rest, true)?;
            }
        }
        Ok(())
    }

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
        self.file.write_all(&rec)?;
        self.size += rec.len() as u64;
        if self.max_size.is_some_and(|max| self.size >= max) {
            fs::rename(&self.path, rotated(&self.path))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = 0;
        }
        Ok(())
    }
}

/// Parse a log size as Docker's `--log-opt max-size` takes it: bytes, or a
/// number with k, m or g (powers of 1024; also kb, mb, gb, any case).
pub fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_lines_partial_lines_and_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut sink = LogSink::open(&path, None).unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        sink.write(Stream::Stdout, b"one\ntw").unwrap();
        sink.write(Stream::Stderr, b"oops\n").unwrap();
        sink.write(Stream::Stdout, b"o\nno newline").unwrap();
        sink.finish().unwrap();
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
        assert_eq!(follower.read_new().unwrap(), lines);
        assert_eq!(follower.read_new().unwrap(), vec![]);
    }

    #[test]
    fn rotation_keeps_one_old_log_and_followers_cross_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        // Each record is about 45 bytes: the log rotates every ~3 lines.
        let mut sink = LogSink::open(&path, Some(120)).unwrap();
        let mut follower = LogFollower::from_end(&path).unwrap();
        let mut seen = Vec::new();
        for n in 0..10 {
            sink.write(Stream::Stdout, format!("line {n}\n").as_bytes())
                .unwrap();
            if n % 2 == 0 {
                seen.extend(follower.read_new().unwrap());
            }
        }
        seen.extend(follower.read_new().unwrap());
        let texts: Vec<String> = seen.iter().map(|l| l.text.clone()).collect();
        let want: Vec<String> = (0..10).map(|n| format!("line {n}\n")).collect();
        assert_eq!(texts, want, "the follower saw every line once");
        assert!(fs::metadata(&path).unwrap().len() < 120);
        assert!(fs::metadata(rotated(&path)).unwrap().len() >= 120);
        // read_log gives the old file's lines, then the current ones.
        let kept: Vec<String> = read_log(&path)
            .unwrap()
            .iter()
            .map(|l| l.text.clone())
            .collect();
        assert!(
            kept.len() < 10 && kept.ends_with(&want[10 - kept.len()..]),
            "{kept:?}"
        );
    }

    #[test]
    fn sizes_as_docker_takes_them() {
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("1.5m"), Some(1572864));
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("10mb"), Some(10 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("0"), None);
    }

    #[test]
    fn long_lines_are_cut_and_bad_records_skipped() {
        assert!(parse_line("garbage").is_none());
        assert!(parse_line("2026-01-01T00:00:00Z stdin F x").is_none());
        let l = parse_line("2026-01-01T00:00:00.5Z stderr F a b").unwrap();
        assert_eq!((l.stream, l.text.as_str()), (Stream::Stderr, "a b\n"));
        let dir = tempfile::tempdir().unwrap();
        let mut sink = LogSink::open(&dir.path().join("l"), None).unwrap();
        sink.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 10])
            .unwrap();
        sink.write(Stream::Stdout, b"y\n").unwrap();
        let lines = read_log(&dir.path().join("l")).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].partial);
        assert_eq!(lines[0].text.len(), MAX_LINE);
        assert_eq!(lines[1].text, format!("{}y\n", "x".repeat(10)));
    }
}
