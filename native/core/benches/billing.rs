//! Billing at scale: one period of usage for N customers (default 1M, one
//! bucket each, a `bandwidth_out_bytes` series with traffic in a few
//! 5-minute intervals and a `storage_bytes` gauge), billed with three
//! customer-scope lines (total in GB, 95th percentile, GB-month average):
//! 3N invoice lines. Prints the time of `bill` (all customers), of
//! `bill_shard` for each of 4 shards, and of writing every line in the
//! written form (`tally_core::written`).
//!
//!   cargo bench -p tally_core --bench billing
//!   BILL_CUSTOMERS=100000 cargo bench -p tally_core --bench billing

use std::time::Instant;

use tally_core::aggregate::{Aggregator, AggregatorConfig, Window};
use tally_core::billing::{bill, bill_shard, Plans};
use tally_core::written::invoice_line_json;
use tally_core::UsageEvent;

const OCT: i64 = 1_790_812_800_000; // 2026-10-01T00:00:00Z

fn main() {
    let n: usize = std::env::var("BILL_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let config = AggregatorConfig {
        window: Window::Month,
        dedup: false,
        ..AggregatorConfig::default()
    };
    let mut agg = Aggregator::new(config);
    let t = Instant::now();
    let mut batch = Vec::with_capacity(5 * 10_000);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        batch.clear();
        for &i in chunk {
            let customer = format!("customer-{i:07}");
            for k in 0..4i64 {
                batch.push(UsageEvent {
                    id: format!("b{i}-{k}"),
                    source: "edge".into(),
                    customer: customer.clone(),
                    resource: "bucket-0".into(),
                    meter: "bandwidth_out_bytes".into(),
                    value: 1_000_000 + (i as u64 * 7 + k as u64) % 999_983,
                    time_ms: OCT + ((i as i64 * 13 + k * 7919) % 8928) * 300_000,
                });
            }
            batch.push(UsageEvent {
                id: format!("s{i}"),
                source: "storage".into(),
                customer,
                resource: "bucket-0".into(),
                meter: "storage_bytes".into(),
                value: 5 << 30,
                time_ms: OCT + (i as i64 % 700) * 3_600_000,
            });
        }
        agg.apply_all(&batch);
    }
    let usage = agg.close_period(OCT);
    println!(
        "{n} customers, {} series: usage built in {:.2} s",
        usage.series.len(),
        t.elapsed().as_secs_f64()
    );
    let plans = Plans::from_json(
        r#"{"plans": {"std": {"currency": "EUR", "lines": [
              {"meter": "bandwidth_out_bytes", "measure": "total", "unit": "GB", "included": "1",
               "pricing": {"model": "graduated", "tiers": [{"up_to": "100", "unit_price": "5"}, {"unit_price": "3"}]}},
              {"meter": "bandwidth_out_bytes", "measure": "p95_rate", "unit": "Mbps", "pricing": {"model": "flat", "unit_price": "150"}},
              {"meter": "storage_bytes", "measure": "gb_month_average", "unit": "GB", "pricing": {"model": "flat", "unit_price": "2.3"}}]}},
            "default_plan": "std"}"#,
    )
    .expect("plans");
    let t = Instant::now();
    let invoice = bill(&usage, &plans, 1).expect("bill");
    let whole = t.elapsed().as_secs_f64();
    println!(
        "bill: {} lines in {whole:.2} s ({:.0} lines/s)",
        invoice.lines.len(),
        invoice.lines.len() as f64 / whole
    );
    let t = Instant::now();
    let mut lines = 0;
    for shard in 0..4 {
        lines += bill_shard(&usage, &plans, 1, shard, 4)
            .expect("bill_shard")
            .lines
            .len();
    }
    println!(
        "bill_shard, 4 shards one after the other: {lines} lines in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let bytes: usize = invoice.lines.iter().map(|l| invoice_line_json(l).len() + 1).sum();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "written form: {} lines, {:.1} MB in {secs:.2} s ({:.0} lines/s)",
        invoice.lines.len(),
        bytes as f64 / 1e6,
        invoice.lines.len() as f64 / secs
    );
}
