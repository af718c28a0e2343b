//! Snapshots that cost what changed: once an aggregator has been saved (or
//! loaded), it remembers what changed since — the windows counted into
//! (one bit per window), the 5-minute intervals and gauge samples touched,
//! the dedup digests added — and the next save can write only those: a
//! *delta*, appended to the snapshot's log (see `crate::snapshot`). A
//! delta holds current values (whole windows, whole intervals), so reading
//! it sets them: deltas apply in order over the base, each one exactly.
//!
//! Delta layout (little-endian; strings are u32 length + UTF-8; the frame
//! around it, with its length and checksum, is `crate::snapshot`'s):
//!
//! ```text
//! u64 + bytes   extra (the shard's positions)
//! 3 x u64       counters: applied, duplicates, late
//! u32 + i64s    closed periods (all of them)
//! u32 + events  late events (all of them, as in the export)
//! u32 + 3 strs  series new since the last save (numbered on from the files' count)
//! u32 + ...     windows changed: u32 series, i64 start, statistics (as in the export)
//! u32 + ...     rate groups: u32 series, i64 period, u32 k, k x (u32 interval, u128 bytes)
//! u32 + ...     sample groups: u32 series, i64 period, u32 k, k x (i64 time, u64 level)
//! u32 + ...     digest groups: i64 period, u32 k, k x u128
//! ```
//!
//! Series are numbered as in the files: the base's key order (the
//! export's), then series in the order deltas added them. The aggregator
//! keeps each series' file number (4 bytes a series) while it tracks.
//!
//! Memory while tracking: one bit per window, 8 bytes per rate event, 16
//! per gauge event and 16 per new digest since the last save (freed by
//! the save), so saves by amount of input keep it bounded.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::{rate_interval, AggregateError, Aggregator, Reader, Writer, GAUGE, NO_PERIOD, R, RATE};

/// What an aggregator remembers between saves. See the module documentation.
pub(crate) struct Tracking {
    /// The files it tracks, in the adapter's words (the base's path).
    pub target: String,
    /// XXH3-64 of the base file (its last 8 bytes), which the log's header names.
    pub base_sum: u64,
    pub base_len: u64,
    /// Bytes of the log holding its header and whole deltas (a torn tail
    /// after that is cut off by the next append); 0: the log must be
    /// started afresh before the next delta.
    pub log_len: u64,
    /// Each series' number in the files, for series the base holds
    /// (empty: the same as the aggregator's own numbers).
    file_index: Vec<u32>,
    /// Series the files hold (later ones are new in the next delta).
    files_series: u32,
    /// Bytes of series text the files hold (for [`Aggregator::live_bytes`]).
    series_bytes: u64,
    windows: Vec<u64>,
    rate: Vec<(u32, u32)>,
    samples: Vec<(u32, i64)>,
    digests: HashMap<i64, Vec<u128>, FixedState>,
}

impl Tracking {
    /// An event counted into window `slot` (and period data `period_slot`).
    #[inline]
    pub fn changed(&mut self, slot: u32, period_slot: u32, kind: u8, period: i64, time_ms: i64) {
        let word = slot as usize / 64;
        if word >= self.windows.len() {
            self.windows.resize((word + 1).max(self.windows.len() * 2), 0);
        }
        self.windows[word] |= 1 << (slot % 64);
        if period_slot != NO_PERIOD {
            if kind & RATE != 0 {
                let at = (period_slot, rate_interval(period, time_ms));
                if self.rate.last() != Some(&at) {
                    self.rate.push(at);
                }
            }
            if kind & GAUGE != 0 {
                self.samples.push((period_slot, time_ms));
            }
        }
    }

    /// A digest newly held for `period`.
    #[inline]
    pub fn digest(&mut self, period: i64, digest: u128) {
        self.digests.entry(period).or_default().push(digest);
    }

    /// Bytes its change lists hold (their entries, not their slack).
    pub(crate) fn held_bytes(&self) -> u64 {
        let digests: usize = self.digests.values().map(Vec::len).sum();
        (8 * self.windows.len() + 8 * self.rate.len() + 16 * self.samples.len() + 16 * digests) as u64
    }

    /// Each rate interval and sample time once, in order (as a delta
    /// writes them).
    fn compact(&mut self) {
        self.rate.sort_unstable();
        self.rate.dedup();
        self.samples.sort_unstable();
        self.samples.dedup();
    }

    fn file_series(&self, s: u32) -> u32 {
        self.file_index.get(s as usize).copied().unwrap_or(s)
    }
}

impl Aggregator {
    /// Whether the next save of `target` may be a delta of the files it was
    /// last saved to or loaded from.
    pub(crate) fn tracking(&self, target: &str) -> Option<&Tracking> {
        self.track.as_deref().filter(|t| t.target == target)
    }

