//! What the release's main path costs in Rust alone, on a bench/gen_data.py
//! file cut in 1 MB chunks at line ends: `ingest_chunk` (parse and partition
//! into one `EventBatch` per shard) and `EventBatch::apply_to` (each shard's
//! count), beside `Aggregator::feed` (parse straight into one aggregator);
//! and the memory an `EventBatch` holds per event.
//!
//!   FILE=/tmp/tally-bench-100mb.jsonl SHARDS=4 cargo bench -p tally_core --bench batch
//!
//! (`make bench-ingest` makes that file when missing.) Times are the
//! fastest of three runs.

#[path = "support/chunks.rs"]
mod chunks;
use chunks::chunks;
use std::time::Instant;

use tally_core::aggregate::{Aggregator, AggregatorConfig};
use tally_core::batch::{ingest_chunk, RECORD_BYTES};
use tally_core::parse::{ParserOptions, StreamParser};
use tally_core::reject::Format;

fn fastest<T>(mut run: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..3 {
        let t = Instant::now();
        let v = run();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    (best, last.expect("three runs"))
}

fn main() {
    let file = std::env::var("FILE").unwrap_or_else(|_| "/tmp/tally-bench-100mb.jsonl".into());
    let shards: u32 = std::env::var("SHARDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let Ok(data) = std::fs::read(&file) else {
        println!(
            "batch bench: no data file {file} (make one with bench/gen_data.py, or run make bench-ingest)"
        );
        return;
    };
    let parts = chunks(&data, 1 << 20);
    let mb = data.len() as f64 / 1e6;
    let config = AggregatorConfig::default();
    println!(
        "batch bench: {file}, {mb:.1} MB in {} chunks, {shards} shards",
        parts.len()
    );

    let (feed_s, _) = fastest(|| {
        let mut agg = Aggregator::new(config.clone());
        let mut p = StreamParser::new(Format::JsonLines, ParserOptions::default());
        for c in &parts {
            agg.feed(&mut p, Some(c));
        }
        agg.feed(&mut p, None);
        agg.counters().applied
    });
    let (ingest_s, ingested) = fastest(|| {
        parts
            .iter()
            .map(|c| ingest_chunk(Format::JsonLines, ParserOptions::default(), shards, c))
            .collect::<Vec<_>>()
    });
    let (apply_s, applied) = fastest(|| {
        let mut aggs: Vec<Aggregator> = (0..shards).map(|_| Aggregator::new(config.clone())).collect();
        for got in &ingested {
            for (agg, b) in aggs.iter_mut().zip(&got.batches) {
                b.apply_to(agg);
            }
        }
        aggs.iter().map(|a| a.counters().applied).sum::<u64>()
    });
    let events: usize = ingested
        .iter()
        .flat_map(|g| g.batches.iter().map(|b| b.len()))
        .sum();
    let held: usize = ingested
        .iter()
        .flat_map(|g| g.batches.iter().map(|b| b.heap_bytes()))
        .sum();
    let input_per_event = data.len() as f64 / events as f64;
    println!(
        "{:<34} {:>9.1} MB/s",
        "feed (parse into one aggregator)",
        mb / feed_s
    );
    println!(
        "{:<34} {:>9.1} MB/s",
        "ingest_chunk (parse, partition)",
        mb / ingest_s
    );
    println!(
        "{:<34} {:>9.1} MB/s",
        "apply_to (count every shard)",
        mb / apply_s
    );
    println!("{:<34} {:>9.1} MB/s", "ingest + apply", mb / (ingest_s + apply_s));
    println!(
        "EventBatch: {events} events ({applied} counted), {:.1} bytes/event held ({RECORD_BYTES} fixed + {:.1} of texts), \
         {:.2}x the input's {input_per_event:.1} bytes/event",
        held as f64 / events as f64,
        held as f64 / events as f64 - RECORD_BYTES as f64,
        held as f64 / data.len() as f64,
    );
}
