//// The outbox's bookkeeping without a process or a file: batches, their
//// names, what an acknowledgement removes, recovery, dedup by key and the
//// memory of acknowledged keys.

import tally/app/files
import tally/app/outbox_book as book
import tally/billing
import tally/expect
import tally/pure/map

fn items(keys: List(String)) -> List(book.Item) {
  case keys {
    [] -> []
    [k, ..rest] -> [
      book.Item(k, "tally.invoices", "{\"key\":\"" <> k <> "\"}"),
      ..items(rest)
    ]
  }
}

fn keys(n: Int, acc: List(String)) -> List(String) {
  case n {
    0 -> acc
    _ -> keys(n - 1, ["c" <> int(n) <> "/*/m/total/2026-10/v1", ..acc])
  }
}

@external(erlang, "erlang", "integer_to_binary")
fn int(n: Int) -> String

fn write_all(b: book.Book, batches: List(book.NewBatch)) -> book.Book {
  case batches {
    [] -> b
    [nb, ..rest] -> write_all(book.batch_written(b, nb.batch), rest)
  }
}

pub fn batch_names_sort_in_put_order_test() {
  expect.equal(book.batch_name(255, 3), "00000000000000ff-3.batch")
  expect.equal(book.batch_name(0, 5000), "0000000000000000-5000.batch")
  expect.equal(
    book.parse_batch_name("00000000000000ff-3.batch"),
    Ok(book.Batch(255, "00000000000000ff-3.batch", 3)),
  )
  expect.equal(book.parse_batch_name("00000000000000fg-3.batch"), Error(Nil))
  expect.equal(book.parse_batch_name("ff-3.batch"), Error(Nil))
  expect.equal(book.parse_batch_name("00000000000000ff-.batch"), Error(Nil))
  expect.equal(book.parse_batch_name("00000000000000ff-3.tmp"), Error(Nil))
}

pub fn a_put_is_cut_into_batches_of_5000_test() {
  let ks = keys(12_000, [])
  let planned = book.plan_put(book.new(), items(ks))
  expect.equal(list_map(planned, fn(nb: book.NewBatch) { nb.batch }), [
    book.Batch(0, "0000000000000000-5000.batch", 5000),
    book.Batch(1, "0000000000000001-5000.batch", 5000),
    book.Batch(2, "0000000000000002-2000.batch", 2000),
  ])
  let assert [first, ..] = planned
  expect.equal(book.peek(book.new(), 1), [])
  let b = write_all(book.new(), planned)
  expect.equal(book.size(b), 12_000)
  // The next put is numbered after these.
  let assert [next] = book.plan_put(b, items(["x"]))
  expect.equal(next.batch.seq, 3)
  // The head is read before it is published.
  expect.equal(book.head_to_load(b), Ok(first.batch))
  let #(b, drop) = book.head_loaded(b, first.items)
  expect.equal(drop, Error(Nil))
  expect.equal(book.head_to_load(b), Error(Nil))
  expect.equal(
    book.peek(b, 2),
    items(["c1/*/m/total/2026-10/v1", "c2/*/m/total/2026-10/v1"]),
  )
}

pub fn a_batch_is_closed_at_its_byte_limit_test() {
  let big = book.Item("a", "s", repeat("x", book.batch_bytes))
  let planned = book.plan_put(book.new(), [big, book.Item("b", "s", "y")])
  expect.equal(list_map(planned, fn(nb: book.NewBatch) { nb.batch.count }), [
    1,
    1,
  ])
}

