//// The embedded default sink: invoice lines appended as JSON Lines to one
//// file, synced before they count as acknowledged. The keys already in the
//// file are read at start (4 MiB at a time: a million customers' period is
//// gigabytes of lines), so an item published again (after a crash
//// between the write and the outbox's removal) is not written twice: the
//// file holds each key once, as a stream with a duplicate window would.
////
//// ```gleam
//// let assert Ok(file) = sink_file.open("data/invoices.jsonl")
//// let #(file, outcome) = sink_file.publish(file, items)
//// ```

import tally/app/files
import tally/app/key_set
import tally/app/reading
import tally/app/sink
import tally/app/written
import tally/billing
import tally/pure/bytes
import tally/pure/json
import tally/pure/map

/// An open file sink: its path, the keys its file held when it was opened,
/// and the keys it appended since that the outbox has not acknowledged yet.
pub opaque type FileSink {
  FileSink(path: String, at_open: AtOpen, pending: Pending)
}

// Why only these keys are checked: the outbox hands out no key it
// remembers as acknowledged, nor one key twice (tally/app/outbox_book), so
// a key can reach the sink again only when it was appended but its
// acknowledgement was lost: before a restart (the file holds it: `at_open`)
// or in this run (`pending`, until `acknowledged`). Keeping every key of
// the run instead cost a set insertion per line, half the publish time.
type AtOpen {
  NothingAtOpen
  // Off the heap (owned by the process that opened the sink): a period's
  // hundreds of thousands of keys kept on the process heap would be copied
  // by every garbage collection of the publisher.
  KeysAtOpen(key_set.KeySet)
}

// Appended in this run, not acknowledged yet: the engine's batches as their
// id texts (one id and a newline each), other items by key.
type Pending {
  Pending(batches: List(BitArray), keys: map.Map(String, Bool))
}

/// Opens the sink at `path` (its directory made when missing), reading the
/// keys the file already holds.
pub fn open(path: String) -> Result(FileSink, String) {
  // A torn last line goes first: its item was never acknowledged (the sync
  // comes before), so the outbox sends it again.
  let ready = case files.ensure_dir(path) {
    Ok(Nil) -> files.cut_torn_line(path)
    Error(why) -> Error(why)
  }
  case ready {
    Error(why) -> Error(path <> ": " <> why)
    Ok(Nil) ->
      case keys_at_open(path) {
        Ok(at_open) -> Ok(FileSink(path, at_open, none()))
        Error("enoent") -> Ok(FileSink(path, NothingAtOpen, none()))
        Error(why) -> Error(path <> ": " <> why)
      }
  }
}

const read_bytes = 4_194_304

// The item keys of the file's lines, read a chunk of whole lines at a time
// (never the whole file at once).
fn keys_at_open(path: String) -> Result(AtOpen, String) {
  case files.open(path, [files.Read]) {
    Error(why) -> Error(why)
    Ok(io) -> {
      let keys = read_keys(io, 0, read_bytes, NothingAtOpen)
      let _ = files.close(io)
      keys
    }
  }
}

fn read_keys(
  io: files.IoDevice,
  offset: Int,
  length: Int,
  seen: AtOpen,
) -> Result(AtOpen, String) {
  case files.pread(io, offset, length) {
    Error(why) -> Error(why)
    Ok(got) -> {
      let size = bytes.size(got)
      case reading.whole_lines(got) {
        _ if size == 0 -> Ok(seen)
        // A line longer than a read: read it again, whole.
        0 if size == length -> read_keys(io, offset, length * 2, seen)
        // The last line, without its newline.
        0 -> Ok(with_keys(seen, item_keys(got)))
        whole ->
          read_keys(
            io,
            offset + whole,
            read_bytes,
            with_keys(seen, item_keys(bytes.slice(got, 0, whole))),
          )
      }
    }
  }
}

fn with_keys(seen: AtOpen, keys: List(String)) -> AtOpen {
  case keys, seen {
    [], _ -> seen
    _, NothingAtOpen -> {
      let set = key_set.new()
      key_set.insert(set, keys)
      KeysAtOpen(set)
    }
    _, KeysAtOpen(set) -> {
      key_set.insert(set, keys)
      seen
    }
  }
}

fn none() -> Pending {
  Pending([], map.new())
}

/// `file PATH`, for logs.
pub fn describe(sink: FileSink) -> String {
  "file " <> sink.path
}

/// A batch: its new lines appended with one write and one fsync; every
/// item's key is acknowledged once its line is on disk (or was already).
pub fn publish(
  sink: FileSink,
  items: List(sink.Item),
) -> #(FileSink, sink.Outcome) {
  let known = known_keys(sink)
  let #(lines, added, keys) = new_lines(items, known, map.new(), [], [])
  case files.append_lines_durably(sink.path, concat(lines)) {
    Ok(Nil) -> {
      let pending =
        Pending(
          ..sink.pending,
          keys: map.put_all(pairs(map.keys(added), []), sink.pending.keys),
        )
      #(FileSink(..sink, pending: pending), sink.Published(keys))
    }
    Error(why) -> #(sink, sink.Failed([], sink.path <> ": " <> why))
  }
}

