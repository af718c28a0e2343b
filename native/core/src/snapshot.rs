//! A shard's snapshot: its aggregator's export and an opaque `extra`
//! (the shard's source positions, written by the Erlang side) in one byte
//! stream, so that both are saved together and read back together.
//!
//! Layout (little-endian):
//!
//! ```text
//! "TALLYSN\0"  magic (8 bytes)
//! u32          format version (1)
//! u64          length of extra, then extra
//! ...          the aggregator's export (Aggregator::export: it ends with its own XXH3-64)
//! u64          XXH3-64 (seed 0) of every byte before it
//! ```
//!
//! The export streams to the writer ([`write_snapshot`]) and from the
//! reader ([`read_snapshot_from`]); no copy of it is held in memory. Writing the file atomically (temporary file, fsync,
//! rename, directory fsync) is the adapters' part: this module does no I/O
//! beyond `Write` and byte slices.

use std::io::{Read, Write};

use crate::aggregate::{AggregateError, Aggregator};

const MAGIC: &[u8; 8] = b"TALLYSN\0";
const FORMAT_VERSION: u32 = 1;
const HEAD_BYTES: usize = 8 + 4 + 8;

/// Hashes what passes through to the inner writer (or from the inner
/// reader), and counts it.
struct Hashing<W> {
    inner: W,
    hasher: xxhash_rust::xxh3::Xxh3,
    written: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the snapshot of `agg` with `extra` to `out`; returns the bytes written.
pub fn write_snapshot<W: Write>(agg: &Aggregator, extra: &[u8], out: W) -> std::io::Result<u64> {
    let mut w = Hashing {
        inner: out,
        hasher: xxhash_rust::xxh3::Xxh3::new(),
        written: 0,
    };
    w.write_all(MAGIC)?;
    w.write_all(&FORMAT_VERSION.to_le_bytes())?;
    w.write_all(&(extra.len() as u64).to_le_bytes())?;
    w.write_all(extra)?;
    agg.export_to(&mut w)?;
    let sum = w.hasher.digest();
    w.inner.write_all(&sum.to_le_bytes())?;
    w.inner.flush()?;
    Ok(w.written + 8)
}

/// The snapshot's bytes in memory (the pure engines' and the tests' form).
pub fn snapshot_bytes(agg: &Aggregator, extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot(agg, extra, &mut out).expect("writing to memory cannot fail");
    out
}

/// Reads a snapshot back: the aggregator and the extra bytes. A damaged
/// snapshot is refused (`BadExport("snapshot checksum mismatch")`, or the
/// reason its layout is wrong), never read into other numbers.
pub fn read_snapshot(bytes: &[u8]) -> Result<(Aggregator, Vec<u8>), AggregateError> {
    read_snapshot_from(bytes, bytes.len() as u64)
        .unwrap_or(Err(AggregateError::BadExport("snapshot truncated")))
}

/// [`read_snapshot`] from a reader of `len` bytes (a file), read once
/// through small buffers: the file's bytes are never held beside the
/// aggregator. Whatever else is wrong with a damaged snapshot, it is
/// refused as a checksum mismatch (checked once everything is read), as
/// the Gleam engine, which checks it first, refuses it. The outer error is
/// the reader's.
pub fn read_snapshot_from<S: Read>(
    src: S,
    len: u64,
) -> std::io::Result<Result<(Aggregator, Vec<u8>), AggregateError>> {
    let bad = |why| Ok(Err(AggregateError::BadExport(why)));
    if len < (HEAD_BYTES + 8) as u64 {
        return bad("snapshot truncated");
    }
    let mut h = Hashing {
        inner: src,
        hasher: xxhash_rust::xxh3::Xxh3::new(),
        written: 0,
    };
    let mut magic = [0u8; 8];
    h.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return bad("not a snapshot: wrong magic bytes");
    }
    let body = len - 8;
    let mut head = [0u8; 12];
    h.read_exact(&mut head)?;
    let version = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
    let extra_len = u64::from_le_bytes(head[4..].try_into().expect("8 bytes"));
    let outcome = if version != FORMAT_VERSION {
        Err(AggregateError::BadExport("unsupported snapshot version"))
    } else if extra_len > body - HEAD_BYTES as u64 {
        Err(AggregateError::BadExport("snapshot extra longer than the file"))
    } else {
        let mut extra = vec![0u8; extra_len as usize];
        h.read_exact(&mut extra)?;
        let export_len = body - HEAD_BYTES as u64 - extra_len;
        Aggregator::restore_from(&mut h, export_len)?.map(|agg| (agg, extra))
    };
    // The rest of what the checksum covers, then the checksum.
    let left = body - h.written;
    std::io::copy(&mut (&mut h).take(left), &mut std::io::sink())?;
    let mut sum = [0u8; 8];
    h.inner.read_exact(&mut sum)?;
    if h.hasher.digest().to_le_bytes() != sum {
        return bad("snapshot checksum mismatch");
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregatorConfig;
    use crate::event::EventRef;
    use crate::UsageEvent;

    fn aggregator(n: u64) -> Aggregator {
        let mut a = Aggregator::new(AggregatorConfig {
            rate_meters: vec!["bandwidth_out_bytes".into()],
            gauge_meters: vec!["storage_bytes".into()],
            ..AggregatorConfig::default()
        });
        for i in 0..n {
            a.apply(&EventRef::from(&UsageEvent {
                id: format!("e{i}"),
                source: "/s".into(),
                customer: format!("c{}", i % 7),
                resource: format!("r{}", i % 3),
                meter: ["requests", "bandwidth_out_bytes", "storage_bytes"][(i % 3) as usize].into(),
                value: i * 977 % 5000,
                time_ms: 1_790_812_800_000 + i as i64 * 3_600_000,
            }));
        }
        a
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let a = aggregator(200);
        let bytes = snapshot_bytes(&a, b"positions");
        let (b, extra) = read_snapshot(&bytes).unwrap();
        assert_eq!(extra, b"positions");
        assert_eq!(b.export(), a.export());
        let mut streamed = Vec::new();
        let n = write_snapshot(&a, b"positions", &mut streamed).unwrap();
        assert_eq!((n as usize, streamed), (bytes.len(), bytes));
        // An empty extra and an empty aggregator.
        let empty = Aggregator::new(AggregatorConfig::default());
        let (c, none) = read_snapshot(&snapshot_bytes(&empty, b"")).unwrap();
        assert!(none.is_empty());
        assert_eq!(c.export(), empty.export());
    }

    #[test]
    fn reads_from_a_reader_without_the_whole_file() {
        // Over 64 KiB, so the reader refills several times; read in 7-byte pieces.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(7).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let a = aggregator(3000);
        let bytes = snapshot_bytes(&a, b"pos");
        let (b, extra) = read_snapshot_from(Trickle(&bytes), bytes.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!((b.export(), extra), (a.export(), b"pos".to_vec()));
        // A file shorter than it said is the reader's error, not a damaged snapshot.
        let short = read_snapshot_from(Trickle(&bytes[..bytes.len() - 100]), bytes.len() as u64);
        assert_eq!(
            short.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::UnexpectedEof)
        );
    }

    #[test]
    fn streams_exports_bigger_than_its_buffer() {
        // Over 64 KiB of export, so the writer spills several times.
        let a = aggregator(3000);
        let whole = a.export();
        assert!(whole.len() > 3 * 64 * 1024, "{} bytes", whole.len());
        let mut streamed = Vec::new();
        assert_eq!(a.export_to(&mut streamed).unwrap(), whole.len() as u64);
        assert_eq!(streamed, whole);
    }

    #[test]
    fn every_single_bit_flip_is_refused() {
        let a = aggregator(40);
        let bytes = snapshot_bytes(&a, b"pos");
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            // The same reason the Gleam engine gives (it checks the sum first).
            let want = if bit < 64 {
                "not a snapshot: wrong magic bytes"
            } else {
                "snapshot checksum mismatch"
            };
            match read_snapshot(&damaged) {
                Err(AggregateError::BadExport(why)) => assert_eq!(why, want, "bit {bit}"),
                other => panic!("bit {bit} flipped: {:?}", other.map(|_| ())),
            }
        }
        for cut in 0..bytes.len() {
            assert!(read_snapshot(&bytes[..cut]).is_err(), "cut at {cut} was read");
        }
    }

    #[test]
    fn every_single_bit_flip_of_an_export_is_refused() {
        let a = aggregator(60);
        let bytes = a.export();
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let want = match bit {
                0..64 => "wrong magic bytes",
                64..96 => "unsupported format version",
                _ => "checksum mismatch",
            };
            match Aggregator::restore(&damaged) {
                Err(AggregateError::BadExport(why)) => assert_eq!(why, want, "bit {bit}"),
                other => panic!("bit {bit} flipped: {:?}", other.map(|_| ())),
            }
        }
        assert!(Aggregator::restore(&bytes).is_ok());
    }
}
