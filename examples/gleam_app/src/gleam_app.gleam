//// A Gleam application that uses tally as a library, depending on it by
//// path (`tally = { path = "../.." }` in gleam.toml): it parses a month of
//// usage events and bills it on tally's Rust engine, loaded as a NIF from
//// tally's `priv/`.
////
//// `gleam run` bills October 2026 of tally's bundled sample and prints
//// each invoice line.

import tally/aggregate
import tally/backend
import tally/billing
import tally/engine
import tally/event
import tally/parse
import tally/usage

/// Why billing failed: a file that could not be read, or the engine's
/// own error (bad plans, an overflow; see `tally/engine`).
pub type BillError {
  ReadFailed(reason: String)
  EngineFailed(engine.EngineError)
}

/// Bills `period` (`"2026-10"`) of `events` (JSON Lines usage events) with
/// `plans` (tally's plans JSON) on the engine `on`: `backend.Nif` for the
/// Rust engine, `backend.Gleam` for tally's pure Gleam twin.
///
/// ```gleam
/// let assert Ok(invoice) = gleam_app.bill(on: backend.Nif, events: events,
///   plans: plans, period: "2026-10")
/// invoice.lines
/// ```
pub fn bill(
  on engine_backend: backend.Backend,
  events events: BitArray,
  plans plans: String,
  period period: String,
) -> Result(billing.Invoice, engine.EngineError) {
  use aggregator <- then(aggregate.new(
    on: engine_backend,
    config: usage.default_config(),
  ))
  use parser <- then(parse.new(
    on: engine_backend,
    format: event.JsonLines,
    options: event.default_parser_options(),
  ))
  // Chunks may cut a line anywhere; one chunk here, a file's blocks in a
  // real collector.
  use _ <- then(aggregate.feed(aggregator, parser, events))
  use _ <- then(aggregate.finish(aggregator, parser))
  aggregate.close_period(aggregator, period: period, plans: plans, version: 1)
}

/// Bills `period` of the events in the file `events_path` with the plans in
/// `plans_path`, on the Rust engine.
pub fn bill_files(
  events_path events_path: String,
  plans_path plans_path: String,
  period period: String,
) -> Result(billing.Invoice, BillError) {
  use events <- then(read_file(events_path))
  use plans <- then(read_file(plans_path))
  case bit_array_to_string(plans) {
    Ok(text) ->
      case bill(on: backend.Nif, events: events, plans: text, period: period) {
        Ok(invoice) -> Ok(invoice)
        Error(e) -> Error(EngineFailed(e))
      }
    Error(Nil) -> Error(ReadFailed(plans_path <> ": not UTF-8"))
  }
}

pub fn main() -> Nil {
  case
    bill_files(
      events_path: "../../sample/events.jsonl",
      plans_path: "../../sample/plans.json",
      period: "2026-10",
    )
  {
    Ok(invoice) -> {
      each(invoice.lines, fn(line: billing.InvoiceLine) {
        println(
          line.key
          <> " "
          <> int_to_string(line.amount_minor)
          <> " minor units of "
          <> line.currency,
        )
      })
      println(int_to_string(length(invoice.lines, 0)) <> " invoice lines")
    }
    Error(ReadFailed(reason)) -> println("cannot read " <> reason)
    Error(EngineFailed(_)) -> println("the engine refused the input")
  }
}

// The few helpers gleam_stdlib would give (no Hex packages here).

fn then(result: Result(a, e), next: fn(a) -> Result(b, e)) -> Result(b, e) {
  case result {
    Ok(value) -> next(value)
    Error(e) -> Error(e)
  }
}

fn each(items: List(a), f: fn(a) -> Nil) -> Nil {
  case items {
    [] -> Nil
    [first, ..rest] -> {
      f(first)
      each(rest, f)
    }
  }
}

fn length(items: List(a), count: Int) -> Int {
  case items {
    [] -> count
    [_, ..rest] -> length(rest, count + 1)
  }
}

fn read_file(path: String) -> Result(BitArray, BillError) {
  case ffi_read_file(path) {
    Ok(bytes) -> Ok(bytes)
    Error(reason) -> Error(ReadFailed(reason))
  }
}

@external(erlang, "gleam_app_ffi", "read_file")
fn ffi_read_file(path: String) -> Result(BitArray, String)

@external(erlang, "gleam_app_ffi", "println")
fn println(text: String) -> Nil

@external(erlang, "erlang", "integer_to_binary")
fn int_to_string(n: Int) -> String

@external(erlang, "gleam_app_ffi", "bit_array_to_string")
fn bit_array_to_string(bytes: BitArray) -> Result(String, Nil)