    /// Keeps what tracking holds within the state's size: an event on a
    /// rate or gauge meter adds an entry each, so an aggregator counting
    /// for long without a save (a shadow pair's secondary, loaded from the
    /// files but never saved) would grow by 8-16 bytes an event. Compacted,
    /// the lists hold each interval and sample once: no more than the
    /// state itself.
    pub(crate) fn bound_tracking(&mut self) {
        let held = match self.track.as_deref() {
            Some(t) => t.held_bytes(),
            None => return,
        };
        if held > self.live_bytes() {
            if let Some(t) = self.track.as_deref_mut() {
                t.compact();
            }
        }
    }

    /// Starts tracking after a base was written (`canon`: each series'
    /// number in it) or read (`canon` empty: numbered as read).
    pub(crate) fn track_base(&mut self, target: &str, base_sum: u64, base_len: u64, canon: Vec<u32>) {
        let series_bytes = self.series_text(0..self.series.len() as u32);
        self.track = Some(Box::new(Tracking {
            target: target.to_string(),
            base_sum,
            base_len,
            log_len: 0,
            file_index: canon,
            files_series: self.series.len() as u32,
            series_bytes,
            windows: Vec::new(),
            rate: Vec::new(),
            samples: Vec::new(),
            digests: HashMap::with_hasher(FixedState::with_seed(4)),
        }));
    }

    pub(crate) fn track_mut(&mut self) -> Option<&mut Tracking> {
        self.track.as_deref_mut()
    }

    /// Its log is read up to `log_len` bytes: the series the deltas added are the files' too.
    pub(crate) fn track_loaded(&mut self, log_len: u64) {
        let series = self.series.len() as u32;
        let text = self.series_text(0..series);
        if let Some(t) = self.track.as_deref_mut() {
            (t.log_len, t.files_series, t.series_bytes) = (log_len, series, text);
        }
    }

    fn series_text(&self, range: std::ops::Range<u32>) -> u64 {
        range
            .map(|s| {
                let (c, r, m) = self.series.parts(s);
                (c.len() + r.len() + m.len()) as u64
            })
            .sum()
    }

    /// The series in key order and each one's place in it (a base's numbering).
    pub(crate) fn canonical_numbers(&self) -> Vec<u32> {
        self.canonical_order().1
    }

    /// About the bytes an export of this state takes (every count times its
    /// size in the export; distinct-value sets left out): the files are
    /// compacted when they hold much more than this.
    pub(crate) fn live_bytes(&self) -> u64 {
        let t = self.track.as_deref();
        let series = self.series.len() as u64;
        let digests: u64 = self.seen.values().map(|d| d.len() as u64).sum();
        128 + t.map_or(0, |t| t.series_bytes)
            + 12 * series
            + 61 * self.windows.len() as u64
            + 20 * self.periods.len() as u64
            + 20 * self.periods.intervals
            + 16 * self.periods.samples
            + 12 * self.seen.len() as u64
            + 16 * digests
            + 8 * self.closed.len() as u64
            + 60 * self.late.len() as u64
    }

    /// Writes the delta since the last save with `extra` (the frame's
    /// length first, its checksum last) to `out`; returns the bytes
    /// written. Changes nothing: [`Self::delta_saved`] does, once the
    /// delta is durable.
    pub(crate) fn write_delta<W: std::io::Write>(&mut self, extra: &[u8], out: W) -> std::io::Result<u64> {
        if let Some(t) = self.track.as_deref_mut() {
            // Sorted (and each once), so that a delta is the same bytes for
            // the same changes, and groups are contiguous.
            t.compact();
        }
        let t = self.track.as_deref().expect("write_delta needs tracking");
        // Twice: once to count its length (which comes first), once to write.
        let counted = Writer::new(std::io::sink(), super::SPILL_BYTES, super::SPILL_BYTES + 1024);
        let (_, _, total) = self.delta_body(t, extra, 0, counted)?;
        let w = Writer::new(out, super::SPILL_BYTES, super::SPILL_BYTES + 1024);
        let (_, _, n) = self.delta_body(t, extra, total - 16, w)?;
        Ok(n)
    }

