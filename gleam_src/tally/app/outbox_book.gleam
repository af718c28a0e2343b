//// The outbox's bookkeeping, without I/O: which batch files wait and in what
//// order, how a put is cut into batches, what an acknowledgement removes,
//// what a restart finds, and which keys are new. `tally/app/outbox` carries
//// out what these functions return (writes, syncs, deletions).
////
//// Items are stored in batches: one file per batch of up to `batch_items`
//// items (or `batch_bytes`), named `SEQ-COUNT.batch` (SEQ 16 hex digits, so
//// names sort in put order). The oldest batch is the head: its items not yet
//// acknowledged are held in memory; a batch file goes once all its items are
//// acknowledged. Acknowledged keys are remembered as digests (16 bytes) in
//// one file per group, the key's last two `/` fields (an invoice line's
//// `PERIOD/vVERSION`), so a put skips a key acknowledged before, however long
//// ago.

import tally/app/files
import tally/billing
import tally/pure/bytes
import tally/pure/json_tree
import tally/pure/map

/// One message waiting: published under `key` (an invoice line's
/// `KEY/vVERSION`) to `subject`, with `payload` (the line's JSON).
pub type Item {
  Item(key: String, subject: String, payload: String)
}

/// A batch file: its sequence number, file name and item count.
pub type Batch {
  Batch(seq: Int, file: String, count: Int)
}

/// A batch to write: its file and the items in it.
pub type NewBatch {
  NewBatch(batch: Batch, items: List(Item))
}

/// What a put stores: one item, or a batch of lines as the engine wrote
/// them (`aggregate.close_written`: ids and lines, a newline after each),
/// stored as it is when none of its keys can be waiting or acknowledged.
pub type Entry {
  One(item: Item)
  Lines(subject: String, batch: billing.WrittenBatch)
}

/// A batch of the engine's lines to write as it is, one file.
pub type NewWhole {
  NewWhole(batch: Batch, subject: String, lines: billing.WrittenBatch)
}

/// At most this many items in a batch file.
pub const batch_items = 5000

/// A batch file is closed once its items reach this many bytes.
pub const batch_bytes = 4_194_304

type Head {
  NotLoaded
  Loaded(items: List(Item))
  /// The engine's batch as it was stored, none of its items acknowledged.
  Whole(subject: String, lines: billing.WrittenBatch)
}

/// What a batch file holds: items, or the engine's batch as it is.
pub type Stored {
  StoredItems(items: List(Item))
  StoredLines(subject: String, lines: billing.WrittenBatch)
}

/// The oldest batch as the publisher takes it: the engine's batch whole
/// (acknowledged with `ack_whole`), or up to so many items.
pub type Peeked {
  PeekedLines(subject: String, lines: billing.WrittenBatch)
  PeekedItems(items: List(Item))
}

/// A stored batch's items.
pub fn stored_items(stored: Stored) -> List(Item) {
  case stored {
    StoredItems(items) -> items
    StoredLines(subject, lines) -> lines_items(subject, lines)
  }
}

fn head_items(head: Head) -> List(Item) {
  case head {
    NotLoaded -> []
    Loaded(items) -> items
    Whole(subject, lines) -> lines_items(subject, lines)
  }
}

/// What the outbox knows between calls: the batches waiting (oldest first),
/// the items waiting, the head batch's items once read.
pub opaque type Book {
  Book(next_seq: Int, batches: List(Batch), size: Int, head: Head)
}

/// What a restart finds in the outbox directory.
pub type Recovery {
  Recovery(
    book: Book,
    /// Temporary files: puts that never finished (never acknowledged to
    /// anyone): to delete.
    unfinished: List(String),
    /// `.batch` files whose name is not `SEQ-COUNT.batch`: left alone, to
    /// report.
    unknown: List(String),
  )
}

/// An empty outbox.
pub fn new() -> Book {
  Book(next_seq: 0, batches: [], size: 0, head: NotLoaded)
}

/// The outbox found in a directory holding `names`: its batches in order;
/// the head is read next (`head_to_load`).
pub fn recover(names: List(String)) -> Recovery {
  recover_names(names, [], [], [])
}

