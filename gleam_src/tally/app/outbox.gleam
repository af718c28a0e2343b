//// The durable outbox between billing and the bus, as an actor: it holds
//// the outbox open on its directory (`tally/app/outbox_disk`, whose
//// bookkeeping is `tally/app/outbox_book`) and serves one request at a
//// time. The closer puts a close's lines (returning once they are on disk);
//// the publisher peeks the oldest items, acknowledges what the sink took
//// and parks what it refuses for good. After a crash or restart every item
//// not acknowledged is published again (the sinks deduplicate by key), and a
//// put skips keys acknowledged before, however long ago.
////
//// No call here has a time limit: a put's work grows with its items, and
//// the caller is monitored by the call, so a dead outbox still ends it.
////
//// ```gleam
//// let assert Ok(started) = outbox.start(dir: "/var/lib/tally/outbox")
//// let assert Ok(Nil) =
////   outbox.put(started.data, [outbox_book.Item(key, subject, json)])
//// ```

import tally/app/outbox_book as book
import tally/app/outbox_disk as disk
import tally/option
import tally/otp/actor
import tally/otp/names
import tally/otp/process
import tally/otp/supervision

/// A request to the outbox.
pub type Message {
  Put(
    entries: List(book.Entry),
    reply: process.Subject(Result(Nil, disk.OutboxError)),
  )
  PutInRun(
    entries: List(book.Entry),
    continues: Bool,
    reply: process.Subject(Result(Nil, disk.OutboxError)),
  )
  EndRun(reply: process.Subject(Nil))
  Peek(
    n: Int,
    reply: process.Subject(Result(List(book.Item), disk.OutboxError)),
  )
  Ack(keys: List(String), reply: process.Subject(Result(Nil, disk.OutboxError)))
  Park(
    keys: List(String),
    why: String,
    reply: process.Subject(Result(Nil, disk.OutboxError)),
  )
  PeekBatch(
    n: Int,
    reply: process.Subject(Result(book.Peeked, disk.OutboxError)),
  )
  AckBatch(ids: BitArray, reply: process.Subject(Result(Nil, disk.OutboxError)))
  Size(reply: process.Subject(Int))
  Notify(listener: process.Subject(Ready), reply: process.Subject(Nil))
  IsAcked(key: String, reply: process.Subject(Result(Bool, disk.OutboxError)))
}

/// What a listener gets whenever items are put.
pub type Ready {
  OutboxReady
}

type State {
  State(outbox: disk.Outbox, listeners: List(process.Subject(Ready)))
}

/// Starts the outbox on `dir` (made when missing), linked to the caller;
/// `Started.data` is its subject. Fails when the directory cannot be made or
/// read, or holds a batch file that is not one.
pub fn start(
  dir dir: String,
) -> Result(actor.Started(process.Subject(Message)), actor.StartError) {
  builder(dir, option.None)
  |> actor.start
}

/// Starts the outbox registered under `name` (its subject is then
/// `process.named_subject(name)`, valid across restarts).
pub fn start_named(
  dir dir: String,
  name name: process.Name(Message),
) -> Result(actor.Started(process.Subject(Message)), actor.StartError) {
  builder(dir, option.Some(name))
  |> actor.start
}

/// The application's outbox as a supervisor's child: started on `dir`
/// and registered as `tally_outbox` (`registered()`).
pub fn supervised(
  dir: String,
) -> supervision.ChildSpecification(process.Subject(Message)) {
  supervision.worker(fn() { start_named(dir, app_name()) })
}

/// The subject of the application's outbox (`supervised`).
pub fn registered() -> process.Subject(Message) {
  process.named_subject(app_name())
}

fn app_name() -> process.Name(Message) {
  names.fixed("tally_outbox")
}

fn builder(
  dir: String,
  name: option.Option(process.Name(Message)),
) -> actor.Builder(State, Message, process.Subject(Message)) {
  // Opening reads the oldest batch and its groups' acknowledged keys.
  let b =
    actor.new_with_initialiser(60_000, fn(subject) {
      case disk.open(dir) {
        Ok(#(outbox, unknown)) -> {
          warn_unknown(dir, unknown)
          actor.initialised(State(outbox, []))
          |> actor.returning(subject)
          |> Ok
        }
        Error(e) -> Error(disk.describe(e))
      }
    })
    |> actor.on_message(handle)
  case name {
    option.Some(n) -> actor.named(b, n)
    option.None -> b
  }
}

fn warn_unknown(dir: String, names: List(String)) -> Nil {
  case names {
    [] -> Nil
    _ -> log_unknown(dir, names)
  }
}

@external(erlang, "tally_outbox_ffi", "log_unknown")
fn log_unknown(dir: String, names: List(String)) -> Nil

