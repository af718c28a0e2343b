//// The line driver of the pure Gleam engine: the twin of `LineSplitter` and
//// `LineDriver` in `native/core/src/lines.rs` and `parse.rs`. Lines are
//// numbered from 1 with their byte offsets; a line over the limit is
//// rejected without being parsed (and without being kept: only its first
//// 4096 bytes and its length); a `\r` before `\n` is dropped; every other
//// line goes to the format, whose state runs from line to line. Input comes
//// in chunks cut anywhere; a partial line waits for the next chunk.

import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/chain

/// What a format made of one line.
pub type LineResult {
  Accepted(events: List(event.UsageEvent))
  Skipped
  Rejected(reason: event.RejectReason)
}

/// Most bytes of a rejected line kept in its reject (as the Rust engine).
const kept_text_limit = 4096

/// A stream of lines in one format: the format's state, the unfinished
/// line, and where the next line starts.
pub opaque type Stream(state) {
  Stream(
    format: event.Format,
    max_line: Int,
    state: state,
    parse_line: fn(state, Int, BitArray) -> #(state, LineResult),
    carry: BitArray,
    // the length so far of an unfinished line already over the limit
    skipping: option.Option(Int),
    next_line: Int,
    line_start: Int,
  )
}

pub fn new(
  format: event.Format,
  max_line: Int,
  state: state,
  parse_line: fn(state, Int, BitArray) -> #(state, LineResult),
) -> Stream(state) {
  Stream(format, max_line, state, parse_line, <<>>, option.None, 1, 0)
}

type Out {
  Out(
    events: List(event.UsageEvent),
    rejects: List(event.Reject),
    records: Int,
    accepted: Int,
    rejected: Int,
    skipped: Int,
    emitted: Int,
  )
}

fn empty() -> Out {
  Out([], [], 0, 0, 0, 0, 0)
}

fn parsed(out: Out, bytes_read: Int) -> event.Parsed {
  event.Parsed(
    events: bytes.reverse(out.events),
    rejects: bytes.reverse(out.rejects),
    stats: event.ParseStats(
      records: out.records,
      accepted: out.accepted,
      rejected: out.rejected,
      skipped: out.skipped,
      events: out.emitted,
      bytes: bytes_read,
    ),
  )
}

/// The lines a chunk completes.
pub fn feed(
  stream: Stream(state),
  chunk: BitArray,
) -> #(Stream(state), event.Parsed) {
  let #(s, out) = pieces(stream, bytes.split_lines(chunk), empty())
  #(s, parsed(out, bytes.size(chunk)))
}

/// The end of the input: an unfinished last line is a line now.
pub fn finish(stream: Stream(state)) -> #(Stream(state), event.Parsed) {
  case stream.carry, stream.skipping {
    <<>>, option.None -> #(stream, parsed(empty(), 0))
    _, _ -> {
      let #(s, out) = complete(stream, <<>>, empty())
      #(s, parsed(out, 0))
    }
  }
}

/// A whole input: `feed` then `finish`, in one answer.
pub fn parse_all(
  format: event.Format,
  max_line: Int,
  input: BitArray,
  state: state,
  parse_line: fn(state, Int, BitArray) -> #(state, LineResult),
) -> event.Parsed {
  let #(s, out) =
    pieces(
      new(format, max_line, state, parse_line),
      bytes.split_lines(input),
      empty(),
    )
  let #(_, out) = case s.carry, s.skipping {
    <<>>, option.None -> #(s, out)
    _, _ -> complete(s, <<>>, out)
  }
  parsed(out, bytes.size(input))
}

// Every piece but the last ends with a newline; the last is unfinished.
fn pieces(
  s: Stream(state),
  list: List(BitArray),
  out: Out,
) -> #(Stream(state), Out) {
  case list {
    [] -> #(s, out)
    [last] -> #(extend(s, last), out)
    [piece, ..rest] -> {
      let #(s, out) = complete(s, piece, out)
      let s = Stream(..s, line_start: s.line_start + bytes.size(piece) + 1)
      pieces(s, rest, out)
    }
  }
}

