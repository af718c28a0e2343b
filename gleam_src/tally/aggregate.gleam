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
    OnShadow(a, b) ->
      shadow.compare("windows", Nil, windows(a), fn() { windows(b) })
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

/// Closes the period and bills one shard's customers like `close_shard`,
/// and gives the lines in their written form (the bytes `tally bill`
/// prints) cut into outbox batches with their message ids, and each
/// customer's total: what the closer puts in the outbox, with no line as a
/// term on the way (on the NIF and the port).
///
/// ```gleam
/// let assert Ok(written) = aggregate.close_written(agg, period: "2026-10",
///   plans: plans_json, version: 1, shard: 0, of: 4)
/// ```
pub fn close_written(
  aggregator: Aggregator,
  period period: String,
  plans plans: String,
  version version: Int,
  shard shard: Int,
  of shards: Int,
) -> Result(billing.WrittenInvoice, engine.EngineError) {
  case aggregator {
    OnNif(a) ->
      nif.aggregator_close_written(a, period, plans, version, shard, shards)
    OnPort(a) ->
      port.aggregator_close_written(a, period, plans, version, shard, shards)
    OnGleam(a) ->
      pure.aggregator_close_written(a, period, plans, version, shard, shards)
    OnShadow(a, b) ->
      shadow.compare(
        "close_written",
        #(period, plans, version, shard, shards),
        close_written(
          a,
          period: period,
          plans: plans,
          version: version,
          shard: shard,
          of: shards,
        ),
        fn() {
          close_written(
            b,
            period: period,
            plans: plans,
            version: version,
            shard: shard,
            of: shards,
          )
        },
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
    OnNif(a) ->
      nif.aggregator_close_shard(a, period, plans, version, shard, shards)
    OnPort(a) ->
      port.aggregator_close_shard(a, period, plans, version, shard, shards)
    OnGleam(a) ->
      pure.aggregator_close_shard(a, period, plans, version, shard, shards)
    OnShadow(a, b) ->
      shadow.compare(
        "close_shard",
        #(period, plans, version, shard, shards),
        close_shard(
          a,
          period: period,
          plans: plans,
          version: version,
          shard: shard,
          of: shards,
        ),
        fn() {
          close_shard(
            b,
            period: period,
            plans: plans,
            version: version,
            shard: shard,
            of: shards,
          )
        },
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
    OnShadow(a, b) ->
      shadow.compare("export", Nil, export(a), fn() { export(b) })
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

// The release's main path: events stay in the engine ------------------------

/// One shard's events, held by the engine that parsed them (see `ingest`).
pub opaque type Batch {
  NifBatch(nif.NifBatch)
  PortBatch(port.PortBatch)
  GleamBatch(pure.PureBatch)
  ShadowBatch(primary: Batch, secondary: Batch)
}

/// The shard (0-based) of `customer` among `shards` (1 or more): the one
/// rule every part of tally partitions customers by.
///
/// ```gleam
/// aggregate.shard_of(on: backend.Nif, customer: "acme", shards: 4)
/// // -> Ok(1)
/// ```
pub fn shard_of(
  on engine_backend: backend.Backend,
  customer customer: String,
  shards shards: Int,
) -> Result(Int, engine.EngineError) {
  case engine_backend {
    backend.Nif -> nif.shard_of(customer, shards)
    backend.Port(p) -> port.shard_of(p, customer, shards)
    backend.Gleam -> pure.shard_of(customer, shards)
    backend.Shadow(a, b) ->
      shadow.compare(
        "shard_of",
        #(customer, shards),
        shard_of(a, customer, shards),
        fn() { shard_of(b, customer, shards) },
      )
  }
}

/// Parses a whole chunk (lines cut at a newline, or a whole RGW document)
/// and partitions its events by shard, inside the engine: one batch per
/// shard (shard `i`'s at position `i`), the chunk's rejects (lines and
/// offsets relative to the chunk) and its counts, exactly as
/// `parse.parse_chunk` gives them. No event becomes a BEAM term.
///
/// ```gleam
/// let assert Ok(event.Ingested(batches, rejects, stats)) =
///   aggregate.ingest(on: backend.Nif, format: event.JsonLines,
///     options: event.default_parser_options(), shards: 4, chunk: bytes)
/// ```
pub fn ingest(
  on engine_backend: backend.Backend,
  format format: event.Format,
  options options: event.ParserOptions,
  shards shards: Int,
  chunk chunk: BitArray,
) -> Result(event.Ingested(Batch), engine.EngineError) {
  case engine_backend {
    backend.Nif ->
      wrap_ingested(nif.ingest_chunk(format, options, shards, chunk), NifBatch)
    backend.Port(p) ->
      wrap_ingested(
        port.ingest_chunk(p, format, options, shards, chunk),
        PortBatch,
      )
    backend.Gleam ->
      wrap_ingested(
        pure.ingest_chunk(format, options, shards, chunk),
        GleamBatch,
      )
    backend.Shadow(a, b) -> {
      let first = ingest(a, format, options, shards, chunk)
      let second = ingest(b, format, options, shards, chunk)
      let _ =
        shadow.compare("ingest", chunk, ingest_outcome(first), fn() {
          ingest_outcome(second)
        })
      case first, second {
        Ok(event.Ingested(p, rejects, stats)), Ok(event.Ingested(q, _, _)) ->
          Ok(event.Ingested(zip_batches(p, q, []), rejects, stats))
        _, _ -> first
      }
    }
  }
}

// What two engines' ingests can be compared by: rejects, counts, and the
// number of batches (the batches themselves are each engine's own).
fn ingest_outcome(
  result: Result(event.Ingested(Batch), engine.EngineError),
) -> Result(#(Int, List(event.Reject), event.ParseStats), engine.EngineError) {
  case result {
    Ok(event.Ingested(batches, rejects, stats)) ->
      Ok(#(list_length(batches), rejects, stats))
    Error(e) -> Error(e)
  }
}

@external(erlang, "erlang", "length")
fn list_length(list: List(a)) -> Int

@external(erlang, "lists", "reverse")
fn list_reverse(list: List(a)) -> List(a)

fn zip_batches(
  p: List(Batch),
  q: List(Batch),
  acc: List(Batch),
) -> List(Batch) {
  case p, q {
    [a, ..p], [b, ..q] -> zip_batches(p, q, [ShadowBatch(a, b), ..acc])
    _, _ -> list_reverse(acc)
  }
}

fn wrap_ingested(
  result: Result(event.Ingested(b), engine.EngineError),
  wrap: fn(b) -> Batch,
) -> Result(event.Ingested(Batch), engine.EngineError) {
  case result {
    Ok(event.Ingested(batches, rejects, stats)) ->
      Ok(event.Ingested(wrap_each(batches, wrap, []), rejects, stats))
    Error(e) -> Error(e)
  }
}

fn wrap_each(
  batches: List(b),
  wrap: fn(b) -> Batch,
  acc: List(Batch),
) -> List(Batch) {
  case batches {
    [] -> list_reverse(acc)
    [b, ..rest] -> wrap_each(rest, wrap, [wrap(b), ..acc])
  }
}

fn wrong_batch() -> Result(a, engine.EngineError) {
  Error(engine.BadArgument("a batch of the aggregator's backend"))
}

/// Counts one shard's batch into its aggregator, on a dirty scheduler: the
/// same counts as `add_events` with the batch's events. A batch is applied
/// once (the Rust engines free it; a second call is refused).
pub fn apply_batch(
  aggregator: Aggregator,
  batch: Batch,
) -> Result(usage.Counters, engine.EngineError) {
  case aggregator, batch {
    OnNif(a), NifBatch(b) -> nif.aggregator_apply_batch(a, b)
    OnPort(a), PortBatch(b) -> port.aggregator_apply_batch(a, b)
    OnGleam(a), GleamBatch(b) -> pure.aggregator_apply_batch(a, b)
    OnShadow(a, b), ShadowBatch(p, q) ->
      shadow.compare("apply_batch", Nil, apply_batch(a, p), fn() {
        apply_batch(b, q)
      })
    _, _ -> wrong_batch()
  }
}

/// A batch's events, copied out (inspection and tests; not the main path).
pub fn batch_events(
  batch: Batch,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  case batch {
    NifBatch(b) -> nif.batch_events(b)
    PortBatch(b) -> port.batch_events(b)
    GleamBatch(b) -> pure.batch_events(b)
    ShadowBatch(p, q) ->
      shadow.compare("batch_events", Nil, batch_events(p), fn() {
        batch_events(q)
      })
  }
}

/// Saves the aggregator's snapshot with `extra` (opaque bytes, e.g. the
/// shard's source positions) to `path`, atomically and with mode 0600; the
/// Rust engines stream it to disk. Returns the bytes written.
///
/// ```gleam
/// let assert Ok(_bytes) = aggregate.save(agg, path: "/var/lib/tally/shard-0.snap", extra: <<>>)
/// ```
pub fn save(
  aggregator: Aggregator,
  path path: String,
  extra extra: BitArray,
) -> Result(Int, engine.EngineError) {
  case aggregator {
    OnNif(a) -> nif.aggregator_save(a, path, extra)
    OnPort(a) -> port.aggregator_save(a, path, extra)
    OnGleam(a) -> pure.aggregator_save(a, path, extra)
    // One file: the primary writes it.
    OnShadow(a, _) -> save(a, path, extra)
  }
}

/// Reads a snapshot written by `save` (on any backend), refusing a
/// damaged one with `AggregateFailed(BadExport(reason))`.
pub fn load(
  on engine_backend: backend.Backend,
  path path: String,
) -> Result(usage.Loaded(Aggregator), engine.EngineError) {
  case engine_backend {
    backend.Nif -> wrap_loaded(nif.aggregator_load(path), OnNif)
    backend.Port(p) -> wrap_loaded(port.aggregator_load(p, path), OnPort)
    backend.Gleam -> wrap_loaded(pure.aggregator_load(path), OnGleam)
    backend.Shadow(a, b) ->
      case load(a, path), load(b, path) {
        Ok(usage.Loaded(p, extra)), Ok(usage.Loaded(q, _)) ->
          Ok(usage.Loaded(OnShadow(primary: p, secondary: q), extra))
        first, _ -> first
      }
  }
}

fn wrap_loaded(
  result: Result(usage.Loaded(a), engine.EngineError),
  wrap: fn(a) -> Aggregator,
) -> Result(usage.Loaded(Aggregator), engine.EngineError) {
  case result {
    Ok(usage.Loaded(a, extra)) -> Ok(usage.Loaded(wrap(a), extra))
    Error(e) -> Error(e)
  }
}
