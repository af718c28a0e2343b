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
//!
//! ## Snapshots that cost what changed: a base and its log
//!
//! [`save`] writes the snapshot above (the *base*) only when it must; most
//! saves append a *delta* (what changed since the last save, with the
//! extra: see `aggregate::delta`) to the base's *log*, a second file:
//!
//! ```text
//! "TALLYSL\0"  magic (8 bytes)
//! u32          log format version (1)
//! u64          the base's checksum (its last 8 bytes): the base this log extends
//! frames       u64 length, the delta (length bytes), u64 XXH3-64 of length and delta
//! ```
//!
//! A new base is written (atomically) when the aggregator has not been
//! saved to these files before (a fresh or restored aggregator, a merge),
//! or when base and log together would exceed twice the state's size
//! (compaction); its log is then started afresh (atomically). Each delta
//! is appended and fsynced; the next one is appended after the last whole
//! one, so a torn tail is cut off. [`load_from`] reads the base, then the
//! deltas in order up to the first that is incomplete or fails its
//! checksum: that is a write a crash cut off (its tail may read as
//! anything, zeros included), and the log ends before it. Each delta
//! carries its extra, so what is loaded is exactly a state that was saved
//! with its own source positions: input after it is read again. A log
//! naming another base is stale (a crash between the new base and its new
//! log) and is ignored; a damaged base or log header is refused. So a
//! crash at any point leaves files that load to the last state saved.

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
    Ok(write_snapshot_summed(agg, extra, out)?.0)
}

/// [`write_snapshot`], also returning the checksum it ends with.
fn write_snapshot_summed<W: Write>(agg: &Aggregator, extra: &[u8], out: W) -> std::io::Result<(u64, u64)> {
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
    Ok((w.written + 8, sum))
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
    Ok(read_snapshot_summed(src, len)?.map(|(agg, extra, _)| (agg, extra)))
}

/// An aggregator, the extra saved with it, and the checksum its base ends with.
type Summed = (Aggregator, Vec<u8>, u64);

/// [`read_snapshot_from`], also returning the checksum the file ends with.
fn read_snapshot_summed<S: Read>(src: S, len: u64) -> std::io::Result<Result<Summed, AggregateError>> {
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
    Ok(outcome.map(|(agg, extra)| (agg, extra, u64::from_le_bytes(sum))))
}

const LOG_MAGIC: &[u8; 8] = b"TALLYSL\0";
const LOG_VERSION: u32 = 1;
/// Bytes of a log's header.
pub const LOG_HEADER_BYTES: u64 = 8 + 4 + 8;

fn log_header(base_sum: u64) -> Vec<u8> {
    let mut h = LOG_MAGIC.to_vec();
    h.extend_from_slice(&LOG_VERSION.to_le_bytes());
    h.extend_from_slice(&base_sum.to_le_bytes());
    h
}

