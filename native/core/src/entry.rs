//! The operations' entry points: what the generated NIF and port adapters
//! call (native/core/src/operations.rs names them), with the argument checks
//! both backends must make the same way. Each takes the operation's
//! arguments as Rust values (handles as `&mut` their state) and returns an
//! `IntoGleam` value, or a Gleam error value (`BadArgument(..)`, or the
//! core's own error) that the adapter returns as `{error, E}`.

use tally_interop::{DecodeError, FromGleam, IntoGleam, Value};

use crate::aggregate::{parse_period, Aggregator, AggregatorCounters, FeedOutcome, PeriodUsage, Round};
use crate::batch::{EventBatch, Ingested};
use crate::billing::{bill, bill_shard, BillingError, Invoice, Plans, PlansCache};
use crate::gleam_shapes::{parsed, window_aggregate};
use crate::parse::{Batch, ParserOptions, StreamParser};
use crate::written::{bill_shard_written, close_round_written, WrittenInvoice, WrittenRound};
use crate::{Format, UsageEvent};

/// `BadArgument(what)`: an argument of the right type but not a value the
/// operation takes.
pub fn bad_argument(what: &'static str) -> Value {
    Value::record("bad_argument", vec![what.into_gleam()])
}

/// A shard count: 1 to 2^32-1 (anything else is
/// `BadArgument("a shard count from 1 to 2^32-1")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardCount(pub u32);

impl FromGleam for ShardCount {
    fn from_gleam(term: &tally_interop::etf::Term) -> Result<Self, DecodeError> {
        u32::from_gleam(term)
            .ok()
            .filter(|&n| n > 0)
            .map(ShardCount)
            .ok_or_else(|| DecodeError::new("a shard count from 1 to 2^32-1"))
    }
}

/// Where `panic_for_test` panics: in the work, or while its result is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, tally_interop::FromGleam)]
pub enum PanicStage {
    Work,
    Encode,
}

/// Biggest chunk `ingest_chunk` takes: a batch's offsets are 32 bits.
pub const MAX_CHUNK: usize = 1 << 30;
/// Snapshots hold billing data: readable by their owner only.
pub const SNAPSHOT_MODE: u32 = 0o600;

/// The plans of the last close: its shards parse the plans file once.
static PLANS: PlansCache = PlansCache::new();

/// Parses one complete input.
pub fn parse_chunk(format: Format, options: ParserOptions, chunk: &[u8]) -> Value {
    let (batch, stats) = crate::parse_all(format, options, chunk);
    parsed(batch, stats)
}

/// What a streaming parser completes with `chunk` (`None`: the end of its input).
fn parser_step(parser: &mut StreamParser, chunk: Option<&[u8]>) -> Value {
    let (before, mut batch) = (parser.stats(), Batch::default());
    match chunk {
        Some(chunk) => parser.feed(chunk, &mut batch),
        None => parser.finish(&mut batch),
    }
    parsed(batch, parser.stats().since(before))
}

pub fn parser_feed(parser: &mut StreamParser, chunk: &[u8]) -> Value {
    parser_step(parser, Some(chunk))
}

pub fn parser_finish(parser: &mut StreamParser) -> Value {
    parser_step(parser, None)
}

/// A parser from `parser_export`'s bytes.
pub fn parser_import(bytes: &[u8]) -> Result<StreamParser, Value> {
    StreamParser::import_state(bytes).map_err(|_| bad_argument("a parser state"))
}

pub fn aggregator_feed(agg: &mut Aggregator, parser: &mut StreamParser, chunk: &[u8]) -> FeedOutcome {
    agg.feed(parser, Some(chunk))
}

pub fn aggregator_finish(agg: &mut Aggregator, parser: &mut StreamParser) -> FeedOutcome {
    agg.feed(parser, None)
}

pub fn add_events(agg: &mut Aggregator, events: Vec<UsageEvent>) -> AggregatorCounters {
    agg.apply_all(&events);
    agg.counters()
}

