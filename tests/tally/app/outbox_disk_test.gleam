//// The outbox on real files, without a process (tally/app/outbox_disk):
//// durable batches, removal only on acknowledgement, dedup by key, the
//// memory of acknowledged keys, recovery after a crash (reopening the
//// directory is what a restart does), parking.

import tally/app/files
import tally/app/outbox_book as book
import tally/app/outbox_disk as disk
import tally/billing
import tally/expect

fn items(keys: List(String)) -> List(book.Item) {
  case keys {
    [] -> []
    [k, ..rest] -> [
      book.Item(k, "tally.invoices", "{\"key\":\"" <> k <> "\"}"),
      ..items(rest)
    ]
  }
}

fn open(dir: String) -> disk.Outbox {
  let assert Ok(#(o, [])) = disk.open(dir)
  o
}

fn put(o: disk.Outbox, keys: List(String)) -> disk.Outbox {
  let #(o, r) = disk.put(o, items(keys))
  expect.equal(r, Ok(Nil))
  o
}

fn ack(o: disk.Outbox, keys: List(String)) -> disk.Outbox {
  let #(o, r) = disk.ack(o, keys)
  expect.equal(r, Ok(Nil))
  o
}

fn peek(o: disk.Outbox, n: Int) -> #(disk.Outbox, List(book.Item)) {
  let #(o, r) = disk.peek(o, n)
  let assert Ok(got) = r
  #(o, got)
}

pub fn the_outbox_survives_a_restart_and_dedups_by_key_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let o = put(o, ["a", "b", "a"])
  let o = put(o, ["b", "c"])
  expect.equal(disk.size(o), 3)
  let #(o, got) = peek(o, 10)
  expect.equal(got, items(["a", "b"]))
  let o = ack(o, ["b"])
  expect.equal(disk.size(o), 2)
  // A put cut off before its rename leaves a .tmp file behind: not an item.
  write_file(dir <> "/00000000000000ff-3.batch.tmp", <<"half":utf8>>)
  let o2 = open(dir)
  expect.equal(disk.size(o2), 2)
  let #(o2, got) = peek(o2, 10)
  expect.equal(got, items(["a"]))
  // b was acknowledged: not again.
  let o2 = put(o2, ["d", "b"])
  expect.equal(disk.size(o2), 3)
  let o2 = ack(o2, ["a"])
  let #(o2, got) = peek(o2, 10)
  expect.equal(got, items(["c"]))
  let o2 = ack(o2, ["c"])
  let #(_, got) = peek(o2, 10)
  expect.equal(got, items(["d"]))
  expect.equal(wildcard(dir, "*.tmp"), [])
}

fn numbered(n: Int, acc: List(String)) -> List(String) {
  case n {
    0 -> acc
    _ -> numbered(n - 1, ["c" <> int(n) <> "/*/m/total/2026-10/v1", ..acc])
  }
}

/// Items are stored in batches (a file each) and a file goes once all its
/// items are acknowledged; acknowledged keys are remembered per period and
/// version, on disk, past a restart.
pub fn batches_and_the_memory_of_acknowledged_keys_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let keys = numbered(12_000, [])
  let o = put(o, keys)
  expect.equal(disk.size(o), 12_000)
  // 5000 + 5000 + 2000
  expect.equal(length(wildcard(dir, "*.batch")), 3)
  expect.equal(disk.batch_files(o), wildcard(dir, "*.batch"))
  let #(o, first) = peek(o, 100_000)
  expect.equal(length(first), 5000)
  let assert [last, ..all_but_last] = reverse(book.keys(first, []))
  let o = ack(o, all_but_last)
  expect.equal(length(wildcard(dir, "*.batch")), 3)
  let o = ack(o, [last])
  expect.equal(length(wildcard(dir, "*.batch")), 2)
  expect.equal(disk.size(o), 7000)
  let #(_, next) = peek(o, 1)
  expect.equal(book.keys(next, []), ["c5001/*/m/total/2026-10/v1"])
  // Acknowledged keys live in one file per period and version, 16 bytes each.
  expect.equal(file_size(dir <> "/acked/2026-10-v1.acked"), 5000 * 16)
  let o2 = open(dir)
  expect.equal(disk.size(o2), 7000)
  // The same period closed again: nothing new.
  let o2 = put(o2, keys)
  expect.equal(disk.size(o2), 7000)
  expect.equal(disk.acked(o2, "c1/*/m/total/2026-10/v1"), Ok(True))
  expect.equal(disk.acked(o2, "c12000/*/m/total/2026-10/v1"), Ok(False))
  // Another version of the period is a different set of lines.
  let o2 = put(o2, ["c1/*/m/total/2026-10/v2"])
  expect.equal(disk.size(o2), 7001)
}

