//// Processes and typed messages: the names and shapes of
//// `gleam/erlang/process` (gleam_erlang 1.x), so a team with Hex packages
//// swaps the import and keeps its code.
////
//// A `Subject(message)` is the typed address of a mailbox: messages sent
//// through it carry its tag, and only the owner receives them. A
//// `Selector(payload)` receives from several subjects and from untyped
//// messages (port data, sockets, monitors, timers, trapped exits) at once,
//// turning each into one type.
////
//// ```gleam
//// let subject = process.new_subject()
//// process.send(subject, 42)
//// process.receive(from: subject, within: 100)
//// // -> Ok(42)
//// ```

import tally/otp/dynamic

/// A process identifier.
pub type Pid

/// A BEAM port (an OS process or driver), as monitors report it.
pub type Port

/// A monitor set up by `monitor`.
pub type Monitor

/// A timer set up by `send_after`.
pub type Timer

/// A process's registered name, typed by the messages its subject takes.
/// Names come from `new_name` (never from input: names are atoms).
pub type Name(message)

/// The typed address of a mailbox: by owner and tag, or by registered name
/// (so the address stays valid when a supervisor restarts the process).
/// Made only by `new_subject` and `named_subject`.
pub type Subject(message)

/// How a set of messages is received and what each becomes.
pub type Selector(payload)

/// Why a process ended.
pub type ExitReason {
  Normal
  Killed
  Abnormal(reason: dynamic.Dynamic)
}

/// A monitored process or port is gone.
pub type Down {
  ProcessDown(monitor: Monitor, pid: Pid, reason: ExitReason)
  PortDown(monitor: Monitor, port: Port, reason: ExitReason)
}

/// A linked process ended, received as a message while trapping exits.
pub type ExitMessage {
  ExitMessage(pid: Pid, reason: ExitReason)
}

/// What `cancel_timer` found.
pub type Cancelled {
  TimerNotFound
  Cancelled(time_remaining: Int)
}

/// The calling process.
@external(erlang, "erlang", "self")
pub fn self() -> Pid

/// Starts a process running `running`, linked to the caller.
///
/// ```gleam
/// let pid = process.spawn(fn() { process.sleep(10) })
/// ```
pub fn spawn(running: fn() -> anything) -> Pid {
  spawn_linked(running)
}

@external(erlang, "tally_otp_ffi", "spawn_linked")
fn spawn_linked(running: fn() -> anything) -> Pid

/// Starts a process running `running`, not linked to the caller.
@external(erlang, "tally_otp_ffi", "spawn_unlinked")
pub fn spawn_unlinked(running: fn() -> anything) -> Pid

/// A new subject owned by the calling process.
@external(erlang, "tally_otp_ffi", "new_subject")
pub fn new_subject() -> Subject(message)

/// The process that receives a subject's messages; `Error(Nil)` for a name
/// nobody holds.
@external(erlang, "tally_otp_ffi", "subject_owner")
pub fn subject_owner(subject: Subject(message)) -> Result(Pid, Nil)

/// Sends a message through a subject (never blocks; a message to a dead
/// process is dropped, a message to an unregistered name fails).
@external(erlang, "tally_otp_ffi", "send")
pub fn send(subject: Subject(message), message: message) -> Nil

/// Waits at most `within` milliseconds for a message on a subject the
/// caller owns.
///
/// ```gleam
/// process.receive(from: process.new_subject(), within: 0)
/// // -> Error(Nil)
/// ```
pub fn receive(
  from subject: Subject(message),
  within timeout: Int,
) -> Result(message, Nil) {
  new_selector()
  |> select(subject)
  |> selector_receive(timeout)
}

/// Waits as long as it takes for a message on a subject.
pub fn receive_forever(from subject: Subject(message)) -> message {
  new_selector()
  |> select(subject)
  |> selector_receive_forever
}

/// A selector that receives nothing yet.
@external(erlang, "tally_otp_ffi", "new_selector")
pub fn new_selector() -> Selector(payload)

/// Waits at most `within` milliseconds for a message the selector takes.
@external(erlang, "tally_otp_ffi", "select")
pub fn selector_receive(
  from selector: Selector(payload),
  within timeout: Int,
) -> Result(payload, Nil)

/// Waits as long as it takes for a message the selector takes.
@external(erlang, "tally_otp_ffi", "select_forever")
pub fn selector_receive_forever(from selector: Selector(payload)) -> payload

/// Adds a subject's messages, as they are.
pub fn select(
  selector: Selector(payload),
  for subject: Subject(payload),
) -> Selector(payload) {
  select_map(selector, subject, identity)
}

