//// JSON Lines usage events in pure Gleam: the twin of
//// `native/core/src/jsonl.rs`. The whole line is checked as JSON first;
//// only then are missing or mistyped fields reported, the first found. A
//// key given twice at the top level or in `data` is `DuplicateKey`.

import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/chain
import tally/pure/json
import tally/pure/rfc3339

type Fields {
  Fields(
    id: option.Option(String),
    source: option.Option(String),
    subject: option.Option(String),
    time: option.Option(String),
    data: option.Option(Data),
    bad: option.Option(event.RejectReason),
  )
}

type Data {
  Data(
    resource: option.Option(String),
    meter: option.Option(String),
    value: option.Option(Int),
  )
}

fn scan_reason(e: json.ScanError) -> event.RejectReason {
  case e {
    json.Syntax(at, expected) ->
      event.InvalidJson(column: at + 1, expected: expected)
    json.Utf8(at) -> event.InvalidUtf8(column: at + 1)
  }
}

// The first field problem wins.
fn note(bad: option.Option(event.RejectReason), reason: event.RejectReason) {
  case bad {
    option.None -> option.Some(reason)
    _ -> bad
  }
}

/// Parses one line (without its line terminator) into an event.
///
/// ```gleam
/// jsonl.parse_event_line(<<"[]":utf8>>)
/// // -> Error(event.InvalidJson(column: 1, expected: "'{'"))
/// ```
pub fn parse_event_line(
  line: BitArray,
) -> Result(event.UsageEvent, event.RejectReason) {
  case bytes.utf8_error_at(line) {
    -1 ->
      case json.begin_object(line, 0) {
        Error(e) -> Error(scan_reason(e))
        Ok(pos) -> {
          let empty =
            Fields(
              option.None,
              option.None,
              option.None,
              option.None,
              option.None,
              option.None,
            )
          case members(line, pos, True, [], empty) {
            Error(e) -> Error(scan_reason(e))
            Ok(#(fields, after)) ->
              case json.end(line, after) {
                Error(e) -> Error(scan_reason(e))
                Ok(Nil) -> build(fields)
              }
          }
        }
      }
    at -> Error(event.InvalidUtf8(column: at + 1))
  }
}

// Notes a repeated key (named `field`) as the line's problem, unless one came first.
fn repeated(
  bad: option.Option(event.RejectReason),
  seen: List(String),
  key: String,
  field: String,
) -> #(option.Option(event.RejectReason), List(String)) {
  case chain.contains(seen, key) {
    True -> #(note(bad, event.DuplicateKey(field: field)), seen)
    False -> #(bad, [key, ..seen])
  }
}

