//// The closer actor (tally/app/closer) on the running system with the
//// bundled sample: a close's summary, the record of closed periods read
//// back by a new closer, a reissue's voids, and the errors it answers with.

import tally/app/close_plan
import tally/app/closer
import tally/app/customer_totals
import tally/app/outbox
import tally/billing
import tally/expect
import tally/option
import tally/otp/process

fn settings(dir: String, plans: String, version: Int) -> closer.Settings {
  closer.Settings(
    data_dir: dir,
    plans: option.Some(plans),
    shards: 2,
    invoice_version: version,
    subject: "tally.invoices",
    schedule: option.None,
    outbox: outbox.registered(),
  )
}

pub fn a_reissue_voids_the_lines_a_period_no_longer_has_test() {
  with_pipeline_on_sample(fn() {
    let dir = tmp_dir("closer")
    let v1 = settings(dir, "sample/plans.json", 1)
    let assert Ok(c1) = closer.start(v1)
    let assert Ok(s1) = closer.close_period(c1.data, "2026-10")
    expect.equal(#(s1.period, s1.lines, s1.voids), #("2026-10", 17, 0))
    let assert Ok(initech) = total_of(s1, "initech")
    expect.be_true(initech.lines > 0, "initech billed in version 1")
    expect.equal(closer.closed(c1.data), ["2026-10"])
    // A new closer on the same directory knows the period is closed.
    let assert Ok(again) = closer.start(v1)
    expect.equal(closer.closed(again.data), ["2026-10"])
    // Version 2 without initech's plan: its lines become voids.
    let plans = dir <> "/plans-v2.json"
    plans_without("sample/plans.json", "initech", plans)
    let v2 = closer.Settings(..settings(dir, plans, 2), schedule: option.None)
    let assert Ok(c2) = closer.start(v2)
    let assert Ok(s2) = closer.close_period(c2.data, "2026-10")
    expect.equal(s2.voids, initech.lines)
    expect.equal(s2.lines, 17 - initech.lines)
    expect.equal(s2.unbilled, ["initech"])
    expect.equal(total_of(s2, "initech"), Error(Nil))
    expect.equal(s2.customers, s1.customers - 1)
    // Closed again: the same voids (the outbox skips what it has).
    let assert Ok(s3) = closer.close_period(c2.data, "2026-10")
    expect.equal(#(s3.lines, s3.voids), #(s2.lines, s2.voids))
    // The keys issued, read back off the heap for each close, are deleted
    // with it (a long-lived closer would keep every close's otherwise).
    expect.equal(key_sets_of(c2.pid), 0)
  })
}

@external(erlang, "tally_app_test_ffi", "key_sets_of")
fn key_sets_of(owner: process.Pid) -> Int

pub fn a_close_that_cannot_bill_says_why_test() {
  with_pipeline_on_sample(fn() {
    let dir = tmp_dir("closer")
    let no_plans = closer.Settings(..settings(dir, "x", 1), plans: option.None)
    let assert Ok(c) = closer.start(no_plans)
    expect.equal(
      closer.close_period(c.data, "2026-10"),
      Error(closer.NoPlansConfigured),
    )
    let assert Ok(c) = closer.start(settings(dir, dir <> "/missing.json", 1))
    expect.equal(
      closer.close_period(c.data, "2026-10"),
      Error(closer.PlansUnreadable(dir <> "/missing.json", "enoent")),
    )
    let assert Ok(c) = closer.start(settings(dir, "sample/plans.json", 1))
    expect.equal(
      closer.close_period(c.data, "2026-13"),
      Error(closer.BadPeriod("2026-13")),
    )
    // A period is checked before it names a file under the data directory.
    expect.equal(
      closer.close_period(c.data, "../x"),
      Error(closer.BadPeriod("../x")),
    )
    expect.equal(wildcard(dir, "*.tmp"), [])
    // Nothing was closed, nothing recorded, and the closer still answers.
    expect.equal(closer.closed(c.data), [])
    expect.equal(wildcard(dir <> "/issued", "*"), [])
  })
}

pub fn a_close_killed_after_a_round_was_put_still_voids_its_lines_test() {
  with_pipeline_on_sample(fn() {
    // What version 1 bills initech (a close of its own, to compare with).
    let reference = tmp_dir("closer")
    let assert Ok(c) = closer.start(settings(reference, "sample/plans.json", 1))
    let assert Ok(s) = closer.close_period(c.data, "2026-10")
    let assert Ok(initech) = total_of(s, "initech")
    // Version 1 closed in rounds: its round is in the outbox (on its way to
    // the sink) when the closer dies, before the record of the keys is in
    // place.
    let dir = tmp_dir("closer")
    let fake = process.new_subject()
    let started = process.new_subject()
    let _ =
      process.spawn_unlinked(fn() {
        let v1 =
          closer.Settings(..settings(dir, "sample/plans.json", 1), outbox: fake)
        let assert Ok(c1) = closer.start(v1)
        process.send(started, c1.pid)
        closer.close_period(c1.data, "2026-10")
      })
    let assert Ok(pid) = process.receive(started, 5000)
    expect.be_true(take_puts_until_run_ends(fake, 0) > 0, "a round was put")
    kill(pid)
    // Version 2 without initech's plan: initech's lines of the killed close
    // were issued, and are voided.
    let plans = dir <> "/plans-v2.json"
    plans_without("sample/plans.json", "initech", plans)
    let assert Ok(c2) = closer.start(settings(dir, plans, 2))
    let assert Ok(s2) = closer.close_period(c2.data, "2026-10")
    expect.equal(s2.voids, initech.lines)
    // Closed again: the record holds them now, nothing is left beside it.
    let assert Ok(s3) = closer.close_period(c2.data, "2026-10")
    expect.equal(s3.voids, initech.lines)
    expect.equal(wildcard(dir <> "/issued", "*"), ["2026-10"])
  })
}

// An outbox that takes what is put until the run ends (never answered):
// how many puts it took.
fn take_puts_until_run_ends(
  fake: process.Subject(outbox.Message),
  puts: Int,
) -> Int {
  case process.receive(fake, 60_000) {
    Ok(outbox.PutInRun(_, _, reply)) -> {
      process.send(reply, Ok(Nil))
      take_puts_until_run_ends(fake, puts + 1)
    }
    Ok(outbox.EndRun(_)) -> puts
    _ -> {
      expect.be_true(False, "a put in a run, or its end")
      puts
    }
  }
}

// A customer's total in the close's totals file.
fn total_of(
  summary: close_plan.CloseSummary,
  customer: String,
) -> Result(billing.CustomerTotal, Nil) {
  let assert Ok(totals) = customer_totals.read(summary.totals_path)
  find(totals, customer)
}

fn find(
  totals: List(billing.CustomerTotal),
  customer: String,
) -> Result(billing.CustomerTotal, Nil) {
  case totals {
    [] -> Error(Nil)
    [billing.CustomerTotal(customer: c, ..) as t, ..] if c == customer -> Ok(t)
    [_, ..rest] -> find(rest, customer)
  }
}

@external(erlang, "tally_test_ffi", "with_pipeline_on_sample")
fn with_pipeline_on_sample(body: fn() -> Nil) -> Nil

@external(erlang, "tally_outbox_test_ffi", "tmp_dir")
fn tmp_dir(prefix: String) -> String

@external(erlang, "tally_outbox_test_ffi", "wildcard")
fn wildcard(dir: String, pattern: String) -> List(String)

@external(erlang, "tally_outbox_test_ffi", "kill")
fn kill(pid: process.Pid) -> Nil

@external(erlang, "tally_outbox_test_ffi", "plans_without")
fn plans_without(plans: String, customer: String, to: String) -> Nil
