//// tally/otp/actor: typed messages and state, calls, initialisers that
//// fail, crash or take too long, names, stops and the parent's exit.

import tally/expect
import tally/otp/actor
import tally/otp/dynamic
import tally/otp/process

type Message {
  Add(Int)
  Get(reply: process.Subject(Int))
  Stop
  Crash
}

fn counter(total: Int, message: Message) -> actor.Next(Int, Message) {
  case message {
    Add(n) -> actor.continue(total + n)
    Get(reply) -> {
      process.send(reply, total)
      actor.continue(total)
    }
    Stop -> actor.stop()
    Crash -> actor.stop_abnormal("asked to crash")
  }
}

fn get(subject: process.Subject(Message)) -> Int {
  actor.call(subject, waiting: 1000, sending: fn(reply) { Get(reply) })
}

pub fn an_actor_keeps_state_across_messages_test() {
  use <- isolated
  let assert Ok(started) =
    actor.new(0)
    |> actor.on_message(counter)
    |> actor.start
  actor.send(started.data, Add(2))
  actor.send(started.data, Add(3))
  expect.equal(get(started.data), 5)
  expect.be_true(process.is_alive(started.pid), "the actor runs on")
}

pub fn stop_ends_the_actor_normally_and_stop_abnormal_with_its_reason_test() {
  use <- isolated
  let assert Ok(first) =
    actor.new(0)
    |> actor.on_message(counter)
    |> actor.start
  expect.equal(
    down_reason(first.pid, fn() { actor.send(first.data, Stop) }),
    process.Normal,
  )
  process.trap_exits(True)
  let assert Ok(second) =
    actor.new(0)
    |> actor.on_message(counter)
    |> actor.start
  expect.equal(
    down_reason(second.pid, fn() { actor.send(second.data, Crash) }),
    process.Abnormal(dynamic.from(#(atom("abnormal"), "asked to crash"))),
  )
}

pub fn the_initialiser_sets_state_and_what_start_returns_test() {
  use <- isolated
  let assert Ok(started) =
    actor.new_with_initialiser(1000, fn(subject) {
      actor.initialised(10)
      |> actor.returning(#("ready", subject))
      |> Ok
    })
    |> actor.on_message(counter)
    |> actor.start
  let #(word, subject) = started.data
  expect.equal(word, "ready")
  expect.equal(get(subject), 10)
}

pub fn an_initialiser_error_is_init_failed_and_the_caller_lives_on_test() {
  use <- isolated
  let result =
    actor.new_with_initialiser(1000, fn(_subject) { Error("no such file") })
    |> actor.on_message(counter)
    |> actor.start
  expect.equal(result_error(result), Ok(actor.InitFailed("no such file")))
  // Nothing of the failed actor is left in the caller's mailbox.
  let anything =
    process.new_selector()
    |> process.select_other(fn(message) { message })
  expect.equal(process.selector_receive(anything, 20), Error(Nil))
}

pub fn a_slow_initialiser_is_init_timeout_and_the_process_is_killed_test() {
  use <- isolated
  let here = process.new_subject()
  let result =
    actor.new_with_initialiser(50, fn(_subject) {
      process.send(here, process.self())
      process.sleep(5000)
      Ok(actor.initialised(0))
    })
    |> actor.on_message(counter)
    |> actor.start
  expect.equal(result_error(result), Ok(actor.InitTimeout))
  let assert Ok(pid) = process.receive(here, 0)
  expect.be_true(!process.is_alive(pid), "the slow actor is gone")
}

pub fn an_initialiser_that_crashes_is_init_exited_test() {
  use <- isolated
  process.trap_exits(True)
  let result =
    actor.new_with_initialiser(1000, fn(_subject) {
      exit_with(dynamic.from("disk on fire"))
      Ok(actor.initialised(0))
    })
    |> actor.on_message(counter)
    |> actor.start
  expect.equal(
    result_error(result),
    Ok(actor.InitExited(process.Abnormal(dynamic.from("disk on fire")))),
  )
}

pub fn a_named_actor_is_reached_through_its_name_test() {
  use <- isolated
  let name = process.new_name(prefix: "tally_actor_test")
  let assert Ok(started) =
    actor.new(1)
    |> actor.on_message(counter)
    |> actor.named(name)
    |> actor.start
  expect.equal(process.named(name), Ok(started.pid))
  let by_name = process.named_subject(name)
  actor.send(by_name, Add(1))
  expect.equal(get(by_name), 2)
  // A second actor cannot take the name.
  let second =
    actor.new(0)
    |> actor.on_message(counter)
    |> actor.named(name)
    |> actor.start
  let assert Error(actor.InitFailed(_)) = second
  Nil
}

type Event {
  Tick(Int)
  Ask(process.Subject(List(Int)))
}

pub fn selecting_and_with_selector_choose_what_the_actor_receives_test() {
  use <- isolated
  let here = process.new_subject()
  let assert Ok(started) =
    actor.new_with_initialiser(1000, fn(subject) {
      let ticks = process.new_subject()
      process.send(here, ticks)
      actor.initialised(#([], subject))
      |> actor.selecting(
        process.new_selector()
        |> process.select(subject)
        |> process.select_map(ticks, fn(n) { Tick(n) }),
      )
      |> actor.returning(subject)
      |> Ok
    })
    |> actor.on_message(fn(state, event) {
      let #(seen, subject) = state
      case event {
        Tick(n) -> actor.continue(#([n, ..seen], subject))
        Ask(reply) -> {
          process.send(reply, seen)
          // From now on only its own subject: a tick is unexpected, so
          // discarded (and logged), never handled.
          actor.continue(state)
          |> actor.with_selector(
            process.new_selector()
            |> process.select(subject),
          )
        }
      }
    })
    |> actor.start
  let assert Ok(ticks) = process.receive(here, 1000)
  process.send(ticks, 1)
  process.send(ticks, 2)
  let ask = fn() {
    actor.call(started.data, waiting: 1000, sending: fn(r) { Ask(r) })
  }
  expect.equal(ask(), [2, 1])
  process.send(ticks, 3)
  expect.equal(ask(), [2, 1])
  expect.equal(message_queue_len(started.pid), 0)
}

pub fn a_trapping_actor_ends_with_its_parent_s_exit_reason_test() {
  use <- isolated
  let here = process.new_subject()
  // A parent that starts a trapping actor, reports it, then waits.
  let parent =
    process.spawn_unlinked(fn() {
      let assert Ok(started) =
        actor.new_with_initialiser(1000, fn(subject) {
          process.trap_exits(True)
          Ok(actor.initialised(0) |> actor.returning(subject))
        })
        |> actor.on_message(counter)
        |> actor.start
      process.send(here, started.pid)
      process.sleep(5000)
    })
  let assert Ok(child) = process.receive(here, 1000)
  let reason =
    down_reason(child, fn() {
      send_raw_exit(parent, dynamic.from(atom("shutdown")))
    })
  expect.equal(reason, process.Abnormal(dynamic.from(atom("shutdown"))))
}

pub fn an_unexpected_message_is_discarded_not_kept_test() {
  use <- isolated
  let assert Ok(started) =
    actor.new(0)
    |> actor.on_message(counter)
    |> actor.start
  raw_send(started.pid, dynamic.from("stray"))
  expect.equal(get(started.data), 0)
  expect.equal(message_queue_len(started.pid), 0)
}

// Helpers.

fn down_reason(pid: process.Pid, cause: fn() -> Nil) -> process.ExitReason {
  let watch = process.monitor(pid)
  cause()
  let selector =
    process.new_selector()
    |> process.select_specific_monitor(watch, fn(down) { down })
  let assert Ok(process.ProcessDown(_, _, reason)) =
    process.selector_receive(selector, 1000)
  reason
}

fn result_error(result: Result(a, e)) -> Result(e, Nil) {
  case result {
    Ok(_) -> Error(Nil)
    Error(e) -> Ok(e)
  }
}

@external(erlang, "tally_otp_test_ffi", "isolated")
fn isolated(body: fn() -> Nil) -> Nil

@external(erlang, "tally_otp_test_ffi", "atom")
fn atom(text: String) -> dynamic.Dynamic

@external(erlang, "tally_otp_test_ffi", "raw_send")
fn raw_send(pid: process.Pid, message: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_test_ffi", "message_queue_len")
fn message_queue_len(pid: process.Pid) -> Int

@external(erlang, "tally_otp_test_ffi", "exit_with")
fn exit_with(reason: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_ffi", "send_exit")
fn send_raw_exit(pid: process.Pid, reason: dynamic.Dynamic) -> Nil
