//! The set of event digests an aggregator deduplicates by, one per open
//! period. With dedup on, every event looks its digest up in a set of
//! millions: a cache miss per event unless it is prefetched, which a
//! general hash set does not allow. So: open addressing over 64-byte
//! buckets of four digests (one cache line), the bucket a digest starts
//! at computable from the digest alone ([`DigestSet::prefetch`]).
//! Digests are XXH3-128 values, already uniformly random, so their low 64
//! bits pick the bucket, scaled to the number of buckets (multiply and
//! shift; any number of buckets would do). The table doubles once seven
//! eighths full (it did at three quarters): 18-37 bytes a 16-byte digest
//! (21-43 before), and while it doubles, the old array beside the new.
//! Four digests a bucket keep probing short at that load: a miss (most
//! lookups: a new event) reads one bucket, now and then the next, adjacent
//! one. (Growing by half instead, for 18-28 bytes a digest, placed each
//! digest again twice on the whole instead of once, and counting an event
//! with dedup cost 15% more in `cargo bench --bench aggregate`.)

/// Four digests, one cache line; 0 marks a free place.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket([u128; 4]);

#[derive(Clone, Default)]
pub(crate) struct DigestSet {
    buckets: Vec<Bucket>,
    /// Digests held, 0 included.
    len: usize,
    /// 0 is the free marker, so the digest 0 is held here instead.
    has_zero: bool,
}

/// Fraction of its places a table may fill before it grows: 7/8.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

impl DigestSet {
    #[inline]
    fn home(&self, d: u128) -> usize {
        home(d, self.buckets.len())
    }

    /// Starts loading the bucket where `d` would be.
    #[inline]
    pub fn prefetch(&self, d: u128) {
        if !self.buckets.is_empty() {
            crate::prefetch::prefetch(&self.buckets[self.home(d)]);
        }
    }

    pub fn contains(&self, d: u128) -> bool {
        if d == 0 {
            return self.has_zero;
        }
        if self.buckets.is_empty() {
            return false;
        }
        let mut b = self.home(d);
        loop {
            for &x in &self.buckets[b].0 {
                if x == d {
                    return true;
                }
                if x == 0 {
                    return false;
                }
            }
            b = next(b, self.buckets.len());
        }
    }

    /// Adds `d`; false if it was held already.
    #[inline]
    pub fn insert(&mut self, d: u128) -> bool {
        if d == 0 {
            let new = !self.has_zero;
            self.has_zero = true;
            self.len += new as usize;
            return new;
        }
        if (self.len + 1) * LOAD_DEN > self.buckets.len() * 4 * LOAD_NUM {
            self.grow();
        }
        let n = self.buckets.len();
        let mut b = self.home(d);
        loop {
            for x in self.buckets[b].0.iter_mut() {
                if *x == d {
                    return false;
                }
                if *x == 0 {
                    *x = d;
                    self.len += 1;
                    return true;
                }
            }
            b = next(b, n);
        }
    }

    /// Doubles the table (at least 4 buckets), placing every digest again.
    #[cold]
    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(4);
        let old = std::mem::replace(&mut self.buckets, vec![Bucket::default(); size]);
        for d in old.iter().flat_map(|b| b.0).filter(|&d| d != 0) {
            let mut b = self.home(d);
            'placed: loop {
                for x in self.buckets[b].0.iter_mut() {
                    if *x == 0 {
                        *x = d;
                        break 'placed;
                    }
                }
                b = next(b, size);
            }
        }
    }

    /// Every digest held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.has_zero
            .then_some(0)
            .into_iter()
            .chain(self.buckets.iter().flat_map(|b| b.0).filter(|&d| d != 0))
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

/// The bucket of `n` that `d` starts at: its low 64 bits scaled to `n`.
#[inline]
fn home(d: u128, n: usize) -> usize {
    ((d as u64 as u128 * n as u128) >> 64) as usize
}

/// The bucket after `b` of `n`, wrapping around.
#[inline]
fn next(b: usize, n: usize) -> usize {
    if b + 1 == n {
        0
    } else {
        b + 1
    }
}

impl Extend<u128> for DigestSet {
    fn extend<I: IntoIterator<Item = u128>>(&mut self, digests: I) {
        for d in digests {
            self.insert(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn behaves_as_a_set_of_u128() {
        // Random digests, some repeated, zero and neighbours of zero, and
        // digests that all start at the same bucket (low bits equal).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut digests: Vec<u128> = (0..50_000)
            .map(|_| (next() as u128) << 64 | next() as u128)
            .collect();
        digests.extend((0..2_000).map(|i| (i as u128) << 64)); // same home bucket
        digests.extend((0..2_000).map(|i| u64::MAX as u128 - i)); // the last bucket: wrapping around
        digests.extend([0, 1, 0, u128::MAX, 1]);
        let repeats: Vec<u128> = digests.iter().step_by(7).copied().collect();
        digests.extend(repeats);
        let (mut ours, mut reference) = (DigestSet::default(), HashSet::new());
        for &d in &digests {
            assert!(!ours.contains(d) || reference.contains(&d));
            assert_eq!(ours.insert(d), reference.insert(d), "{d:#x}");
        }
        assert_eq!(ours.len(), reference.len());
        let held: HashSet<u128> = ours.iter().collect();
        assert_eq!(held, reference);
        assert_eq!(ours.iter().count(), ours.len());
        for &d in &digests {
            assert!(ours.contains(d));
        }
        assert!(!ours.contains(2) && !DigestSet::default().contains(5));
        // Grown by half at 7/8 full: at least 7/12 full after growing.
        let places = ours.buckets.len() * 4;
        assert!(
            places * 7 <= ours.len() * 12 + 4 * 7 * 4,
            "{places} places for {}",
            ours.len()
        );
    }
}
