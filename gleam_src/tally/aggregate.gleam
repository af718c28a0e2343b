//// Aggregators: usage events folded into per-window statistics, closed into
//// invoices, exported and merged, on any backend; see `tally/usage`
//// for the values.

import tally/backend
import tally/billing
import tally/engine
import tally/event
import tally/nif
import tally/parse
import tally/port
import tally/pure
import tally/shadow
import tally/usage

/// A running aggregation.
pub opaque type Aggregator {
  OnNif(nif.NifAggregator)
  OnPort(port.PortAggregator)
  OnGleam(pure.PureAggregator)
  OnShadow(primary: Aggregator, secondary: Aggregator)
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
    backend.Nif -> wrap_nif(nif.aggregator_new(config))
    backend.Port(p) -> wrap_port(port.aggregator_new(p, config))
    backend.Gleam ->
      case pure.aggregator_new(config) {
        Ok(a) -> Ok(OnGleam(a))
        Error(e) -> Error(e)
      }
    backend.Shadow(primary, secondary) ->
      pair(
        "aggregator_new",
        config,
        new(on: primary, config: config),
        new(on: secondary, config: config),
      )
  }
}

// A shadow aggregator from the two creations, comparing their outcomes.
fn pair(
  operation: String,
  input: input,
  first: Result(Aggregator, engine.EngineError),
  second: Result(Aggregator, engine.EngineError),
) -> Result(Aggregator, engine.EngineError) {
  let _ =
    shadow.compare(operation, input, shadow.outcome(first), fn() {
      shadow.outcome(second)
    })
  case first, second {
    Ok(p), Ok(s) -> Ok(OnShadow(primary: p, secondary: s))
    _, _ -> first
  }
}

fn wrap_nif(
  result: Result(nif.NifAggregator, engine.EngineError),
) -> Result(Aggregator, engine.EngineError) {
  case result {
    Ok(a) -> Ok(OnNif(a))
    Error(e) -> Error(e)
  }
}

fn wrap_port(
  result: Result(port.PortAggregator, engine.EngineError),
) -> Result(Aggregator, engine.EngineError) {
  case result {
    Ok(a) -> Ok(OnPort(a))
    Error(e) -> Error(e)
  }
}

/// Parses a chunk with `parser` straight into the aggregator: no event is
/// copied onto the BEAM heap. Rejects come back with the counts. The
/// parser must be on the aggregator's backend.
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
  case aggregator {
    OnNif(a) ->
      case parse.nif_handle(parser) {
        Ok(p) -> nif.aggregator_feed(a, p, chunk)
        Error(e) -> Error(e)
      }
    OnPort(a) ->
      case parse.port_handle(parser) {
        Ok(p) -> port.aggregator_feed(a, p, chunk)
        Error(e) -> Error(e)
      }
    OnGleam(a) ->
      case parse.gleam_handle(parser) {
        Ok(p) -> pure.aggregator_feed(a, p, chunk)
        Error(e) -> Error(e)
      }
    OnShadow(a, b) ->
      case parse.shadow_pair(parser) {
        Ok(#(p, q)) ->
          shadow.compare("aggregator_feed", chunk, feed(a, p, chunk), fn() {
            feed(b, q, chunk)
          })
        Error(e) -> Error(e)
      }
  }
}

/// Ends `parser`'s stream into the aggregator.
pub fn finish(
  aggregator: Aggregator,
  parser: parse.Parser,
) -> Result(usage.FeedResult, engine.EngineError) {
  case aggregator {
    OnNif(a) ->
      case parse.nif_handle(parser) {
        Ok(p) -> nif.aggregator_finish(a, p)
        Error(e) -> Error(e)
      }
    OnPort(a) ->
      case parse.port_handle(parser) {
        Ok(p) -> port.aggregator_finish(a, p)
        Error(e) -> Error(e)
      }
    OnGleam(a) ->
      case parse.gleam_handle(parser) {
        Ok(p) -> pure.aggregator_finish(a, p)
        Error(e) -> Error(e)
      }
    OnShadow(a, b) ->
      case parse.shadow_pair(parser) {
        Ok(#(p, q)) ->
          shadow.compare("aggregator_finish", Nil, finish(a, p), fn() {
            finish(b, q)
          })
        Error(e) -> Error(e)
      }
  }
}

/// Counts events that are already parsed.
pub fn add_events(
  aggregator: Aggregator,
  events: List(event.UsageEvent),
) -> Result(usage.Counters, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_add_events(a, events)
    OnPort(a) -> port.aggregator_add_events(a, events)
    OnGleam(a) -> pure.aggregator_add_events(a, events)
    OnShadow(a, b) ->
      shadow.compare("add_events", events, add_events(a, events), fn() {
        add_events(b, events)
      })
  }
}

pub fn counters(
  aggregator: Aggregator,
) -> Result(usage.Counters, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_counters(a)
    OnPort(a) -> port.aggregator_counters(a)
    OnGleam(a) -> pure.aggregator_counters(a)
    OnShadow(a, b) ->
      shadow.compare("counters", Nil, counters(a), fn() { counters(b) })
  }
}

/// Every window, sorted by customer, resource, meter and start.
pub fn windows(
  aggregator: Aggregator,
) -> Result(List(usage.WindowAggregate), engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_windows(a)
    OnPort(a) -> port.aggregator_windows(a)
    OnGleam(a) -> pure.aggregator_windows(a)
    OnShadow(a, b) -> shadow.compare("windows", Nil, windows(a), fn() { windows(b) })
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
    OnPort(a) -> port.aggregator_close_period(a, period, plans, version)
    OnGleam(a) -> pure.aggregator_close_period(a, period, plans, version)
    OnShadow(a, b) ->
      shadow.compare(
        "close_period",
        #(period, plans, version),
        close_period(a, period: period, plans: plans, version: version),
        fn() { close_period(b, period: period, plans: plans, version: version) },
      )
  }
}

