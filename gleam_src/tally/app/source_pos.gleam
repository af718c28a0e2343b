//// How far a shard has applied one file of a source: pure logic, no I/O.
////
//// A file is known by its identity (device and inode) and, because the
//// same inode can be truncated and written again (copy-and-truncate
//// rotation), by a generation and a fingerprint: an MD5 of its first
//// bytes (up to `fingerprint_length` bytes, never more than were read). A
//// changed fingerprint is a new generation of the file, read from its
//// start.
////
//// Every shard records, per (source, identity), the position the applied
//// input reached. The collector cuts its chunks at line ends and, after a
//// restart, also at every position a shard holds, so a chunk is either
//// wholly applied by a shard or wholly new to it: a shard skips a chunk it
//// has already applied by comparing positions (`decide`), and restarts are
//// exact without remembering events.

import tally/option

/// A file's identity: its device and inode, not its path.
pub type FileId {
  FileId(device: Int, inode: Int)
}

/// The MD5 `digest` of the first `length` bytes of a file.
pub type Fingerprint {
  Fingerprint(length: Int, digest: BitArray)
}

/// How far a file was read: its `generation` (one more each time the file
/// was rewritten in place), the byte `offset` and the `line` count reached,
/// the fingerprint of its first bytes, and `done` once it was read to its
/// end after being rotated away (nothing more comes).
pub type Position {
  Position(
    generation: Int,
    offset: Int,
    line: Int,
    fingerprint: Fingerprint,
    done: Bool,
  )
}

/// A shard's source and file: the key of its positions.
pub type SourceFile {
  SourceFile(source: String, file: FileId)
}

/// What a shard does with a chunk (see `decide`).
pub type Decision {
  Apply
  Skip
  /// The chunk starts at `from`, but the shard is at `at` of that
  /// generation: something was lost or reordered; refuse it.
  NotAtPosition(from: Int, at: Int)
}

/// The number of first bytes a fingerprint covers at most.
pub const fingerprint_length = 1024

/// The position of a file not read yet, in generation `generation`.
///
/// ```gleam
/// source_pos.start(0).offset
/// // -> 0
/// ```
pub fn start(generation: Int) -> Position {
  Position(
    generation: generation,
    offset: 0,
    line: 0,
    fingerprint: fingerprint(<<>>),
    done: False,
  )
}

/// The fingerprint of a file's first bytes `head`.
pub fn fingerprint(head: BitArray) -> Fingerprint {
  Fingerprint(length: byte_size(head), digest: md5(head))
}

/// How many first bytes the fingerprint should cover once the file is read
/// up to `offset`: `Ok(n)` when it must be taken again over `n` bytes,
/// `Error(Nil)` when it already covers them. It grows with what was read
/// until it covers `fingerprint_length` bytes.
///
/// ```gleam
/// source_pos.fingerprint_due(source_pos.fingerprint(<<>>), offset: 10)
/// // -> Ok(10)
/// ```
pub fn fingerprint_due(
  fp: Fingerprint,
  offset offset: Int,
) -> Result(Int, Nil) {
  let n = min(offset, fingerprint_length)
  case n == fp.length {
    True -> Error(Nil)
    False -> Ok(n)
  }
}

/// What a shard holding `current` (`None`: nothing of the file yet) does
/// with a chunk of generation `generation` from offset `from` up to
/// position `to`: `Apply` it when it starts where the shard stands (or is
/// of a newer generation), `Skip` it when the shard has it already (or it
/// is of an older generation), and refuse anything else.
///
/// ```gleam
/// source_pos.decide(option.None, generation: 0, from: 0, to: source_pos.start(0))
/// // -> source_pos.Apply
/// ```
pub fn decide(
  current: option.Option(Position),
  generation generation: Int,
  from from: Int,
  to to: Position,
) -> Decision {
  case current {
    option.None -> Apply
    option.Some(at) ->
      case generation > at.generation, generation < at.generation {
        True, _ -> Apply
        _, True -> Skip
        _, _ ->
          case to.offset <= at.offset && from < to.offset, from == at.offset {
            True, _ -> Skip
            _, True -> Apply
            _, _ -> NotAtPosition(from: from, at: at.offset)
          }
      }
  }
}

