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
////
//// The keys issued are a key set off the heap (`tally/app/key_set`, owned
//// by the process that parsed the record: a million customers' period
//// issued three million keys, which as a map on the closer's heap took
//// 2.2 GB to read back and 65 s to close again). A close takes the keys it
//// gives again out of it, so what is read back serves one close; `drop`
//// deletes it once the close is done.

import tally/app/key_set
import tally/app/outbox_book as book
import tally/app/reading
import tally/app/written
import tally/pure/bytes
import tally/pure/map

/// What a period issued before: nothing (no record), or its keys (those a
/// close has not given again yet) and the record's text (the message ids
/// in record order, a newline after each).
pub type Issued {
  NothingIssued
  Issued(keys: key_set.KeySet, record: BitArray)
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
          let set = key_set.new()
          key_set.insert(set, sorted)
          let ids = map_list(sorted, fn(k) { written.msg_id(k, 0) })
          Ok(Issued(set, lines(ids)))
        }
        Error(Nil) -> Error(Nil)
      }
    False -> {
      let set = key_set.new()
      insert_id_keys(bytes, set)
      Ok(Issued(set, with_newline(bytes)))
    }
  }
}

/// The voids of `version` of a period, given what it issued before and the
/// message ids of all its lines now (`id_blobs`: `KEY/vVERSION` lines, a
/// newline after each, as the engine wrote them): `start`, `add` of each
/// blob and `finish` at once. Like a close, it uses `issued` up.
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
  let whole = case size > 0 && !is_term(unfinished) {
    False -> <<>>
    True -> bytes.slice(unfinished, 0, reading.whole_lines(unfinished))
  }
  case whole, issued {
    <<>>, _ -> #(issued, False)
    _, NothingIssued -> {
      let set = key_set.new()
      case new_ids(whole, set) {
        [] -> {
          key_set.drop(set)
          #(issued, False)
        }
        new -> #(Issued(set, lines(new)), True)
      }
    }
    _, Issued(keys, record) ->
      case new_ids(whole, keys) {
        [] -> #(issued, False)
        new -> #(Issued(keys, concat([record, lines(new)])), True)
      }
  }
}

fn with_newline(text: BitArray) -> BitArray {
  let size = bytes.size(text)
  case size > 0 && bytes.at(text, size - 1) != 10 {
    True -> bytes.append_byte(text, 10)
    False -> text
  }
}

/// Deletes the key set of what was issued (a close is done with it).
pub fn drop(issued: Issued) -> Nil {
  case issued {
    NothingIssued -> Nil
    Issued(keys, _) -> key_set.drop(keys)
  }
}

/// A close seen round by round against what its period issued before
/// (the keys it gives again are taken out of the issued's).
pub opaque type Progress {
  Progress(issued: Issued)
}

/// A close begins, with what was read back for it.
pub fn start(issued: Issued) -> Progress {
  Progress(issued)
}

/// The record's bytes before the ids a close adds: the ids issued before.
pub fn record_start(issued: Issued) -> BitArray {
  case issued {
    NothingIssued -> <<>>
    Issued(_, record) -> record
  }
}

/// A round's message ids (`KEY/vVERSION` lines, as the engine wrote them)
/// seen: returns the ids new to the period, to append to the record (the
/// blob as it is when nothing was issued before).
pub fn add(progress: Progress, id_blob: BitArray) -> #(Progress, BitArray) {
  case progress.issued {
    NothingIssued -> #(progress, id_blob)
    Issued(keys, _) -> #(progress, lines(take_ids(id_blob, keys)))
  }
}

/// The voids of `version` once every round is seen: an item for each key
/// issued before and not seen again, in key order.
pub fn finish(
  progress: Progress,
  version: Int,
  subject: String,
) -> Result(List(book.Item), ReissueError) {
  case progress.issued {
    NothingIssued -> Ok([])
    // What is left of the keys issued: those no round gave again.
    Issued(keys, _) -> void_items(key_set.sorted(keys), version, subject, [])
  }
}

/// A message id's key: what comes before its last `/` (`/vVERSION`).
@external(erlang, "tally_outbox_ffi", "key_of")
pub fn key_of(id: String) -> String

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

// Each id's key put in `set`.
@external(erlang, "tally_key_set_ffi", "insert_id_keys")
fn insert_id_keys(ids: BitArray, set: key_set.KeySet) -> Nil

// The ids whose keys `set` lacked, in order (their keys put in).
@external(erlang, "tally_key_set_ffi", "new_ids")
fn new_ids(ids: BitArray, set: key_set.KeySet) -> List(String)

// The ids whose keys were not issued, in order; the others' keys taken out
// of `issued`.
@external(erlang, "tally_key_set_ffi", "take_ids")
fn take_ids(ids: BitArray, issued: key_set.KeySet) -> List(String)

@external(erlang, "tally_outbox_ffi", "is_term")
fn is_term(bytes: BitArray) -> Bool

@external(erlang, "tally_outbox_ffi", "decode_keys")
fn decode_keys(bytes: BitArray) -> Result(map.Map(String, Bool), Nil)
