//// tally/parse on every backend: exact events, rejects and counts.

import tally/backends
import tally/engine
import tally/event
import tally/expect
import tally/option
import tally/parse

const csv = "timestamp,customer,bucket,bytes\n2026-10-01T00:00:00Z,acme,b1,1073741824\n2026-10-01T12:00:00Z,acme,b1,x\n"

fn expected_csv() -> event.Parsed {
  event.Parsed(
    events: [
      event.UsageEvent(
        id: "acme/b1/1790812800000",
        source: "storage_csv",
        customer: "acme",
        resource: "b1",
        meter: "storage_bytes",
        value: 1_073_741_824,
        time_ms: 1_790_812_800_000,
      ),
    ],
    rejects: [
      event.Reject(
        format: event.StorageCsv,
        line: 3,
        offset: 72,
        reason: event.InvalidNumber(field: "bytes"),
        text: <<"2026-10-01T12:00:00Z,acme,b1,x":utf8>>,
      ),
    ],
    stats: event.ParseStats(
      records: 3,
      accepted: 1,
      rejected: 1,
      skipped: 1,
      events: 1,
      bytes: 103,
    ),
  )
}

pub fn parse_chunk_test() {
  use on <- backends.each_engine()
  expect.equal(
    parse.parse_chunk(
      on: on,
      format: event.StorageCsv,
      chunk: <<csv:utf8>>,
      options: event.default_parser_options(),
    ),
    Ok(expected_csv()),
  )
}

pub fn parse_chunk_s3_with_options_test() {
  let line =
    "owner1 bucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 alice REQ1 REST.GET.OBJECT key \"GET /key HTTP/1.1\" 200 - 113 - 7 - \"-\" \"curl/8\""
  let options =
    event.ParserOptions(
      max_line: 4096,
      source: option.Some("edge-logs"),
      s3_customer: event.Requester,
    )
  use on <- backends.each_engine()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: on,
      format: event.S3AccessLog,
      chunk: <<line:utf8>>,
      options: options,
    )
  expect.equal(parsed.events, [
    event.UsageEvent(
      "REQ1/requests",
      "edge-logs",
      "alice",
      "bucket1",
      "requests",
      1,
      1_549_411_238_000,
    ),
    event.UsageEvent(
      "REQ1/bandwidth_out_bytes",
      "edge-logs",
      "alice",
      "bucket1",
      "bandwidth_out_bytes",
      113,
      1_549_411_238_000,
    ),
  ])
}

pub fn bad_options_are_a_typed_error_test() {
  let options =
    event.ParserOptions(
      max_line: 0,
      source: option.None,
      s3_customer: event.BucketOwner,
    )
  use on <- backends.each_engine()
  expect.equal(
    parse.parse_chunk(
      on: on,
      format: event.JsonLines,
      chunk: <<>>,
      options: options,
    ),
    Error(engine.BadArgument(expected: "a max_line above 0")),
  )
}

pub fn streaming_parser_gives_what_a_whole_chunk_gives_test() {
  use on <- backends.each_engine()
  let assert Ok(p) =
    parse.new(
      on: on,
      format: event.StorageCsv,
      options: event.default_parser_options(),
    )
  // Cut inside the header, inside a line and before the last newline.
  let assert Ok(a) = parse.feed(p, <<"timestamp,custo":utf8>>)
  let assert Ok(b) =
    parse.feed(p, <<
      "mer,bucket,bytes\n2026-10-01T00:00:00Z,acme,b1,1073741824\n2026-10-01T12:00":utf8,
    >>)
  let assert Ok(c) = parse.feed(p, <<":00Z,acme,b1,x":utf8>>)
  let assert Ok(d) = parse.finish(p)
  expect.equal(a.events, [])
  expect.equal(a.stats.records, 0)
  expect.equal(b.events, expected_csv().events)
  expect.equal(b.stats.skipped, 1)
  expect.equal(c.rejects, [])
  expect.equal(d.rejects, expected_csv().rejects)
  expect.equal(d.stats.rejected, 1)
  expect.equal(parse.close(p), Ok(Nil))
}

