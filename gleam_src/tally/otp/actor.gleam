//// Actors: a process with a state, typed messages and a handler, in the
//// names and shapes of `gleam/otp/actor` (gleam_otp 1.x).
////
//// ```gleam
//// pub type Message {
////   Add(Int)
////   Get(reply: process.Subject(Int))
//// }
////
//// let assert Ok(started) =
////   actor.new(0)
////   |> actor.on_message(fn(total, message) {
////     case message {
////       Add(n) -> actor.continue(total + n)
////       Get(reply) -> {
////         process.send(reply, total)
////         actor.continue(total)
////       }
////     }
////   })
////   |> actor.start
//// actor.send(started.data, Add(2))
//// actor.call(started.data, waiting: 100, sending: fn(r) { Get(r) })
//// // -> 2
//// ```
////
//// `start` links the actor to the caller and returns once its initialiser
//// has run, so an actor fits under a supervisor (`tally/otp/supervision`).
//// When the actor traps exits, an exit signal from the process that
//// started it (its supervisor) ends it with the same reason.

import tally/option
import tally/otp/dynamic
import tally/otp/process

/// How to start an actor: its initialiser, its handler, its name.
pub opaque type Builder(state, message, return) {
  Builder(
    initialise: fn(process.Subject(message)) ->
      Result(Initialised(state, message, return), String),
    initialisation_timeout: Int,
    on_message: fn(state, message) -> Next(state, message),
    name: option.Option(process.Name(message)),
  )
}

/// What an initialiser gives back: the first state, the selector (by
/// default the actor's own subject) and what `start` returns.
pub opaque type Initialised(state, message, return) {
  Initialised(
    state: state,
    selector: option.Option(process.Selector(message)),
    return: return,
  )
}

/// What the handler decides after a message.
pub opaque type Next(state, message) {
  Continue(state: state, selector: option.Option(process.Selector(message)))
  NormalStop
  AbnormalStop(reason: String)
}

/// A started actor: its pid and what its initialiser returned (by default
/// its subject).
pub type Started(data) {
  Started(pid: process.Pid, data: data)
}

/// Why an actor did not start.
pub type StartError {
  /// The initialiser did not finish within the builder's timeout; the
  /// process was killed.
  InitTimeout
  /// The initialiser returned an error.
  InitFailed(String)
  /// The process ended during initialisation.
  InitExited(process.ExitReason)
}

/// The result of starting an actor or a supervisor.
pub type StartResult(data) =
  Result(Started(data), StartError)

/// An actor whose state starts as `state`, returning its subject. The
/// default handler keeps the state; set one with `on_message`.
pub fn new(state: state) -> Builder(state, message, process.Subject(message)) {
  Builder(
    initialise: fn(subject) { Ok(Initialised(state, option.None, subject)) },
    initialisation_timeout: 1000,
    on_message: fn(state, _message) { continue(state) },
    name: option.None,
  )
}

/// An actor whose first state comes from `initialise`, run in the new
/// process with the actor's subject, within `timeout` ms.
///
/// ```gleam
/// actor.new_with_initialiser(1000, fn(subject) {
///   actor.initialised(open_files())
///   |> actor.returning(subject)
///   |> Ok
/// })
/// ```
pub fn new_with_initialiser(
  timeout: Int,
  initialise: fn(process.Subject(message)) ->
    Result(Initialised(state, message, return), String),
) -> Builder(state, message, return) {
  Builder(
    initialise: initialise,
    initialisation_timeout: timeout,
    on_message: fn(state, _message) { continue(state) },
    name: option.None,
  )
}

/// The first state, from an initialiser.
pub fn initialised(state: state) -> Initialised(state, message, Nil) {
  Initialised(state, option.None, Nil)
}

/// Receives with `selector` instead of the actor's own subject (include
/// the subject in it to keep receiving from it).
pub fn selecting(
  initialised: Initialised(state, message, return),
  selector: process.Selector(message),
) -> Initialised(state, message, return) {
  Initialised(..initialised, selector: option.Some(selector))
}

/// What `start` gives back in `Started.data`.
pub fn returning(
  initialised: Initialised(state, message, old),
  value: return,
) -> Initialised(state, message, return) {
  Initialised(initialised.state, initialised.selector, value)
}

/// The handler: the state and a message in, what next out.
pub fn on_message(
  builder: Builder(state, message, return),
  handler: fn(state, message) -> Next(state, message),
) -> Builder(state, message, return) {
  Builder(..builder, on_message: handler)
}

/// Registers the actor under `name`; its subject is then the name's, so it
/// stays valid when a supervisor restarts the actor.
pub fn named(
  builder: Builder(state, message, return),
  name: process.Name(message),
) -> Builder(state, message, return) {
  Builder(..builder, name: option.Some(name))
}

/// Carry on with `state`.
pub fn continue(state: state) -> Next(state, message) {
  Continue(state, option.None)
}

/// Stop, with reason `normal`.
pub fn stop() -> Next(state, message) {
  NormalStop
}

/// Stop, with reason `{abnormal, reason}` (a supervisor restarts it).
pub fn stop_abnormal(reason: String) -> Next(state, message) {
  AbnormalStop(reason)
}

/// Carry on, receiving from now on with `selector`.
pub fn with_selector(
  value: Next(state, message),
  selector: process.Selector(message),
) -> Next(state, message) {
  case value {
    Continue(state, _) -> Continue(state, option.Some(selector))
    other -> other
  }
}

