//// Closes billing periods, as an actor: on demand (`close_period`) and on a
//// schedule (once a calendar month has been over for `grace_ms`, checked
//// every `check_ms`; `tally/app/close_plan` decides which). Closing reads
//// the sources to their end (as `tally bill` reads its files), bills every
//// shard with the plans file at once (each shard bills the customers
//// `tally_core::shard::shard_of` gives it: each customer once), puts the
//// invoice lines and a reissue's voids into the outbox (durably, before
//// answering), records the period's keys (`issued/PERIOD`) and each
//// customer's total (`totals/PERIOD.jsonl`, `tally/app/customer_totals`),
//// and then the period as closed (`closed.term`).
////
//// Closing is idempotent: a period closed again (after a crash between the
//// close and the record, or a job run again) gives the same lines with the
//// same keys; the outbox skips the keys acknowledged before, however long
//// ago, and the sinks deduplicate what is left. No call has a time limit:
//// a close's work grows with the usage.
////
//// ```gleam
//// let assert Ok(summary) = closer.close_period(closer.registered(), "2026-10")
//// summary.lines
//// // -> 17
//// ```

import tally/app/close_plan
import tally/app/config
import tally/app/customer_totals
import tally/app/files
import tally/app/log
import tally/app/outbox
import tally/app/outbox_book as book
import tally/app/outbox_disk
import tally/app/reissue
import tally/app/shard
import tally/billing
import tally/option
import tally/otp/actor
import tally/otp/dynamic
import tally/otp/names
import tally/otp/process
import tally/otp/supervision
import tally/pure/aggregate as agg
import tally/pure/bytes

/// What the closer needs of the configuration.
pub type Settings {
  Settings(
    /// Where `closed.term`, `issued/` and `totals/` live.
    data_dir: String,
    /// The plans file; a close without one is an error.
    plans: option.Option(String),
    /// Shards 0..shards-1 (`tally/app/shard`) bill a close.
    shards: Int,
    invoice_version: Int,
    /// The bus subject the lines are published to.
    subject: String,
    /// Closing on a schedule, or only on demand.
    schedule: option.Option(config.Close),
    outbox: process.Subject(outbox.Message),
  )
}

/// Why a close failed. Closing again is harmless.
pub type CloseError {
  /// Not a period `YYYY-MM` (checked before anything is read or written:
  /// the period names files under the data directory).
  BadPeriod(period: String)
  NoPlansConfigured
  PlansUnreadable(path: String, reason: String)
  /// Reading the sources to their end failed (the pipeline's reason).
  SourcesNotRead(reason: dynamic.Dynamic)
  /// A shard could not bill (the engine's or the shard's reason).
  ShardFailed(reason: shard.ShardError)
  /// The record of the keys a period issued cannot be read.
  IssuedUnreadable(path: String, reason: String)
  IssuedNotLineKeys(path: String, key: String)
  Outbox(outbox_disk.OutboxError)
  /// The lines are in the outbox; the record of the period's keys is not.
  Issued(path: String, reason: String)
  /// The lines are in the outbox; the record of the closed period is not.
  ClosedRecord(path: String, reason: String)
  /// The lines are in the outbox; the customers' totals file is not.
  Totals(path: String, reason: String)
}

/// A request to the closer.
pub opaque type Message {
  Close(
    period: String,
    reply: process.Subject(Result(close_plan.CloseSummary, CloseError)),
  )
  Closed(reply: process.Subject(List(String)))
  CheckSchedule
}

type State {
  State(
    settings: Settings,
    closed: List(String),
    self: process.Subject(Message),
  )
}

/// Starts the closer linked to the caller: reads the closed periods'
/// record and starts the schedule, if any.
pub fn start(
  settings: Settings,
) -> Result(actor.Started(process.Subject(Message)), actor.StartError) {
  builder(settings)
  |> actor.start
}

