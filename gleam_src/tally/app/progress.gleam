//// A shard's record of the input it applied, pure: its position in every
//// (source, file), which chunks to apply or skip (`source_pos.decide`),
//// and when a snapshot is due by the work done.
////
//// A snapshot is due every `snapshot_bytes` of input applied: the engine's
//// save writes what changed since the last one (a delta appended to the
//// snapshot's log), so saving often costs no more in all than saving
//// seldom, and keeps the engine's record of what changed small. The shard
//// also snapshots on a timer when anything changed (`dirty`).
////
//// The positions travel inside the engine's snapshot (its `extra` bytes,
//// `encode`/`decode`), so state and positions are always saved together.

import tally/app/source_pos
import tally/option
import tally/pure/bytes
import tally/pure/json_tree
import tally/pure/map

/// What a shard applied, and the work since its last snapshot.
pub opaque type Progress {
  Progress(
    positions: map.Map(source_pos.SourceFile, source_pos.Position),
    snapshot_bytes: Int,
    dirty: Bool,
    work: Int,
  )
}

/// What a snapshot's `extra` bytes hold: the positions, and the length of
/// the shard's late-events file when it was written.
pub type Saved {
  Saved(
    positions: List(#(source_pos.SourceFile, source_pos.Position)),
    late_bytes: Int,
  )
}

/// The progress of a shard that starts from `positions` (empty: from
/// nothing), with snapshots due by work from `snapshot_bytes` of input.
///
/// ```gleam
/// progress.new([], snapshot_bytes: 67_108_864)
/// ```
pub fn new(
  positions: List(#(source_pos.SourceFile, source_pos.Position)),
  snapshot_bytes snapshot_bytes: Int,
) -> Progress {
  Progress(
    positions: map.put_all(positions, map.new()),
    snapshot_bytes: snapshot_bytes,
    dirty: False,
    work: 0,
  )
}

/// Where the shard stands in `file`, if it has anything of it.
pub fn position(
  progress: Progress,
  file: source_pos.SourceFile,
) -> option.Option(source_pos.Position) {
  case map.get(progress.positions, file) {
    Ok(p) -> option.Some(p)
    Error(Nil) -> option.None
  }
}

/// Every position, by (source, file), in order.
pub fn positions(
  progress: Progress,
) -> List(#(source_pos.SourceFile, source_pos.Position)) {
  map.sorted_pairs(progress.positions)
}

/// What to do with a chunk of `file` of generation `generation` from
/// offset `from` to position `to` (see `source_pos.decide`).
pub fn decide(
  progress: Progress,
  file: source_pos.SourceFile,
  generation generation: Int,
  from from: Int,
  to to: source_pos.Position,
) -> source_pos.Decision {
  source_pos.decide(
    position(progress, file),
    generation: generation,
    from: from,
    to: to,
  )
}

/// Records a chunk applied: `file` is now at `to`, and the chunk's bytes
/// (from offset `from`) count as work.
pub fn applied(
  progress: Progress,
  file: source_pos.SourceFile,
  from from: Int,
  to to: source_pos.Position,
) -> Progress {
  let work = case to.offset > from {
    True -> to.offset - from
    False -> 0
  }
  Progress(
    ..progress,
    positions: map.put(progress.positions, file, to),
    dirty: True,
    work: progress.work + work,
  )
}

/// Whether the work since the last snapshot makes one due.
pub fn snapshot_due(progress: Progress) -> Bool {
  progress.work >= progress.snapshot_bytes
}

/// Whether anything changed since the last snapshot.
pub fn dirty(progress: Progress) -> Bool {
  progress.dirty
}

/// The progress once a snapshot of it is written.
pub fn saved(progress: Progress) -> Progress {
  Progress(..progress, dirty: False, work: 0)
}

/// The bytes saved with the engine's snapshot: the positions and the late
/// file's length, as JSON.
pub fn encode(progress: Progress, late_bytes late_bytes: Int) -> BitArray {
  let n = json_tree.int
  let entries =
    map_list(positions(progress), fn(entry) {
      let #(source_pos.SourceFile(source, file), p) = entry
      json_tree.JObject([
        #("source", json_tree.JString(source)),
        #("device", n(file.device)),
        #("inode", n(file.inode)),
        #("generation", n(p.generation)),
        #("offset", n(p.offset)),
        #("line", n(p.line)),
        #("fingerprint_length", n(p.fingerprint.length)),
        #("fingerprint_md5", json_tree.JString(hex(p.fingerprint.digest))),
        #("done", json_tree.JBool(p.done)),
      ])
    })
  <<
    json_tree.to_sorted_string(
      json_tree.JObject([
        #("positions", json_tree.JArray(entries)),
        #("late_bytes", n(late_bytes)),
      ]),
    ):utf8,
  >>
}

/// The positions and late file length from a snapshot's `extra` bytes, or
/// why they cannot be read.
pub fn decode(extra: BitArray) -> Result(Saved, String) {
  case bytes.utf8_error_at(extra) {
    -1 ->
      case json_tree.parse(bytes.to_text(extra)) {
        Error(e) -> Error("positions: " <> e)
        Ok(json_tree.JObject(members)) ->
          case find(members, "positions"), find(members, "late_bytes") {
            Ok(json_tree.JArray(entries)), Ok(json_tree.JNumber(late)) ->
              case all(entries, entry, []), int(late) {
                Ok(positions), Ok(late_bytes) ->
                  Ok(Saved(positions: positions, late_bytes: late_bytes))
                Error(e), _ -> Error(e)
                _, Error(e) -> Error(e)
              }
            _, _ -> Error("positions: no positions and late_bytes")
          }
        Ok(_) -> Error("positions: not an object")
      }
    _ -> Error("positions: not UTF-8")
  }
}

fn entry(
  tree: json_tree.Json,
) -> Result(#(source_pos.SourceFile, source_pos.Position), String) {
  case tree {
    json_tree.JObject(m) ->
      case
        find(m, "source"),
        ints(m, ["device", "inode", "generation", "offset", "line"]),
        ints(m, ["fingerprint_length"]),
        find(m, "fingerprint_md5"),
        find(m, "done")
      {
        Ok(json_tree.JString(source)),
          Ok([device, inode, generation, offset, line]),
          Ok([fp_length]),
          Ok(json_tree.JString(digest)),
          Ok(json_tree.JBool(done))
        ->
          case unhex(<<digest:utf8>>, 0, <<>>) {
            Ok(md5) ->
              Ok(#(
                source_pos.SourceFile(
                  source: source,
                  file: source_pos.FileId(device: device, inode: inode),
                ),
                source_pos.Position(
                  generation: generation,
                  offset: offset,
                  line: line,
                  fingerprint: source_pos.Fingerprint(
                    length: fp_length,
                    digest: md5,
                  ),
                  done: done,
                ),
              ))
            Error(Nil) -> Error("positions: a fingerprint that is not hex")
          }
        _, _, _, _, _ -> Error("positions: an entry without its fields")
      }
    _ -> Error("positions: an entry that is not an object")
  }
}

fn ints(
  members: List(#(String, json_tree.Json)),
  names: List(String),
) -> Result(List(Int), String) {
  case names {
    [] -> Ok([])
    [name, ..rest] ->
      case find(members, name) {
        Ok(json_tree.JNumber(text)) ->
          case int(text), ints(members, rest) {
            Ok(i), Ok(is) -> Ok([i, ..is])
            Error(e), _ -> Error(e)
            _, Error(e) -> Error(e)
          }
        _ -> Error("positions: no integer " <> name)
      }
  }
}

fn int(text: String) -> Result(Int, String) {
  let b = <<text:utf8>>
  case bytes.all_digits(b) {
    True -> Ok(bytes.parse_digits(b))
    False -> Error("positions: " <> text <> " is not a count")
  }
}

fn all(
  items: List(a),
  f: fn(a) -> Result(b, String),
  acc: List(b),
) -> Result(List(b), String) {
  case items {
    [] -> Ok(bytes.reverse(acc))
    [x, ..rest] ->
      case f(x) {
        Ok(y) -> all(rest, f, [y, ..acc])
        Error(e) -> Error(e)
      }
  }
}

fn find(members: List(#(String, v)), key: String) -> Result(v, Nil) {
  case members {
    [] -> Error(Nil)
    [#(k, v), ..rest] ->
      case k == key {
        True -> Ok(v)
        False -> find(rest, key)
      }
  }
}

fn map_list(list: List(a), f: fn(a) -> b) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] -> [f(x), ..map_list(rest, f)]
  }
}

fn hex(digest: BitArray) -> String {
  bytes.to_text(hex_of(digest, 0, bytes.size(digest), <<>>))
}

fn hex_of(b: BitArray, i: Int, size: Int, out: BitArray) -> BitArray {
  case i < size {
    False -> out
    True -> {
      let c = bytes.at(b, i)
      hex_of(
        b,
        i + 1,
        size,
        bytes.append_byte(bytes.append_byte(out, digit(c / 16)), digit(c % 16)),
      )
    }
  }
}

fn digit(d: Int) -> Int {
  case d < 10 {
    True -> 48 + d
    False -> 87 + d
  }
}

fn unhex(b: BitArray, i: Int, out: BitArray) -> Result(BitArray, Nil) {
  case bytes.at(b, i), bytes.at(b, i + 1) {
    -1, _ -> Ok(out)
    hi, lo ->
      case value(hi), value(lo) {
        Ok(h), Ok(l) -> unhex(b, i + 2, bytes.append_byte(out, h * 16 + l))
        _, _ -> Error(Nil)
      }
  }
}

fn value(c: Int) -> Result(Int, Nil) {
  case c >= 48 && c <= 57, c >= 97 && c <= 102 {
    True, _ -> Ok(c - 48)
    _, True -> Ok(c - 87)
    _, _ -> Error(Nil)
  }
}
