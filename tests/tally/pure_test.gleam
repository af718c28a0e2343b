//// The pure Gleam engine: the engine cases every backend passes, every
//// format, aggregation, billing and export agreeing with the NIF in shadow
//// mode.

import tally/aggregate
import tally/backend
import tally/engine_cases
import tally/event
import tally/expect
import tally/parse
import tally/pure
import tally/shadow
import tally/usage

pub fn parse_event_line_test() {
  engine_cases.parse_event_line(pure.parse_event_line)
}

pub fn parse_chunk_in_shadow_of_the_nif_test() {
  let assert Ok(bytes) = read_file("sample/events.jsonl")
  shadow.reset()
  let options = event.default_parser_options()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: backend.Shadow(backend.Nif, backend.Gleam),
      format: event.JsonLines,
      chunk: bytes,
      options: options,
    )
  expect.equal(parsed.stats.records, 8993)
  expect.equal(parsed.stats.rejected, 2)
  expect.equal(shadow.stats(), [shadow.ShadowStats("parse_chunk", 1, 0)])
  // Crossing a CRLF, a blank line, and a line over the limit.
  let small = event.ParserOptions(..options, max_line: 30)
  let chunk = <<
    "\r\n   \n{\"id\": 1}\r\n":utf8,
    "{\"a\":\"0123456789012345678901234567890\"}":utf8,
  >>
  expect.equal(
    parse.parse_chunk(
      on: backend.Gleam,
      format: event.JsonLines,
      chunk: chunk,
      options: small,
    ),
    parse.parse_chunk(
      on: backend.Nif,
      format: event.JsonLines,
      chunk: chunk,
      options: small,
    ),
  )
}

pub fn storage_csv_in_shadow_of_the_nif_test() {
  let assert Ok(bytes) = read_file("sample/storage.csv")
  shadow.reset()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: backend.Shadow(backend.Gleam, backend.Nif),
      format: event.StorageCsv,
      chunk: bytes,
      options: event.default_parser_options(),
    )
  expect.equal(#(parsed.stats.events, parsed.stats.rejected), #(93, 1))
  expect.equal(shadow.stats(), [shadow.ShadowStats("parse_chunk", 1, 0)])
}

pub fn s3_access_log_in_shadow_of_the_nif_test() {
  let assert Ok(bytes) = read_file("sample/s3_access.log")
  shadow.reset()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: backend.Shadow(backend.Gleam, backend.Nif),
      format: event.S3AccessLog,
      chunk: bytes,
      options: event.ParserOptions(
        ..event.default_parser_options(),
        s3_customer: event.Requester,
      ),
    )
  expect.equal(#(parsed.stats.events, parsed.stats.rejected), #(992, 1))
  expect.equal(shadow.stats(), [shadow.ShadowStats("parse_chunk", 1, 0)])
}

pub fn rgw_usage_in_shadow_of_the_nif_test() {
  let assert Ok(bytes) = read_file("sample/rgw/usage-2026-10.json")
  shadow.reset()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: backend.Shadow(backend.Gleam, backend.Nif),
      format: event.RgwUsage,
      chunk: bytes,
      options: event.default_parser_options(),
    )
  expect.equal(#(parsed.stats.records, parsed.stats.events), #(32, 192))
  // Cut short, and with a bucket entry over a small limit.
  let cut = <<
    "{\"entries\": [{\"user\": \"u\", \"buckets\": [{\"bucket\": \"b\", \"epoch\": 1":utf8,
  >>
  let small =
    event.ParserOptions(..event.default_parser_options(), max_line: 20)
  let assert Ok(_) =
    parse.parse_chunk(
      on: backend.Shadow(backend.Gleam, backend.Nif),
      format: event.RgwUsage,
      chunk: cut,
      options: small,
    )
  let assert Ok(_) =
    parse.parse_chunk(
      on: backend.Shadow(backend.Gleam, backend.Nif),
      format: event.RgwUsage,
      chunk: bytes,
      options: small,
    )
  expect.equal(shadow.stats(), [shadow.ShadowStats("parse_chunk", 3, 0)])
}

pub fn billing_and_exports_in_shadow_of_the_nif_test() {
  let assert Ok(bytes) = read_file("sample/events.jsonl")
  let assert Ok(plans) = read_file("sample/plans.json")
  shadow.reset()
  let on = backend.Shadow(backend.Nif, backend.Gleam)
  let assert Ok(agg) = aggregate.new(on: on, config: usage.default_config())
  let assert Ok(_) = aggregate.add_events(agg, sample_events(bytes))
  let assert Ok(invoice) =
    aggregate.close_period(
      agg,
      period: "2026-10",
      plans: to_text(plans),
      version: 1,
    )
  expect.be_true(invoice.lines != [], "invoice lines")
  // An event for the closed period is kept aside as late, by both engines.
  let late =
    event.UsageEvent(
      "late-1",
      "test",
      "acme",
      "cdn-acme",
      "bandwidth_out_bytes",
      7,
      1_792_000_000_000,
    )
  let assert Ok(counters) = aggregate.add_events(agg, [late])
  expect.equal(counters.late, 1)
  let assert Ok(exported) = aggregate.export(agg)
  // The Gleam engine reads the export back into the same bytes.
  let assert Ok(copy) = aggregate.restore(on: backend.Gleam, bytes: exported)
  expect.equal(aggregate.export(copy), Ok(exported))
  expect.equal(aggregate.take_late(agg), Ok([late]))
  expect.equal(shadow.stats(), [
    shadow.ShadowStats("add_events", 2, 0),
    shadow.ShadowStats("aggregator_new", 1, 0),
    shadow.ShadowStats("close_period", 1, 0),
    shadow.ShadowStats("export", 1, 0),
    shadow.ShadowStats("take_late", 1, 0),
  ])
}

fn sample_events(bytes: BitArray) -> List(event.UsageEvent) {
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: backend.Nif,
      format: event.JsonLines,
      chunk: bytes,
      options: event.default_parser_options(),
    )
  parsed.events
}

@external(erlang, "tally_pure_ffi", "to_text")
fn to_text(bytes: BitArray) -> String

pub fn aggregation_in_shadow_of_the_nif_test() {
  let assert Ok(bytes) = read_file("sample/events.jsonl")
  shadow.reset()
  let on = backend.Shadow(backend.Nif, backend.Gleam)
  let config =
    usage.AggregatorConfig(..usage.default_config(), unique_meters: ["requests"])
  let assert Ok(agg) = aggregate.new(on: on, config: config)
  let assert Ok(parser) =
    parse.new(
      on: on,
      format: event.JsonLines,
      options: event.default_parser_options(),
    )
  let assert Ok(fed) = aggregate.feed(agg, parser, bytes)
  let assert Ok(_) = aggregate.finish(agg, parser)
  // The sample repeats one event: counted once.
  expect.equal(fed.counters.duplicates, 1)
  let assert Ok(windows) = aggregate.windows(agg)
  expect.be_true(windows != [], "windows")
  expect.equal(shadow.stats(), [
    shadow.ShadowStats("aggregator_feed", 1, 0),
    shadow.ShadowStats("aggregator_finish", 1, 0),
    shadow.ShadowStats("aggregator_new", 1, 0),
    shadow.ShadowStats("parser_new", 1, 0),
    shadow.ShadowStats("windows", 1, 0),
  ])
}

@external(erlang, "file", "read_file")
fn read_file(path: String) -> Result(BitArray, Nil)