/// The application's closer as a supervisor's child, registered as
/// `tally_closer` (`registered()`).
pub fn supervised(
  settings: Settings,
) -> supervision.ChildSpecification(process.Subject(Message)) {
  supervision.worker(fn() {
    builder(settings)
    |> actor.named(app_name())
    |> actor.start
  })
}

/// The running system's closer settings: the configuration's, with the
/// application's outbox (`outbox.registered()`).
pub fn from_config(app: config.Config) -> Settings {
  Settings(
    data_dir: app.data_dir,
    plans: app.plans,
    shards: app.shards,
    invoice_version: app.invoice_version,
    subject: app.subject,
    schedule: app.close,
    outbox: outbox.registered(),
  )
}

/// The subject of the application's closer (`supervised`).
pub fn registered() -> process.Subject(Message) {
  process.named_subject(app_name())
}

fn app_name() -> process.Name(Message) {
  names.fixed("tally_closer")
}

fn builder(
  settings: Settings,
) -> actor.Builder(State, Message, process.Subject(Message)) {
  actor.new_with_initialiser(5000, fn(subject) {
    case read_closed(closed_path(settings)) {
      Error(why) -> Error(why)
      Ok(closed) -> {
        schedule(subject, settings)
        actor.initialised(State(settings, closed, subject))
        |> actor.returning(subject)
        |> Ok
      }
    }
  })
  |> actor.on_message(handle)
}

/// Closes `period` (`"2026-10"`): the lines are in the outbox when it
/// answers.
pub fn close_period(
  closer: process.Subject(Message),
  period: String,
) -> Result(close_plan.CloseSummary, CloseError) {
  process.call_forever(closer, fn(reply) { Close(period, reply) })
}

/// The periods closed so far, sorted.
pub fn closed(closer: process.Subject(Message)) -> List(String) {
  process.call_forever(closer, fn(reply) { Closed(reply) })
}

fn handle(state: State, message: Message) -> actor.Next(State, Message) {
  case message {
    Close(period, reply) -> {
      let #(state, result) = close_and_record(state, period)
      process.send(reply, result)
      // The close's lines (as large as a period's invoice) are on disk in
      // the outbox now; the references left on this heap would keep them in
      // memory until some later collection, through the whole publish.
      let _ = collect_garbage()
      actor.continue(state)
    }
    Closed(reply) -> {
      process.send(reply, state.closed)
      actor.continue(state)
    }
    CheckSchedule -> {
      schedule(state.self, state.settings)
      actor.continue(check_schedule(state))
    }
  }
}

fn check_schedule(state: State) -> State {
  case state.settings.schedule {
    option.None -> state
    option.Some(c) ->
      case
        close_plan.scheduled(
          now_ms(),
          close_plan.Schedule(c.grace_ms, c.check_ms),
          state.closed,
        )
      {
        Error(Nil) -> state
        Ok(due) -> {
          let #(state, result) = close_and_record(state, due)
          case result {
            Ok(summary) ->
              log.report(log.Notice, "period closed on schedule", [
                #("period", due),
                #("lines", bytes.int_to_text(summary.lines)),
              ])
            // Closing again is harmless: the next check retries.
            Error(e) ->
              log.report(log.ErrorLevel, "scheduled close failed", [
                #("period", due),
                #("reason", describe(e)),
              ])
          }
          state
        }
      }
  }
}

fn schedule(subject: process.Subject(Message), settings: Settings) -> Nil {
  case settings.schedule {
    option.Some(c) -> {
      process.send_after(subject, c.check_ms, CheckSchedule)
      Nil
    }
    option.None -> Nil
  }
}

fn close_and_record(
  state: State,
  period: String,
) -> #(State, Result(close_plan.CloseSummary, CloseError)) {
  case close(state.settings, period) {
    Error(e) -> #(state, Error(e))
    Ok(summary) -> {
      // The lines are in the outbox already; a record that cannot be
      // written (a full disk) is an error for the caller, who may close
      // again (acknowledged lines are not published twice).
      let closed = close_plan.record(state.closed, period)
      let path = closed_path(state.settings)
      case files.write_durably(path, <<closed_text(closed):utf8>>) {
        Ok(Nil) -> #(State(..state, closed: closed), Ok(summary))
        Error(why) -> #(state, Error(ClosedRecord(path, why)))
      }
    }
  }
}

