//// Close planning (tally/app/close_plan): the period a schedule closes, the
//// record of closed periods, the outbox items and the summary of a close.

import tally/app/close_plan
import tally/app/outbox_book as book
import tally/app/written
import tally/expect
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

pub fn items_and_summary_of_a_close_test() {
  let shard0 =
    written.Written(
      lines: [#("a/*/m/total/2026-10/v1", "{a}")],
      customers: map.put(map.new(), "a", written.CustomerTotal("EUR", 10, 1)),
      unbilled: ["z"],
    )
  let shard1 =
    written.Written(
      lines: [
        #("b/*/m/total/2026-10/v1", "{b1}"),
        #("b/x/m/total/2026-10/v1", "{b2}"),
      ],
      customers: map.put(map.new(), "b", written.CustomerTotal("USD", 3, 2)),
      unbilled: ["y", "z"],
    )
  expect.equal(close_plan.items([shard0, shard1], "inv"), [
    book.Item("a/*/m/total/2026-10/v1", "inv", "{a}"),
    book.Item("b/*/m/total/2026-10/v1", "inv", "{b1}"),
    book.Item("b/x/m/total/2026-10/v1", "inv", "{b2}"),
  ])
  let s = close_plan.summary("2026-10", [shard0, shard1], 3, 1)
  expect.equal(
    #(s.period, s.lines, s.voids, s.unbilled),
    #("2026-10", 3, 1, ["y", "z"]),
  )
  expect.equal(map.sorted_pairs(s.customers), [
    #("a", written.CustomerTotal("EUR", 10, 1)),
    #("b", written.CustomerTotal("USD", 3, 2)),
  ])
}
