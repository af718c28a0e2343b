//! What billing keeps per (series, period): a rate meter's bytes per
//! 5-minute interval, a gauge's samples. Entries lie in a slab found
//! through a hash table of slots; each series remembers the slot of its
//! last period (see `SeriesRec`), so most events need no table lookup,
//! and the lookahead can prefetch the entry.
//!
//! An entry is 32 bytes, and holds up to [`INLINE`] rate intervals itself:
//! a series with few events (most, with many customers: a bucket with a
//! handful of transfers in the month) needs nothing more. A series past
//! that, or with a gauge sample, gets its data whole ([`PeriodSeries`], in
//! `full`, which the entry then names). An entry with its data as maps
//! took 88 bytes and a heap block for the first interval.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::small_map::{RateMap, SmallMap};
use super::{rate_interval, GAUGE, RATE};
use crate::event::EventFields;

/// Rate intervals an entry holds itself.
const INLINE: usize = 2;

/// An entry's `form` when its data is in `full`.
const FULL: u16 = u16::MAX;

/// One (series, period): the key (the period as its number in the
/// table's list of periods) and the data.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    series: u32,
    period: u32,
    /// The number of rate intervals held here, in interval order (0 to
    /// `INLINE`), or `FULL`: the data is `full[bytes[0][0]]`.
    form: u16,
    intervals: [u16; INLINE],
    /// Each interval's bytes, as u64 halves (4-byte alignment keeps the entry at 32).
    bytes: [[u32; 2]; INLINE],
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

/// A (series, period)'s data whole.
#[derive(Debug, Default, Clone)]
pub(super) struct PeriodSeries {
    /// Interval index within the period -> bytes in it.
    pub rate: RateMap,
    /// Sample time -> level.
    pub samples: SmallMap<i64, u64>,
}

/// No samples (what an entry holding its data itself has).
static NO_SAMPLES: SmallMap<i64, u64> = SmallMap::Vec(Vec::new());

/// A (series, period)'s data as read: its intervals and its samples.
pub(super) struct PeriodRef<'a> {
    pub rate: RateRef<'a>,
    pub samples: &'a SmallMap<i64, u64>,
}

/// A (series, period)'s rate intervals, wherever they are held.
pub(super) enum RateRef<'a> {
    Inline(&'a [u16], &'a [[u32; 2]]),
    Full(&'a RateMap),
}

fn join(halves: [u32; 2]) -> u64 {
    halves[0] as u64 | (halves[1] as u64) << 32
}

fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

impl RateRef<'_> {
    pub fn len(&self) -> usize {
        match self {
            RateRef::Inline(i, _) => i.len(),
            RateRef::Full(m) => m.len(),
        }
    }

    pub fn get(&self, interval: u32) -> Option<u128> {
        match self {
            RateRef::Inline(i, b) => i
                .iter()
                .position(|&x| x as u32 == interval)
                .map(|k| join(b[k]) as u128),
            RateRef::Full(m) => m.get(interval),
        }
    }

    /// Every (interval, bytes), in interval order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u128)> + '_ {
        let (mut inline, mut full) = (None, None);
        match self {
            RateRef::Inline(i, b) => {
                inline = Some(i.iter().zip(b.iter()).map(|(&i, &b)| (i as u32, join(b) as u128)))
            }
            RateRef::Full(m) => full = Some(m.iter()),
        }
        inline.into_iter().flatten().chain(full.into_iter().flatten())
    }
}

pub(super) struct PeriodTable {
    /// Each entry's slot, found by its key (kept in `entries` only, as for windows).
    slots: hashbrown::HashTable<u32>,
    hasher: FixedState,
    entries: Vec<Entry>,
    /// The data of entries that outgrew themselves.
    full: Vec<PeriodSeries>,
    /// The periods entries name, by number, and each one's number.
    periods: Vec<i64>,
    period_ids: HashMap<i64, u32, FixedState>,
    /// The period last looked up, and its number (most events fall in one).
    last_period: Option<(i64, u32)>,
    /// Rate intervals and gauge samples held, over all entries (for the
    /// size a snapshot of them takes).
    pub intervals: u64,
    pub samples: u64,
}

