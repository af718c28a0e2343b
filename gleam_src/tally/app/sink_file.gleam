//// The embedded default sink: invoice lines appended as JSON Lines to one
//// file, synced before they count as acknowledged. The keys already in the
//// file are read at start, so an item published again (after a crash
//// between the write and the outbox's removal) is not written twice: the
//// file holds each key once, as a stream with a duplicate window would.
////
//// ```gleam
//// let assert Ok(file) = sink_file.open("data/invoices.jsonl")
//// let #(file, outcome) = sink_file.publish(file, items)
//// ```

import tally/app/files
import tally/app/sink
import tally/app/written
import tally/billing
import tally/pure/bytes
import tally/pure/json
import tally/pure/map

/// An open file sink: its path and every key already in it.
pub opaque type FileSink {
  FileSink(path: String, seen: Seen)
}

// The keys in the file, in an ETS set owned by the process that opened the
// sink: a period's hundreds of thousands of keys kept on the process heap
// would be copied by every garbage collection of the publisher.
type Seen

/// Opens the sink at `path` (its directory made when missing), reading the
/// keys the file already holds.
pub fn open(path: String) -> Result(FileSink, String) {
  case files.ensure_dir(path) {
    Error(why) -> Error(path <> ": " <> why)
    Ok(Nil) ->
      case read_file(path) {
        Ok(contents) -> Ok(FileSink(path, seen_set(seen_keys(contents))))
        Error("enoent") -> Ok(FileSink(path, seen_set(map.new())))
        Error(why) -> Error(path <> ": " <> why)
      }
  }
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
  let #(lines, added, keys) = new_lines(items, sink.seen, map.new(), [], [])
  case files.append_durably(sink.path, concat(lines)) {
    Ok(Nil) -> {
      remember_keys(sink.seen, map.keys(added))
      #(sink, sink.Published(keys))
    }
    Error(why) -> #(sink, sink.Failed([], sink.path <> ": " <> why))
  }
}

/// The engine's batch of lines (`aggregate.close_written`): appended as
/// they are, with one write and one fsync, when none of its keys is in the
/// file already; else item by item, as `publish`.
pub fn publish_written(
  sink: FileSink,
  batch: billing.WrittenBatch,
) -> #(FileSink, sink.Outcome) {
  let keys = split_lines(batch.ids)
  case any_key_in(sink.seen, keys) {
    True -> publish(sink, written_items(keys, split_lines(batch.lines), []))
    False ->
      case files.append_durably(sink.path, batch.lines) {
        Ok(Nil) -> {
          remember_keys(sink.seen, keys)
          #(sink, sink.Published(keys))
        }
        Error(why) -> #(sink, sink.Failed([], sink.path <> ": " <> why))
      }
  }
}

@external(erlang, "tally_outbox_ffi", "seen_set")
fn seen_set(keys: map.Map(String, Bool)) -> Seen

@external(erlang, "tally_outbox_ffi", "any_key_in")
fn any_key_in(seen: Seen, keys: List(String)) -> Bool

@external(erlang, "tally_outbox_ffi", "is_key_in")
fn is_key_in(seen: Seen, key: String) -> Bool

@external(erlang, "tally_outbox_ffi", "add_keys")
fn remember_keys(seen: Seen, keys: List(String)) -> Nil

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
  seen: Seen,
  added: map.Map(String, Bool),
  lines: List(BitArray),
  keys: List(String),
) -> #(List(BitArray), map.Map(String, Bool), List(String)) {
  case items {
    [] -> #(bytes.reverse(lines), added, bytes.reverse(keys))
    [sink.Item(key, _, payload), ..rest] ->
      case is_key_in(seen, key) || map.get(added, key) == Ok(True) {
        True -> new_lines(rest, seen, added, lines, [key, ..keys])
        False ->
          new_lines(
            rest,
            seen,
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
  add_keys(split(contents, <<"\n":utf8>>), map.new())
}

fn add_keys(
  lines: List(BitArray),
  seen: map.Map(String, Bool),
) -> map.Map(String, Bool) {
  case lines {
    [] -> seen
    [line, ..rest] ->
      case line_key(line) {
        Ok(key) -> add_keys(rest, map.put(seen, key, True))
        Error(Nil) -> add_keys(rest, seen)
      }
  }
}

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

@external(erlang, "tally_bytes_ffi", "split")
fn split(bytes: BitArray, separator: BitArray) -> List(BitArray)

@external(erlang, "tally_bytes_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray

// The whole file (read once, at start).
fn read_file(path: String) -> Result(BitArray, String) {
  case files.open(path, [files.Read]) {
    Error(why) -> Error(why)
    Ok(io) -> {
      let read = case files.stat_io(io) {
        Ok(info) -> files.pread(io, 0, info.size)
        Error(why) -> Error(why)
      }
      let _ = files.close(io)
      read
    }
  }
}
