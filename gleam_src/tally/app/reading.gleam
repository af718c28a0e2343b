//// What a collector reads next from one file: pure decisions, no I/O
//// (the collector actor reads the bytes and carries them out).
////
//// Chunks are cut at line ends, and at the offsets where some shard
//// stopped (a whole unit for that shard). A last line without its newline
//// waits while the file may still grow; it is taken when the file is known
//// complete (rotated away, or a period is being closed). A line longer than
//// a chunk is found whole (up to `max_line`) and handed over as one chunk,
//// or, when longer, rejected whole once its end is known. An RGW usage
//// file is one JSON document, read whole once its size held still between
//// two polls and it ends with its closing brace, or when complete.

import tally/app/source_pos
import tally/event
import tally/pure/bytes

/// The chunk of a file to read next: `length` bytes from the file's
/// offset, and whether they end at a cut where a shard stopped.
pub type Read {
  Read(length: Int, at_cut: Bool)
}

/// What to do with the bytes read.
pub type Unit {
  /// Hand the first `length` bytes to the engine as one chunk.
  HandOver(length: Int)
  /// A line without its newline yet, at the end of a growing file.
  Wait
  /// No line end within a chunk: look for the end of a long line.
  LongLine
}

/// What to do with a long line starting at the file's offset.
pub type LongLineStep {
  /// Hand the line, up to `end` (exclusive), over as one chunk.
  WholeLine(end: Int)
  /// Reject the line of `length` bytes whole; the file goes on at `end`.
  TooLong(length: Int, end: Int)
  /// Its end is not written yet: remember it was scanned up to `scanned`.
  NotYet(scanned: Int)
}

/// The chunk to read from `offset` of a file of `size` bytes, with the
/// shards' cuts and the chunk size; `Error(Nil)` when there is nothing.
///
/// ```gleam
/// reading.next_read(offset: 0, size: 100, cuts: [30], chunk: 64)
/// // -> Ok(reading.Read(length: 30, at_cut: True))
/// ```
pub fn next_read(
  offset offset: Int,
  size size: Int,
  cuts cuts: List(Int),
  chunk chunk: Int,
) -> Result(Read, Nil) {
  case offset >= size {
    True -> Error(Nil)
    False -> {
      let #(cut, at_cut) = source_pos.next_cut(cuts, offset: offset, size: size)
      let length = min(chunk, cut - offset)
      Ok(Read(length: length, at_cut: at_cut && length == cut - offset))
    }
  }
}

/// What to hand over of `read`'s bytes `got`, read from `offset` of a file
/// of `size` bytes (`complete`: nothing more will be written).
///
/// ```gleam
/// reading.unit(<<"a\nb":utf8>>, reading.Read(3, False), offset: 0, size: 10,
///   complete: False)
/// // -> reading.HandOver(2)
/// ```
pub fn unit(
  got: BitArray,
  read: Read,
  offset offset: Int,
  size size: Int,
  complete complete: Bool,
) -> Unit {
  let length = bytes.size(got)
  let end = offset + length
  let whole = case read.at_cut && length == read.length {
    True -> length
    False -> whole_lines(got)
  }
  case whole, end == size {
    0, True ->
      case complete {
        False -> Wait
        True -> HandOver(length)
      }
    0, False -> LongLine
    n, _ -> HandOver(n)
  }
}

/// The length of the bytes up to and including their last newline (0: none).
///
/// ```gleam
/// reading.whole_lines(<<"a\nbc\nd":utf8>>)
/// // -> 5
/// ```
pub fn whole_lines(got: BitArray) -> Int {
  last_newline(got, bytes.size(got) - 1)
}

fn last_newline(got: BitArray, at: Int) -> Int {
  case at < 0 {
    True -> 0
    False ->
      case bytes.at(got, at) {
        10 -> at + 1
        _ -> last_newline(got, at - 1)
      }
  }
}

/// What to do with a line starting at `offset` that no chunk holds whole:
/// `newline` is where its newline is (`Error(Nil)`: not found up to
/// `size`), `max_line` the longest line accepted.
///
/// ```gleam
/// reading.long_line(offset: 0, newline: Error(Nil), size: 9000,
///   max_line: 1_048_576, complete: False)
/// // -> reading.NotYet(scanned: 9000)
/// ```
pub fn long_line(
  offset offset: Int,
  newline newline: Result(Int, Nil),
  size size: Int,
  max_line max_line: Int,
  complete complete: Bool,
) -> LongLineStep {
  case newline {
    Ok(at) ->
      case at - offset <= max_line {
        True -> WholeLine(end: at + 1)
        False -> TooLong(length: at - offset, end: at + 1)
      }
    Error(Nil) ->
      case complete, size - offset <= max_line {
        True, True -> WholeLine(end: size)
        True, False -> TooLong(length: size - offset, end: size)
        False, _ -> NotYet(scanned: size)
      }
  }
}