// The inputs handed over in issues 16 and 17, on every backend, with their
// right values.

fn reasons(parsed: event.Parsed) -> List(event.RejectReason) {
  case parsed.rejects {
    [] -> []
    [r, ..rest] -> [r.reason, ..reasons(event.Parsed(..parsed, rejects: rest))]
  }
}

fn customers(events: List(event.UsageEvent)) -> List(String) {
  case events {
    [] -> []
    [e, ..rest] -> [e.customer, ..customers(rest)]
  }
}

pub fn a_repeated_key_refuses_the_event_test() {
  let line =
    "{\"id\":\"d1\",\"source\":\"/e\",\"subject\":\"c\",\"subject\":\"EVIL\",\"time\":\"2026-10-01T00:00:00Z\",\"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":1}}\n"
  use on <- backends.each_engine()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: on,
      format: event.JsonLines,
      chunk: <<line:utf8>>,
      options: event.default_parser_options(),
    )
  expect.equal(parsed.events, [])
  expect.equal(reasons(parsed), [event.DuplicateKey(field: "subject")])
}

pub fn s3_quote_inside_the_request_uri_test() {
  let line =
    "owner1 bucket1 [20/Jun/2019:03:51:36 +0000] 192.0.2.4 - 63DAF67A2BC0B6C3 REST.GET.OBJECT %2522 \"GET /\" HTTP/1.1\" 403 AccessDenied 243 - 8 - \"-\" \"curl/7.38.0\" -"
  use on <- backends.each_engine()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: on,
      format: event.S3AccessLog,
      chunk: <<line:utf8>>,
      options: event.default_parser_options(),
    )
  let make = fn(meter, value) {
    event.UsageEvent(
      "63DAF67A2BC0B6C3/" <> meter,
      "s3_access_log",
      "owner1",
      "bucket1",
      meter,
      value,
      1_561_002_696_000,
    )
  }
  expect.equal(parsed.events, [
    make("requests", 1),
    make("bandwidth_out_bytes", 243),
  ])
  expect.equal(parsed.rejects, [])
}

pub fn rgw_summary_only_is_refused_test() {
  let doc =
    "{\"summary\":[{\"user\":\"acme\",\"categories\":[{\"category\":\"get_obj\",\"bytes_sent\":5368709120,\"bytes_received\":0,\"ops\":1200,\"successful_ops\":1198}],\"total\":{\"bytes_sent\":5368709120,\"bytes_received\":0,\"ops\":1200,\"successful_ops\":1198}}]}\n"
  use on <- backends.each_engine()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: on,
      format: event.RgwUsage,
      chunk: <<doc:utf8>>,
      options: event.default_parser_options(),
    )
  expect.equal(parsed.events, [])
  expect.equal(reasons(parsed), [event.MissingField(field: "entries")])
  expect.equal(parsed.stats.records, 1)
}

pub fn csv_header_after_a_byte_order_mark_test() {
  let body =
    "timestamp,bucket,customer,bytes\n2026-10-01T00:00:00Z,logs,acme,1000\n"
  use on <- backends.each_engine()
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: on,
      format: event.StorageCsv,
      chunk: <<239, 187, 191, body:utf8>>,
      options: event.default_parser_options(),
    )
  expect.equal(customers(parsed.events), ["acme"])
  expect.equal(parsed.rejects, [])
  // Without a header the file is refused whole.
  let assert Ok(parsed) =
    parse.parse_chunk(
      on: on,
      format: event.StorageCsv,
      chunk: <<
        "2026-10-01T00:00:00Z,logs,acme,1000\n2026-10-02T00:00:00Z,logs,acme,1000\n":utf8,
      >>,
      options: event.default_parser_options(),
    )
  expect.equal(parsed.events, [])
  expect.equal(reasons(parsed), [event.BadHeader, event.BadHeader])
}
