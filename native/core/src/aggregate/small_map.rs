//! A sorted map for a (series, period)'s 5-minute intervals and gauge
//! samples. Most hold a few entries (a customer's bucket with a handful of
//! events in the month), where a `BTreeMap` still takes a whole node (about
//! 256 bytes): so a map starts as a sorted vector of pairs, grown by half
//! its length, and becomes a `BTreeMap` past [`PROMOTE`] entries, where
//! inserting into the middle of a vector would cost more than a tree.
//! Samples and intervals mostly arrive in time order (appended at the
//! end), and a vector takes 16 bytes a sample where a tree takes about
//! 33: so the vector is kept up to a month of hourly samples and more
//! (moving at most 64 KiB for one that arrives out of order).

use std::collections::BTreeMap;

/// Entries past which a map is a tree.
const PROMOTE: usize = 4096;

#[derive(Debug, Clone)]
pub(crate) enum SmallMap<K, V> {
    Vec(Vec<(K, V)>),
    Tree(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap::Vec(Vec::new())
    }
}

impl<K: Ord + Copy, V: Copy + PartialEq> PartialEq for SmallMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord + Copy, V: Copy + PartialEq> Eq for SmallMap<K, V> {}

impl<K: Ord + Copy, V: Copy> SmallMap<K, V> {
    pub fn len(&self) -> usize {
        match self {
            SmallMap::Vec(v) => v.len(),
            SmallMap::Tree(t) => t.len(),
        }
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        match self {
            SmallMap::Vec(v) => v.binary_search_by(|(x, _)| x.cmp(k)).ok().map(|i| &v[i].1),
            SmallMap::Tree(t) => t.get(k),
        }
    }

    /// The value at `k`, made by `make` when there is none.
    #[inline]
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        if let SmallMap::Vec(v) = self {
            if v.len() >= PROMOTE && Self::place(v, &k).is_err() {
                let tree: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                *self = SmallMap::Tree(tree);
            }
        }
        match self {
            SmallMap::Vec(v) => match Self::place(v, &k) {
                Ok(i) => &mut v[i].1,
                Err(i) => {
                    if v.len() == v.capacity() {
                        v.reserve_exact((v.len() / 2).max(2));
                    }
                    v.insert(i, (k, make()));
                    &mut v[i].1
                }
            },
            SmallMap::Tree(t) => t.entry(k).or_insert_with(make),
        }
    }

    /// Where `k` is in `v`, or where it would go (in time order, mostly last).
    #[inline]
    fn place(v: &[(K, V)], k: &K) -> Result<usize, usize> {
        match v.last() {
            Some((last, _)) if last < k => Err(v.len()),
            _ => v.binary_search_by(|(x, _)| x.cmp(k)),
        }
    }

    /// Sets `k` to `value`; the value it had.
    pub fn insert(&mut self, k: K, value: V) -> Option<V> {
        let mut made = false;
        let slot = self.get_or_insert_with(k, || {
            made = true;
            value
        });
        let old = *slot;
        *slot = value;
        (!made).then_some(old)
    }

    /// Every (key, value), in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let (v, t) = match self {
            SmallMap::Vec(v) => (Some(v.iter().map(|(k, x)| (k, x))), None),
            SmallMap::Tree(t) => (None, Some(t.iter())),
        };
        v.into_iter().flatten().chain(t.into_iter().flatten())
    }
}

impl<K: Ord + Copy, V: Copy> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut m = SmallMap::default();
        for (k, v) in items {
            m.insert(k, v);
        }
        m
    }
}

/// Bytes per 5-minute interval (interval index -> bytes), for a rate
/// meter's (series, period). Held as u64 halves while every interval's
/// bytes fit 64 bits (12 bytes an entry; a `u128` beside a `u32` takes 32
/// with its alignment); as an array over the month's intervals once
/// [`DENSE_AT`] are held (a series with traffic in most 5-minute
/// intervals: 8 bytes an interval and a bit, where a tree takes about 26);
/// and whole (`u128`) once one does not fit 64 bits: always exact.
#[derive(Debug, Clone)]
pub(crate) enum RateMap {
    Narrow(SmallMap<u32, [u32; 2]>),
    Dense(DenseRate),
    Wide(SmallMap<u32, u128>),
}

/// The 5-minute intervals of the longest month.
pub(crate) const MONTH_INTERVALS: usize = 31 * 24 * 12;

/// Intervals held past which a map is an array: where a tree of that many
/// takes about what the array does (72.5 KB).
const DENSE_AT: usize = 2560;

/// Every interval of a month: its bytes, then a bit for each whether it
/// is held (an interval with a 0-byte event is held; one with no event is
/// not), in one allocation (made on the heap: no 72 KB on a scheduler's stack).
#[derive(Debug, Clone)]
pub(crate) struct DenseRate {
    words: Box<[u64]>,
    len: u32,
}

