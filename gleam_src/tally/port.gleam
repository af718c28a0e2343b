//// The Rust engine beside the VM, as a port (native/port): a separate OS
//// process under its own supervisor (`tally/app/port_supervisor`). It answers with the
//// same values as `tally/nif`.
////
//// Parsers and aggregators live in the port's process; the owner journals
//// every change to them, so when the process dies (a crash, `kill -9`) the
//// supervisor starts a new one and the owner rebuilds them exactly from the
//// last checkpoint plus the operations since. A call that was in the port
//// when it died returns `Error(engine.PortExited(status))`: its effect died
//// with the process, so sending it again is safe and counts it once.
////
//// Unlike the NIF's, a port's parsers and aggregators are not garbage
//// collected: release each with `parser_release`/`aggregator_release`
//// (`parse.close`/`aggregate.close`) when done, or stop the port.

import tally/billing
import tally/engine
import tally/event
import tally/option
import tally/usage

/// The owner's reference to a supervised port (see `tally_port:ref()`).
pub type PortRef

/// A running port.
pub opaque type Port {
  Port(ref: PortRef)
}

/// A streaming parser held by a port.
pub opaque type PortParser {
  PortParser(port: Port, handle: Int)
}

/// An aggregator held by a port.
pub opaque type PortAggregator {
  PortAggregator(port: Port, handle: Int)
}

/// A batch of one shard's events held by a port, with the recipe that
/// makes it again if the port was restarted (see `tally_port_batch`).
pub opaque type PortBatch {
  PortBatch(port: Port, batch: RawBatch)
}

type RawBatch

// The port's operation names; each constructor is the atom the port reads.
type Operation {
  EngineInfo
  MeterUnit
  ParseEventLine
  ParseChunk
  ParserNew
  ParserFeed
  ParserFinish
  AggregatorNew
  AggregatorFeed
  AggregatorFinish
  AggregatorAddEvents
  AggregatorCounters
  AggregatorWindows
  AggregatorClosePeriod
  AggregatorCloseShard
  AggregatorCloseWritten
  AggregatorTakeLate
  AggregatorExport
  AggregatorRestore
  AggregatorMerge
  Release
  PanicForTest
  ShardOf
  AggregatorSave
  AggregatorLoad
}

/// Starts the port's OS process from the application's priv directory,
/// under a new supervisor that is not linked to the caller. `timeout_ms`
/// bounds each call.
///
/// ```gleam
/// let assert Ok(p) = port.start(timeout_ms: 5000)
/// ```
pub fn start(timeout_ms timeout_ms: Int) -> Result(Port, engine.EngineError) {
  case owner_start(timeout_ms) {
    Ok(ref) -> Ok(Port(ref: ref))
    Error(e) -> Error(e)
  }
}

/// The release's port: the one the application supervises for the `port`
/// backend (`tally_port_default`, under `tally_port_sup`).
pub fn release_port() -> Port {
  Port(ref: release_port_ref())
}

@external(erlang, "tally_ingest_ffi", "release_port_ref")
fn release_port_ref() -> PortRef

/// Stops the port's supervisor and owner, which closes the port: the OS
/// process sees end of file on its standard input and exits. Its parsers
/// and aggregators are gone.
pub fn stop(port: Port) -> Nil {
  owner_stop(port.ref)
}

/// The operating system's process id of the port (it changes when the
/// supervisor restarts the port).
pub fn os_pid(port: Port) -> Int {
  owner_os_pid(port.ref)
}

