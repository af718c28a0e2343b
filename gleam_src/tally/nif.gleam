//// The Rust engine inside the VM, as a NIF library (native/nif).
////
//// Every call returns `Error(engine.NativePanic(..))` rather than crashing
//// the caller if the Rust code panics.

import tally/billing
import tally/engine
import tally/event
import tally/option
import tally/usage

/// Describes the loaded engine.
///
/// ```gleam
/// let assert Ok(info) = nif.engine_info()
/// info.name
/// // -> "tally_core/nif"
/// ```
pub fn engine_info() -> Result(engine.EngineInfo, engine.EngineError) {
  nif_engine_info()
}

/// The unit of a standard meter; `None` for a custom meter.
///
/// ```gleam
/// nif.meter_unit("requests")
/// // -> Ok(option.Some(event.Count))
/// ```
pub fn meter_unit(
  meter: String,
) -> Result(option.Option(event.MeterUnit), engine.EngineError) {
  nif_meter_unit(meter)
}

/// Parses one JSON Lines usage event (no line terminator).
///
/// ```gleam
/// nif.parse_event_line(<<"[]">>)
/// // -> Ok(Error(event.InvalidJson(column: 1, expected: "'{'")))
/// ```
pub fn parse_event_line(
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError) {
  nif_parse_event_line(line)
}

@external(erlang, "tally_nif", "engine_info")
fn nif_engine_info() -> Result(engine.EngineInfo, engine.EngineError)

@external(erlang, "tally_nif", "meter_unit")
fn nif_meter_unit(
  meter: String,
) -> Result(option.Option(event.MeterUnit), engine.EngineError)

@external(erlang, "tally_nif", "parse_event_line")
fn nif_parse_event_line(
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError)

/// A streaming parser held by the NIF library.
pub type NifParser

/// An aggregator held by the NIF library.
pub type NifAggregator

/// Parses one complete input.
pub fn parse_chunk(
  format: event.Format,
  options: event.ParserOptions,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  nif_parse_chunk(format, options, chunk)
}

pub fn parser_new(
  format: event.Format,
  options: event.ParserOptions,
) -> Result(NifParser, engine.EngineError) {
  nif_parser_new(format, options)
}

pub fn parser_feed(
  parser: NifParser,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  nif_parser_feed(parser, chunk)
}

pub fn parser_finish(
  parser: NifParser,
) -> Result(event.Parsed, engine.EngineError) {
  nif_parser_finish(parser)
}

pub fn aggregator_new(
  config: usage.AggregatorConfig,
) -> Result(NifAggregator, engine.EngineError) {
  nif_aggregator_new(config)
}

pub fn aggregator_feed(
  aggregator: NifAggregator,
  parser: NifParser,
  chunk: BitArray,
) -> Result(usage.FeedResult, engine.EngineError) {
  nif_aggregator_feed(aggregator, parser, chunk)
}

pub fn aggregator_finish(
  aggregator: NifAggregator,
  parser: NifParser,
) -> Result(usage.FeedResult, engine.EngineError) {
  nif_aggregator_finish(aggregator, parser)
}

pub fn aggregator_add_events(
  aggregator: NifAggregator,
  events: List(event.UsageEvent),
) -> Result(usage.Counters, engine.EngineError) {
  nif_aggregator_add_events(aggregator, events)
}

pub fn aggregator_counters(
  aggregator: NifAggregator,
) -> Result(usage.Counters, engine.EngineError) {
  nif_aggregator_counters(aggregator)
}

pub fn aggregator_windows(
  aggregator: NifAggregator,
) -> Result(List(usage.WindowAggregate), engine.EngineError) {
  nif_aggregator_windows(aggregator)
}

pub fn aggregator_close_period(
  aggregator: NifAggregator,
  period: String,
  plans_json: String,
  version: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  nif_aggregator_close_period(aggregator, period, plans_json, version)
}

