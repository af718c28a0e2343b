//// Ceph RGW usage (`radosgw-admin usage show`) in pure Gleam: the twin of
//// `native/core/src/rgw.rs`, for a whole input. A small state machine
//// follows the document byte by byte, cuts out each bucket entry
//// (`entries[].buckets[]`) and parses it whole: each is a record, accepted
//// or rejected as a unit at the line and offset of its `{`.

import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/json
import tally/pure/rfc3339

const max_depth = 64

const kept_text_limit = 4096

type Tag {
  Root
  Entries
  Entry
  Buckets
  Bucket
  Other
}

type Frame {
  Frame(tag: Tag, is_object: Bool, expect_key: Bool, key: BitArray)
}

type Role {
  KeyRole
  UserRole
  Ignore
}

type Machine {
  Machine(
    stack: List(Frame),
    in_string: Bool,
    escape: Bool,
    role: Role,
    buf: BitArray,
    user: option.Option(String),
    // line and offset of the bucket entry being cut out
    capture: option.Option(#(Int, Int)),
    line: Int,
    line_start: Int,
    events: List(event.UsageEvent),
    rejects: List(event.Reject),
    records: Int,
    accepted: Int,
    rejected: Int,
    emitted: Int,
  )
}

/// Every bucket entry of a whole input.
pub fn parse_all(source: String, max_record: Int, input: BitArray) -> event.Parsed {
  let start =
    Machine([], False, False, Ignore, <<>>, option.None, option.None, 1, 0, [], [], 0, 0, 0, 0)
  let m = case run(input, 0, source, max_record, start) {
    Ok(m) -> finish(input, m)
    Error(m) -> m
  }
  event.Parsed(
    events: bytes.reverse(m.events),
    rejects: bytes.reverse(m.rejects),
    stats: event.ParseStats(
      records: m.records,
      accepted: m.accepted,
      rejected: m.rejected,
      skipped: 0,
      events: m.emitted,
      bytes: bytes.size(input),
    ),
  )
}

// Ok at the end of the input; Error once the document failed (it stops there).
fn run(input: BitArray, i: Int, source: String, max: Int, m: Machine) -> Result(Machine, Machine) {
  case bytes.at(input, i) {
    -1 -> Ok(m)
    c ->
      case step(input, i, c, source, max, m) {
        Error(failed) -> Error(failed)
        Ok(m) -> {
          let m = case c {
            10 -> Machine(..m, line: m.line + 1, line_start: i + 1)
            _ -> m
          }
          run(input, i + 1, source, max, m)
        }
      }
  }
}

fn finish(input: BitArray, m: Machine) -> Machine {
  case m.stack, m.in_string {
    [], False -> m
    _, _ -> {
      let size = bytes.size(input)
      fail_at(input, size - 1, size, "the rest of the document", m)
    }
  }
}

// A reject for the whole document from here on: the bucket entry being cut
// out (up to byte `last`), or nothing, at column `at` of its line.
fn fail_at(input: BitArray, last: Int, at: Int, expected: String, m: Machine) -> Machine {
  let #(line, offset, text) = case m.capture {
    option.Some(#(l, o)) -> #(l, o, bytes.head(bytes.slice(input, o, last - o + 1), kept_text_limit))
    option.None -> #(m.line, at, <<>>)
  }
  let r =
    event.Reject(
      format: event.RgwUsage,
      line: line,
      offset: offset,
      reason: event.InvalidJson(column: at - m.line_start + 1, expected: expected),
      text: text,
    )
  Machine(
    ..m,
    capture: option.None,
    rejects: [r, ..m.rejects],
    records: m.records + 1,
    rejected: m.rejected + 1,
  )
}

fn fail(input: BitArray, i: Int, expected: String, m: Machine) -> Result(Machine, Machine) {
  Error(fail_at(input, i, i, expected, m))
}

fn step(input: BitArray, i: Int, c: Int, source: String, max: Int, m: Machine) -> Result(Machine, Machine) {
  case m.in_string {
    True -> Ok(in_string(c, m))
    False ->
      case c {
        34 -> Ok(Machine(..m, in_string: True, buf: <<>>, role: role_of(m.stack)))
        123 | 91 -> open(input, i, c == 123, m)
        125 | 93 -> close(input, i, c == 125, source, max, m)
        44 ->
          case m.stack {
            [Frame(is_object: True, ..) as f, ..rest] -> Ok(Machine(..m, stack: [Frame(..f, expect_key: True), ..rest]))
            _ -> Ok(m)
          }
        32 | 9 | 13 | 10 | 58 -> Ok(m)
        _ ->
          case m.stack {
            [] -> fail(input, i, "'{'", m)
            _ -> Ok(m)
          }
      }
  }
}

fn in_string(c: Int, m: Machine) -> Machine {
  let #(m, done) = case m.escape, c {
    True, _ -> #(Machine(..m, escape: False), False)
    False, 92 -> #(Machine(..m, escape: True), False)
    False, 34 -> #(m, True)
    False, _ -> #(m, False)
  }
  case done {
    True -> end_string(Machine(..m, in_string: False))
    False ->
      case m.role != Ignore && bytes.size(m.buf) < 1024 {
        True -> Machine(..m, buf: bytes.append_byte(m.buf, c))
        False -> m
      }
  }
}