/// What became of the engine's batch.
pub type WrittenOutcome {
  /// Every line of the batch is in the file (appended now, or before).
  Stored
  /// Some of its keys were in the file already: it went item by item, as
  /// `publish`.
  ItemByItem(sink.Outcome)
}

/// The engine's batch of lines (`aggregate.close_written`): appended as
/// they are, with one write and one fsync, when none of its keys can be in
/// the file already (the common case checks no key at all); else item by
/// item, as `publish`.
pub fn publish_written(
  sink: FileSink,
  batch: billing.WrittenBatch,
) -> #(FileSink, WrittenOutcome) {
  case may_hold(sink, batch.ids) {
    AllOf -> #(sink, Stored)
    SomeOf -> {
      let items =
        written_items(split_lines(batch.ids), split_lines(batch.lines), [])
      let #(sink, outcome) = publish(sink, items)
      #(sink, ItemByItem(outcome))
    }
    NoneOf ->
      case files.append_lines_durably(sink.path, batch.lines) {
        Ok(Nil) -> {
          let pending =
            Pending(..sink.pending, batches: [batch.ids, ..sink.pending.batches])
          #(FileSink(..sink, pending: pending), Stored)
        }
        Error(why) -> #(
          sink,
          ItemByItem(sink.Failed([], sink.path <> ": " <> why)),
        )
      }
  }
}

/// The outbox acknowledged the engine's batch with these `ids`: its keys
/// cannot come again, so the sink stops checking for them.
pub fn acknowledged_batch(sink: FileSink, ids: BitArray) -> FileSink {
  let batches = remove_text(sink.pending.batches, ids, [])
  FileSink(..sink, pending: Pending(..sink.pending, batches: batches))
}

/// The outbox acknowledged these keys (see `acknowledged_batch`).
pub fn acknowledged(sink: FileSink, keys: List(String)) -> FileSink {
  let pending = case map.size(sink.pending.keys) {
    0 -> sink.pending
    _ -> Pending(..sink.pending, keys: delete_all(sink.pending.keys, keys))
  }
  FileSink(..sink, pending: pending)
}

fn delete_all(
  set: map.Map(String, Bool),
  keys: List(String),
) -> map.Map(String, Bool) {
  case keys {
    [] -> set
    [k, ..rest] -> delete_all(map.delete(set, k), rest)
  }
}

fn remove_text(
  texts: List(BitArray),
  text: BitArray,
  acc: List(BitArray),
) -> List(BitArray) {
  case texts {
    [] -> acc
    [t, ..rest] if t == text -> prepend(acc, rest)
    [t, ..rest] -> remove_text(rest, text, [t, ..acc])
  }
}

// `reversed` in reverse order, then `rest`.
fn prepend(reversed: List(a), rest: List(a)) -> List(a) {
  case reversed {
    [] -> rest
    [x, ..more] -> prepend(more, [x, ..rest])
  }
}

fn has_text(texts: List(BitArray), text: BitArray) -> Bool {
  case texts {
    [] -> False
    [t, ..] if t == text -> True
    [_, ..rest] -> has_text(rest, text)
  }
}

// How much of a batch (its id texts) the file may hold already.
type Overlap {
  // None of its keys.
  NoneOf
  // The very batch is pending (its acknowledgement was lost).
  AllOf
  // Some: the batch goes key by key, as `publish`.
  SomeOf
}

// The keys a batch is checked against: those in the file at open and the
// pending ones.
type Known {
  Known(at_open: AtOpen, pending: map.Map(String, Bool))
}

fn may_hold(sink: FileSink, ids: BitArray) -> Overlap {
  let Pending(batches, keys) = sink.pending
  case sink.at_open, batches, map.size(keys) {
    NothingAtOpen, [], 0 -> NoneOf
    _, _, _ ->
      case has_text(batches, ids) {
        True -> AllOf
        False ->
          case any_known(known_keys(sink), split_lines(ids)) {
            True -> SomeOf
            False -> NoneOf
          }
      }
  }
}

fn known_keys(sink: FileSink) -> Known {
  let Pending(batches, keys) = sink.pending
  Known(sink.at_open, add_texts(batches, keys))
}

fn add_texts(
  texts: List(BitArray),
  set: map.Map(String, Bool),
) -> map.Map(String, Bool) {
  case texts {
    [] -> set
    [t, ..rest] -> add_texts(rest, map.put_all(pairs(split_lines(t), []), set))
  }
}