/// Where a collector resumes a file from the shards' records of it (`None`
/// for a shard without one): the lowest position of the newest generation
/// whose fingerprint still matches the file (`matches` checks it against
/// the file), and the offsets above it, in order, where some shard stopped
/// and at which the reading must cut. A fingerprint that no longer matches:
/// the file was rewritten, a new generation from its start, no cuts.
///
/// ```gleam
/// source_pos.resume([option.None], fn(_) { True })
/// // -> #(source_pos.start(0), [])
/// ```
pub fn resume(
  records: List(option.Option(Position)),
  matches: fn(Fingerprint) -> Bool,
) -> #(Position, List(Int)) {
  let known = somes(records, [])
  case known {
    [] -> #(start(0), [])
    [first, ..] -> {
      let generation = max_generation(known, first.generation)
      // The furthest record of the newest generation has the longest fingerprint.
      let newest = furthest(known, generation, start(generation))
      case matches(newest.fingerprint) {
        False -> #(start(generation + 1), [])
        True -> {
          let current =
            map(records, fn(record) {
              case record {
                option.Some(p) ->
                  case p.generation == generation {
                    True -> p
                    False -> start(generation)
                  }
                option.None -> start(generation)
              }
            })
          let lowest = lowest(current, newest)
          let cuts =
            usort(
              filter_map(current, fn(p) {
                case p.offset > lowest.offset {
                  True -> Ok(p.offset)
                  False -> Error(Nil)
                }
              }),
            )
          #(lowest, cuts)
        }
      }
    }
  }
}

/// The offset a chunk read from `offset` may reach at most: the first cut
/// above `offset` (where some shard stopped) when the file has it already,
/// else the file's `size`. `True` with it when it is such a cut, whose
/// chunk is a whole unit even without a line end.
///
/// ```gleam
/// source_pos.next_cut([30], offset: 10, size: 100)
/// // -> #(30, True)
/// ```
pub fn next_cut(
  cuts: List(Int),
  offset offset: Int,
  size size: Int,
) -> #(Int, Bool) {
  case cuts {
    [] -> #(size, False)
    [c, ..rest] ->
      case c > offset {
        False -> next_cut(rest, offset: offset, size: size)
        True ->
          case c <= size {
            True -> #(c, True)
            False -> #(size, False)
          }
      }
  }
}

fn somes(
  records: List(option.Option(Position)),
  acc: List(Position),
) -> List(Position) {
  case records {
    [] -> reverse(acc)
    [option.Some(p), ..rest] -> somes(rest, [p, ..acc])
    [option.None, ..rest] -> somes(rest, acc)
  }
}

fn max_generation(positions: List(Position), best: Int) -> Int {
  case positions {
    [] -> best
    [p, ..rest] -> max_generation(rest, max(p.generation, best))
  }
}

fn furthest(
  positions: List(Position),
  generation: Int,
  best: Position,
) -> Position {
  case positions {
    [] -> best
    [p, ..rest] ->
      case p.generation == generation && p.offset >= best.offset {
        True -> furthest(rest, generation, p)
        False -> furthest(rest, generation, best)
      }
  }
}

fn lowest(positions: List(Position), best: Position) -> Position {
  case positions {
    [] -> best
    [p, ..rest] ->
      case p.offset < best.offset {
        True -> lowest(rest, p)
        False -> lowest(rest, best)
      }
  }
}

fn min(a: Int, b: Int) -> Int {
  case a < b {
    True -> a
    False -> b
  }
}

fn max(a: Int, b: Int) -> Int {
  case a > b {
    True -> a
    False -> b
  }
}

@external(erlang, "erlang", "byte_size")
fn byte_size(bytes: BitArray) -> Int

@external(erlang, "erlang", "md5")
fn md5(bytes: BitArray) -> BitArray

@external(erlang, "lists", "reverse")
fn reverse(list: List(a)) -> List(a)

@external(erlang, "lists", "map")
fn erlang_map(f: fn(a) -> b, list: List(a)) -> List(b)

fn map(list: List(a), f: fn(a) -> b) -> List(b) {
  erlang_map(f, list)
}

@external(erlang, "lists", "usort")
fn usort(list: List(Int)) -> List(Int)

fn filter_map(list: List(a), f: fn(a) -> Result(b, Nil)) -> List(b) {
  case list {
    [] -> []
    [x, ..rest] ->
      case f(x) {
        Ok(y) -> [y, ..filter_map(rest, f)]
        Error(Nil) -> filter_map(rest, f)
      }
  }
}
