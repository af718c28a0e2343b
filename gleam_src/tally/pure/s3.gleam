//// Amazon S3 server access logs in pure Gleam: the twin of
//// `native/core/src/s3.rs`. Space-separated fields, `[time]`, `"quoted"`
//// fields with `\"`, `-` for none; at least 17 fields, at most 40. Each line
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
  use <- chain.guard(
    n < min_fields,
    event.WrongFieldCount(expected: min_fields, found: n),
  )
  let field = fn(i) { nth(f, i) }
  use owner <- chain.then(text(field(0), "bucket_owner"))
  use bucket <- chain.then(text(field(1), "bucket"))
  use time_ms <- chain.then(case parse_log_time(field(2)) {
    Ok(t) -> Ok(t)
    Error(Nil) -> Error(event.InvalidTime(field: "time"))
  })
  use customer <- chain.then(case state.customer, field(4) {
    event.Requester, <<"-":utf8>> -> Ok(owner)
    event.Requester, requester -> text(requester, "requester")
    _, _ -> Ok(owner)
  })
  let operation = field(6)
  use bytes_sent <- chain.then(byte_count(field(11), "bytes_sent"))
  use object_size <- chain.then(byte_count(field(12), "object_size"))
  use base_id <- chain.then(case field(5) {
    <<"-":utf8>> | <<>> ->
      Ok("s3-" <> bytes.fnv1a64_hex(line) <> "-" <> bytes.int_to_text(number))
    id -> text(id, "request_id")
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

fn nth(list: List(BitArray), i: Int) -> BitArray {
  case list, i {
    [], _ -> <<>>
    [x, ..], 0 -> x
    [_, ..rest], _ -> nth(rest, i - 1)
  }
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

// A text field: UTF-8, and neither empty nor `-`.
fn text(field: BitArray, name: String) -> Result(String, event.RejectReason) {
  case bytes.utf8_error_at(field) {
    -1 ->
      case field {
        <<>> | <<"-":utf8>> -> Error(event.EmptyField(field: name))
        _ -> Ok(bytes.to_text(field))
      }
    at -> Error(event.InvalidUtf8(column: at + 1))
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

// Fields, brackets and quotes removed; spaces separate them.
fn split_fields(
  line: BitArray,
  i: Int,
  n: Int,
  fields: List(BitArray),
) -> Result(List(BitArray), event.RejectReason) {
  case bytes.at(line, i) {
    -1 -> Ok(bytes.reverse(fields))
    32 -> split_fields(line, i + 1, n, fields)
    c -> {
      let size = bytes.size(line)
      let next = case c {
        91 ->
          case bytes.find_byte(line, i, 93) {
            end if end == size ->
              Error(event.Malformed(column: i + 1, expected: "closing ']'"))
            end -> Ok(#(bytes.slice(line, i + 1, end - i - 1), end + 1))
          }
        34 ->
          case closing_quote(line, i + 1) {
            -1 ->
              Error(event.Malformed(column: i + 1, expected: "closing '\"'"))
            j -> Ok(#(bytes.slice(line, i + 1, j - i - 1), j + 1))
          }
        _ -> {
          let end = bytes.find_byte(line, i, 32)
          Ok(#(bytes.slice(line, i, end - i), end))
        }
      }
      case next {
        Error(reason) -> Error(reason)
        Ok(#(field, after)) ->
          case n == max_fields {
            True ->
              Error(event.WrongFieldCount(expected: max_fields, found: n + 1))
            False -> split_fields(line, after, n + 1, [field, ..fields])
          }
      }
    }
  }
}

// The position of the closing quote, skipping `\x` pairs; -1 when none.
fn closing_quote(line: BitArray, j: Int) -> Int {
  case bytes.at(line, j) {
    -1 -> -1
    92 -> closing_quote(line, j + 2)
    34 -> j
    _ -> closing_quote(line, j + 1)
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
