//// tally/app/job: the summary `make run` prints, and the watcher that
//// gives a status whatever ends the job.

import tally/app/job
import tally/expect
import tally/otp/dynamic
import tally/otp/process

pub fn money_has_two_places_and_a_sign_test() {
  expect.equal(job.money(10_500), "105.00")
  expect.equal(job.money(5), "0.05")
  expect.equal(job.money(-1205), "-12.05")
  expect.equal(job.money(0), "0.00")
}

pub fn the_report_is_printed_as_before_test() {
  let report =
    job.Report(
      period: "2026-10",
      sources: [
        job.SourceCounts("edge", 12, 11, 1, False),
        job.SourceCounts("storage", 4, 4, 0, False),
        job.SourceCounts("typo", 0, 0, 0, True),
      ],
      lines: 17,
      published: 17,
      billed: 1,
      totals_path: "data/totals/2026-10.jsonl",
      customers: [job.CustomerTotal("acme", 3, 10_500, "EUR")],
      currencies: [job.CustomerTotal("total", 3, 10_500, "EUR")],
      unbilled: ["globex"],
    )
  expect.equal(
    job.format_report(report),
    "tally: billed 2026-10\n"
      <> "  source edge           12 records,     11 events, 1 rejected (see rejects.jsonl)\n"
      <> "  source storage         4 records,      4 events, 0 rejected\n"
      <> "  source typo            0 records,      0 events, 0 rejected, NOTHING AT ITS PATH (check the source's path)\n"
      <> "  17 invoice lines, 17 published to the sink\n"
      <> "  acme                                                                 3 lines       105.00 EUR\n"
      <> "  total                                                                3 lines       105.00 EUR\n"
      <> "  globex: usage but no plan, not billed\n",
  )
}

pub fn many_customers_are_in_the_totals_file_not_the_report_test() {
  let report =
    job.Report(
      period: "2026-10",
      sources: [],
      lines: 750,
      published: 750,
      billed: 250,
      totals_path: "data/totals/2026-10.jsonl",
      customers: [],
      currencies: [
        job.CustomerTotal("total", 500, 1_000_000, "EUR"),
        job.CustomerTotal("total", 250, 5, "USD"),
      ],
      unbilled: [],
    )
  expect.equal(
    job.format_report(report),
    "tally: billed 2026-10\n"
      <> "  750 invoice lines, 750 published to the sink\n"
      <> "  250 customers billed, each one's total in data/totals/2026-10.jsonl\n"
      <> "  total                                                              500 lines     10000.00 EUR\n"
      <> "  total                                                              250 lines         0.05 USD\n",
  )
}

pub fn the_watcher_gives_a_status_whatever_ends_the_job_test() {
  expect.equal(job.watched(fn() { 0 }), 0)
  expect.equal(job.watched(fn() { 1 }), 1)
  // A job that exits or crashes: 1, and the caller lives on.
  expect.equal(
    job.watched(fn() {
      exit_with(dynamic.from("a collector restarted"))
      0
    }),
    1,
  )
  // Killed from outside while it runs.
  expect.equal(
    job.watched(fn() {
      let me = process.self()
      process.spawn_unlinked(fn() { process.kill(me) })
      process.sleep(5000)
      0
    }),
    1,
  )
}

@external(erlang, "tally_otp_test_ffi", "exit_with")
fn exit_with(reason: dynamic.Dynamic) -> Nil
