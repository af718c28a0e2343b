//// tally/otp/static_supervisor and supervision: children restarted by
//// strategy (one_for_one, rest_for_one), restart intensity giving up,
//// nested supervisors, restart kinds and a child that cannot start.

import tally/expect
import tally/otp/actor
import tally/otp/dynamic
import tally/otp/process
import tally/otp/static_supervisor
import tally/otp/supervision

type Message {
  Ping(reply: process.Subject(String))
  Quit
}

// A named actor answering pings, so a restarted one is found by its name.
fn pinger(
  name: process.Name(Message),
) -> supervision.ChildSpecification(process.Subject(Message)) {
  supervision.worker(fn() {
    actor.new(Nil)
    |> actor.named(name)
    |> actor.on_message(fn(state, message) {
      case message {
        Ping(reply) -> {
          process.send(reply, "pong")
          actor.continue(state)
        }
        Quit -> actor.stop()
      }
    })
    |> actor.start
  })
}

fn names(n: Int) -> List(process.Name(Message)) {
  case n {
    0 -> []
    _ -> [process.new_name(prefix: "tally_sup_test"), ..names(n - 1)]
  }
}

fn start(
  strategy: static_supervisor.Strategy,
  children: List(process.Name(Message)),
) -> process.Pid {
  let builder =
    add_all(
      static_supervisor.new(strategy)
        |> static_supervisor.restart_tolerance(intensity: 10, period: 10),
      children,
    )
  let assert Ok(started) = static_supervisor.start(builder)
  started.pid
}

fn add_all(
  builder: static_supervisor.Builder,
  children: List(process.Name(Message)),
) -> static_supervisor.Builder {
  case children {
    [] -> builder
    [name, ..rest] ->
      add_all(static_supervisor.add(builder, pinger(name)), rest)
  }
}

fn pid_of(name: process.Name(Message)) -> process.Pid {
  let assert Ok(pid) = process.named(name)
  pid
}

// Kills the child holding `name` and waits until a new one holds it.
fn kill_and_wait(name: process.Name(Message)) -> process.Pid {
  let old = pid_of(name)
  process.kill(old)
  wait_for_new(name, old, 200)
}

fn wait_for_new(
  name: process.Name(Message),
  old: process.Pid,
  tries: Int,
) -> process.Pid {
  case process.named(name) {
    Ok(pid) if pid != old -> pid
    _ if tries > 0 -> {
      process.sleep(5)
      wait_for_new(name, old, tries - 1)
    }
    _ -> {
      expect.be_true(False, "the child came back")
      old
    }
  }
}

fn ping(name: process.Name(Message)) -> String {
  actor.call(process.named_subject(name), waiting: 1000, sending: fn(reply) {
    Ping(reply)
  })
}

pub fn one_for_one_restarts_only_the_child_that_died_test() {
  use <- isolated
  let assert [a, b] = names(2)
  let _sup = start(static_supervisor.OneForOne, [a, b])
  let b_before = pid_of(b)
  let a_after = kill_and_wait(a)
  expect.be_true(process.is_alive(a_after), "a restarted")
  expect.equal(pid_of(b), b_before)
  expect.equal(ping(a), "pong")
}

pub fn rest_for_one_restarts_the_child_and_those_after_it_test() {
  use <- isolated
  let assert [first, second, third] = names(3)
  let _sup = start(static_supervisor.RestForOne, [first, second, third])
  let first_before = pid_of(first)
  let third_before = pid_of(third)
  // The second dies: the third restarts with it, the first does not.
  let _ = kill_and_wait(second)
  let third_after = wait_for_new(third, third_before, 200)
  expect.be_true(third_after != third_before, "the third restarted")
  expect.equal(pid_of(first), first_before)
  // The first dies: everyone after it restarts.
  let second_before = pid_of(second)
  let _ = kill_and_wait(first)
  let _ = wait_for_new(second, second_before, 200)
  let _ = wait_for_new(third, third_after, 200)
  expect.equal(ping(third), "pong")
}

pub fn more_restarts_than_the_tolerance_stop_the_supervisor_test() {
  use <- isolated
  let assert [a] = names(1)
  let builder =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.restart_tolerance(intensity: 1, period: 60)
    |> static_supervisor.add(pinger(a))
  let assert Ok(started) = static_supervisor.start(builder)
  process.unlink(started.pid)
  let watch = process.monitor(started.pid)
  // One restart is tolerated...
  let _ = kill_and_wait(a)
  expect.be_true(process.is_alive(started.pid), "one restart tolerated")
  // ...the second within the period is not.
  process.kill(pid_of(a))
  let selector =
    process.new_selector()
    |> process.select_specific_monitor(watch, fn(down) { down })
  let assert Ok(process.ProcessDown(_, _, reason)) =
    process.selector_receive(selector, 1000)
  expect.equal(reason, process.Abnormal(dynamic.from(atom("shutdown"))))
  expect.equal(process.named(a), Error(Nil))
}

pub fn a_nested_supervisor_restarts_its_own_children_test() {
  use <- isolated
  let assert [outer, inner] = names(2)
  let inner_sup =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.add(pinger(inner))
  let assert Ok(_) =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.add(pinger(outer))
    |> static_supervisor.add(static_supervisor.supervised(inner_sup))
    |> static_supervisor.start
  let outer_before = pid_of(outer)
  let _ = kill_and_wait(inner)
  expect.equal(pid_of(outer), outer_before)
  expect.equal(ping(inner), "pong")
}

pub fn restart_kinds_decide_after_a_normal_stop_test() {
  use <- isolated
  let assert [permanent, transient, temporary] = names(3)
  let assert Ok(_) =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.add(pinger(permanent))
    |> static_supervisor.add(
      pinger(transient)
      |> supervision.restart(supervision.Transient),
    )
    |> static_supervisor.add(
      pinger(temporary)
      |> supervision.restart(supervision.Temporary)
      |> supervision.timeout(ms: 100),
    )
    |> static_supervisor.start
  let permanent_before = pid_of(permanent)
  let transient_before = pid_of(transient)
  process.send(process.named_subject(permanent), Quit)
  process.send(process.named_subject(transient), Quit)
  process.send(process.named_subject(temporary), Quit)
  // Only the permanent child comes back after a normal stop.
  let _ = wait_for_new(permanent, permanent_before, 200)
  process.sleep(50)
  expect.equal(process.named(transient), Error(Nil))
  expect.equal(process.named(temporary), Error(Nil))
  expect.be_true(!process.is_alive(transient_before), "transient stopped")
}

pub fn a_child_that_cannot_start_fails_the_supervisor_start_test() {
  use <- isolated
  process.trap_exits(True)
  let failing =
    supervision.worker(fn() {
      actor.new_with_initialiser(1000, fn(_) { Error("no config") })
      |> actor.start
    })
  let result =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.add(failing)
    |> static_supervisor.start
  let assert Error(actor.InitExited(process.Abnormal(_))) = result
  Nil
}

pub fn a_named_supervisor_is_registered_test() {
  use <- isolated
  let name = process.new_name(prefix: "tally_sup_test_sup")
  let assert Ok(started) =
    static_supervisor.new(static_supervisor.OneForAll)
    |> static_supervisor.named(name)
    |> static_supervisor.start
  expect.equal(process.named(name), Ok(started.pid))
  expect.equal(static_supervisor.pid(started.data), started.pid)
}

@external(erlang, "tally_otp_test_ffi", "isolated")
fn isolated(body: fn() -> Nil) -> Nil

@external(erlang, "tally_otp_test_ffi", "atom")
fn atom(text: String) -> dynamic.Dynamic