impl PeriodTable {
    pub fn new() -> Self {
        PeriodTable {
            slots: hashbrown::HashTable::new(),
            hasher: FixedState::with_seed(2),
            entries: Vec::new(),
            full: Vec::new(),
            periods: Vec::new(),
            period_ids: HashMap::with_hasher(FixedState::with_seed(7)),
            last_period: None,
            intervals: 0,
            samples: 0,
        }
    }

    /// The number of period `p`, given one when new.
    #[inline]
    fn period_id(&mut self, p: i64) -> u32 {
        match self.last_period {
            Some((q, id)) if q == p => id,
            _ => self.period_id_slow(p),
        }
    }

    #[cold]
    fn period_id_slow(&mut self, p: i64) -> u32 {
        let next = self.periods.len() as u32;
        let id = *self.period_ids.entry(p).or_insert(next);
        if id == next {
            self.periods.push(p);
        }
        self.last_period = Some((p, id));
        id
    }

    #[inline]
    fn hash(&self, series: u32, period: u32) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, series as u64 | (period as u64) << 32)
    }

    /// The slot of `key`, made when new; `hint` is a slot to try first.
    #[inline]
    pub fn slot(&mut self, key: (u32, i64), hint: u32) -> u32 {
        let (s, p) = (key.0, self.period_id(key.1));
        if self
            .entries
            .get(hint as usize)
            .is_some_and(|e| e.series == s && e.period == p)
        {
            return hint;
        }
        let hash = self.hash(s, p);
        let entries = &self.entries;
        if let Some(&slot) = self.slots.find(hash, |&at| {
            let e = &entries[at as usize];
            e.series == s && e.period == p
        }) {
            return slot;
        }
        let next = self.entries.len() as u32;
        self.entries.push(Entry {
            series: s,
            period: p,
            form: 0,
            intervals: [0; INLINE],
            bytes: [[0; 2]; INLINE],
        });
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.slots.insert_unique(hash, next, |&at| {
            let e = &entries[at as usize];
            std::hash::BuildHasher::hash_one(hasher, e.series as u64 | (e.period as u64) << 32)
        });
        next
    }

    /// The key and data of the entry in `slot`.
    pub fn at(&self, slot: u32) -> ((u32, i64), PeriodRef<'_>) {
        let e = &self.entries[slot as usize];
        ((e.series, self.periods[e.period as usize]), self.data(e))
    }

    fn data<'a>(&'a self, e: &'a Entry) -> PeriodRef<'a> {
        if e.form == FULL {
            let ps = &self.full[e.bytes[0][0] as usize];
            PeriodRef {
                rate: RateRef::Full(&ps.rate),
                samples: &ps.samples,
            }
        } else {
            let n = e.form as usize;
            PeriodRef {
                rate: RateRef::Inline(&e.intervals[..n], &e.bytes[..n]),
                samples: &NO_SAMPLES,
            }
        }
    }

    /// Every entry: its key and data, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = ((u32, i64), PeriodRef<'_>)> {
        self.entries
            .iter()
            .map(|e| ((e.series, self.periods[e.period as usize]), self.data(e)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sets `key`'s data (replacing what it had).
    pub fn insert(&mut self, key: (u32, i64), data: PeriodSeries) {
        let slot = self.slot(key, u32::MAX);
        let e = &mut self.entries[slot as usize];
        let old = if e.form == FULL {
            std::mem::take(&mut self.full[e.bytes[0][0] as usize])
        } else {
            let n = std::mem::take(&mut e.form);
            self.intervals -= n as u64;
            PeriodSeries::default()
        };
        self.intervals -= old.rate.len() as u64;
        self.samples -= old.samples.len() as u64;
        for (i, v) in data.rate.iter() {
            self.set_rate_at(slot, i, v);
        }
        for (&t, &v) in data.samples.iter() {
            self.sample_at(slot, t, v, false);
        }
    }

    /// Sets one rate interval's bytes (`rate`) or one sample's level.
    pub fn set_rate(&mut self, key: (u32, i64), interval: u32, bytes: u128) {
        let slot = self.slot(key, u32::MAX);
        self.set_rate_at(slot, interval, bytes);
    }

    pub fn set_sample(&mut self, key: (u32, i64), time_ms: i64, level: u64) {
        let slot = self.slot(key, u32::MAX);
        self.sample_at(slot, time_ms, level, false);
    }

    /// Adds another entry's data to `key`'s: bytes add up, two samples at
    /// one instant keep the higher.
    pub fn merge(&mut self, key: (u32, i64), other: &PeriodRef<'_>) {
        let slot = self.slot(key, u32::MAX);
        for (i, v) in other.rate.iter() {
            self.update_rate(slot, i, |old| old + v);
        }
        for (&t, &v) in other.samples.iter() {
            self.sample_at(slot, t, v, true);
        }
    }

    fn set_rate_at(&mut self, slot: u32, interval: u32, bytes: u128) {
        self.update_rate(slot, interval, |_| bytes);
    }

    /// Sets `interval` of the entry in `slot` to `f` of its bytes (0 when
    /// not held); counts it when new.
    #[inline]
    fn update_rate(&mut self, slot: u32, interval: u32, f: impl FnOnce(u128) -> u128) {
        let e = &mut self.entries[slot as usize];
        if e.form != FULL {
            let n = e.form as usize;
            let at = e.intervals[..n].iter().position(|&x| x as u32 >= interval);
            let held = at.filter(|&k| e.intervals[k] as u32 == interval);
            let v = f(held.map_or(0, |k| join(e.bytes[k]) as u128));
            let (Ok(iv), Ok(narrow)) = (u16::try_from(interval), u64::try_from(v)) else {
                return self.update_full(slot, interval, v, held.is_none());
            };
            match held {
                Some(k) => e.bytes[k] = split(narrow),
                None if n < INLINE => {
                    let k = at.unwrap_or(n);
                    e.intervals.copy_within(k..n, k + 1);
                    e.bytes.copy_within(k..n, k + 1);
                    (e.intervals[k], e.bytes[k]) = (iv, split(narrow));
                    e.form += 1;
                    self.intervals += 1;
                }
                None => self.update_full(slot, interval, v, true),
            }
            return;
        }
        if self.full[e.bytes[0][0] as usize].rate.update(interval, f) {
            self.intervals += 1;
        }
    }

    /// Sets `interval` to `v` in the entry's data whole (made from what
    /// it held itself); `new`: the interval was not held.
    #[cold]
    #[inline(never)]
    fn update_full(&mut self, slot: u32, interval: u32, v: u128, new: bool) {
        let idx = self.promote(slot);
        self.full[idx].rate.set(interval, v);
        self.intervals += new as u64;
    }

    /// The entry's data whole (made from what it holds itself when not
    /// yet): its place in `full`.
    fn promote(&mut self, slot: u32) -> usize {
        let e = &mut self.entries[slot as usize];
        if e.form == FULL {
            return e.bytes[0][0] as usize;
        }
        let mut ps = PeriodSeries::default();
        for k in 0..e.form as usize {
            ps.rate.set(e.intervals[k] as u32, join(e.bytes[k]) as u128);
        }
        let idx = self.full.len();
        e.form = FULL;
        e.bytes[0][0] = idx as u32;
        self.full.push(ps);
        idx
    }

    /// Sets the sample at `time_ms` to `level` (`max`: to the higher of
    /// it and the level held).
    fn sample_at(&mut self, slot: u32, time_ms: i64, level: u64, max: bool) {
        let idx = self.promote(slot);
        let mut new = false;
        let held = self.full[idx].samples.get_or_insert_with(time_ms, || {
            new = true;
            level
        });
        *held = if max { (*held).max(level) } else { level };
        self.samples += new as u64;
    }

    #[inline]
    pub fn prefetch(&self, slot: u32) {
        if let Some(e) = self.entries.get(slot as usize) {
            crate::prefetch::prefetch(e);
            crate::prefetch::prefetch((e as *const Entry as *const u8).wrapping_add(31));
        }
    }

    /// Counts an event of a rate and/or gauge meter (`kind`) into the
    /// period of series `s`; returns the slot used (to remember).
    #[inline(never)]
    pub fn add<E: EventFields>(&mut self, s: u32, kind: u8, period: i64, e: &E, hint: u32) -> u32 {
        let slot = self.slot((s, period), hint);
        if kind & RATE != 0 {
            let value = e.value() as u128;
            self.update_rate(slot, rate_interval(period, e.time_ms()), |old| old + value);
        }
        if kind & GAUGE != 0 {
            // Two readings at one instant: the higher.
            self.sample_at(slot, e.time_ms(), e.value(), true);
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// What a table holds, as plain maps.
    type Plain = BTreeMap<(u32, i64), (BTreeMap<u32, u128>, BTreeMap<i64, u64>)>;

    fn plain(t: &PeriodTable) -> Plain {
        t.iter()
            .map(|(k, d)| {
                let rate = d.rate.iter().collect();
                let samples = d.samples.iter().map(|(&t, &v)| (t, v)).collect();
                (k, (rate, samples))
            })
            .collect()
    }

    #[test]
    fn holds_what_maps_hold_inline_and_whole() {
        // Intervals out of order, repeated, past 16 bits and past 64 bits
        // of bytes, samples: each entry moves from inline to whole at some
        // point, and must hold exactly what the reference maps do.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut t = PeriodTable::new();
        let mut reference = Plain::new();
        for step in 0..20_000u32 {
            let key = (
                (next() % 300) as u32,
                [0i64, 2_678_400_000, -5][(next() % 3) as usize],
            );
            let r = reference.entry(key).or_default();
            match next() % 10 {
                0 => {
                    let (time, level) = ((next() % 50) as i64, next() % 100);
                    t.set_sample(key, time, level);
                    r.1.insert(time, level);
                }
                1 => {
                    let interval = [70_000u32, 3, 9000][(next() % 3) as usize];
                    t.set_rate(key, interval, step as u128);
                    r.0.insert(interval, step as u128);
                }
                2 => {
                    let slot = t.slot(key, u32::MAX);
                    let big = u64::MAX as u128 - 3;
                    t.update_rate(slot, 7, |old| old + big);
                    *r.0.entry(7).or_default() += big;
                }
                _ => {
                    let slot = t.slot(key, u32::MAX);
                    let interval = (next() % 8928) as u32 / if step % 2 == 0 { 1 } else { 1000 };
                    let v = next() % 1_000_000;
                    t.update_rate(slot, interval, |old| old + v as u128);
                    *r.0.entry(interval).or_default() += v as u128;
                }
            }
        }
        assert_eq!(plain(&t), reference);
        let intervals: usize = reference.values().map(|(r, _)| r.len()).sum();
        let samples: usize = reference.values().map(|(_, s)| s.len()).sum();
        assert_eq!((t.intervals, t.samples), (intervals as u64, samples as u64));
        // Replacing an entry's data, and merging one table into another.
        let key = *reference.keys().next().unwrap();
        let mut ps = PeriodSeries::default();
        ps.rate.set(5, 6);
        t.insert(key, ps);
        reference.insert(key, (BTreeMap::from([(5, 6)]), BTreeMap::new()));
        assert_eq!(plain(&t), reference);
        let mut merged = PeriodTable::new();
        for _ in 0..2 {
            for (k, d) in t.iter() {
                merged.merge(k, &d);
            }
        }
        let doubled: Plain = reference
            .iter()
            .map(|(&k, (r, s))| (k, (r.iter().map(|(&i, &v)| (i, 2 * v)).collect(), s.clone())))
            .collect();
        assert_eq!(plain(&merged), doubled);
    }

    #[test]
    fn few_intervals_stay_in_the_entry() {
        let mut t = PeriodTable::new();
        let slot = t.slot((1, 0), u32::MAX);
        t.update_rate(slot, 9, |v| v + 1);
        t.update_rate(slot, 4, |v| v + 2);
        t.update_rate(slot, 9, |v| v + 3);
        assert!(t.full.is_empty());
        assert_eq!(t.at(slot).1.rate.iter().collect::<Vec<_>>(), vec![(4, 2), (9, 4)]);
        assert_eq!(t.slot((1, 0), slot), slot);
        t.update_rate(slot, 5, |v| v + 1);
        assert_eq!(t.full.len(), 1);
        assert_eq!(
            t.at(slot).1.rate.iter().collect::<Vec<_>>(),
            vec![(4, 2), (5, 1), (9, 4)]
        );
    }
}
