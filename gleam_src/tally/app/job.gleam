//// The main job (`make run`, TALLY_CLOSE_PERIOD): with the application
//// running on its configured sources, read them all, close the period,
//// wait until every invoice line is published to the sink, and print a
//// summary per source, per customer (up to `listed_customers`; the totals
//// file holds them all) and per currency.
////
//// ```text
//// tally: billed 2026-10
////   source edge           12 records,     11 events, 1 rejected (see rejects.jsonl)
////   17 invoice lines, 17 published to the sink
////   acme                                                                 3 lines       105.00 EUR
////   total                                                                3 lines       105.00 EUR
//// ```

import tally/app/close_plan
import tally/app/customer_totals
import tally/app/operations
import tally/billing
import tally/option
import tally/otp/dynamic
import tally/otp/process
import tally/pure/bytes

/// What the job did.
pub type Report {
  Report(
    period: String,
    sources: List(SourceCounts),
    lines: Int,
    published: Int,
    /// Customers billed, and where each one's total is.
    billed: Int,
    totals_path: String,
    /// Each customer's total, sorted by customer, when `billed` is at most
    /// `listed_customers` (else none: the totals file has them).
    customers: List(CustomerTotal),
    /// Per currency: the sum of the customers' totals (`customer` is
    /// `"total"`).
    currencies: List(CustomerTotal),
    unbilled: List(String),
  )
}

/// Customers listed one by one in the report; past this, the report
/// names the totals file instead.
pub const listed_customers = 100

/// One source's counts: records read, events parsed, lines rejected, and
/// whether nothing was at its path.
pub type SourceCounts {
  SourceCounts(
    name: String,
    records: Int,
    events: Int,
    rejected: Int,
    missing: Bool,
  )
}

/// One customer's bill: invoice lines and their total in minor units.
pub type CustomerTotal {
  CustomerTotal(
    customer: String,
    lines: Int,
    amount_minor: Int,
    currency: String,
  )
}

/// How long publishing may make no progress before the job gives up (the
/// bus down, a sink refusing): TALLY_STALL_MS, 5 minutes by default. A job
/// that gave up exits 1; run again, it publishes what is left.
pub fn stall_ms() -> Int {
  case os_env_int("TALLY_STALL_MS") {
    Ok(ms) if ms > 0 -> ms
    _ -> 300_000
  }
}

/// Reads every source to what it holds now, closes `period`, waits for the
/// sink; the reason of the first step that failed.
pub fn run(period: String) -> Result(Report, dynamic.Dynamic) {
  case operations.sync() {
    Error(error) -> Error(dynamic.from(error))
    Ok(Nil) ->
      case operations.close_period(period) {
        Error(error) -> Error(dynamic.from(error))
        Ok(summary) ->
          case operations.drain(stall_ms: stall_ms()) {
            Error(error) -> Error(dynamic.from(error))
            Ok(Nil) ->
              case listed(summary) {
                Error(why) -> Error(dynamic.from(why))
                Ok(customers) ->
                  Ok(report_of(summary, customers, operations.status()))
              }
          }
      }
  }
}

// The customers' totals from the totals file, when they are few enough to
// list.
fn listed(
  summary: close_plan.CloseSummary,
) -> Result(List(billing.CustomerTotal), String) {
  case summary.customers > listed_customers {
    True -> Ok([])
    False -> customer_totals.read(summary.totals_path)
  }
}

fn report_of(
  summary: close_plan.CloseSummary,
  customers: List(billing.CustomerTotal),
  status: operations.Status,
) -> Report {
  Report(
    period: summary.period,
    sources: sort_by_name(status.collectors)
      |> map_list(fn(pair) {
        let #(name, s) = pair
        SourceCounts(name, s.records, s.events, s.rejected, s.missing)
      }),
    lines: summary.lines,
    published: status.publisher.published,
    billed: summary.customers,
    totals_path: summary.totals_path,
    customers: bytes.sort(
      map_list(customers, fn(t) {
        CustomerTotal(t.customer, t.lines, t.amount_minor, t.currency)
      }),
    ),
    currencies: map_list(summary.currencies, fn(c) {
      CustomerTotal("total", c.lines, c.amount_minor, c.currency)
    }),
    unbilled: summary.unbilled,
  )
}

fn map_list(items: List(a), f: fn(a) -> b) -> List(b) {
  case items {
    [] -> []
    [x, ..rest] -> [f(x), ..map_list(rest, f)]
  }
}

/// Runs the job and prints what it did: 0. Any failure, a crash
/// included, is printed with its reason: 1.
pub fn run_and_report(period: String) -> Int {
  case catching(fn() { run(period) }) {
    Ok(Ok(report)) -> {
      print(format_report(report))
      0
    }
    Ok(Error(reason)) -> {
      print_failure(reason)
      1
    }
    Error(crash) -> {
      print_failure(crash)
      1
    }
  }
}