// An unfinished piece joins the carry, or only counts once over the limit.
fn extend(s: Stream(state), piece: BitArray) -> Stream(state) {
  let size = bytes.size(piece)
  let s = Stream(..s, line_start: s.line_start + size)
  case s.skipping {
    option.Some(len) ->
      Stream(
        ..s,
        skipping: option.Some(len + size),
        carry: keep_head(s.carry, piece),
      )
    option.None ->
      case bytes.size(s.carry) + size > s.max_line {
        True ->
          Stream(
            ..s,
            skipping: option.Some(bytes.size(s.carry) + size),
            carry: bytes.head(keep_head(s.carry, piece), kept_text_limit),
          )
        False -> Stream(..s, carry: bytes.append(s.carry, piece))
      }
  }
}

// The carry plus as much of `piece` as fits in the kept text.
fn keep_head(carry: BitArray, piece: BitArray) -> BitArray {
  let room = kept_text_limit - bytes.size(carry)
  case room > 0 {
    True -> bytes.append(carry, bytes.head(piece, room))
    False -> carry
  }
}

// A line ends with `piece` (what the chunk has of it, before its newline).
fn complete(
  s: Stream(state),
  piece: BitArray,
  out: Out,
) -> #(Stream(state), Out) {
  let carried = case s.skipping {
    option.Some(len) -> len
    option.None -> bytes.size(s.carry)
  }
  let number = s.next_line
  let offset = s.line_start - carried
  let out = Out(..out, records: out.records + 1)
  let #(s, out) = case s.skipping, s.carry {
    option.Some(len), _ -> {
      let total = len + bytes.size(piece)
      #(
        s,
        reject(
          s,
          out,
          number,
          offset,
          event.LineTooLong(length: total, limit: s.max_line),
          keep_head(s.carry, piece),
        ),
      )
    }
    option.None, <<>> ->
      case bytes.size(piece) > s.max_line {
        True -> #(
          s,
          reject(
            s,
            out,
            number,
            offset,
            event.LineTooLong(length: bytes.size(piece), limit: s.max_line),
            piece,
          ),
        )
        False -> line(s, bytes.strip_cr(piece), number, offset, out)
      }
    option.None, carry -> {
      let total = bytes.size(carry) + bytes.size(piece)
      case total > s.max_line {
        True -> #(
          s,
          reject(
            s,
            out,
            number,
            offset,
            event.LineTooLong(length: total, limit: s.max_line),
            keep_head(carry, piece),
          ),
        )
        False ->
          line(
            s,
            bytes.strip_cr(bytes.append(carry, piece)),
            number,
            offset,
            out,
          )
      }
    }
  }
  #(Stream(..s, carry: <<>>, skipping: option.None, next_line: number + 1), out)
}

fn line(
  s: Stream(state),
  text: BitArray,
  number: Int,
  offset: Int,
  out: Out,
) -> #(Stream(state), Out) {
  let parse_line = s.parse_line
  let #(state, result) = parse_line(s.state, number, text)
  let s = Stream(..s, state: state)
  case result {
    Skipped -> #(s, Out(..out, skipped: out.skipped + 1))
    Accepted(events) -> #(
      s,
      Out(
        ..out,
        events: chain.prepend(events, out.events),
        accepted: out.accepted + 1,
        emitted: out.emitted + bytes.length(events),
      ),
    )
    Rejected(reason) -> #(s, reject(s, out, number, offset, reason, text))
  }
}

fn reject(
  s: Stream(state),
  out: Out,
  number: Int,
  offset: Int,
  reason: event.RejectReason,
  text: BitArray,
) -> Out {
  let r =
    event.Reject(
      format: s.format,
      line: number,
      offset: offset,
      reason: reason,
      text: bytes.head(text, kept_text_limit),
    )
  Out(..out, rejects: [r, ..out.rejects], rejected: out.rejected + 1)
}