impl DenseRate {
    fn new() -> Self {
        DenseRate {
            words: vec![0; MONTH_INTERVALS + MONTH_INTERVALS.div_ceil(64)].into_boxed_slice(),
            len: 0,
        }
    }

    fn has(&self, i: usize) -> bool {
        self.words[MONTH_INTERVALS + i / 64] & (1 << (i % 64)) != 0
    }

    fn bytes(&self, i: usize) -> u64 {
        self.words[i]
    }

    /// Sets interval `i` (below `MONTH_INTERVALS`) to `v`.
    fn set(&mut self, i: usize, v: u64) {
        if !self.has(i) {
            self.words[MONTH_INTERVALS + i / 64] |= 1 << (i % 64);
            self.len += 1;
        }
        self.words[i] = v;
    }
}

impl Default for RateMap {
    fn default() -> Self {
        RateMap::Narrow(SmallMap::default())
    }
}

impl PartialEq for RateMap {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for RateMap {}

fn join(halves: [u32; 2]) -> u64 {
    halves[0] as u64 | (halves[1] as u64) << 32
}

fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

impl RateMap {
    pub fn len(&self) -> usize {
        match self {
            RateMap::Narrow(m) => m.len(),
            RateMap::Dense(d) => d.len as usize,
            RateMap::Wide(m) => m.len(),
        }
    }

    pub fn get(&self, interval: u32) -> Option<u128> {
        let i = interval as usize;
        match self {
            RateMap::Narrow(m) => m.get(&interval).map(|&h| join(h) as u128),
            RateMap::Dense(d) => (i < MONTH_INTERVALS && d.has(i)).then(|| d.bytes(i) as u128),
            RateMap::Wide(m) => m.get(&interval).copied(),
        }
    }

    /// Adds `bytes` to `interval`; whether the interval is new.
    #[cfg(test)]
    pub fn add(&mut self, interval: u32, bytes: u128) -> bool {
        self.update(interval, |old| old + bytes)
    }

    /// Sets `interval` to `bytes`; whether the interval is new.
    pub fn set(&mut self, interval: u32, bytes: u128) -> bool {
        self.update(interval, |_| bytes)
    }

    /// Sets `interval` to `f` of its bytes (0 when not held); whether it is new.
    #[inline]
    pub fn update(&mut self, interval: u32, f: impl FnOnce(u128) -> u128) -> bool {
        if let RateMap::Narrow(m) = self {
            // The common case, kept to one search.
            let mut new = false;
            let h = m.get_or_insert_with(interval, || {
                new = true;
                [0, 0]
            });
            let v = f(join(*h) as u128);
            if let Ok(narrow) = u64::try_from(v) {
                *h = split(narrow);
                if new && m.len() >= DENSE_AT {
                    self.densify();
                }
                return new;
            }
            self.widen();
            self.put(interval, v);
            return new;
        }
        let old = self.get(interval);
        self.put(interval, f(old.unwrap_or(0)));
        old.is_none()
    }

    /// Sets `interval` to `v`, in whichever form can hold it.
    #[cold]
    fn put(&mut self, interval: u32, v: u128) {
        let i = interval as usize;
        match self {
            RateMap::Narrow(m) => match u64::try_from(v) {
                Ok(n) => {
                    m.insert(interval, split(n));
                }
                Err(_) => {
                    self.widen();
                    self.put(interval, v);
                }
            },
            RateMap::Dense(d) => match u64::try_from(v) {
                Ok(n) if i < MONTH_INTERVALS => d.set(i, n),
                _ => {
                    self.widen();
                    self.put(interval, v);
                }
            },
            RateMap::Wide(m) => {
                m.insert(interval, v);
            }
        }
    }

    /// To an array, when every interval held is one of a month's.
    #[cold]
    fn densify(&mut self) {
        if self
            .iter()
            .last()
            .is_some_and(|(i, _)| i as usize >= MONTH_INTERVALS)
        {
            return;
        }
        let mut d = DenseRate::new();
        for (i, v) in self.iter() {
            d.set(i as usize, v as u64);
        }
        *self = RateMap::Dense(d);
    }

    /// To whole values (some interval is past 64 bits, or past a month).
    #[cold]
    fn widen(&mut self) {
        if !matches!(self, RateMap::Wide(_)) {
            *self = RateMap::Wide(self.iter().collect());
        }
    }

