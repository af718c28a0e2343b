//! Memory you can plan for: a month of usage for N series, state by state,
//! measured by a counting allocator (live bytes the aggregator asked for;
//! the system allocator adds its own rounding on top). No files written.
//!
//! Each scenario fills October 2026 (31 days) for N series (N customers,
//! one resource each) and prints the aggregator's live bytes, per series
//! and per event, after subtracting what the same series cost with one
//! event (the series table and one window):
//!
//! * `windows`: the `requests` sum meter, hourly windows, one event per
//!   hour (744 windows a series), no dedup: the cost of a window.
//! * `rate intervals`: `bandwidth_out_bytes` (a rate meter), monthly
//!   windows, one event per 5-minute interval (8928 a series), no dedup:
//!   the cost of a 5-minute interval kept for the 95th percentile.
//! * `gauge samples`: `storage_bytes` (a gauge), monthly windows, a sample
//!   an hour, no dedup: the cost of a sample kept for GB-months and peaks.
//! * `dedup digests`: `requests`, monthly windows, an event an hour, dedup
//!   by id on, less the same without dedup: the cost of remembering an id.
//!
//! * `few events a series`: what a release ingesting `make bench-job`'s
//!   data holds (`bench/gen_data.py`: customers of four buckets, each event
//!   a random bucket at a random second of the month, 1.16 events per
//!   bucket, so a bucket that has any has 1.7): `bandwidth_out_bytes`,
//!   hourly windows, dedup on, for 100 N buckets; the whole state, per
//!   series held and per event. Here the cost of a series dominates.
//!
//!   cargo bench -p tally_core --bench memory            # N = 1000
//!   MEM_SERIES=5000 cargo bench -p tally_core --bench memory

use tally_core::aggregate::{Aggregator, AggregatorConfig, Window};
use tally_core::UsageEvent;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live_bytes;

const OCT: i64 = 1_790_812_800_000; // 2026-10-01T00:00:00Z
const MONTH_MS: i64 = 31 * 24 * 3_600_000;

struct Scenario {
    name: &'static str,
    meter: &'static str,
    window: Window,
    dedup: bool,
    step_ms: i64,
}

/// Live bytes of an aggregator holding `steps` events per series for `n`
/// series (events applied one time step at a time, all series each step).
fn fill(s: &Scenario, n: usize, steps: i64) -> usize {
    let config = AggregatorConfig {
        window: s.window,
        dedup: s.dedup,
        ..AggregatorConfig::default()
    };
    let customers: Vec<String> = (0..n).map(|i| format!("customer-{i:07}")).collect();
    let before = live_bytes();
    let mut agg = Aggregator::new(config);
    let mut batch: Vec<UsageEvent> = Vec::with_capacity(n);
    for step in 0..steps {
        batch.clear();
        for (i, c) in customers.iter().enumerate() {
            batch.push(UsageEvent {
                id: format!("evt-{step}-{i}"),
                source: "edge".into(),
                customer: c.clone(),
                resource: "bucket-0".into(),
                meter: s.meter.into(),
                value: 1000 + (step as u64 % 97),
                time_ms: OCT + step * s.step_ms,
            });
        }
        agg.apply_all(&batch);
    }
    drop(batch);
    let live = live_bytes() - before;
    std::hint::black_box(&agg);
    live
}

/// Live bytes of an aggregator fed `bench/gen_data.py`-like events over
/// `keys` (customer, bucket) pairs, `events` of them; the series it holds,
/// and the process's resident set and its peak once it is filled.
fn fill_sparse(keys: usize, events: usize) -> (usize, usize, (usize, usize)) {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let before = live_bytes();
    let mut agg = Aggregator::new(AggregatorConfig::default());
    let mut batch: Vec<UsageEvent> = Vec::with_capacity(4096);
    for i in 0..events {
        let k = next() as usize % keys;
        batch.push(UsageEvent {
            id: format!("evt-{i}"),
            source: "/edge/fra1".into(),
            customer: format!("cust-{}", k / 4),
            resource: format!("bucket-{}", k % 4),
            meter: "bandwidth_out_bytes".into(),
            value: 1 + next() % 50_000_000,
            time_ms: OCT + (next() % (MONTH_MS as u64 / 1000)) as i64 * 1000,
        });
        if batch.len() == batch.capacity() || i + 1 == events {
            agg.apply_all(&batch);
            batch.clear();
        }
    }
    drop(batch);
    let live = live_bytes() - before;
    let rss_now = rss();
    let series = agg.period_usage(OCT).series.len();
    std::hint::black_box(&agg);
    (live, series, rss_now)
}

/// The process's resident and peak resident set, in bytes (Linux; 0 elsewhere).
fn rss() -> (usize, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<usize>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read from the command line.
    let n: usize = std::env::var("MEM_SERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // First, while the process is fresh: its resident memory too.
    let (keys, events) = (100 * n, 116 * n);
    let (rss_before, _) = rss();
    let (sparse, series, (rss_after, peak)) = fill_sparse(keys, events);
    let scenarios = [
        Scenario {
            name: "windows (hourly)",
            meter: "requests",
            window: Window::Hour,
            dedup: false,
            step_ms: 3_600_000,
        },
        Scenario {
            name: "rate intervals (5 min)",
            meter: "bandwidth_out_bytes",
            window: Window::Month,
            dedup: false,
            step_ms: 300_000,
        },
        Scenario {
            name: "gauge samples (hourly)",
            meter: "storage_bytes",
            window: Window::Month,
            dedup: false,
            step_ms: 3_600_000,
        },
        Scenario {
            name: "dedup digests (hourly)",
            meter: "requests",
            window: Window::Month,
            dedup: true,
            step_ms: 3_600_000,
        },
    ];
    println!("{n} series, October 2026 (31 days); live heap bytes by a counting allocator");
    println!(
        "{:<24} {:>9} {:>14} {:>16} {:>15} {:>15}",
        "state", "events", "bytes total", "bytes/series", "base/series", "bytes/event"
    );
    let plain = Scenario {
        name: "",
        meter: "requests",
        window: Window::Month,
        dedup: false,
        step_ms: 3_600_000,
    };
    for s in &scenarios {
        let steps = MONTH_MS / s.step_ms;
        let total = fill(s, n, steps);
        // What the series cost with one event each: the series entry, one
        // window, one period slot. The rest is the state this row is about.
        let base = fill(s, n, 1);
        let extra = if s.dedup {
            // dedup: against the same events without it.
            total - fill(&plain, n, steps)
        } else {
            total - base
        };
        let events = n as i64 * steps;
        println!(
            "{:<24} {:>9} {:>14} {:>16.1} {:>15.1} {:>15.1}",
            s.name,
            events,
            total,
            total as f64 / n as f64,
            base as f64 / n as f64,
            extra as f64 / (events - if s.dedup { 0 } else { n as i64 }) as f64
        );
    }
    println!(
        "{:<24} {:>9} {:>14} {:>16.1} {:>15} {:>15.1}",
        "few events a series",
        events,
        sparse,
        sparse as f64 / series as f64,
        "",
        sparse as f64 / events as f64
    );
    println!(
        "  ({series} series held; the process's peak resident set grew by {:.1} MB while it filled, \
         {:.1} bytes a series; {:.1} MB at the end)",
        (peak - rss_before) as f64 / 1e6,
        (peak - rss_before) as f64 / series as f64,
        (rss_after - rss_before) as f64 / 1e6
    );
}
