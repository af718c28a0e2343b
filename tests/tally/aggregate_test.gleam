//// tally/aggregate on every backend: every function, exact values.

import tally/aggregate
import tally/backend
import tally/backends
import tally/billing
import tally/engine
import tally/event
import tally/expect
import tally/option
import tally/parse
import tally/usage

const oct1 = 1_790_812_800_000

const hour = 3_600_000

const plans = "{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", \"measure\": \"total\", \"included\": \"10\", \"pricing\": {\"model\": \"flat\", \"unit_price\": \"0.5\"}}]}}, \"customers\": {\"acme\": \"std\"}}"

fn requests(id: String, value: Int, time_ms: Int) -> event.UsageEvent {
  event.UsageEvent(
    id: id,
    source: "edge",
    customer: "acme",
    resource: "cdn",
    meter: "requests",
    value: value,
    time_ms: time_ms,
  )
}

fn new(on: backend.Backend) -> aggregate.Aggregator {
  let assert Ok(agg) = aggregate.new(on: on, config: usage.default_config())
  agg
}

pub fn add_events_counts_and_dedups_test() {
  use on <- backends.each_engine()
  let agg = new(on)
  expect.equal(
    aggregate.add_events(agg, [
      requests("a", 5, oct1 + 10),
      requests("b", 20, oct1 + 20),
      requests("a", 5, oct1 + 10),
      requests("c", 7, oct1 + hour),
    ]),
    Ok(usage.Counters(applied: 3, duplicates: 1, late: 0)),
  )
  expect.equal(
    aggregate.windows(agg),
    Ok([
      usage.WindowAggregate(
        customer: "acme",
        resource: "cdn",
        meter: "requests",
        window_start_ms: oct1,
        sum: 25,
        count: 2,
        min: 5,
        max: 20,
        latest: 20,
        latest_time_ms: oct1 + 20,
        unique_count: option.None,
      ),
      usage.WindowAggregate(
        customer: "acme",
        resource: "cdn",
        meter: "requests",
        window_start_ms: oct1 + hour,
        sum: 7,
        count: 1,
        min: 7,
        max: 7,
        latest: 7,
        latest_time_ms: oct1 + hour,
        unique_count: option.None,
      ),
    ]),
  )
  expect.equal(
    aggregate.counters(agg),
    Ok(usage.Counters(applied: 3, duplicates: 1, late: 0)),
  )
}

pub fn close_period_bills_and_keeps_late_events_test() {
  use on <- backends.each_engine()
  let agg = new(on)
  let assert Ok(_) =
    aggregate.add_events(agg, [
      requests("a", 25, oct1 + 10),
      requests("b", 8, oct1 + hour),
    ])
  expect.equal(
    aggregate.close_period(agg, period: "2026-10", plans: plans, version: 2),
    Ok(
      billing.Invoice(
        lines: [
          billing.InvoiceLine(
            key: "acme/*/requests/total/2026-10",
            customer: "acme",
            resource: "*",
            meter: "requests",
            measure: billing.Total,
            period: "2026-10",
            version: 2,
            plan: "std",
            currency: "EUR",
            unit: billing.PlainUnit,
            used: billing.Fraction(33, 1),
            included: billing.Fraction(10, 1),
            overage: billing.Fraction(23, 1),
            unit_price: billing.Fraction(1, 2),
            amount_minor: 12,
          ),
        ],
        unbilled_customers: [],
      ),
    ),
  )
  let late = requests("late", 1, oct1 + 5 * hour)
  expect.equal(
    aggregate.add_events(agg, [late]),
    Ok(usage.Counters(applied: 2, duplicates: 0, late: 1)),
  )
  expect.equal(aggregate.take_late(agg), Ok([late]))
  expect.equal(aggregate.take_late(agg), Ok([]))
}