/// Every window as its Gleam value, sorted.
pub fn windows(agg: &mut Aggregator) -> Vec<Value> {
    agg.windows()
        .into_iter()
        .map(|(k, s, st)| window_aggregate(&k, s, st))
        .collect()
}

/// The period's start, from `YYYY-MM`.
fn period_start(period: &str) -> Result<i64, Value> {
    parse_period(period).ok_or_else(|| bad_argument("a period YYYY-MM"))
}

pub fn close_period(agg: &mut Aggregator, period: &str, plans: &str, version: u32) -> Result<Invoice, Value> {
    let start = period_start(period)?;
    let plans = PLANS.parse(plans).map_err(IntoGleam::into_gleam)?;
    let usage = agg.close_period(start);
    bill(&usage, &plans, version).map_err(IntoGleam::into_gleam)
}

/// One shard's invoice: the arguments checked, the period closed, the
/// customers of shard `shard` of `shards` billed.
pub fn close_shard(
    agg: &mut Aggregator,
    period: &str,
    plans: &str,
    version: u32,
    shard: u32,
    shards: u32,
) -> Result<Invoice, Value> {
    close_and_bill(agg, period, plans, (version, shard, shards), bill_shard)
}

/// [`close_shard`] with the lines in their written form, each written as
/// it is billed (`bill_shard_written`: no line is owned on the way).
pub fn close_written(
    agg: &mut Aggregator,
    period: &str,
    plans: &str,
    version: u32,
    shard: u32,
    shards: u32,
) -> Result<WrittenInvoice, Value> {
    close_and_bill(agg, period, plans, (version, shard, shards), bill_shard_written)
}

/// One round of a close in rounds: [`close_written`]'s lines of the
/// customers from `from` on (all: `None`), up to about `max_lines` lines
/// (1 or more; the customer whose lines would take the round past them
/// starts the next round: `next`). Rounds from `None`, each from the last
/// one's `next` until it is `None`, give `close_written`'s lines.
#[allow(clippy::too_many_arguments)]
pub fn close_round(
    agg: &mut Aggregator,
    period: &str,
    plans: &str,
    version: u32,
    shard: u32,
    shards: u32,
    from: Option<String>,
    max_lines: u32,
) -> Result<WrittenRound, Value> {
    let start = shard_period_start(period, shard, shards)?;
    if max_lines == 0 {
        return Err(bad_argument("a line budget of 1 or more"));
    }
    let plans = PLANS.parse(plans).map_err(IntoGleam::into_gleam)?;
    let round = Round {
        period_start_ms: start,
        plans,
        version,
        shard,
        shards,
        from: from.as_deref(),
        max_lines: max_lines as usize,
    };
    close_round_written(agg, round).map_err(IntoGleam::into_gleam)
}

/// The start of a shard's closing period, once the period and the shard
/// are checked.
fn shard_period_start(period: &str, shard: u32, shards: u32) -> Result<i64, Value> {
    let start = period_start(period)?;
    if shard >= shards.max(1) {
        return Err(bad_argument("a shard below the shard count"));
    }
    Ok(start)
}

/// The arguments checked, the period closed, one shard's customers billed
/// by `bill`.
fn close_and_bill<T>(
    agg: &mut Aggregator,
    period: &str,
    plans: &str,
    (version, shard, shards): (u32, u32, u32),
    bill: fn(&PeriodUsage, &Plans, u32, u32, u32) -> Result<T, BillingError>,
) -> Result<T, Value> {
    let start = shard_period_start(period, shard, shards)?;
    let plans = PLANS.parse(plans).map_err(IntoGleam::into_gleam)?;
    let usage = agg.close_period(start);
    bill(&usage, &plans, version, shard, shards).map_err(IntoGleam::into_gleam)
}

pub fn shard_of(customer: &str, shards: ShardCount) -> u32 {
    crate::shard::shard_of(customer, shards.0)
}

