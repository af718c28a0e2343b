//! Events held by the engine between parsing and counting, so that they
//! never become BEAM terms: a collector hands a raw chunk to the engine
//! ([`ingest_chunk`]), which parses it and partitions the events by shard
//! ([`crate::shard::shard_of`]) into one [`EventBatch`] per shard; each shard
//! then counts its own batch ([`EventBatch::apply_to`]).
//!
//! An [`EventBatch`] is compact: the five texts of every event lie back to
//! back in one buffer, and each event adds a fixed record of 40 bytes
//! (offsets as `u32`, value, time). So an event costs 40 bytes plus its
//! texts (id, source, customer, resource, meter): about 120 bytes for a
//! typical JSON Lines event with a UUID id (96 bytes per event on the
//! 100 MB `bench/gen_data.py` file, 0.44x its JSON; `cargo bench --bench
//! batch` prints it). [`crate::queue::EventQueue`] counts a parser's events
//! through the same structure.
//!
//! Why a chunk is parsed whole, with no parser state kept between chunks:
//! a collector already cuts its reads at line ends (it needs them for its
//! positions), and a batch that depends on nothing but its chunk can be
//! made again from (chunk, shard count, shard index): the port replays a
//! journaled apply that way after a restart. A stream whose records cross
//! chunks keeps using `parser_new`/`aggregator_feed`.

use crate::aggregate::Aggregator;
use crate::event::{EventFields, EventRef, EventSink, UsageEvent};
use crate::parse::{ParseStats, ParserOptions, StreamParser};
use crate::reject::{Format, Reject};
use crate::shard::shard_of;

/// Bytes of the fixed record each event adds to a batch (besides its texts).
pub const RECORD_BYTES: usize = std::mem::size_of::<Packed>();

/// How many events [`EventBatch::apply_to`] hands to the aggregator's
/// lookahead at once: enough to fill its pipeline, few enough that the
/// views stay in the L1 cache.
const GROUP: usize = 256;

/// Where an event's id, source, customer, resource and meter lie in the
/// batch's text: back to back, from `start` to each of `ends`.
#[derive(Clone, Copy)]
struct Packed {
    start: u32,
    ends: [u32; 5],
    value: u64,
    time_ms: i64,
}

/// An event of a batch, read in place.
#[derive(Clone, Copy)]
pub struct BatchEvent<'a> {
    text: &'a [u8],
    p: &'a Packed,
}

impl BatchEvent<'_> {
    #[inline(always)]
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { self.p.start } else { self.p.ends[i - 1] } as usize;
        let bytes = &self.text[start..self.p.ends[i] as usize];
        // SAFETY: `push` copied whole `str`s to exactly these bounds.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl EventFields for BatchEvent<'_> {
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
        self.p.value
    }
    #[inline(always)]
    fn time_ms(&self) -> i64 {
        self.p.time_ms
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

/// Events in order, their texts in one buffer. See the module documentation.
#[derive(Default, Clone)]
pub struct EventBatch {
    /// The events' texts, back to back (valid UTF-8 at every boundary a
    /// `Packed` records).
    text: Vec<u8>,
    events: Vec<Packed>,
    /// Deduplication by event id when counted: `None` follows the
    /// aggregator's setting; [`ingest_chunk`] sets the source's.
    dedup: Option<bool>,
}

impl EventBatch {
    /// Appends a copy of `e`.
    ///
    /// # Panics
    /// When the batch's texts would pass 4 GiB (offsets are `u32`); the
    /// adapters refuse chunks that could get there.
    #[inline]
    pub fn push<E: EventFields>(&mut self, e: &E) {
        let parts: [&str; 5] = [e.id(), e.source(), e.customer(), e.resource(), e.meter()];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let start = self.text.len();
        assert!(
            start + total <= u32::MAX as usize,
            "an event batch holds at most 4 GiB of text"
        );
        self.text.reserve(total);
        let mut ends = [0u32; 5];
        let mut at = start;
        let base = self.text.as_mut_ptr();
        for (end, part) in ends.iter_mut().zip(parts) {
            // SAFETY: `reserve` made room for all five parts after `start`.
            unsafe { copy_short(part.as_bytes(), base.add(at)) };
            at += part.len();
            *end = at as u32;
        }
        // SAFETY: the bytes up to `at` were all written just above.
        unsafe { self.text.set_len(at) };
        self.events.push(Packed {
            start: start as u32,
            ends,
            value: e.value(),
            time_ms: e.time_ms(),
        });
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.text.clear();
    }

    /// The events in order, read in place.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = BatchEvent<'_>> + '_ {
        let text = self.text.as_slice();
        self.events.iter().map(move |p| BatchEvent { text, p })
    }

    /// Owned copies of the events (for inspection and tests; the main path
    /// never needs them).
    pub fn to_events(&self) -> Vec<UsageEvent> {
        self.iter().map(|e| e.to_event()).collect()
    }

    /// Bytes of memory the batch holds (its two buffers' capacities).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.events.capacity() * RECORD_BYTES
    }

    /// Gives back the room the buffers grew into beyond what they hold.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.events.shrink_to_fit();
    }

    /// Whether the batch is counted with deduplication by event id (`None`:
    /// as the aggregator is configured).
    pub fn dedup(&self) -> Option<bool> {
        self.dedup
    }

    pub fn set_dedup(&mut self, dedup: Option<bool>) {
        self.dedup = dedup;
    }

    /// Counts every event into `agg`, in order, through the aggregator's
    /// lookahead ([`Aggregator::apply_batch_with`], with the batch's dedup
    /// setting): the same counts as [`Aggregator::apply`] one by one.
    pub fn apply_to(&self, agg: &mut Aggregator) {
        let dedup = self.dedup.unwrap_or(agg.config().dedup);
        let text = self.text.as_slice();
        let mut views: Vec<BatchEvent<'_>> = Vec::with_capacity(GROUP.min(self.events.len()));
        for group in self.events.chunks(GROUP) {
            views.clear();
            views.extend(group.iter().map(|p| BatchEvent { text, p }));
            agg.apply_batch_with(&views, dedup);
        }
    }
}