    /// Every (interval, bytes), in interval order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u128)> + '_ {
        let (mut n, mut d, mut w) = (None, None, None);
        match self {
            RateMap::Narrow(m) => n = Some(m.iter().map(|(&i, &h)| (i, join(h) as u128))),
            RateMap::Dense(x) => {
                d = Some(
                    (0..MONTH_INTERVALS)
                        .filter(|&i| x.has(i))
                        .map(|i| (i as u32, x.bytes(i) as u128)),
                )
            }
            RateMap::Wide(m) => w = Some(m.iter().map(|(&i, &v)| (i, v))),
        }
        n.into_iter()
            .flatten()
            .chain(d.into_iter().flatten())
            .chain(w.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_btreemap_through_promotion() {
        // Keys in time order, reversed and scattered, past PROMOTE entries.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for order in 0..3 {
            let mut ours: SmallMap<u32, u128> = SmallMap::default();
            let mut reference = BTreeMap::new();
            for i in 0..3 * PROMOTE as u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = match order {
                    0 => i / 2,
                    1 => 4 * PROMOTE as u32 - i,
                    _ => (x % (3 * PROMOTE as u64 / 2)) as u32,
                };
                *ours.get_or_insert_with(k, || 0) += i as u128;
                *reference.entry(k).or_insert(0) += i as u128;
                assert_eq!(ours.len(), reference.len());
                if i % 7 == 0 {
                    assert_eq!(ours.insert(k, 5), reference.insert(k, 5));
                }
            }
            assert!(ours.iter().eq(reference.iter()), "order {order}");
            assert!(matches!(ours, SmallMap::Tree(_)));
            for k in 0..4 * PROMOTE as u32 + 1 {
                assert_eq!(ours.get(&k), reference.get(&k));
            }
        }
        let small: SmallMap<i64, u64> = [(3, 1), (1, 2)].into_iter().collect();
        assert!(matches!(small, SmallMap::Vec(_)));
        assert_eq!(small.iter().collect::<Vec<_>>(), vec![(&1, &2), (&3, &1)]);
        let tree = SmallMap::Tree(BTreeMap::from([(1, 2), (3, 1)]));
        assert_eq!(small, tree);
    }

    #[test]
    fn rate_map_is_exact_past_64_bits() {
        let mut m = RateMap::default();
        assert!(m.add(7, 5));
        assert!(!m.add(7, u64::MAX as u128 - 5));
        assert!(m.add(3, 1));
        assert!(matches!(m, RateMap::Narrow(_)));
        assert_eq!(m.get(7), Some(u64::MAX as u128));
        // One more byte: the whole map becomes wide, every value kept.
        assert!(!m.add(7, 1));
        assert!(matches!(m, RateMap::Wide(_)));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(3, 1), (7, 1 << 64)]);
        assert!(!m.set(3, 9));
        assert!(m.add(9, 2));
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(3, 9), (7, 1 << 64), (9, 2)]);
        assert_eq!(m.len(), 3);
        // A new interval past 64 bits at once, and equality by content only.
        let mut n = RateMap::default();
        n.set(1, u128::MAX);
        assert_eq!(n.iter().collect::<Vec<_>>(), vec![(1, u128::MAX)]);
        let (mut a, mut b) = (RateMap::default(), RateMap::default());
        a.add(1, 2);
        b.add(1, 2);
        assert_eq!(a, b);
        assert_eq!(a.get(2), None);
    }

    #[test]
    fn rate_map_as_an_array_agrees_with_a_btreemap() {
        // Every other interval of a month, out of order, then some twice:
        // past DENSE_AT the map is an array, and stays what a tree holds.
        let mut m = RateMap::default();
        let mut reference = BTreeMap::new();
        for k in 0..MONTH_INTERVALS as u32 {
            let i = (k * 7919) % MONTH_INTERVALS as u32;
            if i % 2 == 1 {
                continue;
            }
            let v = (k % 5) as u128; // 0 bytes too: held all the same
            assert_eq!(m.add(i, v), reference.insert(i, v).is_none());
        }
        assert!(matches!(m, RateMap::Dense(_)));
        for i in (0..MONTH_INTERVALS as u32).step_by(3) {
            assert_eq!(m.add(i, 10), !reference.contains_key(&i));
            *reference.entry(i).or_insert(0) += 10;
        }
        assert!(matches!(m, RateMap::Dense(_)));
        assert_eq!(m.len(), reference.len());
        assert!(m.iter().eq(reference.iter().map(|(&i, &v)| (i, v))));
        assert_eq!(m.get(1), reference.get(&1).copied());
        assert_eq!(m.get(2), reference.get(&2).copied());
        // An interval past a month's, and bytes past 64 bits: whole values.
        let mut past = m.clone();
        assert!(past.add(MONTH_INTERVALS as u32, 1));
        assert!(matches!(past, RateMap::Wide(_)));
        assert_eq!(past.len(), reference.len() + 1);
        assert!(!m.add(0, u64::MAX as u128));
        assert!(matches!(m, RateMap::Wide(_)));
        *reference.get_mut(&0).unwrap() += u64::MAX as u128;
        assert!(m.iter().eq(reference.iter().map(|(&i, &v)| (i, v))));
        assert_eq!(m, {
            let mut again = RateMap::default();
            for (&i, &v) in &reference {
                again.set(i, v);
            }
            again
        });
    }
}
