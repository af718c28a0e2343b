//// The pure Gleam engine: tally's operations written in Gleam (with only
//// byte access through `tally_pure_ffi`), the readable reference the Rust
//// engine is checked against, and a backend of its own (`backend.Gleam`).
////
//// It does all the Rust engine does: parses the four formats, whole
//// (`parse_event_line`, `parse_chunk`) and streaming (`parser_new`,
//// `parser_feed`, `parser_finish`); aggregates (`aggregator_new`,
//// `add_events`, `feed`, `finish`, `counters`, `windows`, `merge`); closes
//// and bills periods (`close_period`, `take_late`); exports and restores,
//// byte for byte the Rust engine's format. Everything it answers is held
//// to the Rust engine's answers (reject reasons and columns, invoice lines,
//// export bytes) by the differential tests.
////
//// The release's main path (`shard_of`, `ingest_chunk`,
//// `aggregator_apply_batch`, `aggregator_save`, `aggregator_load`) works
//// here as in Rust; a batch is simply the shard's event list, so unlike the
//// Rust engines' it can be applied twice (do not).

import tally/billing
import tally/engine
import tally/event
import tally/option
import tally/pure/aggregate as agg
import tally/pure/bytes
import tally/pure/csv
import tally/pure/export
import tally/pure/invoice
import tally/pure/jsonl
import tally/pure/lines
import tally/pure/map
import tally/pure/plans
import tally/pure/rgw
import tally/pure/s3
import tally/pure/written
import tally/usage

/// Same as `nif.parse_event_line`.
pub fn parse_event_line(
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError) {
  Ok(jsonl.parse_event_line(line))
}

/// Same as `nif.parse_chunk`, for the formats the Gleam engine has.
///
/// ```gleam
/// pure.parse_chunk(event.JsonLines, event.default_parser_options(), <<"\n":utf8>>)
/// // -> Ok(event.Parsed(events: [], rejects: [], stats: ..))
/// ```
pub fn parse_chunk(
  format: event.Format,
  options: event.ParserOptions,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  case options.max_line, format {
    max, _ if max < 0 -> Error(engine.BadArgument("an Int that fits usize"))
    0, _ -> Error(engine.BadArgument("a max_line above 0"))
    max, event.JsonLines -> Ok(json_lines(max, chunk))
    max, event.S3AccessLog ->
      Ok(lines.parse_all(
        event.S3AccessLog,
        max,
        chunk,
        s3.new(
          option.unwrap(options.source, or: "s3_access_log"),
          options.s3_customer,
        ),
        s3.parse_line,
      ))
    max, event.RgwUsage ->
      Ok(rgw.parse_all(
        option.unwrap(options.source, or: "rgw_usage"),
        max,
        chunk,
      ))
    max, event.StorageCsv ->
      Ok(lines.parse_all(
        event.StorageCsv,
        max,
        chunk,
        csv.new(option.unwrap(options.source, or: "storage_csv")),
        csv.parse_line,
      ))
  }
}

// A line format's answer for one line, as `LineFormat::parse_line` gives it.
fn json_line(
  state: Nil,
  _number: Int,
  line: BitArray,
) -> #(Nil, lines.LineResult) {
  case bytes.is_blank(line) {
    True -> #(state, lines.Skipped)
    False ->
      case jsonl.parse_event_line(line) {
        Ok(e) -> #(state, lines.Accepted([e]))
        Error(reason) -> #(state, lines.Rejected(reason))
      }
  }
}

fn json_lines(max_line: Int, chunk: BitArray) -> event.Parsed {
  lines.parse_all(event.JsonLines, max_line, chunk, Nil, json_line)
}

// Streaming parsers -------------------------------------------------------

/// A streaming parser of the Gleam engine: its state lives in a small
/// process (a cell), since a parser changes as it is fed. Usable from any
/// process, like the NIF's; `parser_close` ends it.
pub opaque type PureParser {
  PureParser(cell: Cell)
}

type Cell