/// Runs `job` (which returns an exit status) in a process of its own and
/// waits for it: whatever ends it (done, a crash, an exit signal) gives a
/// status, 1 with the reason printed when it did not return one.
pub fn watched(job: fn() -> Int) -> Int {
  let status = process.new_subject()
  let pid = process.spawn_unlinked(fn() { process.send(status, job()) })
  let watch = process.monitor(pid)
  let outcome =
    process.new_selector()
    |> process.select_map(status, fn(s) { Ok(s) })
    |> process.select_specific_monitor(watch, fn(down) { Error(down) })
    |> process.selector_receive_forever
  case outcome {
    Ok(s) -> {
      process.demonitor_process(watch)
      s
    }
    Error(process.ProcessDown(_, _, reason)) -> {
      print_failure(raw_reason(reason))
      1
    }
    Error(process.PortDown(_, _, reason)) -> {
      print_failure(raw_reason(reason))
      1
    }
  }
}

/// The summary as printed (pure).
pub fn format_report(report: Report) -> String {
  let sources =
    each(report.sources, fn(s) {
      "  source "
      <> pad_right(s.name, 10)
      <> " "
      <> pad_left(bytes.int_to_text(s.records), 6)
      <> " records, "
      <> pad_left(bytes.int_to_text(s.events), 6)
      <> " events, "
      <> bytes.int_to_text(s.rejected)
      <> " rejected"
      <> case s.rejected {
        0 -> ""
        _ -> " (see rejects.jsonl)"
      }
      <> case s.missing {
        True -> ", NOTHING AT ITS PATH (check the source's path)"
        False -> ""
      }
      <> "\n"
    })
  // Each customer when the report holds them all, else where they are.
  let customers = case report.billed > bytes.length(report.customers) {
    False -> each(report.customers, customer_line)
    True ->
      "  "
      <> bytes.int_to_text(report.billed)
      <> " customers billed, each one's total in "
      <> report.totals_path
      <> "\n"
  }
  let currencies = each(report.currencies, customer_line)
  let unbilled =
    each(report.unbilled, fn(customer) {
      "  " <> customer <> ": usage but no plan, not billed\n"
    })
  "tally: billed "
  <> report.period
  <> "\n"
  <> sources
  <> "  "
  <> bytes.int_to_text(report.lines)
  <> " invoice lines, "
  <> bytes.int_to_text(report.published)
  <> " published to the sink\n"
  <> customers
  <> currencies
  <> unbilled
}

fn customer_line(c: CustomerTotal) -> String {
  "  "
  <> pad_right(c.customer, 66)
  <> " "
  <> pad_left(bytes.int_to_text(c.lines), 3)
  <> " lines "
  <> pad_left(money(c.amount_minor), 12)
  <> " "
  <> c.currency
  <> "\n"
}

/// Minor units as a decimal amount with two places.
///
/// ```gleam
/// job.money(-1205)
/// // -> "-12.05"
/// ```
pub fn money(minor: Int) -> String {
  let sign = case minor < 0 {
    True -> "-"
    False -> ""
  }
  let a = case minor < 0 {
    True -> 0 - minor
    False -> minor
  }
  let cents = a % 100
  sign
  <> bytes.int_to_text(a / 100)
  <> "."
  <> case cents < 10 {
    True -> "0"
    False -> ""
  }
  <> bytes.int_to_text(cents)
}

fn each(items: List(a), line: fn(a) -> String) -> String {
  case items {
    [] -> ""
    [item, ..rest] -> line(item) <> each(rest, line)
  }
}

fn raw_reason(reason: process.ExitReason) -> dynamic.Dynamic {
  case reason {
    process.Normal -> dynamic.from(normal())
    process.Killed -> dynamic.from(killed())
    process.Abnormal(r) -> r
  }
}

fn os_env_int(name: String) -> Result(Int, Nil) {
  case os_env(name) {
    option.Some(text) -> parse_int(text)
    option.None -> Error(Nil)
  }
}

@external(erlang, "tally_config_ffi", "os_env")
fn os_env(name: String) -> option.Option(String)

@external(erlang, "tally_config_ffi", "parse_int")
fn parse_int(text: String) -> Result(Int, Nil)

@external(erlang, "tally_app_ffi", "pad_right")
fn pad_right(text: String, width: Int) -> String

@external(erlang, "tally_app_ffi", "pad_left")
fn pad_left(text: String, width: Int) -> String

@external(erlang, "tally_app_ffi", "print")
fn print(text: String) -> Nil

@external(erlang, "tally_app_ffi", "print_failure")
fn print_failure(reason: dynamic.Dynamic) -> Nil

@external(erlang, "tally_app_ffi", "catching")
fn catching(run: fn() -> a) -> Result(a, dynamic.Dynamic)

@external(erlang, "tally_app_ffi", "normal")
fn normal() -> dynamic.Dynamic

@external(erlang, "tally_app_ffi", "killed")
fn killed() -> dynamic.Dynamic

@external(erlang, "lists", "sort")
fn sort_by_name(pairs: List(#(String, a))) -> List(#(String, a))