/// A crash after the acknowledgement was remembered but before the batch
/// was removed: the acknowledged items are not sent again.
pub fn a_batch_acknowledged_in_part_before_a_crash_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let o = put(o, ["a/2026-10/v1", "b/2026-10/v1", "c/2026-10/v1"])
  let _ = ack(o, ["a/2026-10/v1", "c/2026-10/v1"])
  let o2 = open(dir)
  expect.equal(disk.size(o2), 1)
  let #(_, got) = peek(o2, 10)
  expect.equal(got, items(["b/2026-10/v1"]))
  // Acknowledged whole before the batch file went: it goes at the restart.
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let o = put(o, ["a/2026-10/v1"])
  let o = put(o, ["b/2026-10/v1"])
  let assert [first, _] = disk.batch_files(o)
  let saved = read_bytes(dir <> "/" <> first)
  let #(o, _) = peek(o, 10)
  let _ = ack(o, ["a/2026-10/v1"])
  expect.equal(wildcard(dir, first), [])
  write_file(dir <> "/" <> first, saved)
  let o = open(dir)
  expect.equal(wildcard(dir, first), [])
  expect.equal(disk.size(o), 1)
  let #(_, got) = peek(o, 10)
  expect.equal(got, items(["b/2026-10/v1"]))
}

/// Parked items are kept with their reason and not remembered as
/// acknowledged: a later put takes them back.
pub fn a_parked_item_is_kept_aside_and_can_come_back_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let o = put(o, ["k1/2026-10/v1", "big/2026-10/v1", "k3/2026-10/v1"])
  let #(o, _) = peek(o, 10)
  let #(o, r) = disk.park(o, ["big/2026-10/v1"], "payload_too_large")
  expect.equal(r, Ok(Nil))
  expect.equal(disk.size(o), 2)
  expect.equal(
    read_text(dir <> "/parked.jsonl"),
    "{\"key\":\"big/2026-10/v1\",\"payload\":\"{\\\"key\\\":\\\"big/2026-10/v1\\\"}\","
      <> "\"reason\":\"payload_too_large\",\"subject\":\"tally.invoices\"}\n",
  )
  let o = ack(o, ["k1/2026-10/v1", "k3/2026-10/v1"])
  expect.equal(disk.size(o), 0)
  expect.equal(wildcard(dir, "*.batch"), [])
  expect.equal(disk.acked(o, "big/2026-10/v1"), Ok(False))
  let o = put(o, ["big/2026-10/v1", "k1/2026-10/v1"])
  expect.equal(disk.size(o), 1)
}

/// An `acked` file torn by a crash mid-append (a partial digest at its
/// end): the digests appended after it are still read whole, so the keys
/// acknowledged after the crash are remembered (else a close again would
/// put them back and they would be published twice).
pub fn an_acked_file_of_odd_length_keeps_later_acknowledgements_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let o = put(o, ["a/2026-10/v1", "b/2026-10/v1"])
  let _ = ack(o, ["a/2026-10/v1"])
  let acked = dir <> "/acked/2026-10-v1.acked"
  write_file(acked, <<read_bytes(acked):bits, "torn!":utf8>>)
  let o = open(dir)
  let _ = ack(o, ["b/2026-10/v1"])
  let o = open(dir)
  expect.equal(disk.acked(o, "a/2026-10/v1"), Ok(True))
  expect.equal(disk.acked(o, "b/2026-10/v1"), Ok(True))
  let o = put(o, ["a/2026-10/v1", "b/2026-10/v1"])
  expect.equal(disk.size(o), 0)
}

