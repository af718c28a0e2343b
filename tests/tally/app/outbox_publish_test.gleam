//// The engine's batches from the outbox to the file sink whole
//// (tally/app/outbox peek_batch/ack_batch, sink_file.publish_written, the
//// publisher): one write per batch, none written twice, the keys
//// remembered as acknowledged.

import tally/app/outbox
import tally/app/outbox_book as book
import tally/app/publisher
import tally/app/sink
import tally/app/sink_file
import tally/billing
import tally/expect
import tally/otp/process

fn payload(key: String) -> String {
  "{\"key\":\"" <> key <> "\"}"
}

fn lines_of(texts: List(String)) -> BitArray {
  case texts {
    [] -> <<>>
    [t, ..rest] -> <<t:utf8, "\n":utf8, lines_of(rest):bits>>
  }
}

fn batch(keys: List(String)) -> billing.WrittenBatch {
  billing.WrittenBatch(
    count: length(keys),
    ids: lines_of(keys),
    lines: lines_of(map_list(keys, payload)),
  )
}

pub fn the_engines_batches_are_published_whole_test() {
  let dir = tmp_dir("outbox-publish")
  let assert Ok(started) = outbox.start(dir: dir <> "/outbox")
  let o = started.data
  let k1 = ["c1/*/m/total/2026-10/v1", "c2/*/m/total/2026-10/v1"]
  let k2 = ["c3/*/m/total/2026-10/v1", "c4/*/m/total/2026-10/v1"]
  expect.equal(
    outbox.put_entries(o, [
      book.Lines("inv", batch(k1)),
      book.Lines("inv", batch(k2)),
    ]),
    Ok(Nil),
  )
  expect.equal(
    outbox.peek_batch(o, 100),
    Ok(book.PeekedLines("inv", batch(k1))),
  )
  let path = dir <> "/invoices.jsonl"
  let assert Ok(file) = sink_file.open(path)
  let #(file, outcome) = sink_file.publish_written(file, batch(k1))
  expect.equal(outcome, sink_file.Stored)
  // Its acknowledgement was lost: sent again, not written twice.
  let #(file, outcome) = sink_file.publish_written(file, batch(k1))
  expect.equal(outcome, sink_file.Stored)
  expect.equal(read_text(path), bytes_text(batch(k1).lines))
  // Nor after a restart: the file's keys are read back.
  let assert Ok(reopened) = sink_file.open(path)
  let #(_, outcome) = sink_file.publish_written(reopened, batch(k1))
  expect.equal(outcome, sink_file.ItemByItem(sink.Published(k1)))
  expect.equal(read_text(path), bytes_text(batch(k1).lines))
  expect.equal(outbox.ack_batch(o, batch(k1).ids), Ok(Nil))
  expect.equal(outbox.size(o), 2)
  expect.equal(outbox.acked(o, "c1/*/m/total/2026-10/v1"), Ok(True))
  expect.equal(
    outbox.peek_batch(o, 100),
    Ok(book.PeekedLines("inv", batch(k2))),
  )
  // A batch with a key the file has goes item by item: only the new line.
  let #(_, _) =
    sink_file.publish_written(
      file,
      batch(["c2/*/m/total/2026-10/v1", "y/*/m/total/2026-10/v1"]),
    )
  let before = read_text(path)
  expect.equal(
    before,
    bytes_text(batch(k1).lines) <> payload("y/*/m/total/2026-10/v1") <> "\n",
  )
  // The publisher drains the rest the same way.
  let assert Ok(p) =
    publisher.start(publisher.Config(
      outbox: o,
      sink: publisher.FileSink(path),
      batch: 5000,
      registered: False,
    ))
  expect.equal(wait_empty(o, 200), Ok(Nil))
  let drained = before <> bytes_text(batch(k2).lines)
  expect.equal(read_text(path), drained)
  expect.equal(publisher.stats(p.data).published, 2)
  // A batch with a line the file held when the publisher opened it: only
  // its new line is appended, and the outbox drops the batch.
  let yz = ["y/*/m/total/2026-10/v1", "z/*/m/total/2026-10/v1"]
  expect.equal(outbox.put_entries(o, [book.Lines("inv", batch(yz))]), Ok(Nil))
  expect.equal(wait_empty(o, 200), Ok(Nil))
  expect.equal(
    read_text(path),
    drained <> payload("z/*/m/total/2026-10/v1") <> "\n",
  )
  expect.equal(publisher.stats(p.data).published, 4)
  Nil
}

fn wait_empty(o: process.Subject(outbox.Message), n: Int) -> Result(Nil, Nil) {
  case outbox.size(o), n {
    0, _ -> Ok(Nil)
    _, 0 -> Error(Nil)
    _, _ -> {
      process.sleep(20)
      wait_empty(o, n - 1)
    }
  }
}

fn map_list(l: List(a), f: fn(a) -> b) -> List(b) {
  case l {
    [] -> []
    [x, ..rest] -> [f(x), ..map_list(rest, f)]
  }
}

@external(erlang, "erlang", "length")
fn length(l: List(a)) -> Int

@external(erlang, "tally_outbox_test_ffi", "tmp_dir")
fn tmp_dir(prefix: String) -> String

@external(erlang, "tally_outbox_test_ffi", "read_text")
fn read_text(path: String) -> String

@external(erlang, "tally_pure_ffi", "to_text")
fn bytes_text(b: BitArray) -> String
