//! Bounds on what one layer may write: a ceiling on how many times its
//! compressed size it unpacks to (a decompression bomb is refused after a
//! bounded amount of writing), and a free-space margin the store's
//! filesystem keeps (checked before a layer starts and while it unpacks).
//!
//! Both are `[storage]` settings of `config.toml` (`max_unpack_ratio`,
//! `min_free`); the errors name the layer and the setting.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Default `max_unpack_ratio`: real layers unpack to 2–10 times their
/// compressed size; a run of zeros gzips about 1000:1.
pub const DEFAULT_MAX_UNPACK_RATIO: u64 = 100;
/// Default `min_free`: 5 % of the filesystem.
pub const DEFAULT_MIN_FREE_PERCENT: u8 = 5;
/// However small its compressed size, a layer may unpack to this much:
/// tiny layers of empty files have high ratios and do no harm.
pub const RATIO_FLOOR: u64 = 64 << 20;
/// Free space is measured again after this many unpacked bytes.
const SPACE_CHECK_EVERY: u64 = 8 << 20;

/// How much the store's filesystem keeps free while layers unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinFree {
    /// A share of the filesystem's size, in percent (0–100).
    Percent(u8),
    Bytes(u64),
}

impl Default for MinFree {
    fn default() -> Self {
        MinFree::Percent(DEFAULT_MIN_FREE_PERCENT)
    }
}

impl fmt::Display for MinFree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinFree::Percent(p) => write!(f, "{p}%"),
            MinFree::Bytes(b) => f.write_str(&human_size(*b)),
        }
    }
}

impl FromStr for MinFree {
    type Err = String;

    /// `5%`, `0`, `500M`, `10G`, `1.5T`, `2GiB`, `123456` (bytes); the
    /// suffixes are binary (K = 1024), as `podman` and `du -h` print them.
    fn from_str(s: &str) -> Result<MinFree, String> {
        let t = s.trim();
        let bad = || {
            format!(
                "min_free {s:?} is not a size: give a percentage of the filesystem (\"5%\") or a size (\"10G\", \"500M\", a number of bytes)"
            )
        };
        if let Some(p) = t.strip_suffix('%') {
            let p: u8 = p.trim().parse().map_err(|_| bad())?;
            if p > 100 {
                return Err(format!("min_free {s:?} is over 100%"));
            }
            return Ok(MinFree::Percent(p));
        }
        let upper = t.to_ascii_uppercase();
        let upper = upper
            .strip_suffix("IB")
            .or_else(|| upper.strip_suffix('B'))
            .unwrap_or(&upper);
        let (num, shift) = match upper.chars().last() {
            Some('K') => (&upper[..upper.len() - 1], 10),
            Some('M') => (&upper[..upper.len() - 1], 20),
            Some('G') => (&upper[..upper.len() - 1], 30),
            Some('T') => (&upper[..upper.len() - 1], 40),
            _ => (upper, 0),
        };
        let num = num.trim();
        if num.is_empty() || num.starts_with('-') {
            return Err(bad());
        }
        if let Ok(n) = num.parse::<u64>() {
            return n
                .checked_mul(1 << shift)
                .map(MinFree::Bytes)
                .ok_or_else(bad);
        }
        let f: f64 = num.parse().map_err(|_| bad())?;
        let bytes = f * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
            return Err(bad());
        }
        Ok(MinFree::Bytes(bytes as u64))
    }
}

impl<'de> Deserialize<'de> for MinFree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MinFree, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "min_free must be a percentage of the filesystem (\"5%\") or a size (\"10G\", \"500M\", a number of bytes)",
            )
        })? {
            Raw::Bytes(b) => Ok(MinFree::Bytes(b)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// What the store allows one layer to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Unpacked bytes per compressed byte; 0: no ceiling.
    pub max_ratio: u64,
    pub min_free: MinFree,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_ratio: DEFAULT_MAX_UNPACK_RATIO,
            min_free: MinFree::default(),
        }
    }
}