type StreamState {
  StreamState(stream: Stream, finished: Bool)
}

type Stream {
  JsonStream(lines.Stream(Nil))
  S3Stream(lines.Stream(s3.State))
  CsvStream(lines.Stream(csv.State))
  RgwStream(rgw.Machine)
}

/// Same as `nif.parser_new`.
pub fn parser_new(
  format: event.Format,
  options: event.ParserOptions,
) -> Result(PureParser, engine.EngineError) {
  case options.max_line {
    max if max < 0 -> Error(engine.BadArgument("an Int that fits usize"))
    0 -> Error(engine.BadArgument("a max_line above 0"))
    max -> {
      let source = fn(default) { option.unwrap(options.source, or: default) }
      let stream = case format {
        event.JsonLines ->
          JsonStream(lines.new(event.JsonLines, max, Nil, json_line))
        event.S3AccessLog ->
          S3Stream(lines.new(
            event.S3AccessLog,
            max,
            s3.new(source("s3_access_log"), options.s3_customer),
            s3.parse_line,
          ))
        event.StorageCsv ->
          CsvStream(lines.new(
            event.StorageCsv,
            max,
            csv.new(source("storage_csv")),
            csv.parse_line,
          ))
        event.RgwUsage -> RgwStream(rgw.new(source("rgw_usage"), max))
      }
      Ok(PureParser(cell_new(StreamState(stream, False))))
    }
  }
}

/// Same as `nif.parser_feed`.
pub fn parser_feed(
  parser: PureParser,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  cell_update(parser.cell, fn(state: StreamState) {
    case state.finished {
      True -> #(state, Ok(nothing()))
      False -> {
        let #(stream, parsed) = case state.stream {
          JsonStream(s) -> wrap(lines.feed(s, chunk), JsonStream)
          S3Stream(s) -> wrap(lines.feed(s, chunk), S3Stream)
          CsvStream(s) -> wrap(lines.feed(s, chunk), CsvStream)
          RgwStream(m) -> wrap(rgw.feed(m, chunk), RgwStream)
        }
        #(StreamState(stream, False), Ok(parsed))
      }
    }
  })
}

/// Same as `nif.parser_finish`.
pub fn parser_finish(
  parser: PureParser,
) -> Result(event.Parsed, engine.EngineError) {
  cell_update(parser.cell, fn(state: StreamState) {
    case state.finished {
      True -> #(state, Ok(nothing()))
      False -> {
        let #(stream, parsed) = case state.stream {
          JsonStream(s) -> wrap(lines.finish(s), JsonStream)
          S3Stream(s) -> wrap(lines.finish(s), S3Stream)
          CsvStream(s) -> wrap(lines.finish(s), CsvStream)
          RgwStream(m) -> wrap(rgw.finish(m), RgwStream)
        }
        #(StreamState(stream, True), Ok(parsed))
      }
    }
  })
}

/// Ends the parser's process.
pub fn parser_close(parser: PureParser) -> Nil {
  cell_stop(parser.cell)
}

fn wrap(
  result: #(s, event.Parsed),
  as_stream: fn(s) -> Stream,
) -> #(Stream, event.Parsed) {
  let #(s, parsed) = result
  #(as_stream(s), parsed)
}

fn nothing() -> event.Parsed {
  event.Parsed([], [], event.ParseStats(0, 0, 0, 0, 0, 0))
}

@external(erlang, "tally_pure_ffi", "cell_new")
fn cell_new(state: StreamState) -> Cell

@external(erlang, "tally_pure_ffi", "cell_update")
fn cell_update(
  cell: Cell,
  update: fn(StreamState) ->
    #(StreamState, Result(event.Parsed, engine.EngineError)),
) -> Result(event.Parsed, engine.EngineError)

@external(erlang, "tally_pure_ffi", "cell_stop")
fn cell_stop(cell: Cell) -> Nil

// Aggregators ---------------------------------------------------------------

