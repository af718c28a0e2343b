//// The running system (the OTP application `tally`), from Gleam: close a
//// billing period on demand, read all sources now, wait for publishing.
//// The application must be started (it is, in the release). The work is
//// done by `tally/app/operations`; this module keeps the caller's types
//// plain.

import tally/app/close_plan
import tally/app/closer
import tally/app/customer_totals as totals_file
import tally/app/operations
import tally/billing

/// What closing a period produced: its invoice lines are in the outbox,
/// on their way to the sink; each customer's total is in the file at
/// `totals_path` (one JSON object a line: `tally/app/customer_totals`).
pub type CloseSummary {
  CloseSummary(
    period: String,
    lines: Int,
    /// Customers billed.
    customers: Int,
    /// The customers' totals summed per currency, sorted by currency.
    currencies: List(CurrencyTotal),
    totals_path: String,
    unbilled_customers: List(String),
  )
}

/// What a close billed in one currency, in its minor units.
pub type CurrencyTotal {
  CurrencyTotal(currency: String, amount_minor: Int, lines: Int, customers: Int)
}

/// One customer's invoice for the period, in minor units of `currency`
/// (`customer_totals` reads the totals file into these).
pub type CustomerTotal {
  CustomerTotal(
    customer: String,
    currency: String,
    amount_minor: Int,
    lines: Int,
  )
}

/// Why the pipeline refused; the text names what failed (plans file,
/// engine error, outbox).
pub type PipelineError {
  PipelineFailed(reason: String)
}

/// Closes and bills the period on every shard and queues the lines.
///
/// ```gleam
/// let assert Ok(summary) = pipeline.close_period("2026-10")
/// summary.lines
/// // -> 17
/// ```
pub fn close_period(period: String) -> Result(CloseSummary, PipelineError) {
  case operations.close_period(period) {
    Ok(summary) ->
      Ok(CloseSummary(
        period: summary.period,
        lines: summary.lines,
        customers: summary.customers,
        currencies: currencies(summary.currencies),
        totals_path: summary.totals_path,
        unbilled_customers: summary.unbilled,
      ))
    Error(error) -> Error(PipelineFailed(closer.describe(error)))
  }
}

/// Each customer's total of a close, from its totals file.
///
/// ```gleam
/// let assert Ok(summary) = pipeline.close_period("2026-10")
/// let assert Ok(totals) = pipeline.customer_totals(summary)
/// ```
pub fn customer_totals(
  summary: CloseSummary,
) -> Result(List(CustomerTotal), PipelineError) {
  case totals_file.read(summary.totals_path) {
    Ok(totals) -> Ok(plain_totals(totals))
    Error(why) -> Error(PipelineFailed(why))
  }
}

fn plain_totals(totals: List(billing.CustomerTotal)) -> List(CustomerTotal) {
  case totals {
    [] -> []
    [t, ..rest] -> [
      CustomerTotal(t.customer, t.currency, t.amount_minor, t.lines),
      ..plain_totals(rest)
    ]
  }
}

fn currencies(list: List(close_plan.CurrencyTotal)) -> List(CurrencyTotal) {
  case list {
    [] -> []
    [c, ..rest] -> [
      CurrencyTotal(c.currency, c.amount_minor, c.lines, c.customers),
      ..currencies(rest)
    ]
  }
}

/// Makes every collector read what its source holds now. Crashes the
/// caller when the collectors stay down (see `operations.sync`).
pub fn sync() -> Nil {
  let assert Ok(Nil) = operations.sync()
  Nil
}

/// Waits for the outbox to be empty (all published): as long as publishing
/// makes progress, failing after `timeout_ms` without any.
pub fn drain(timeout_ms timeout_ms: Int) -> Result(Nil, PipelineError) {
  case operations.drain(stall_ms: timeout_ms) {
    Ok(Nil) -> Ok(Nil)
    Error(error) -> Error(PipelineFailed(operations.describe(error)))
  }
}