fn members(
  line: BitArray,
  pos: Int,
  first: Bool,
  seen: List(String),
  f: Fields,
) -> Result(#(Fields, Int), json.ScanError) {
  case json.next_key(line, pos, first) {
    Error(e) -> Error(e)
    Ok(json.EndOfObject(after)) -> Ok(#(f, after))
    Ok(json.Key(key, at)) -> {
      let #(bad, seen) = repeated(f.bad, seen, key, key)
      let f = Fields(..f, bad: bad)
      let read = case key {
        "id" -> text_field(line, at, "id", fn(v) { Fields(..f, id: v) }, f)
        "source" ->
          text_field(line, at, "source", fn(v) { Fields(..f, source: v) }, f)
        "subject" ->
          text_field(line, at, "subject", fn(v) { Fields(..f, subject: v) }, f)
        "time" ->
          text_field(line, at, "time", fn(v) { Fields(..f, time: v) }, f)
        "data" ->
          case json.peek(line, at) {
            #(123, p) ->
              case
                data_members(
                  line,
                  p + 1,
                  True,
                  [],
                  Data(option.None, option.None, option.None),
                  f.bad,
                )
              {
                Error(e) -> Error(e)
                Ok(#(d, bad, next)) ->
                  Ok(#(Fields(..f, data: option.Some(d), bad: bad), next))
              }
            _ ->
              skip(
                line,
                at,
                Fields(
                  ..f,
                  bad: note(
                    f.bad,
                    event.WrongType(field: "data", expected: "an object"),
                  ),
                ),
              )
          }
        _ -> skip(line, at, f)
      }
      case read {
        Error(e) -> Error(e)
        Ok(#(f2, next)) -> members(line, next, False, seen, f2)
      }
    }
  }
}

fn skip(
  line: BitArray,
  at: Int,
  f: Fields,
) -> Result(#(Fields, Int), json.ScanError) {
  case json.skip_value(line, at) {
    Ok(next) -> Ok(#(f, next))
    Error(e) -> Error(e)
  }
}

fn text_field(
  line: BitArray,
  at: Int,
  field: String,
  set: fn(option.Option(String)) -> Fields,
  f: Fields,
) -> Result(#(Fields, Int), json.ScanError) {
  case json.peek(line, at) {
    #(34, _) ->
      case json.string(line, at) {
        Ok(#(v, next)) -> Ok(#(set(option.Some(v)), next))
        Error(e) -> Error(e)
      }
    _ ->
      skip(
        line,
        at,
        Fields(
          ..f,
          bad: note(f.bad, event.WrongType(field: field, expected: "a string")),
        ),
      )
  }
}

fn data_members(
  line: BitArray,
  pos: Int,
  first: Bool,
  seen: List(String),
  d: Data,
  bad: option.Option(event.RejectReason),
) -> Result(#(Data, option.Option(event.RejectReason), Int), json.ScanError) {
  case json.next_key(line, pos, first) {
    Error(e) -> Error(e)
    Ok(json.EndOfObject(after)) -> Ok(#(d, bad, after))
    Ok(json.Key(key, at)) -> {
      let #(bad, seen) = repeated(bad, seen, key, "data." <> key)
      let read = case key {
        "resource" ->
          data_text(
            line,
            at,
            "data.resource",
            fn(v) { Data(..d, resource: v) },
            d,
            bad,
          )
        "meter" ->
          data_text(
            line,
            at,
            "data.meter",
            fn(v) { Data(..d, meter: v) },
            d,
            bad,
          )
        "value" ->
          case json.peek(line, at) {
            #(c, _) if c == 45 || c >= 48 && c <= 57 ->
              case json.number(line, at) {
                Error(e) -> Error(e)
                Ok(#(json.Count(v), next)) ->
                  Ok(#(Data(..d, value: option.Some(v)), bad, next))
                Ok(#(json.NotCount, next)) ->
                  Ok(#(
                    d,
                    note(bad, event.InvalidNumber(field: "data.value")),
                    next,
                  ))
                Ok(#(json.TooLarge, next)) ->
                  Ok(#(
                    d,
                    note(bad, event.NumberTooLarge(field: "data.value")),
                    next,
                  ))
              }
            _ ->
              data_skip(
                line,
                at,
                d,
                note(
                  bad,
                  event.WrongType(field: "data.value", expected: "an integer"),
                ),
              )
          }
        _ -> data_skip(line, at, d, bad)
      }
      case read {
        Error(e) -> Error(e)
        Ok(#(d2, bad2, next)) -> data_members(line, next, False, seen, d2, bad2)
      }
    }
  }
}

fn data_skip(
  line: BitArray,
  at: Int,
  d: Data,
  bad: option.Option(event.RejectReason),
) {
  case json.skip_value(line, at) {
    Ok(next) -> Ok(#(d, bad, next))
    Error(e) -> Error(e)
  }
}

fn data_text(
  line: BitArray,
  at: Int,
  field: String,
  set: fn(option.Option(String)) -> Data,
  d: Data,
  bad: option.Option(event.RejectReason),
) -> Result(#(Data, option.Option(event.RejectReason), Int), json.ScanError) {
  case json.peek(line, at) {
    #(34, _) ->
      case json.string(line, at) {
        Ok(#(v, next)) -> Ok(#(set(option.Some(v)), bad, next))
        Error(e) -> Error(e)
      }
    _ ->
      data_skip(
        line,
        at,
        d,
        note(bad, event.WrongType(field: field, expected: "a string")),
      )
  }
}

fn required(
  v: option.Option(String),
  field: String,
) -> Result(String, event.RejectReason) {
  case v {
    option.None -> Error(event.MissingField(field: field))
    option.Some("") -> Error(event.EmptyField(field: field))
    option.Some(s) -> Ok(s)
  }
}

// The line is valid JSON: now the fields, in the order the Rust engine checks them.
fn build(f: Fields) -> Result(event.UsageEvent, event.RejectReason) {
  use <- when_bad(f.bad)
  use id <- chain.then(required(f.id, "id"))
  use source <- chain.then(required(f.source, "source"))
  use customer <- chain.then(required(f.subject, "subject"))
  use time <- chain.then(case f.time {
    option.None -> Error(event.MissingField(field: "time"))
    option.Some(t) -> Ok(t)
  })
  use time_ms <- chain.then(case rfc3339.parse(<<time:utf8>>) {
    Ok(ms) -> Ok(ms)
    Error(Nil) -> Error(event.InvalidTime(field: "time"))
  })
  use data <- chain.then(case f.data {
    option.None -> Error(event.MissingField(field: "data"))
    option.Some(d) -> Ok(d)
  })
  use resource <- chain.then(required(data.resource, "data.resource"))
  use meter <- chain.then(required(data.meter, "data.meter"))
  use value <- chain.then(case data.value {
    option.None -> Error(event.MissingField(field: "data.value"))
    option.Some(v) -> Ok(v)
  })
  Ok(event.UsageEvent(
    id: id,
    source: source,
    customer: customer,
    resource: resource,
    meter: meter,
    value: value,
    time_ms: time_ms,
  ))
}

fn when_bad(
  bad: option.Option(event.RejectReason),
  rest: fn() -> Result(event.UsageEvent, event.RejectReason),
) -> Result(event.UsageEvent, event.RejectReason) {
  case bad {
    option.Some(reason) -> Error(reason)
    option.None -> rest()
  }
}