fn recover_names(
  names: List(String),
  batches: List(Batch),
  unfinished: List(String),
  unknown: List(String),
) -> Recovery {
  case names {
    [] -> {
      let sorted = bytes.sort(batches)
      let next = case bytes.reverse(sorted) {
        [] -> 0
        [last, ..] -> last.seq + 1
      }
      Recovery(
        book: Book(
          next_seq: next,
          batches: sorted,
          size: sum_counts(sorted, 0),
          head: NotLoaded,
        ),
        unfinished: bytes.reverse(unfinished),
        unknown: bytes.reverse(unknown),
      )
    }
    [name, ..rest] ->
      case ends_with(name, ".tmp"), ends_with(name, ".batch") {
        True, _ -> recover_names(rest, batches, [name, ..unfinished], unknown)
        _, True ->
          case parse_batch_name(name) {
            Ok(batch) ->
              recover_names(rest, [batch, ..batches], unfinished, unknown)
            Error(Nil) ->
              recover_names(rest, batches, unfinished, [name, ..unknown])
          }
        _, _ -> recover_names(rest, batches, unfinished, unknown)
      }
  }
}

fn sum_counts(batches: List(Batch), acc: Int) -> Int {
  case batches {
    [] -> acc
    [b, ..rest] -> sum_counts(rest, acc + b.count)
  }
}

/// Items waiting (acknowledged ones excluded once the head is read).
pub fn size(book: Book) -> Int {
  book.size
}

/// The batch files waiting, oldest first.
pub fn batches(book: Book) -> List(Batch) {
  book.batches
}

/// The head batch, when it waits and its items are not read yet.
pub fn head_to_load(book: Book) -> Result(Batch, Nil) {
  case book.head, book.batches {
    NotLoaded, [b, ..] -> Ok(b)
    _, _ -> Error(Nil)
  }
}

/// The head batch's items once read, those acknowledged already left out
/// (after a restart: a crash between an acknowledgement and the batch's
/// removal). When none is left, the batch is dropped and its file returned,
/// to delete; the next batch is then the one to read.
pub fn head_loaded(
  book: Book,
  items: List(Item),
) -> #(Book, Result(String, Nil)) {
  case book.batches {
    [] -> #(book, Error(Nil))
    [b, ..rest] ->
      case items {
        [] -> #(
          Book(
            ..book,
            batches: rest,
            size: book.size - b.count,
            head: NotLoaded,
          ),
          Ok(b.file),
        )
        _ -> #(
          Book(
            ..book,
            size: book.size - b.count + bytes.length(items),
            head: Loaded(items),
          ),
          Error(Nil),
        )
      }
  }
}

/// The head batch read as the engine's batch, whole (none of its items
/// acknowledged).
pub fn head_whole(
  book: Book,
  subject: String,
  lines: billing.WrittenBatch,
) -> Book {
  Book(..book, head: Whole(subject, lines))
}

/// Up to `n` of the oldest items (the head's), without removing them. Empty
/// until the head is read.
pub fn peek(book: Book, n: Int) -> List(Item) {
  take(head_items(book.head), n, [])
}

/// The oldest batch: the engine's batch whole when the head is one, else up
/// to `n` items.
pub fn peek_batch(book: Book, n: Int) -> Peeked {
  case book.head {
    Whole(subject, lines) -> PeekedLines(subject, lines)
    _ -> PeekedItems(peek(book, n))
  }
}

/// Every item of the head acknowledged at once, when the head is the
/// engine's batch with these `ids`: the batch dropped, its file returned,
/// to delete once its keys are remembered. An error when the head is not
/// that batch (acknowledge its keys then).
pub fn ack_whole(book: Book, ids: BitArray) -> Result(#(Book, String), Nil) {
  case book.head, book.batches {
    Whole(_, lines), [b, ..rest] ->
      case lines.ids == ids {
        True ->
          Ok(#(
            Book(
              ..book,
              batches: rest,
              size: book.size - b.count,
              head: NotLoaded,
            ),
            b.file,
          ))
        False -> Error(Nil)
      }
    _, _ -> Error(Nil)
  }
}

fn take(items: List(Item), n: Int, acc: List(Item)) -> List(Item) {
  case items, n > 0 {
    [i, ..rest], True -> take(rest, n - 1, [i, ..acc])
    _, _ -> bytes.reverse(acc)
  }
}

/// Removes the head's items with these keys (acknowledged, or parked). When
/// the head has none left, the batch is dropped and its file returned, to
/// delete.
pub fn remove(book: Book, keys: List(String)) -> #(Book, Result(String, Nil)) {
  case book.head {
    NotLoaded -> #(book, Error(Nil))
    Whole(subject, lines) ->
      remove(Book(..book, head: Loaded(lines_items(subject, lines))), keys)
    Loaded(items) -> {
      let done = key_set(keys, map.new())
      let left = drop_done(items, done)
      let size = book.size - { bytes.length(items) - bytes.length(left) }
      case left, book.batches {
        [], [b, ..rest] -> #(
          Book(..book, batches: rest, size: size, head: NotLoaded),
          Ok(b.file),
        )
        _, _ -> #(Book(..book, size: size, head: Loaded(left)), Error(Nil))
      }
    }
  }
}