impl UnpackLimits {
    /// The most a layer of `compressed` bytes may unpack to.
    pub fn ceiling(&self, compressed: u64) -> Option<u64> {
        (self.max_ratio != 0).then(|| self.max_ratio.saturating_mul(compressed).max(RATIO_FLOOR))
    }
}

/// A layer went past one of the [`UnpackLimits`]. The caller prefixes the
/// layer's digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "unpacks to more than {}, the limit for a {} blob at max_unpack_ratio = {ratio}: refusing it as a likely decompression bomb; if you trust the image, raise max_unpack_ratio under [storage] in ~/.config/burrow/config.toml (0 turns the check off)",
        human_size(*.ceiling),
        human_size(*.compressed)
    )]
    Ratio {
        ratio: u64,
        compressed: u64,
        ceiling: u64,
    },
    #[error(
        "not enough free space: the filesystem of {} has {} free, less than min_free = {}{}: free some space, or lower min_free under [storage] in ~/.config/burrow/config.toml",
        .path.display(),
        human_size(*.free),
        .min_free,
        if matches!(.min_free, MinFree::Percent(_)) { format!(" ({})", human_size(*.margin)) } else { String::new() }
    )]
    Space {
        path: PathBuf,
        free: u64,
        min_free: MinFree,
        margin: u64,
    },
    #[error("cannot measure the free space of {}: {message}", .path.display())]
    Statvfs { path: PathBuf, message: String },
}

impl LimitError {
    /// The limit error an unpack stopped with, if it was one (it travels
    /// through the tar reader as an `io::Error`).
    pub fn from_io(e: &io::Error) -> Option<LimitError> {
        e.get_ref()?.downcast_ref::<LimitError>().cloned()
    }
}

/// Free bytes for an unprivileged writer, and the filesystem's size.
fn fs_space(path: &Path) -> Result<(u64, u64), LimitError> {
    let st = rustix::fs::statvfs(path).map_err(|e| LimitError::Statvfs {
        path: path.to_path_buf(),
        message: io::Error::from(e).to_string(),
    })?;
    let frsize = st.f_frsize.max(1);
    Ok((
        st.f_bavail.saturating_mul(frsize),
        st.f_blocks.saturating_mul(frsize),
    ))
}

/// Fails if the filesystem holding `path` has less free than `min_free`.
pub fn check_free_space(path: &Path, min_free: MinFree) -> Result<(), LimitError> {
    if min_free == MinFree::Bytes(0) || min_free == MinFree::Percent(0) {
        return Ok(());
    }
    let (free, size) = fs_space(path)?;
    let margin = match min_free {
        MinFree::Percent(p) => size / 100 * u64::from(p),
        MinFree::Bytes(b) => b,
    };
    if free < margin {
        return Err(LimitError::Space {
            path: path.to_path_buf(),
            free,
            min_free,
            margin,
        });
    }
    Ok(())
}

/// Counts a layer's unpacked stream and stops it (with a [`LimitError`]
/// inside the `io::Error`) past the ratio ceiling or when free space runs
/// below the margin.
pub struct LimitedReader<R> {
    inner: R,
    limits: UnpackLimits,
    compressed: u64,
    ceiling: Option<u64>,
    fs_path: PathBuf,
    read: u64,
    next_space_check: u64,
}

impl<R: Read> LimitedReader<R> {
    /// Checks free space at once: a layer does not start on a filesystem
    /// already below the margin.
    pub fn new(
        inner: R,
        limits: UnpackLimits,
        compressed: u64,
        fs_path: &Path,
    ) -> Result<LimitedReader<R>, LimitError> {
        check_free_space(fs_path, limits.min_free)?;
        Ok(LimitedReader {
            inner,
            limits,
            compressed,
            ceiling: limits.ceiling(compressed),
            fs_path: fs_path.to_path_buf(),
            read: 0,
            next_space_check: SPACE_CHECK_EVERY,
        })
    }

