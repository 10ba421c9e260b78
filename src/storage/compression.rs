//! Compressed streams told apart by their first bytes: gzip, zstd, xz and
//! bzip2. Layers take gzip and zstd (what OCI images use); tar streams
//! from users (`cp - CONTAINER:DIR`, `ADD` in a build) take all four, as
//! Docker does.

use std::io::{self, Read};

/// How a stream is compressed, by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Compression {
    /// The compression whose magic bytes start `m` (Plain for anything
    /// else, short streams too).
    pub fn of_magic(m: &[u8]) -> Compression {
        if m.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if m.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if m.starts_with(b"\xfd7zXZ\0") {
            Compression::Xz
        } else if m.len() >= MAGIC_LEN
            && m.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&m[3])
            && m[4..MAGIC_LEN] == [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]
        {
            Compression::Bzip2
        } else {
            Compression::Plain
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Plain => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

/// Bytes that tell the compressions apart (bzip2's block magic is the
/// longest).
const MAGIC_LEN: usize = 10;

/// The compression of `r`, and a reader that still yields every byte of
/// it (the sniffed ones first).
pub fn sniff<'a>(mut r: impl Read + Send + 'a) -> io::Result<(Compression, impl Read + Send + 'a)> {
    let mut magic = [0u8; MAGIC_LEN];
    let mut n = 0;
    while n < magic.len() {
        match r.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let m = magic[..n].to_vec();
    Ok((Compression::of_magic(&m), io::Cursor::new(m).chain(r)))
}

/// `stream` decompressed as `compression` says.
pub fn decoder<'a>(
    compression: Compression,
    stream: impl Read + Send + 'a,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    Ok(match compression {
        Compression::Plain => Box::new(stream),
        // Multi-member: some tools write a gzip stream as several members.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(stream)?),
        // Concatenated streams, as `xz` and `bzip2` read them.
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(stream)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(stream)),
    })
}

/// `r` decompressed, whichever of the four compressions (or none) it has.
pub fn decompress_any<'a>(r: impl Read + Send + 'a) -> io::Result<Box<dyn Read + Send + 'a>> {
    let (compression, stream) = sniff(r)?;
    decoder(compression, stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compressed(data: &[u8]) -> Vec<(Compression, Vec<u8>)> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(data).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(data).unwrap();
        vec![
            (Compression::Plain, data.to_vec()),
            (Compression::Gzip, gz.finish().unwrap()),
            (Compression::Zstd, zstd::encode_all(data, 3).unwrap()),
            (Compression::Xz, xz.finish().unwrap()),
            (Compression::Bzip2, bz.finish().unwrap()),
        ]
    }

    #[test]
    fn every_compression_is_told_by_its_magic_and_undone() {
        let data = b"some data, some data, some data".repeat(100);
        for (c, blob) in compressed(&data) {
            let (found, _) = sniff(&blob[..]).unwrap();
            assert_eq!(found, c);
            let mut out = Vec::new();
            decompress_any(&blob[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{}", c.name());
        }
    }

    #[test]
    fn short_and_empty_streams_pass_through() {
        for data in [&b""[..], b"ab", b"BZh9"] {
            let mut out = Vec::new();
            decompress_any(data).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }
}
