//// The written form of a rejected line, the Gleam twin of
//// `tally_core::written::reject_json` (README, "Rejected lines"): the
//// release's `rejects.jsonl` and the CLI's `--rejects FILE` hold the same
//// objects. Keys sorted, `reason` an object of its kind and named fields
//// (a field name keeps one JSON type across kinds: a field count is
//// `expected_fields`, never `expected`), `message` the reason as text,
//// `text` the line (base64, with `text_base64` true, when it is not UTF-8).

import tally/event
import tally/pure/bytes
import tally/pure/json_tree

/// One reject of `source`, read from `file`, as one JSON line (no newline).
///
/// ```gleam
/// reject.json(source: "s3", file: "in/s3.log", reject: event.Reject(
///   format: event.S3AccessLog, line: 3, offset: 120,
///   reason: event.WrongFieldCount(expected: 18, found: 2), text: <<"a":utf8>>))
/// // -> "{\"file\":\"in/s3.log\",\"format\":\"s3_access_log\",\"line\":3,..."
/// ```
pub fn json(
  source source: String,
  file file: String,
  reject reject: event.Reject,
) -> String {
  let #(text, base64) = case bytes.utf8_error_at(reject.text) {
    -1 -> #(bytes.to_text(reject.text), False)
    _ -> #(base64_encode(reject.text), True)
  }
  json_tree.to_sorted_string(
    json_tree.JObject([
      #("source", json_tree.JString(source)),
      #("file", json_tree.JString(file)),
      #("format", json_tree.JString(format_name(reject.format))),
      #("line", json_tree.int(reject.line)),
      #("offset", json_tree.int(reject.offset)),
      #("reason", json_tree.JObject(reason_fields(reject.reason))),
      #("message", json_tree.JString(message(reject.reason))),
      #("text", json_tree.JString(text)),
      #("text_base64", json_tree.JBool(base64)),
    ]),
  )
}

/// A format's name in written forms and configuration (`json_lines`).
pub fn format_name(format: event.Format) -> String {
  case format {
    event.JsonLines -> "json_lines"
    event.S3AccessLog -> "s3_access_log"
    event.RgwUsage -> "rgw_usage"
    event.StorageCsv -> "storage_csv"
  }
}

fn reason_fields(
  reason: event.RejectReason,
) -> List(#(String, json_tree.Json)) {
  let s = json_tree.JString
  let n = json_tree.int
  let #(kind, fields) = case reason {
    event.BadHeader -> #("bad_header", [])
    event.BadField(field, column, expected) -> #("bad_field", [
      #("field", s(field)),
      #("column", n(column)),
      #("expected", s(expected)),
    ])
    event.DuplicateKey(field) -> #("duplicate_key", [#("field", s(field))])
    event.Disagree(field, other) -> #("disagree", [
      #("field", s(field)),
      #("other", s(other)),
    ])
    event.InvalidJson(column, expected) -> #("invalid_json", [
      #("column", n(column)),
      #("expected", s(expected)),
    ])
    event.Malformed(column, expected) -> #("malformed", [
      #("column", n(column)),
      #("expected", s(expected)),
    ])
    event.InvalidUtf8(column) -> #("invalid_utf8", [#("column", n(column))])
    event.MissingField(field) -> #("missing_field", [#("field", s(field))])
    event.WrongType(field, expected) -> #("wrong_type", [
      #("field", s(field)),
      #("expected", s(expected)),
    ])
    event.EmptyField(field) -> #("empty_field", [#("field", s(field))])
    event.InvalidTime(field) -> #("invalid_time", [#("field", s(field))])
    event.InvalidNumber(field) -> #("invalid_number", [#("field", s(field))])
    event.NumberTooLarge(field) -> #("number_too_large", [#("field", s(field))])
    event.LineTooLong(length, limit) -> #("line_too_long", [
      #("length", n(length)),
      #("limit", n(limit)),
    ])
    event.WrongFieldCount(expected, found) -> #("wrong_field_count", [
      #("expected_fields", n(expected)),
      #("found_fields", n(found)),
    ])
  }
  [#("kind", s(kind)), ..fields]
}

/// The reason as text, the words of the engine's `RejectReason` Display.
///
/// ```gleam
/// reject.message(event.LineTooLong(length: 2_000_000, limit: 1_048_576))
/// // -> "line of 2000000 bytes is over the limit of 1048576"
/// ```
pub fn message(reason: event.RejectReason) -> String {
  let i = bytes.int_to_text
  case reason {
    event.BadHeader ->
      "the CSV header does not name the columns timestamp, customer, bucket and bytes"
    event.BadField(f, c, e) ->
      "field " <> f <> " at column " <> i(c) <> ": expected " <> e
    event.DuplicateKey(f) -> "field " <> f <> " appears more than once"
    event.Disagree(f, o) -> "field " <> f <> " disagrees with " <> o
    event.InvalidJson(c, e) ->
      "invalid JSON at column " <> i(c) <> ": expected " <> e
    event.Malformed(c, e) ->
      "malformed line at column " <> i(c) <> ": expected " <> e
    event.InvalidUtf8(c) -> "invalid UTF-8 at column " <> i(c)
    event.MissingField(f) -> "missing field " <> f
    event.WrongType(f, e) -> "field " <> f <> " should be " <> e
    event.EmptyField(f) -> "field " <> f <> " is empty"
    event.InvalidTime(f) -> "field " <> f <> " is not a valid timestamp"
    event.InvalidNumber(f) -> "field " <> f <> " is not a non-negative integer"
    event.NumberTooLarge(f) -> "field " <> f <> " is too large"
    event.LineTooLong(n, l) ->
      "line of " <> i(n) <> " bytes is over the limit of " <> i(l)
    event.WrongFieldCount(e, f) ->
      "expected " <> i(e) <> " fields, found " <> i(f)
  }
}

@external(erlang, "base64", "encode")
fn base64_encode(bytes: BitArray) -> String
