//// The publisher: moves items from the outbox to the sink in batches
//// (5000 items by default: one sink write and one outbox acknowledgement
//// each), oldest first, removing from the outbox only what the sink
//// acknowledged. While the sink fails (the bus is down) it retries with
//// exponential backoff and jitter, from 100 ms up to 30 s. Items the sink
//// refuses for good (over the bus's `max_payload`) are logged and parked
//// by the outbox, and the items after them flow. It never touches the
//// collectors' path: billing writes to the outbox on disk and returns,
//// whatever the bus is doing.
////
//// The outbox is `tally/app/outbox` (it tells the publisher `OutboxReady`
//// when items arrive); the sinks are `tally/app/sink_file` and
//// `tally/app/sink_nats`.
////
//// ```gleam
//// let assert Ok(started) = publisher.start(publisher.Config(
////   outbox: outbox, sink: publisher.FileSink("data/invoices.jsonl"),
////   batch: 5000, registered: False))
//// publisher.stats(started.data)
//// // -> publisher.Stats(published: 0, failures: 0, waiting: 0)
//// ```

import tally/app/backoff
import tally/app/config
import tally/app/log
import tally/app/outbox
import tally/app/outbox_book
import tally/app/outbox_disk
import tally/app/sink
import tally/app/sink_file
import tally/app/sink_nats
import tally/billing
import tally/option
import tally/otp/actor
import tally/otp/process
import tally/otp/supervision
import tally/pure/bytes

/// The outbox: its subject.
pub type Outbox =
  process.Subject(outbox.Message)

/// Where the items go.
pub type SinkConfig {
  /// JSON Lines appended to the file at this path.
  FileSink(path: String)
  /// NATS JetStream.
  NatsSink(sink_nats.Config)
}

/// How the publisher runs.
pub type Config {
  Config(
    outbox: Outbox,
    sink: SinkConfig,
    /// Items per batch.
    batch: Int,
    /// Registered as `tally_publisher` (the application's one publisher).
    registered: Bool,
  )
}

/// What the publisher did so far.
pub type Stats {
  Stats(
    /// Items the sink acknowledged (since this process started).
    published: Int,
    /// Batches that failed (each retried or parked).
    failures: Int,
    /// Items in the outbox now.
    waiting: Int,
  )
}

/// A running publisher.
pub opaque type Publisher {
  Publisher(subject: process.Subject(Message))
}

/// The actor's messages (opaque: use `stats`).
pub opaque type Message {
  Drain
  Retry
  GetStats(reply: process.Subject(Stats))
  /// The outbox ended: its restart knows no listener.
  OutboxDown
  /// Asks the (restarted) outbox to tell this publisher of items again.
  Resubscribe
}

type Sink {
  File(sink_file.FileSink)
  Bus(sink_nats.NatsSink)
}

type State {
  State(
    self: process.Subject(Message),
    /// Where the outbox says that items arrived.
    ready: process.Subject(outbox.Ready),
    outbox: Outbox,
    sink: Sink,
    batch: Int,
    backoff: Int,
    retrying: Bool,
    published: Int,
    failures: Int,
  )
}

const backoff_min = 100

const backoff_max = 30_000

/// The default number of items per batch.
pub const default_batch = 5000

/// Starts the publisher linked to the caller: opens the sink (failing to
/// start when the file sink cannot be opened), asks the outbox to tell it
/// when items arrive, and publishes what a previous run left at once.
pub fn start(config: Config) -> actor.StartResult(Publisher) {
  let builder =
    actor.new_with_initialiser(5000, fn(subject) { initialise(config, subject) })
    |> actor.on_message(handle)
  let builder = case config.registered {
    True -> actor.named(builder, registered_name())
    False -> builder
  }
  case actor.start(builder) {
    Ok(actor.Started(pid, subject)) ->
      Ok(actor.Started(pid, Publisher(subject)))
    Error(e) -> Error(e)
  }
}

/// The publisher as a supervisor's child (a permanent worker).
pub fn supervised(config: Config) -> supervision.ChildSpecification(Publisher) {
  supervision.worker(fn() { start(config) })
}

