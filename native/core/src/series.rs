//! The series of an aggregator: each distinct (customer, resource, meter)
//! gets a dense number. Finding that number is the hot path of aggregation
//! (once per event), and with many keys it is bound by memory latency, not
//! by work. So the table is laid out for prefetching a batch of events
//! ahead ([`SeriesTable::prefetch_slot`], then [`SeriesTable::peek`] and
//! [`SeriesTable::prefetch_rec`]):
//!
//! * `slots` is open addressing with linear probing over 8-byte words
//!   (32 bits of the hash, the series' number + 1; 0 is empty), kept at most
//!   half full, so the word a key starts probing at is computable from its
//!   hash alone and almost always the one that answers;
//! * `recs`, by number, hold what the hot path needs of a series: where its
//!   key text lies in one contiguous arena, its kind, and the window it last
//!   counted in. A new series costs no allocation of its own.

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use crate::aggregate::SeriesKey;

/// No window remembered yet.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// What the hot path needs of one series, in 32 bytes (two to a cache line).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(crate) struct SeriesRec {
    /// Where `customer`, `resource`, `meter` lie, back to back, in the arena.
    text_at: usize,
    lens: [u32; 3],
    /// The window this series last counted in, in hours since the epoch
    /// (every window starts on the hour), and that window's slot.
    last_hour: i32,
    last_slot: u32,
    /// RATE | GAUGE | UNIQUE bits (see aggregate.rs).
    pub kind: u8,
}

impl SeriesRec {
    /// The slot of the window starting at `window_ms`, if it is the one
    /// this series last counted in.
    #[inline]
    pub fn cached_slot(&self, window_ms: i64) -> Option<u32> {
        (self.last_slot != NO_SLOT && window_ms == self.last_hour as i64 * HOUR_MS).then_some(self.last_slot)
    }

    /// Remembers the window starting at `window_ms` as the last, in `slot`
    /// (windows too far from the epoch for 32 bits of hours are not cached).
    #[inline]
    pub fn remember(&mut self, window_ms: i64, slot: u32) {
        match i32::try_from(window_ms / HOUR_MS) {
            Ok(hour) if window_ms % HOUR_MS == 0 => (self.last_hour, self.last_slot) = (hour, slot),
            _ => self.last_slot = NO_SLOT,
        }
    }
}

const HOUR_MS: i64 = 3_600_000;

pub(crate) struct SeriesTable {
    hasher: FixedState,
    /// `(hash >> 32) << 32 | (number + 1)`, or 0 where empty.
    slots: Vec<u64>,
    recs: Vec<SeriesRec>,
    text: String,
}

const MIN_SLOTS: usize = 64;

