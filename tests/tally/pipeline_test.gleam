//// tally/pipeline against the running system, started by the test on the
//// bundled sample with the file sink in a temporary directory.

import tally/expect
import tally/pipeline

pub fn close_period_bills_the_sample_test() {
  use <- with_pipeline_on_sample()
  pipeline.sync()
  let assert Ok(summary) = pipeline.close_period("2026-10")
  expect.equal(summary.period, "2026-10")
  expect.equal(summary.lines, 17)
  expect.equal(summary.customers, 5)
  expect.equal(summary.currencies, [
    pipeline.CurrencyTotal("EUR", 157_525, 17, 5),
  ])
  let assert Ok(totals) = pipeline.customer_totals(summary)
  let assert [_, _, acme, globex, initech] = sort(totals)
  expect.equal(
    acme,
    pipeline.CustomerTotal(
      customer: "acme",
      currency: "EUR",
      amount_minor: 116_225,
      lines: 5,
    ),
  )
  expect.equal(#(globex.amount_minor, initech.amount_minor), #(37_836, 3424))
  expect.equal(pipeline.drain(timeout_ms: 10_000), Ok(Nil))
  let assert Error(pipeline.PipelineFailed(_)) =
    pipeline.close_period("2026-13")
  Nil
}

/// Runs `body` with the supervision tree started on the sample, and stops
/// it afterwards, whether `body` returned or failed.
@external(erlang, "tally_test_ffi", "with_pipeline_on_sample")
fn with_pipeline_on_sample(body: fn() -> Nil) -> Nil

@external(erlang, "lists", "sort")
fn sort(list: List(a)) -> List(a)
