//// The running system (the OTP application `tally`), from Gleam: close a
//// billing period on demand, read all sources now, wait for publishing.
//// The application must be started (it is, in the release).

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
  ffi_close_period(period)
}

/// Makes every collector read what its source holds now.
pub fn sync() -> Nil {
  ffi_sync()
}

/// Waits for the outbox to be empty (all published): as long as publishing
/// makes progress, failing after `timeout_ms` without any.
pub fn drain(timeout_ms timeout_ms: Int) -> Result(Nil, PipelineError) {
  ffi_drain(timeout_ms)
}

@external(erlang, "tally_pipeline", "close_period_for_gleam")
fn ffi_close_period(period: String) -> Result(CloseSummary, PipelineError)

@external(erlang, "tally_pipeline", "sync_for_gleam")
fn ffi_sync() -> Nil

@external(erlang, "tally_pipeline", "drain_for_gleam")
fn ffi_drain(timeout_ms: Int) -> Result(Nil, PipelineError)
