//// Amazon S3 server access logs in pure Gleam: the twin of
//// `native/core/src/s3.rs`. Space-separated fields, `[time]`, the quoted
//// Request-URI, Referer and User-Agent (written unescaped: a quote closes
//// one only where the next fields can start, as `closing_quote` says), `-`
//// for none; at least 17 fields, at most 40; every reason names its field. Each line
//// gives `requests` = 1, `bandwidth_out_bytes` = Bytes Sent (when above 0),
//// and `bandwidth_in_bytes` = Object Size of uploads (when above 0), with
//// ids `<request id>/<meter>` (or `s3-<FNV-1a of the line>-<line>/<meter>`).

import tally/event
import tally/pure/bytes
import tally/pure/chain
import tally/pure/lines
import tally/pure/rfc3339

const min_fields = 17

const max_fields = 40

const i64_max = 9_223_372_036_854_775_807

pub opaque type State {
  State(source: String, customer: event.S3Customer)
}

pub fn new(source: String, customer: event.S3Customer) -> State {
  State(source: source, customer: customer)
}

pub fn parse_line(
  state: State,
  number: Int,
  line: BitArray,
) -> #(State, lines.LineResult) {
  case bytes.is_blank(line) {
    True -> #(state, lines.Skipped)
    False ->
      case events(state, number, line) {
        Ok(es) -> #(state, lines.Accepted(es))
        Error(reason) -> #(state, lines.Rejected(reason))
      }
  }
}

fn events(
  state: State,
  number: Int,
  line: BitArray,
) -> Result(List(event.UsageEvent), event.RejectReason) {
  use f <- chain.then(split_fields(line, 0, 0, []))
  let n = bytes.length(f)
  // Fields in line order: the reason names the first that broke.
  let missing = event.MissingField(field: name(n))
  let field = fn(i) { nth(f, i).0 }
  use owner <- chain.then(text(f, 0))
  use <- chain.guard(n < 2, missing)
  use bucket <- chain.then(text(f, 1))
  use <- chain.guard(n < 3, missing)
  use time_ms <- chain.then(case parse_log_time(field(2)) {
    Ok(t) -> Ok(t)
    Error(Nil) -> Error(event.InvalidTime(field: "time"))
  })
  use <- chain.guard(n < min_fields, missing)
  // Anonymous requests: `-`, or `Anonymous` in the older format.
  use customer <- chain.then(case state.customer, field(4) {
    event.Requester, <<"-":utf8>> -> Ok(owner)
    event.Requester, <<"Anonymous":utf8>> -> Ok(owner)
    event.Requester, _ -> text(f, 4)
    _, _ -> Ok(owner)
  })
  use <- chain.guard(
    !is_status(field(9)),
    event.BadField(
      field: "http_status",
      column: nth(f, 9).1 + 1,
      expected: "three digits or '-'",
    ),
  )
  let operation = field(6)
  use bytes_sent <- chain.then(byte_count(field(11), "bytes_sent"))
  use object_size <- chain.then(byte_count(field(12), "object_size"))
  use base_id <- chain.then(case field(5) {
    <<"-":utf8>> | <<>> ->
      Ok("s3-" <> bytes.fnv1a64_hex(line) <> "-" <> bytes.int_to_text(number))
    _ -> text(f, 5)
  })
  let make = fn(meter, value) {
    event.UsageEvent(
      id: base_id <> "/" <> meter,
      source: state.source,
      customer: customer,
      resource: bucket,
      meter: meter,
      value: value,
      time_ms: time_ms,
    )
  }
  let out = case bytes_sent > 0 {
    True -> [make("bandwidth_out_bytes", bytes_sent)]
    False -> []
  }
  let out = case is_upload(operation) && object_size > 0 {
    True -> [make("bandwidth_in_bytes", object_size), ..out]
    False -> out
  }
  Ok([make("requests", 1), ..bytes.reverse(out)])
}

// The fields of a line by position, as the S3 documentation names them.
const names = [
  "bucket_owner", "bucket", "time", "remote_ip", "requester", "request_id",
  "operation", "key", "request_uri", "http_status", "error_code", "bytes_sent",
  "object_size", "total_time", "turn_around_time", "referer", "user_agent",
]

fn name(i: Int) -> String {
  name_in(names, i)
}

fn name_in(list: List(String), i: Int) -> String {
  case list, i {
    [], _ -> ""
    [x, ..], 0 -> x
    [_, ..rest], _ -> name_in(rest, i - 1)
  }
}

