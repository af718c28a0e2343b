//! A sorted map for a (series, period)'s 5-minute intervals and gauge
//! samples. Most hold a few entries (a customer's bucket with a handful of
//! events in the month), where a `BTreeMap` still takes a whole node (about
//! 256 bytes): so a map starts as a sorted vector of pairs, grown by half
//! its length, and becomes a `BTreeMap` past [`PROMOTE`] entries, where
//! inserting into the middle of a vector would cost more than a tree.

use std::collections::BTreeMap;

/// Entries past which a map is a tree.
const PROMOTE: usize = 64;

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
/// with its alignment), and whole once one does not: always exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RateMap {
    Narrow(SmallMap<u32, [u32; 2]>),
    Wide(SmallMap<u32, u128>),
}

impl Default for RateMap {
    fn default() -> Self {
        RateMap::Narrow(SmallMap::default())
    }
}

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
            RateMap::Wide(m) => m.len(),
        }
    }

    pub fn get(&self, interval: u32) -> Option<u128> {
        match self {
            RateMap::Narrow(m) => m.get(&interval).map(|&h| join(h) as u128),
            RateMap::Wide(m) => m.get(&interval).copied(),
        }
    }

    /// Adds `bytes` to `interval`; whether the interval is new.
    #[inline]
    pub fn add(&mut self, interval: u32, bytes: u128) -> bool {
        self.update(interval, |old| old + bytes)
    }

    /// Sets `interval` to `bytes`; whether the interval is new.
    pub fn set(&mut self, interval: u32, bytes: u128) -> bool {
        self.update(interval, |_| bytes)
    }

    #[inline]
    fn update(&mut self, interval: u32, f: impl FnOnce(u128) -> u128) -> bool {
        let mut new = false;
        if let RateMap::Narrow(m) = self {
            let h = m.get_or_insert_with(interval, || {
                new = true;
                [0, 0]
            });
            let v = f(join(*h) as u128);
            match u64::try_from(v) {
                Ok(narrow) => {
                    *h = split(narrow);
                    return new;
                }
                Err(_) => {
                    // Past 64 bits: this map holds whole values from now on.
                    let wide = m.iter().map(|(&i, &h)| (i, join(h) as u128)).collect();
                    *self = RateMap::Wide(wide);
                    self.set(interval, v);
                    return new;
                }
            }
        }
        let RateMap::Wide(m) = self else { unreachable!() };
        let v = m.get_or_insert_with(interval, || {
            new = true;
            0
        });
        *v = f(*v);
        new
    }

    /// Every (interval, bytes), in interval order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u128)> + '_ {
        let (n, w) = match self {
            RateMap::Narrow(m) => (Some(m.iter().map(|(&i, &h)| (i, join(h) as u128))), None),
            RateMap::Wide(m) => (None, Some(m.iter().map(|(&i, &v)| (i, v)))),
        };
        n.into_iter().flatten().chain(w.into_iter().flatten())
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
            for i in 0..300u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = match order {
                    0 => i / 2,
                    1 => 1000 - i,
                    _ => (x % 150) as u32,
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
            for k in 0..1001 {
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
}
