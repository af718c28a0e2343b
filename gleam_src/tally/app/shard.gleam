//// A shard: an actor holding the aggregator of one shard of customers (a
//// customer's shard is the engine's `shard_of`, the one rule). Collectors
//// send it, per chunk of a file, the engine's batch of the chunk's events
//// for this shard (opaque: no usage event is a term here), where the chunk
//// starts and the position it reaches; it applies the batch unless it
//// already has (`tally/app/progress`), so input read again after a restart
//// is skipped by position. Shards apply their batches concurrently (each on
//// a dirty scheduler with the NIF).
////
//// Snapshots are written by the engine straight to disk (`aggregate.save`),
//// the positions and the length of the late file inside them, so state and
//// positions are always saved together. A save writes what changed since
//// the last one (a delta appended to `shard-N.snapshot.log`; the engine
//// rewrites the base `shard-N.snapshot` when the files grow to twice the
//// state), so it is due every `snapshot_bytes` of input applied
//// (`progress.snapshot_due`), every `snapshot_ms` when anything changed, at
//// period close and at an orderly stop (`snapshot_all`). A snapshot that
//// cannot be read is moved aside (`.bad`, its log too) and the shard starts
//// empty: the collectors read its sources again from the start, which the
//// other shards skip by position.
////
//// Events for a closed period are appended to `late-N.jsonl` (not
//// dropped). A restored shard cuts that file back to the length its
//// snapshot recorded: the events after it are applied, and appended, again.

import tally/aggregate
import tally/app/files
import tally/app/log
import tally/app/progress
import tally/app/source_pos
import tally/backend
import tally/billing
import tally/engine
import tally/event
import tally/option
import tally/otp/actor
import tally/otp/process
import tally/otp/supervision
import tally/pure/bytes
import tally/pure/json_tree
import tally/usage

/// How a shard runs: its `index` among the shards, the engine, the
/// directory of its snapshot and late file, the aggregator's
/// configuration, and when it snapshots (every `snapshot_ms` when changed;
/// by work from `snapshot_bytes` of input).
pub type Config {
  Config(
    index: Int,
    backend: backend.Backend,
    dir: String,
    aggregator: usage.AggregatorConfig,
    snapshot_ms: Int,
    snapshot_bytes: Int,
  )
}

/// Why a shard refused a request.
pub type ShardError {
  /// The engine failed the operation.
  EngineFailed(error: engine.EngineError)
  /// A chunk that does not start where the shard stands in its file.
  ChunkNotAtPosition(from: Int, at: Int)
  /// The snapshot of shard `shard` could not be written.
  SnapshotNotWritten(shard: Int, error: engine.EngineError)
  /// Late events could not be appended to their file (`reason`: POSIX).
  LateEventsNotKept(path: String, reason: String)
  /// The shard stopped before it answered.
  ShardDown(shard: Int)
}

/// What a shard counted: the aggregator's counters, and the snapshots it
/// wrote since it started, with their bytes.
pub type ShardCounters {
  ShardCounters(
    applied: Int,
    duplicates: Int,
    late: Int,
    snapshots: Int,
    snapshot_bytes: Int,
  )
}

