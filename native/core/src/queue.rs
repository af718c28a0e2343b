//! Events copied out of a parser's callback, so that an aggregator can
//! count them in groups. A parser lends each event only for the length of
//! one call, but [`Aggregator::apply_batch`] is fast because it looks a
//! group of events up ahead of counting them; the queue bridges the two by
//! copying each event's texts into one reused buffer (a few dozen bytes,
//! cheaper than the cache misses the lookahead saves), in an
//! [`EventBatch`].

use crate::aggregate::Aggregator;
use crate::batch::EventBatch;
use crate::event::EventRef;

/// How many events are counted together: enough for the lookahead to fill
/// its pipeline, few enough that their texts stay in the L1 cache.
const CAPACITY: usize = 64;

/// See the module documentation. Events are counted in the order pushed.
#[derive(Default)]
pub struct EventQueue {
    queued: EventBatch,
}

impl EventQueue {
    /// Queues a copy of `e`, counting the queue into `agg` once it is full.
    #[inline]
    pub fn push(&mut self, e: &EventRef<'_>, agg: &mut Aggregator) {
        self.queued.push(e);
        if self.queued.len() == CAPACITY {
            self.flush(agg);
        }
    }

    /// Counts every queued event into `agg`.
    pub fn flush(&mut self, agg: &mut Aggregator) {
        if self.queued.is_empty() {
            return;
        }
        self.queued.apply_to(agg);
        self.queued.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregatorConfig;

    #[test]
    fn counts_the_same_as_one_by_one_in_the_same_order() {
        // Duplicates (first one wins), several windows, rate and gauge
        // meters, unicode texts, and more events than one queue holds.
        let events = crate::event::test_events(500);
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
