//// The pure Gleam engine: tally's operations written in Gleam (with only
//// byte access through `tally_pure_ffi`), the readable reference the Rust
//// engine is checked against, and a backend of its own (`backend.Gleam`).
////
//// So far it parses all four formats whole (`parse_event_line`,
//// `parse_chunk`); streaming parsers, aggregation and billing answer `Error(engine.Unsupported(..))` until they are written.
//// Everything it does answer is held to the Rust engine's answers, reject
//// reasons and columns included, by the differential tests.

import tally/engine
import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/csv
import tally/pure/jsonl
import tally/pure/lines
import tally/pure/rgw
import tally/pure/s3

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
    max, event.S3AccessLog ->
      Ok(lines.parse_all(
        event.S3AccessLog,
        max,
        chunk,
        s3.new(option.unwrap(options.source, or: "s3_access_log"), options.s3_customer),
        s3.parse_line,
      ))
    max, event.RgwUsage ->
      Ok(rgw.parse_all(option.unwrap(options.source, or: "rgw_usage"), max, chunk))
    max, event.StorageCsv ->
      Ok(lines.parse_all(
        event.StorageCsv,
        max,
        chunk,
        csv.new(option.unwrap(options.source, or: "storage_csv")),
        csv.parse_line,
      ))
  }
}

// A line format's answer for one line, as `LineFormat::parse_line` gives it.
fn json_line(state: Nil, _number: Int, line: BitArray) -> #(Nil, lines.LineResult) {
  case bytes.is_blank(line) {
    True -> #(state, lines.Skipped)
    False ->
      case jsonl.parse_event_line(line) {
        Ok(e) -> #(state, lines.Accepted([e]))
        Error(reason) -> #(state, lines.Rejected(reason))
      }
  }
}

fn json_lines(max_line: Int, chunk: BitArray) -> event.Parsed {
  lines.parse_all(event.JsonLines, max_line, chunk, Nil, json_line)
}