/// An aggregator of the Gleam engine; its state lives in a cell, as a
/// streaming parser's does.
pub opaque type PureAggregator {
  PureAggregator(cell: AggCell)
}

type AggCell

const i64_min = -9_223_372_036_854_775_808

const i64_max = 9_223_372_036_854_775_807

/// Same as `nif.aggregator_new`.
pub fn aggregator_new(
  config: usage.AggregatorConfig,
) -> Result(PureAggregator, engine.EngineError) {
  case config.gauge_gap_cap_ms < i64_min || config.gauge_gap_cap_ms > i64_max {
    True -> Error(engine.BadArgument("an Int that fits i64"))
    False -> Ok(PureAggregator(agg_cell_new(agg.new(config))))
  }
}

// Events as the Rust engine decodes them: the whole list or nothing.
fn check_events(
  events: List(event.UsageEvent),
) -> Result(Nil, engine.EngineError) {
  case events {
    [] -> Ok(Nil)
    [e, ..rest] ->
      case
        e.value < 0 || e.value > i64_max,
        e.time_ms < i64_min || e.time_ms > i64_max
      {
        True, _ -> Error(engine.BadArgument("a value from 0 to 2^63-1"))
        _, True -> Error(engine.BadArgument("an Int that fits i64"))
        False, False -> check_events(rest)
      }
  }
}

/// Same as `nif.aggregator_add_events`.
pub fn aggregator_add_events(
  aggregator: PureAggregator,
  events: List(event.UsageEvent),
) -> Result(usage.Counters, engine.EngineError) {
  case check_events(events) {
    Error(e) -> Error(e)
    Ok(Nil) ->
      agg_update(aggregator.cell, fn(state) {
        let state = agg.apply_all(state, events)
        #(state, Ok(agg.counters(state)))
      })
  }
}

/// Same as `nif.aggregator_feed`: parses with a Gleam parser straight into
/// the aggregator.
pub fn aggregator_feed(
  aggregator: PureAggregator,
  parser: PureParser,
  chunk: BitArray,
) -> Result(usage.FeedResult, engine.EngineError) {
  into(aggregator, parser_feed(parser, chunk))
}

/// Same as `nif.aggregator_finish`.
pub fn aggregator_finish(
  aggregator: PureAggregator,
  parser: PureParser,
) -> Result(usage.FeedResult, engine.EngineError) {
  into(aggregator, parser_finish(parser))
}

fn into(
  aggregator: PureAggregator,
  parsed: Result(event.Parsed, engine.EngineError),
) -> Result(usage.FeedResult, engine.EngineError) {
  case parsed {
    Error(e) -> Error(e)
    Ok(p) ->
      agg_update(aggregator.cell, fn(state) {
        let state = agg.apply_all(state, p.events)
        #(
          state,
          Ok(usage.FeedResult(
            stats: p.stats,
            rejects: p.rejects,
            counters: agg.counters(state),
          )),
        )
      })
  }
}