/// A batch file that is not a batch is an error that names it, not a crash.
pub fn a_foreign_batch_file_is_an_error_test() {
  let dir = tmp_dir("outbox")
  write_file(dir <> "/0000000000000000-1.batch", <<"not a batch":utf8>>)
  expect.equal(
    disk.open(dir),
    Error(disk.BadBatch(dir <> "/0000000000000000-1.batch")),
  )
  // A .batch file with another name is reported and left alone.
  let dir = tmp_dir("outbox")
  write_file(dir <> "/junk.batch", <<"x":utf8>>)
  let assert Ok(#(o, ["junk.batch"])) = disk.open(dir)
  expect.equal(disk.size(o), 0)
}

@external(erlang, "tally_outbox_test_ffi", "tmp_dir")
fn tmp_dir(prefix: String) -> String

@external(erlang, "tally_outbox_test_ffi", "wildcard")
fn wildcard(dir: String, pattern: String) -> List(String)

@external(erlang, "tally_outbox_test_ffi", "file_size")
fn file_size(path: String) -> Int

@external(erlang, "tally_outbox_test_ffi", "write_file")
fn write_file(path: String, bytes: BitArray) -> Nil

@external(erlang, "tally_outbox_test_ffi", "read_text")
fn read_text(path: String) -> String

@external(erlang, "tally_outbox_test_ffi", "read_text")
fn read_bytes(path: String) -> BitArray

@external(erlang, "erlang", "integer_to_binary")
fn int(n: Int) -> String

@external(erlang, "erlang", "length")
fn length(l: List(a)) -> Int

@external(erlang, "lists", "reverse")
fn reverse(l: List(a)) -> List(a)

fn lines_of(texts: List(String)) -> BitArray {
  case texts {
    [] -> <<>>
    [t, ..rest] -> <<t:utf8, "\n":utf8, lines_of(rest):bits>>
  }
}

// The engine's batch of these keys' lines (`aggregate.close_written`).
fn batch_of(keys: List(String)) -> billing.WrittenBatch {
  billing.WrittenBatch(
    count: length(keys),
    ids: lines_of(keys),
    lines: lines_of(map_payloads(items(keys))),
  )
}

fn written(keys: List(String)) -> book.Entry {
  book.Lines("tally.invoices", batch_of(keys))
}

fn map_payloads(is: List(book.Item)) -> List(String) {
  case is {
    [] -> []
    [i, ..rest] -> [i.payload, ..map_payloads(rest)]
  }
}

/// A batch the engine wrote is stored as it is (one file) when none of its
/// keys can be waiting or acknowledged; read back it is its items. Put
/// again while it waits, or after its keys were acknowledged, it is taken
/// apart and nothing is stored twice.
pub fn the_engines_batches_are_stored_as_they_are_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let keys = numbered(30, [])
  let #(k1, k2) = split_at(keys, 20)
  let #(o, r) = disk.put_entries(o, [written(k1), written(k2)])
  expect.equal(r, Ok(Nil))
  expect.equal(disk.size(o), 30)
  let assert [f1, f2] = wildcard(dir, "*.batch")
  expect.equal(#(f1, f2), #(
    "0000000000000000-20.batch",
    "0000000000000001-10.batch",
  ))
  // The engine's batch as it is, not items.
  expect.equal(
    read_bytes(dir <> "/" <> f1),
    files.joined(book.encode_whole("tally.invoices", batch_of(k1))),
  )
  let #(o, got) = peek(o, 100)
  expect.equal(got, items(k1))
  // Again while they wait: nothing new.
  let #(o, r) = disk.put_entries(o, [written(keys)])
  expect.equal(#(r, disk.size(o)), #(Ok(Nil), 30))
  let o = ack(o, k1)
  let #(o, got) = peek(o, 100)
  expect.equal(got, items(k2))
  let o = ack(o, k2)
  expect.equal(disk.size(o), 0)
  // After they were acknowledged: only the new key is stored.
  let new = "new/*/m/total/2026-10/v1"
  let #(o, r) = disk.put_entries(o, [written(append(keys, [new]))])
  expect.equal(r, Ok(Nil))
  let #(_, got) = peek(o, 100)
  expect.equal(got, items([new]))
  let o2 = open(dir)
  let #(_, got) = peek(o2, 100)
  expect.equal(got, items([new]))
}

fn split_at(l: List(a), n: Int) -> #(List(a), List(a)) {
  case n, l {
    0, _ -> #([], l)
    _, [] -> #([], [])
    _, [x, ..rest] -> {
      let #(a, b) = split_at(rest, n - 1)
      #([x, ..a], b)
    }
  }
}

@external(erlang, "lists", "append")
fn append(a: List(a), b: List(a)) -> List(a)

/// A close's rounds put as one run: the second round's batch is stored as
/// it is although the first round's waits (the run began with nothing
/// waiting), and its acknowledged part does not matter either. A run that
/// begins with items waiting (a close run again after a crash) stores only
/// the keys neither waiting nor acknowledged when it began, round after
/// round.
pub fn a_runs_batches_stay_whole_while_its_first_rounds_wait_test() {
  let dir = tmp_dir("outbox")
  let o = open(dir)
  let keys = numbered(30, [])
  let #(k1, rest) = split_at(keys, 10)
  let #(k2, k3) = split_at(rest, 10)
  let #(o, r) = disk.put_in_run(o, [written(k1)], False)
  expect.equal(r, Ok(Nil))
  // The first round's batch acknowledged in part (as the publisher does:
  // peeked, then acknowledged): the run is not checked again.
  let #(k1a, k1b) = split_at(k1, 5)
  let #(o, _) = peek(o, 100)
  let o = ack(o, k1a)
  let #(o, r) = disk.put_in_run(o, [written(k2)], True)
  expect.equal(#(r, disk.size(o)), #(Ok(Nil), 15))
  let assert [_, f2] = wildcard(dir, "*.batch")
  expect.equal(
    read_bytes(dir <> "/" <> f2),
    files.joined(book.encode_whole("tally.invoices", batch_of(k2))),
  )
  let o = disk.end_run(o)
  // The close again, cut short before its third round: a new run, with
  // items waiting and some acknowledged. Its rounds store nothing of what
  // waits or was acknowledged, and the third round's keys.
  let #(o, r) = disk.put_in_run(o, [written(k1)], False)
  expect.equal(#(r, disk.size(o)), #(Ok(Nil), 15))
  let #(o, _) = peek(o, 100)
  let o = ack(o, k1b)
  let #(o, r) = disk.put_in_run(o, [written(append(k2, k3))], True)
  expect.equal(#(r, disk.size(o)), #(Ok(Nil), 20))
  let #(o, r) = disk.put_in_run(o, [written(k1b)], True)
  expect.equal(#(r, disk.size(o)), #(Ok(Nil), 20))
  let o = disk.end_run(o)
  let #(o, got) = peek(o, 100)
  expect.equal(got, items(k2))
  let o = ack(o, k2)
  let #(_, got) = peek(o, 100)
  expect.equal(got, items(k3))
}
