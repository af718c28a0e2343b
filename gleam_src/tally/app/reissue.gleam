//// What a reissue replaces. A consumer keeps, per key, the line of the
//// highest version; so a new version of a period (`invoice_version`) needs to
//// say nothing about the lines it has again, but must say which lines of
//// earlier versions are gone (a customer now without a plan, a resource
//// without usage): for each such key it publishes a void of the new version
//// (`written.void_json`, its fields the key's decoded parts).
////
//// The closer keeps the keys a period ever issued in `data_dir/issued/PERIOD`:
//// a text file of message ids (`KEY/vVERSION`), one a line, in the order
//// issued (the last `/` of an id starts its version). The first close of a
//// period records its ids as the engine wrote them, no id taken apart;
//// later closes take the record apart to find the voids and add only new
//// keys. A record in the earlier form (an Erlang term of the keys) is read
//// too. Closing a period again gives the same voids (the outbox skips those
//// acknowledged before). This module only works out the voids and the
//// record; the closer reads and writes the file.

import tally/app/outbox_book as book
import tally/app/written
import tally/pure/bytes
import tally/pure/map

/// What a period issued before: nothing (no record), or its keys and their
/// message ids in record order.
pub type Issued {
  NothingIssued
  Issued(keys: map.Map(String, Bool), ids: List(String))
}

/// What to do with the record after the close's items are in the outbox.
pub type Record {
  /// Nothing new: the record stays as it is.
  KeepRecord
  /// Replace the record with these bytes.
  WriteRecord(bytes: BitArray)
}

/// The voids of a close, and what becomes of the record.
pub type Reissue {
  Reissue(
    /// Outbox items: a void for each key issued before and gone now, in
    /// key order.
    voids: List(book.Item),
    record: Record,
  )
}

/// A key issued before that is not a line key (five `/`-separated parts):
/// the record of issued keys is not tally's.
pub type ReissueError {
  NotALineKey(key: String)
}

/// The record's bytes read back: the text form, or the earlier term form
/// (its keys' versions unknown: any will do); an error for bytes that are
/// neither.
pub fn parse_record(bytes: BitArray) -> Result(Issued, Nil) {
  case is_term(bytes) {
    True ->
      case decode_keys(bytes) {
        Ok(keys) -> {
          let sorted = map.keys(keys)
          Ok(Issued(keys, map_list(sorted, fn(k) { written.msg_id(k, 0) })))
        }
        Error(Nil) -> Error(Nil)
      }
    False -> {
      let ids = split_lines(bytes)
      Ok(Issued(key_set(ids, map.new()), ids))
    }
  }
}

/// The voids of `version` of a period, given what it issued before and the
/// message ids of all its lines now (`id_blobs`: `KEY/vVERSION` lines, a
/// newline after each, as the engine wrote them).
pub fn voids(
  issued: Issued,
  id_blobs: List(BitArray),
  version: Int,
  subject: String,
) -> Result(Reissue, ReissueError) {
  case issued {
    // Nothing issued before: nothing void, the ids recorded as they are.
    NothingIssued ->
      Ok(
        Reissue(voids: [], record: case id_blobs {
          [] -> KeepRecord
          _ -> WriteRecord(concat(id_blobs))
        }),
      )
    Issued(keys, ids) -> {
      let current_ids = concat_lists(map_list(id_blobs, split_lines))
      let current = key_set(current_ids, map.new())
      let gone = gone(map.sorted_pairs(keys), current, [])
      case void_items(gone, version, subject, []) {
        Error(e) -> Error(e)
        Ok(voids) -> {
          let new = new_ids(current_ids, keys, [])
          Ok(
            Reissue(voids: voids, record: case new {
              [] -> KeepRecord
              _ -> WriteRecord(lines(concat_lists([ids, new])))
            }),
          )
        }
      }
    }
  }
}

/// A message id's key: what comes before its last `/` (`/vVERSION`).
@external(erlang, "tally_outbox_ffi", "key_of")
pub fn key_of(id: String) -> String

fn key_set(
  ids: List(String),
  acc: map.Map(String, Bool),
) -> map.Map(String, Bool) {
  case ids {
    [] -> acc
    [id, ..rest] -> key_set(rest, map.put(acc, key_of(id), True))
  }
}

fn new_ids(
  ids: List(String),
  issued: map.Map(String, Bool),
  acc: List(String),
) -> List(String) {
  case ids {
    [] -> bytes.reverse(acc)
    [id, ..rest] ->
      case map.get(issued, key_of(id)) {
        Ok(_) -> new_ids(rest, issued, acc)
        Error(Nil) -> new_ids(rest, issued, [id, ..acc])
      }
  }
}

fn gone(
  issued: List(#(String, Bool)),
  current: map.Map(String, Bool),
  acc: List(String),
) -> List(String) {
  case issued {
    [] -> bytes.reverse(acc)
    [#(k, _), ..rest] ->
      case map.get(current, k) {
        Ok(_) -> gone(rest, current, acc)
        Error(Nil) -> gone(rest, current, [k, ..acc])
      }
  }
}

fn void_items(
  keys: List(String),
  version: Int,
  subject: String,
  acc: List(book.Item),
) -> Result(List(book.Item), ReissueError) {
  case keys {
    [] -> Ok(bytes.reverse(acc))
    [k, ..rest] ->
      case written.key_parts(k) {
        Ok(parts) -> {
          let item =
            book.Item(
              key: written.msg_id(k, version),
              subject: subject,
              payload: written.void_json(k, parts, version),
            )
          void_items(rest, version, subject, [item, ..acc])
        }
        Error(Nil) -> Error(NotALineKey(k))
      }
  }
}

fn map_list(l: List(a), f: fn(a) -> b) -> List(b) {
  case l {
    [] -> []
    [x, ..rest] -> [f(x), ..map_list(rest, f)]
  }
}

@external(erlang, "lists", "append")
fn concat_lists(lists: List(List(a))) -> List(a)

@external(erlang, "erlang", "list_to_bitstring")
fn concat(pieces: List(BitArray)) -> BitArray

@external(erlang, "tally_outbox_ffi", "lines")
fn lines(ids: List(String)) -> BitArray

@external(erlang, "tally_outbox_ffi", "split_lines")
fn split_lines(text: BitArray) -> List(String)

@external(erlang, "tally_outbox_ffi", "is_term")
fn is_term(bytes: BitArray) -> Bool

@external(erlang, "tally_outbox_ffi", "decode_keys")
fn decode_keys(bytes: BitArray) -> Result(map.Map(String, Bool), Nil)