/// Where a snapshot's base and log live: the adapters' files (or memory,
/// in tests). Each method is all or nothing as far as [`load_from`] can
/// tell: `replace_base` and `reset_log` replace their file atomically,
/// `append_log` cuts the log to `at` bytes, appends and syncs (a crash
/// leaves at most a torn last frame).
pub trait SnapshotStore {
    /// Replaces the base with what `write` writes; returns its bytes.
    fn replace_base(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64>;
    /// Replaces the log with `header` alone.
    fn reset_log(&mut self, header: &[u8]) -> std::io::Result<()>;
    /// Cuts the log to `at` bytes and appends what `write` writes; returns its bytes.
    fn append_log(
        &mut self,
        at: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64>;
}

/// What one [`save`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Bytes written, base or delta (and a new log's header).
    pub bytes: u64,
    /// Whether a whole base was written (else a delta was appended).
    pub base: bool,
}

/// Saves `agg` with `extra` to the snapshot files `target` names (the
/// adapter's name for `store`): a delta of what changed since its last
/// save to the same files, or a new base (see the module documentation).
/// On an error nothing the files load to has changed, and the aggregator
/// still holds every change for the next save.
pub fn save(
    agg: &mut Aggregator,
    target: &str,
    extra: &[u8],
    store: &mut dyn SnapshotStore,
) -> std::io::Result<Saved> {
    if let Some(t) = agg.tracking(target) {
        let (files, log_len, base_sum) = (t.base_len + t.log_len, t.log_len, t.base_sum);
        let mut counted = 0;
        agg.write_delta(extra, Counting(&mut counted))?;
        if files + counted <= 2 * agg.live_bytes() {
            let mut header = 0;
            if log_len < LOG_HEADER_BYTES {
                let h = log_header(base_sum);
                store.reset_log(&h)?;
                header = h.len() as u64;
                agg.track_mut().expect("tracking").log_len = header;
            }
            let at = header.max(log_len);
            let n = store.append_log(at, &mut |w| agg.write_delta(extra, w))?;
            agg.delta_saved(n);
            return Ok(Saved {
                bytes: header + n,
                base: false,
            });
        }
    }
    let mut sum = 0;
    let n = store.replace_base(&mut |w| {
        let (n, s) = write_snapshot_summed(agg, extra, w)?;
        sum = s;
        Ok(n)
    })?;
    let canon = agg.canonical_numbers();
    agg.track_base(target, sum, n, canon);
    // A log that fails to start now is stale (it names the old base): it is
    // ignored on load, and started again before the next delta.
    let h = log_header(sum);
    if store.reset_log(&h).is_ok() {
        agg.track_mut().expect("tracking").log_len = h.len() as u64;
        return Ok(Saved {
            bytes: n + h.len() as u64,
            base: true,
        });
    }
    Ok(Saved { bytes: n, base: true })
}

/// Counts the bytes written through it (a delta's size, before writing it).
struct Counting<'a>(&'a mut u64);

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what [`save`] saved: the base (`len` bytes from `base`), then the
/// deltas of its log (`log`, when there is one: the reader and its
/// length); the aggregator (tracking these files as `target`, so its next
/// save appends) and the extra of the last delta read (or the base's).
/// The outer error is the readers'.
pub fn load_from<B: Read, L: Read>(
    target: &str,
    base: B,
    base_len: u64,
    log: Option<(L, u64)>,
) -> std::io::Result<Result<(Aggregator, Vec<u8>), AggregateError>> {
    let (mut agg, mut extra, sum) = match read_snapshot_summed(base, base_len)? {
        Ok(read) => read,
        Err(e) => return Ok(Err(e)),
    };
    agg.track_base(target, sum, base_len, Vec::new());
    let Some((mut log, log_len)) = log else {
        return Ok(Ok((agg, extra)));
    };
    let damaged = || Ok(Err(AggregateError::BadExport("snapshot log damaged")));
    if log_len < LOG_HEADER_BYTES {
        return damaged();
    }
    let mut header = [0u8; LOG_HEADER_BYTES as usize];
    log.read_exact(&mut header)?;
    if &header[..8] != LOG_MAGIC || header[8..12] != LOG_VERSION.to_le_bytes() {
        return damaged();
    }
    if header[12..] != sum.to_le_bytes() {
        // Stale: the log of an earlier base.
        return Ok(Ok((agg, extra)));
    }
    let mut at = LOG_HEADER_BYTES;
    loop {
        let left = log_len - at;
        if left < 16 {
            break; // the end, or a torn length
        }
        let mut len = [0u8; 8];
        log.read_exact(&mut len)?;
        let body_len = u64::from_le_bytes(len);
        if body_len > left - 16 {
            break; // torn: the frame runs past the end
        }
        let mut body = vec![0u8; body_len as usize];
        log.read_exact(&mut body)?;
        let mut sum = [0u8; 8];
        log.read_exact(&mut sum)?;
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&len);
        h.update(&body);
        if h.digest().to_le_bytes() != sum {
            // Cut off by a crash (whose tail may read as anything, zeros
            // included, its length too): the log ends before it.
            break;
        }
        match agg.apply_delta(&body) {
            Ok(e) => extra = e,
            Err(e) => return Ok(Err(e)),
        }
        at += 16 + body_len;
    }
    agg.track_loaded(at);
    Ok(Ok((agg, extra)))
}