/// Closes the period and bills the customers of shard `shard` of `shards`
/// (`tally_core::shard::shard_of`: XXH3-64 of the customer modulo `shards`).
pub fn aggregator_close_shard(
  aggregator: NifAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  nif_aggregator_close_shard(
    aggregator,
    period,
    plans_json,
    version,
    shard,
    shards,
  )
}

/// `aggregator_close_shard` with the lines in their written form (the
/// bytes `tally bill` prints), cut into outbox batches of at most 5000
/// lines (closed at 4 MiB) with their message ids, and each customer's
/// total: no line becomes a term.
pub fn aggregator_close_written(
  aggregator: NifAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.WrittenInvoice, engine.EngineError) {
  nif_aggregator_close_written(
    aggregator,
    period,
    plans_json,
    version,
    shard,
    shards,
  )
}

pub fn aggregator_take_late(
  aggregator: NifAggregator,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  nif_aggregator_take_late(aggregator)
}

pub fn aggregator_export(
  aggregator: NifAggregator,
) -> Result(BitArray, engine.EngineError) {
  nif_aggregator_export(aggregator)
}

pub fn aggregator_restore(
  bytes: BitArray,
) -> Result(NifAggregator, engine.EngineError) {
  nif_aggregator_restore(bytes)
}

pub fn aggregator_merge(
  into: NifAggregator,
  from: NifAggregator,
) -> Result(Nil, engine.EngineError) {
  nif_aggregator_merge(into, from)
}

/// A batch of one shard's events held by the NIF library (see `ingest_chunk`).
pub type NifBatch

/// The shard (0-based) of `customer` among `shards` (1 or more): the one
/// customer-to-shard rule (XXH3-64 of the customer modulo the count).
pub fn shard_of(
  customer: String,
  shards: Int,
) -> Result(Int, engine.EngineError) {
  nif_shard_of(customer, shards)
}

/// Parses a whole chunk and partitions its events by shard, on a dirty
/// scheduler: one batch per shard, whose events stay in Rust (40 bytes
/// each plus their texts) until `aggregator_apply_batch` counts them.
pub fn ingest_chunk(
  format: event.Format,
  options: event.ParserOptions,
  shards: Int,
  chunk: BitArray,
) -> Result(event.Ingested(NifBatch), engine.EngineError) {
  nif_ingest_chunk(format, options, shards, chunk)
}

/// Counts a batch into the aggregator, once (the batch is emptied; a second
/// call is `BadArgument("a batch not applied yet")`).
pub fn aggregator_apply_batch(
  aggregator: NifAggregator,
  batch: NifBatch,
) -> Result(usage.Counters, engine.EngineError) {
  nif_aggregator_apply_batch(aggregator, batch)
}

/// A batch's events, copied out for inspection and tests.
pub fn batch_events(
  batch: NifBatch,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  nif_batch_events(batch)
}

/// Writes the aggregator's snapshot and `extra` to `path` atomically
/// (temporary file, fsync, rename, directory fsync; mode 0600), streaming
/// from Rust on a dirty I/O scheduler. Returns the bytes written.
pub fn aggregator_save(
  aggregator: NifAggregator,
  path: String,
  extra: BitArray,
) -> Result(Int, engine.EngineError) {
  nif_aggregator_save(aggregator, path, extra)
}

/// Reads a snapshot back, refusing a damaged one
/// (`AggregateFailed(BadExport(..))`).
pub fn aggregator_load(
  path: String,
) -> Result(usage.Loaded(NifAggregator), engine.EngineError) {
  nif_aggregator_load(path)
}

@external(erlang, "tally_nif", "shard_of")
fn nif_shard_of(
  customer: String,
  shards: Int,
) -> Result(Int, engine.EngineError)

@external(erlang, "tally_nif", "ingest_chunk")
fn nif_ingest_chunk(
  format: event.Format,
  options: event.ParserOptions,
  shards: Int,
  chunk: BitArray,
) -> Result(event.Ingested(NifBatch), engine.EngineError)