fn pairs(
  keys: List(String),
  acc: List(#(String, Bool)),
) -> List(#(String, Bool)) {
  case keys {
    [] -> acc
    [k, ..rest] -> pairs(rest, [#(k, True), ..acc])
  }
}

fn any_known(known: Known, keys: List(String)) -> Bool {
  case keys {
    [] -> False
    [k, ..rest] -> is_known(known, k) || any_known(known, rest)
  }
}

fn is_known(known: Known, key: String) -> Bool {
  case map.get(known.pending, key) {
    Ok(True) -> True
    _ ->
      case known.at_open {
        NothingAtOpen -> False
        KeysAtOpen(seen) -> key_set.member(seen, key)
      }
  }
}

fn written_items(
  keys: List(String),
  lines: List(String),
  acc: List(sink.Item),
) -> List(sink.Item) {
  case keys, lines {
    [k, ..ks], [l, ..ls] ->
      written_items(ks, ls, [sink.Item(k, "", <<l:utf8>>), ..acc])
    _, _ -> bytes.reverse(acc)
  }
}

@external(erlang, "tally_outbox_ffi", "split_lines")
fn split_lines(text: BitArray) -> List(String)

// The lines of items not seen yet (a key twice in one batch is written
// once), the keys they add, and every item's key.
fn new_lines(
  items: List(sink.Item),
  known: Known,
  added: map.Map(String, Bool),
  lines: List(BitArray),
  keys: List(String),
) -> #(List(BitArray), map.Map(String, Bool), List(String)) {
  case items {
    [] -> #(bytes.reverse(lines), added, bytes.reverse(keys))
    [sink.Item(key, _, payload), ..rest] ->
      case is_known(known, key) || map.get(added, key) == Ok(True) {
        True -> new_lines(rest, known, added, lines, [key, ..keys])
        False ->
          new_lines(
            rest,
            known,
            map.put(added, key, True),
            [bytes.append_byte(payload, 10), ..lines],
            [key, ..keys],
          )
      }
  }
}

/// Every item key in a file's contents: each line's `key` and, when the
/// line has an integer `version`, `KEY/vVERSION` (an invoice line's
/// message id, so a reissue's lines are new to the file). Lines without a
/// key are not items and are skipped.
///
/// ```gleam
/// map.keys(seen_keys(<<"{\"key\":\"a\",\"version\":2}\n":utf8>>))
/// // -> ["a/v2"]
/// ```
pub fn seen_keys(contents: BitArray) -> map.Map(String, Bool) {
  map.from_list(pairs(item_keys(contents), []))
}

// Each line's key as `line_key` gives it (lines in the written form read
// by a faster path).
@external(erlang, "tally_outbox_ffi", "item_keys")
fn item_keys(contents: BitArray) -> List(String)

/// The item key of one JSON Lines line (see `seen_keys`). Only `key` and
/// `version` are read; the other members are skipped, not built.
pub fn line_key(line: BitArray) -> Result(String, Nil) {
  case json.begin_object(line, 0) {
    Ok(pos) -> members(line, pos, True, Error(Nil), Error(Nil))
    Error(_) -> Error(Nil)
  }
}

fn members(
  b: BitArray,
  pos: Int,
  first: Bool,
  key: Result(String, Nil),
  version: Result(Int, Nil),
) -> Result(String, Nil) {
  case json.next_key(b, pos, first) {
    Error(_) -> Error(Nil)
    Ok(json.EndOfObject(_)) ->
      case key, version {
        Ok(k), Ok(v) -> Ok(written.msg_id(k, v))
        Ok(k), Error(Nil) -> Ok(k)
        Error(Nil), _ -> Error(Nil)
      }
    Ok(json.Key("key", after)) -> {
      let at = json.skip_ws(b, after)
      case bytes.at(b, at), json.string(b, at) {
        34, Ok(#(k, next)) -> members(b, next, False, Ok(k), version)
        _, _ ->
          case json.skip_value(b, after) {
            Ok(next) -> members(b, next, False, key, version)
            Error(_) -> Error(Nil)
          }
      }
    }
    Ok(json.Key("version", after)) -> {
      let at = json.skip_ws(b, after)
      case bytes.is_digit(bytes.at(b, at)), json.number(b, at) {
        True, Ok(#(json.Count(v), next)) -> members(b, next, False, key, Ok(v))
        _, _ ->
          case json.skip_value(b, after) {
            Ok(next) -> members(b, next, False, key, version)
            Error(_) -> Error(Nil)
          }
      }
    }
    Ok(json.Key(_, after)) ->
      case json.skip_value(b, after) {
        Ok(next) -> members(b, next, False, key, version)
        Error(_) -> Error(Nil)
      }
  }
}

@external(erlang, "tally_bytes_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray
