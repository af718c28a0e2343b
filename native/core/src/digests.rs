//! The set of event digests an aggregator deduplicates by, one per open
//! period. With dedup on, every event looks its digest up in a set of
//! millions: a cache miss per event unless it is prefetched, which a
//! general hash set does not allow. So: open addressing over 64-byte
//! buckets of four digests (one cache line), the bucket a digest starts
//! at computable from the digest alone ([`DigestSet::prefetch`]), at most
//! three quarters full. Digests are XXH3-128 values, already uniformly
//! random, so their low bits pick the bucket.

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

impl DigestSet {
    #[inline]
    fn home(&self, d: u128) -> usize {
        d as usize & (self.buckets.len() - 1)
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
            b = (b + 1) & (self.buckets.len() - 1);
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
        if (self.len + 1) * 4 > self.buckets.len() * 4 * 3 {
            self.grow();
        }
        let mask = self.buckets.len() - 1;
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
            b = (b + 1) & mask;
        }
    }

    #[cold]
    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(4);
        let old = std::mem::replace(&mut self.buckets, vec![Bucket::default(); size]);
        let mask = size - 1;
        for d in old.iter().flat_map(|b| b.0).filter(|&d| d != 0) {
            let mut b = self.home(d);
            'placed: loop {
                for x in self.buckets[b].0.iter_mut() {
                    if *x == 0 {
                        *x = d;
                        break 'placed;
                    }
                }
                b = (b + 1) & mask;
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
    }
}