// Acknowledgements come mostly for the first items, in order.
fn drop_done(items: List(Item), done: map.Map(String, Bool)) -> List(Item) {
  case items {
    [] -> []
    [i, ..rest] ->
      case map.get(done, i.key) {
        Ok(_) -> drop_done(rest, done)
        Error(Nil) -> keep_not_done(items, done, [])
      }
  }
}

fn keep_not_done(
  items: List(Item),
  done: map.Map(String, Bool),
  acc: List(Item),
) -> List(Item) {
  case items {
    [] -> bytes.reverse(acc)
    [i, ..rest] ->
      case map.get(done, i.key) {
        Ok(_) -> keep_not_done(rest, done, acc)
        Error(Nil) -> keep_not_done(rest, done, [i, ..acc])
      }
  }
}

fn key_set(
  keys: List(String),
  acc: map.Map(String, Bool),
) -> map.Map(String, Bool) {
  case keys {
    [] -> acc
    [k, ..rest] -> key_set(rest, map.put(acc, k, True))
  }
}

/// The head's items with these keys, as lines of `parked.jsonl`: one JSON
/// object each (`key`, `payload`, `reason`, `subject`), newline-terminated.
pub fn parked_lines(
  book: Book,
  keys: List(String),
  why: String,
) -> List(String) {
  parked(head_items(book.head), key_set(keys, map.new()), why, [])
}

fn parked(
  items: List(Item),
  wanted: map.Map(String, Bool),
  why: String,
  acc: List(String),
) -> List(String) {
  case items {
    [] -> bytes.reverse(acc)
    [i, ..rest] ->
      case map.get(wanted, i.key) {
        Ok(_) -> {
          let line =
            json_tree.to_sorted_string(
              json_tree.JObject([
                #("key", json_tree.JString(i.key)),
                #("payload", json_tree.JString(i.payload)),
                #("reason", json_tree.JString(why)),
                #("subject", json_tree.JString(i.subject)),
              ]),
            )
            <> "\n"
          parked(rest, wanted, why, [line, ..acc])
        }
        Error(Nil) -> parked(rest, wanted, why, acc)
      }
  }
}

// Putting ---------------------------------------------------------------

/// Where the keys waiting are, to check a put against: the head's keys
/// (held) and the files of the other batches (to read). Nothing when no
/// item waits.
pub fn waiting(book: Book) -> #(List(String), List(String)) {
  case book.size, book.head {
    0, _ -> #([], [])
    _, NotLoaded -> #([], files(book.batches, []))
    _, head -> {
      let rest = case book.batches {
        [] -> []
        [_, ..rest] -> rest
      }
      #(keys(head_items(head), []), files(rest, []))
    }
  }
}

fn files(batches: List(Batch), acc: List(String)) -> List(String) {
  case batches {
    [] -> bytes.reverse(acc)
    [b, ..rest] -> files(rest, [b.file, ..acc])
  }
}

/// The items' keys, in order.
pub fn keys(items: List(Item), acc: List(String)) -> List(String) {
  case items {
    [] -> bytes.reverse(acc)
    [i, ..rest] -> keys(rest, [i.key, ..acc])
  }
}

/// The groups of the items' keys (each once, sorted): the `acked` files a
/// put needs.
pub fn groups(items: List(Item)) -> List(String) {
  groups_of(items, map.new())
}

fn groups_of(items: List(Item), acc: map.Map(String, Bool)) -> List(String) {
  case items {
    [] -> map.keys(acc)
    [i, ..rest] -> groups_of(rest, map.put(acc, group(i.key), True))
  }
}

/// The items to store: those whose key is neither acknowledged before (in
/// `acked`, by group), nor waiting, nor an earlier item of the same put.
pub fn fresh(
  items: List(Item),
  waiting: map.Map(String, Bool),
  acked: map.Map(String, map.Map(BitArray, Bool)),
) -> List(Item) {
  fresh_loop(items, waiting, acked, map.new(), [])
}