/// Parses a whole chunk into one batch per shard (at most [`MAX_CHUNK`] bytes).
pub fn ingest(
    format: Format,
    options: ParserOptions,
    shards: ShardCount,
    chunk: &[u8],
) -> Result<Ingested, Value> {
    if chunk.len() > MAX_CHUNK {
        return Err(bad_argument("a chunk of at most 1 GiB"));
    }
    Ok(crate::batch::ingest_chunk(format, options, shards.0, chunk))
}

fn batch_not_applied() -> Value {
    bad_argument("a batch not applied yet")
}

/// Counts a batch into the aggregator, once: the batch is emptied.
pub fn apply_batch(
    agg: &mut Aggregator,
    batch: &mut Option<EventBatch>,
) -> Result<AggregatorCounters, Value> {
    let events = batch.take().ok_or_else(batch_not_applied)?;
    events.apply_to(agg);
    Ok(agg.counters())
}

/// A batch's events, copied out.
pub fn batch_events(batch: &mut Option<EventBatch>) -> Result<Vec<UsageEvent>, Value> {
    Ok(batch.as_ref().ok_or_else(batch_not_applied)?.to_events())
}

/// `SnapshotFailed(path, posix)`.
pub fn snapshot_failed(path: &str, e: &std::io::Error) -> Value {
    Value::record(
        "snapshot_failed",
        vec![
            path.into_gleam(),
            tally_interop::files::posix_name(e).into_gleam(),
        ],
    )
}

/// Saves the aggregator's snapshot with `extra` to `path`
/// ([`crate::snapshot::save_files`]); returns the bytes written.
pub fn save(agg: &mut Aggregator, path: &str, extra: &[u8]) -> Result<u64, Value> {
    crate::snapshot::save_files(agg, path, SNAPSHOT_MODE, extra)
        .map(|saved| saved.bytes)
        .map_err(|e| snapshot_failed(path, &e))
}

/// Reads a snapshot saved by [`save`]: the aggregator and its extra bytes.
pub fn load(path: &str) -> Result<(Aggregator, Vec<u8>), Value> {
    crate::snapshot::load_files(path)
        .map_err(|e| snapshot_failed(path, &e))?
        .map_err(IntoGleam::into_gleam)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_interop::etf::Term;

    #[test]
    fn shard_counts_are_one_and_up() {
        assert_eq!(ShardCount::from_gleam(&Term::Int(3)), Ok(ShardCount(3)));
        for bad in [
            Term::Int(0),
            Term::Int(-1),
            Term::Int(1 << 32),
            Term::Atom("four".into()),
        ] {
            assert_eq!(
                ShardCount::from_gleam(&bad).map_err(IntoGleam::into_gleam),
                Err(bad_argument("a shard count from 1 to 2^32-1"))
            );
        }
    }

    #[test]
    fn a_batch_is_applied_once() {
        let mut agg = Aggregator::new(Default::default());
        let got = ingest(Format::JsonLines, ParserOptions::default(), ShardCount(1), b"").unwrap();
        let mut batch = got.batches.into_iter().next();
        assert!(apply_batch(&mut agg, &mut batch).is_ok());
        assert_eq!(apply_batch(&mut agg, &mut batch), Err(batch_not_applied()));
        assert_eq!(batch_events(&mut batch), Err(batch_not_applied()));
    }

    #[test]
    fn a_bad_period_or_shard_is_refused_before_the_period_closes() {
        let mut agg = Aggregator::new(Default::default());
        let err = close_shard(&mut agg, "2026-13", "{}", 1, 0, 1).unwrap_err();
        assert_eq!(err, bad_argument("a period YYYY-MM"));
        let err = close_written(&mut agg, "2026-10", "{}", 1, 2, 2).unwrap_err();
        assert_eq!(err, bad_argument("a shard below the shard count"));
        assert!(agg.export() == Aggregator::new(Default::default()).export());
    }
}