pub fn billing_errors_are_typed_test() {
  use on <- backends.each_engine()
  let agg = new(on)
  expect.equal(
    aggregate.close_period(agg, period: "2026-13", plans: plans, version: 1),
    Error(engine.BadArgument(expected: "a period YYYY-MM")),
  )
  expect.equal(
    aggregate.close_period(
      agg,
      period: "2026-10",
      plans: "{\"plans\": {}, \"customers\": {\"acme\": \"gold\"}}",
      version: 1,
    ),
    Error(
      engine.BillingFailed(engine.UnknownPlan(customer: "acme", plan: "gold")),
    ),
  )
}

pub fn feed_parses_straight_into_the_aggregator_test() {
  use on <- backends.each_engine()
  let agg = new(on)
  let assert Ok(p) =
    parse.new(
      on: on,
      format: event.JsonLines,
      options: event.default_parser_options(),
    )
  let line =
    "{\"id\":\"e1\",\"source\":\"s\",\"subject\":\"acme\",\"time\":\"2026-10-01T00:00:00Z\",\"data\":{\"resource\":\"cdn\",\"meter\":\"requests\",\"value\":4}}\n"
  let assert Ok(first) = aggregate.feed(agg, p, <<line:utf8, "{\"id\":":utf8>>)
  expect.equal(
    first.counters,
    usage.Counters(applied: 1, duplicates: 0, late: 0),
  )
  expect.equal(first.stats.records, 1)
  let assert Ok(last) = aggregate.finish(agg, p)
  expect.equal(last.stats.rejected, 1)
  let assert [reject] = last.rejects
  expect.equal(reject.line, 2)
  expect.equal(reject.reason, event.InvalidJson(column: 7, expected: "a value"))
}