/// The messages of a shard (send them with the functions below).
pub opaque type Message {
  Apply(
    file: source_pos.SourceFile,
    generation: Int,
    from: Int,
    to: source_pos.Position,
    batch: option.Option(aggregate.Batch),
    reply: process.Subject(Result(Nil, ShardError)),
  )
  Positions(
    reply: process.Subject(List(#(source_pos.SourceFile, source_pos.Position))),
  )
  Snapshot(reply: process.Subject(Result(Nil, ShardError)))
  CloseRound(
    period: String,
    plans: String,
    version: Int,
    shards: Int,
    from: option.Option(String),
    max_lines: Int,
    answer: fn(Result(billing.WrittenRound, ShardError)) -> Nil,
  )
  Windows(
    reply: process.Subject(
      Result(List(usage.WindowAggregate), engine.EngineError),
    ),
  )
  Counters(reply: process.Subject(Result(ShardCounters, engine.EngineError)))
  SnapshotTick
}

type State {
  State(
    config: Config,
    self: process.Subject(Message),
    aggregator: aggregate.Aggregator,
    progress: progress.Progress,
    late: Int,
    snapshots: Int,
    snapshot_bytes_written: Int,
  )
}

/// The registered name of shard `index`: collectors and the closer find a
/// shard by it, also after the shard restarted.
pub fn name(index: Int) -> process.Name(Message) {
  fixed_name("tally_shard_" <> bytes.int_to_text(index))
}

/// The subject of shard `index` (by its name).
pub fn subject(index: Int) -> process.Subject(Message) {
  process.named_subject(name(index))
}

/// Starts shard `config.index`, linked to the caller (a supervisor),
/// restored from its snapshot when there is one.
pub fn start(config: Config) -> actor.StartResult(Nil) {
  let builder =
    actor.new_with_initialiser(600_000, fn(self) {
      case init(config, self) {
        Ok(state) ->
          Ok(
            actor.initialised(state)
            |> actor.selecting(process.new_selector() |> process.select(self)),
          )
        Error(reason) -> Error(reason)
      }
    })
    |> actor.named(name(config.index))
    |> actor.on_message(handle)
  actor.start(builder)
}

/// Shard `config.index` as a supervisor's worker.
pub fn supervised(config: Config) -> supervision.ChildSpecification(Nil) {
  supervision.worker(fn() { start(config) })
}

/// Asks `shard` to apply its batch of a chunk of `file` (generation and
/// offset `from`; `None`: no events for it) and to record that the file is
/// read up to `to`. The answer comes to `reply`: a collector sends every
/// shard its batch, then waits for them all.
pub fn send_batch(
  shard: process.Subject(Message),
  file file: source_pos.SourceFile,
  generation generation: Int,
  from from: Int,
  to to: source_pos.Position,
  batch batch: option.Option(aggregate.Batch),
  reply reply: process.Subject(Result(Nil, ShardError)),
) -> Nil {
  process.send(shard, Apply(file, generation, from, to, batch, reply))
}

/// Every position shard `index` holds.
pub fn positions(
  index: Int,
) -> List(#(source_pos.SourceFile, source_pos.Position)) {
  actor.call(subject(index), waiting: 60_000, sending: Positions)
}

/// Writes shard `index`'s snapshot now.
pub fn snapshot(index: Int) -> Result(Nil, ShardError) {
  actor.call(subject(index), waiting: 60_000, sending: Snapshot)
}

/// Every one of `shards` shards writes its snapshot now (an orderly
/// stop); a shard that is not running is passed over (its last snapshot
/// stands), and a failure is logged.
pub fn snapshot_all(shards: Int) -> Nil {
  each_index(shards, fn(i) {
    case process.named(name(i)) {
      Error(Nil) -> Nil
      Ok(_) ->
        case catch_exit(fn() { snapshot(i) }) {
          Ok(Ok(Nil)) -> Nil
          Ok(Error(e)) -> log_error("snapshot at stop failed", i, e)
          // Stopping or restarting: its last snapshot stands.
          Error(Nil) -> Nil
        }
    }
  })
}

/// One round of closing a period (`"2026-10"`) in each of the shards
/// `from` names (a shard's index and where its round starts: `None`, its
/// first round), at once (each on its own dirty scheduler with the NIF):
/// each closes the period, bills its customers (`shard_of`) from its
/// `from` on, up to about `max_lines` lines, and answers with them as the
/// engine wrote them (`aggregate.close_round`: outbox batches of lines in
/// the written form with their message ids, no line a term), each
/// customer's total and where its next round starts (`None`: it is done;
/// it snapshots then). The results come in the order of `from`. No
/// timeout: a round's work grows with the usage; a shard that dies
/// answers `ShardDown`.
pub fn close_round(
  from: List(#(Int, option.Option(String))),
  shards shards: Int,
  period period: String,
  plans plans: String,
  version version: Int,
  max_lines max_lines: Int,
) -> List(#(Int, Result(billing.WrittenRound, ShardError))) {
  let waiting =
    map_list(from, fn(f) {
      let #(i, start) = f
      let reply = process.new_subject()
      let monitor = case process.named(name(i)) {
        Ok(pid) -> Ok(process.monitor(pid))
        Error(Nil) -> Error(Nil)
      }
      process.send(
        subject(i),
        CloseRound(period, plans, version, shards, start, max_lines, fn(result) {
          process.send(reply, result)
        }),
      )
      #(i, reply, monitor)
    })
  map_list(waiting, fn(w) {
    let #(i, reply, monitor) = w
    case monitor {
      Error(Nil) -> #(i, Error(ShardDown(i)))
      Ok(m) -> {
        let selector =
          process.new_selector()
          |> process.select(reply)
          |> process.select_specific_monitor(m, fn(_) { Error(ShardDown(i)) })
        let result = process.selector_receive_forever(selector)
        process.demonitor_process(m)
        #(i, result)
      }
    }
  })
}

/// Every window of shard `index`.
pub fn windows(
  index: Int,
) -> Result(List(usage.WindowAggregate), engine.EngineError) {
  actor.call(subject(index), waiting: 60_000, sending: Windows)
}

/// What shard `index` counted.
pub fn counters(index: Int) -> Result(ShardCounters, engine.EngineError) {
  actor.call(subject(index), waiting: 60_000, sending: Counters)
}

// Starting ------------------------------------------------------------------

fn init(
  config: Config,
  self: process.Subject(Message),
) -> Result(State, String) {
  case files.ensure_dir(files.join(config.dir, "x")) {
    Error(reason) -> Error("shard directory " <> config.dir <> ": " <> reason)
    Ok(Nil) ->
      case restore(config) {
        Error(e) -> Error(describe(EngineFailed(e)))
        Ok(#(aggregator, saved)) -> {
          let _ = process.send_after(self, config.snapshot_ms, SnapshotTick)
          Ok(State(
            config: config,
            self: self,
            aggregator: aggregator,
            progress: progress.new(saved, snapshot_bytes: config.snapshot_bytes),
            late: 0,
            snapshots: 0,
            snapshot_bytes_written: 0,
          ))
        }
      }
  }
}

fn restore(
  config: Config,
) -> Result(
  #(aggregate.Aggregator, List(#(source_pos.SourceFile, source_pos.Position))),
  engine.EngineError,
) {
  let path = snapshot_path(config)
  case files.stat(path) {
    Ok(files.FileInfo(True, _, _, _)) ->
      case aggregate.load(on: config.backend, path: path) {
        Ok(usage.Loaded(aggregator, extra)) ->
          case progress.decode(extra) {
            Ok(saved) -> {
              log_notice("shard restored", config.index)
              case files.truncate_at(late_path(config), saved.late_bytes) {
                Ok(Nil) -> Ok(#(aggregator, saved.positions))
                Error(reason) ->
                  Error(engine.SnapshotFailed(late_path(config), reason))
              }
            }
            Error(reason) -> {
              let _ = aggregate.close(aggregator)
              set_aside(config, path, reason)
            }
          }
        Error(e) -> set_aside(config, path, describe(EngineFailed(e)))
      }
    _ -> fresh(config)
  }
}

// Damaged, or not a snapshot of this engine: kept aside, rebuilt from the sources.
fn set_aside(
  config: Config,
  path: String,
  reason: String,
) -> Result(
  #(aggregate.Aggregator, List(#(source_pos.SourceFile, source_pos.Position))),
  engine.EngineError,
) {
  let aside = path <> ".bad"
  log_refused(config.index, path, reason, aside)
  case files.rename(path, aside) {
    Ok(Nil) -> {
      // Its log of deltas goes with it (there may be none).
      let _ = files.rename(path <> ".log", aside <> ".log")
      fresh(config)
    }
    Error(reason) -> Error(engine.SnapshotFailed(path, reason))
  }
}

fn fresh(
  config: Config,
) -> Result(
  #(aggregate.Aggregator, List(#(source_pos.SourceFile, source_pos.Position))),
  engine.EngineError,
) {
  case files.truncate_at(late_path(config), 0) {
    Error(reason) -> Error(engine.SnapshotFailed(late_path(config), reason))
    Ok(Nil) ->
      case aggregate.new(on: config.backend, config: config.aggregator) {
        Ok(aggregator) -> Ok(#(aggregator, []))
        Error(e) -> Error(e)
      }
  }
}

// Messages ------------------------------------------------------------------

fn handle(state: State, message: Message) -> actor.Next(State, Message) {
  case message {
    Apply(file, generation, from, to, batch, reply) ->
      apply(state, file, generation, from, to, batch, reply)
    Positions(reply) -> {
      process.send(reply, progress.positions(state.progress))
      actor.continue(state)
    }
    Snapshot(reply) ->
      case write_snapshot(state) {
        Ok(state) -> {
          process.send(reply, Ok(Nil))
          actor.continue(state)
        }
        Error(e) -> {
          process.send(reply, Error(e))
          actor.continue(state)
        }
      }
    CloseRound(period, plans, version, shards, from, max_lines, answer) ->
      case
        aggregate.close_round(
          state.aggregator,
          period: period,
          plans: plans,
          version: version,
          shard: state.config.index,
          of: shards,
          from: from,
          max_lines: max_lines,
        )
      {
        Error(e) -> {
          answer(Error(EngineFailed(e)))
          actor.continue(state)
        }
        Ok(round) -> {
          // The first round and the last: the closed period snapshotted (a
          // full disk: the close fails and says why; closing again is
          // harmless). After the first, a shard restarted between rounds
          // still knows the period is closed: its events from then on are
          // late, not counted into a period that is being billed.
          let saved = case from, round.next {
            option.None, _ | _, option.None -> write_snapshot(state)
            option.Some(_), option.Some(_) -> Ok(state)
          }
          case saved {
            Ok(state) -> {
              answer(Ok(round))
              // The round's lines are the closer's now; the references left
              // on this heap would keep them until some later collection.
              let _ = collect_garbage()
              actor.continue(state)
            }
            Error(e) -> {
              answer(Error(e))
              actor.continue(state)
            }
          }
        }
      }
    Windows(reply) -> {
      process.send(reply, aggregate.windows(state.aggregator))
      actor.continue(state)
    }
    Counters(reply) -> {
      process.send(reply, case aggregate.counters(state.aggregator) {
        Ok(usage.Counters(applied, duplicates, late)) ->
          Ok(ShardCounters(
            applied: applied,
            duplicates: duplicates,
            late: late,
            snapshots: state.snapshots,
            snapshot_bytes: state.snapshot_bytes_written,
          ))
        Error(e) -> Error(e)
      })
      actor.continue(state)
    }
    SnapshotTick -> {
      let _ =
        process.send_after(state.self, state.config.snapshot_ms, SnapshotTick)
      case progress.dirty(state.progress) {
        False -> actor.continue(state)
        True -> actor.continue(snapshot_or_log(state))
      }
    }
  }
}

fn apply(
  state: State,
  file: source_pos.SourceFile,
  generation: Int,
  from: Int,
  to: source_pos.Position,
  batch: option.Option(aggregate.Batch),
  reply: process.Subject(Result(Nil, ShardError)),
) -> actor.Next(State, Message) {
  case
    progress.decide(
      state.progress,
      file,
      generation: generation,
      from: from,
      to: to,
    )
  {
    source_pos.Skip -> {
      process.send(reply, Ok(Nil))
      actor.continue(state)
    }
    source_pos.NotAtPosition(from, at) -> {
      process.send(reply, Error(ChunkNotAtPosition(from: from, at: at)))
      actor.continue(state)
    }
    source_pos.Apply -> {
      let counted = case batch {
        option.None -> Ok(usage.Counters(0, 0, state.late))
        option.Some(b) -> aggregate.apply_batch(state.aggregator, b)
      }
      case counted {
        Error(e) -> {
          process.send(reply, Error(EngineFailed(e)))
          actor.continue(state)
        }
        Ok(counters) ->
          case keep_late(state, counters.late) {
            Ok(state) -> {
              let state =
                State(
                  ..state,
                  progress: progress.applied(
                    state.progress,
                    file,
                    from: from,
                    to: to,
                  ),
                )
              let state = case progress.snapshot_due(state.progress) {
                True -> snapshot_or_log(state)
                False -> state
              }
              process.send(reply, Ok(Nil))
              actor.continue(state)
            }
            Error(e) -> {
              // The batch is applied but its late events are not kept: the
              // shard restarts from its snapshot (late file cut to match)
              // and the collector sends again.
              process.send(reply, Error(e))
              actor.stop_abnormal(describe(e))
            }
          }
      }
    }
  }
}

// Snapshots and late events ---------------------------------------------------

fn snapshot_path(config: Config) -> String {
  files.join(
    config.dir,
    "shard-" <> bytes.int_to_text(config.index) <> ".snapshot",
  )
}

fn late_path(config: Config) -> String {
  files.join(config.dir, "late-" <> bytes.int_to_text(config.index) <> ".jsonl")
}

// The engine writes the aggregator straight to the file (no export in the
// VM), the positions and the late file's length with it, atomically.
fn write_snapshot(state: State) -> Result(State, ShardError) {
  let extra =
    progress.encode(
      state.progress,
      late_bytes: files.file_size(late_path(state.config)),
    )
  case
    aggregate.save(
      state.aggregator,
      path: snapshot_path(state.config),
      extra: extra,
    )
  {
    Ok(written) ->
      Ok(
        State(
          ..state,
          progress: progress.saved(state.progress),
          snapshots: state.snapshots + 1,
          snapshot_bytes_written: state.snapshot_bytes_written + written,
        ),
      )
    Error(e) -> Error(SnapshotNotWritten(state.config.index, e))
  }
}

fn snapshot_or_log(state: State) -> State {
  case write_snapshot(state) {
    Ok(state) -> state
    Error(e) -> {
      log_error("shard snapshot failed", state.config.index, e)
      state
    }
  }
}

// The aggregator counts late events and keeps them; move them to a file.
fn keep_late(state: State, late: Int) -> Result(State, ShardError) {
  case late == state.late {
    True -> Ok(state)
    False -> {
      let path = late_path(state.config)
      case aggregate.take_late(state.aggregator) {
        Error(e) -> Error(EngineFailed(e))
        Ok(events) ->
          case files.append_durably(path, late_lines(events, <<>>)) {
            Ok(Nil) -> Ok(State(..state, late: late))
            Error(reason) -> Error(LateEventsNotKept(path, reason))
          }
      }
    }
  }
}

fn late_lines(events: List(event.UsageEvent), out: BitArray) -> BitArray {
  case events {
    [] -> out
    [e, ..rest] -> {
      let line =
        json_tree.to_sorted_string(
          json_tree.JObject([
            #("id", json_tree.JString(e.id)),
            #("source", json_tree.JString(e.source)),
            #("customer", json_tree.JString(e.customer)),
            #("resource", json_tree.JString(e.resource)),
            #("meter", json_tree.JString(e.meter)),
            #("value", json_tree.int(e.value)),
            #("time_ms", json_tree.int(e.time_ms)),
          ]),
        )
      late_lines(rest, bytes.append(out, <<line:utf8, "\n":utf8>>))
    }
  }
}

// Helpers ---------------------------------------------------------------------

/// A shard error as text, for logs and exit reasons.
pub fn describe(error: ShardError) -> String {
  inspect(error)
}

fn each_index(n: Int, f: fn(Int) -> Nil) -> Nil {
  let _ = map_index(n, fn(i) { f(i) })
  Nil
}

fn map_index(n: Int, f: fn(Int) -> a) -> List(a) {
  map_from(0, n, f)
}

fn map_from(i: Int, n: Int, f: fn(Int) -> a) -> List(a) {
  case i < n {
    True -> {
      let x = f(i)
      [x, ..map_from(i + 1, n, f)]
    }
    False -> []
  }
}

fn map_list(list: List(a), f: fn(a) -> b) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] -> {
      let y = f(x)
      [y, ..map_list(rest, f)]
    }
  }
}

@external(erlang, "tally_ingest_ffi", "fixed_name")
fn fixed_name(name: String) -> process.Name(message)

@external(erlang, "tally_ingest_ffi", "catch_exit")
fn catch_exit(body: fn() -> a) -> Result(a, Nil)

@external(erlang, "tally_ingest_ffi", "inspect")
fn inspect(term: a) -> String

fn log_error(what: String, shard: Int, error: ShardError) -> Nil {
  log.report(log.ErrorLevel, what, [
    #("shard", bytes.int_to_text(shard)),
    #("reason", describe(error)),
  ])
}

fn log_notice(what: String, shard: Int) -> Nil {
  log.report(log.Notice, what, [#("shard", bytes.int_to_text(shard))])
}

fn log_refused(
  shard: Int,
  path: String,
  reason: String,
  moved_to: String,
) -> Nil {
  log.report(
    log.ErrorLevel,
    "shard snapshot refused, rebuilding from the sources",
    [
      #("shard", bytes.int_to_text(shard)),
      #("path", path),
      #("reason", reason),
      #("moved_to", moved_to),
    ],
  )
}

@external(erlang, "erlang", "garbage_collect")
fn collect_garbage() -> Bool
