//// tally/otp/process: subjects, calls, selectors over untyped messages,
//// monitors, trapped exits, timers and names, each on real processes.

import tally/expect
import tally/otp/dynamic
import tally/otp/names
import tally/otp/process

pub fn a_message_sent_through_a_subject_is_received_once_test() {
  use <- isolated
  let subject = process.new_subject()
  process.send(subject, 42)
  expect.equal(process.receive(from: subject, within: 100), Ok(42))
  expect.equal(process.receive(from: subject, within: 0), Error(Nil))
}

pub fn receive_takes_only_its_own_subject_s_messages_test() {
  use <- isolated
  let a = process.new_subject()
  let b = process.new_subject()
  process.send(b, "for b")
  process.send(a, "for a")
  expect.equal(process.receive(from: a, within: 100), Ok("for a"))
  expect.equal(process.receive(from: a, within: 0), Error(Nil))
  expect.equal(process.receive(from: b, within: 0), Ok("for b"))
}

pub fn a_message_from_another_process_arrives_test() {
  use <- isolated
  let subject = process.new_subject()
  process.spawn(fn() { process.send(subject, "hello") })
  expect.equal(process.receive(from: subject, within: 1000), Ok("hello"))
}

type Request {
  Double(Int, reply: process.Subject(Int))
}

fn doubler() -> process.Subject(Request) {
  let here = process.new_subject()
  process.spawn(fn() {
    let inbox = process.new_subject()
    process.send(here, inbox)
    let assert Ok(Double(n, reply)) = process.receive(from: inbox, within: 5000)
    process.send(reply, n * 2)
  })
  let assert Ok(inbox) = process.receive(from: here, within: 1000)
  inbox
}

pub fn call_returns_the_reply_test() {
  use <- isolated
  let server = doubler()
  let got =
    process.call(server, waiting: 1000, sending: fn(reply) { Double(21, reply) })
  expect.equal(got, 42)
}

pub fn call_with_no_reply_in_time_exits_the_caller_test() {
  use <- isolated
  // A process that owns a subject and never answers.
  let here = process.new_subject()
  let silent =
    process.spawn_unlinked(fn() {
      process.send(here, process.new_subject())
      process.sleep(5000)
    })
  let assert Ok(inbox) = process.receive(from: here, within: 1000)
  let result =
    catch_exit(fn() {
      process.call(inbox, waiting: 50, sending: fn(reply) { Double(1, reply) })
    })
  process.kill(silent)
  let assert Error(reason) = result
  expect.equal(exit_kind(reason), "callee_timeout")
}

pub fn call_to_a_process_that_dies_exits_the_caller_at_once_test() {
  use <- isolated
  process.trap_exits(True)
  let here = process.new_subject()
  process.spawn(fn() {
    let inbox = process.new_subject()
    process.send(here, inbox)
    // Dies on the request, without answering.
    let assert Ok(_) = process.receive(from: inbox, within: 5000)
    Nil
  })
  let assert Ok(inbox) = process.receive(from: here, within: 1000)
  let result =
    catch_exit(fn() {
      process.call(inbox, waiting: 5000, sending: fn(reply) { Double(1, reply) })
    })
  process.trap_exits(False)
  let assert Error(reason) = result
  expect.equal(exit_kind(reason), "callee_down")
}

type Either {
  Number(Int)
  Text(String)
}

pub fn a_selector_receives_from_several_subjects_as_one_type_test() {
  use <- isolated
  let numbers = process.new_subject()
  let texts = process.new_subject()
  let selector =
    process.new_selector()
    |> process.select_map(numbers, fn(n) { Number(n) })
    |> process.select_map(texts, fn(t) { Text(t) })
  process.send(texts, "a")
  process.send(numbers, 1)
  expect.equal(process.selector_receive(selector, 100), Ok(Text("a")))
  expect.equal(process.selector_receive(selector, 100), Ok(Number(1)))
  expect.equal(process.selector_receive(selector, 0), Error(Nil))
}