/// Same as `nif.engine_info`.
pub fn engine_info(
  port: Port,
) -> Result(engine.EngineInfo, engine.EngineError) {
  owner_call(port.ref, EngineInfo, #())
}

/// Same as `nif.meter_unit`.
pub fn meter_unit(
  port: Port,
  meter: String,
) -> Result(option.Option(event.MeterUnit), engine.EngineError) {
  owner_call(port.ref, MeterUnit, #(meter))
}

/// Same as `nif.parse_event_line`.
pub fn parse_event_line(
  port: Port,
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError) {
  owner_call(port.ref, ParseEventLine, #(line))
}

/// Same as `nif.parse_chunk`.
pub fn parse_chunk(
  port: Port,
  format: event.Format,
  options: event.ParserOptions,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  owner_call(port.ref, ParseChunk, #(format, options, chunk))
}

/// Same as `nif.parser_new`, on `port`.
///
/// ```gleam
/// let assert Ok(parser) = port.parser_new(p, event.JsonLines,
///   event.default_parser_options())
/// ```
pub fn parser_new(
  port: Port,
  format: event.Format,
  options: event.ParserOptions,
) -> Result(PortParser, engine.EngineError) {
  case owner_call(port.ref, ParserNew, #(format, options)) {
    Ok(handle) -> Ok(PortParser(port: port, handle: handle))
    Error(e) -> Error(e)
  }
}

/// Same as `nif.parser_feed`.
pub fn parser_feed(
  parser: PortParser,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  owner_call(parser.port.ref, ParserFeed, #(parser.handle, chunk))
}

/// Same as `nif.parser_finish`.
pub fn parser_finish(
  parser: PortParser,
) -> Result(event.Parsed, engine.EngineError) {
  owner_call(parser.port.ref, ParserFinish, #(parser.handle))
}

/// Frees the parser in the port.
pub fn parser_release(parser: PortParser) -> Result(Nil, engine.EngineError) {
  owner_call(parser.port.ref, Release, #(parser.handle))
}

/// Same as `nif.aggregator_new`, on `port`.
pub fn aggregator_new(
  port: Port,
  config: usage.AggregatorConfig,
) -> Result(PortAggregator, engine.EngineError) {
  to_aggregator(port, owner_call(port.ref, AggregatorNew, #(config)))
}

fn to_aggregator(
  port: Port,
  result: Result(Int, engine.EngineError),
) -> Result(PortAggregator, engine.EngineError) {
  case result {
    Ok(handle) -> Ok(PortAggregator(port: port, handle: handle))
    Error(e) -> Error(e)
  }
}

/// Same as `nif.aggregator_feed`; the parser must be on the same port.
pub fn aggregator_feed(
  aggregator: PortAggregator,
  parser: PortParser,
  chunk: BitArray,
) -> Result(usage.FeedResult, engine.EngineError) {
  case same_port(aggregator.port, parser.port) {
    True ->
      owner_call(aggregator.port.ref, AggregatorFeed, #(
        aggregator.handle,
        parser.handle,
        chunk,
      ))
    False -> Error(engine.BadArgument("a parser on the aggregator's port"))
  }
}

/// Same as `nif.aggregator_finish`; the parser must be on the same port.
pub fn aggregator_finish(
  aggregator: PortAggregator,
  parser: PortParser,
) -> Result(usage.FeedResult, engine.EngineError) {
  case same_port(aggregator.port, parser.port) {
    True ->
      owner_call(aggregator.port.ref, AggregatorFinish, #(
        aggregator.handle,
        parser.handle,
      ))
    False -> Error(engine.BadArgument("a parser on the aggregator's port"))
  }
}

/// Same as `nif.aggregator_add_events`.
pub fn aggregator_add_events(
  aggregator: PortAggregator,
  events: List(event.UsageEvent),
) -> Result(usage.Counters, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorAddEvents, #(
    aggregator.handle,
    events,
  ))
}

/// Same as `nif.aggregator_counters`.
pub fn aggregator_counters(
  aggregator: PortAggregator,
) -> Result(usage.Counters, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorCounters, #(aggregator.handle))
}

/// Same as `nif.aggregator_windows`.
pub fn aggregator_windows(
  aggregator: PortAggregator,
) -> Result(List(usage.WindowAggregate), engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorWindows, #(aggregator.handle))
}

/// Same as `nif.aggregator_close_period`.
pub fn aggregator_close_period(
  aggregator: PortAggregator,
  period: String,
  plans_json: String,
  version: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorClosePeriod, #(
    aggregator.handle,
    period,
    plans_json,
    version,
  ))
}

/// Same as `nif.aggregator_close_written`.
pub fn aggregator_close_written(
  aggregator: PortAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.WrittenInvoice, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorCloseWritten, #(
    aggregator.handle,
    period,
    plans_json,
    version,
    shard,
    shards,
  ))
}

/// Same as `nif.aggregator_close_shard`.
pub fn aggregator_close_shard(
  aggregator: PortAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorCloseShard, #(
    aggregator.handle,
    period,
    plans_json,
    version,
    shard,
    shards,
  ))
}

/// Same as `nif.aggregator_take_late`.
pub fn aggregator_take_late(
  aggregator: PortAggregator,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorTakeLate, #(aggregator.handle))
}

/// Same as `nif.aggregator_export`: the bytes restore on any backend.
pub fn aggregator_export(
  aggregator: PortAggregator,
) -> Result(BitArray, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorExport, #(aggregator.handle))
}

