//! Events copied out of a parser's callback, so that an aggregator can
//! count them in groups. A parser lends each event only for the length of
//! one call, but [`Aggregator::apply_batch`] is fast because it looks a
//! group of events up ahead of counting them; the queue bridges the two by
//! copying each event's texts into one reused buffer (a few dozen bytes,
//! cheaper than the cache misses the lookahead saves).

use crate::aggregate::Aggregator;
use crate::event::{EventFields, EventRef};

/// How many events are counted together: enough for the lookahead to fill
/// its pipeline, few enough that their texts stay in the L1 cache.
const CAPACITY: usize = 64;

struct Queued {
    /// Where id, source, customer, resource and meter lie in `text`:
    /// back to back, from `start` to each of `ends`.
    start: usize,
    ends: [usize; 5],
    value: u64,
    time_ms: i64,
}

/// A queued event, read in place.
struct InQueue<'a> {
    text: &'a [u8],
    q: &'a Queued,
}

impl InQueue<'_> {
    #[inline(always)]
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { self.q.start } else { self.q.ends[i - 1] };
        let bytes = &self.text[start..self.q.ends[i]];
        // SAFETY: `push` copied whole `str`s to exactly these bounds.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl EventFields for InQueue<'_> {
    fn id(&self) -> &str {
        self.part(0)
    }
    fn source(&self) -> &str {
        self.part(1)
    }
    #[inline(always)]
    fn customer(&self) -> &str {
        self.part(2)
    }
    #[inline(always)]
    fn resource(&self) -> &str {
        self.part(3)
    }
    #[inline(always)]
    fn meter(&self) -> &str {
        self.part(4)
    }
    #[inline(always)]
    fn value(&self) -> u64 {
        self.q.value
    }
    #[inline(always)]
    fn time_ms(&self) -> i64 {
        self.q.time_ms
    }
}

/// Copies `src` to `dst` without a call to the C library's memcpy for the
/// short texts event fields are (the call cost more than the copy).
///
/// # Safety
/// `dst` must be valid for writing `src.len()` bytes.
#[inline(always)]
unsafe fn copy_short(src: &[u8], dst: *mut u8) {
    use std::ptr::{copy_nonoverlapping, read_unaligned, write_unaligned};
    let (n, s) = (src.len(), src.as_ptr());
    // SAFETY: every read is within `src` and every write within the
    // `n` bytes at `dst`: the first and the last 8 (or 4), overlapping.
    unsafe {
        if (8..=16).contains(&n) {
            let (a, b) = (
                read_unaligned(s as *const u64),
                read_unaligned(s.add(n - 8) as *const u64),
            );
            write_unaligned(dst as *mut u64, a);
            write_unaligned(dst.add(n - 8) as *mut u64, b);
        } else if (4..8).contains(&n) {
            let (a, b) = (
                read_unaligned(s as *const u32),
                read_unaligned(s.add(n - 4) as *const u32),
            );
            write_unaligned(dst as *mut u32, a);
            write_unaligned(dst.add(n - 4) as *mut u32, b);
        } else {
            copy_nonoverlapping(s, dst, n);
        }
    }
}

/// See the module documentation. Events are counted in the order pushed.
#[derive(Default)]
pub struct EventQueue {
    /// The queued events' texts, back to back (valid UTF-8 at every
    /// boundary `Queued` records).
    text: Vec<u8>,
    queued: Vec<Queued>,
}

impl EventQueue {
    /// Queues a copy of `e`, counting the queue into `agg` once it is full.
    #[inline]
    pub fn push(&mut self, e: &EventRef<'_>, agg: &mut Aggregator) {
        let parts: [&str; 5] = [&e.id, &e.source, &e.customer, &e.resource, &e.meter];
        self.text.reserve(parts.iter().map(|p| p.len()).sum());
        let start = self.text.len();
        let mut ends = [start; 5];
        let mut at = start;
        let base = self.text.as_mut_ptr();
        for (end, part) in ends.iter_mut().zip(parts) {
            // SAFETY: `reserve` made room for all five parts after `start`.
            unsafe { copy_short(part.as_bytes(), base.add(at)) };
            at += part.len();
            *end = at;
        }
        // SAFETY: the bytes up to `at` were all written just above.
        unsafe { self.text.set_len(at) };
        self.queued.push(Queued {
            start,
            ends,
            value: e.value,
            time_ms: e.time_ms,
        });
        if self.queued.len() == CAPACITY {
            self.flush(agg);
        }
    }

    /// Counts every queued event into `agg`.
    pub fn flush(&mut self, agg: &mut Aggregator) {
        if self.queued.is_empty() {
            return;
        }
        let text = self.text.as_slice();
        let events: Vec<InQueue<'_>> = self.queued.iter().map(|q| InQueue { text, q }).collect();
        agg.apply_batch(&events);
        self.queued.clear();
        self.text.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregatorConfig;
    use crate::UsageEvent;

    #[test]
    fn copies_texts_of_every_length() {
        for n in 0..40u32 {
            let part: Vec<u8> = (0..n).map(|i| b'a' + ((i * 7 + n) % 26) as u8).collect();
            let mut out = vec![b'-'; n as usize + 2];
            // SAFETY: `out` has room for the part after its first byte.
            unsafe { copy_short(&part, out.as_mut_ptr().add(1)) };
            assert_eq!(&out[1..=n as usize], &part[..], "a part of {n} bytes");
            assert_eq!(
                (out[0], out[n as usize + 1]),
                (b'-', b'-'),
                "a part of {n} bytes wrote outside"
            );
        }
    }

    #[test]
    fn counts_the_same_as_one_by_one_in_the_same_order() {
        // Duplicates (first one wins), several windows, rate and gauge
        // meters, unicode texts, and more events than one queue holds.
        let events: Vec<UsageEvent> = (0..500u64)
            .map(|i| UsageEvent {
                id: format!("é-{}", i % 450),
                source: if i % 7 == 0 { "s3:b".into() } else { "edge".into() },
                customer: format!("cust-{}", i % 13),
                resource: format!("res-{}", i % 5),
                meter: ["requests", "bandwidth_out_bytes", "storage_bytes"][(i % 3) as usize].into(),
                value: i * 31 % 1000,
                time_ms: 1_790_812_800_000 + (i as i64 * 7_919_000) % (40 * 86_400_000),
            })
            .collect();
        let mut one = Aggregator::new(AggregatorConfig::default());
        for e in &events {
            one.apply(&EventRef::from(e));
        }
        let mut queued = Aggregator::new(AggregatorConfig::default());
        let mut q = EventQueue::default();
        for e in &events {
            q.push(&EventRef::from(e), &mut queued);
        }
        assert!(
            !q.is_empty(),
            "500 is not a multiple of the capacity: some must wait for the flush"
        );
        q.flush(&mut queued);
        assert!(q.is_empty());
        assert_eq!(queued.counters(), one.counters());
        assert!(one.counters().duplicates > 0);
        assert_eq!(queued.export(), one.export());
    }
}
