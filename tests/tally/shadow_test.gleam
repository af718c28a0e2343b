//// Shadow mode with a secondary that answers differently: the caller gets
//// the primary's answer, the difference is counted and logged with the
//// operation and a digest of the input.

import tally/aggregate
import tally/backend
import tally/event
import tally/expect
import tally/nif
import tally/parse
import tally/port
import tally/shadow
import tally/usage

const line = "{\"id\":\"e1\",\"source\":\"s\",\"subject\":\"acme\",\"time\":\"2026-10-01T00:00:00Z\",\"data\":{\"resource\":\"cdn\",\"meter\":\"requests\",\"value\":4}}\n{broken\n"

// A port that was stopped: every call on it fails with PortExited.
fn dead_port() -> backend.Backend {
  let assert Ok(p) = port.start(timeout_ms: 5000)
  port.stop(p)
  backend.Port(p)
}

pub fn a_different_secondary_is_counted_and_logged_and_the_primary_wins_test() {
  let on = backend.Shadow(backend.Nif, dead_port())
  let options = event.default_parser_options()
  shadow.reset()
  let #(result, logged) =
    shadow_mismatches(fn() {
      parse.parse_chunk(
        on: on,
        format: event.JsonLines,
        chunk: <<line:utf8>>,
        options: options,
      )
    })
  expect.equal(result, nif.parse_chunk(event.JsonLines, options, <<line:utf8>>))
  expect.equal(shadow.stats(), [shadow.ShadowStats("parse_chunk", 1, 1)])
  expect.equal(logged, [
    #("parse_chunk", sha256_of(#(event.JsonLines, options, <<line:utf8>>))),
  ])
}

pub fn an_aggregator_in_shadow_mode_keeps_the_primary_when_the_secondary_fails_test() {
  shadow.reset()
  // The secondary cannot even be created: the primary alone serves.
  let assert Ok(agg) =
    aggregate.new(
      on: backend.Shadow(backend.Nif, dead_port()),
      config: usage.default_config(),
    )
  expect.equal(shadow.stats(), [shadow.ShadowStats("aggregator_new", 1, 1)])
  let assert Ok(counted) =
    aggregate.add_events(agg, [
      event.UsageEvent(
        id: "e1",
        source: "s",
        customer: "acme",
        resource: "cdn",
        meter: "requests",
        value: 4,
        time_ms: 1_790_812_800_000,
      ),
    ])
  expect.equal(counted, usage.Counters(applied: 1, duplicates: 0, late: 0))
}

pub fn agreeing_backends_count_calls_and_no_differences_test() {
  let assert Ok(p) = port.start(timeout_ms: 5000)
  shadow.reset()
  let on = backend.Shadow(backend.Port(p), backend.Nif)
  let assert Ok(agg) = aggregate.new(on: on, config: usage.default_config())
  let assert Ok(parser) =
    parse.new(
      on: on,
      format: event.JsonLines,
      options: event.default_parser_options(),
    )
  let assert Ok(fed) = aggregate.feed(agg, parser, <<line:utf8>>)
  expect.equal(fed.counters.applied, 1)
  let assert Ok(_) = aggregate.finish(agg, parser)
  let assert Ok(_) = aggregate.export(agg)
  expect.equal(shadow.stats(), [
    shadow.ShadowStats("aggregator_feed", 1, 0),
    shadow.ShadowStats("aggregator_finish", 1, 0),
    shadow.ShadowStats("aggregator_new", 1, 0),
    shadow.ShadowStats("export", 1, 0),
    shadow.ShadowStats("parser_new", 1, 0),
  ])
  expect.equal(aggregate.close(agg), Ok(Nil))
  port.stop(p)
}

@external(erlang, "tally_test_ffi", "shadow_mismatches")
fn shadow_mismatches(run: fn() -> a) -> #(a, List(#(String, String)))

@external(erlang, "tally_test_ffi", "sha256_of")
fn sha256_of(term: a) -> String
