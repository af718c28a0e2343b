//// Closes billing periods, as an actor: on demand (`close_period`) and on a
//// schedule (once a calendar month has been over for `grace_ms`, checked
//// every `check_ms`; `tally/app/close_plan` decides which). Closing reads
//// the sources to their end (as `tally bill` reads its files), bills every
//// shard with the plans file at once (each shard bills the customers
//// `tally_core::shard::shard_of` gives it: each customer once), puts the
//// invoice lines and a reissue's voids into the outbox (durably, before
//// answering), records the period's keys (`issued/PERIOD`) and then the
//// period as closed (`closed.term`).
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
import tally/pure/bytes

/// What the closer needs of the configuration.
pub type Settings {
  Settings(
    /// Where `closed.term` and `issued/` live.
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
  // Each shard bills its own customers (with usage or named in the plans),
  // all at once; together they bill each customer once.
  use shards <- try(
    all_ok(
      shard.close_period(
        settings.shards,
        period: period,
        plans: bytes.to_text(plans),
        version: settings.invoice_version,
      ),
      [],
    ),
  )
  let issued_path = files.join(files.join(settings.data_dir, "issued"), period)
  use issued <- try(read_issued(issued_path))
  use r <- try(
    case
      reissue.voids(
        issued,
        close_plan.id_blobs(shards),
        settings.invoice_version,
        settings.subject,
      )
    {
      Ok(r) -> Ok(r)
      Error(reissue.NotALineKey(k)) -> Error(IssuedNotLineKeys(issued_path, k))
    },
  )
  // The engine's batches and the voids in one put (it checks what waits or
  // was acknowledged once), then the period's keys recorded.
  let entries =
    append(close_plan.entries(shards, settings.subject), ones(r.voids, []))
  use _ <- try(case outbox.put_entries(settings.outbox, entries) {
    Ok(Nil) -> Ok(Nil)
    Error(e) -> Error(Outbox(e))
  })
  use _ <- try(case r.record {
    reissue.KeepRecord -> Ok(Nil)
    reissue.WriteRecord(record) ->
      case files.write_durably(issued_path, record) {
        Ok(Nil) -> Ok(Nil)
        Error(why) -> Error(Issued(issued_path, why))
      }
  })
  Ok(close_plan.summary(period, shards, bytes.length(r.voids)))
}

fn read_issued(path: String) -> Result(reissue.Issued, CloseError) {
  case read_file(path) {
    Error("enoent") -> Ok(reissue.NothingIssued)
    Error(why) -> Error(IssuedUnreadable(path, why))
    Ok(b) ->
      case reissue.parse_record(b) {
        Ok(issued) -> Ok(issued)
        Error(Nil) -> Error(IssuedUnreadable(path, "not a record of keys"))
      }
  }
}

fn all_ok(
  results: List(Result(billing.WrittenInvoice, shard.ShardError)),
  acc: List(billing.WrittenInvoice),
) -> Result(List(billing.WrittenInvoice), CloseError) {
  case results {
    [] -> Ok(bytes.reverse(acc))
    [Ok(w), ..rest] -> all_ok(rest, [w, ..acc])
    [Error(e), ..] -> Error(ShardFailed(e))
  }
}

fn append(a: List(x), b: List(x)) -> List(x) {
  case b {
    [] -> a
    _ -> bytes.reverse(prepend_reversed(bytes.reverse(b), bytes.reverse(a)))
  }
}

fn prepend_reversed(rev_b: List(x), rev_a: List(x)) -> List(x) {
  case rev_b {
    [] -> rev_a
    [x, ..rest] -> prepend_reversed(rest, [x, ..rev_a])
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
