//// The pure Gleam engine: tally's operations written in Gleam (with only
//// byte access through `tally_pure_ffi`), the readable reference the Rust
//// engine is checked against, and a backend of its own (`backend.Gleam`).
////
//// So far it parses JSON Lines usage events (`parse_event_line`,
//// `parse_chunk`); the other formats, streaming parsers, aggregation and
//// billing answer `Error(engine.Unsupported(..))` until they are written.
//// Everything it does answer is held to the Rust engine's answers, reject
//// reasons and columns included, by the differential tests.

import tally/engine
import tally/event
import tally/pure/bytes
import tally/pure/jsonl

/// Most bytes of a rejected line kept in its reject (as the Rust engine).
const kept_text_limit = 4096

/// Same as `nif.parse_event_line`.
pub fn parse_event_line(
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError) {
  Ok(jsonl.parse_event_line(line))
}

/// Same as `nif.parse_chunk`, for the formats the Gleam engine has.
///
/// ```gleam
/// pure.parse_chunk(event.JsonLines, event.default_parser_options(), <<"\n":utf8>>)
/// // -> Ok(event.Parsed(events: [], rejects: [], stats: ..))
/// ```
pub fn parse_chunk(
  format: event.Format,
  options: event.ParserOptions,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  case options.max_line, format {
    max, _ if max < 0 -> Error(engine.BadArgument("an Int that fits usize"))
    0, _ -> Error(engine.BadArgument("a max_line above 0"))
    max, event.JsonLines -> Ok(json_lines(max, chunk))
    _, _ -> Error(engine.Unsupported("parse_chunk of this format on the Gleam engine"))
  }
}

type Acc {
  Acc(
    events: List(event.UsageEvent),
    rejects: List(event.Reject),
    records: Int,
    accepted: Int,
    rejected: Int,
    skipped: Int,
  )
}

// Every line, numbered from 1 with its byte offset; the piece after the
// last newline is a line only when it is not empty.
fn json_lines(max_line: Int, chunk: BitArray) -> event.Parsed {
  let acc = lines(bytes.split_lines(chunk), max_line, 1, 0, Acc([], [], 0, 0, 0, 0))
  event.Parsed(
    events: bytes.reverse(acc.events),
    rejects: bytes.reverse(acc.rejects),
    stats: event.ParseStats(
      records: acc.records,
      accepted: acc.accepted,
      rejected: acc.rejected,
      skipped: acc.skipped,
      events: acc.accepted,
      bytes: bytes.size(chunk),
    ),
  )
}

fn lines(pieces: List(BitArray), max_line: Int, number: Int, offset: Int, acc: Acc) -> Acc {
  case pieces {
    [] -> acc
    [last] ->
      case bytes.size(last) {
        0 -> acc
        _ -> line(last, max_line, number, offset, acc)
      }
    [piece, ..rest] ->
      lines(
        rest,
        max_line,
        number + 1,
        offset + bytes.size(piece) + 1,
        line(piece, max_line, number, offset, acc),
      )
  }
}

fn line(piece: BitArray, max_line: Int, number: Int, offset: Int, acc: Acc) -> Acc {
  let acc = Acc(..acc, records: acc.records + 1)
  let length = bytes.size(piece)
  case length > max_line {
    True ->
      reject(acc, number, offset, event.LineTooLong(length: length, limit: max_line), piece)
    False -> {
      let text = bytes.strip_cr(piece)
      case bytes.is_blank(text) {
        True -> Acc(..acc, skipped: acc.skipped + 1)
        False ->
          case jsonl.parse_event_line(text) {
            Ok(e) -> Acc(..acc, events: [e, ..acc.events], accepted: acc.accepted + 1)
            Error(reason) -> reject(acc, number, offset, reason, text)
          }
      }
    }
  }
}

fn reject(acc: Acc, number: Int, offset: Int, reason: event.RejectReason, text: BitArray) -> Acc {
  let r =
    event.Reject(
      format: event.JsonLines,
      line: number,
      offset: offset,
      reason: reason,
      text: bytes.head(text, kept_text_limit),
    )
  Acc(..acc, rejects: [r, ..acc.rejects], rejected: acc.rejected + 1)
}
