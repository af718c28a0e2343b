//// Storage capacity snapshots as CSV in pure Gleam: the twin of
//// `native/core/src/csv.rs`. A header names `timestamp`, `customer`,
//// `bucket` and `bytes` in any order; each later line is one
//// `storage_bytes` event with the id `<customer>/<bucket>/<time_ms>`.

import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/chain
import tally/pure/lines
import tally/pure/rfc3339

/// What the format knows between lines: the columns, once the header came.
pub opaque type State {
  State(source: String, columns: option.Option(Columns), width: Int)
}

type Columns {
  Columns(timestamp: Int, customer: Int, bucket: Int, bytes: Int)
}

pub fn new(source: String) -> State {
  State(source: source, columns: option.None, width: 4)
}

const i64_max = 9_223_372_036_854_775_807

pub fn parse_line(
  state: State,
  _number: Int,
  line: BitArray,
) -> #(State, lines.LineResult) {
  case bytes.is_blank(line) {
    True -> #(state, lines.Skipped)
    False ->
      case split(line, 0, []) {
        Error(reason) -> #(state, lines.Rejected(reason))
        Ok(fields) ->
          case state.columns {
            option.None -> first_record(state, fields)
            option.Some(cols) -> #(state, record(state, cols, fields))
          }
      }
  }
}

// The first record is the header; a bad one still fixes the order.
fn first_record(
  state: State,
  fields: List(BitArray),
) -> #(State, lines.LineResult) {
  let count = bytes.length(fields)
  let width = case count > 4 {
    True -> count
    False -> 4
  }
  case header(fields) {
    Ok(cols) -> #(
      State(..state, columns: option.Some(cols), width: width),
      lines.Skipped,
    )
    Error(Nil) -> #(
      State(..state, columns: option.Some(Columns(0, 1, 2, 3)), width: width),
      lines.Rejected(event.BadHeader),
    )
  }
}

fn header(fields: List(BitArray)) -> Result(Columns, Nil) {
  let found = find_columns(fields, 0, #(-1, -1, -1, -1))
  case found {
    #(t, c, b, n) if t >= 0 && c >= 0 && b >= 0 && n >= 0 ->
      Ok(Columns(t, c, b, n))
    _ -> Error(Nil)
  }
}

fn find_columns(
  fields: List(BitArray),
  i: Int,
  at: #(Int, Int, Int, Int),
) -> #(Int, Int, Int, Int) {
  case fields {
    [] -> at
    [f, ..rest] -> {
      let #(t, c, b, n) = at
      let name = case bytes.utf8_error_at(f) {
        -1 -> bytes.to_text(bytes.ascii_lowercase(bytes.trim(f)))
        _ -> ""
      }
      let at = case name {
        "timestamp" -> #(i, c, b, n)
        "customer" -> #(t, i, b, n)
        "bucket" -> #(t, c, i, n)
        "bytes" -> #(t, c, b, i)
        _ -> at
      }
      find_columns(rest, i + 1, at)
    }
  }
}

fn record(
  state: State,
  cols: Columns,
  fields: List(BitArray),
) -> lines.LineResult {
  let count = bytes.length(fields)
  let needed = max4(cols.timestamp, cols.customer, cols.bucket, cols.bytes) + 1
  case count < needed {
    True ->
      lines.Rejected(event.WrongFieldCount(expected: state.width, found: count))
    False -> {
      let result = {
        use stamp <- chain.then(field_text(fields, cols.timestamp, "timestamp"))
        use time_ms <- chain.then(case parse_time(stamp) {
          Ok(t) -> Ok(t)
          Error(Nil) -> Error(event.InvalidTime(field: "timestamp"))
        })
        use customer <- chain.then(field_text(fields, cols.customer, "customer"))
        use bucket <- chain.then(field_text(fields, cols.bucket, "bucket"))
        use size_text <- chain.then(field_text(fields, cols.bytes, "bytes"))
        use size <- chain.then(parse_bytes(size_text))
        let c = bytes.to_text(customer)
        let b = bytes.to_text(bucket)
        Ok(event.UsageEvent(
          id: c <> "/" <> b <> "/" <> bytes.int_to_text(time_ms),
          source: state.source,
          customer: c,
          resource: b,
          meter: "storage_bytes",
          value: size,
          time_ms: time_ms,
        ))
      }
      case result {
        Ok(e) -> lines.Accepted([e])
        Error(reason) -> lines.Rejected(reason)
      }
    }
  }
}