fn handle(state: State, message: Message) -> actor.Next(State, Message) {
  case message {
    Put(entries, reply) -> {
      let #(outbox, result) = disk.put_entries(state.outbox, entries)
      case result {
        Ok(Nil) -> tell(state.listeners)
        Error(_) -> Nil
      }
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    PutInRun(entries, continues, reply) -> {
      let #(outbox, result) = disk.put_in_run(state.outbox, entries, continues)
      case result {
        Ok(Nil) -> tell(state.listeners)
        Error(_) -> Nil
      }
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    EndRun(reply) -> {
      process.send(reply, Nil)
      actor.continue(State(..state, outbox: disk.end_run(state.outbox)))
    }
    Peek(n, reply) -> {
      let #(outbox, result) = disk.peek(state.outbox, n)
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    Ack(keys, reply) -> {
      let #(outbox, result) = disk.ack(state.outbox, keys)
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    Park(keys, why, reply) -> {
      let #(outbox, result) = disk.park(state.outbox, keys, why)
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    PeekBatch(n, reply) -> {
      let #(outbox, result) = disk.peek_batch(state.outbox, n)
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    AckBatch(ids, reply) -> {
      let #(outbox, result) = disk.ack_batch(state.outbox, ids)
      process.send(reply, result)
      actor.continue(State(..state, outbox: outbox))
    }
    Size(reply) -> {
      process.send(reply, disk.size(state.outbox))
      actor.continue(state)
    }
    Notify(listener, reply) -> {
      process.send(reply, Nil)
      actor.continue(State(..state, listeners: [listener, ..state.listeners]))
    }
    IsAcked(key, reply) -> {
      process.send(reply, disk.acked(state.outbox, key))
      actor.continue(state)
    }
  }
}

fn tell(listeners: List(process.Subject(Ready))) -> Nil {
  case listeners {
    [] -> Nil
    [l, ..rest] -> {
      process.send(l, OutboxReady)
      tell(rest)
    }
  }
}

/// Stores the items durably, but those whose key was acknowledged before,
/// waits already, or comes earlier in `items`; returns once they are on
/// disk (one fsync per batch of up to 5000 items, one directory fsync).
pub fn put(
  outbox: process.Subject(Message),
  items: List(book.Item),
) -> Result(Nil, disk.OutboxError) {
  put_entries(outbox, one_each(items, []))
}

fn one_each(items: List(book.Item), acc: List(book.Entry)) -> List(book.Entry) {
  case items {
    [] -> reverse(acc)
    [i, ..rest] -> one_each(rest, [book.One(i), ..acc])
  }
}

@external(erlang, "lists", "reverse")
fn reverse(list: List(a)) -> List(a)

/// `put` of entries: the engine's batches of lines (`book.Lines`) are
/// stored as they are when none of their keys can be waiting or
/// acknowledged, else taken apart and checked like items.
pub fn put_entries(
  outbox: process.Subject(Message),
  entries: List(book.Entry),
) -> Result(Nil, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { Put(entries, reply) })
}

/// `put_entries` as one put of a run (`outbox_disk.put_in_run`): a close
/// puts its lines a round at a time, each round `continues` the run its
/// first round began, and none of a round's keys is one put earlier in the
/// run; what waits and what was acknowledged is checked as the run began,
/// so the engine's batches stay whole however much of the run waits.
pub fn put_in_run(
  outbox: process.Subject(Message),
  entries: List(book.Entry),
  continues continues: Bool,
) -> Result(Nil, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { PutInRun(entries, continues, reply) })
}

/// Ends the run of `put_in_run`: the outbox forgets what it read for it.
pub fn end_run(outbox: process.Subject(Message)) -> Nil {
  process.call_forever(outbox, fn(reply) { EndRun(reply) })
}

/// Up to `n` of the oldest items, without removing them (at most one
/// batch's).
pub fn peek(
  outbox: process.Subject(Message),
  n: Int,
) -> Result(List(book.Item), disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { Peek(n, reply) })
}

/// The oldest batch: the engine's batch whole (`book.PeekedLines`) when it
/// was stored as it is and none of it was acknowledged, else up to `n`
/// items (`book.PeekedItems`).
pub fn peek_batch(
  outbox: process.Subject(Message),
  n: Int,
) -> Result(book.Peeked, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { PeekBatch(n, reply) })
}

/// Acknowledges every item of the engine's batch with these `ids` (from
/// `peek_batch`) at once.
pub fn ack_batch(
  outbox: process.Subject(Message),
  ids: BitArray,
) -> Result(Nil, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { AckBatch(ids, reply) })
}

/// Removes acknowledged items and remembers their keys as acknowledged.
pub fn ack(
  outbox: process.Subject(Message),
  keys: List(String),
) -> Result(Nil, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { Ack(keys, reply) })
}

/// Moves the waiting items with these keys to `parked.jsonl` with the
/// reason they cannot be published (not remembered as acknowledged).
pub fn park(
  outbox: process.Subject(Message),
  keys: List(String),
  why: String,
) -> Result(Nil, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { Park(keys, why, reply) })
}

/// Items waiting.
pub fn size(outbox: process.Subject(Message)) -> Int {
  process.call_forever(outbox, fn(reply) { Size(reply) })
}

/// `listener` gets `OutboxReady` whenever items are put.
pub fn notify(
  outbox: process.Subject(Message),
  listener: process.Subject(Ready),
) -> Nil {
  process.call_forever(outbox, fn(reply) { Notify(listener, reply) })
}

/// Whether the key was acknowledged once (from the durable memory).
pub fn acked(
  outbox: process.Subject(Message),
  key: String,
) -> Result(Bool, disk.OutboxError) {
  process.call_forever(outbox, fn(reply) { IsAcked(key, reply) })
}
