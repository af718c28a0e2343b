//! The series of an aggregator: each distinct (customer, resource, meter)
//! gets a dense number. Finding a series is the hot path of aggregation
//! (once per event), and with many keys it is bound by memory latency, not
//! by work: so the table is laid out for the fewest cache lines per lookup,
//! and for prefetching a batch of events ahead
//! ([`SeriesTable::prefetch_entry`], [`SeriesTable::peek_index`], then
//! [`SeriesTable::peek`]: two dependent loads, each requested ahead).
//!
//! The series are records of 48 bytes in number order, found through an
//! index: open addressing with linear probing over 8-byte slots (part of
//! the key's hash and the series' number), kept at most three quarters
//! full (11-21 bytes a series; 16-32 at half full), so the slot a key
//! starts probing at is computable from its hash alone, and the slot that
//! answers is almost always in the same cache line (eight slots a line).
//! (The records were the table's entries once: half empty, 64 bytes each,
//! they took two to four times a record's memory per series.) A record
//! holds all the hot path needs: the series' kind and last window and
//! period slots, and the key itself when it is short: the customer and
//! resource text (up to [`INLINE`] bytes, which real keys mostly are) and
//! the meter as its number in a list of the meters seen (an aggregator
//! sees a handful of meters, and each series repeated one: 64-byte records
//! with the meter's text in them held the same keys). Longer keys lie in
//! one contiguous arena. A new series costs no allocation of its own.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::aggregate::SeriesKey;
use crate::prefetch::prefetch;

/// No slot (of a window, or of period data) remembered yet.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// Longest customer + resource (in bytes) kept in a record.
const INLINE: usize = 30;

/// Meters numbered at most (a record's meter number is 16 bits; a key of
/// a meter past these lies in the arena whole).
const MAX_METERS: usize = u16::MAX as usize;

/// One series. (Named for what the aggregator uses it for: the record of
/// a series.)
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct SeriesRec {
    /// The window this series last counted in, in hours since the epoch
    /// (every window starts on the hour), and that window's slot.
    last_hour: i32,
    last_slot: u32,
    /// The slot of the (series, period) billing data it last added to
    /// (checked against the slot's key before use; `NO_SLOT` for none).
    pub last_period_slot: u32,
    /// RATE | GAUGE | UNIQUE bits (see aggregate.rs).
    pub kind: u8,
    /// Whether the key is in `text` and `meter` (else `text` says where
    /// in the arena).
    inline: bool,
    /// Lengths of customer and resource when inline.
    inline_lens: [u8; 2],
    /// The meter's number when inline.
    meter: u16,
    /// Customer and resource text when inline; otherwise the arena offset
    /// (8 bytes, LE) and the three lengths (4 bytes each, LE).
    text: [u8; INLINE],
}

// 48 bytes: the text budget above is what the fields leave.
const _: () = assert!(std::mem::size_of::<SeriesRec>() == 48);

const BLANK: SeriesRec = SeriesRec {
    last_hour: 0,
    last_slot: NO_SLOT,
    last_period_slot: NO_SLOT,
    kind: 0,
    inline: false,
    inline_lens: [0; 2],
    meter: 0,
    text: [0; INLINE],
};

impl SeriesRec {
    /// The slot of the window starting at `hour` (hours since the epoch),
    /// if it is the one this series last counted in.
    #[inline]
    pub fn cached_slot(&self, hour: Option<i32>) -> Option<u32> {
        (self.last_slot != NO_SLOT && hour == Some(self.last_hour)).then_some(self.last_slot)
    }

    /// Remembers the window starting at `hour` as the last, in `slot`
    /// (`None`: a window too far from the epoch to be remembered).
    #[inline]
    pub fn remember(&mut self, hour: Option<i32>, slot: u32) {
        match hour {
            Some(hour) => (self.last_hour, self.last_slot) = (hour, slot),
            None => self.last_slot = NO_SLOT,
        }
    }

    /// Where an out-of-line key lies in the arena: offset and lengths.
    fn span(&self) -> (usize, [usize; 3]) {
        let word = |i: usize| u32::from_le_bytes(self.text[i..i + 4].try_into().unwrap()) as usize;
        (
            u64::from_le_bytes(self.text[..8].try_into().unwrap()) as usize,
            [word(8), word(12), word(16)],
        )
    }
}

