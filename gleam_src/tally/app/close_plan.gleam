//// Close planning, without I/O: which period a schedule closes and when, the
//// record of closed periods, what a close puts into the outbox and the
//// summary it answers with. `tally/app/closer` carries it out.
////
//// A schedule (`{close, #{grace_ms, check_ms}}`) closes a calendar month
//// once it has been over for `grace_ms`, checking every `check_ms`. Closing
//// is idempotent: a period closed again gives the same lines with the same
//// keys; the outbox skips the keys acknowledged before.

import tally/app/outbox_book as book
import tally/billing
import tally/pure/aggregate as agg
import tally/pure/bytes
import tally/pure/map

/// A close on a schedule: once a month has been over for `grace_ms`,
/// checked every `check_ms`.
pub type Schedule {
  Schedule(grace_ms: Int, check_ms: Int)
}

/// What a close answers with.
pub type CloseSummary {
  CloseSummary(
    period: String,
    /// Invoice lines put into the outbox (before the outbox's dedup).
    lines: Int,
    /// Voids of a reissue put with them.
    voids: Int,
    customers: map.Map(String, billing.CustomerTotal),
    /// Customers with usage but no plan, sorted, each once.
    unbilled: List(String),
  )
}

/// The last month that ended at least `grace_ms` before `now_ms`, as
/// `YYYY-MM`.
///
/// ```gleam
/// due_period(now_ms: 1_793_577_600_000, grace_ms: 86_400_000)
/// // 2026-11-02T00:00Z, a day of grace: "2026-10"
/// ```
pub fn due_period(now_ms now_ms: Int, grace_ms grace_ms: Int) -> String {
  agg.period_label(agg.month_start(now_ms - grace_ms) - 1)
}

/// The period a scheduled check closes: the due period unless it was
/// closed.
pub fn scheduled(
  now_ms now_ms: Int,
  schedule schedule: Schedule,
  closed closed: List(String),
) -> Result(String, Nil) {
  let due = due_period(now_ms, schedule.grace_ms)
  case member(closed, due) {
    True -> Error(Nil)
    False -> Ok(due)
  }
}

fn member(list: List(String), x: String) -> Bool {
  case list {
    [] -> False
    [y, ..rest] -> y == x || member(rest, x)
  }
}

/// The closed periods with one more: sorted, each once.
pub fn record(closed: List(String), period: String) -> List(String) {
  usort([period, ..closed])
}

fn usort(list: List(String)) -> List(String) {
  dedup_sorted(bytes.sort(list), [])
}

fn dedup_sorted(list: List(String), acc: List(String)) -> List(String) {
  case list, acc {
    [], _ -> bytes.reverse(acc)
    [x, ..rest], [y, ..] if x == y -> dedup_sorted(rest, acc)
    [x, ..rest], _ -> dedup_sorted(rest, [x, ..acc])
  }
}

/// A round's lines as outbox entries to `subject`, in shard order: the
/// engine's batches, as they are.
pub fn entries(
  rounds: List(billing.WrittenRound),
  subject: String,
) -> List(book.Entry) {
  round_entries(rounds, subject, [])
}

fn round_entries(
  rounds: List(billing.WrittenRound),
  subject: String,
  acc: List(book.Entry),
) -> List(book.Entry) {
  case rounds {
    [] -> bytes.reverse(acc)
    [r, ..rest] ->
      round_entries(rest, subject, batch_entries(r.batches, subject, acc))
  }
}

fn batch_entries(
  batches: List(billing.WrittenBatch),
  subject: String,
  acc: List(book.Entry),
) -> List(book.Entry) {
  case batches {
    [] -> acc
    [b, ..rest] -> batch_entries(rest, subject, [book.Lines(subject, b), ..acc])
  }
}

/// The message ids of a round's lines as the engine wrote them: one text
/// per batch, `KEY/vVERSION` lines with a newline after each.
pub fn id_blobs(rounds: List(billing.WrittenRound)) -> List(BitArray) {
  blobs_loop(rounds, [])
}

fn blobs_loop(
  rounds: List(billing.WrittenRound),
  acc: List(BitArray),
) -> List(BitArray) {
  case rounds {
    [] -> bytes.reverse(acc)
    [r, ..rest] -> blobs_loop(rest, batch_blobs(r.batches, acc))
  }
}

fn batch_blobs(
  batches: List(billing.WrittenBatch),
  acc: List(BitArray),
) -> List(BitArray) {
  case batches {
    [] -> acc
    [b, ..rest] -> batch_blobs(rest, [b.ids, ..acc])
  }
}

/// What a close's summary counts, round after round (the lines themselves
/// are in the outbox).
pub opaque type Tally {
  Tally(
    lines: Int,
    totals: List(#(String, billing.CustomerTotal)),
    unbilled: List(String),
  )
}

/// Nothing counted yet.
pub fn new_tally() -> Tally {
  Tally(0, [], [])
}

/// `tally` with the shards' rounds counted.
pub fn count(tally: Tally, rounds: List(billing.WrittenRound)) -> Tally {
  case rounds {
    [] -> tally
    [r, ..rest] ->
      count(
        Tally(
          lines: count_lines(r.batches, tally.lines),
          totals: total_pairs(r.totals, tally.totals),
          unbilled: prepend(r.unbilled_customers, tally.unbilled),
        ),
        rest,
      )
  }
}

/// The summary of a close: the lines, the voids, each customer's total (a
/// customer's lines all come from one shard and one round) and the
/// unbilled customers.
pub fn summary(period: String, tally: Tally, voids: Int) -> CloseSummary {
  CloseSummary(
    period: period,
    lines: tally.lines,
    voids: voids,
    // The map made at once: a close of a million customers put one by one
    // into a growing map took seconds of garbage collection in the closer.
    // In order: a customer given twice (never) keeps its last total.
    customers: map.from_list(bytes.reverse(tally.totals)),
    unbilled: usort(tally.unbilled),
  )
}

fn count_lines(batches: List(billing.WrittenBatch), acc: Int) -> Int {
  case batches {
    [] -> acc
    [b, ..rest] -> count_lines(rest, acc + b.count)
  }
}

fn total_pairs(
  totals: List(billing.CustomerTotal),
  acc: List(#(String, billing.CustomerTotal)),
) -> List(#(String, billing.CustomerTotal)) {
  case totals {
    [] -> acc
    [t, ..rest] -> total_pairs(rest, [#(t.customer, t), ..acc])
  }
}

fn prepend(list: List(String), acc: List(String)) -> List(String) {
  case list {
    [] -> acc
    [x, ..rest] -> prepend(rest, [x, ..acc])
  }
}
