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
}


pub(crate) struct SeriesTable {
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
        SeriesTable { slots: vec![0; MIN_SLOTS], recs: Vec::new(), text: String::new() }
    }

    #[inline]
    pub fn hash(&self, customer: &str, resource: &str, meter: &str) -> u64 {
        key_hash(customer.as_bytes(), resource.as_bytes(), meter.as_bytes())
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
    /// new. `hash` is [`Self::hash`] of the same three texts; `hint` is a
    /// number to try first (what [`Self::peek`] said a little earlier;
    /// `u32::MAX` for none): when it is that series, no probe is needed.
    #[inline]
    pub fn find_or_insert(&mut self, hash: u64, hint: u32, customer: &str, resource: &str, meter: &str, kind: impl FnOnce(&str) -> u8) -> (u32, &mut SeriesRec) {
        let tag = hash >> 32;
        let lens = [customer.len() as u32, resource.len() as u32, meter.len() as u32];
        if let Some(r) = self.recs.get(hint as usize) {
            if r.lens == lens && self.same_text(r.text_at, customer, resource, meter) {
                return (hint, &mut self.recs[hint as usize]);
            }
        }
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
    #[inline(always)]
    fn same_text(&self, at: usize, customer: &str, resource: &str, meter: &str) -> bool {
        let (c, r) = (customer.len(), resource.len());
        let t = &self.text.as_bytes()[at..at + c + r + meter.len()];
        same_bytes(&t[..c], customer.as_bytes()) && same_bytes(&t[c..c + r], resource.as_bytes()) && same_bytes(&t[c + r..], meter.as_bytes())
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
        let key = |i: u32| (format!("c{}", i % 97), format!("r{i}"), if i.is_multiple_of(2) { "requests" } else { "storage_bytes" });
        for i in 0..10_000u32 {
            let (c, r, m) = key(i);
            let (id, _) = t.find_or_insert(t.hash(&c, &r, m), u32::MAX, &c, &r, m, |_| 0);
            assert_eq!(id, i);
        }
        assert_eq!(t.len(), 10_000);
        for i in (0..10_000u32).rev() {
            let (c, r, m) = key(i);
            let h = t.hash(&c, &r, m);
            assert_eq!(t.find_or_insert(h, i ^ 1, &c, &r, m, |_| 0).0, i);
            assert_eq!(t.parts(i), (c.as_str(), r.as_str(), m));
        }
        // Same concatenated text, different split: different series.
        let (a, _) = t.find_or_insert(t.hash("ab", "c", "m"), u32::MAX, "ab", "c", "m", |_| 0);
        let (b, _) = t.find_or_insert(t.hash("a", "bc", "m"), a, "a", "bc", "m", |_| 0);
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
    fn keys_spread_over_the_slots() {
        // Keys shaped like real ones (a counter inside a common prefix):
        // linear probing stays short only if the hash spreads them.
        let mut t = SeriesTable::new();
        let n = 100_000u32;
        for i in 0..n {
            let (c, r) = (format!("customer-{}", i / 10), format!("bucket-{}", i % 10));
            t.find_or_insert(t.hash(&c, &r, "requests"), u32::MAX, &c, &r, "requests", |_| 0);
        }
        let mask = t.slots.len() - 1;
        let mut probes = 0usize;
        for (i, &w) in t.slots.iter().enumerate() {
            if w != 0 {
                let (c, r, m) = t.parts((w as u32) - 1);
                let home = t.hash(c, r, m) as usize & mask;
                probes += (i.wrapping_sub(home) & mask) + 1;
            }
        }
        let mean = probes as f64 / n as f64;
        assert!(mean < 2.0, "mean probe length {mean}");
        // The tags (upper half) must differ too, or every probe compares text.
        let tags: std::collections::HashSet<u64> = t.slots.iter().filter(|&&w| w != 0).map(|w| w >> 32).collect();
        assert!(tags.len() as f64 > n as f64 * 0.99, "{} distinct tags", tags.len());
    }

    #[test]
    fn equal_tags_fall_back_to_the_text() {
        // Force every key onto the same hash: probing must still compare text.
        let mut t = SeriesTable::new();
        let ids: Vec<u32> = (0..20).map(|i| t.find_or_insert(42, u32::MAX, &format!("c{i}"), "r", "m", |_| 0).0).collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
        assert_eq!(t.find_or_insert(42, 3, "c7", "r", "m", |_| 0).0, 7);
        assert_eq!(t.peek(42), Some(0));
    }
}