fn close(
  settings: Settings,
  period: String,
) -> Result(close_plan.CloseSummary, CloseError) {
  use _ <- try(case agg.parse_period(period) {
    Ok(_) -> Ok(Nil)
    Error(Nil) -> Error(BadPeriod(period))
  })
  use plans_path <- try(case settings.plans {
    option.Some(p) -> Ok(p)
    option.None -> Error(NoPlansConfigured)
  })
  // The sources are read to their end first (their files are complete for
  // this close), as `tally bill` reads its files.
  use _ <- try(read_to_end())
  use plans <- try(case read_file(plans_path) {
    Ok(b) -> Ok(b)
    Error(why) -> Error(PlansUnreadable(plans_path, why))
  })
  let issued_path = files.join(files.join(settings.data_dir, "issued"), period)
  use #(issued, unfinished) <- try(read_issued(issued_path))
  let closed =
    bill_and_void(settings, period, plans, issued, unfinished, issued_path)
  // The keys issued are kept off the heap: deleted once the close is done.
  reissue.drop(issued)
  closed
}

// The rounds into the outbox, then the voids of what `issued` had and no
// round gave again; the record of keys and the totals take their places.
fn bill_and_void(
  settings: Settings,
  period: String,
  plans: BitArray,
  issued: reissue.Issued,
  unfinished: Bool,
  issued_path: String,
) -> Result(close_plan.CloseSummary, CloseError) {
  // Each shard bills its own customers (with usage or named in the plans),
  // all at once, a round at a time: each round's lines go into the outbox
  // before the next round is billed. The period's keys, for the record of
  // what it issued, go to a file as they come.
  let totals_path = customer_totals.path(settings.data_dir, period)
  let billed =
    with_totals(totals_path, fn(totals) {
      let first = reissue.record_start(issued)
      with_record(issued_path, first, unfinished, fn(record) {
        rounds(
          settings,
          period,
          bytes.to_text(plans),
          first_rounds(settings.shards, []),
          Rounds(reissue.start(issued), close_plan.new_tally(), unfinished),
          Files(record, totals),
          False,
        )
      })
    })
  use #(progress, tally) <- try(case billed {
    Ok(done) -> Ok(done)
    Error(e) -> {
      outbox.end_run(settings.outbox)
      Error(e)
    }
  })
  // Voids of a reissue: the keys issued before that no round gave again.
  use voids <- try(
    case reissue.finish(progress, settings.invoice_version, settings.subject) {
      Ok(voids) -> Ok(voids)
      Error(reissue.NotALineKey(k)) -> Error(IssuedNotLineKeys(issued_path, k))
    },
  )
  let put = case voids {
    [] -> Ok(Nil)
    _ -> outbox.put_in_run(settings.outbox, ones(voids, []), continues: True)
  }
  outbox.end_run(settings.outbox)
  use _ <- try(case put {
    Ok(Nil) -> Ok(Nil)
    Error(e) -> Error(Outbox(e))
  })
  use _ <- try(record_issued(issued_path))
  use _ <- try(replace_by_beside(totals_path, Totals))
  Ok(close_plan.summary(period, tally, bytes.length(voids), totals_path))
}

/// Lines a shard bills in a round: half an outbox batch. A close holds one
/// round of every shard at once (~2 MB of lines with 4 shards) and the
/// publisher drains the rounds before: at 10,000 lines a round the job's
/// peak RSS at 100 MB / 100k customers was 167 MB, at 2,500 136 MB (ingest's
/// own 121), and a close of 1M customers took no longer (make bench-job).
const round_lines = 2500

/// What the rounds have counted so far; `new`: ids were added to the record.
type Rounds {
  Rounds(progress: reissue.Progress, tally: close_plan.Tally, new: Bool)
}

