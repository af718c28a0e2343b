//// The running system (the OTP application `tally`), from Gleam: close a
//// billing period on demand, read all sources now, wait for publishing.
//// The application must be started (it is, in the release). The work is
//// done by `tally/app/operations`; this module keeps the caller's types
//// plain.

import tally/app/closer
import tally/app/operations
import tally/billing
import tally/pure/map

/// What closing a period produced: its invoice lines are in the outbox,
/// on their way to the sink.
pub type CloseSummary {
  CloseSummary(
    period: String,
    lines: Int,
    customers: List(CustomerTotal),
    unbilled_customers: List(String),
  )
}

/// One customer's invoice for the period, in minor units of `currency`.
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
        customers: totals(map.sorted_pairs(summary.customers)),
        unbilled_customers: summary.unbilled,
      ))
    Error(error) -> Error(PipelineFailed(closer.describe(error)))
  }
}

fn totals(
  pairs: List(#(String, billing.CustomerTotal)),
) -> List(CustomerTotal) {
  case pairs {
    [] -> []
    [#(customer, t), ..rest] -> [
      CustomerTotal(customer, t.currency, t.amount_minor, t.lines),
      ..totals(rest)
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