pub fn deselect_stops_receiving_from_a_subject_test() {
  use <- isolated
  let numbers = process.new_subject()
  let selector =
    process.new_selector()
    |> process.select(numbers)
    |> process.deselect(numbers)
  process.send(numbers, 1)
  expect.equal(process.selector_receive(selector, 0), Error(Nil))
  expect.equal(process.receive(numbers, 0), Ok(1))
}

pub fn select_record_takes_untyped_tuples_by_tag_and_size_test() {
  use <- isolated
  let tcp = atom("tcp")
  let selector =
    process.new_selector()
    |> process.select_record(tag: tcp, fields: 2, mapping: fn(message) {
      element_text(3, message)
    })
  // Same tag, another size: not taken.
  raw_send(process.self(), dynamic.from(#(tcp, "socket")))
  raw_send(process.self(), dynamic.from(#(tcp, "socket", "data")))
  expect.equal(process.selector_receive(selector, 100), Ok("data"))
  expect.equal(process.selector_receive(selector, 0), Error(Nil))
  // The other one is still there, for a selector that takes anything.
  let other =
    process.new_selector()
    |> process.select_other(fn(message) { message })
  expect.equal(
    process.selector_receive(other, 0),
    Ok(dynamic.from(#(tcp, "socket"))),
  )
}

pub fn each_message_goes_to_its_own_entry_test() {
  use <- isolated
  let subject = process.new_subject()
  let selector =
    process.new_selector()
    |> process.select_map(subject, fn(n) { Number(n) })
    |> process.select_other(fn(_) { Text("other") })
  raw_send(process.self(), dynamic.from("stray"))
  process.send(subject, 7)
  // In mailbox order: the stray to the catch-all, 7 to its subject.
  expect.equal(process.selector_receive(selector, 100), Ok(Text("other")))
  expect.equal(process.selector_receive(selector, 100), Ok(Number(7)))
}

pub fn a_monitor_reports_how_the_process_ended_test() {
  use <- isolated
  let normal = process.spawn_unlinked(fn() { process.sleep(20) })
  let killed = process.spawn_unlinked(fn() { process.sleep(5000) })
  let watch_normal = process.monitor(normal)
  let watch_killed = process.monitor(killed)
  process.kill(killed)
  let reason_of = fn(watch) {
    let selector =
      process.new_selector()
      |> process.select_specific_monitor(watch, fn(down) { down })
    let assert Ok(process.ProcessDown(_, pid, reason)) =
      process.selector_receive(selector, 1000)
    #(pid, reason)
  }
  expect.equal(reason_of(watch_killed), #(killed, process.Killed))
  expect.equal(reason_of(watch_normal), #(normal, process.Normal))
}

pub fn select_monitors_takes_every_down_message_test() {
  use <- isolated
  let pid = process.spawn_unlinked(fn() { exit_with(dynamic.from("boom")) })
  let watch = process.monitor(pid)
  let selector =
    process.new_selector()
    |> process.select_monitors(fn(down) { down })
  let assert Ok(process.ProcessDown(got_watch, got_pid, reason)) =
    process.selector_receive(selector, 1000)
  expect.equal(got_pid, pid)
  expect.equal(got_watch, watch)
  expect.equal(reason, process.Abnormal(dynamic.from("boom")))
}

pub fn demonitor_drops_the_down_message_test() {
  use <- isolated
  let pid = process.spawn_unlinked(fn() { Nil })
  let watch = process.monitor(pid)
  process.sleep(20)
  process.demonitor_process(watch)
  let selector =
    process.new_selector()
    |> process.select_monitors(fn(down) { down })
  expect.equal(process.selector_receive(selector, 0), Error(Nil))
}

pub fn trapped_exits_arrive_as_messages_test() {
  use <- isolated
  process.trap_exits(True)
  let pid = process.spawn(fn() { exit_with(dynamic.from("crashed")) })
  let selector =
    process.new_selector()
    |> process.select_trapped_exits(fn(exit) { exit })
  let got = process.selector_receive(selector, 1000)
  process.trap_exits(False)
  expect.equal(
    got,
    Ok(process.ExitMessage(pid, process.Abnormal(dynamic.from("crashed")))),
  )
}

pub fn send_after_delivers_later_and_cancel_timer_stops_it_test() {
  use <- isolated
  let subject = process.new_subject()
  let _timer = process.send_after(subject, 30, "late")
  expect.equal(process.receive(subject, 0), Error(Nil))
  expect.equal(process.receive(subject, 1000), Ok("late"))
  let timer = process.send_after(subject, 10_000, "never")
  let assert process.Cancelled(left) = process.cancel_timer(timer)
  expect.be_true(left > 0 && left <= 10_000, "time left on the timer")
  expect.equal(process.cancel_timer(timer), process.TimerNotFound)
}

pub fn a_named_subject_reaches_whoever_holds_the_name_test() {
  use <- isolated
  let name = process.new_name(prefix: "tally_process_test")
  let here = process.new_subject()
  let pid =
    process.spawn(fn() {
      let assert Ok(message) =
        process.receive(process.named_subject(name), 5000)
      process.send(here, message <> " received")
    })
  expect.equal(process.register(pid, name), Ok(Nil))
  // A name is held once.
  expect.equal(process.register(process.self(), name), Error(Nil))
  expect.equal(process.named(name), Ok(pid))
  process.send(process.named_subject(name), "hello")
  expect.equal(process.receive(here, 1000), Ok("hello received"))
  process.sleep(20)
  expect.equal(process.named(name), Error(Nil))
}

pub fn kill_link_and_is_alive_test() {
  use <- isolated
  let pid = process.spawn_unlinked(fn() { process.sleep(5000) })
  expect.be_true(process.is_alive(pid), "alive before the kill")
  process.trap_exits(True)
  expect.be_true(process.link(pid), "linked")
  process.kill(pid)
  let selector =
    process.new_selector()
    |> process.select_trapped_exits(fn(exit) { exit })
  let got = process.selector_receive(selector, 1000)
  process.trap_exits(False)
  expect.equal(got, Ok(process.ExitMessage(pid, process.Killed)))
  expect.be_true(!process.is_alive(pid), "dead after the kill")
  expect.be_true(!process.link(pid), "no link to a dead process")
}

pub fn send_exit_is_ignored_unless_abnormal_test() {
  use <- isolated
  let pid = process.spawn_unlinked(fn() { process.sleep(5000) })
  let watch = process.monitor(pid)
  process.send_exit(pid)
  process.sleep(20)
  expect.be_true(process.is_alive(pid), "a normal exit signal is ignored")
  process.send_abnormal_exit(pid, "stop")
  let selector =
    process.new_selector()
    |> process.select_specific_monitor(watch, fn(down) { down })
  let assert Ok(process.ProcessDown(_, _, reason)) =
    process.selector_receive(selector, 1000)
  expect.equal(
    reason,
    process.Abnormal(dynamic.from(#(atom("abnormal"), "stop"))),
  )
}

@external(erlang, "tally_otp_test_ffi", "raw_send")
fn raw_send(pid: process.Pid, message: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_test_ffi", "catch_exit")
fn catch_exit(run: fn() -> a) -> Result(a, dynamic.Dynamic)

@external(erlang, "tally_otp_test_ffi", "exit_kind")
fn exit_kind(reason: dynamic.Dynamic) -> String

@external(erlang, "tally_otp_test_ffi", "atom")
fn atom(text: String) -> dynamic.Dynamic

@external(erlang, "tally_otp_test_ffi", "element_text")
fn element_text(index: Int, tuple: dynamic.Dynamic) -> String

@external(erlang, "tally_otp_test_ffi", "exit_with")
fn exit_with(reason: dynamic.Dynamic) -> Nil

@external(erlang, "tally_otp_test_ffi", "isolated")
fn isolated(body: fn() -> Nil) -> Nil

pub fn a_fixed_name_is_the_atom_the_rest_of_the_system_uses_test() {
  use <- isolated
  let name = names.fixed("tally_process_test_fixed")
  expect.equal(names.to_string(name), "tally_process_test_fixed")
  let assert Ok(Nil) = process.register(process.self(), name)
  expect.equal(
    whereis(atom("tally_process_test_fixed")),
    dynamic.from(process.self()),
  )
}

@external(erlang, "erlang", "whereis")
fn whereis(name: dynamic.Dynamic) -> dynamic.Dynamic
