//! A close in Rust alone, as each shard of the release does it
//! (`aggregator_close_written`), on a bench/gen_data.py file: the file
//! parsed and partitioned among SHARDS aggregators (`ingest_chunk`,
//! `EventBatch::apply_to`), then for each shard the period's usage
//! (`close_period`), its customers billed and the lines written into
//! outbox batches (`bill_shard_written`, with PLANS; beside `bill_shard`
//! then `write_invoice`, the same bytes through owned lines), the usage
//! freed, and the shard's snapshot after the close (its bytes counted, not
//! written). Shards one after the other; CPU seconds of this thread (the
//! machine may be shared).
//!
//!   FILE=/work/benchdata/jsonl-1000mb-4000000keys.jsonl PLANS=bench/plans_job3.json \
//!     cargo bench -p tally_core --bench close

#[path = "support/chunks.rs"]
mod chunks;
use chunks::chunks;
use std::time::Instant;

use tally_core::aggregate::{Aggregator, AggregatorConfig, Round};
use tally_core::batch::ingest_chunk;
use tally_core::billing::{bill_shard, Plans};
use tally_core::parse::ParserOptions;
use tally_core::reject::Format;
use tally_core::snapshot::{save, SnapshotStore};
use tally_core::written::{bill_shard_written, close_round_written, write_invoice};

const OCT: i64 = 1_790_812_800_000; // 2026-10-01T00:00:00Z

/// Snapshot files that keep nothing: a save's work without the disk's.
struct Discard;

impl SnapshotStore for Discard {
    fn replace_base(
        &mut self,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64> {
        write(&mut std::io::sink())
    }
    fn reset_log(&mut self, _header: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
    fn append_log(
        &mut self,
        _at: u64,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<u64>,
    ) -> std::io::Result<u64> {
        write(&mut std::io::sink())
    }
}

/// This thread's CPU seconds so far (user and system, from
/// /proc/thread-self/stat): the machine may be shared, wall time is not
/// enough.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after.split(' ').map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    let file = std::env::var("FILE").unwrap_or_else(|_| "/tmp/tally-bench-100mb.jsonl".into());
    // cargo bench runs in the package's directory.
    let plans_file = std::env::var("PLANS").unwrap_or_else(|_| "../../bench/plans_job3.json".into());
    let shards: u32 = std::env::var("SHARDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let (Ok(data), Ok(plans)) = (std::fs::read(&file), std::fs::read_to_string(&plans_file)) else {
        println!(
            "close bench: no data file {file} or plans file {plans_file} (make one with bench/gen_data.py)"
        );
        return;
    };
    let plans = Plans::from_json(&plans).expect("plans");
    let t = Instant::now();
    let mut aggs: Vec<Aggregator> = (0..shards)
        .map(|_| Aggregator::new(AggregatorConfig::default()))
        .collect();
    for chunk in chunks(&data, 1 << 20) {
        let ingested = ingest_chunk(Format::JsonLines, ParserOptions::default(), shards, chunk);
        for (b, a) in ingested.batches.iter().zip(aggs.iter_mut()) {
            b.apply_to(a);
        }
    }
    drop(data);
    // The shards' snapshots before the close, as ingest leaves them.
    for (i, a) in aggs.iter_mut().enumerate() {
        save(a, &format!("shard-{i}"), b"", &mut Discard).expect("save");
    }
    println!(
        "{file}: counted into {shards} shards in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    // CPU seconds (the machine may be shared) of each step, all shards.
    let (mut usage_s, mut owned_s, mut billed_s, mut free_s, mut save_s) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut lines, mut series) = (0usize, 0usize);
    for (i, a) in aggs.iter_mut().enumerate() {
        let shard = i as u32;
        let t0 = cpu_s();
        let usage = a.close_period(OCT);
        let t1 = cpu_s();
        // Billed into owned lines, then written (the close before
        // bill_shard_written): both freed.
        let invoice = bill_shard(&usage, &plans, 1, shard, shards).expect("bill");
        let before = write_invoice(&invoice);
        lines += invoice.lines.len();
        drop(invoice);
        let t2 = cpu_s();
        // Written as billed (the release's close).
        let written = bill_shard_written(&usage, &plans, 1, shard, shards).expect("bill");
        let t3 = cpu_s();
        assert!(written == before, "shard {i}: written as billed differs");
        // In rounds of 10000 lines (the release's close), from a cursor.
        let plans_arc = std::sync::Arc::new(plans.clone());
        let (mut from, mut rounds, mut first_s) = (None::<String>, 0, 0.0);
        let mut ids: Vec<u8> = Vec::new();
        let t_rounds = cpu_s();
        loop {
            let r = close_round_written(
                a,
                Round {
                    period_start_ms: OCT,
                    plans: plans_arc.clone(),
                    version: 1,
                    shard,
                    shards,
                    from: from.as_deref(),
                    max_lines: 10_000,
                },
            )
            .expect("round");
            if rounds == 0 {
                first_s = cpu_s() - t_rounds;
            }
            rounds += 1;
            r.batches.iter().for_each(|b| ids.extend_from_slice(&b.ids));
            match r.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        let rounds_s = cpu_s() - t_rounds;
        let want: Vec<u8> = written
            .batches
            .iter()
            .flat_map(|b| b.ids.iter().copied())
            .collect();
        assert!(ids == want, "shard {i}: the rounds' lines differ");
        println!("shard {i}: {rounds} rounds {rounds_s:.2} s (the first, with its cursor, {first_s:.2} s)");
        drop((before, written));
        series += usage.series.len();
        let t4 = cpu_s();
        drop(usage);
        let t5 = cpu_s();
        // The shard's snapshot after the close.
        let saved = save(a, &format!("shard-{i}"), b"", &mut Discard).expect("save");
        let t6 = cpu_s();
        println!(
            "shard {i}: usage {:.2} s, billed and written {:.2} s (owned lines) / {:.2} s (written as billed), \
             usage freed {:.2} s, snapshot {:.2} s ({} MB{})",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t5 - t4,
            t6 - t5,
            saved.bytes >> 20,
            if saved.base { ", whole" } else { "" }
        );
        usage_s += t1 - t0;
        owned_s += t2 - t1;
        billed_s += t3 - t2;
        free_s += t5 - t4;
        save_s += t6 - t5;
    }
    let per_line = |s: f64| s * 1e6 / lines.max(1) as f64;
    let (before, after) = (
        usage_s + owned_s + free_s + save_s,
        usage_s + billed_s + free_s + save_s,
    );
    println!(
        "close of {series} series, {lines} lines, CPU s: usage {usage_s:.2}, billed and written \
         {owned_s:.2} (owned lines) / {billed_s:.2} (written as billed), usage freed {free_s:.2}, \
         snapshot {save_s:.2}; close {before:.2} s ({:.2} us a line) with owned lines, \
         {after:.2} s ({:.2} us a line) written as billed",
        per_line(before),
        per_line(after)
    );
}
