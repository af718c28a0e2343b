//// Aggregated usage: the values an aggregator holds and reports, the same
//// from every backend.

import tally/event
import tally/option

/// The width of aggregation windows (tumbling, UTC). The billing period is
/// always the calendar month.
pub type Window {
  Hour
  Day
  Month
}

/// How an aggregator aggregates: window width, deduplication by (source,
/// id), the meters that keep 5-minute rates (for p95), the gauge meters
/// (snapshots, for GB-months and peak), the meters whose distinct values are
/// counted, and how long one gauge sample may last without a next one.
pub type AggregatorConfig {
  AggregatorConfig(
    window: Window,
    dedup: Bool,
    rate_meters: List(String),
    gauge_meters: List(String),
    unique_meters: List(String),
    gauge_gap_cap_ms: Int,
  )
}

/// Hourly windows, dedup on, bandwidth meters as rates, `storage_bytes`
/// as a gauge with a 48-hour gap cap.
///
/// ```gleam
/// usage.default_config().window
/// // -> usage.Hour
/// ```
pub fn default_config() -> AggregatorConfig {
  AggregatorConfig(
    window: Hour,
    dedup: True,
    rate_meters: ["bandwidth_out_bytes", "bandwidth_in_bytes"],
    gauge_meters: ["storage_bytes"],
    unique_meters: [],
    gauge_gap_cap_ms: 172_800_000,
  )
}

/// The statistics of one window of one (customer, resource, meter).
/// `latest` is the value at the greatest time (the greater value on ties);
/// `unique_count` is set for meters configured as unique.
pub type WindowAggregate {
  WindowAggregate(
    customer: String,
    resource: String,
    meter: String,
    window_start_ms: Int,
    sum: Int,
    count: Int,
    min: Int,
    max: Int,
    latest: Int,
    latest_time_ms: Int,
    unique_count: option.Option(Int),
  )
}

/// What an aggregator did with the events it was given: counted, ignored
/// as duplicates, or kept aside as late for a closed period.
pub type Counters {
  Counters(applied: Int, duplicates: Int, late: Int)
}

/// What feeding one chunk did: the parser's counts for the chunk, its
/// rejects, and the aggregator's counters after it.
pub type FeedResult {
  FeedResult(
    stats: event.ParseStats,
    rejects: List(event.Reject),
    counters: Counters,
  )
}

/// A snapshot read back by `load`: the aggregator and the bytes saved with
/// it (a shard's source positions).
pub type Loaded(aggregator) {
  Loaded(aggregator: aggregator, extra: BitArray)
}
