//// The example's checks, run by `gleam test` (and by tally's `make test`
//// when a gleam binary is on PATH): tally, a path dependency, builds, its
//// NIF loads from tally's priv/, and a month bills to the amounts the plan
//// says, the same on the Rust engine and on the pure Gleam one. A failed
//// check panics, and `gleam test` exits non-zero.

import gleam_app
import tally/backend
import tally/billing
import tally/nif

pub fn main() -> Nil {
  the_nif_is_loaded()
  a_month_bills_to_the_plan()
  the_sample_bills_the_same_on_both_engines()
  a_missing_file_is_an_error()
  println("gleam_app: 4 checks passed")
}

fn the_nif_is_loaded() -> Nil {
  let assert Ok(info) = nif.engine_info()
  let assert "tally_core/nif" = info.name
  Nil
}

// One GB included, 5 minor units per GB beyond: acme sends 3 GiB out in
// October (one event sent twice, counted once; one in September, another
// period), so the line is 2 GB over and costs 10. globex has no plan.
const plans = "{\"plans\": {\"basic\": {\"currency\": \"EUR\", \"lines\": [
  {\"meter\": \"bandwidth_out_bytes\", \"measure\": \"total\", \"unit\": \"GB\", \"included\": \"1\",
   \"pricing\": {\"model\": \"flat\", \"unit_price\": \"5\"}}]}},
 \"customers\": {\"acme\": \"basic\"}}"

fn a_month_bills_to_the_plan() -> Nil {
  let events = <<
    event("e1", "acme", "2026-10-01T00:00:00Z", 1_073_741_824):utf8,
    event("e2", "acme", "2026-10-15T12:30:00Z", 1_073_741_824):utf8,
    event("e2", "acme", "2026-10-15T12:30:00Z", 1_073_741_824):utf8,
    event("e3", "acme", "2026-10-31T23:59:59Z", 1_073_741_824):utf8,
    event("e4", "acme", "2026-09-30T23:59:59Z", 1_073_741_824):utf8,
    event("e5", "globex", "2026-10-02T00:00:00Z", 5):utf8,
  >>
  let assert Ok(invoice) =
    gleam_app.bill(
      on: backend.Nif,
      events: events,
      plans: plans,
      period: "2026-10",
    )
  let assert [line] = invoice.lines
  let assert "acme/*/bandwidth_out_bytes/total/2026-10" = line.key
  let assert billing.Fraction(3, 1) = line.used
  let assert billing.Fraction(1, 1) = line.included
  let assert billing.Fraction(2, 1) = line.overage
  let assert 10 = line.amount_minor
  let assert ["globex"] = invoice.unbilled_customers
  let assert Ok(same) =
    gleam_app.bill(
      on: backend.Gleam,
      events: events,
      plans: plans,
      period: "2026-10",
    )
  let assert True = same == invoice
  Nil
}

fn the_sample_bills_the_same_on_both_engines() -> Nil {
  let assert Ok(on_nif) =
    gleam_app.bill_files(
      events_path: "../../sample/events.jsonl",
      plans_path: "../../sample/plans.json",
      period: "2026-10",
    )
  let assert [_, _, ..] = on_nif.lines
  let assert Ok(events) = read_file("../../sample/events.jsonl")
  let assert Ok(plans) = read_file("../../sample/plans.json")
  let assert Ok(on_gleam) =
    gleam_app.bill(
      on: backend.Gleam,
      events: events,
      plans: bits_to_string(plans),
      period: "2026-10",
    )
  let assert True = on_gleam == on_nif
  Nil
}

fn a_missing_file_is_an_error() -> Nil {
  let assert Error(gleam_app.ReadFailed(reason)) =
    gleam_app.bill_files(
      events_path: "no/such/events.jsonl",
      plans_path: "../../sample/plans.json",
      period: "2026-10",
    )
  let assert "no/such/events.jsonl: enoent" = reason
  Nil
}

fn event(id: String, customer: String, time: String, bytes: Int) -> String {
  "{\"id\":\""
  <> id
  <> "\",\"source\":\"/edge/fra1\",\"type\":\"com.tally.usage\",\"subject\":\""
  <> customer
  <> "\",\"time\":\""
  <> time
  <> "\",\"data\":{\"resource\":\"cdn\",\"meter\":\"bandwidth_out_bytes\",\"value\":"
  <> int_to_string(bytes)
  <> "}}\n"
}

@external(erlang, "gleam_app_ffi", "read_file")
fn read_file(path: String) -> Result(BitArray, String)

@external(erlang, "gleam_app_ffi", "println")
fn println(text: String) -> Nil

@external(erlang, "erlang", "integer_to_binary")
fn int_to_string(n: Int) -> String

@external(erlang, "erlang", "iolist_to_binary")
fn bits_to_string(bytes: BitArray) -> String