/// Same as `nif.aggregator_counters`.
pub fn aggregator_counters(
  aggregator: PureAggregator,
) -> Result(usage.Counters, engine.EngineError) {
  agg_update(aggregator.cell, fn(state) { #(state, Ok(agg.counters(state))) })
}

/// Same as `nif.aggregator_windows`.
pub fn aggregator_windows(
  aggregator: PureAggregator,
) -> Result(List(usage.WindowAggregate), engine.EngineError) {
  agg_update(aggregator.cell, fn(state) { #(state, Ok(agg.windows(state))) })
}

/// Same as `nif.aggregator_merge`: adds `from`'s counts into `into`.
pub fn aggregator_merge(
  into: PureAggregator,
  from: PureAggregator,
) -> Result(Nil, engine.EngineError) {
  case into == from {
    True -> Error(engine.BadArgument("two different aggregators"))
    False ->
      case agg_update(from.cell, fn(state) { #(state, Ok(state)) }) {
        Error(e) -> Error(e)
        Ok(theirs) ->
          agg_update(into.cell, fn(ours) {
            case agg.merge(ours, theirs) {
              Ok(merged) -> #(merged, Ok(Nil))
              Error(reason) -> #(ours, Error(engine.AggregateFailed(reason)))
            }
          })
      }
  }
}

/// Same as `nif.aggregator_close_period`: closes the period (`YYYY-MM`)
/// and bills it with the plans (JSON). Bad plans leave the period open.
pub fn aggregator_close_period(
  aggregator: PureAggregator,
  period: String,
  plans_json: String,
  version: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  case agg.parse_period(period), bytes.utf8_error_at(<<plans_json:utf8>>) {
    Error(Nil), _ -> Error(engine.BadArgument("a period YYYY-MM"))
    _, at if at >= 0 -> Error(engine.BadArgument("plans as UTF-8 JSON"))
    Ok(_), _ if version < 0 || version > u32_max ->
      Error(engine.BadArgument("a version from 0 to 2^32-1"))
    Ok(start), _ ->
      case plans.from_json(plans_json) {
        Error(e) -> Error(engine.BillingFailed(e))
        Ok(checked) ->
          agg_update(aggregator.cell, fn(state) {
            let #(state, period_usage) = agg.close_period(state, start)
            case invoice.bill(period_usage, checked, version) {
              Ok(inv) -> #(state, Ok(inv))
              Error(e) -> #(state, Error(engine.BillingFailed(e)))
            }
          })
      }
  }
}

/// Same as `nif.aggregator_close_shard`: closes the period and bills the
/// customers of shard `shard` of `shards`.
pub fn aggregator_close_shard(
  aggregator: PureAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.Invoice, engine.EngineError) {
  case shard_close_checks(period, plans_json, version, shard, shards) {
    Error(e) -> Error(e)
    Ok(#(start, checked)) ->
      agg_update(aggregator.cell, fn(state) {
        bill_shard(state, start, checked, version, shard, shards)
      })
  }
}

// The arguments of a shard's close, as the Rust engines check them: the
// period's start and the plans.
fn shard_close_checks(
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(#(Int, plans.Plans), engine.EngineError) {
  case agg.parse_period(period), bytes.utf8_error_at(<<plans_json:utf8>>) {
    Error(Nil), _ -> Error(engine.BadArgument("a period YYYY-MM"))
    _, at if at >= 0 -> Error(engine.BadArgument("plans as UTF-8 JSON"))
    Ok(_), _ if version < 0 || version > u32_max ->
      Error(engine.BadArgument("a version from 0 to 2^32-1"))
    Ok(_), _
      if shards < 0 || shards > u32_max || shard < 0 || shard > u32_max
    -> Error(engine.BadArgument("a shard from 0 to 2^32-1"))
    Ok(_), _ if shard >= shards && shard > 0 ->
      Error(engine.BadArgument("a shard below the shard count"))
    Ok(start), _ ->
      case plans.from_json(plans_json) {
        Error(e) -> Error(engine.BillingFailed(e))
        Ok(checked) -> Ok(#(start, checked))
      }
  }
}

// Closes the period and bills the shard's customers (in the aggregator's
// process).
fn bill_shard(
  state: agg.State,
  start: Int,
  checked: plans.Plans,
  version: Int,
  shard: Int,
  shards: Int,
) -> #(agg.State, Result(billing.Invoice, engine.EngineError)) {
  let #(state, period_usage) = agg.close_period(state, start)
  case invoice.bill_shard(period_usage, checked, version, shard, shards) {
    Ok(inv) -> #(state, Ok(inv))
    Error(e) -> #(state, Error(engine.BillingFailed(e)))
  }
}

/// Same as `nif.aggregator_close_written`: `aggregator_close_shard` with
/// the lines in their written form, in outbox batches
/// (`tally/pure/written`).
pub fn aggregator_close_written(
  aggregator: PureAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
) -> Result(billing.WrittenInvoice, engine.EngineError) {
  case
    aggregator_close_shard(
      aggregator,
      period,
      plans_json,
      version,
      shard,
      shards,
    )
  {
    Ok(inv) -> Ok(written.write_invoice(inv))
    Error(e) -> Error(e)
  }
}

/// Same as `nif.aggregator_close_round`: one round of
/// `aggregator_close_written`, billing the round's customers only (as the
/// Rust engines do: a customer that fails to bill fails its own round, not
/// the ones before it). The first round closes the period and takes the
/// shard's customers with their usage; the aggregator keeps those the round
/// leaves (`agg.ClosingRounds`, in the aggregator's process); a round that
/// continues it (same period, plans, version and shard, from the customer
/// the last round stopped at) bills from there, any other takes the
/// shard's customers again and starts at `from`.
pub fn aggregator_close_round(
  aggregator: PureAggregator,
  period: String,
  plans_json: String,
  version: Int,
  shard: Int,
  shards: Int,
  from: option.Option(String),
  max_lines: Int,
) -> Result(billing.WrittenRound, engine.EngineError) {
  case agg.parse_period(period) {
    Error(Nil) -> Error(engine.BadArgument("a period YYYY-MM"))
    Ok(_) if shard >= shards && shard > 0 ->
      Error(engine.BadArgument("a shard below the shard count"))
    Ok(_) if max_lines < 1 ->
      Error(engine.BadArgument("a line budget of 1 or more"))
    Ok(start) -> {
      let close = agg.RoundsOf(start, plans_json, version, shard, shards)
      let taken =
        agg_update(aggregator.cell, fn(state) {
          let rounds = case state.closing, from {
            // The round after the last: from the first customer it left.
            Ok(agg.ClosingRounds(c, [#(next, series), ..rest], usage, checked)),
              option.Some(f)
              if c == close && next == f
            -> Ok(#(state, [#(next, series), ..rest], usage, checked))
            _, _ ->
              // Not a continuation: checked, the period closed, the
              // shard's customers from `from` on.
              case
                shard_close_checks(period, plans_json, version, shard, shards)
              {
                Error(e) -> Error(e)
                Ok(#(_, checked)) -> {
                  let #(state, usage) = agg.close_period(state, start)
                  let customers =
                    customers_from(
                      invoice.shard_customers(usage, checked, shard, shards),
                      from,
                    )
                  // Each series is in `customers`.
                  let usage = agg.PeriodUsage(..usage, series: [])
                  Ok(#(state, customers, usage, checked))
                }
              }
          }
          case rounds {
            Error(e) -> #(agg.State(..state, closing: Error(Nil)), Error(e))
            Ok(#(state, customers, usage, checked)) ->
              case
                bill_round(
                  customers,
                  usage,
                  checked,
                  version,
                  max_lines,
                  0,
                  [],
                  [],
                )
              {
                Error(e) -> #(
                  agg.State(..state, closing: Error(Nil)),
                  Error(engine.BillingFailed(e)),
                )
                Ok(#(lines, unbilled, left)) -> {
                  let #(next, closing) = case left {
                    [] -> #(option.None, Error(Nil))
                    [#(c, _), ..] -> #(
                      option.Some(c),
                      Ok(agg.ClosingRounds(close, left, usage, checked)),
                    )
                  }
                  #(
                    agg.State(..state, closing: closing),
                    Ok(#(lines, unbilled, next)),
                  )
                }
              }
          }
        })
      case taken {
        Error(e) -> Error(e)
        Ok(#(lines, unbilled, next)) -> {
          let w = written.write_invoice(billing.Invoice(lines, unbilled))
          Ok(billing.WrittenRound(
            w.batches,
            w.totals,
            w.unbilled_customers,
            next,
          ))
        }
      }
    }
  }
}

fn customers_from(
  customers: List(#(String, List(agg.SeriesUsage))),
  from: option.Option(String),
) -> List(#(String, List(agg.SeriesUsage))) {
  case customers, from {
    [#(c, _), ..rest], option.Some(f) ->
      case text_before(c, f) {
        True -> customers_from(rest, from)
        False -> customers
      }
    _, _ -> customers
  }
}

// Bills `customers` in order up to the one whose lines would take the
// round past `max_lines` (a round bills at least one customer with lines):
// the round's lines, its customers without a plan, and the customers left.
fn bill_round(
  customers: List(#(String, List(agg.SeriesUsage))),
  usage: agg.PeriodUsage,
  checked: plans.Plans,
  version: Int,
  max_lines: Int,
  count: Int,
  acc: List(billing.InvoiceLine),
  acc_unbilled: List(String),
) -> Result(
  #(
    List(billing.InvoiceLine),
    List(String),
    List(#(String, List(agg.SeriesUsage))),
  ),
  engine.BillingError,
) {
  let done = fn(left) {
    Ok(#(bytes.reverse(acc), bytes.reverse(acc_unbilled), left))
  }
  case customers {
    [] -> done([])
    [#(customer, series), ..rest] -> {
      let n = invoice.line_count(checked, customer, series)
      case count > 0 && count + n > max_lines {
        True -> done(customers)
        False ->
          case
            invoice.bill_customer(customer, series, usage, checked, version)
          {
            Error(e) -> Error(e)
            Ok(Error(Nil)) ->
              bill_round(rest, usage, checked, version, max_lines, count, acc, [
                customer,
                ..acc_unbilled
              ])
            Ok(Ok(lines)) ->
              bill_round(
                rest,
                usage,
                checked,
                version,
                max_lines,
                count + n,
                prepend(lines, acc),
                acc_unbilled,
              )
          }
      }
    }
  }
}

fn prepend(
  items: List(billing.InvoiceLine),
  acc: List(billing.InvoiceLine),
) -> List(billing.InvoiceLine) {
  case items {
    [] -> acc
    [x, ..rest] -> prepend(rest, [x, ..acc])
  }
}

@external(erlang, "tally_pure_ffi", "before")
fn text_before(a: String, b: String) -> Bool

const u32_max = 4_294_967_295

/// Same as `nif.aggregator_take_late`.
/// Same as `nif.aggregator_reset`: a new state with the same configuration.
pub fn aggregator_reset(
  aggregator: PureAggregator,
) -> Result(Nil, engine.EngineError) {
  agg_update(aggregator.cell, fn(state) { #(agg.new(state.config), Ok(Nil)) })
}

pub fn aggregator_take_late(
  aggregator: PureAggregator,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  agg_update(aggregator.cell, fn(state) {
    let #(state, late) = agg.take_late(state)
    #(state, Ok(late))
  })
}

/// Same as `nif.aggregator_export`: the same bytes the Rust engine writes
/// for the same events.
pub fn aggregator_export(
  aggregator: PureAggregator,
) -> Result(BitArray, engine.EngineError) {
  agg_update(aggregator.cell, fn(state) { #(state, Ok(export.export(state))) })
}

/// Same as `nif.aggregator_restore`: reads either engine's export.
pub fn aggregator_restore(
  bytes: BitArray,
) -> Result(PureAggregator, engine.EngineError) {
  case export.restore(bytes) {
    Ok(state) -> Ok(PureAggregator(agg_cell_new(state)))
    Error(reason) -> Error(engine.AggregateFailed(reason))
  }
}

/// Ends the aggregator's process.
pub fn aggregator_close(aggregator: PureAggregator) -> Nil {
  agg_cell_stop(aggregator.cell)
}

@external(erlang, "tally_pure_ffi", "cell_new")
fn agg_cell_new(state: agg.State) -> AggCell

@external(erlang, "tally_pure_ffi", "cell_update")
fn agg_update(
  cell: AggCell,
  update: fn(agg.State) -> #(agg.State, Result(a, engine.EngineError)),
) -> Result(a, engine.EngineError)

@external(erlang, "tally_pure_ffi", "cell_stop")
fn agg_cell_stop(cell: AggCell) -> Nil

// The release's main path -------------------------------------------------

const max_chunk = 1_073_741_824

fn shard_count(shards: Int) -> Result(Int, engine.EngineError) {
  case shards < 1 || shards > u32_max {
    True -> Error(engine.BadArgument("a shard count from 1 to 2^32-1"))
    False -> Ok(shards)
  }
}

/// Same as `nif.shard_of`: XXH3-64 of the customer modulo the shard count.
pub fn shard_of(
  customer: String,
  shards: Int,
) -> Result(Int, engine.EngineError) {
  case shard_count(shards) {
    Error(e) -> Error(e)
    Ok(n) -> Ok(xxh3_64(<<customer:utf8>>) % n)
  }
}

@external(erlang, "tally_xxh3", "hash64")
fn xxh3_64(b: BitArray) -> Int

/// A shard's events from one chunk, and whether they are counted with
/// deduplication by event id (the source's `dedup` option).
pub type PureBatch {
  PureBatch(dedup: Bool, events: List(event.UsageEvent))
}

/// Same as `nif.ingest_chunk`; a batch is the shard's list of events.
pub fn ingest_chunk(
  format: event.Format,
  options: event.ParserOptions,
  shards: Int,
  chunk: BitArray,
) -> Result(event.Ingested(PureBatch), engine.EngineError) {
  case shard_count(shards), bytes.size(chunk) > max_chunk {
    Error(e), _ -> Error(e)
    _, True -> Error(engine.BadArgument("a chunk of at most 1 GiB"))
    Ok(n), False ->
      case parse_chunk(format, options, chunk) {
        Error(e) -> Error(e)
        Ok(parsed) ->
          Ok(event.Ingested(
            batches: batches_of(partition(parsed.events, n), options.dedup),
            rejects: parsed.rejects,
            stats: parsed.stats,
          ))
      }
  }
}

fn batches_of(
  lists: List(List(event.UsageEvent)),
  dedup: Bool,
) -> List(PureBatch) {
  case lists {
    [] -> []
    [events, ..rest] -> [
      PureBatch(dedup: dedup, events: events),
      ..batches_of(rest, dedup)
    ]
  }
}

// Each shard's events, in input order, shard 0 first.
fn partition(
  events: List(event.UsageEvent),
  shards: Int,
) -> List(List(event.UsageEvent)) {
  shard_lists(
    by_shard(bytes.reverse(events), shards, map.new()),
    shards - 1,
    [],
  )
}

// Events (last first) to lists per shard (each in input order).
fn by_shard(
  events: List(event.UsageEvent),
  shards: Int,
  acc: map.Map(Int, List(event.UsageEvent)),
) -> map.Map(Int, List(event.UsageEvent)) {
  case events {
    [] -> acc
    [e, ..rest] -> {
      let i = xxh3_64(<<e.customer:utf8>>) % shards
      let mine = case map.get(acc, i) {
        Ok(list) -> list
        Error(Nil) -> []
      }
      by_shard(rest, shards, map.put(acc, i, [e, ..mine]))
    }
  }
}

fn shard_lists(
  by_shard: map.Map(Int, List(event.UsageEvent)),
  i: Int,
  acc: List(List(event.UsageEvent)),
) -> List(List(event.UsageEvent)) {
  case i < 0 {
    True -> acc
    False -> {
      let mine = case map.get(by_shard, i) {
        Ok(list) -> list
        Error(Nil) -> []
      }
      shard_lists(by_shard, i - 1, [mine, ..acc])
    }
  }
}

/// Same as `nif.aggregator_apply_batch`.
pub fn aggregator_apply_batch(
  aggregator: PureAggregator,
  batch: PureBatch,
) -> Result(usage.Counters, engine.EngineError) {
  case check_events(batch.events) {
    Error(e) -> Error(e)
    Ok(Nil) ->
      agg_update(aggregator.cell, fn(state) {
        let state = agg.apply_all_with(state, batch.events, batch.dedup)
        #(state, Ok(agg.counters(state)))
      })
  }
}

/// Same as `nif.batch_events`.
pub fn batch_events(
  batch: PureBatch,
) -> Result(List(event.UsageEvent), engine.EngineError) {
  Ok(batch.events)
}

/// Same as `nif.aggregator_save`, the same files the Rust engines write
/// and read (`export.plan_save` decides what): once the aggregator was
/// saved to or loaded from `path`, a delta of what changed since, with
/// `extra`, appended to `path.log` after its last whole delta and synced;
/// otherwise, or when base and log would exceed twice the state's size,
/// the base (the bytes the Rust engine writes for one) to a temporary file
/// (mode 0600) renamed over `path` after an fsync, the directory synced,
/// then the log started afresh the same way. On an error the files load
/// to what they did, and the next save still holds every change.
pub fn aggregator_save(
  aggregator: PureAggregator,
  path: String,
  extra: BitArray,
) -> Result(Int, engine.EngineError) {
  agg_update(aggregator.cell, fn(state) {
    let log = path <> ".log"
    let failed = fn(state, reason) {
      #(state, Error(engine.SnapshotFailed(path, reason)))
    }
    let save = export.plan_save(state, path, extra)
    case save {
      export.AppendDelta(header, at, frame, _) -> {
        let started = case header {
          Error(Nil) -> Ok(#(state, 0))
          Ok(h) ->
            case write_snapshot_file(log, h) {
              Ok(Nil) -> Ok(#(export.log_started(state), bytes.size(h)))
              Error(reason) -> Error(reason)
            }
        }
        case started {
          Error(reason) -> failed(state, reason)
          Ok(#(state, written)) ->
            case append_snapshot_log(log, at, frame) {
              Ok(Nil) -> #(
                export.saved(state, save, True),
                Ok(written + bytes.size(frame)),
              )
              Error(reason) -> failed(state, reason)
            }
        }
      }
      export.WriteBase(base, header, _) ->
        case write_snapshot_file(path, base) {
          Error(reason) -> failed(state, reason)
          // A log not started now names the old base: it is ignored on load.
          Ok(Nil) ->
            case write_snapshot_file(log, header) {
              Ok(Nil) -> #(
                export.saved(state, save, True),
                Ok(bytes.size(base) + bytes.size(header)),
              )
              Error(_) -> #(
                export.saved(state, save, False),
                Ok(bytes.size(base)),
              )
            }
        }
    }
  })
}

/// Same as `nif.aggregator_load`: reads either engine's snapshot, its
/// base and the deltas in its log; the aggregator's next save to `path`
/// appends to them.
pub fn aggregator_load(
  path: String,
) -> Result(usage.Loaded(PureAggregator), engine.EngineError) {
  let log = case read_snapshot_file(path <> ".log") {
    Ok(l) -> Ok(Ok(l))
    Error("enoent") -> Ok(Error(Nil))
    Error(reason) -> Error(reason)
  }
  case read_snapshot_file(path), log {
    Error(reason), _ -> Error(engine.SnapshotFailed(path, reason))
    _, Error(reason) -> Error(engine.SnapshotFailed(path <> ".log", reason))
    Ok(b), Ok(l) ->
      case export.read_snapshot_log(b, l, path) {
        Error(reason) -> Error(engine.AggregateFailed(reason))
        Ok(#(state, extra)) ->
          Ok(usage.Loaded(PureAggregator(agg_cell_new(state)), extra))
      }
  }
}

@external(erlang, "tally_snapshot_file", "write")
fn write_snapshot_file(path: String, bytes: BitArray) -> Result(Nil, String)

@external(erlang, "tally_snapshot_file", "read")
fn read_snapshot_file(path: String) -> Result(BitArray, String)

@external(erlang, "tally_snapshot_file", "append")
fn append_snapshot_log(
  path: String,
  at: Int,
  bytes: BitArray,
) -> Result(Nil, String)