fn max4(a: Int, b: Int, c: Int, d: Int) -> Int {
  max(max(a, b), max(c, d))
}

fn max(a: Int, b: Int) -> Int {
  case a > b {
    True -> a
    False -> b
  }
}

fn nth(list: List(a), i: Int) -> Result(a, Nil) {
  case list, i {
    [], _ -> Error(Nil)
    [x, ..], 0 -> Ok(x)
    [_, ..rest], _ -> nth(rest, i - 1)
  }
}

// A field's text, trimmed; UTF-8 and not empty.
fn field_text(
  fields: List(BitArray),
  i: Int,
  name: String,
) -> Result(BitArray, event.RejectReason) {
  let raw = case nth(fields, i) {
    Ok(f) -> f
    Error(Nil) -> <<>>
  }
  case bytes.utf8_error_at(raw) {
    -1 ->
      case bytes.trim(raw) {
        <<>> -> Error(event.EmptyField(field: name))
        text -> Ok(text)
      }
    at -> Error(event.InvalidUtf8(column: at + 1))
  }
}

// Integer seconds (up to 12 digits) or RFC 3339.
fn parse_time(text: BitArray) -> Result(Int, Nil) {
  case bytes.size(text) <= 12 && bytes.all_digits(text) {
    True -> Ok(bytes.parse_digits(text) * 1000)
    False -> rfc3339.parse(text)
  }
}

fn parse_bytes(text: BitArray) -> Result(Int, event.RejectReason) {
  case bytes.size(text) > 19 || !bytes.all_digits(text) {
    True -> Error(event.InvalidNumber(field: "bytes"))
    False ->
      case bytes.parse_digits(text) {
        n if n > i64_max -> Error(event.NumberTooLarge(field: "bytes"))
        n -> Ok(n)
      }
  }
}

// RFC 4180 fields: quoted ones may hold commas and "" for a quote.
fn split(
  line: BitArray,
  i: Int,
  fields: List(BitArray),
) -> Result(List(BitArray), event.RejectReason) {
  let size = bytes.size(line)
  let field = case bytes.at(line, i) {
    34 -> quoted(line, i, i + 1, <<>>)
    _ -> {
      let end = bytes.find_byte(line, i, 44)
      Ok(#(bytes.slice(line, i, end - i), end))
    }
  }
  case field {
    Error(reason) -> Error(reason)
    Ok(#(f, next)) -> {
      let fields = [f, ..fields]
      case next >= size {
        True -> Ok(bytes.reverse(fields))
        False ->
          case next + 1 == size {
            True -> Ok(bytes.reverse([<<>>, ..fields]))
            False -> split(line, next + 1, fields)
          }
      }
    }
  }
}

fn quoted(
  line: BitArray,
  open: Int,
  i: Int,
  field: BitArray,
) -> Result(#(BitArray, Int), event.RejectReason) {
  case bytes.at(line, i) {
    -1 -> Error(event.Malformed(column: open + 1, expected: "closing '\"'"))
    34 ->
      case bytes.at(line, i + 1) {
        34 -> quoted(line, open, i + 2, bytes.append_byte(field, 34))
        -1 | 44 -> Ok(#(field, i + 1))
        _ ->
          Error(event.Malformed(
            column: i + 2,
            expected: "',' after a quoted field",
          ))
      }
    c -> quoted(line, open, i + 1, bytes.append_byte(field, c))
  }
}