/// An index slot: the upper 32 bits of the key's hash, and the series'
/// number + 1 (0 where the slot is empty).
#[derive(Clone, Copy, Default)]
struct Slot {
    tag: u32,
    id1: u32,
}

pub(crate) struct SeriesTable {
    index: Vec<Slot>,
    /// The series, by number.
    recs: Vec<SeriesRec>,
    /// The text of keys too long to be inline.
    arena: String,
    /// The meters of inline keys, by number, and each one's number.
    meters: Vec<Box<str>>,
    meter_ids: HashMap<Box<str>, u16, FixedState>,
}

const MIN_SLOTS: usize = 64;

impl SeriesTable {
    pub fn new() -> Self {
        SeriesTable {
            index: vec![Slot::default(); MIN_SLOTS],
            recs: Vec::new(),
            arena: String::new(),
            meters: Vec::new(),
            meter_ids: HashMap::with_hasher(FixedState::with_seed(8)),
        }
    }

    #[inline]
    pub fn hash(&self, customer: &str, resource: &str, meter: &str) -> u64 {
        key_hash(customer.as_bytes(), resource.as_bytes(), meter.as_bytes())
    }

    #[inline]
    fn mask(&self) -> usize {
        self.index.len() - 1
    }

    /// Starts loading the index slot where probing for `hash` begins.
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        prefetch(&self.index[hash as usize & self.mask()]);
    }

    /// The number of the first series whose hash could be `hash`, and
    /// starts loading its record (call it once [`Self::prefetch_entry`]
    /// has had time to load the slot; then [`Self::peek`] the number).
    #[inline]
    pub fn peek_index(&self, hash: u64) -> Option<u32> {
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & self.mask();
        loop {
            let e = self.index[i];
            if e.id1 == 0 {
                return None;
            }
            if e.tag == tag {
                // 48 bytes: in one cache line or across two.
                let rec = &self.recs[(e.id1 - 1) as usize];
                prefetch(rec);
                prefetch((rec as *const SeriesRec as *const u8).wrapping_add(47));
                return Some(e.id1 - 1);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// The slots of the window and of the period data series `id` last
    /// used (for prefetching them: this reads the record, so call it once
    /// [`Self::peek_index`] has had time to load it). An out-of-line key's
    /// text is prefetched too.
    #[inline]
    pub fn peek(&self, id: u32) -> (u32, u32) {
        let e = &self.recs[id as usize];
        if !e.inline {
            prefetch(self.arena.as_ptr().wrapping_add(e.span().0));
        }
        (e.last_slot, e.last_period_slot)
    }

    /// The number and record of the series, made (with `kind(meter)`) when
    /// new. `hash` is [`Self::hash`] of the same three texts.
    #[inline]
    pub fn find_or_insert(
        &mut self,
        hash: u64,
        customer: &str,
        resource: &str,
        meter: &str,
        kind: impl FnOnce(&str) -> u8,
    ) -> (u32, &mut SeriesRec) {
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & self.mask();
        loop {
            let e = self.index[i];
            if e.id1 == 0 {
                break;
            }
            if e.tag == tag && self.holds(&self.recs[(e.id1 - 1) as usize], customer, resource, meter) {
                return (e.id1 - 1, &mut self.recs[(e.id1 - 1) as usize]);
            }
            i = (i + 1) & self.mask();
        }
        self.insert(i, tag, customer, resource, meter, kind(meter))
    }

    /// Whether record `e` is the series of these three texts.
    #[inline(always)]
    fn holds(&self, e: &SeriesRec, customer: &str, resource: &str, meter: &str) -> bool {
        let (c, r, m) = self.raw(e);
        c.len() == customer.len()
            && r.len() == resource.len()
            && m.len() == meter.len()
            && same_bytes(c, customer.as_bytes())
            && same_bytes(r, resource.as_bytes())
            && same_bytes(m, meter.as_bytes())
    }

    #[cold]
    fn insert(
        &mut self,
        i: usize,
        tag: u32,
        customer: &str,
        resource: &str,
        meter: &str,
        kind: u8,
    ) -> (u32, &mut SeriesRec) {
        let id = self.recs.len() as u32;
        let mut e = SeriesRec { kind, ..BLANK };
        let (c, r, m) = (customer.len(), resource.len(), meter.len());
        let meter_id = (c + r <= INLINE).then(|| self.meter_id(meter)).flatten();
        if let Some(meter_id) = meter_id {
            e.inline = true;
            e.inline_lens = [c as u8, r as u8];
            e.meter = meter_id;
            e.text[..c].copy_from_slice(customer.as_bytes());
            e.text[c..c + r].copy_from_slice(resource.as_bytes());
        } else {
            e.text[..8].copy_from_slice(&(self.arena.len() as u64).to_le_bytes());
            for (k, len) in [c, r, m].into_iter().enumerate() {
                e.text[8 + 4 * k..12 + 4 * k].copy_from_slice(&(len as u32).to_le_bytes());
            }
            self.arena.push_str(customer);
            self.arena.push_str(resource);
            self.arena.push_str(meter);
        }
        self.recs.push(e);
        self.index[i] = Slot { tag, id1: id + 1 };
        if self.recs.len() * 4 > self.index.len() * 3 {
            self.grow();
        }
        (id, &mut self.recs[id as usize])
    }

    /// The number of `meter`, given one when new (`None`: no number left).
    fn meter_id(&mut self, meter: &str) -> Option<u16> {
        if let Some(&id) = self.meter_ids.get(meter) {
            return Some(id);
        }
        if self.meters.len() >= MAX_METERS {
            return None;
        }
        let id = self.meters.len() as u16;
        self.meters.push(meter.into());
        self.meter_ids.insert(meter.into(), id);
        Some(id)
    }

    /// Doubles the index, placing every series again by its (recomputed) hash.
    fn grow(&mut self) {
        self.index = vec![Slot::default(); self.index.len() * 2];
        let mask = self.mask();
        for (id, e) in self.recs.iter().enumerate() {
            let (c, r, m) = self.raw(e);
            let hash = key_hash(c, r, m);
            let mut i = hash as usize & mask;
            while self.index[i].id1 != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = Slot {
                tag: (hash >> 32) as u32,
                id1: id as u32 + 1,
            };
        }
    }

    /// The bytes of the (customer, resource, meter) of record `e`.
    #[inline(always)]
    fn raw<'t>(&'t self, e: &'t SeriesRec) -> (&'t [u8], &'t [u8], &'t [u8]) {
        if e.inline {
            let [c, r] = e.inline_lens.map(usize::from);
            let meter = self.meters[e.meter as usize].as_bytes();
            return (&e.text[..c], &e.text[c..c + r], meter);
        }
        let (at, [c, r, m]) = e.span();
        let t = &self.arena.as_bytes()[at..at + c + r + m];
        (&t[..c], &t[c..c + r], &t[c + r..])
    }

    /// The (customer, resource, meter) of record `e`.
    fn texts<'t>(&'t self, e: &'t SeriesRec) -> (&'t str, &'t str, &'t str) {
        // The texts were whole `str`s, copied back to back, so each part
        // is valid UTF-8.
        let part = |b: &'t [u8]| std::str::from_utf8(b).expect("key text is UTF-8");
        let (c, r, m) = self.raw(e);
        (part(c), part(r), part(m))
    }

    /// The (customer, resource, meter) of series `i`.
    pub fn parts(&self, i: u32) -> (&str, &str, &str) {
        self.texts(&self.recs[i as usize])
    }

    /// The key of series `i`, owned (for reports).
    pub fn key(&self, i: u32) -> SeriesKey {
        let (customer, resource, meter) = self.parts(i);
        SeriesKey {
            customer: customer.into(),
            resource: resource.into(),
            meter: meter.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }
}

/// The hash of a series key: each part folded in with a 64x64->128-bit
/// multiply (the construction foldhash uses), written out for three short
/// texts because a general hasher's per-write bookkeeping cost more than
/// the mixing. Fixed seed: the table is in memory only, and exports never
/// depend on it.
#[inline(always)]
fn key_hash(customer: &[u8], resource: &[u8], meter: &[u8]) -> u64 {
    const SEED: u64 = 0x243f_6a88_85a3_08d3;
    let h = mix_part(SEED, customer);
    let h = mix_part(h, resource);
    let h = mix_part(h, meter);
    fold(h, 0x9e37_79b9_7f4a_7c15)
}

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128) * (b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn mix_part(h: u64, s: &[u8]) -> u64 {
    const K: u64 = 0x1319_8a2e_0370_7344;
    let n = s.len();
    let u64_at = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
    let u32_at = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap()) as u64;
    let (a, b) = if n > 16 {
        let mut h = h;
        let mut i = 0;
        while i + 16 < n {
            h = fold(u64_at(i) ^ h, u64_at(i + 8) ^ K);
            i += 16;
        }
        (u64_at(n - 16) ^ h, u64_at(n - 8))
    } else if n >= 8 {
        (u64_at(0), u64_at(n - 8))
    } else if n >= 4 {
        (u32_at(0), u32_at(n - 4))
    } else if n > 0 {
        ((s[0] as u64) << 16 | (s[n / 2] as u64) << 8 | s[n - 1] as u64, 0)
    } else {
        (0, 0)
    };
    // The length goes in too, so that "ab","c" and "a","bc" differ.
    fold(a ^ h, b ^ K ^ (n as u64).rotate_left(32))
}