/// Adds a subject's messages, each turned into the selector's type.
///
/// ```gleam
/// process.new_selector()
/// |> process.select_map(numbers, fn(n) { Number(n) })
/// |> process.select_map(texts, fn(t) { Text(t) })
/// ```
pub fn select_map(
  selector: Selector(payload),
  for subject: Subject(message),
  mapping transform: fn(message) -> payload,
) -> Selector(payload) {
  insert(selector, subject_tag(subject), transform)
}

/// Removes a subject from the selector.
pub fn deselect(
  selector: Selector(payload),
  for subject: Subject(message),
) -> Selector(payload) {
  remove(selector, subject_tag(subject))
}

/// Adds every message no other entry of the selector takes, untyped (the
/// catch-all: port data, socket messages, timer messages of other code).
@external(erlang, "tally_otp_ffi", "select_other")
pub fn select_other(
  selector: Selector(payload),
  mapping handler: fn(dynamic.Dynamic) -> payload,
) -> Selector(payload)

/// Adds the tuples whose first element is `tag` and that have `fields`
/// more elements (`{tcp, Socket, Data}` is tag `tcp`, 2 fields); the mapping
/// gets the whole tuple.
@external(erlang, "tally_otp_ffi", "select_record")
pub fn select_record(
  selector: Selector(payload),
  tag tag: tag,
  fields arity: Int,
  mapping transform: fn(dynamic.Dynamic) -> payload,
) -> Selector(payload)

/// Adds the `Down` messages of every monitor.
@external(erlang, "tally_otp_ffi", "select_monitors")
pub fn select_monitors(
  selector: Selector(payload),
  mapping mapping: fn(Down) -> payload,
) -> Selector(payload)

/// Adds the `Down` message of one monitor.
@external(erlang, "tally_otp_ffi", "select_specific_monitor")
pub fn select_specific_monitor(
  selector: Selector(payload),
  monitor: Monitor,
  mapping mapping: fn(Down) -> payload,
) -> Selector(payload)

/// Adds the exit messages of linked processes (see `trap_exits`).
@external(erlang, "tally_otp_ffi", "select_trapped_exits")
pub fn select_trapped_exits(
  selector: Selector(payload),
  mapping handler: fn(ExitMessage) -> payload,
) -> Selector(payload)

/// Adds the exit message of one linked process (an actor's parent), ahead
/// of `select_trapped_exits`. A tally addition, used by `tally/otp/actor`.
@external(erlang, "tally_otp_ffi", "select_exit_from")
pub fn select_exit_from(
  selector: Selector(payload),
  pid: Pid,
  mapping handler: fn(ExitReason) -> payload,
) -> Selector(payload)

/// Every entry's result turned by `transform`.
@external(erlang, "tally_otp_ffi", "map_selector")
pub fn map_selector(
  selector: Selector(a),
  mapping transform: fn(a) -> b,
) -> Selector(b)

/// Both selectors' entries; `right`'s win where both take a message.
@external(erlang, "tally_otp_ffi", "merge_selector")
pub fn merge_selector(left: Selector(a), right: Selector(a)) -> Selector(a)

/// Sends a request carrying a reply subject and waits at most `waiting` ms
/// for the reply. When no reply comes in time, or the callee is gone or
/// dies, the caller exits (`{callee_timeout, _}`, `{callee_down, _}`), as
/// `gen_server:call` does.
///
/// ```gleam
/// process.call(counter, waiting: 1000, sending: fn(reply) { Get(reply) })
/// ```
pub fn call(
  subject: Subject(message),
  waiting timeout: Int,
  sending make_request: fn(Subject(reply)) -> message,
) -> reply {
  call_with(subject, make_request, fn(selector) {
    selector_receive(selector, timeout)
  })
}

/// `call` with no time limit (it still ends if the callee dies).
pub fn call_forever(
  subject: Subject(message),
  sending make_request: fn(Subject(reply)) -> message,
) -> reply {
  call_with(subject, make_request, fn(selector) {
    Ok(selector_receive_forever(selector))
  })
}

fn call_with(
  subject: Subject(message),
  make_request: fn(Subject(reply)) -> message,
  wait: fn(Selector(Result(reply, Down))) -> Result(Result(reply, Down), Nil),
) -> reply {
  let owner = case subject_owner(subject) {
    Ok(pid) -> pid
    Error(Nil) -> callee_down(dynamic.from(subject))
  }
  let reply_subject = new_subject()
  let watch = monitor(owner)
  send(subject, make_request(reply_subject))
  let answer =
    new_selector()
    |> select_map(reply_subject, fn(reply) { Ok(reply) })
    |> select_specific_monitor(watch, fn(down) { Error(down) })
    |> wait
  demonitor_process(watch)
  case answer {
    Ok(Ok(reply)) -> reply
    Ok(Error(down)) -> callee_down(dynamic.from(down))
    Error(Nil) -> callee_timeout(dynamic.from(subject))
  }
}