/// The reject of a line too long: one record, no events.
pub fn too_long_reject(
  format format: event.Format,
  length length: Int,
  max_line max_line: Int,
  head head: BitArray,
) -> event.Reject {
  event.Reject(
    format: format,
    line: 1,
    offset: 0,
    reason: event.LineTooLong(length: length, limit: max_line),
    text: head,
  )
}

/// The number of the first bytes of an over-long line kept in its reject.
pub const kept_text = 4096

/// Whether an RGW usage document is ready to be read whole: not read yet
/// (`offset` 0) and complete, or its size unchanged since the last poll
/// (`last_size`, -1 before the first).
pub fn document_settled(
  offset offset: Int,
  size size: Int,
  last_size last_size: Int,
  complete complete: Bool,
) -> Bool {
  offset == 0 && { complete || size == last_size }
}

/// Whether a document's last non-blank byte is its closing brace (one
/// still being written is not).
pub fn document_closed(document: BitArray) -> Bool {
  last_non_blank(document, bytes.size(document) - 1) == 125
}

// The last byte that is not ASCII white space (-1: none); any bytes, UTF-8 or not.
fn last_non_blank(document: BitArray, at: Int) -> Int {
  case at < 0 {
    True -> -1
    False ->
      case bytes.at(document, at) {
        32 | 9 | 10 | 11 | 12 | 13 -> last_non_blank(document, at - 1)
        c -> c
      }
  }
}

/// The number of lines of a chunk (a last one without newline counts),
/// one for an RGW document.
pub fn lines_in(format: event.Format, chunk: BitArray) -> Int {
  case format {
    event.RgwUsage -> 1
    _ -> {
      let n = bytes.size(chunk)
      // One scan of the chunk (binary:matches), not one call per line.
      let newlines = bytes.length(matches(chunk, <<"\n":utf8>>))
      case n > 0 && bytes.at(chunk, n - 1) != 10 {
        True -> newlines + 1
        False -> newlines
      }
    }
  }
}

@external(erlang, "binary", "matches")
fn matches(subject: BitArray, pattern: BitArray) -> List(#(Int, Int))

/// The CSV header line (with its newline) from a file's first bytes:
/// storage CSV chunks after the first are parsed with it in front.
pub fn header_line(first: BitArray) -> Result(BitArray, Nil) {
  let at = bytes.find_byte(first, 0, 10)
  case at < bytes.size(first) {
    True -> Ok(bytes.slice(first, 0, at + 1))
    False -> Error(Nil)
  }
}

/// The position a file reaches after a chunk ending at `end` with `lines`
/// lines; `head` reads the file's first bytes for its fingerprint.
pub fn advance(
  position: source_pos.Position,
  end end: Int,
  lines lines: Int,
  head head: fn(Int) -> BitArray,
) -> source_pos.Position {
  let fingerprint = case
    source_pos.fingerprint_due(position.fingerprint, offset: end)
  {
    Ok(n) -> source_pos.fingerprint(head(n))
    Error(Nil) -> position.fingerprint
  }
  source_pos.Position(
    ..position,
    offset: end,
    line: position.line + lines,
    fingerprint: fingerprint,
  )
}

/// Whether a file was rewritten in place since `position` (it shrank below
/// what was read, or its first bytes changed): then it is read again from
/// its start as a new generation. `first` is the file's first
/// `position.fingerprint.length` bytes now.
pub fn rewritten(
  position: source_pos.Position,
  size size: Int,
  first first: BitArray,
) -> Bool {
  size < position.offset
  || source_pos.fingerprint(first) != position.fingerprint
}

/// The rotated files of a file source: the names in its directory that
/// begin with its own name (`in.jsonl.1`, `in.jsonl-20261001`), in order.
pub fn rotated_names(base: String, names: List(String)) -> List(String) {
  let b = <<base:utf8>>
  filter(names, fn(name) {
    name != base && bytes.starts_with(<<name:utf8>>, 0, b)
  })
}

/// The wait before retrying a file that failed: `poll_ms` the first time,
/// then doubling up to a minute.
pub fn backoff(previous: Result(Int, Nil), poll_ms poll_ms: Int) -> Int {
  case previous {
    Error(Nil) -> poll_ms
    Ok(delay) -> min(2 * delay, 60_000)
  }
}

fn filter(list: List(a), keep: fn(a) -> Bool) -> List(a) {
  case list {
    [] -> []
    [x, ..rest] ->
      case keep(x) {
        True -> [x, ..filter(rest, keep)]
        False -> filter(rest, keep)
      }
  }
}

fn min(a: Int, b: Int) -> Int {
  case a < b {
    True -> a
    False -> b
  }
}