pub fn export_restore_and_merge_test() {
  use on <- backends.each_engine()
  let a = new(on)
  let b = new(on)
  let assert Ok(_) = aggregate.add_events(a, [requests("a", 1, oct1)])
  let assert Ok(_) = aggregate.add_events(b, [requests("b", 2, oct1)])
  let assert Ok(bytes) = aggregate.export(a)
  let assert Ok(copy) = aggregate.restore(on: on, bytes: bytes)
  expect.equal(aggregate.export(copy), Ok(bytes))
  expect.equal(aggregate.merge(into: copy, from: b), Ok(Nil))
  let assert Ok([merged]) = aggregate.windows(copy)
  expect.equal(#(merged.sum, merged.count), #(3, 2))
  // b's event is in copy now: merging again would count it twice.
  expect.equal(
    aggregate.merge(into: copy, from: b),
    Error(engine.AggregateFailed(engine.Overlap(period: "2026-10", count: 1))),
  )
  expect.equal(
    aggregate.restore(on: on, bytes: <<"not an export":utf8>>),
    Error(engine.AggregateFailed(engine.BadExport(reason: "wrong magic bytes"))),
  )
}

// The release's main path: shard_of, ingest, apply_batch, save and load --

const two_customers = "{\"id\":\"a\",\"source\":\"s\",\"subject\":\"acme\",\"time\":\"2026-10-01T00:00:01Z\",\"data\":{\"resource\":\"cdn\",\"meter\":\"requests\",\"value\":5}}\nnot json\n{\"id\":\"b\",\"source\":\"s\",\"subject\":\"gamma\",\"time\":\"2026-10-01T00:00:02Z\",\"data\":{\"resource\":\"cdn\",\"meter\":\"requests\",\"value\":7}}\n"

pub fn shard_of_is_the_one_rule_test() {
  use on <- backends.each_engine()
  expect.equal(aggregate.shard_of(on: on, customer: "acme", shards: 4), Ok(1))
  expect.equal(aggregate.shard_of(on: on, customer: "gamma", shards: 2), Ok(0))
  expect.equal(
    aggregate.shard_of(on: on, customer: "acme", shards: 0),
    Error(engine.BadArgument("a shard count from 1 to 2^32-1")),
  )
}

pub fn ingest_then_apply_each_shard_test() {
  use on <- backends.each_engine()
  let assert Ok(event.Ingested(batches, rejects, stats)) =
    aggregate.ingest(
      on: on,
      format: event.JsonLines,
      options: event.default_parser_options(),
      shards: 2,
      chunk: <<two_customers:utf8>>,
    )
  let assert [event.Reject(event.JsonLines, 2, _, _, _)] = rejects
  expect.equal(stats.events, 2)
  let assert [gamma, acme] = batches
  let assert Ok([e]) = aggregate.batch_events(acme)
  expect.equal(e.customer, "acme")
  let agg = new(on)
  expect.equal(
    aggregate.apply_batch(agg, acme),
    Ok(usage.Counters(applied: 1, duplicates: 0, late: 0)),
  )
  expect.equal(
    aggregate.apply_batch(agg, gamma),
    Ok(usage.Counters(applied: 2, duplicates: 0, late: 0)),
  )
  let assert Ok(exported) = aggregate.export(agg)
  let path = temporary_path("aggregate_test.snap")
  let assert Ok(written) =
    aggregate.save(agg, path: path, extra: <<"positions":utf8>>)
  expect.equal(written > 0, True)
  let assert Ok(usage.Loaded(copy, extra)) = aggregate.load(on: on, path: path)
  expect.equal(extra, <<"positions":utf8>>)
  expect.equal(aggregate.export(copy), Ok(exported))
  let assert Error(engine.SnapshotFailed(_, "enoent")) =
    aggregate.load(on: on, path: path <> ".missing")
  let _ = delete_file(path)
  Nil
}

// A path no other test (or VM) uses: /tmp is always there.
fn temporary_path(name: String) -> String {
  "/tmp/tally-"
  <> int_text(system_time())
  <> "-"
  <> int_text(unique_integer())
  <> "-"
  <> name
}

type Ignored

@external(erlang, "erlang", "system_time")
fn system_time() -> Int

@external(erlang, "erlang", "unique_integer")
fn unique_integer() -> Int

@external(erlang, "erlang", "integer_to_binary")
fn int_text(n: Int) -> String

@external(erlang, "file", "delete")
fn delete_file(path: String) -> Ignored

pub fn reset_forgets_everything_but_the_configuration_test() {
  use on <- backends.each_engine()
  let agg = new(on)
  let event = requests("e1", 20, oct1 + hour)
  let assert Ok(_) = aggregate.add_events(agg, [event])
  let assert Ok(fresh) = aggregate.export(new(on))
  expect.equal(aggregate.reset(agg), Ok(Nil))
  expect.equal(aggregate.counters(agg), Ok(usage.Counters(0, 0, 0)))
  expect.equal(aggregate.windows(agg), Ok([]))
  expect.equal(aggregate.export(agg), Ok(fresh))
  // The event's id is forgotten too: it counts again, not as a duplicate.
  expect.equal(aggregate.add_events(agg, [event]), Ok(usage.Counters(1, 0, 0)))
}

const round_plans = "{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", \"measure\": \"total\", \"pricing\": {\"model\": \"flat\", \"unit_price\": \"1\"}}]}}, \"customers\": {\"acme\": \"std\", \"beta\": \"std\", \"delta\": \"std\"}}"

fn round_events(on: backend.Backend) -> aggregate.Aggregator {
  let agg = new(on)
  let assert Ok(_) =
    aggregate.add_events(agg, [
      event.UsageEvent(..requests("a", 5, oct1 + 10), customer: "acme"),
      event.UsageEvent(..requests("b", 6, oct1 + 20), customer: "beta"),
      event.UsageEvent(..requests("c", 7, oct1 + 30), customer: "carl"),
      event.UsageEvent(..requests("d", 8, oct1 + 40), customer: "delta"),
    ])
  agg
}

fn round(
  agg: aggregate.Aggregator,
  from: option.Option(String),
  max_lines: Int,
) -> Result(billing.WrittenRound, engine.EngineError) {
  aggregate.close_round(
    agg,
    period: "2026-10",
    plans: round_plans,
    version: 1,
    shard: 0,
    of: 1,
    from: from,
    max_lines: max_lines,
  )
}

/// Rounds of one line: each customer with lines in a round of its own
/// (carl, without a plan, in the round it falls in), and together the lines,
/// totals and unbilled customers of `close_written`.
pub fn close_in_rounds_gives_close_written_test() {
  use on <- backends.each_engine()
  let assert Ok(whole) =
    aggregate.close_written(
      round_events(on),
      period: "2026-10",
      plans: round_plans,
      version: 1,
      shard: 0,
      of: 1,
    )
  let agg = round_events(on)
  expect.equal(
    round(agg, option.None, 0),
    Error(engine.BadArgument("a line budget of 1 or more")),
  )
  let assert Ok(r1) = round(agg, option.None, 1)
  let assert Ok(r2) = round(agg, r1.next, 1)
  let assert Ok(r3) = round(agg, r2.next, 1)
  expect.equal(#(r1.next, r2.next, r3.next), #(
    option.Some("beta"),
    option.Some("delta"),
    option.None,
  ))
  expect.equal(#(r1.unbilled_customers, r2.unbilled_customers), #([], ["carl"]))
  let batches = [r1.batches, r2.batches, r3.batches]
  expect.equal(
    joined(batches, fn(b) { b.ids }),
    joined([whole.batches], fn(b) { b.ids }),
  )
  expect.equal(
    joined(batches, fn(b) { b.lines }),
    joined([whole.batches], fn(b) { b.lines }),
  )
  expect.equal(append_all([r1.totals, r2.totals, r3.totals]), whole.totals)
  expect.equal(whole.unbilled_customers, ["carl"])
  // The period is closed from the first round: a later event is late.
  expect.equal(
    aggregate.add_events(agg, [requests("late", 1, oct1 + 5 * hour)]),
    Ok(usage.Counters(applied: 4, duplicates: 0, late: 1)),
  )
  // One round when the budget holds every line.
  let assert Ok(all) = round(round_events(on), option.None, 10)
  expect.equal(#(all.next, all.totals), #(option.None, whole.totals))
}

/// A round that does not continue the last one (a first round again,
/// another first customer, another version) bills from where it says, not
/// from what the last round left.
pub fn a_round_that_does_not_continue_the_last_starts_where_it_says_test() {
  use on <- backends.each_engine()
  let agg = round_events(on)
  let assert Ok(r1) = round(agg, option.None, 1)
  expect.equal(r1.next, option.Some("beta"))
  // From delta, skipping beta.
  let assert Ok(d) = round(agg, option.Some("delta"), 1)
  expect.equal(#(d.next, customers_of(d)), #(option.None, ["delta"]))
  // The first round again gives the first round again.
  expect.equal(round(agg, option.None, 1), Ok(r1))
  // Another version from beta: its lines carry that version.
  let assert Ok(v2) =
    aggregate.close_round(
      agg,
      period: "2026-10",
      plans: round_plans,
      version: 2,
      shard: 0,
      of: 1,
      from: option.Some("beta"),
      max_lines: 1,
    )
  expect.equal(customers_of(v2), ["beta"])
  let assert [batch] = v2.batches
  expect.equal(contains(batch.lines, <<"\"version\":2":utf8>>), True)
  // And continuing the first version from beta still gives beta.
  let assert Ok(r2) = round(agg, option.Some("beta"), 1)
  expect.equal(#(customers_of(r2), r2.next), #(["beta"], option.Some("delta")))
}

/// Between the rounds of a close: the whole period closed again, events of
/// November and a late one of October, another version's round: the close
/// goes on from where it stopped with what it had, as with nothing between.
pub fn rounds_go_on_after_what_comes_between_them_test() {
  use on <- backends.each_engine()
  let agg = round_events(on)
  let assert Ok(r1) = round(agg, option.None, 1)
  let assert Ok(_) =
    aggregate.close_written(
      agg,
      period: "2026-10",
      plans: round_plans,
      version: 1,
      shard: 0,
      of: 1,
    )
  let nov1 = oct1 + 31 * 24 * hour
  let assert Ok(_) =
    aggregate.add_events(agg, [
      event.UsageEvent(..requests("nov", 9, nov1), customer: "beta"),
      event.UsageEvent(..requests("late", 9, oct1 + 50), customer: "delta"),
    ])
  let assert Ok(r2) = round(agg, r1.next, 1)
  let assert Ok(_) =
    aggregate.close_round(
      agg,
      period: "2026-10",
      plans: round_plans,
      version: 2,
      shard: 0,
      of: 1,
      from: option.None,
      max_lines: 1,
    )
  let assert Ok(r3) = round(agg, r2.next, 1)
  let fresh = round_events(on)
  let assert Ok(f1) = round(fresh, option.None, 1)
  let assert Ok(f2) = round(fresh, f1.next, 1)
  let assert Ok(f3) = round(fresh, f2.next, 1)
  expect.equal([r1, r2, r3], [f1, f2, f3])
  expect.equal(r3.next, option.None)
}

/// A customer whose amount overflows fails the round that bills it, not
/// the rounds before it: the Rust engines bill a round's customers only,
/// and a close's earlier rounds are published before the failing one.
pub fn a_billing_error_fails_the_round_of_its_customer_test() {
  use on <- backends.each_engine()
  let agg = new(on)
  let assert Ok(_) =
    aggregate.add_events(agg, [
      event.UsageEvent(..requests("a", 5, oct1 + 10), customer: "acme"),
      event.UsageEvent(
        ..requests("b", 9_000_000_000_000_000_000, oct1 + 20),
        customer: "beta",
      ),
    ])
  let dear =
    "{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", \"measure\": \"total\", \"pricing\": {\"model\": \"flat\", \"unit_price\": \"100000000000000000000\"}}]}}, \"default_plan\": \"std\"}"
  let in_rounds = fn(from) {
    aggregate.close_round(
      agg,
      period: "2026-10",
      plans: dear,
      version: 1,
      shard: 0,
      of: 1,
      from: from,
      max_lines: 1,
    )
  }
  let assert Ok(r1) = in_rounds(option.None)
  expect.equal(#(customers_of(r1), r1.next), #(["acme"], option.Some("beta")))
  let assert Error(engine.BillingFailed(engine.AmountOverflow(key))) =
    in_rounds(option.Some("beta"))
  expect.equal(key, "beta/*/requests/total/2026-10")
  // The failed round kept nothing: the first round again is the first round.
  expect.equal(in_rounds(option.None), Ok(r1))
}

fn customers_of(r: billing.WrittenRound) -> List(String) {
  map_totals(r.totals)
}

fn map_totals(totals: List(billing.CustomerTotal)) -> List(String) {
  case totals {
    [] -> []
    [t, ..rest] -> [t.customer, ..map_totals(rest)]
  }
}

@external(erlang, "tally_outbox_test_ffi", "contains")
fn contains(haystack: BitArray, needle: BitArray) -> Bool

fn joined(
  batches: List(List(billing.WrittenBatch)),
  part: fn(billing.WrittenBatch) -> BitArray,
) -> BitArray {
  concat_bits(map_batches(append_all(batches), part))
}

fn map_batches(
  batches: List(billing.WrittenBatch),
  part: fn(billing.WrittenBatch) -> BitArray,
) -> List(BitArray) {
  case batches {
    [] -> []
    [b, ..rest] -> [part(b), ..map_batches(rest, part)]
  }
}

@external(erlang, "lists", "append")
fn append_all(lists: List(List(a))) -> List(a)

@external(erlang, "erlang", "list_to_bitstring")
fn concat_bits(parts: List(BitArray)) -> BitArray