impl FromIterator<UsageEvent> for EventBatch {
    fn from_iter<I: IntoIterator<Item = UsageEvent>>(events: I) -> Self {
        let mut batch = EventBatch::default();
        for e in events {
            batch.push(&EventRef::from(&e));
        }
        batch
    }
}

/// What [`ingest_chunk`] made of a chunk: one batch per shard (shard `i`'s
/// at index `i`), the chunk's rejects and its parse counts, exactly as
/// [`crate::parse::parse_all`] gives them.
pub struct Ingested {
    pub batches: Vec<EventBatch>,
    pub rejects: Vec<Reject>,
    pub stats: ParseStats,
}

/// Sends each event to its shard's batch, and keeps the rejects.
struct Partition {
    shards: u32,
    batches: Vec<EventBatch>,
    rejects: Vec<Reject>,
}

impl EventSink for Partition {
    #[inline]
    fn event(&mut self, e: EventRef<'_>) {
        let i = shard_of(&e.customer, self.shards) as usize;
        self.batches[i].push(&e);
    }
    fn reject(&mut self, reject: Reject) {
        self.rejects.push(reject);
    }
}

/// Parses a whole chunk (a self-contained input: lines cut at a newline, or
/// a whole RGW document) and partitions its events among `shards` shards
/// (at least one). Rejects carry lines and offsets relative to the chunk.
pub fn ingest_chunk(format: Format, options: ParserOptions, shards: u32, chunk: &[u8]) -> Ingested {
    let shards = shards.max(1);
    let dedup = Some(options.dedup);
    let mut parser = StreamParser::new(format, options);
    let mut out = Partition {
        shards,
        batches: (0..shards)
            .map(|_| EventBatch {
                dedup,
                ..EventBatch::default()
            })
            .collect(),
        rejects: Vec::new(),
    };
    parser.feed(chunk, &mut out);
    parser.finish(&mut out);
    for b in &mut out.batches {
        b.shrink_to_fit();
    }
    Ingested {
        batches: out.batches,
        rejects: out.rejects,
        stats: parser.stats(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregatorConfig;
    use crate::parse::parse_all;

    use crate::event::test_events as sample;

    #[test]
    fn a_record_is_40_bytes() {
        assert_eq!(RECORD_BYTES, 40);
    }

    #[test]
    fn holds_events_exactly_in_order() {
        let events = sample(700);
        let batch: EventBatch = events.iter().cloned().collect();
        assert_eq!(batch.len(), 700);
        assert_eq!(batch.to_events(), events);
        let empty = EventBatch::default();
        assert!(empty.is_empty() && empty.to_events().is_empty());
    }

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
                "{n} bytes wrote outside"
            );
        }
    }

    #[test]
    fn counts_the_same_as_one_by_one() {
        // Duplicates (first one wins), several windows, more than one group.
        let events = sample(1000);
        let mut one = Aggregator::new(AggregatorConfig::default());
        for e in &events {
            one.apply(&EventRef::from(e));
        }
        let mut batched = Aggregator::new(AggregatorConfig::default());
        let batch: EventBatch = events.iter().cloned().collect();
        batch.apply_to(&mut batched);
        assert!(one.counters().duplicates > 0);
        assert_eq!(batched.counters(), one.counters());
        assert_eq!(batched.export(), one.export());
    }

    fn jsonl(n: usize) -> Vec<u8> {
        let mut s = String::new();
        for i in 0..n {
            if i % 11 == 5 {
                s.push_str("{not json\n");
            } else if i % 17 == 3 {
                s.push('\n');
            } else {
                s.push_str(&format!(
                    "{{\"id\":\"e{i}\",\"source\":\"/s\",\"type\":\"usage\",\"subject\":\"c{}\",\
                     \"time\":\"2026-10-0{}T10:00:00Z\",\"data\":{{\"meter\":\"requests\",\"value\":{i},\"resource\":\"r\"}}}}\n",
                    i % 23,
                    1 + i % 9
                ));
            }
        }
        s.into_bytes()
    }

    #[test]
    fn partitions_exactly_what_parse_all_gives() {
        let input = jsonl(400);
        let (whole, stats) = parse_all(Format::JsonLines, ParserOptions::default(), &input);
        let got = ingest_chunk(Format::JsonLines, ParserOptions::default(), 4, &input);
        assert_eq!(got.stats, stats);
        assert_eq!(got.rejects, whole.rejects);
        assert!(!got.rejects.is_empty());
        assert_eq!(got.batches.len(), 4);
        for (i, b) in got.batches.iter().enumerate() {
            let mine: Vec<UsageEvent> = whole
                .events
                .iter()
                .filter(|e| shard_of(&e.customer, 4) as usize == i)
                .cloned()
                .collect();
            assert!(
                !mine.is_empty(),
                "shard {i} got no event: the test data is too small"
            );
            assert_eq!(b.to_events(), mine, "shard {i}");
            assert_eq!(
                b.heap_bytes(),
                b.text.len() + b.len() * RECORD_BYTES,
                "shrunk to fit"
            );
        }
        // Zero shards is one shard.
        let one = ingest_chunk(Format::JsonLines, ParserOptions::default(), 0, &input);
        assert_eq!(one.batches.len(), 1);
        assert_eq!(one.batches[0].to_events(), whole.events);
    }

    #[test]
    fn shards_counting_their_batches_equal_one_aggregator() {
        let input = jsonl(600);
        let mut all = Aggregator::new(AggregatorConfig::default());
        let (whole, _) = parse_all(Format::JsonLines, ParserOptions::default(), &input);
        all.apply_all(&whole.events);
        let got = ingest_chunk(Format::JsonLines, ParserOptions::default(), 3, &input);
        let mut merged = Aggregator::new(AggregatorConfig::default());
        for b in &got.batches {
            let mut shard = Aggregator::new(AggregatorConfig::default());
            b.apply_to(&mut shard);
            merged.merge(&shard).unwrap();
        }
        assert_eq!(merged.export(), all.export());
    }

    /// A source's `dedup` option travels with its batches: the same chunk
    /// twice counts once with it on, twice with it off, into one aggregator
    /// configured either way.
    #[test]
    fn a_batch_is_counted_with_its_sources_dedup_setting() {
        let events = sample(50);
        let unique = events
            .iter()
            .map(|e| (e.source.clone(), e.id.clone()))
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
        assert!(unique < 50);
        let chunk: String = events
            .iter()
            .map(|e| {
                format!(
                    "{{\"id\":\"{}\",\"source\":\"{}\",\"subject\":\"{}\",\"time\":\"2026-10-05T00:00:00Z\",\"data\":{{\"resource\":\"{}\",\"meter\":\"{}\",\"value\":{}}}}}\n",
                    e.id, e.source, e.customer, e.resource, e.meter, e.value
                )
            })
            .collect();
        for agg_dedup in [true, false] {
            for source_dedup in [true, false] {
                let options = ParserOptions {
                    dedup: source_dedup,
                    ..ParserOptions::default()
                };
                let mut agg = Aggregator::new(AggregatorConfig {
                    dedup: agg_dedup,
                    ..AggregatorConfig::default()
                });
                for _ in 0..2 {
                    let got = ingest_chunk(Format::JsonLines, options.clone(), 1, chunk.as_bytes());
                    assert_eq!(got.batches[0].dedup(), Some(source_dedup));
                    got.batches[0].apply_to(&mut agg);
                }
                let c = agg.counters();
                if source_dedup {
                    assert_eq!((c.applied, c.duplicates), (unique, 100 - unique), "{c:?}");
                } else {
                    assert_eq!((c.applied, c.duplicates), (100, 0), "{c:?}");
                }
            }
        }
    }
}