/// Asks the CPU to start loading the cache line at `p` (a hint; no effect
/// on results, and none at all where no prefetch instruction is exposed).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl SeriesTable {
    pub fn new() -> Self {
        SeriesTable { hasher: FixedState::with_seed(0x7a11_7a11), slots: vec![0; MIN_SLOTS], recs: Vec::new(), text: String::new() }
    }

    #[inline]
    pub fn hash(&self, customer: &str, resource: &str, meter: &str) -> u64 {
        self.hasher.hash_one((customer, resource, meter))
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Starts loading the word where probing for `hash` begins.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        prefetch(&self.slots[hash as usize & self.mask()]);
    }

    /// The number of the first series whose hash could be `hash`, without
    /// comparing keys (for prefetching; [`Self::find_or_insert`] decides).
    #[inline]
    pub fn peek(&self, hash: u64) -> Option<u32> {
        let tag = hash >> 32;
        let mut i = hash as usize & self.mask();
        loop {
            let w = self.slots[i];
            if w == 0 {
                return None;
            }
            if w >> 32 == tag {
                return Some((w as u32) - 1);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Starts loading series `id`'s record.
    #[inline]
    pub fn prefetch_rec(&self, id: u32) {
        if let Some(r) = self.recs.get(id as usize) {
            prefetch(r);
        }
    }

    /// Starts loading series `id`'s key text (for the compare), and returns
    /// the slot of the window it last counted in.
    #[inline]
    pub fn prefetch_text(&self, id: u32) -> Option<u32> {
        let r = self.recs.get(id as usize)?;
        prefetch(self.text.as_ptr().wrapping_add(r.text_at));
        Some(r.last_slot).filter(|&s| s != NO_SLOT)
    }

    /// The number and record of the series, made (with `kind(meter)`) when
    /// new. `hash` is [`Self::hash`] of the same three texts.
    #[inline]
    pub fn find_or_insert(&mut self, hash: u64, customer: &str, resource: &str, meter: &str, kind: impl FnOnce(&str) -> u8) -> (u32, &mut SeriesRec) {
        let tag = hash >> 32;
        let lens = [customer.len() as u32, resource.len() as u32, meter.len() as u32];
        let mut i = hash as usize & self.mask();
        loop {
            let w = self.slots[i];
            if w == 0 {
                break;
            }
            if w >> 32 == tag {
                let id = (w as u32) - 1;
                let r = &self.recs[id as usize];
                if r.lens == lens && self.same_text(r.text_at, customer, resource, meter) {
                    return (id, &mut self.recs[id as usize]);
                }
            }
            i = (i + 1) & self.mask();
        }
        self.insert(i, tag, lens, customer, resource, meter, kind(meter))
    }

    /// Whether the arena holds the three texts at `at` (their lengths already match).
    #[inline]
    fn same_text(&self, at: usize, customer: &str, resource: &str, meter: &str) -> bool {
        let t = &self.text.as_bytes()[at..];
        let (c, rest) = t.split_at(customer.len());
        let (res, rest) = rest.split_at(resource.len());
        same_bytes(c, customer.as_bytes()) && same_bytes(res, resource.as_bytes()) && same_bytes(&rest[..meter.len()], meter.as_bytes())
    }

    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn insert(&mut self, slot: usize, tag: u64, lens: [u32; 3], customer: &str, resource: &str, meter: &str, kind: u8) -> (u32, &mut SeriesRec) {
        let id = self.recs.len() as u32;
        let text_at = self.text.len();
        self.text.push_str(customer);
        self.text.push_str(resource);
        self.text.push_str(meter);
        self.recs.push(SeriesRec { text_at, lens, last_hour: 0, last_slot: NO_SLOT, kind });
        self.slots[slot] = tag << 32 | (id as u64 + 1);
        if self.recs.len() * 2 > self.slots.len() {
            self.grow();
        }
        (id, &mut self.recs[id as usize])
    }

    /// Doubles the slots, placing every series again by its (recomputed) hash.
    fn grow(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for id in 0..self.recs.len() as u32 {
            let (c, r, m) = self.parts(id);
            let hash = self.hash(c, r, m);
            let mut i = hash as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = (hash >> 32) << 32 | (id as u64 + 1);
        }
        self.slots = slots;
    }

    /// The (customer, resource, meter) of series `i`, borrowed from the arena.
    pub fn parts(&self, i: u32) -> (&str, &str, &str) {
        let r = &self.recs[i as usize];
        let at = r.text_at;
        let [c, res, m] = r.lens.map(|l| l as usize);
        // The arena is the three texts back to back, so these are char boundaries.
        (&self.text[at..at + c], &self.text[at + c..at + c + res], &self.text[at + c + res..at + c + res + m])
    }

    /// The key of series `i`, owned (for reports).
    pub fn key(&self, i: u32) -> SeriesKey {
        let (customer, resource, meter) = self.parts(i);
        SeriesKey { customer: customer.into(), resource: resource.into(), meter: meter.into() }
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }
}

/// `a == b` for slices of equal length, inline: keys are short, and a call
/// to the C library's memcmp per part cost more than the compare itself.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
    let n = a.len().min(b.len());
    if n >= 8 {
        // Whole words, then the last (overlapping) word.
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        return word(a, n - 8) == word(b, n - 8);
    }
    let mut diff = 0u8;
    for i in 0..n {
        diff |= a[i] ^ b[i];
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_made_across_growth_and_tells_keys_apart() {
        let mut t = SeriesTable::new();
        let key = |i: u32| (format!("c{}", i % 97), format!("r{i}"), if i % 2 == 0 { "requests" } else { "storage_bytes" });
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
    fn equal_tags_fall_back_to_the_text() {
        // Force every key onto the same hash: probing must still compare text.
        let mut t = SeriesTable::new();
        let ids: Vec<u32> = (0..20).map(|i| t.find_or_insert(42, &format!("c{i}"), "r", "m", |_| 0).0).collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
        assert_eq!(t.find_or_insert(42, "c7", "r", "m", |_| 0).0, 7);
        assert_eq!(t.peek(42), Some(0));
    }
}
