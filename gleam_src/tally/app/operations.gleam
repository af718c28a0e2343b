//// Operating the running system: read every source now, read them to
//// their end, close a period, wait for the outbox to drain, and see what
//// every process counted. The job (`tally/app/job`), the public
//// `tally/pipeline` and the operators' Erlang face (`tally_pipeline`, for
//// `bin/tally eval`) all go through here.
////
//// ```gleam
//// let assert Ok(Nil) = operations.sync()
//// let assert Ok(summary) = operations.close_period("2026-10")
//// let assert Ok(Nil) = operations.drain(stall_ms: 300_000)
//// ```

import tally/app/close_plan
import tally/app/closer
import tally/app/collector
import tally/app/collectors_supervisor
import tally/app/config
import tally/app/ingest_supervisor
import tally/app/outbox
import tally/app/publisher
import tally/app/shard
import tally/engine
import tally/otp/dynamic
import tally/otp/names
import tally/otp/process

/// Why an operation gave up. The names (`{collector_sync, Name, Why}` on
/// the Erlang side) say which step and which source.
pub type OperationError {
  /// A source's collector stayed down (restarting) through every attempt.
  CollectorSync(source: String, reason: dynamic.Dynamic)
  /// A source's collector stopped while reading to the end.
  ReadToEnd(source: String, reason: dynamic.Dynamic)
  /// Nothing was published for the stall time; `waiting` items are left.
  OutboxStalled(waiting: Int)
}

/// What every process counted: each running collector by source, each
/// shard (or why it did not answer), the publisher, the closed periods.
pub type Status {
  Status(
    collectors: List(#(String, collector.Stats)),
    shards: List(Result(shard.ShardCounters, engine.EngineError)),
    publisher: publisher.Stats,
    closed: List(String),
  )
}

/// How often a sync asks again while collectors restart (a shard crash
/// restarts the collectors after it): every 100 ms, 600 times at most (a
/// crash loop).
const sync_attempts = 600

/// Every collector reads what its source holds now and hands it to the
/// shards. No timeout on a collector's sync itself: the reading grows with
/// the input. A collector that restarts meanwhile is asked again while the
/// ingest supervisor is there to restart it.
pub fn sync() -> Result(Nil, OperationError) {
  sync_each(collectors_supervisor.sources(), sync_attempts)
}

fn sync_each(
  sources: List(#(String, Int)),
  attempts: Int,
) -> Result(Nil, OperationError) {
  case sources {
    [] -> Ok(Nil)
    [#(name, index), ..rest] ->
      case catching_exit(fn() { collector.sync(index) }) {
        Ok(Nil) -> sync_each(rest, attempts)
        Error(why) -> {
          let error = CollectorSync(name, why)
          case attempts > 1 && ingest_running() {
            True -> {
              log_notice("collectors restarting during sync, asking again", why)
              process.sleep(100)
              sync_each(sources, attempts - 1)
            }
            False -> Error(error)
          }
        }
      }
  }
}

/// Every collector reads its source to its end, a last line without a
/// newline included (the files are complete: a period is being closed).
/// A collector that stops meanwhile is an error (it restarts; try again).
pub fn read_to_end() -> Result(Nil, OperationError) {
  read_each(collectors_supervisor.sources())
}

fn read_each(sources: List(#(String, Int))) -> Result(Nil, OperationError) {
  case sources {
    [] -> Ok(Nil)
    [#(name, index), ..rest] ->
      case catching_exit(fn() { collector.read_to_end(index) }) {
        Ok(Nil) -> read_each(rest)
        Error(reason) -> Error(ReadToEnd(name, reason))
      }
  }
}

/// Closes and bills `period` (`"2026-10"`); its invoice lines are in the
/// outbox when this returns (the publisher sends them on).
pub fn close_period(
  period: String,
) -> Result(close_plan.CloseSummary, closer.CloseError) {
  closer.close_period(closer.registered(), period)
}

/// Waits until the outbox is empty (everything published and
/// acknowledged). The wait grows with the work: it fails only when nothing
/// was published for `stall_ms` (the sink refuses, or the bus is down that
/// long), naming how many items wait.
pub fn drain(stall_ms stall_ms: Int) -> Result(Nil, OperationError) {
  drain_while_moving(waiting(), now_ms(), stall_ms)
}

fn drain_while_moving(
  last: Int,
  since: Int,
  stall_ms: Int,
) -> Result(Nil, OperationError) {
  case last {
    0 -> Ok(Nil)
    _ -> {
      process.sleep(20)
      let now = now_ms()
      let left = waiting()
      case left == 0, left < last, now - since >= stall_ms {
        True, _, _ -> Ok(Nil)
        False, True, _ -> drain_while_moving(left, now, stall_ms)
        False, False, True -> Error(OutboxStalled(left))
        False, False, False -> drain_while_moving(left, since, stall_ms)
      }
    }
  }
}

fn waiting() -> Int {
  outbox.size(outbox.registered())
}

/// What every process counted (the running system's configuration says
/// how many shards).
pub fn status() -> Status {
  let shards = case config.current() {
    Ok(c) -> c.shards
    Error(Nil) -> 0
  }
  let running = collectors_supervisor.collectors()
  Status(
    collectors: running_stats(collectors_supervisor.sources(), running),
    shards: each_shard(0, shards),
    publisher: publisher.stats(publisher.registered()),
    closed: closer.closed(closer.registered()),
  )
}

fn running_stats(
  sources: List(#(String, Int)),
  running: List(#(String, process.Pid)),
) -> List(#(String, collector.Stats)) {
  case sources {
    [] -> []
    [#(name, index), ..rest] ->
      case is_running(running, name) {
        True -> [
          #(name, collector.stats(index)),
          ..running_stats(rest, running)
        ]
        False -> running_stats(rest, running)
      }
  }
}

fn is_running(running: List(#(String, process.Pid)), name: String) -> Bool {
  case running {
    [] -> False
    [#(n, _), ..rest] -> n == name || is_running(rest, name)
  }
}

fn each_shard(
  index: Int,
  count: Int,
) -> List(Result(shard.ShardCounters, engine.EngineError)) {
  case index < count {
    False -> []
    True -> [shard.counters(index), ..each_shard(index + 1, count)]
  }
}

/// One line for a log or the job's failure.
pub fn describe(error: OperationError) -> String {
  case error {
    CollectorSync(source, reason) ->
      "the collector of " <> source <> " stayed down: " <> printed(reason)
    ReadToEnd(source, reason) ->
      "the collector of "
      <> source
      <> " stopped while reading to the end: "
      <> printed(reason)
    OutboxStalled(waiting) ->
      "nothing was published for the stall time, "
      <> int_to_text(waiting)
      <> " items wait in the outbox"
  }
}

fn ingest_running() -> Bool {
  case process.named(names.fixed(ingest_supervisor.name)) {
    Ok(_) -> True
    Error(Nil) -> False
  }
}

fn log_notice(message: String, detail: dynamic.Dynamic) -> Nil {
  app_log_notice(message, detail)
}

@external(erlang, "tally_app_ffi", "log_notice")
fn app_log_notice(message: String, detail: dynamic.Dynamic) -> Nil

@external(erlang, "tally_app_ffi", "catching_exit")
fn catching_exit(run: fn() -> a) -> Result(a, dynamic.Dynamic)

@external(erlang, "tally_app_ffi", "now_ms")
fn now_ms() -> Int

@external(erlang, "tally_app_ffi", "describe")
fn printed(term: dynamic.Dynamic) -> String

@external(erlang, "erlang", "integer_to_binary")
fn int_to_text(n: Int) -> String