    /// Unpacked bytes so far.
    pub fn count(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never hand out more than the ceiling allows, so that what is
        // written stays within it.
        let allowed = match self.ceiling {
            Some(c) if self.read >= c => {
                // One byte more decides whether the stream goes on.
                let mut probe = [0u8; 1];
                if self.inner.read(&mut probe)? == 0 {
                    return Ok(0);
                }
                return Err(io::Error::other(LimitError::Ratio {
                    ratio: self.limits.max_ratio,
                    compressed: self.compressed,
                    ceiling: c,
                }));
            }
            Some(c) => buf
                .len()
                .min(usize::try_from(c - self.read).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..allowed])?;
        self.read += n as u64;
        if self.read >= self.next_space_check {
            self.next_space_check = self.read + SPACE_CHECK_EVERY;
            check_free_space(&self.fs_path, self.limits.min_free).map_err(io::Error::other)?;
        }
        Ok(n)
    }
}

/// `1.5 GiB`, `640.0 KiB`, `12 B`.
pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_free_parses_percentages_and_sizes() {
        assert_eq!("5%".parse(), Ok(MinFree::Percent(5)));
        assert_eq!(" 0 ".parse(), Ok(MinFree::Bytes(0)));
        assert_eq!("123".parse(), Ok(MinFree::Bytes(123)));
        assert_eq!("10G".parse(), Ok(MinFree::Bytes(10 << 30)));
        assert_eq!("10GiB".parse(), Ok(MinFree::Bytes(10 << 30)));
        assert_eq!("500mb".parse(), Ok(MinFree::Bytes(500 << 20)));
        assert_eq!("1.5K".parse(), Ok(MinFree::Bytes(1536)));
        for bad in ["", "%", "101%", "-1", "-1G", "ten", "5X", "1e400"] {
            assert!(bad.parse::<MinFree>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ceiling_has_a_floor_and_can_be_off() {
        let l = UnpackLimits::default();
        assert_eq!(l.ceiling(1), Some(RATIO_FLOOR));
        assert_eq!(l.ceiling(10 << 20), Some(1000 << 20));
        assert_eq!(l.ceiling(u64::MAX), Some(u64::MAX));
        let off = UnpackLimits { max_ratio: 0, ..l };
        assert_eq!(off.ceiling(1), None);
    }

    fn no_space_check() -> UnpackLimits {
        UnpackLimits {
            max_ratio: 2,
            min_free: MinFree::Bytes(0),
        }
    }

    #[test]
    fn a_stream_past_the_ceiling_stops_there() {
        let t = tempfile::tempdir().unwrap();
        let mut zeros = io::repeat(0).take(RATIO_FLOOR + 10);
        let mut r = LimitedReader::new(&mut zeros, no_space_check(), 1000, t.path()).unwrap();
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert_eq!(r.count(), RATIO_FLOOR, "stops exactly at the ceiling");
        let limit = LimitError::from_io(&err).expect("a limit error");
        assert!(matches!(limit, LimitError::Ratio { ceiling, .. } if ceiling == RATIO_FLOOR));
        let msg = limit.to_string();
        assert!(msg.contains("max_unpack_ratio"), "{msg}");
        assert!(msg.contains("64.0 MiB"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn a_stream_at_the_ceiling_passes() {
        let t = tempfile::tempdir().unwrap();
        let compressed = 40 << 20;
        let mut data = io::repeat(1).take(80 << 20);
        let mut r = LimitedReader::new(&mut data, no_space_check(), compressed, t.path()).unwrap();
        assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), 80 << 20);
    }

    #[test]
    fn too_little_free_space_refuses_before_reading() {
        let t = tempfile::tempdir().unwrap();
        let limits = UnpackLimits {
            max_ratio: 0,
            min_free: MinFree::Bytes(u64::MAX),
        };
        let err = match LimitedReader::new(io::empty(), limits, 1, t.path()) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert!(matches!(err, LimitError::Space { .. }), "{err}");
        assert!(err.to_string().contains("min_free"), "{err}");
    }
}
