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
}
