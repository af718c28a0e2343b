//// Aggregators: usage events folded into per-window statistics, closed into
//// invoices, exported and merged. Backed by the NIF; see `tally/usage` for
//// the values.

import tally/backend
import tally/billing
import tally/engine
import tally/event
import tally/nif
import tally/parse
import tally/usage

/// A running aggregation.
pub opaque type Aggregator {
  OnNif(nif.NifAggregator)
}

/// Starts an aggregator.
///
/// ```gleam
/// let assert Ok(agg) = aggregate.new(on: backend.Nif, config: usage.default_config())
/// ```
pub fn new(
  on engine_backend: backend.Backend,
  config config: usage.AggregatorConfig,
) -> Result(Aggregator, engine.EngineError) {
  case engine_backend {
    backend.Nif -> wrap(nif.aggregator_new(config))
    backend.Port(_) -> Error(engine.Unsupported("aggregator on the port"))
  }
}

fn wrap(
  result: Result(nif.NifAggregator, engine.EngineError),
) -> Result(Aggregator, engine.EngineError) {
  case result {
    Ok(a) -> Ok(OnNif(a))
    Error(e) -> Error(e)
  }
}

/// Parses a chunk with `parser` straight into the aggregator: no event is
/// copied onto the BEAM heap. Rejects come back with the counts.
///
/// ```gleam
/// let assert Ok(result) = aggregate.feed(agg, parser, chunk)
/// result.counters.applied
/// ```
pub fn feed(
  aggregator: Aggregator,
  parser: parse.Parser,
  chunk: BitArray,
) -> Result(usage.FeedResult, engine.EngineError) {
  case aggregator, parse.nif_handle(parser) {
    OnNif(a), Ok(p) -> nif.aggregator_feed(a, p, chunk)
    _, Error(e) -> Error(e)
  }
}

/// Ends `parser`'s stream into the aggregator.
pub fn finish(
  aggregator: Aggregator,
  parser: parse.Parser,
) -> Result(usage.FeedResult, engine.EngineError) {
  case aggregator, parse.nif_handle(parser) {
    OnNif(a), Ok(p) -> nif.aggregator_finish(a, p)
    _, Error(e) -> Error(e)
  }
}

/// Counts events that are already parsed.
pub fn add_events(
  aggregator: Aggregator,
  events: List(event.UsageEvent),
) -> Result(usage.Counters, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_add_events(a, events)
  }
}

pub fn counters(
  aggregator: Aggregator,
) -> Result(usage.Counters, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_counters(a)
  }
}

/// Every window, sorted by customer, resource, meter and start.
pub fn windows(
  aggregator: Aggregator,
) -> Result(List(usage.WindowAggregate), engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_windows(a)
  }
}

/// Closes the period (`"2026-10"`) and bills it with the plans (JSON, see
/// README); later events for the period are kept aside as late.
///
/// ```gleam
/// let assert Ok(invoice) = aggregate.close_period(agg, period: "2026-10",
///   plans: plans_json, version: 1)
/// ```
pub fn close_period(
  aggregator: Aggregator,
  period period: String,
  plans plans: String,
  version version: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_close_period(a, period, plans, version)
  }
}

/// Events that arrived for closed periods since the last call.
pub fn take_late(
  aggregator: Aggregator,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_take_late(a)
  }
}

/// The whole state as bytes (canonical: equal aggregators, equal bytes).
pub fn export(aggregator: Aggregator) -> Result(BitArray, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_export(a)
  }
}

/// An aggregator from `export`'s bytes.
pub fn restore(
  on engine_backend: backend.Backend,
  bytes bytes: BitArray,
) -> Result(Aggregator, engine.EngineError) {
  case engine_backend {
    backend.Nif -> wrap(nif.aggregator_restore(bytes))
    backend.Port(_) -> Error(engine.Unsupported("aggregator on the port"))
  }
}

/// Adds `from`'s counts into `into`. Refused, changing nothing, when both
/// counted the same event or their configurations differ.
pub fn merge(
  into into: Aggregator,
  from from: Aggregator,
) -> Result(Nil, engine.EngineError) {
  case into, from {
    OnNif(a), OnNif(b) -> nif.aggregator_merge(a, b)
  }
}