/// The running system's publisher for the decoded configuration: the
/// registered outbox (`tally_outbox`) into the bus when one is configured,
/// else into `data_dir/invoices.jsonl`; registered as `tally_publisher`.
pub fn from_config(app: config.Config) -> Config {
  let sink = case app.bus {
    option.None -> FileSink(app.data_dir <> "/invoices.jsonl")
    option.Some(bus) -> NatsSink(sink_nats.from_config(bus))
  }
  Config(
    outbox: outbox.registered(),
    sink: sink,
    batch: default_batch,
    registered: True,
  )
}

/// The publisher registered as `tally_publisher`, whichever process it is
/// now (a restarted one included).
pub fn registered() -> Publisher {
  Publisher(process.named_subject(registered_name()))
}

/// Counts so far and the outbox's size.
pub fn stats(publisher: Publisher) -> Stats {
  process.call(publisher.subject, waiting: 30_000, sending: GetStats)
}

fn registered_name() -> process.Name(Message) {
  // A constant of the code, not input: one atom.
  binary_to_atom("tally_publisher")
}

fn initialise(
  config: Config,
  subject: process.Subject(Message),
) -> Result(actor.Initialised(State, Message, process.Subject(Message)), String) {
  let opened = case config.sink {
    FileSink(path) ->
      case sink_file.open(path) {
        Ok(file) -> Ok(File(file))
        Error(why) -> Error("sink: " <> why)
      }
    NatsSink(bus) ->
      case sink_nats.open(bus) {
        Ok(bus) -> Ok(Bus(bus))
        Error(why) -> Error("sink: " <> why)
      }
  }
  case opened {
    Error(why) -> Error(why)
    Ok(sink) -> {
      let ready = process.new_subject()
      let selector = subscribe(config.outbox, subject, ready)
      // What a previous run left in the outbox goes first.
      process.send(subject, Drain)
      log.report(log.Notice, "publisher started", [#("sink", describe(sink))])
      actor.initialised(State(
        self: subject,
        ready: ready,
        outbox: config.outbox,
        sink: sink,
        batch: config.batch,
        backoff: backoff_min,
        retrying: False,
        published: 0,
        failures: 0,
      ))
      |> actor.selecting(selector)
      |> actor.returning(subject)
      |> Ok
    }
  }
}

fn handle(state: State, message: Message) -> actor.Next(State, Message) {
  let retrying = state.retrying
  case message {
    // A retry is scheduled: it drains when it is due.
    Drain if retrying -> actor.continue(state)
    Drain -> actor.continue(drain(state))
    Retry -> actor.continue(drain(State(..state, retrying: False)))
    OutboxDown -> {
      process.send_after(state.self, resubscribe_ms, Resubscribe)
      actor.continue(state)
    }
    Resubscribe ->
      case process.subject_owner(state.outbox) {
        // Not back yet (its supervisor is restarting it).
        Error(Nil) -> {
          process.send_after(state.self, resubscribe_ms, Resubscribe)
          actor.continue(state)
        }
        Ok(pid) ->
          case process.is_alive(pid) {
            // An outbox by subject, not by name: it does not come back.
            False -> actor.continue(state)
            True -> {
              let selector = subscribe(state.outbox, state.self, state.ready)
              // What was put while no one listened.
              process.send(state.self, Drain)
              actor.continue(state)
              |> actor.with_selector(selector)
            }
          }
      }
    GetStats(reply) -> {
      process.send(
        reply,
        Stats(state.published, state.failures, outbox.size(state.outbox)),
      )
      actor.continue(state)
    }
  }
}

const resubscribe_ms = 100

// Asks the outbox to tell `ready` when items arrive, and watches it: the
// outbox keeps its listeners in memory, so one restarted by its supervisor
// (one_for_one: the publisher lives on) would never wake this publisher and
// what is put after would wait for the next restart of the VM. The
// selector: the publisher's messages, the outbox's news, its end.
fn subscribe(
  outbox: Outbox,
  self: process.Subject(Message),
  ready: process.Subject(outbox.Ready),
) -> process.Selector(Message) {
  let selector =
    process.new_selector()
    |> process.select(self)
    |> process.select_map(ready, fn(_) { Drain })
  outbox.notify(outbox, ready)
  case process.subject_owner(outbox) {
    Ok(pid) ->
      process.select_specific_monitor(selector, process.monitor(pid), fn(_) {
        OutboxDown
      })
    Error(Nil) -> selector
  }
}

// One batch per message: calls (stats) are answered between batches.
fn drain(state: State) -> State {
  case outbox.peek_batch(state.outbox, state.batch) {
    Error(e) ->
      retry(
        State(..state, failures: state.failures + 1),
        outbox_disk.describe(e),
      )
    Ok(outbox_book.PeekedItems([])) -> state
    Ok(outbox_book.PeekedItems(entries)) -> {
      let #(sink, outcome) = publish(state.sink, items(entries, []))
      settle(State(..state, sink: sink), outcome)
    }
    // The engine's batch: the file sink appends its lines as they are, and
    // the outbox drops it whole.
    Ok(outbox_book.PeekedLines(subject, lines)) ->
      case state.sink {
        File(file) -> {
          let #(file, outcome) = sink_file.publish_written(file, lines)
          let state = State(..state, sink: File(file))
          case outcome {
            sink_file.Stored -> ack_written(state, file, lines, [])
            // Some of its lines were in the file already: every line is now.
            sink_file.ItemByItem(sink.Published(keys)) ->
              ack_written(state, file, lines, keys)
            sink_file.ItemByItem(outcome) -> settle(state, outcome)
          }
        }
        Bus(_) -> {
          let entries = outbox_book.lines_items(subject, lines)
          let #(sink, outcome) = publish(state.sink, items(entries, []))
          settle(State(..state, sink: sink), outcome)
        }
      }
  }
}

// Every line of the engine's batch is in the file sink: the outbox drops
// the batch whole, and the sink stops checking for its keys.
fn ack_written(
  state: State,
  file: sink_file.FileSink,
  lines: billing.WrittenBatch,
  keys: List(String),
) -> State {
  case outbox.ack_batch(state.outbox, lines.ids) {
    Ok(Nil) -> {
      process.send(state.self, Drain)
      let file =
        sink_file.acknowledged(
          sink_file.acknowledged_batch(file, lines.ids),
          keys,
        )
      State(
        ..state,
        sink: File(file),
        backoff: backoff_min,
        published: state.published + lines.count,
      )
    }
    Error(e) ->
      retry(
        State(..state, failures: state.failures + 1),
        "outbox ack: " <> outbox_disk.describe(e),
      )
  }
}

// What a sink's outcome leaves to do: acknowledge what it took, park what
// it refuses for good, retry the rest later.
fn settle(state: State, outcome: sink.Outcome) -> State {
  case outcome {
    sink.Published(keys) ->
      case ack(state.outbox, keys) {
        Ok(Nil) -> {
          process.send(state.self, Drain)
          State(
            ..state,
            sink: acknowledged(state.sink, keys),
            backoff: backoff_min,
            published: state.published + bytes.length(keys),
          )
        }
        // Not remembered as acknowledged: sent again later, the sink dedups.
        Error(why) ->
          retry(
            State(..state, failures: state.failures + 1),
            "outbox ack: " <> why,
          )
      }
    sink.TooLarge(keys, refused) -> park(state, keys, refused)
    sink.Failed(keys, reason) -> {
      let #(acked, sink) = case ack(state.outbox, keys) {
        Ok(Nil) -> #(bytes.length(keys), acknowledged(state.sink, keys))
        Error(_) -> #(0, state.sink)
      }
      retry(
        State(
          ..state,
          sink: sink,
          published: state.published + acked,
          failures: state.failures + 1,
        ),
        reason,
      )
    }
  }
}

// Items the sink refuses for good (over the server's max_payload) are not
// retried: each is logged as an error with its key and parked by the
// outbox (parked.jsonl, not remembered as acknowledged, so a later close
// after the limit is raised puts it again); the items after them flow.
fn park(
  state: State,
  keys: List(String),
  refused: List(sink.Refused),
) -> State {
  let #(acked, sink) = case ack(state.outbox, keys) {
    Ok(Nil) -> #(bytes.length(keys), acknowledged(state.sink, keys))
    Error(_) -> #(0, state.sink)
  }
  log_refused(refused)
  let state =
    State(
      ..state,
      sink: sink,
      published: state.published + acked,
      failures: state.failures + 1,
    )
  case park_keys(state.outbox, refused_keys(refused, []), "payload_too_large") {
    Ok(Nil) -> {
      process.send(state.self, Drain)
      state
    }
    Error(why) -> retry(state, "outbox park: " <> why)
  }
}