fn fresh_loop(
  items: List(Item),
  waiting: map.Map(String, Bool),
  acked: map.Map(String, map.Map(BitArray, Bool)),
  seen: map.Map(String, Bool),
  acc: List(Item),
) -> List(Item) {
  case items {
    [] -> bytes.reverse(acc)
    [i, ..rest] -> {
      let old = case map.get(seen, i.key), map.get(waiting, i.key) {
        Ok(_), _ -> True
        _, Ok(_) -> True
        _, _ -> was_acked(i.key, acked)
      }
      case old {
        True -> fresh_loop(rest, waiting, acked, seen, acc)
        False ->
          fresh_loop(rest, waiting, acked, map.put(seen, i.key, True), [
            i,
            ..acc
          ])
      }
    }
  }
}

// (No digest to compute for a group nothing was acknowledged of yet.)
fn was_acked(
  key: String,
  acked: map.Map(String, map.Map(BitArray, Bool)),
) -> Bool {
  case map.get(acked, group(key)) {
    Ok(set) ->
      case map.size(set) {
        0 -> False
        _ -> is_ok(map.get(set, digest(key)))
      }
    Error(Nil) -> False
  }
}

/// Whether the key is in the remembered digests of its group.
pub fn is_acked(key: String, set: map.Map(BitArray, Bool)) -> Bool {
  is_ok(map.get(set, digest(key)))
}

fn is_ok(r: Result(a, b)) -> Bool {
  case r {
    Ok(_) -> True
    Error(_) -> False
  }
}

/// The items cut into batches (at most `batch_items` items, closed at
/// `batch_bytes`), numbered after the last batch.
pub fn plan_put(book: Book, items: List(Item)) -> List(NewBatch) {
  split(items, book.next_seq, 0, 0, [], [])
}

fn split(
  items: List(Item),
  seq: Int,
  n: Int,
  size: Int,
  current: List(Item),
  acc: List(NewBatch),
) -> List(NewBatch) {
  case items, current {
    [], [] -> bytes.reverse(acc)
    [], _ -> bytes.reverse([new_batch(seq, n, current), ..acc])
    _, [_, ..] if n >= batch_items || size >= batch_bytes ->
      split(items, seq + 1, 0, 0, [], [new_batch(seq, n, current), ..acc])
    [i, ..rest], _ ->
      split(
        rest,
        seq,
        n + 1,
        size + byte_size(i.key) + byte_size(i.subject) + byte_size(i.payload),
        [i, ..current],
        acc,
      )
  }
}

fn new_batch(seq: Int, n: Int, reversed: List(Item)) -> NewBatch {
  NewBatch(
    batch: Batch(seq: seq, file: batch_name(seq, n), count: n),
    items: bytes.reverse(reversed),
  )
}

@external(erlang, "erlang", "byte_size")
fn byte_size(text: String) -> Int

/// A put's entries: the engine's batches for which `whole` holds (stored
/// as they are), and every other entry as items, in order.
pub fn sort_entries(
  entries: List(Entry),
  whole: fn(billing.WrittenBatch) -> Bool,
) -> #(List(#(String, billing.WrittenBatch)), List(Item)) {
  sort_loop(entries, whole, [], [])
}