fn role_of(stack: List(Frame)) -> Role {
  case stack {
    [Frame(tag: tag, is_object: True, expect_key: True, ..), ..] ->
      case tag {
        Root | Entry -> KeyRole
        _ -> Ignore
      }
    [Frame(tag: Entry, is_object: True, key: key, ..), ..] ->
      case key {
        <<"user":utf8>> | <<"owner":utf8>> -> UserRole
        _ -> Ignore
      }
    _ -> Ignore
  }
}

fn end_string(m: Machine) -> Machine {
  case m.role, m.stack {
    KeyRole, [f, ..rest] -> Machine(..m, stack: [Frame(..f, key: m.buf, expect_key: False), ..rest])
    UserRole, _ -> {
      let quoted = bytes.append_byte(bytes.append(<<34>>, m.buf), 34)
      let user = case bytes.utf8_error_at(quoted) {
        -1 ->
          case json.string(quoted, 0) {
            Ok(#(s, _)) -> option.Some(s)
            Error(_) -> option.None
          }
        _ -> option.None
      }
      Machine(..m, user: user)
    }
    Ignore, [Frame(is_object: True, expect_key: True, ..) as f, ..rest] ->
      Machine(..m, stack: [Frame(..f, expect_key: False), ..rest])
    _, _ -> m
  }
}

fn open(input: BitArray, i: Int, is_object: Bool, m: Machine) -> Result(Machine, Machine) {
  case bytes.length(m.stack) >= max_depth {
    True -> fail(input, i, "less nesting", m)
    False -> {
      let tag = case m.stack, is_object {
        [], True -> Ok(Root)
        [], False -> Error(Nil)
        [Frame(tag: Root, key: <<"entries":utf8>>, ..), ..], False -> Ok(Entries)
        [Frame(tag: Entries, ..), ..], True -> Ok(Entry)
        [Frame(tag: Entry, key: <<"buckets":utf8>>, ..), ..], False -> Ok(Buckets)
        [Frame(tag: Buckets, ..), ..], True -> Ok(Bucket)
        _, _ -> Ok(Other)
      }
      case tag {
        Error(Nil) -> fail(input, i, "'{'", m)
        Ok(tag) -> {
          let m = case tag {
            Entry -> Machine(..m, user: option.None)
            Bucket -> Machine(..m, capture: option.Some(#(m.line, i)))
            _ -> m
          }
          Ok(Machine(..m, stack: [Frame(tag, is_object, is_object, <<>>), ..m.stack]))
        }
      }
    }
  }
}

fn close(input: BitArray, i: Int, is_object: Bool, source: String, max: Int, m: Machine) -> Result(Machine, Machine) {
  case m.stack {
    [] -> fail(input, i, "'{'", m)
    [frame, ..rest] ->
      case frame.is_object == is_object {
        False ->
          fail(
            input,
            i,
            case frame.is_object {
              True -> "'}'"
              False -> "']'"
            },
            m,
          )
        True -> {
          let m = Machine(..m, stack: rest)
          case frame.tag, m.capture {
            Bucket, option.Some(#(line, offset)) ->
              Ok(record(input, line, offset, i, source, max, Machine(..m, capture: option.None)))
            _, _ -> Ok(m)
          }
        }
      }
  }
}

fn record(input: BitArray, line: Int, offset: Int, last: Int, source: String, max: Int, m: Machine) -> Machine {
  let length = last - offset + 1
  let text = bytes.slice(input, offset, length)
  let result = case length > max {
    True -> Error(event.LineTooLong(length: length, limit: max))
    False -> parse_bucket(text, m.user, source)
  }
  let m = Machine(..m, records: m.records + 1)
  case result {
    Ok(events) ->
      Machine(
        ..m,
        events: prepend(events, m.events),
        accepted: m.accepted + 1,
        emitted: m.emitted + bytes.length(events),
      )
    Error(reason) -> {
      let r =
        event.Reject(
          format: event.RgwUsage,
          line: line,
          offset: offset,
          reason: reason,
          text: bytes.head(text, kept_text_limit),
        )
      Machine(..m, rejects: [r, ..m.rejects], rejected: m.rejected + 1)
    }
  }
}

fn prepend(events: List(a), onto: List(a)) -> List(a) {
  case events {
    [] -> onto
    [e, ..rest] -> prepend(rest, [e, ..onto])
  }
}

// One bucket entry ------------------------------------------------------

type Category {
  Category(name: option.Option(String), counts: #(Int, Int, Int, Int))
}

type Bucket {
  BucketEntry(
    bucket: option.Option(String),
    time: option.Option(String),
    epoch: option.Option(Int),
    owner: option.Option(String),
    categories: List(Category),
  )
}

fn scan_reason(e: json.ScanError) -> event.RejectReason {
  case e {
    json.Syntax(at, expected) -> event.InvalidJson(column: at + 1, expected: expected)
    json.Utf8(at) -> event.InvalidUtf8(column: at + 1)
  }
}

fn then(result: Result(a, event.RejectReason), rest: fn(a) -> Result(b, event.RejectReason)) {
  case result {
    Ok(v) -> rest(v)
    Error(e) -> Error(e)
  }
}

fn scanned(result: Result(a, json.ScanError)) -> Result(a, event.RejectReason) {
  case result {
    Ok(v) -> Ok(v)
    Error(e) -> Error(scan_reason(e))
  }
}

fn count(b: BitArray, pos: Int, field: String) -> Result(#(Int, Int), event.RejectReason) {
  case json.peek(b, pos) {
    #(c, _) if c == 45 || c >= 48 && c <= 57 ->
      case json.number(b, pos) {
        Error(e) -> Error(scan_reason(e))
        Ok(#(json.Count(v), next)) -> Ok(#(v, next))
        Ok(#(json.NotCount, _)) -> Error(event.InvalidNumber(field: field))
        Ok(#(json.TooLarge, _)) -> Error(event.NumberTooLarge(field: field))
      }
    _ -> Error(event.WrongType(field: field, expected: "an integer"))
  }
}

fn text(b: BitArray, pos: Int, field: String) -> Result(#(String, Int), event.RejectReason) {
  case json.peek(b, pos) {
    #(34, _) -> scanned(json.string(b, pos))
    _ -> Error(event.WrongType(field: field, expected: "a string"))
  }
}

fn parse_bucket(b: BitArray, user: option.Option(String), source: String) -> Result(List(event.UsageEvent), event.RejectReason) {
  use <- utf8(b)
  use pos <- then(scanned(json.begin_object(b, 0)))
  use #(entry, after) <- then(bucket_members(b, pos, True, BucketEntry(option.None, option.None, option.None, option.None, [])))
  use _ <- then(scanned(json.end(b, after)))
  use bucket <- then(case entry.bucket {
    option.None -> Error(event.MissingField(field: "bucket"))
    option.Some("") -> Ok("-")
    option.Some(name) -> Ok(name)
  })
  let owner = case entry.owner {
    option.Some(o) -> option.Some(o)
    option.None -> user
  }
  use customer <- then(case owner {
    option.Some("") -> Error(event.EmptyField(field: "owner"))
    option.Some(o) -> Ok(o)
    option.None -> Error(event.MissingField(field: "owner"))
  })
  use time_ms <- then(case entry.epoch, entry.time {
    option.Some(e), _ ->
      case e * 1000 > 9_223_372_036_854_775_807 {
        True -> Error(event.NumberTooLarge(field: "epoch"))
        False -> Ok(e * 1000)
      }
    option.None, option.Some(t) ->
      case rfc3339.parse(<<t:utf8>>) {
        Ok(ms) -> Ok(ms)
        Error(Nil) -> Error(event.InvalidTime(field: "time"))
      }
    option.None, option.None -> Error(event.MissingField(field: "epoch"))
  })
  let categories = bytes.reverse(entry.categories)
  case any_unnamed(categories) {
    True -> Error(event.MissingField(field: "categories.category"))
    False -> Ok(category_events(categories, customer, bucket, time_ms, source, []))
  }
}

fn utf8(b: BitArray, rest: fn() -> Result(a, event.RejectReason)) -> Result(a, event.RejectReason) {
  case bytes.utf8_error_at(b) {
    -1 -> rest()
    at -> Error(event.InvalidUtf8(column: at + 1))
  }
}

fn any_unnamed(categories: List(Category)) -> Bool {
  case categories {
    [] -> False
    [Category(name: option.None, ..), ..] -> True
    [_, ..rest] -> any_unnamed(rest)
  }
}

fn category_events(
  categories: List(Category),
  customer: String,
  bucket: String,
  time_ms: Int,
  source: String,
  acc: List(event.UsageEvent),
) -> List(event.UsageEvent) {
  case categories {
    [] -> bytes.reverse(acc)
    [Category(name: name, counts: #(sent, received, ops, ok_ops)), ..rest] -> {
      let name = option.unwrap(name, or: "")
      let make = fn(acc, meter, value) {
        case value > 0 {
          False -> acc
          True -> [
            event.UsageEvent(
              id: "rgw/" <> customer <> "/" <> bucket <> "/" <> bytes.int_to_text(time_ms) <> "/" <> name <> "/" <> meter,
              source: source,
              customer: customer,
              resource: bucket,
              meter: meter,
              value: value,
              time_ms: time_ms,
            ),
            ..acc
          ]
        }
      }
      let acc = make(acc, "bandwidth_out_bytes", sent)
      let acc = make(acc, "bandwidth_in_bytes", received)
      let acc = make(acc, "requests", ops)
      let acc = make(acc, "successful_requests", ok_ops)
      category_events(rest, customer, bucket, time_ms, source, acc)
    }
  }
}

fn bucket_members(b: BitArray, pos: Int, first: Bool, e: Bucket) -> Result(#(Bucket, Int), event.RejectReason) {
  use next <- then(scanned(json.next_key(b, pos, first)))
  case next {
    json.EndOfObject(after) -> Ok(#(e, after))
    json.Key(key, at) -> {
      let read = case key {
        "bucket" -> string_into(b, at, "bucket", fn(v) { BucketEntry(..e, bucket: option.Some(v)) })
        "time" -> string_into(b, at, "time", fn(v) { BucketEntry(..e, time: option.Some(v)) })
        "owner" -> string_into(b, at, "owner", fn(v) { BucketEntry(..e, owner: option.Some(v)) })
        "epoch" ->
          case count(b, at, "epoch") {
            Ok(#(v, n)) -> Ok(#(BucketEntry(..e, epoch: option.Some(v)), n))
            Error(r) -> Error(r)
          }
        "categories" ->
          case json.peek(b, at) {
            #(91, p) -> categories(b, p + 1, True, e)
            _ -> Error(event.WrongType(field: "categories", expected: "a list of objects"))
          }
        _ ->
          case scanned(json.skip_value(b, at)) {
            Ok(n) -> Ok(#(e, n))
            Error(r) -> Error(r)
          }
      }
      use #(e2, n) <- then(read)
      bucket_members(b, n, False, e2)
    }
  }
}

fn string_into(b: BitArray, at: Int, field: String, set: fn(String) -> Bucket) -> Result(#(Bucket, Int), event.RejectReason) {
  case text(b, at, field) {
    Ok(#(v, n)) -> Ok(#(set(v), n))
    Error(r) -> Error(r)
  }
}

fn categories(b: BitArray, pos: Int, first: Bool, e: Bucket) -> Result(#(Bucket, Int), event.RejectReason) {
  use #(more, at) <- then(scanned(json.next_element(b, pos, first)))
  case more {
    False -> Ok(#(e, at))
    True -> {
      use #(cat, n) <- then(category(b, at))
      categories(b, n, False, BucketEntry(..e, categories: [cat, ..e.categories]))
    }
  }
}

fn category(b: BitArray, pos: Int) -> Result(#(Category, Int), event.RejectReason) {
  case json.peek(b, pos) {
    #(123, p) -> category_members(b, p + 1, True, Category(option.None, #(0, 0, 0, 0)))
    _ -> Error(event.WrongType(field: "categories", expected: "a list of objects"))
  }
}

fn category_members(b: BitArray, pos: Int, first: Bool, c: Category) -> Result(#(Category, Int), event.RejectReason) {
  use next <- then(scanned(json.next_key(b, pos, first)))
  case next {
    json.EndOfObject(after) -> Ok(#(c, after))
    json.Key(key, at) -> {
      let #(s, r, o, k) = c.counts
      let read = case key {
        "category" ->
          case text(b, at, "categories.category") {
            Ok(#(v, n)) -> Ok(#(Category(..c, name: option.Some(v)), n))
            Error(e) -> Error(e)
          }
        "bytes_sent" -> counted(b, at, "categories.bytes_sent", fn(v) { Category(..c, counts: #(v, r, o, k)) })
        "bytes_received" -> counted(b, at, "categories.bytes_received", fn(v) { Category(..c, counts: #(s, v, o, k)) })
        "ops" -> counted(b, at, "categories.ops", fn(v) { Category(..c, counts: #(s, r, v, k)) })
        "successful_ops" -> counted(b, at, "categories.successful_ops", fn(v) { Category(..c, counts: #(s, r, o, v)) })
        _ ->
          case scanned(json.skip_value(b, at)) {
            Ok(n) -> Ok(#(c, n))
            Error(e) -> Error(e)
          }
      }
      use #(c2, n) <- then(read)
      category_members(b, n, False, c2)
    }
  }
}

fn counted(b: BitArray, at: Int, field: String, set: fn(Int) -> Category) -> Result(#(Category, Int), event.RejectReason) {
  case count(b, at, field) {
    Ok(#(v, n)) -> Ok(#(set(v), n))
    Error(e) -> Error(e)
  }
}