/// The adapters' snapshot files (`tally_interop`'s `SnapshotFiles`: the
/// base at a path, its log beside it).
#[cfg(feature = "gleam")]
impl SnapshotStore for tally_interop::files::SnapshotFiles {
    fn replace_base(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64> {
        tally_interop::files::SnapshotFiles::replace_base(self, write)
    }
    fn reset_log(&mut self, header: &[u8]) -> std::io::Result<()> {
        tally_interop::files::SnapshotFiles::reset_log(self, header)
    }
    fn append_log(
        &mut self,
        at: u64,
        write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64> {
        tally_interop::files::SnapshotFiles::append_log(self, at, write)
    }
}

/// [`save`] to the snapshot files at `path` (created with `mode`).
#[cfg(feature = "gleam")]
pub fn save_files(agg: &mut Aggregator, path: &str, mode: u32, extra: &[u8]) -> std::io::Result<Saved> {
    let mut files = tally_interop::files::SnapshotFiles::new(std::path::Path::new(path), mode);
    save(agg, path, extra, &mut files)
}

/// [`load_from`] the snapshot files at `path`.
#[cfg(feature = "gleam")]
pub fn load_files(path: &str) -> std::io::Result<Result<(Aggregator, Vec<u8>), AggregateError>> {
    let files = tally_interop::files::SnapshotFiles::new(std::path::Path::new(path), 0o600);
    let ((base, base_len), log) = files.open()?;
    load_from(path, std::io::BufReader::new(base), base_len, log)
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

    /// Snapshot files in memory that can crash: after `budget` more bytes
    /// every write stops with an error, leaving what an OS would (an
    /// atomic replacement not done; an append cut off, its tail zeros when
    /// `zero_tail`).
    #[derive(Default, Clone)]
    struct MemFiles {
        base: Option<Vec<u8>>,
        log: Option<Vec<u8>>,
        budget: Option<usize>,
        zero_tail: bool,
        /// Bytes written by each store call, in order.
        writes: Vec<usize>,
    }

    impl MemFiles {
        /// `bytes`, or as many as the budget allows and an error.
        fn spend(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.writes.push(bytes.len());
            match self.budget {
                Some(b) if b < bytes.len() => {
                    self.budget = Some(0);
                    Err(std::io::Error::other("crash"))
                }
                Some(b) => {
                    self.budget = Some(b - bytes.len());
                    Ok(())
                }
                None => Ok(()),
            }
        }
        fn load(&self) -> Result<(Aggregator, Vec<u8>), AggregateError> {
            let base = self.base.as_deref().expect("a base");
            let log = self.log.as_deref().map(|l| (l, l.len() as u64));
            load_from("mem", base, base.len() as u64, log).unwrap()
        }
    }

    impl SnapshotStore for MemFiles {
        fn replace_base(
            &mut self,
            write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
        ) -> std::io::Result<u64> {
            let mut bytes = Vec::new();
            let n = write(&mut bytes)?;
            self.spend(&bytes)?;
            self.base = Some(bytes);
            Ok(n)
        }
        fn reset_log(&mut self, header: &[u8]) -> std::io::Result<()> {
            self.spend(header)?;
            self.log = Some(header.to_vec());
            Ok(())
        }
        fn append_log(
            &mut self,
            at: u64,
            write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
        ) -> std::io::Result<u64> {
            let mut bytes = Vec::new();
            let n = write(&mut bytes)?;
            let log = self.log.as_mut().expect("a log");
            log.truncate(at as usize);
            let kept = match self.budget {
                Some(b) if b < bytes.len() => b,
                _ => bytes.len(),
            };
            log.extend_from_slice(&bytes[..kept]);
            if self.zero_tail && kept < bytes.len() {
                log.resize(at as usize + bytes.len(), 0);
            }
            self.spend(&bytes)?;
            Ok(n)
        }
    }

    fn tracked_config() -> AggregatorConfig {
        AggregatorConfig {
            unique_meters: vec!["requests".into()],
            ..AggregatorConfig::default()
        }
    }

    /// Counts `events` in `steps` steps, saving after each (extra: the
    /// step's number), closing October and taking its late events half
    /// way; stops at the first save that fails. Returns the export after
    /// each save that succeeded, and whether saves wrote bases and deltas.
    fn run(files: &mut MemFiles, events: &[UsageEvent], steps: usize) -> (Vec<Vec<u8>>, bool, bool) {
        let mut a = Aggregator::new(tracked_config());
        let (mut saved, mut bases, mut deltas) = (Vec::new(), false, false);
        for (i, chunk) in events.chunks(events.len().div_ceil(steps)).enumerate() {
            a.apply_all(chunk);
            if i == steps / 2 {
                a.close_period(parse_period("2026-10").unwrap());
                let _ = a.take_late();
            }
            match save(&mut a, "mem", &(i as u32).to_le_bytes(), files) {
                Ok(s) => {
                    (bases, deltas) = (bases || s.base, deltas || !s.base);
                    saved.push(a.export());
                }
                Err(_) => break,
            }
        }
        (saved, bases, deltas)
    }

    use crate::aggregate::parse_period;
    use crate::event::test_events;

    #[test]
    fn a_delta_applies_to_exactly_the_state_saved() {
        let events = test_events(3000);
        let mut files = MemFiles::default();
        let (saved, bases, deltas) = run(&mut files, &events, 12);
        assert_eq!(saved.len(), 12);
        assert!(bases && deltas, "both kinds of save were made");
        let (b, extra) = files.load().unwrap();
        assert_eq!(
            (b.export(), extra),
            (saved[11].clone(), 11u32.to_le_bytes().to_vec())
        );
        // Every save that wrote a delta wrote less than the state.
        let written: usize = files.writes.iter().sum();
        let final_size = files.base.as_ref().unwrap().len() + files.log.as_ref().unwrap().len();
        assert!(
            written < 2 * final_size,
            "{written} bytes written for {final_size}"
        );
    }

    #[test]
    fn a_crash_at_any_point_loads_the_last_state_saved() {
        let events = test_events(500);
        let mut clean = MemFiles::default();
        run(&mut clean, &events, 6);
        // Crash points: around every write's start and end, and a stride through all.
        let total: usize = clean.writes.iter().sum();
        let mut points: Vec<usize> = (0..total).step_by(1009).collect();
        let mut at = 0;
        for w in &clean.writes {
            for d in [0, 1, 8, 17, w / 2] {
                points.extend([at + d, (at + w).saturating_sub(d)]);
            }
            at += w;
        }
        points.sort_unstable();
        points.dedup();
        for zero_tail in [false, true] {
            for &budget in &points {
                let mut files = MemFiles {
                    budget: Some(budget),
                    zero_tail,
                    ..MemFiles::default()
                };
                let (saved, _, _) = run(&mut files, &events, 6);
                let Some(last) = saved.last() else {
                    continue; // nothing was saved
                };
                let (b, extra) = files.load().unwrap_or_else(|e| panic!("crash at {budget}: {e}"));
                let want = ((saved.len() - 1) as u32).to_le_bytes().to_vec();
                assert_eq!((&b.export(), &extra), (last, &want), "crash at {budget}");
                // Saving on from what was loaded appends after the torn tail.
                let (mut b, _) = files.load().unwrap();
                files.budget = None;
                b.apply_all(&events[..100]);
                save(&mut b, "mem", b"on", &mut files).unwrap();
                let (c, extra) = files.load().unwrap();
                assert_eq!(
                    (c.export(), extra),
                    (b.export(), b"on".to_vec()),
                    "crash at {budget}"
                );
            }
        }
    }

    #[test]
    fn a_damaged_log_is_refused_or_read_as_an_earlier_save() {
        let events = test_events(120);
        let mut files = MemFiles::default();
        let (saved, _, deltas) = run(&mut files, &events, 4);
        assert!(deltas);
        let log = files.log.clone().unwrap();
        // Every bit of the header and of each frame's length, and a stride through the rest.
        for bit in (0..log.len() * 8).filter(|b| b % 13 == 0 || b / 8 < 28) {
            let mut damaged = files.clone();
            damaged.log.as_mut().unwrap()[bit / 8] ^= 1 << (bit % 8);
            match damaged.load() {
                Err(AggregateError::BadExport(_)) => {}
                Err(e) => panic!("bit {bit}: {e}"),
                Ok((b, extra)) => {
                    // Never other numbers: exactly an earlier save, with its extra.
                    let i = u32::from_le_bytes(extra[..4].try_into().unwrap()) as usize;
                    assert_eq!(b.export(), saved[i], "bit {bit}");
                }
            }
        }
    }

    #[test]
    fn a_stale_log_is_ignored_and_a_new_aggregator_writes_a_base() {
        let events = test_events(600);
        let mut files = MemFiles::default();
        run(&mut files, &events, 4);
        let old_log = files.log.clone();
        // A fresh aggregator saving to the same files writes a base.
        let mut a = Aggregator::new(tracked_config());
        a.apply_all(&events[..50]);
        assert!(save(&mut a, "mem", b"fresh", &mut files).unwrap().base);
        // A crash before its new log: the old log names the old base.
        files.log = old_log;
        let (b, extra) = files.load().unwrap();
        assert_eq!((b.export(), extra), (a.export(), b"fresh".to_vec()));
        // Saved to other files, an aggregator writes a base there too.
        let mut other = MemFiles::default();
        let mut b = b;
        assert!(save(&mut b, "other", b"x", &mut other).unwrap().base);
    }

    #[test]
    fn tracking_never_holds_more_than_the_state_without_a_save() {
        // One rate series and one gauge series, counted for long after a
        // save with no save since (a shadow pair's secondary): what tracking
        // holds stays within the state's size, and the delta saved at last
        // is exactly the state.
        let mut files = MemFiles::default();
        let mut a = Aggregator::new(tracked_config());
        save(&mut a, "mem", b"", &mut files).unwrap();
        let start = parse_period("2026-10").unwrap();
        let event = |i: u64, meter: &str| UsageEvent {
            id: format!("{meter}-{i}"),
            source: "s".into(),
            customer: "c".into(),
            resource: "r".into(),
            meter: meter.into(),
            value: i,
            // Back and forth over one hour: no two neighbours in one interval.
            time_ms: start + (i % 2) as i64 * 1_800_000 + (i % 7) as i64 * 300_000,
        };
        for round in 0..40u64 {
            let events: Vec<UsageEvent> = (round * 1000..(round + 1) * 1000)
                .flat_map(|i| [event(i, "bandwidth_out_bytes"), event(i, "storage_bytes")])
                .collect();
            a.apply_all(&events);
            let t = a.tracking("mem").expect("tracked");
            assert!(
                t.held_bytes() <= a.live_bytes() + 16_000 * 2,
                "round {round}: tracking holds {} bytes for a state of {}",
                t.held_bytes(),
                a.live_bytes()
            );
        }
        let saved = save(&mut a, "mem", b"last", &mut files).unwrap();
        assert!(!saved.base, "still a delta");
        let (b, extra) = files.load().unwrap();
        assert_eq!((b.export(), extra), (a.export(), b"last".to_vec()));
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