fn log_refused(refused: List(sink.Refused)) -> Nil {
  case refused {
    [] -> Nil
    [sink.Refused(key, size, max), ..rest] -> {
      log.report(
        log.ErrorLevel,
        "invoice line over the bus's max_payload, parked",
        [
          #("key", key),
          #("size", bytes.int_to_text(size)),
          #("max_payload", bytes.int_to_text(max)),
        ],
      )
      log_refused(rest)
    }
  }
}

fn refused_keys(
  refused: List(sink.Refused),
  acc: List(String),
) -> List(String) {
  case refused {
    [] -> bytes.reverse(acc)
    [sink.Refused(key, _, _), ..rest] -> refused_keys(rest, [key, ..acc])
  }
}

fn retry(state: State, reason: String) -> State {
  let #(delay, next_backoff) =
    backoff.next(
      backoff: state.backoff,
      random: uniform(state.backoff),
      ceiling: backoff_max,
    )
  log.report(log.Warning, "publish failed, retrying", [
    #("reason", reason),
    #("retry_in_ms", bytes.int_to_text(delay)),
  ])
  process.send_after(state.self, delay, Retry)
  State(..state, retrying: True, backoff: next_backoff)
}

fn publish(sink: Sink, items: List(sink.Item)) -> #(Sink, sink.Outcome) {
  case sink {
    File(file) -> {
      let #(file, outcome) = sink_file.publish(file, items)
      #(File(file), outcome)
    }
    Bus(bus) -> {
      let #(bus, outcome) = sink_nats.publish(bus, items)
      #(Bus(bus), outcome)
    }
  }
}