/// Closes the period like `close_period` and bills only the customers of
/// one shard of `of` shards: those, with usage here or named in the plans,
/// whose XXH3-64 modulo `of` is `shard` (`tally_core::shard::shard_of`).
/// The shards' invoices together are `close_period`'s of all their usage.
///
/// ```gleam
/// let assert Ok(invoice) = aggregate.close_shard(agg, period: "2026-10",
///   plans: plans_json, version: 1, shard: 0, of: 4)
/// ```
pub fn close_shard(
  aggregator: Aggregator,
  period period: String,
  plans plans: String,
  version version: Int,
  shard shard: Int,
  of shards: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_close_shard(a, period, plans, version, shard, shards)
    OnPort(a) -> port.aggregator_close_shard(a, period, plans, version, shard, shards)
    OnGleam(a) -> pure.aggregator_close_shard(a, period, plans, version, shard, shards)
    OnShadow(a, b) ->
      shadow.compare(
        "close_shard",
        #(period, plans, version, shard, shards),
        close_shard(a, period: period, plans: plans, version: version, shard: shard, of: shards),
        fn() { close_shard(b, period: period, plans: plans, version: version, shard: shard, of: shards) },
      )
  }
}

/// Events that arrived for closed periods since the last call.
pub fn take_late(
  aggregator: Aggregator,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_take_late(a)
    OnPort(a) -> port.aggregator_take_late(a)
    OnGleam(a) -> pure.aggregator_take_late(a)
    OnShadow(a, b) ->
      shadow.compare("take_late", Nil, take_late(a), fn() { take_late(b) })
  }
}

/// The whole state as bytes (canonical: equal aggregators, equal bytes,
/// whichever backend made them).
pub fn export(aggregator: Aggregator) -> Result(BitArray, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_export(a)
    OnPort(a) -> port.aggregator_export(a)
    OnGleam(a) -> pure.aggregator_export(a)
    OnShadow(a, b) -> shadow.compare("export", Nil, export(a), fn() { export(b) })
  }
}

/// An aggregator from `export`'s bytes, on any backend.
pub fn restore(
  on engine_backend: backend.Backend,
  bytes bytes: BitArray,
) -> Result(Aggregator, engine.EngineError) {
  case engine_backend {
    backend.Nif -> wrap_nif(nif.aggregator_restore(bytes))
    backend.Port(p) -> wrap_port(port.aggregator_restore(p, bytes))
    backend.Gleam ->
      case pure.aggregator_restore(bytes) {
        Ok(a) -> Ok(OnGleam(a))
        Error(e) -> Error(e)
      }
    backend.Shadow(primary, secondary) ->
      pair(
        "restore",
        bytes,
        restore(on: primary, bytes: bytes),
        restore(on: secondary, bytes: bytes),
      )
  }
}

/// Adds `from`'s counts into `into`. Refused, changing nothing, when both
/// counted the same event or their configurations differ. Aggregators on
/// different backends (or ports) merge through `from`'s export.
pub fn merge(
  into into: Aggregator,
  from from: Aggregator,
) -> Result(Nil, engine.EngineError) {
  case into, from {
    OnShadow(a, b), OnShadow(c, d) ->
      shadow.compare("merge", Nil, merge(into: a, from: c), fn() {
        merge(into: b, from: d)
      })
    OnShadow(a, b), _ ->
      shadow.compare("merge", Nil, merge(into: a, from: from), fn() {
        merge(into: b, from: from)
      })
    _, OnShadow(c, _) -> merge(into: into, from: c)
    OnGleam(a), OnGleam(b) -> pure.aggregator_merge(a, b)
    OnNif(a), OnNif(b) -> nif.aggregator_merge(a, b)
    OnPort(a), OnPort(b) ->
      case port.aggregator_merge(a, b) {
        Error(engine.BadArgument("two aggregators on one port")) ->
          merge_through_export(into, from)
        other -> other
      }
    _, _ -> merge_through_export(into, from)
  }
}

fn merge_through_export(
  into: Aggregator,
  from: Aggregator,
) -> Result(Nil, engine.EngineError) {
  let on = backend_of(into)
  case export(from) {
    Error(e) -> Error(e)
    Ok(bytes) ->
      case restore(on: on, bytes: bytes) {
        Error(e) -> Error(e)
        Ok(copy) -> {
          let merged = merge(into: into, from: copy)
          let _ = close(copy)
          merged
        }
      }
  }
}

fn backend_of(aggregator: Aggregator) -> backend.Backend {
  case aggregator {
    OnNif(_) -> backend.Nif
    OnPort(a) -> backend.Port(port.aggregator_port(a))
    OnGleam(_) -> backend.Gleam
    OnShadow(a, b) -> backend.Shadow(backend_of(a), backend_of(b))
  }
}

/// Frees the aggregator. The NIF's aggregators are garbage collected, so
/// this only matters on a port, whose aggregators live until released.
pub fn close(aggregator: Aggregator) -> Result(Nil, engine.EngineError) {
  case aggregator {
    OnNif(_) -> Ok(Nil)
    OnPort(a) -> port.aggregator_release(a)
    OnGleam(a) -> Ok(pure.aggregator_close(a))
    OnShadow(a, b) -> {
      let _ = close(b)
      close(a)
    }
  }
}