// Field `i` and where it starts in the line.
fn nth(list: List(#(BitArray, Int)), i: Int) -> #(BitArray, Int) {
  case list, i {
    [], _ -> #(<<>>, 0)
    [x, ..], 0 -> x
    [_, ..rest], _ -> nth(rest, i - 1)
  }
}

// An HTTP status: three digits, or `-`.
fn is_status(field: BitArray) -> Bool {
  field == <<"-":utf8>> || bytes.size(field) == 3 && bytes.all_digits(field)
}

fn is_upload(operation: BitArray) -> Bool {
  case operation {
    <<"REST.PUT.OBJECT":utf8>> -> True
    <<"REST.PUT.PART":utf8>> -> True
    <<"REST.POST.OBJECT":utf8>> -> True
    <<"REST.POST.UPLOAD":utf8>> -> True
    _ -> False
  }
}

// Text field number `i`: UTF-8, and neither empty nor `-`.
fn text(
  f: List(#(BitArray, Int)),
  i: Int,
) -> Result(String, event.RejectReason) {
  let #(field, start) = nth(f, i)
  case bytes.utf8_error_at(field) {
    -1 ->
      case field {
        <<>> | <<"-":utf8>> -> Error(event.EmptyField(field: name(i)))
        _ -> Ok(bytes.to_text(field))
      }
    at ->
      Error(event.BadField(
        field: name(i),
        column: start + at + 1,
        expected: "UTF-8 text",
      ))
  }
}

// A byte count: `-` is 0.
fn byte_count(
  field: BitArray,
  name: String,
) -> Result(Int, event.RejectReason) {
  case field {
    <<"-":utf8>> -> Ok(0)
    _ ->
      case bytes.size(field) > 19 || !bytes.all_digits(field) {
        True -> Error(event.InvalidNumber(field: name))
        False ->
          case bytes.parse_digits(field) {
            v if v > i64_max -> Error(event.NumberTooLarge(field: name))
            v -> Ok(v)
          }
      }
  }
}

// Fields (with where each starts), brackets and quotes removed; spaces
// separate them.
fn split_fields(
  line: BitArray,
  i: Int,
  n: Int,
  fields: List(#(BitArray, Int)),
) -> Result(List(#(BitArray, Int)), event.RejectReason) {
  case bytes.at(line, i) {
    -1 -> Ok(bytes.reverse(fields))
    32 -> split_fields(line, i + 1, n, fields)
    c ->
      case n == max_fields {
        True -> Error(event.WrongFieldCount(expected: max_fields, found: n + 1))
        False -> {
          let size = bytes.size(line)
          let next = case c {
            91 if n == 2 ->
              case bytes.find_byte(line, i, 93) {
                end if end == size ->
                  Error(event.BadField(
                    field: name(n),
                    column: i + 1,
                    expected: "closing ']'",
                  ))
                end -> Ok(#(bytes.slice(line, i + 1, end - i - 1), end + 1))
              }
            34 if n == 8 || n == 15 || n == 16 ->
              case closing_quote(line, i + 1, n) {
                Error(expected) ->
                  Error(event.BadField(
                    field: name(n),
                    column: i + 1,
                    expected: expected,
                  ))
                Ok(end) -> Ok(#(bytes.slice(line, i + 1, end - i - 1), end + 1))
              }
            _ -> {
              let end = bytes.find_byte(line, i, 32)
              Ok(#(bytes.slice(line, i, end - i), end))
            }
          }
          case next {
            Error(reason) -> Error(reason)
            Ok(#(field, after)) ->
              split_fields(line, after, n + 1, [#(field, i), ..fields])
          }
        }
      }
  }
}

// Whether the bytes at `at` are a whole field: a space or the end follows.
fn field_ends(line: BitArray, at: Int) -> Bool {
  case bytes.at(line, at) {
    -1 | 32 -> True
    _ -> False
  }
}

// After a space at `at`: the HTTP status, five words and the Referer's start.
fn uri_tail_at(line: BitArray, at: Int, k: Int) -> Bool {
  case bytes.at(line, at) {
    32 -> {
      let start = skip_spaces(line, at)
      let end = bytes.find_byte(line, start, 32)
      case
        end == start
        || k == 0
        && !is_status(bytes.slice(line, start, end - start))
      {
        True -> False
        False ->
          case k == 6 {
            True -> True
            False -> uri_tail_at(line, end, k + 1)
          }
      }
    }
    _ -> False
  }
}

fn skip_spaces(line: BitArray, at: Int) -> Int {
  case bytes.at(line, at) {
    32 -> skip_spaces(line, at + 1)
    _ -> at
  }
}

// The first quote at or after `j` for which `ok` holds; -1 when none.
fn first_quote(line: BitArray, j: Int, ok: fn(Int) -> Bool) -> Int {
  let q = bytes.find_byte(line, j, 34)
  case q == bytes.size(line) {
    True -> -1
    False ->
      case ok(q) {
        True -> q
        False -> first_quote(line, q + 1, ok)
      }
  }
}

// The last quote at or after `j`; `last` when none.
fn last_quote(line: BitArray, j: Int, last: Int) -> Int {
  let q = bytes.find_byte(line, j, 34)
  case q == bytes.size(line) {
    True -> last
    False -> last_quote(line, q + 1, q)
  }
}

// The closing quote of quoted field `field` (as `closing_quote` in s3.rs):
// the Request-URI's is followed by the status, five words and the Referer
// (else the first quote before a space); the Referer's by the quoted
// User-Agent (else by `-` or the end); the User-Agent's is the line's last.
fn closing_quote(line: BitArray, from: Int, field: Int) -> Result(Int, String) {
  let at = fn(i) { bytes.at(line, i) }
  let found = case field {
    8 ->
      case first_quote(line, from, fn(q) { uri_tail_at(line, q + 1, 0) }) {
        -1 -> first_quote(line, from, fn(q) { at(q + 1) == 32 })
        q -> q
      }
    15 ->
      case
        first_quote(line, from, fn(q) { at(q + 1) == 32 && at(q + 2) == 34 })
      {
        -1 ->
          first_quote(line, from, fn(q) {
            at(q + 1) == -1
            || at(q + 1) == 32
            && at(q + 2) == 45
            && field_ends(line, q + 3)
          })
        q -> q
      }
    _ ->
      case last_quote(line, from, -1) {
        -1 -> -1
        q ->
          case field_ends(line, q + 1) {
            True -> q
            False -> -1
          }
      }
  }
  case found, field {
    -1, 8 -> Error("closing '\"' followed by a space")
    -1, 15 -> Error("closing '\"' followed by the User-Agent")
    -1, _ -> Error("closing '\"' followed by a space or the end of the line")
    q, _ -> Ok(q)
  }
}

const months = [
  <<"Jan":utf8>>,
  <<"Feb":utf8>>,
  <<"Mar":utf8>>,
  <<"Apr":utf8>>,
  <<"May":utf8>>,
  <<"Jun":utf8>>,
  <<"Jul":utf8>>,
  <<"Aug":utf8>>,
  <<"Sep":utf8>>,
  <<"Oct":utf8>>,
  <<"Nov":utf8>>,
  <<"Dec":utf8>>,
]

fn month_number(
  name: BitArray,
  list: List(BitArray),
  n: Int,
) -> Result(Int, Nil) {
  case list {
    [] -> Error(Nil)
    [m, ..rest] ->
      case m == name {
        True -> Ok(n)
        False -> month_number(name, rest, n + 1)
      }
  }
}

/// `06/Feb/2019:00:00:38 +0000` to milliseconds since the epoch.
pub fn parse_log_time(s: BitArray) -> Result(Int, Nil) {
  let at = fn(i) { bytes.at(s, i) }
  case
    bytes.size(s) != 26
    || at(2) != 47
    || at(6) != 47
    || at(11) != 58
    || at(14) != 58
    || at(17) != 58
    || at(20) != 32
  {
    True -> Error(Nil)
    False -> {
      let num = fn(from, len) {
        let part = bytes.slice(s, from, len)
        case bytes.all_digits(part) {
          True -> Ok(bytes.parse_digits(part))
          False -> Error(Nil)
        }
      }
      use month <- chain.then(month_number(bytes.slice(s, 3, 3), months, 1))
      use year <- chain.then(num(7, 4))
      use day <- chain.then(num(0, 2))
      use hour <- chain.then(num(12, 2))
      use minute <- chain.then(num(15, 2))
      use second <- chain.then(num(18, 2))
      use local <- chain.then(rfc3339.to_epoch_ms(
        year,
        month,
        day,
        hour,
        minute,
        second,
        0,
      ))
      use oh <- chain.then(num(22, 2))
      use om <- chain.then(num(24, 2))
      case om > 59, at(21) {
        True, _ -> Error(Nil)
        _, 43 -> Ok(local - { oh * 60 + om } * 60_000)
        _, 45 -> Ok(local + { oh * 60 + om } * 60_000)
        _, _ -> Error(Nil)
      }
    }
  }
}