/// What the rounds write as they come: the record of the period's keys
/// and the customers' totals, each beside its final file.
type Files {
  Files(record: files.IoDevice, totals: files.IoDevice)
}

fn first_rounds(
  n: Int,
  acc: List(#(Int, option.Option(String))),
) -> List(#(Int, option.Option(String))) {
  case n {
    0 -> acc
    _ -> first_rounds(n - 1, [#(n - 1, option.None), ..acc])
  }
}

// Rounds until every shard has billed its last customer.
fn rounds(
  settings: Settings,
  period: String,
  plans: String,
  pending: List(#(Int, option.Option(String))),
  done: Rounds,
  out: Files,
  continues: Bool,
) -> Result(#(Rounds, Bool), CloseError) {
  case pending {
    [] -> Ok(#(done, done.new))
    _ -> {
      use #(rs, next) <- try(
        all_ok(
          shard.close_round(
            pending,
            shards: settings.shards,
            period: period,
            plans: plans,
            version: settings.invoice_version,
            max_lines: round_lines,
          ),
          [],
          [],
        ),
      )
      // The round's keys are in the record being written (synced) before
      // its lines can reach the sink: a close that fails or dies after this
      // leaves them beside the record, and the next close voids them too
      // when a new version no longer has them.
      use done <- try(add_ids(done, close_plan.id_blobs(rs), out.record))
      use _ <- try(case files.sync(out.record) {
        Ok(Nil) -> Ok(Nil)
        Error(why) -> Error(Issued("issued record", why))
      })
      use _ <- try(
        case
          outbox.put_in_run(
            settings.outbox,
            close_plan.entries(rs, settings.subject),
            continues: continues,
          )
        {
          Ok(Nil) -> Ok(Nil)
          Error(e) -> Error(Outbox(e))
        },
      )
      use _ <- try(
        case
          files.write(out.totals, customer_totals.lines(close_plan.totals(rs)))
        {
          Ok(Nil) -> Ok(Nil)
          Error(why) -> Error(Totals("customer totals", why))
        },
      )
      let done = Rounds(..done, tally: close_plan.count(done.tally, rs))
      rounds(settings, period, plans, next, done, out, True)
    }
  }
}

// A round's ids seen by the reissue; those new to the period appended to
// the record being written.
fn add_ids(
  done: Rounds,
  blobs: List(BitArray),
  record: files.IoDevice,
) -> Result(Rounds, CloseError) {
  case blobs {
    [] -> Ok(done)
    [b, ..rest] -> {
      let #(progress, new) = reissue.add(done.progress, b)
      case bytes.size(new) {
        0 -> add_ids(Rounds(..done, progress: progress), rest, record)
        _ ->
          case files.write(record, new) {
            Ok(Nil) -> add_ids(Rounds(progress, done.tally, True), rest, record)
            Error(why) -> Error(Issued("issued record", why))
          }
      }
    }
  }
}

// The record of the period's keys is written beside it (`PATH.tmp`: the
// keys issued before, then the new ones round by round) and takes its place
// once every round is in the outbox; nothing new: the record stays. A close
// that fails leaves it there (its rounds' lines may be in the outbox): the
// next close reads it with the record (`read_issued`).
fn with_record(
  path: String,
  first: BitArray,
  unfinished: Bool,
  body: fn(files.IoDevice) -> Result(#(Rounds, Bool), CloseError),
) -> Result(#(reissue.Progress, close_plan.Tally), CloseError) {
  let tmp = record_path(path)
  use record <- try(case open_beside(tmp, first) {
    Ok(io) -> Ok(io)
    Error(why) -> Error(Issued(tmp, why))
  })
  let result = body(record)
  let synced = case result {
    Ok(#(_, True)) -> files.sync(record)
    _ -> Ok(Nil)
  }
  let closed = files.close(record)
  case result, synced, closed {
    Ok(#(done, new)), Ok(Nil), Ok(Nil) -> {
      case new {
        True -> Nil
        False -> {
          let _ = files.delete(tmp)
          Nil
        }
      }
      Ok(#(done.progress, done.tally))
    }
    Error(e), _, _ -> {
      forget_unless_new(tmp, first, unfinished)
      Error(e)
    }
    _, Error(why), _ | _, _, Error(why) -> {
      forget_unless_new(tmp, first, unfinished)
      Error(Issued(tmp, why))
    }
  }
}

// A failed close's record beside the record is kept when it holds keys the
// record lacks (its own rounds' or an earlier unfinished close's).
fn forget_unless_new(tmp: String, first: BitArray, unfinished: Bool) -> Nil {
  case unfinished || files.file_size(tmp) > bytes.size(first) {
    True -> Nil
    False -> {
      let _ = files.delete(tmp)
      Nil
    }
  }
}

fn record_path(path: String) -> String {
  path <> ".tmp"
}

// A file written beside its final one (`tmp`), made afresh with the
// installation's mode (its directories as needed), `first` written.
fn open_beside(tmp: String, first: BitArray) -> Result(files.IoDevice, String) {
  use Nil <- try(files.ensure_dir(tmp))
  use io <- try(files.open(tmp, [files.Write]))
  case files.change_mode(tmp, files.file_mode()), files.write(io, first) {
    Ok(Nil), Ok(Nil) -> Ok(io)
    Error(why), _ | _, Error(why) -> {
      let _ = files.close(io)
      Error(why)
    }
  }
}

// The customers' totals are written beside their file (`PATH.tmp`) round
// by round, synced, and take its place once the close has succeeded.
fn with_totals(
  path: String,
  body: fn(files.IoDevice) -> Result(a, CloseError),
) -> Result(a, CloseError) {
  let tmp = record_path(path)
  use io <- try(case open_beside(tmp, <<>>) {
    Ok(io) -> Ok(io)
    Error(why) -> Error(Totals(tmp, why))
  })
  let result = body(io)
  let synced = case result {
    Ok(_) -> files.sync(io)
    Error(_) -> Ok(Nil)
  }
  let closed = files.close(io)
  case result, synced, closed {
    Ok(done), Ok(Nil), Ok(Nil) -> Ok(done)
    Error(e), _, _ -> {
      let _ = files.delete(tmp)
      Error(e)
    }
    _, Error(why), _ | _, _, Error(why) -> {
      let _ = files.delete(tmp)
      Error(Totals(tmp, why))
    }
  }
}

// The record written beside it takes its place (when there is one: a close
// that added no key leaves the record as it was).
fn record_issued(path: String) -> Result(Nil, CloseError) {
  replace_by_beside(path, Issued)
}

// The file written beside `path` takes its place, the directory synced.
fn replace_by_beside(
  path: String,
  error: fn(String, String) -> CloseError,
) -> Result(Nil, CloseError) {
  let tmp = record_path(path)
  case files.exists(tmp) {
    False -> Ok(Nil)
    True ->
      case files.rename(tmp, path) {
        Ok(Nil) ->
          case sync_dir(files.dirname(path)) {
            Ok(Nil) -> Ok(Nil)
            Error(why) -> Error(error(path, why))
          }
        Error(why) -> Error(error(path, why))
      }
  }
}

// The period's record of keys, with what a close that did not finish left
// beside it (`True`: that added keys, so the record is written anew).
fn read_issued(path: String) -> Result(#(reissue.Issued, Bool), CloseError) {
  use issued <- try(case read_file(path) {
    Error("enoent") -> Ok(reissue.NothingIssued)
    Error(why) -> Error(IssuedUnreadable(path, why))
    Ok(b) ->
      case reissue.parse_record(b) {
        Ok(issued) -> Ok(issued)
        Error(Nil) -> Error(IssuedUnreadable(path, "not a record of keys"))
      }
  })
  let tmp = record_path(path)
  case read_file(tmp) {
    Error("enoent") -> Ok(#(issued, False))
    Error(why) -> {
      reissue.drop(issued)
      Error(IssuedUnreadable(tmp, why))
    }
    Ok(b) -> Ok(reissue.with_unfinished(issued, b))
  }
}

fn all_ok(
  results: List(#(Int, Result(billing.WrittenRound, shard.ShardError))),
  acc: List(billing.WrittenRound),
  next: List(#(Int, option.Option(String))),
) -> Result(
  #(List(billing.WrittenRound), List(#(Int, option.Option(String)))),
  CloseError,
) {
  case results {
    [] -> Ok(#(bytes.reverse(acc), bytes.reverse(next)))
    [#(i, Ok(r)), ..rest] ->
      case r.next {
        option.None -> all_ok(rest, [r, ..acc], next)
        option.Some(_) -> all_ok(rest, [r, ..acc], [#(i, r.next), ..next])
      }
    [#(_, Error(e)), ..] -> Error(ShardFailed(e))
  }
}

fn ones(items: List(book.Item), acc: List(book.Entry)) -> List(book.Entry) {
  case items {
    [] -> bytes.reverse(acc)
    [i, ..rest] -> ones(rest, [book.One(i), ..acc])
  }
}

fn closed_path(settings: Settings) -> String {
  files.join(settings.data_dir, "closed.term")
}

fn read_closed(path: String) -> Result(List(String), String) {
  case read_closed_file(path) {
    Ok(closed) -> Ok(closed)
    Error("enoent") -> Ok([])
    Error(why) -> Error("closer: cannot read " <> path <> ": " <> why)
  }
}

/// The error in words, for a log or a caller's message.
pub fn describe(error: CloseError) -> String {
  case error {
    BadPeriod(period) -> "not a period YYYY-MM: " <> period
    NoPlansConfigured -> "no plans file configured"
    PlansUnreadable(path, why) -> "plans " <> path <> ": " <> why
    SourcesNotRead(reason) ->
      "sources not read to their end: " <> printed(reason)
    ShardFailed(reason) ->
      "a shard could not bill: " <> printed(dynamic.from(reason))
    IssuedUnreadable(path, why) -> "issued keys " <> path <> ": " <> why
    IssuedNotLineKeys(path, key) ->
      "issued keys " <> path <> ": not a line key: " <> key
    Outbox(e) -> outbox_disk.describe(e)
    Issued(path, why) -> "issued keys not recorded " <> path <> ": " <> why
    ClosedRecord(path, why) ->
      "closed period not recorded " <> path <> ": " <> why
    Totals(path, why) -> "customer totals " <> path <> ": " <> why
  }
}

fn try(r: Result(a, e), next: fn(a) -> Result(b, e)) -> Result(b, e) {
  case r {
    Ok(x) -> next(x)
    Error(e) -> Error(e)
  }
}

fn read_to_end() -> Result(Nil, CloseError) {
  case pipeline_read_to_end() {
    Ok(Nil) -> Ok(Nil)
    Error(reason) -> Error(SourcesNotRead(reason))
  }
}

@external(erlang, "tally_outbox_ffi", "read_to_end")
fn pipeline_read_to_end() -> Result(Nil, dynamic.Dynamic)

@external(erlang, "tally_outbox_ffi", "sync_dir")
fn sync_dir(dir: String) -> Result(Nil, String)

@external(erlang, "tally_outbox_ffi", "read_file")
fn read_file(path: String) -> Result(BitArray, String)

@external(erlang, "tally_outbox_ffi", "read_closed")
fn read_closed_file(path: String) -> Result(List(String), String)

@external(erlang, "tally_outbox_ffi", "closed_text")
fn closed_text(periods: List(String)) -> String

@external(erlang, "tally_outbox_ffi", "now_ms")
fn now_ms() -> Int

@external(erlang, "erlang", "garbage_collect")
fn collect_garbage() -> Bool

@external(erlang, "tally_outbox_ffi", "printed")
fn printed(term: dynamic.Dynamic) -> String
