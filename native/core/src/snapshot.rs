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
//! The export streams to the writer ([`write_snapshot`]); no copy of it is
//! held in memory. Writing the file atomically (temporary file, fsync,
//! rename, directory fsync) is the adapters' part: this module does no I/O
//! beyond `Write` and byte slices.

use std::io::Write;

use crate::aggregate::{AggregateError, Aggregator};

const MAGIC: &[u8; 8] = b"TALLYSN\0";
const FORMAT_VERSION: u32 = 1;
const HEAD_BYTES: usize = 8 + 4 + 8;

/// Hashes what passes through to the inner writer, and counts it.
struct Hashing<W> {
    inner: W,
    hasher: xxhash_rust::xxh3::Xxh3,
    written: u64,
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
    let bad = AggregateError::BadExport;
    if bytes.len() < HEAD_BYTES + 8 {
        return Err(bad("snapshot truncated"));
    }
    if &bytes[..8] != MAGIC {
        return Err(bad("not a snapshot: wrong magic bytes"));
    }
    let (covered, sum) = bytes.split_at(bytes.len() - 8);
    if xxhash_rust::xxh3::xxh3_64(covered).to_le_bytes() != sum {
        return Err(bad("snapshot checksum mismatch"));
    }
    let word = |at: usize, n: usize| {
        bytes[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |a, &b| (a << 8) | b as u64)
    };
    if word(8, 4) != u64::from(FORMAT_VERSION) {
        return Err(bad("unsupported snapshot version"));
    }
    let extra_len = word(12, 8);
    let export_at = usize::try_from(extra_len)
        .ok()
        .and_then(|n| n.checked_add(HEAD_BYTES))
        .filter(|&end| end <= covered.len())
        .ok_or(bad("snapshot extra longer than the file"))?;
    let agg = Aggregator::restore(&covered[export_at..])?;
    Ok((agg, covered[HEAD_BYTES..export_at].to_vec()))
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
            assert!(read_snapshot(&damaged).is_err(), "bit {bit} flipped was read");
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
            assert!(
                Aggregator::restore(&damaged).is_err(),
                "bit {bit} flipped was restored"
            );
        }
        assert!(Aggregator::restore(&bytes).is_ok());
    }
}