/// Sends a message to an actor.
pub fn send(subject: process.Subject(message), message: message) -> Nil {
  process.send(subject, message)
}

/// Sends a request and waits at most `waiting` ms for the reply (see
/// `process.call`).
pub fn call(
  subject: process.Subject(message),
  waiting timeout: Int,
  sending make_message: fn(process.Subject(reply)) -> message,
) -> reply {
  process.call(subject, timeout, make_message)
}

/// Starts the actor linked to the caller and waits for its initialiser.
pub fn start(
  builder: Builder(state, message, return),
) -> Result(Started(return), StartError) {
  let parent = process.self()
  let ack = process.new_subject()
  let pid = process.spawn(fn() { initialise_and_run(builder, parent, ack) })
  let watch = process.monitor(pid)
  let outcome =
    process.new_selector()
    |> process.select_map(ack, fn(result) { Acked(result) })
    |> process.select_specific_monitor(watch, fn(down) { ExitedEarly(down) })
    |> process.selector_receive(builder.initialisation_timeout)
  case outcome {
    Ok(Acked(Ok(data))) -> {
      process.demonitor_process(watch)
      Ok(Started(pid, data))
    }
    Ok(Acked(Error(reason))) -> {
      process.demonitor_process(watch)
      unlink_flush(pid)
      Error(InitFailed(reason))
    }
    Ok(ExitedEarly(down)) -> {
      unlink_flush(pid)
      case down {
        process.ProcessDown(_, _, reason) -> Error(InitExited(reason))
        process.PortDown(_, _, reason) -> Error(InitExited(reason))
      }
    }
    Error(Nil) -> {
      unlink_flush(pid)
      process.kill(pid)
      process.demonitor_process(watch)
      Error(InitTimeout)
    }
  }
}

type Ack(return) {
  Acked(Result(return, String))
  ExitedEarly(process.Down)
}

/// What the actor's loop receives: the user's messages, or what the
/// actor itself handles (its parent's exit, system messages, strays).
type Received(message) {
  Message(message)
  ParentExited(dynamic.Dynamic)
  System(dynamic.Dynamic)
  Unexpected(dynamic.Dynamic)
}

fn initialise_and_run(
  builder: Builder(state, message, return),
  parent: process.Pid,
  ack: process.Subject(Result(return, String)),
) -> Nil {
  let registered = case builder.name {
    option.None -> Ok(process.new_subject())
    option.Some(name) ->
      case process.register(process.self(), name) {
        Ok(Nil) -> Ok(process.named_subject(name))
        Error(Nil) ->
          Error("the name " <> name_text(name) <> " is already registered")
      }
  }
  case registered {
    Error(reason) -> process.send(ack, Error(reason))
    Ok(subject) ->
      case builder.initialise(subject) {
        Error(reason) -> process.send(ack, Error(reason))
        Ok(Initialised(state, selector, data)) -> {
          let user_selector = case selector {
            option.Some(s) -> s
            option.None ->
              process.new_selector()
              |> process.select(subject)
          }
          process.send(ack, Ok(data))
          run(
            builder.on_message,
            state,
            full_selector(user_selector, parent),
            parent,
          )
        }
      }
  }
}

fn full_selector(
  user: process.Selector(message),
  parent: process.Pid,
) -> process.Selector(Received(message)) {
  process.map_selector(user, fn(message) { Message(message) })
  |> process.select_exit_from(parent, fn(reason) {
    ParentExited(raw_exit_reason(reason))
  })
  |> process.select_record(system_atom(), 2, fn(message) { System(message) })
  |> with_fallback(fn(message) { Unexpected(message) })
}

fn run(
  handler: fn(state, message) -> Next(state, message),
  state: state,
  selector: process.Selector(Received(message)),
  parent: process.Pid,
) -> Nil {
  case process.selector_receive_forever(selector) {
    Message(message) ->
      case handler(state, message) {
        Continue(next, option.None) -> run(handler, next, selector, parent)
        Continue(next, option.Some(user)) ->
          run(handler, next, full_selector(user, parent), parent)
        NormalStop -> Nil
        AbnormalStop(reason) -> exit_raw(abnormal(reason))
      }
    ParentExited(reason) -> exit_raw(reason)
    System(request) -> {
      answer_system(request, dynamic.from(state))
      run(handler, state, selector, parent)
    }
    Unexpected(message) -> {
      log_unexpected(message)
      run(handler, state, selector, parent)
    }
  }
}

@external(erlang, "tally_otp_ffi", "unlink_flush")
fn unlink_flush(pid: process.Pid) -> Nil

@external(erlang, "tally_otp_ffi", "name_text")
fn name_text(name: process.Name(message)) -> String

@external(erlang, "tally_otp_ffi", "with_fallback")
fn with_fallback(
  selector: process.Selector(a),
  handler: fn(dynamic.Dynamic) -> a,
) -> process.Selector(a)

@external(erlang, "tally_otp_ffi", "exit_raw")
fn exit_raw(reason: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_ffi", "exit_abnormal")
fn abnormal(reason: String) -> dynamic.Dynamic

@external(erlang, "tally_otp_ffi", "raw_exit_reason")
fn raw_exit_reason(reason: process.ExitReason) -> dynamic.Dynamic

@external(erlang, "tally_otp_ffi", "system_atom")
fn system_atom() -> dynamic.Dynamic

@external(erlang, "tally_otp_ffi", "answer_system")
fn answer_system(request: dynamic.Dynamic, state: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_ffi", "log_unexpected")
fn log_unexpected(message: dynamic.Dynamic) -> Nil
