//// Storage capacity snapshots as CSV in pure Gleam: the twin of
//// `native/core/src/csv.rs`. A header names `timestamp`, `customer`,
//// `bucket` and `bytes` in any order; each later line is one
//// `storage_bytes` event with the id `<customer>/<bucket>/<time_ms>`. A
//// byte-order mark before the header is dropped; a first record that is
//// not a valid header refuses the whole file (every later line `BadHeader`).

import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/chain
import tally/pure/lines
import tally/pure/rfc3339

/// What the format knows between lines: the columns, once the header came,
/// or that the header was refused.
pub opaque type State {
  State(
    source: String,
    columns: option.Option(Columns),
    width: Int,
    refused: Bool,
  )
}

type Columns {
  Columns(timestamp: Int, customer: Int, bucket: Int, bytes: Int)
}

pub fn new(source: String) -> State {
  State(source: source, columns: option.None, width: 4, refused: False)
}

const i64_max = 9_223_372_036_854_775_807

pub fn parse_line(
  state: State,
  number: Int,
  line: BitArray,
) -> #(State, lines.LineResult) {
  let line = case number, bytes.starts_with(line, 0, bom) {
    1, True -> bytes.slice(line, 3, bytes.size(line) - 3)
    _, _ -> line
  }
  case bytes.is_blank(line), state.refused {
    True, _ -> #(state, lines.Skipped)
    False, True -> #(state, lines.Rejected(event.BadHeader))
    False, False ->
      case split(line, 0, []), state.columns {
        Error(reason), option.None -> #(
          State(..state, refused: True),
          lines.Rejected(reason),
        )
        Error(reason), _ -> #(state, lines.Rejected(reason))
        Ok(fields), option.None -> first_record(state, fields)
        Ok(fields), option.Some(cols) -> #(state, record(state, cols, fields))
      }
  }
}

// The UTF-8 byte-order mark.
const bom = <<239, 187, 191>>

// The first record is the header; without a valid one the file is refused.
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
      State(..state, refused: True),
      lines.Rejected(event.BadHeader),
    )
  }
}

// Where each column is, when every one is named exactly once.
fn header(fields: List(BitArray)) -> Result(Columns, Nil) {
  case find_columns(fields, 0, #(-1, -1, -1, -1)) {
    Ok(#(t, c, b, n)) if t >= 0 && c >= 0 && b >= 0 && n >= 0 ->
      Ok(Columns(t, c, b, n))
    _ -> Error(Nil)
  }
}

fn find_columns(
  fields: List(BitArray),
  i: Int,
  at: #(Int, Int, Int, Int),
) -> Result(#(Int, Int, Int, Int), Nil) {
  case fields {
    [] -> Ok(at)
    [f, ..rest] -> {
      let #(t, c, b, n) = at
      let name = case bytes.utf8_error_at(f) {
        -1 -> bytes.to_text(bytes.ascii_lowercase(bytes.trim(f)))
        _ -> ""
      }
      // A column named twice: which one holds the values?
      let found = case name {
        "timestamp" if t < 0 -> Ok(#(i, c, b, n))
        "customer" if c < 0 -> Ok(#(t, i, b, n))
        "bucket" if b < 0 -> Ok(#(t, c, i, n))
        "bytes" if n < 0 -> Ok(#(t, c, b, i))
        "timestamp" | "customer" | "bucket" | "bytes" -> Error(Nil)
        _ -> Ok(at)
      }
      case found {
        Ok(at) -> find_columns(rest, i + 1, at)
        Error(Nil) -> Error(Nil)
      }
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
