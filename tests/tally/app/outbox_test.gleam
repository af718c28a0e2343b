//// The outbox actor (tally/app/outbox): requests one at a time, listeners
//// told of puts, and a kill between an acknowledgement and the next one
//// loses nothing and repeats nothing acknowledged.

import tally/app/outbox
import tally/app/outbox_book as book
import tally/expect
import tally/otp/actor
import tally/otp/process

fn items(keys: List(String)) -> List(book.Item) {
  case keys {
    [] -> []
    [k, ..rest] -> [
      book.Item(k, "inv", "{\"key\":\"" <> k <> "\"}"),
      ..items(rest)
    ]
  }
}

pub fn a_killed_outbox_restarts_with_what_was_not_acknowledged_test() {
  let dir = tmp_dir("outbox-actor")
  let assert Ok(started) = outbox.start(dir: dir)
  let o = started.data
  let ready = process.new_subject()
  outbox.notify(o, ready)
  expect.equal(outbox.put(o, items(["a/2026-10/v1", "b/2026-10/v1"])), Ok(Nil))
  expect.equal(process.receive(ready, 1000), Ok(outbox.OutboxReady))
  expect.equal(outbox.size(o), 2)
  expect.equal(outbox.peek(o, 1), Ok(items(["a/2026-10/v1"])))
  expect.equal(outbox.ack(o, ["a/2026-10/v1"]), Ok(Nil))
  kill(started.pid)
  let assert Ok(again) = outbox.start(dir: dir)
  let o = again.data
  expect.equal(outbox.size(o), 1)
  expect.equal(outbox.peek(o, 10), Ok(items(["b/2026-10/v1"])))
  expect.equal(outbox.acked(o, "a/2026-10/v1"), Ok(True))
  expect.equal(outbox.acked(o, "b/2026-10/v1"), Ok(False))
  // Put again after the restart (a close again): only what is new.
  expect.equal(
    outbox.put(o, items(["a/2026-10/v1", "b/2026-10/v1", "c/2026-10/v1"])),
    Ok(Nil),
  )
  expect.equal(outbox.size(o), 2)
  expect.equal(outbox.park(o, ["b/2026-10/v1"], "payload_too_large"), Ok(Nil))
  expect.equal(outbox.peek(o, 10), Ok(items(["c/2026-10/v1"])))
}

pub fn an_outbox_that_cannot_open_its_directory_does_not_start_test() {
  let dir = tmp_dir("outbox-actor")
  write_file(dir <> "/file", <<"x":utf8>>)
  let assert Error(actor.InitFailed(why)) = outbox.start(dir: dir <> "/file")
  expect.be_true(contains(why, dir <> "/file"), why)
}

@external(erlang, "tally_outbox_test_ffi", "tmp_dir")
fn tmp_dir(prefix: String) -> String

@external(erlang, "tally_outbox_test_ffi", "kill")
fn kill(pid: process.Pid) -> Nil

@external(erlang, "tally_outbox_test_ffi", "write_file")
fn write_file(path: String, bytes: BitArray) -> Nil

@external(erlang, "tally_outbox_test_ffi", "contains")
fn contains(text: String, part: String) -> Bool