// The outbox remembers these keys as acknowledged: the file sink stops
// checking for them.
fn acknowledged(sink: Sink, keys: List(String)) -> Sink {
  case sink {
    File(file) -> File(sink_file.acknowledged(file, keys))
    Bus(_) -> sink
  }
}

fn describe(sink: Sink) -> String {
  case sink {
    File(file) -> sink_file.describe(file)
    Bus(bus) -> sink_nats.describe(bus)
  }
}

fn items(
  entries: List(outbox_book.Item),
  acc: List(sink.Item),
) -> List(sink.Item) {
  case entries {
    [] -> bytes.reverse(acc)
    [outbox_book.Item(key, subject, payload), ..rest] ->
      items(rest, [sink.Item(key, subject, <<payload:utf8>>), ..acc])
  }
}

// --- The outbox (tally/app/outbox) ---------------------------------------

fn ack(o: Outbox, keys: List(String)) -> Result(Nil, String) {
  described(outbox.ack(o, keys))
}

fn park_keys(
  o: Outbox,
  keys: List(String),
  why: String,
) -> Result(Nil, String) {
  described(outbox.park(o, keys, why))
}

fn described(
  result: Result(Nil, outbox_disk.OutboxError),
) -> Result(Nil, String) {
  case result {
    Ok(Nil) -> Ok(Nil)
    Error(e) -> Error(outbox_disk.describe(e))
  }
}

@external(erlang, "erlang", "binary_to_atom")
fn binary_to_atom(text: String) -> process.Name(Message)

@external(erlang, "rand", "uniform")
fn uniform(below: Int) -> Int
