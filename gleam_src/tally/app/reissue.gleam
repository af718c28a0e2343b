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
      Ok(Issued(key_set(ids, []), ids))
    }
  }
}

/// The voids of `version` of a period, given what it issued before and the
/// message ids of all its lines now (`id_blobs`: `KEY/vVERSION` lines, a
/// newline after each, as the engine wrote them): `start`, `add` of each
/// blob and `finish` at once.
pub fn voids(
  issued: Issued,
  id_blobs: List(BitArray),
  version: Int,
  subject: String,
) -> Result(Reissue, ReissueError) {
  let #(progress, new) = add_all(start(issued), id_blobs, [])
  case finish(progress, version, subject) {
    Error(e) -> Error(e)
    Ok(voids) ->
      Ok(
        Reissue(voids: voids, record: case concat(new) {
          <<>> -> KeepRecord
          ids -> WriteRecord(concat([record_start(issued), ids]))
        }),
      )
  }
}

fn add_all(
  progress: Progress,
  blobs: List(BitArray),
  acc: List(BitArray),
) -> #(Progress, List(BitArray)) {
  case blobs {
    [] -> #(progress, bytes.reverse(acc))
    [b, ..rest] -> {
      let #(progress, new) = add(progress, b)
      add_all(progress, rest, [new, ..acc])
    }
  }
}

/// What a close that did not finish left beside the record (`PATH.tmp`:
/// the ids issued before it, then those of each round it began to put into
/// the outbox, its last line perhaps torn) added to what was issued: those
/// lines may have reached the sink, so a later version voids them too. The
/// text form only (the closer writes no other); `True`: ids were added.
pub fn with_unfinished(
  issued: Issued,
  unfinished: BitArray,
) -> #(Issued, Bool) {
  let size = bytes.size(unfinished)
  let ids = case size > 0 && !is_term(unfinished) {
    False -> []
    True ->
      case bytes.at(unfinished, size - 1) == 10 {
        True -> split_lines(unfinished)
        // A line cut short by a crash: not a whole id.
        False -> drop_last(split_lines(unfinished))
      }
  }
  let #(keys, known) = case issued {
    NothingIssued -> #(map.new(), [])
    Issued(keys, ids) -> #(keys, ids)
  }
  case unknown(ids, keys, []) {
    #(_, []) -> #(issued, False)
    #(keys, new) -> #(Issued(keys, append_ids(known, new)), True)
  }
}

fn unknown(
  ids: List(String),
  keys: map.Map(String, Bool),
  new: List(String),
) -> #(map.Map(String, Bool), List(String)) {
  case ids {
    [] -> #(keys, bytes.reverse(new))
    [id, ..rest] -> {
      let k = key_of(id)
      case map.get(keys, k) {
        Ok(_) -> unknown(rest, keys, new)
        Error(Nil) -> unknown(rest, map.put(keys, k, True), [id, ..new])
      }
    }
  }
}

fn drop_last(l: List(a)) -> List(a) {
  case bytes.reverse(l) {
    [] -> []
    [_, ..rest] -> bytes.reverse(rest)
  }
}

fn append_ids(a: List(String), b: List(String)) -> List(String) {
  prepend_reversed(bytes.reverse(a), b)
}

fn prepend_reversed(reversed: List(a), to: List(a)) -> List(a) {
  case reversed {
    [] -> to
    [x, ..rest] -> prepend_reversed(rest, [x, ..to])
  }
}

/// A close seen round by round against what its period issued before: the
/// keys issued before and not seen again yet.
pub opaque type Progress {
  Progress(issued: Issued, unseen: map.Map(String, Bool))
}

/// A close begins.
pub fn start(issued: Issued) -> Progress {
  case issued {
    NothingIssued -> Progress(issued, map.new())
    Issued(keys, _) -> Progress(issued, keys)
  }
}

/// The record's bytes before the ids a close adds: the ids issued before.
pub fn record_start(issued: Issued) -> BitArray {
  case issued {
    NothingIssued -> <<>>
    Issued(_, ids) -> lines(ids)
  }
}

/// A round's message ids (`KEY/vVERSION` lines, as the engine wrote them)
/// seen: returns the ids new to the period, to append to the record (the
/// blob as it is when nothing was issued before).
pub fn add(progress: Progress, id_blob: BitArray) -> #(Progress, BitArray) {
  case progress.issued {
    NothingIssued -> #(progress, id_blob)
    Issued(_, _) -> {
      let #(unseen, new) = sift(split_lines(id_blob), progress.unseen, [])
      #(Progress(..progress, unseen: unseen), lines(new))
    }
  }
}

// One look-up an id: a close gives each key once, so a key issued before
// is still unseen when it comes; a key not unseen is new to the period.
fn sift(
  ids: List(String),
  unseen: map.Map(String, Bool),
  new: List(String),
) -> #(map.Map(String, Bool), List(String)) {
  case ids {
    [] -> #(unseen, bytes.reverse(new))
    [id, ..rest] ->
      case map.delete_found(unseen, key_of(id)) {
        Ok(unseen) -> sift(rest, unseen, new)
        Error(Nil) -> sift(rest, unseen, [id, ..new])
      }
  }
}

/// The voids of `version` once every round is seen: an item for each key
/// issued before and not seen again, in key order.
pub fn finish(
  progress: Progress,
  version: Int,
  subject: String,
) -> Result(List(book.Item), ReissueError) {
  void_items(map.keys(progress.unseen), version, subject, [])
}

/// A message id's key: what comes before its last `/` (`/vVERSION`).
@external(erlang, "tally_outbox_ffi", "key_of")
pub fn key_of(id: String) -> String

// Made at once from the pairs: millions of keys put one by one leave a
// map's worth of garbage each.
fn key_set(
  ids: List(String),
  acc: List(#(String, Bool)),
) -> map.Map(String, Bool) {
  case ids {
    [] -> map.from_list(acc)
    [id, ..rest] -> key_set(rest, [#(key_of(id), True), ..acc])
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
