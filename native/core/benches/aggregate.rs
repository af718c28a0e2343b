//! Aggregation throughput on one core for 1k, 100k and 1M distinct keys
//! (the `requests` sum meter, hourly windows), with deduplication on and
//! off, and the memory held per key, measured by a counting allocator.
//! Events go in with `Aggregator::apply_batch` (the events are borrowed
//! from one buffer, as a caller holding a batch has them).
//! `sum` and `sum_dedup` start each run from an empty aggregator, so with
//! many keys they mostly measure making series and windows (1M events over
//! 100k keys is 10 events per key); `sum_warm` applies the same events to
//! an aggregator that already holds every series and window, the steady
//! state of a long-running aggregator within one window. Two variants of
//! `sum_warm` for comparison: `sum_warm_queued` hands the events over one
//! by one through an `EventQueue`, as a parser feeding an aggregator does
//! (each event's texts copied, then counted in groups); `sum_warm_one`
//! uses `Aggregator::apply`, one event at a time, no lookahead.
//!
//!   cargo bench -p tally_core --bench aggregate

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use tally_core::aggregate::{Aggregator, AggregatorConfig};
use tally_core::event::EventRef;
use tally_core::queue::EventQueue;
use tally_core::UsageEvent;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live_bytes;

const EVENTS: usize = 1_000_000;
const START: i64 = 1_790_812_800_000; // 2026-10-01

/// Events spread over `keys` (customer, resource) pairs in one hour window.
/// Their text lies in one buffer, in order, as it does when the parser hands
/// borrowed events straight from an input chunk to the aggregator.
fn events(keys: usize) -> (String, Vec<UsageEvent>) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..EVENTS)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x as usize) % keys;
            UsageEvent {
                id: format!("evt-{i}"),
                source: "edge".into(),
                customer: format!("customer-{}", k / 10),
                resource: format!("bucket-{}", k % 10),
                meter: "requests".into(),
                value: x % 1000,
                time_ms: START + (i as i64 % 3_600_000),
            }
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold((String::new(), Vec::new()), |(mut text, mut v), e| {
            text.push_str(&e.id);
            text.push_str(&e.source);
            text.push_str(&e.customer);
            text.push_str(&e.resource);
            text.push_str(&e.meter);
            v.push(e);
            (text, v)
        })
}

/// Borrowed events over the buffer `events` wrote.
fn borrow<'a>(text: &'a str, events: &[UsageEvent]) -> Vec<EventRef<'a>> {
    let mut at = 0;
    let mut take = |len: usize| {
        let s = &text[at..at + len];
        at += len;
        std::borrow::Cow::Borrowed(s)
    };
    events
        .iter()
        .map(|e| EventRef {
            id: take(e.id.len()),
            source: take(e.source.len()),
            customer: take(e.customer.len()),
            resource: take(e.resource.len()),
            meter: take(e.meter.len()),
            value: e.value,
            time_ms: e.time_ms,
        })
        .collect()
}

/// Counts `events` the way a parser's events are counted: one at a time
/// into an [`EventQueue`], which counts them into the aggregator in groups.
fn queued(agg: &mut Aggregator, events: &[EventRef<'_>]) {
    let mut queue = EventQueue::default();
    for e in events {
        queue.push(e, agg);
    }
    queue.flush(agg);
}

fn run(events: &[EventRef<'_>], dedup: bool) -> Aggregator {
    let mut agg = Aggregator::new(AggregatorConfig {
        dedup,
        ..AggregatorConfig::default()
    });
    agg.apply_batch(events);
    agg
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    let mut report = Vec::new();
    for keys in [1_000usize, 100_000, 1_000_000] {
        let (text, owned) = events(keys);
        let refs = borrow(&text, &owned);
        drop(owned);
        let mut group = c.benchmark_group("aggregate");
        group.throughput(Throughput::Elements(EVENTS as u64));
        for dedup in [false, true] {
            let name = if dedup { "sum_dedup" } else { "sum" };
            group.bench_with_input(BenchmarkId::new(name, keys), &refs, |b, refs| {
                b.iter(|| black_box(run(refs, dedup)))
            });
            let before = live_bytes();
            let agg = run(&refs, dedup);
            let held = live_bytes() - before;
            report.push((name, keys, agg.window_count(), held));
            drop(agg);
        }
        let mut warm = run(&refs, false);
        let windows = warm.window_count();
        group.bench_with_input(BenchmarkId::new("sum_warm", keys), &refs, |b, refs| {
            b.iter(|| warm.apply_batch(refs))
        });
        report.push(("sum_warm", keys, windows, 0));
        group.bench_with_input(BenchmarkId::new("sum_warm_queued", keys), &refs, |b, refs| {
            b.iter(|| queued(&mut warm, refs))
        });
        report.push(("sum_warm_queued", keys, windows, 0));
        // The same without the queue's lookahead: one event, one lookup.
        group.bench_with_input(BenchmarkId::new("sum_warm_one", keys), &refs, |b, refs| {
            b.iter(|| {
                for e in refs.iter() {
                    warm.apply(e);
                }
            })
        });
        report.push(("sum_warm_one", keys, windows, 0));
        group.finish();
    }
    c.final_summary();
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_string());
    // Events/s from the mean time, and from the fastest sample (this shared
    // VM's neighbours only ever add time; both are printed).
    let read = |name: &str, keys: usize, file: &str| {
        std::fs::read_to_string(format!("{dir}/criterion/aggregate/{name}/{keys}/new/{file}")).ok()
    };
    let number_after = |text: &str, key: &str| -> Option<f64> {
        let j = text.find(key)? + key.len();
        text[j..]
            .split([',', '}', ']'])
            .next()?
            .trim()
            .parse::<f64>()
            .ok()
    };
    let mean_ns = |name: &str, keys: usize| {
        let t = read(name, keys, "estimates.json")?;
        let i = t.find("\"mean\"")?;
        number_after(&t[i..], "\"point_estimate\":")
    };
    let best_ns = |name: &str, keys: usize| {
        let t = read(name, keys, "sample.json")?;
        let list = |key: &str| -> Option<Vec<f64>> {
            let j = t.find(key)? + key.len();
            let body = &t[j..j + t[j..].find(']')?];
            body.split(',').map(|x| x.trim().parse::<f64>().ok()).collect()
        };
        let (iters, times) = (list("\"iters\":[")?, list("\"times\":[")?);
        iters
            .iter()
            .zip(&times)
            .map(|(i, t)| t / i)
            .min_by(f64::total_cmp)
    };
    let rate =
        |ns: Option<f64>| ns.map_or("?".to_string(), |ns| format!("{:.0}", EVENTS as f64 / (ns / 1e9)));
    println!(
        "\n{:<16} {:>10} {:>16} {:>16} {:>16}",
        "meter", "keys", "events/s", "best events/s", "bytes held/key"
    );
    for (name, keys, windows, held) in report {
        println!(
            "{:<16} {:>10} {:>16} {:>16} {:>16}",
            name,
            windows,
            rate(mean_ns(name, keys)),
            rate(best_ns(name, keys)),
            held / windows.max(1)
        );
    }
    println!("(bytes held/key includes the dedup digests of {EVENTS} events where dedup is on; the sum_warm rows allocate nothing)");
}