@external(erlang, "tally_nif", "aggregator_apply_batch")
fn nif_aggregator_apply_batch(
  aggregator: NifAggregator,
  batch: NifBatch,
) -> Result(usage.Counters, engine.EngineError)

@external(erlang, "tally_nif", "batch_events")
fn nif_batch_events(
  batch: NifBatch,
) -> Result(List(event.UsageEvent), engine.EngineError)

@external(erlang, "tally_nif", "aggregator_save")
fn nif_aggregator_save(
  aggregator: NifAggregator,
  path: String,
  extra: BitArray,
) -> Result(Int, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_load")
fn nif_aggregator_load(
  path: String,
) -> Result(usage.Loaded(NifAggregator), engine.EngineError)

/// Where a deliberate panic happens: in the work, or encoding the result.
pub type PanicStage {
  Work
  Encode
}

/// Panics inside Rust on purpose; returns `Error(NativePanic(..))`. Exists
/// so tests can prove a panic never takes the VM down.
pub fn panic_for_test(stage: PanicStage) -> Result(Nil, engine.EngineError) {
  nif_panic_for_test(stage)
}

@external(erlang, "tally_nif", "parse_chunk")
fn nif_parse_chunk(
  format: event.Format,
  options: event.ParserOptions,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError)

@external(erlang, "tally_nif", "parser_new")
fn nif_parser_new(
  format: event.Format,
  options: event.ParserOptions,
) -> Result(NifParser, engine.EngineError)

@external(erlang, "tally_nif", "parser_feed")
fn nif_parser_feed(
  parser: NifParser,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError)

@external(erlang, "tally_nif", "parser_finish")
fn nif_parser_finish(
  parser: NifParser,
) -> Result(event.Parsed, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_new")
fn nif_aggregator_new(
  config: usage.AggregatorConfig,
) -> Result(NifAggregator, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_feed")
fn nif_aggregator_feed(
  aggregator: NifAggregator,
  parser: NifParser,
  chunk: BitArray,
) -> Result(usage.FeedResult, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_finish")
fn nif_aggregator_finish(
  aggregator: NifAggregator,
  parser: NifParser,
) -> Result(usage.FeedResult, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_add_events")
fn nif_aggregator_add_events(
  aggregator: NifAggregator,
  events: List(event.UsageEvent),
) -> Result(usage.Counters, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_counters")
fn nif_aggregator_counters(
  aggregator: NifAggregator,
) -> Result(usage.Counters, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_windows")
fn nif_aggregator_windows(
  aggregator: NifAggregator,
) -> Result(List(usage.WindowAggregate), engine.EngineError)

@external(erlang, "tally_nif", "aggregator_close_period")
fn nif_aggregator_close_period(
  aggregator: NifAggregator,
  period: String,
  plans_json: String,
  version: Int,
) -> Result(billing.Invoice, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_close_shard")
fn nif_aggregator_close_shard(
  aggregator: NifAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.Invoice, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_close_written")
fn nif_aggregator_close_written(
  aggregator: NifAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.WrittenInvoice, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_take_late")
fn nif_aggregator_take_late(
  aggregator: NifAggregator,
) -> Result(List(event.UsageEvent), engine.EngineError)

@external(erlang, "tally_nif", "aggregator_export")
fn nif_aggregator_export(
  aggregator: NifAggregator,
) -> Result(BitArray, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_restore")
fn nif_aggregator_restore(
  bytes: BitArray,
) -> Result(NifAggregator, engine.EngineError)

@external(erlang, "tally_nif", "aggregator_merge")
fn nif_aggregator_merge(
  into: NifAggregator,
  from: NifAggregator,
) -> Result(Nil, engine.EngineError)

@external(erlang, "tally_nif", "panic_for_test")
fn nif_panic_for_test(stage: PanicStage) -> Result(Nil, engine.EngineError)
