//// The line driver of the pure Gleam engine (the twin of `LineSplitter` and
//// `LineDriver` in `native/core/src/lines.rs` and `parse.rs`, for whole
//// inputs): numbers lines from 1 with their byte offsets, rejects a line
//// over the limit without parsing it, strips a `\r` before `\n`, and hands
//// every other line to the format, whose state runs from line to line.

import tally/event
import tally/pure/bytes

/// What a format made of one line.
pub type LineResult {
  Accepted(events: List(event.UsageEvent))
  Skipped
  Rejected(reason: event.RejectReason)
}

/// Most bytes of a rejected line kept in its reject (as the Rust engine).
const kept_text_limit = 4096

type Acc(state) {
  Acc(
    state: state,
    events: List(event.UsageEvent),
    rejects: List(event.Reject),
    records: Int,
    accepted: Int,
    rejected: Int,
    skipped: Int,
    emitted: Int,
  )
}

/// Every line of a whole input through `parse_line`; the piece after the
/// last newline is a line only when it is not empty.
pub fn parse_all(
  format: event.Format,
  max_line: Int,
  input: BitArray,
  state: state,
  parse_line: fn(state, Int, BitArray) -> #(state, LineResult),
) -> event.Parsed {
  let start = Acc(state, [], [], 0, 0, 0, 0, 0)
  let acc = each(bytes.split_lines(input), format, max_line, parse_line, 1, 0, start)
  event.Parsed(
    events: bytes.reverse(acc.events),
    rejects: bytes.reverse(acc.rejects),
    stats: event.ParseStats(
      records: acc.records,
      accepted: acc.accepted,
      rejected: acc.rejected,
      skipped: acc.skipped,
      events: acc.emitted,
      bytes: bytes.size(input),
    ),
  )
}

fn each(
  pieces: List(BitArray),
  format: event.Format,
  max_line: Int,
  parse_line: fn(state, Int, BitArray) -> #(state, LineResult),
  number: Int,
  offset: Int,
  acc: Acc(state),
) -> Acc(state) {
  case pieces {
    [] -> acc
    [last] ->
      case bytes.size(last) {
        0 -> acc
        _ -> line(last, format, max_line, parse_line, number, offset, acc)
      }
    [piece, ..rest] ->
      each(
        rest,
        format,
        max_line,
        parse_line,
        number + 1,
        offset + bytes.size(piece) + 1,
        line(piece, format, max_line, parse_line, number, offset, acc),
      )
  }
}

fn line(
  piece: BitArray,
  format: event.Format,
  max_line: Int,
  parse_line: fn(state, Int, BitArray) -> #(state, LineResult),
  number: Int,
  offset: Int,
  acc: Acc(state),
) -> Acc(state) {
  let acc = Acc(..acc, records: acc.records + 1)
  let length = bytes.size(piece)
  case length > max_line {
    True ->
      reject(
        acc,
        format,
        number,
        offset,
        event.LineTooLong(length: length, limit: max_line),
        piece,
      )
    False -> {
      let text = bytes.strip_cr(piece)
      let #(state, result) = parse_line(acc.state, number, text)
      let acc = Acc(..acc, state: state)
      case result {
        Skipped -> Acc(..acc, skipped: acc.skipped + 1)
        Accepted(events) ->
          Acc(
            ..acc,
            events: prepend(events, acc.events),
            accepted: acc.accepted + 1,
            emitted: acc.emitted + bytes.length(events),
          )
        Rejected(reason) -> reject(acc, format, number, offset, reason, text)
      }
    }
  }
}

fn prepend(events: List(a), onto: List(a)) -> List(a) {
  case events {
    [] -> onto
    [e, ..rest] -> prepend(rest, [e, ..onto])
  }
}

fn reject(
  acc: Acc(state),
  format: event.Format,
  number: Int,
  offset: Int,
  reason: event.RejectReason,
  text: BitArray,
) -> Acc(state) {
  let r =
    event.Reject(
      format: format,
      line: number,
      offset: offset,
      reason: reason,
      text: bytes.head(text, kept_text_limit),
    )
  Acc(..acc, rejects: [r, ..acc.rejects], rejected: acc.rejected + 1)
}