/// Same as `nif.aggregator_restore`, on `port`.
pub fn aggregator_restore(
  port: Port,
  bytes: BitArray,
) -> Result(PortAggregator, engine.EngineError) {
  to_aggregator(port, owner_call(port.ref, AggregatorRestore, #(bytes)))
}

/// Same as `nif.aggregator_merge`; both must be on the same port.
pub fn aggregator_merge(
  into: PortAggregator,
  from: PortAggregator,
) -> Result(Nil, engine.EngineError) {
  case same_port(into.port, from.port) {
    True ->
      owner_call(into.port.ref, AggregatorMerge, #(into.handle, from.handle))
    False -> Error(engine.BadArgument("two aggregators on one port"))
  }
}

/// Frees the aggregator in the port.
pub fn aggregator_release(
  aggregator: PortAggregator,
) -> Result(Nil, engine.EngineError) {
  owner_call(aggregator.port.ref, Release, #(aggregator.handle))
}

/// The port the aggregator lives on.
pub fn aggregator_port(aggregator: PortAggregator) -> Port {
  aggregator.port
}

/// Same as `nif.shard_of`.
pub fn shard_of(
  port: Port,
  customer: String,
  shards: Int,
) -> Result(Int, engine.EngineError) {
  owner_call(port.ref, ShardOf, #(customer, shards))
}

/// Same as `nif.ingest_chunk`. The batches live in the port; each also
/// keeps a reference to `chunk` (not a copy), from which the port makes it
/// again when the port process that held it died before it was applied.
pub fn ingest_chunk(
  port: Port,
  format: event.Format,
  options: event.ParserOptions,
  shards: Int,
  chunk: BitArray,
) -> Result(event.Ingested(PortBatch), engine.EngineError) {
  case batch_ingest(port.ref, format, options, shards, chunk) {
    Ok(event.Ingested(batches, rejects, stats)) ->
      Ok(event.Ingested(wrap_batches(port, batches, []), rejects, stats))
    Error(e) -> Error(e)
  }
}

fn wrap_batches(
  port: Port,
  raw: List(RawBatch),
  acc: List(PortBatch),
) -> List(PortBatch) {
  case raw {
    [] -> reverse(acc)
    [b, ..rest] -> wrap_batches(port, rest, [PortBatch(port, b), ..acc])
  }
}

@external(erlang, "lists", "reverse")
fn reverse(list: List(a)) -> List(a)

/// Same as `nif.aggregator_apply_batch`; the batch must come from the
/// aggregator's port.
pub fn aggregator_apply_batch(
  aggregator: PortAggregator,
  batch: PortBatch,
) -> Result(usage.Counters, engine.EngineError) {
  case same_port(aggregator.port, batch.port) {
    True -> batch_apply(aggregator.port.ref, aggregator.handle, batch.batch)
    False -> Error(engine.BadArgument("a batch from the aggregator's port"))
  }
}

/// Same as `nif.batch_events`.
pub fn batch_events(
  batch: PortBatch,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  batch_events_of(batch.port.ref, batch.batch)
}

/// Same as `nif.aggregator_save`: the port writes the file.
pub fn aggregator_save(
  aggregator: PortAggregator,
  path: String,
  extra: BitArray,
) -> Result(Int, engine.EngineError) {
  owner_call(aggregator.port.ref, AggregatorSave, #(
    aggregator.handle,
    path,
    extra,
  ))
}

/// Same as `nif.aggregator_load`, on `port`.
pub fn aggregator_load(
  port: Port,
  path: String,
) -> Result(usage.Loaded(PortAggregator), engine.EngineError) {
  case owner_call(port.ref, AggregatorLoad, #(path)) {
    Ok(usage.Loaded(handle, extra)) ->
      Ok(usage.Loaded(PortAggregator(port: port, handle: handle), extra))
    Error(e) -> Error(e)
  }
}

/// Same as `nif.panic_for_test`: the port answers with `NativePanic` and
/// carries on.
pub fn panic_for_test(port: Port) -> Result(Nil, engine.EngineError) {
  owner_call(port.ref, PanicForTest, #(Work))
}

type PanicStage {
  Work
}

fn same_port(a: Port, b: Port) -> Bool {
  a.ref == b.ref
}

@external(erlang, "tally_port", "start_for_gleam")
fn owner_start(timeout_ms: Int) -> Result(PortRef, engine.EngineError)

@external(erlang, "tally_port", "stop")
fn owner_stop(ref: PortRef) -> Nil

@external(erlang, "tally_port", "os_pid")
fn owner_os_pid(ref: PortRef) -> Int

@external(erlang, "tally_port", "call")
fn owner_call(
  ref: PortRef,
  op: Operation,
  args: args,
) -> Result(a, engine.EngineError)

@external(erlang, "tally_port_batch", "ingest_chunk")
fn batch_ingest(
  ref: PortRef,
  format: event.Format,
  options: event.ParserOptions,
  shards: Int,
  chunk: BitArray,
) -> Result(event.Ingested(RawBatch), engine.EngineError)

@external(erlang, "tally_port_batch", "apply_batch")
fn batch_apply(
  ref: PortRef,
  aggregator: Int,
  batch: RawBatch,
) -> Result(usage.Counters, engine.EngineError)

@external(erlang, "tally_port_batch", "events")
fn batch_events_of(
  ref: PortRef,
  batch: RawBatch,
) -> Result(List(event.UsageEvent), engine.EngineError)