/// `a == b` for slices of equal length, inline and without a loop for
/// the short texts keys are: a call to the C library's memcmp per part
/// cost more than the compare itself.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    if n > 16 || b.len() != n {
        return a == b;
    }
    // The first and the last 8 (or 4) bytes, overlapping when shorter.
    let u64_at = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
    let u32_at = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap());
    if n >= 8 {
        (u64_at(a, 0) ^ u64_at(b, 0)) | (u64_at(a, n - 8) ^ u64_at(b, n - 8)) == 0
    } else if n >= 4 {
        (u32_at(a, 0) ^ u32_at(b, 0)) | (u32_at(a, n - 4) ^ u32_at(b, n - 4)) == 0
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_made_across_growth_and_tells_keys_apart() {
        let mut t = SeriesTable::new();
        let key = |i: u32| {
            (
                format!("c{}", i % 97),
                format!("r{i}"),
                if i.is_multiple_of(2) {
                    "requests"
                } else {
                    "storage_bytes"
                },
            )
        };
        for i in 0..10_000u32 {
            let (c, r, m) = key(i);
            let (id, _) = t.find_or_insert(t.hash(&c, &r, m), &c, &r, m, |_| 0);
            assert_eq!(id, i);
        }
        assert_eq!(t.len(), 10_000);
        for i in (0..10_000u32).rev() {
            let (c, r, m) = key(i);
            let h = t.hash(&c, &r, m);
            assert_eq!(t.find_or_insert(h, &c, &r, m, |_| 0).0, i);
            assert_eq!(t.parts(i), (c.as_str(), r.as_str(), m));
        }
        // Same concatenated text, different split: different series.
        let (a, _) = t.find_or_insert(t.hash("ab", "c", "m"), "ab", "c", "m", |_| 0);
        let (b, _) = t.find_or_insert(t.hash("a", "bc", "m"), "a", "bc", "m", |_| 0);
        assert_ne!(a, b);
    }

    #[test]
    fn long_keys_live_in_the_arena_and_are_found_the_same() {
        let mut t = SeriesTable::new();
        let long = "l".repeat(INLINE);
        let keys: Vec<(String, String, &str)> = (0..300)
            .map(|i| (format!("{long}{i}"), format!("r{}", i % 3), "m"))
            .chain((0..300).map(|i| (format!("c{i}"), "r".into(), "requests")))
            .collect();
        for (i, (c, r, m)) in keys.iter().enumerate() {
            assert_eq!(t.find_or_insert(t.hash(c, r, m), c, r, m, |_| 0).0, i as u32);
        }
        for (i, (c, r, m)) in keys.iter().enumerate() {
            assert_eq!(t.find_or_insert(t.hash(c, r, m), c, r, m, |_| 0).0, i as u32);
            assert_eq!(t.parts(i as u32), (c.as_str(), r.as_str(), *m));
        }
        // A customer and resource exactly INLINE long are inline (whatever
        // the meter's length); one byte more are not.
        let arena = t.arena.len();
        let fits = "f".repeat(INLINE - 1);
        let meter = "m".repeat(40);
        t.find_or_insert(t.hash(&fits, "r", &meter), &fits, "r", &meter, |_| 0);
        assert!(t
            .recs
            .iter()
            .any(|e| e.inline && e.inline_lens[0] as usize == INLINE - 1));
        assert_eq!(t.arena.len(), arena);
        t.find_or_insert(t.hash(&fits, "rr", &meter), &fits, "rr", &meter, |_| 0);
        assert_eq!(t.arena.len(), arena + INLINE + 1 + meter.len());
        assert_eq!(t.parts(t.len() as u32 - 2), (fits.as_str(), "r", meter.as_str()));
        assert_eq!(t.parts(t.len() as u32 - 1), (fits.as_str(), "rr", meter.as_str()));
    }

    #[test]
    fn meters_past_the_numbered_ones_keep_their_keys_whole() {
        let mut t = SeriesTable::new();
        let n = MAX_METERS as u32 + 3;
        for i in 0..n {
            let m = format!("meter-{i}");
            assert_eq!(t.find_or_insert(t.hash("c", "r", &m), "c", "r", &m, |_| 0).0, i);
        }
        assert_eq!(t.meters.len(), MAX_METERS);
        assert_eq!(t.recs.iter().filter(|e| !e.inline).count(), 3);
        for i in (0..n).step_by(997).chain(n - 3..n) {
            let m = format!("meter-{i}");
            assert_eq!(t.find_or_insert(t.hash("c", "r", &m), "c", "r", &m, |_| 0).0, i);
            assert_eq!(t.parts(i), ("c", "r", m.as_str()));
        }
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!same_bytes(&a, &b), "length {n}, byte {i}");
            }
        }
    }

    #[test]
    fn keys_spread_over_the_slots() {
        // Keys shaped like real ones (a counter inside a common prefix):
        // linear probing stays short only if the hash spreads them.
        let mut t = SeriesTable::new();
        let n = 100_000u32;
        for i in 0..n {
            let (c, r) = (format!("customer-{}", i / 10), format!("bucket-{}", i % 10));
            t.find_or_insert(t.hash(&c, &r, "requests"), &c, &r, "requests", |_| 0);
        }
        let mask = t.index.len() - 1;
        let mut probes = 0usize;
        for (i, e) in t.index.iter().enumerate() {
            if e.id1 != 0 {
                let (c, r, m) = t.parts(e.id1 - 1);
                let home = t.hash(c, r, m) as usize & mask;
                probes += (i.wrapping_sub(home) & mask) + 1;
            }
        }
        let mean = probes as f64 / n as f64;
        assert!(mean < 2.0, "mean probe length {mean}");
        // The tags (upper half) must differ too, or every probe compares text.
        let tags: std::collections::HashSet<u32> =
            t.index.iter().filter(|e| e.id1 != 0).map(|e| e.tag).collect();
        assert!(
            tags.len() as f64 > n as f64 * 0.99,
            "{} distinct tags",
            tags.len()
        );
    }

    #[test]
    fn equal_tags_fall_back_to_the_text() {
        // Force every key onto the same hash: probing must still compare text.
        let mut t = SeriesTable::new();
        let ids: Vec<u32> = (0..20)
            .map(|i| t.find_or_insert(42, &format!("c{i}"), "r", "m", |_| 0).0)
            .collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
        assert_eq!(t.find_or_insert(42, "c7", "r", "m", |_| 0).0, 7);
        assert_eq!(t.peek_index(42), Some(0), "the first series of that hash");
        assert_eq!(t.peek(0), (NO_SLOT, NO_SLOT), "no window counted yet");
        t.find_or_insert(42, "c0", "r", "m", |_| 0).1.remember(Some(5), 9);
        assert_eq!(t.peek(0), (9, NO_SLOT));
        assert_eq!(t.peek_index(43 | 1 << 32), None, "another tag: no series");
    }
}
