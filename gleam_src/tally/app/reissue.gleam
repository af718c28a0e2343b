//// What a reissue replaces. A consumer keeps, per key, the line of the
//// highest version; so a new version of a period (`invoice_version`) needs to
//// say nothing about the lines it has again, but must say which lines of
//// earlier versions are gone (a customer now without a plan, a resource
//// without usage): for each such key it publishes a void of the new version
//// (`written.void_json`, its fields the key's decoded parts).
////
//// The keys a period ever issued are kept by the closer in
//// `data_dir/issued/PERIOD` and replaced once a close put its items in the
//// outbox; closing a period again gives the same voids (the outbox skips
//// those acknowledged before). This module only works out the voids.

import tally/app/outbox_book as book
import tally/app/written
import tally/pure/bytes
import tally/pure/map

/// The voids of a close, and the period's keys with this close's.
pub type Reissue {
  Reissue(
    /// Outbox items: a void for each key issued before and gone now, in
    /// key order.
    voids: List(book.Item),
    /// The keys the period issued, this close's included.
    issued: map.Map(String, Bool),
    /// Whether `issued` has keys it did not have: the record to replace.
    changed: Bool,
  )
}

/// A key issued before that is not a line key (five `/`-separated parts):
/// the record of issued keys is not tally's.
pub type ReissueError {
  NotALineKey(key: String)
}

/// The voids of `version` of a period, given the keys it issued before and
/// the message ids (`KEY/vVERSION`, all of `version`) of all its lines now.
pub fn voids(
  issued: map.Map(String, Bool),
  ids: List(String),
  version: Int,
  subject: String,
) -> Result(Reissue, ReissueError) {
  let suffix = byte_size(written.msg_id("", version))
  let current = current_keys(ids, suffix, map.new())
  let gone = gone(map.sorted_pairs(issued), current, [])
  case void_items(gone, version, subject, []) {
    Error(e) -> Error(e)
    Ok(voids) -> {
      let all = map.put_all(map.sorted_pairs(current), issued)
      Ok(Reissue(
        voids: voids,
        issued: all,
        changed: map.size(all) != map.size(issued),
      ))
    }
  }
}

fn current_keys(
  ids: List(String),
  suffix: Int,
  acc: map.Map(String, Bool),
) -> map.Map(String, Bool) {
  case ids {
    [] -> acc
    [id, ..rest] -> {
      let b = <<id:utf8>>
      let key = bytes.slice_text(b, 0, bytes.size(b) - suffix)
      current_keys(rest, suffix, map.put(acc, key, True))
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

@external(erlang, "erlang", "byte_size")
fn byte_size(text: String) -> Int
