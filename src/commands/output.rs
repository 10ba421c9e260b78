//! Where `save` and `export` write an archive: a file given with `-o`,
//! replaced atomically (a temporary file beside it, renamed when complete,
//! so a failed run never leaves half an archive), or standard output.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub enum ArchiveOut {
    Stdout(BufWriter<io::Stdout>),
    File {
        tmp: BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
    },
}

/// Refuse to write binary data to a terminal, as Podman does.
pub fn refuse_terminal(path: Option<&Path>, command: &str) -> anyhow::Result<()> {
    if path.is_none() && io::stdout().is_terminal() {
        anyhow::bail!(
            "{command}: refusing to write an archive to a terminal: use -o FILE or redirect standard output"
        );
    }
    Ok(())
}

impl ArchiveOut {
    /// Standard output when `path` is `None`, else a temporary file in the
    /// directory of `path`.
    pub fn open(path: Option<&Path>, command: &str) -> anyhow::Result<ArchiveOut> {
        refuse_terminal(path, command)?;
        let Some(path) = path else {
            return Ok(ArchiveOut::Stdout(BufWriter::with_capacity(
                256 * 1024,
                io::stdout(),
            )));
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".burrow-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(ArchiveOut::File {
            tmp: BufWriter::with_capacity(256 * 1024, tmp),
            path: path.to_path_buf(),
        })
    }

    /// Flush; a file is given its final name (and the usual 0644 mode).
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            ArchiveOut::Stdout(mut w) => w.flush().context("writing to standard output"),
            ArchiveOut::File { tmp, path } => {
                let tmp = tmp
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("writing {}", path.display()))?;
                tmp.as_file()
                    .sync_all()
                    .and_then(|()| {
                        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
                    })
                    .with_context(|| format!("writing {}", path.display()))?;
                let _: File = tmp
                    .persist(&path)
                    .map_err(|e| e.error)
                    .with_context(|| format!("writing {}", path.display()))?;
                Ok(())
            }
        }
    }
}

impl Write for ArchiveOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ArchiveOut::Stdout(w) => w.write(buf),
            ArchiveOut::File { tmp, .. } => tmp.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            ArchiveOut::Stdout(w) => w.flush(),
            ArchiveOut::File { tmp, .. } => tmp.flush(),
        }
    }
}