    fn delta_body<W: std::io::Write>(
        &self,
        t: &Tracking,
        extra: &[u8],
        body_len: u64,
        mut w: Writer<W>,
    ) -> std::io::Result<(W, Vec<u8>, u64)> {
        w.u64(body_len);
        w.u64(extra.len() as u64);
        w.bytes(extra);
        w.u64(self.counters.applied);
        w.u64(self.counters.duplicates);
        w.u64(self.counters.late);
        w.closed_and_late(&self.closed, &self.late);
        let new = t.files_series..self.series.len() as u32;
        w.u32(new.len() as u32);
        for s in new {
            let (c, r, m) = self.series.parts(s);
            w.str(c);
            w.str(r);
            w.str(m);
        }
        let changed = || {
            t.windows.iter().enumerate().flat_map(|(i, &word)| {
                (0..64u32)
                    .filter(move |b| word & (1 << b) != 0)
                    .map(move |b| i as u32 * 64 + b)
            })
        };
        w.u32(changed().count() as u32);
        for slot in changed() {
            let (s, start) = self.windows.key(slot);
            w.u32(t.file_series(s));
            w.i64(start);
            w.window(&self.windows.get(slot));
        }
        // Rate intervals and samples, grouped by their (series, period) slot.
        let groups = |items: &[(u32, u32)]| -> Vec<(u32, usize, usize)> {
            let mut out = Vec::new();
            let mut i = 0;
            while i < items.len() {
                let j = i + items[i..].iter().take_while(|x| x.0 == items[i].0).count();
                out.push((items[i].0, i, j));
                i = j;
            }
            out
        };
        let rate = groups(&t.rate);
        w.u32(rate.len() as u32);
        for (slot, i, j) in rate {
            let ((s, period), ps) = self.periods.at(slot);
            w.u32(t.file_series(s));
            w.i64(period);
            w.u32((j - i) as u32);
            for &(_, interval) in &t.rate[i..j] {
                w.u32(interval);
                w.u128(ps.rate.get(interval).unwrap_or(0));
            }
        }
        let slots: Vec<(u32, u32)> = t.samples.iter().map(|&(slot, _)| (slot, 0)).collect();
        let samples = groups(&slots);
        w.u32(samples.len() as u32);
        for (slot, i, j) in samples {
            let ((s, period), ps) = self.periods.at(slot);
            w.u32(t.file_series(s));
            w.i64(period);
            w.u32((j - i) as u32);
            for &(_, time) in &t.samples[i..j] {
                w.i64(time);
                w.u64(ps.samples.get(&time).copied().unwrap_or(0));
            }
        }
        // Digests of periods still open (a closed period's were dropped).
        let mut periods: Vec<i64> = t
            .digests
            .keys()
            .copied()
            .filter(|p| self.seen.contains_key(p))
            .collect();
        periods.sort_unstable();
        w.u32(periods.len() as u32);
        for p in periods {
            let d = &t.digests[&p];
            w.i64(p);
            w.u32(d.len() as u32);
            for &v in d {
                w.u128(v);
            }
        }
        w.finish()
    }

    /// A delta of `bytes` (a whole frame) is durable in the log: forget
    /// what it holds.
    pub(crate) fn delta_saved(&mut self, bytes: u64) {
        let series = self.series.len() as u32;
        let new_text = self.series_text(self.track.as_ref().map_or(series, |t| t.files_series)..series);
        if let Some(t) = self.track.as_deref_mut() {
            t.log_len += bytes;
            t.files_series = series;
            t.series_bytes += new_text;
            // Fresh vectors, not cleared ones: their memory goes back.
            t.windows = Vec::new();
            t.rate = Vec::new();
            t.samples = Vec::new();
            t.digests = HashMap::with_hasher(FixedState::with_seed(4));
        }
    }

    /// Applies a delta's body (after its length, checksum checked by the
    /// caller); returns its extra. Every reference is checked.
    pub(crate) fn apply_delta(&mut self, body: &[u8]) -> R<Vec<u8>> {
        let mut r = Reader::new(body, body.len());
        let n = r.u64()?;
        if n > r.remaining() as u64 {
            return Err(AggregateError::BadExport("count larger than the data"));
        }
        let mut extra = vec![0u8; n as usize];
        r.fill(&mut extra)?;
        self.counters.applied = r.u64()?;
        self.counters.duplicates = r.u64()?;
        self.counters.late = r.u64()?;
        let (closed, late) = r.closed_and_late()?;
        for _ in 0..r.count(12)? {
            let (c, res, m) = (r.str()?, r.str()?, r.str()?);
            let before = self.series.len();
            self.series_index(&c, &res, &m);
            if self.series.len() == before {
                return Err(AggregateError::BadExport("duplicate series"));
            }
        }
        let series = self.series.len() as u32;
        let series_ok = |s: u32| -> R<u32> {
            if s < series {
                Ok(s)
            } else {
                Err(AggregateError::BadExport("unknown series"))
            }
        };
        for _ in 0..r.count(61)? {
            let key = (series_ok(r.u32()?)?, r.i64()?);
            let st = r.window()?;
            self.windows.set(key, st);
        }
        for _ in 0..r.count(16)? {
            let key = (series_ok(r.u32()?)?, r.i64()?);
            for _ in 0..r.count(20)? {
                let (interval, bytes) = (r.u32()?, r.u128()?);
                self.periods.set_rate(key, interval, bytes);
            }
        }
        for _ in 0..r.count(16)? {
            let key = (series_ok(r.u32()?)?, r.i64()?);
            for _ in 0..r.count(16)? {
                let (time, level) = (r.i64()?, r.u64()?);
                self.periods.set_sample(key, time, level);
            }
        }
        for _ in 0..r.count(12)? {
            let p = r.i64()?;
            let k = r.count(16)?;
            let set = self.seen.entry(p).or_default();
            for _ in 0..k {
                set.insert(r.u128()?);
            }
        }
        if r.remaining() != 0 {
            return Err(AggregateError::BadExport("trailing bytes"));
        }
        for p in &closed {
            self.seen.remove(p);
        }
        self.closed = closed;
        self.late = late;
        self.spot = super::Spot::NONE;
        Ok(extra)
    }
}
