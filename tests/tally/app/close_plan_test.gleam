//// Close planning (tally/app/close_plan): the period a schedule closes, the
//// record of closed periods, the outbox items and the summary of a close.

import tally/app/close_plan
import tally/app/outbox_book as book
import tally/billing
import tally/expect
import tally/option
import tally/pure/map
import tally/pure/rfc3339

const day = 86_400_000

fn ms(y: Int, m: Int, d: Int, h: Int) -> Int {
  rfc3339.days_from_civil(y, m, d) * day + h * 3_600_000
}

pub fn the_due_period_is_the_last_month_over_for_the_grace_test() {
  expect.equal(close_plan.due_period(ms(2026, 11, 2, 0), day), "2026-10")
  expect.equal(close_plan.due_period(ms(2026, 11, 1, 12), day), "2026-09")
  expect.equal(close_plan.due_period(ms(2026, 1, 5, 0), day), "2025-12")
  expect.equal(close_plan.due_period(ms(2026, 3, 1, 0), 0), "2026-02")
}

pub fn a_schedule_closes_a_period_not_closed_yet_test() {
  let s = close_plan.Schedule(grace_ms: day, check_ms: 1000)
  expect.equal(
    close_plan.scheduled(ms(2026, 11, 2, 0), s, ["2026-09"]),
    Ok("2026-10"),
  )
  expect.equal(
    close_plan.scheduled(ms(2026, 11, 2, 0), s, ["2026-09", "2026-10"]),
    Error(Nil),
  )
}

pub fn the_record_of_closed_periods_is_sorted_once_each_test() {
  expect.equal(close_plan.record([], "2026-10"), ["2026-10"])
  expect.equal(close_plan.record(["2026-09", "2026-11"], "2026-10"), [
    "2026-09",
    "2026-10",
    "2026-11",
  ])
  expect.equal(close_plan.record(["2026-10"], "2026-10"), ["2026-10"])
}

fn batch(ids: List(String)) -> billing.WrittenBatch {
  billing.WrittenBatch(
    count: length(ids),
    ids: lines(ids),
    lines: lines(map_list(ids, fn(id) { "{" <> id <> "}" })),
  )
}

pub fn entries_ids_and_summary_of_a_close_test() {
  let b0 = batch(["a/*/m/total/2026-10/v1"])
  let b1 = batch(["b/*/m/total/2026-10/v1", "b/x/m/total/2026-10/v1"])
  let shard0 =
    billing.WrittenRound(
      batches: [b0],
      totals: [billing.CustomerTotal("a", "EUR", 10, 1)],
      unbilled_customers: ["z"],
      next: option.Some("c"),
    )
  let shard1 =
    billing.WrittenRound(
      batches: [b1],
      totals: [billing.CustomerTotal("b", "USD", 3, 2)],
      unbilled_customers: ["y"],
      next: option.None,
    )
  let shard0_last =
    billing.WrittenRound(
      batches: [],
      totals: [],
      unbilled_customers: ["z"],
      next: option.None,
    )
  expect.equal(close_plan.entries([shard0, shard1], "inv"), [
    book.Lines("inv", b0),
    book.Lines("inv", b1),
  ])
  expect.equal(close_plan.id_blobs([shard0, shard1]), [b0.ids, b1.ids])
  // Counted round after round.
  let tally =
    close_plan.new_tally()
    |> close_plan.count([shard0, shard1])
    |> close_plan.count([shard0_last])
  let s = close_plan.summary("2026-10", tally, 1)
  expect.equal(
    #(s.period, s.lines, s.voids, s.unbilled),
    #("2026-10", 3, 1, ["y", "z"]),
  )
  expect.equal(map.sorted_pairs(s.customers), [
    #("a", billing.CustomerTotal("a", "EUR", 10, 1)),
    #("b", billing.CustomerTotal("b", "USD", 3, 2)),
  ])
}

fn lines(texts: List(String)) -> BitArray {
  case texts {
    [] -> <<>>
    [t, ..rest] -> <<t:utf8, "\n":utf8, lines(rest):bits>>
  }
}

fn map_list(l: List(a), f: fn(a) -> b) -> List(b) {
  case l {
    [] -> []
    [x, ..rest] -> [f(x), ..map_list(rest, f)]
  }
}

@external(erlang, "erlang", "length")
fn length(l: List(a)) -> Int