/// Watches a process: a `Down` message comes when it ends (at once if it
/// is already gone).
@external(erlang, "tally_otp_ffi", "monitor")
pub fn monitor(pid: Pid) -> Monitor

/// Stops watching, dropping a `Down` message already received.
@external(erlang, "tally_otp_ffi", "demonitor")
pub fn demonitor_process(monitor: Monitor) -> Nil

/// With `True`, the exit of a linked process comes as a message
/// (`select_trapped_exits`) instead of ending the caller.
@external(erlang, "tally_otp_ffi", "trap_exits")
pub fn trap_exits(trap: Bool) -> Nil

/// Sends `message` through `subject` after `delay` milliseconds.
@external(erlang, "tally_otp_ffi", "send_after")
pub fn send_after(
  subject: Subject(message),
  delay: Int,
  message: message,
) -> Timer

/// Cancels a timer, telling how long it had left.
@external(erlang, "tally_otp_ffi", "cancel_timer")
pub fn cancel_timer(timer: Timer) -> Cancelled

/// Suspends the caller for `ms` milliseconds.
@external(erlang, "tally_otp_ffi", "sleep")
pub fn sleep(ms: Int) -> Nil

/// Ends a process at once, whatever it traps.
@external(erlang, "tally_otp_ffi", "kill")
pub fn kill(pid: Pid) -> Nil

/// Sends an exit signal with reason `normal` (ignored unless trapped).
pub fn send_exit(to pid: Pid) -> Nil {
  send_exit_raw(pid, exit_normal())
}

/// Sends an exit signal with reason `{abnormal, reason}`.
pub fn send_abnormal_exit(pid: Pid, reason: String) -> Nil {
  send_exit_raw(pid, exit_abnormal(reason))
}

/// Links the caller and `pid`: if either ends abnormally the other gets an
/// exit signal. `False` when `pid` is already gone.
@external(erlang, "tally_otp_ffi", "link")
pub fn link(pid: Pid) -> Bool

/// Removes a link.
@external(erlang, "tally_otp_ffi", "unlink")
pub fn unlink(pid: Pid) -> Nil

/// Whether a local process is running.
@external(erlang, "tally_otp_ffi", "is_alive")
pub fn is_alive(pid: Pid) -> Bool

/// A new unique name, `prefix` followed by a number. Create names once, at
/// start, and pass them down: each is an atom, never collected.
///
/// ```gleam
/// let name = process.new_name(prefix: "tally_outbox")
/// ```
@external(erlang, "tally_otp_ffi", "new_name")
pub fn new_name(prefix prefix: String) -> Name(message)

/// Registers `pid` under `name`; `Error(Nil)` when the name is taken or
/// the process is gone.
@external(erlang, "tally_otp_ffi", "register")
pub fn register(pid: Pid, name: Name(message)) -> Result(Nil, Nil)

/// Removes a registration.
@external(erlang, "tally_otp_ffi", "unregister")
pub fn unregister(name: Name(message)) -> Result(Nil, Nil)

/// The process registered under `name`.
@external(erlang, "tally_otp_ffi", "whereis")
pub fn named(name: Name(message)) -> Result(Pid, Nil)

/// The subject of whichever process holds `name` when a message is sent.
@external(erlang, "tally_otp_ffi", "named_subject")
pub fn named_subject(name: Name(message)) -> Subject(message)

// Private FFI and helpers.

@external(erlang, "tally_otp_ffi", "subject_tag")
fn subject_tag(subject: Subject(message)) -> dynamic.Dynamic

fn identity(x: a) -> a {
  x
}

@external(erlang, "tally_otp_ffi", "insert")
fn insert(
  selector: Selector(payload),
  key: dynamic.Dynamic,
  handler: fn(message) -> payload,
) -> Selector(payload)

@external(erlang, "maps", "remove")
fn remove_raw(
  key: dynamic.Dynamic,
  selector: Selector(payload),
) -> Selector(payload)

fn remove(
  selector: Selector(payload),
  key: dynamic.Dynamic,
) -> Selector(payload) {
  remove_raw(key, selector)
}

@external(erlang, "tally_otp_ffi", "send_exit")
fn send_exit_raw(pid: Pid, reason: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_ffi", "callee_down")
fn callee_down(detail: dynamic.Dynamic) -> reply

@external(erlang, "tally_otp_ffi", "callee_timeout")
fn callee_timeout(detail: dynamic.Dynamic) -> reply

@external(erlang, "tally_otp_ffi", "exit_normal")
fn exit_normal() -> dynamic.Dynamic

@external(erlang, "tally_otp_ffi", "exit_abnormal")
fn exit_abnormal(reason: String) -> dynamic.Dynamic