pub fn a_batch_goes_once_all_its_items_are_acknowledged_test() {
  let b =
    write_all(book.new(), book.plan_put(book.new(), items(["a", "b", "c"])))
  let assert Ok(head) = book.head_to_load(b)
  let #(b, _) = book.head_loaded(b, items(["a", "b", "c"]))
  let #(b, drop) = book.remove(b, ["b"])
  expect.equal(drop, Error(Nil))
  expect.equal(book.size(b), 2)
  expect.equal(book.peek(b, 10), items(["a", "c"]))
  // A key not waiting changes nothing.
  let #(b, drop) = book.remove(b, ["zz"])
  expect.equal(#(drop, book.size(b)), #(Error(Nil), 2))
  let #(b, drop) = book.remove(b, ["c", "a"])
  expect.equal(drop, Ok(head.file))
  expect.equal(book.size(b), 0)
  expect.equal(book.head_to_load(b), Error(Nil))
  expect.equal(book.batches(b), [])
}

pub fn recovery_finds_batches_in_order_and_unfinished_puts_test() {
  let r =
    book.recover([
      "0000000000000002-7.batch", "acked", "0000000000000000-3.batch",
      "00000000000000ff-3.batch.tmp", "parked.jsonl", "junk.batch",
    ])
  expect.equal(r.unfinished, ["00000000000000ff-3.batch.tmp"])
  expect.equal(r.unknown, ["junk.batch"])
  expect.equal(book.size(r.book), 10)
  expect.equal(book.batches(r.book), [
    book.Batch(0, "0000000000000000-3.batch", 3),
    book.Batch(2, "0000000000000002-7.batch", 7),
  ])
  let assert [next] = book.plan_put(r.book, items(["x"]))
  expect.equal(next.batch.seq, 3)
  // The head acknowledged in part before the crash: only the rest counts;
  // acknowledged whole, the batch goes and the next is read.
  let acked =
    map.put(
      map.new(),
      book.group("a/2026-10/v1"),
      map.put(map.new(), book.digest("a/2026-10/v1"), True),
    )
  let head = items(["a/2026-10/v1", "b/2026-10/v1", "c/2026-10/v1"])
  let #(b, drop) = book.head_loaded(r.book, book.not_acked(head, acked))
  expect.equal(drop, Error(Nil))
  expect.equal(book.size(b), 9)
  let #(b, drop) = book.head_loaded(r.book, [])
  expect.equal(drop, Ok("0000000000000000-3.batch"))
  expect.equal(book.size(b), 7)
  expect.equal(
    book.head_to_load(b),
    Ok(book.Batch(2, "0000000000000002-7.batch", 7)),
  )
}

pub fn a_put_keeps_only_keys_new_to_the_outbox_test() {
  let acked =
    map.put(
      map.new(),
      "2026-10-v1",
      map.put(map.new(), book.digest("b/2026-10/v1"), True),
    )
  let waiting = map.put(map.new(), "c/2026-10/v1", True)
  expect.equal(
    book.fresh(
      items([
        "a/2026-10/v1", "b/2026-10/v1", "c/2026-10/v1", "a/2026-10/v1",
        "b/2026-10/v2", "d",
      ]),
      waiting,
      acked,
    ),
    items(["a/2026-10/v1", "b/2026-10/v2", "d"]),
  )
  expect.equal(
    book.groups(items(["a/2026-10/v1", "b/2026-10/v2", "z/2026-10/v1", "d"])),
    ["2026-10-v1", "2026-10-v2", "other"],
  )
}

pub fn waiting_keys_come_from_the_head_and_the_other_files_test() {
  expect.equal(book.waiting(book.new()), #([], []))
  let b = book.new()
  let b = write_all(b, book.plan_put(b, items(["a", "b"])))
  let b = write_all(b, book.plan_put(b, items(["c"])))
  expect.equal(
    book.waiting(b),
    #([], ["0000000000000000-2.batch", "0000000000000001-1.batch"]),
  )
  let #(b, _) = book.head_loaded(b, items(["b"]))
  expect.equal(book.waiting(b), #(["b"], ["0000000000000001-1.batch"]))
}

pub fn groups_and_digests_of_acknowledged_keys_test() {
  expect.equal(book.group("acme/*/requests/total/2026-10/v1"), "2026-10-v1")
  expect.equal(book.group("x/../v1"), "__-v1")
  expect.equal(book.group("a/b"), "other")
  expect.equal(book.acked_file("2026-10-v1"), "2026-10-v1.acked")
  expect.equal(size(book.digest("k")), 16)
  let ks = ["a/2026-10/v1", "b/2026-11/v1", "c/2026-10/v1"]
  expect.equal(book.to_remember(ks), [
    #("2026-10-v1", [book.digest("a/2026-10/v1"), book.digest("c/2026-10/v1")]),
    #("2026-11-v1", [book.digest("b/2026-11/v1")]),
  ])
  // An acked file read back: whole digests only.
  let bytes = <<
    book.digest("a/2026-10/v1"):bits,
    book.digest("c/2026-10/v1"):bits,
    "partial":utf8,
  >>
  let wanted = book.digests_of(["a/2026-10/v1", "b/2026-10/v1"])
  expect.equal(map.sorted_pairs(book.digests_among(bytes, wanted)), [
    #(book.digest("a/2026-10/v1"), True),
  ])
  expect.equal(map.size(book.digests_among(bytes, map.new())), 0)
  let set = book.digest_set(bytes)
  expect.equal(map.size(set), 2)
  expect.be_true(book.is_acked("c/2026-10/v1", set), "c acknowledged")
  expect.be_true(!book.is_acked("b/2026-10/v1", set), "b not acknowledged")
}

pub fn parked_lines_hold_key_payload_reason_and_subject_test() {
  let b = book.new()
  let b = write_all(b, book.plan_put(b, items(["a", "big\"one", "c"])))
  let #(b, _) = book.head_loaded(b, items(["a", "big\"one", "c"]))
  expect.equal(book.parked_lines(b, ["big\"one"], "payload_too_large"), [
    "{\"key\":\"big\\\"one\",\"payload\":\"{\\\"key\\\":\\\"big\\\"one\\\"}\","
    <> "\"reason\":\"payload_too_large\",\"subject\":\"tally.invoices\"}\n",
  ])
}

pub fn a_puts_entries_sort_into_whole_batches_and_items_test() {
  let wb =
    billing.WrittenBatch(2, <<"k1/2026-10/v1\nk2/2026-10/v1\n":utf8>>, <<
      "{1}\n{2}\n":utf8,
    >>)
  expect.equal(book.lines_group(wb), "2026-10-v1")
  expect.equal(
    book.to_remember_whole(wb.ids, ["k1/2026-10/v1", "k2/2026-10/v1"]),
    book.to_remember(["k1/2026-10/v1", "k2/2026-10/v1"]),
  )
  expect.equal(book.lines_items("s", wb), [
    book.Item("k1/2026-10/v1", "s", "{1}"),
    book.Item("k2/2026-10/v1", "s", "{2}"),
  ])
  let entries = [
    book.One(book.Item("a", "s", "x")),
    book.Lines("s", wb),
    book.One(book.Item("b", "s", "y")),
  ]
  expect.equal(
    book.sort_entries(entries, fn(_) { True }),
    #([#("s", wb)], [book.Item("a", "s", "x"), book.Item("b", "s", "y")]),
  )
  expect.equal(
    book.sort_entries(entries, fn(_) { False }),
    #([], [
      book.Item("a", "s", "x"),
      book.Item("k1/2026-10/v1", "s", "{1}"),
      book.Item("k2/2026-10/v1", "s", "{2}"),
      book.Item("b", "s", "y"),
    ]),
  )
  // Numbered after what waits, one file each; read back they are items.
  let b = write_all(book.new(), book.plan_put(book.new(), items(["x"])))
  let assert [w] = book.plan_whole(b, [#("s", wb)])
  expect.equal(w.batch, book.Batch(1, "0000000000000001-2.batch", 2))
  expect.equal(
    book.decode(files.joined(book.encode_whole("s", wb))),
    Ok(book.lines_items("s", wb)),
  )
}

pub fn batch_files_hold_the_items_test() {
  let is = items(["a", "b"])
  expect.equal(book.decode(book.encode(is)), Ok(is))
  expect.equal(book.decode(<<"half":utf8>>), Error(Nil))
}

fn list_map(l: List(a), f: fn(a) -> b) -> List(b) {
  case l {
    [] -> []
    [x, ..rest] -> [f(x), ..list_map(rest, f)]
  }
}

@external(erlang, "binary", "copy")
fn repeat(text: String, n: Int) -> String

@external(erlang, "erlang", "byte_size")
fn size(b: BitArray) -> Int