fn sort_loop(
  entries: List(Entry),
  whole: fn(billing.WrittenBatch) -> Bool,
  wholes: List(#(String, billing.WrittenBatch)),
  items: List(List(Item)),
) -> #(List(#(String, billing.WrittenBatch)), List(Item)) {
  case entries {
    [] -> #(bytes.reverse(wholes), flatten(bytes.reverse(items)))
    [One(i), ..rest] -> sort_loop(rest, whole, wholes, [[i], ..items])
    [Lines(subject, b), ..rest] ->
      case whole(b) {
        True -> sort_loop(rest, whole, [#(subject, b), ..wholes], items)
        False ->
          sort_loop(rest, whole, wholes, [lines_items(subject, b), ..items])
      }
  }
}

@external(erlang, "lists", "append")
fn flatten(lists: List(List(Item))) -> List(Item)

/// The engine's batch as items: each id with the same line of `lines`.
@external(erlang, "tally_outbox_ffi", "lines_items")
pub fn lines_items(subject: String, batch: billing.WrittenBatch) -> List(Item)

/// The group of the engine's batch: its first key's (one close, one period
/// and version).
pub fn lines_group(batch: billing.WrittenBatch) -> String {
  group(first_line(batch.ids))
}

@external(erlang, "tally_outbox_ffi", "first_line")
fn first_line(text: BitArray) -> String

/// The engine's batches numbered after the last batch, one file each.
pub fn plan_whole(
  book: Book,
  wholes: List(#(String, billing.WrittenBatch)),
) -> List(NewWhole) {
  whole_loop(wholes, book.next_seq, [])
}

fn whole_loop(
  wholes: List(#(String, billing.WrittenBatch)),
  seq: Int,
  acc: List(NewWhole),
) -> List(NewWhole) {
  case wholes {
    [] -> bytes.reverse(acc)
    [#(subject, b), ..rest] ->
      whole_loop(rest, seq + 1, [
        NewWhole(Batch(seq, batch_name(seq, b.count), b.count), subject, b),
        ..acc
      ])
  }
}

/// The batch file's bytes for the engine's batch, as it is (in parts that
/// refer to the batch's own bytes).
@external(erlang, "tally_outbox_ffi", "encode_whole")
pub fn encode_whole(subject: String, batch: billing.WrittenBatch) -> files.Parts

/// A batch written (and renamed into place): it waits behind the others.
pub fn batch_written(book: Book, batch: Batch) -> Book {
  Book(
    ..book,
    next_seq: batch.seq + 1,
    batches: append(book.batches, batch),
    size: book.size + batch.count,
  )
}

fn append(list: List(a), x: a) -> List(a) {
  bytes.reverse([x, ..bytes.reverse(list)])
}

// Names -------------------------------------------------------------------

/// A batch file's name: `SEQ-COUNT.batch`, SEQ as 16 lowercase hex digits.
///
/// ```gleam
/// batch_name(255, 3)
/// // "00000000000000ff-3.batch"
/// ```
pub fn batch_name(seq: Int, count: Int) -> String {
  let hex = to_hex(seq, "")
  zeros(16 - byte_size(hex))
  <> hex
  <> "-"
  <> bytes.int_to_text(count)
  <> ".batch"
}

fn to_hex(n: Int, acc: String) -> String {
  let digit = case n % 16 {
    d if d < 10 -> bytes.int_to_text(d)
    10 -> "a"
    11 -> "b"
    12 -> "c"
    13 -> "d"
    14 -> "e"
    _ -> "f"
  }
  case n < 16 {
    True -> digit <> acc
    False -> to_hex(n / 16, digit <> acc)
  }
}

fn zeros(n: Int) -> String {
  case n <= 0 {
    True -> ""
    False -> "0" <> zeros(n - 1)
  }
}

/// The batch a file name stands for, or an error for another name.
pub fn parse_batch_name(name: String) -> Result(Batch, Nil) {
  let b = <<name:utf8>>
  let n = bytes.size(b)
  let dash = bytes.find_byte(b, 0, 45)
  case dash == 16 && ends_with(name, ".batch") && n > 23 {
    False -> Error(Nil)
    True -> {
      let count = bytes.slice(b, 17, n - 23)
      case hex_value(bytes.slice(b, 0, 16), 0, 0), bytes.all_digits(count) {
        Ok(seq), True ->
          Ok(Batch(seq: seq, file: name, count: bytes.parse_digits(count)))
        _, _ -> Error(Nil)
      }
    }
  }
}

fn hex_value(b: BitArray, i: Int, acc: Int) -> Result(Int, Nil) {
  case bytes.at(b, i) {
    -1 -> Ok(acc)
    c if c >= 48 && c <= 57 -> hex_value(b, i + 1, acc * 16 + c - 48)
    c if c >= 97 && c <= 102 -> hex_value(b, i + 1, acc * 16 + c - 87)
    _ -> Error(Nil)
  }
}

fn ends_with(name: String, suffix: String) -> Bool {
  let b = <<name:utf8>>
  let s = <<suffix:utf8>>
  let n = bytes.size(b)
  let k = bytes.size(s)
  n >= k && bytes.starts_with(b, n - k, s)
}

// The memory of acknowledged keys ----------------------------------------

/// A key's group: its last two `/` fields joined by `-` (an invoice line's
/// `PERIOD/vVERSION` gives `PERIOD-vVERSION`), other bytes than ASCII
/// letters, digits, `-` and `_` made `_` (a group never leaves the
/// directory); `other` for a key with fewer than two `/`.
///
/// ```gleam
/// group("acme/*/requests/total/2026-10/v1")
/// // "2026-10-v1"
/// ```
pub fn group(key: String) -> String {
  case bytes.reverse(split_slash(key)) {
    [version, period, _, ..] -> safe_name(period <> "-" <> version)
    _ -> "other"
  }
}

@external(erlang, "tally_outbox_ffi", "split_slash")
fn split_slash(key: String) -> List(String)

@external(erlang, "tally_outbox_ffi", "safe_name")
fn safe_name(text: String) -> String

/// The `acked` file of a group, under the outbox directory's `acked/`.
pub fn acked_file(group: String) -> String {
  group <> ".acked"
}

/// What the outbox remembers of an acknowledged key: the first 16 bytes of
/// its SHA-256.
@external(erlang, "tally_outbox_ffi", "digest")
pub fn digest(key: String) -> BitArray

/// The digests in an `acked` file's bytes, as a set (a partial digest at
/// the end, from a crash mid-append, is ignored).
@external(erlang, "tally_outbox_ffi", "digests")
pub fn digest_set(file: BitArray) -> map.Map(BitArray, Bool)

/// Of `wanted`, the digests in an `acked` file's bytes (a scan that holds
/// no more than `wanted`, however long the file).
@external(erlang, "tally_outbox_ffi", "digests_among")
pub fn digests_among(
  file: BitArray,
  wanted: map.Map(BitArray, Bool),
) -> map.Map(BitArray, Bool)

/// The keys' digests, as a set.
pub fn digests_of(keys: List(String)) -> map.Map(BitArray, Bool) {
  digests_loop(keys, map.new())
}

fn digests_loop(
  keys: List(String),
  acc: map.Map(BitArray, Bool),
) -> map.Map(BitArray, Bool) {
  case keys {
    [] -> acc
    [k, ..rest] -> digests_loop(rest, map.put(acc, digest(k), True))
  }
}

/// `to_remember` for the engine's batch with these ids (`keys`, split):
/// one close, one period and version, so one group, worked out once.
pub fn to_remember_whole(
  ids: BitArray,
  keys: List(String),
) -> List(#(String, List(BitArray))) {
  [#(group(first_line(ids)), digest_each(keys, []))]
}

fn digest_each(keys: List(String), acc: List(BitArray)) -> List(BitArray) {
  case keys {
    [] -> bytes.reverse(acc)
    [k, ..rest] -> digest_each(rest, [digest(k), ..acc])
  }
}

/// The acknowledged keys' digests by group (groups sorted, digests in the
/// keys' order): what to append to each group's `acked` file.
pub fn to_remember(keys: List(String)) -> List(#(String, List(BitArray))) {
  let by_group = remember_loop(keys, map.new())
  reverse_values(map.sorted_pairs(by_group), [])
}

fn remember_loop(
  keys: List(String),
  acc: map.Map(String, List(BitArray)),
) -> map.Map(String, List(BitArray)) {
  case keys {
    [] -> acc
    [k, ..rest] -> {
      let g = group(k)
      let before = case map.get(acc, g) {
        Ok(l) -> l
        Error(Nil) -> []
      }
      remember_loop(rest, map.put(acc, g, [digest(k), ..before]))
    }
  }
}

fn reverse_values(
  pairs: List(#(String, List(BitArray))),
  acc: List(#(String, List(BitArray))),
) -> List(#(String, List(BitArray))) {
  case pairs {
    [] -> bytes.reverse(acc)
    [#(g, ds), ..rest] -> reverse_values(rest, [#(g, bytes.reverse(ds)), ..acc])
  }
}

/// The items not acknowledged before, given each group's remembered
/// digests (after a restart: the head may be acknowledged in part).
pub fn not_acked(
  items: List(Item),
  acked: map.Map(String, map.Map(BitArray, Bool)),
) -> List(Item) {
  case items {
    [] -> []
    [i, ..rest] ->
      case was_acked(i.key, acked) {
        True -> not_acked(rest, acked)
        False -> [i, ..not_acked(rest, acked)]
      }
  }
}

/// The batch file's bytes for these items.
@external(erlang, "tally_outbox_ffi", "encode_items")
pub fn encode(items: List(Item)) -> BitArray

/// The items of a batch file's bytes (items, or the engine's batch as it
/// was stored), or an error for bytes that are not a batch.
pub fn decode(file: BitArray) -> Result(List(Item), Nil) {
  case decode_stored(file) {
    Ok(stored) -> Ok(stored_items(stored))
    Error(Nil) -> Error(Nil)
  }
}

/// What a batch file's bytes hold, or an error for bytes that are not a
/// batch.
@external(erlang, "tally_outbox_ffi", "decode_stored")
pub fn decode_stored(file: BitArray) -> Result(Stored, Nil)
