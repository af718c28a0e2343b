//// Ceph RGW usage (`radosgw-admin usage show`) in pure Gleam: the twin of
//// `native/core/src/rgw.rs`, for a whole input. A small state machine
//// follows the document byte by byte, cuts out each bucket entry
//// (`entries[].buckets[]`) and parses it whole: each is a record, accepted
//// or rejected as a unit at the line and offset of its `{`. A document
//// without `entries` (a summary only) and a user section without `buckets`
//// are rejected records, never read as no usage; attribution follows RGW's
//// accounting (payer, else owner, else the section's user, which must agree),
//// and `time` must agree with `epoch` (see rgw.rs).

import tally/event
import tally/option
import tally/pure/bytes
import tally/pure/chain
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

type Capture {
  Capture(line: Int, offset: Int, bytes: BitArray, overflow: option.Option(Int))
}

// Where an object began, and whether the part that must be read came.
type Start {
  Start(line: Int, offset: Int, seen: Bool)
}

/// The state machine between chunks.
pub opaque type Machine {
  Machine(
    source: String,
    max_record: Int,
    stack: List(Frame),
    in_string: Bool,
    escape: Bool,
    role: Role,
    buf: BitArray,
    user: option.Option(String),
    capture: option.Option(Capture),
    // where in the current chunk the capture's uncopied bytes start
    cap_from: option.Option(Int),
    // absolute position of the current chunk's first byte
    base: Int,
    line: Int,
    line_start: Int,
    failed: Bool,
    out: Out,
    // the current document (has it `entries`?) and user section (`buckets`?)
    doc: Start,
    section: Start,
    // `user` (or `owner`) keys of the current section so far: two refuse its buckets
    section_users: Int,
  )
}

type Out {
  Out(
    events: List(event.UsageEvent),
    rejects: List(event.Reject),
    records: Int,
    accepted: Int,
    rejected: Int,
    emitted: Int,
  )
}

pub fn new(source: String, max_record: Int) -> Machine {
  Machine(
    source,
    max_record,
    [],
    False,
    False,
    Ignore,
    <<>>,
    option.None,
    option.None,
    option.None,
    0,
    1,
    0,
    False,
    Out([], [], 0, 0, 0, 0),
    Start(0, 0, False),
    Start(0, 0, False),
    0,
  )
}

fn take_out(m: Machine, bytes_read: Int) -> #(Machine, event.Parsed) {
  let o = m.out
  #(
    Machine(..m, out: Out([], [], 0, 0, 0, 0)),
    event.Parsed(
      events: bytes.reverse(o.events),
      rejects: bytes.reverse(o.rejects),
      stats: event.ParseStats(
        records: o.records,
        accepted: o.accepted,
        rejected: o.rejected,
        skipped: 0,
        events: o.emitted,
        bytes: bytes_read,
      ),
    ),
  )
}

/// Every bucket entry of a whole input.
pub fn parse_all(
  source: String,
  max_record: Int,
  input: BitArray,
) -> event.Parsed {
  let #(m, first) = feed(new(source, max_record), input)
  let #(_, last) = finish(m)
  event.Parsed(
    events: first.events,
    rejects: chain.prepend(bytes.reverse(first.rejects), last.rejects),
    stats: event.ParseStats(
      ..first.stats,
      records: first.stats.records + last.stats.records,
      rejected: first.stats.rejected + last.stats.rejected,
    ),
  )
}

/// The bucket entries a chunk completes.
pub fn feed(m: Machine, chunk: BitArray) -> #(Machine, event.Parsed) {
  case m.failed {
    True -> take_out(m, bytes.size(chunk))
    False -> {
      let cap_from = case m.capture {
        option.Some(_) -> option.Some(0)
        option.None -> option.None
      }
      let m = case run(chunk, 0, Machine(..m, cap_from: cap_from)) {
        Error(failed) -> failed
        Ok(m) ->
          case m.cap_from, m.capture {
            option.Some(from), option.Some(_) ->
              append_capture(
                m,
                bytes.slice(chunk, from, bytes.size(chunk) - from),
              )
            _, _ -> m
          }
      }
      let m =
        Machine(..m, base: m.base + bytes.size(chunk), cap_from: option.None)
      take_out(m, bytes.size(chunk))
    }
  }
}

/// The end of the input: a document cut short is one last reject.
pub fn finish(m: Machine) -> #(Machine, event.Parsed) {
  case m.failed, m.stack, m.in_string {
    True, _, _ -> take_out(m, 0)
    False, [], False -> take_out(m, 0)
    False, _, _ -> {
      let at = m.base
      let m = reject_document(m, at, "the rest of the document")
      take_out(Machine(..m, failed: True), 0)
    }
  }
}

fn append_capture(m: Machine, piece: BitArray) -> Machine {
  case m.capture {
    option.None -> m
    option.Some(cap) -> {
      let size = bytes.size(piece)
      let cap = case cap.overflow {
        option.Some(len) ->
          Capture(
            ..cap,
            overflow: option.Some(len + size),
            bytes: keep_head(cap.bytes, piece),
          )
        option.None ->
          case bytes.size(cap.bytes) + size > m.max_record {
            True ->
              Capture(
                ..cap,
                overflow: option.Some(bytes.size(cap.bytes) + size),
                bytes: keep_head(cap.bytes, piece),
              )
            False -> Capture(..cap, bytes: bytes.append(cap.bytes, piece))
          }
      }
      Machine(..m, capture: option.Some(cap))
    }
  }
}

fn keep_head(kept: BitArray, piece: BitArray) -> BitArray {
  let room = kept_text_limit - bytes.size(kept)
  case room > 0 {
    True -> bytes.append(kept, bytes.head(piece, room))
    False -> kept
  }
}

// Ok at the end of the chunk; Error once the document failed.
fn run(chunk: BitArray, i: Int, m: Machine) -> Result(Machine, Machine) {
  case bytes.at(chunk, i) {
    -1 -> Ok(m)
    c ->
      case step(chunk, i, c, m) {
        Error(failed) -> Error(failed)
        Ok(m) -> {
          let m = case c {
            10 -> Machine(..m, line: m.line + 1, line_start: m.base + i + 1)
            _ -> m
          }
          run(chunk, i + 1, m)
        }
      }
  }
}

// One reject for the rest of the document: the bucket entry being cut out,
// or nothing, at column `at` of the current line.
fn reject_document(m: Machine, at: Int, expected: String) -> Machine {
  let #(line, offset, text) = case m.capture {
    option.Some(cap) -> #(
      cap.line,
      cap.offset,
      bytes.head(cap.bytes, kept_text_limit),
    )
    option.None -> #(m.line, at, <<>>)
  }
  let r =
    event.Reject(
      format: event.RgwUsage,
      line: line,
      offset: offset,
      reason: event.InvalidJson(
        column: at - m.line_start + 1,
        expected: expected,
      ),
      text: text,
    )
  let o = m.out
  Machine(
    ..m,
    capture: option.None,
    out: Out(
      ..o,
      rejects: [r, ..o.rejects],
      records: o.records + 1,
      rejected: o.rejected + 1,
    ),
  )
}

fn fail(
  chunk: BitArray,
  i: Int,
  expected: String,
  m: Machine,
) -> Result(Machine, Machine) {
  let m = case m.cap_from {
    option.Some(from) ->
      append_capture(
        Machine(..m, cap_from: option.None),
        bytes.slice(chunk, from, i - from + 1),
      )
    option.None -> m
  }
  Error(Machine(..reject_document(m, m.base + i, expected), failed: True))
}

fn step(
  chunk: BitArray,
  i: Int,
  c: Int,
  m: Machine,
) -> Result(Machine, Machine) {
  case m.in_string {
    True -> Ok(in_string(c, m))
    False ->
      case c {
        34 ->
          Ok(Machine(..m, in_string: True, buf: <<>>, role: role_of(m.stack)))
        123 -> open(chunk, i, True, m)
        91 -> open(chunk, i, False, m)
        125 -> close(chunk, i, True, m)
        93 -> close(chunk, i, False, m)
        44 ->
          case m.stack {
            [Frame(is_object: True, ..) as f, ..rest] ->
              Ok(Machine(..m, stack: [Frame(..f, expect_key: True), ..rest]))
            _ -> Ok(m)
          }
        32 | 9 | 13 | 10 | 58 -> Ok(m)
        _ ->
          case m.stack {
            [] -> fail(chunk, i, "'{'", m)
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
    KeyRole, [f, ..rest] ->
      Machine(..m, stack: [Frame(..f, key: m.buf, expect_key: False), ..rest])
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
      Machine(..m, user: user, section_users: m.section_users + 1)
    }
    Ignore, [Frame(is_object: True, expect_key: True, ..) as f, ..rest] ->
      Machine(..m, stack: [Frame(..f, expect_key: False), ..rest])
    _, _ -> m
  }
}

fn open(
  chunk: BitArray,
  i: Int,
  is_object: Bool,
  m: Machine,
) -> Result(Machine, Machine) {
  case bytes.length(m.stack) >= max_depth {
    True -> fail(chunk, i, "less nesting", m)
    False -> {
      let tag = case m.stack, is_object {
        [], True -> Ok(Root)
        [], False -> Error(Nil)
        [Frame(tag: Root, key: <<"entries":utf8>>, ..), ..], False ->
          Ok(Entries)
        [Frame(tag: Entries, ..), ..], True -> Ok(Entry)
        [Frame(tag: Entry, key: <<"buckets":utf8>>, ..), ..], False ->
          Ok(Buckets)
        [Frame(tag: Buckets, ..), ..], True -> Ok(Bucket)
        _, _ -> Ok(Other)
      }
      case tag {
        Error(Nil) -> fail(chunk, i, "'{'", m)
        Ok(tag) -> {
          let here = Start(m.line, m.base + i, False)
          let m = case tag {
            Root -> Machine(..m, doc: here)
            Entries -> Machine(..m, doc: Start(..m.doc, seen: True))
            Entry ->
              Machine(..m, user: option.None, section: here, section_users: 0)
            Buckets -> Machine(..m, section: Start(..m.section, seen: True))
            Bucket ->
              Machine(
                ..m,
                capture: option.Some(Capture(
                  m.line,
                  m.base + i,
                  <<>>,
                  option.None,
                )),
                cap_from: option.Some(i),
              )
            _ -> m
          }
          Ok(
            Machine(..m, stack: [
              Frame(tag, is_object, is_object, <<>>),
              ..m.stack
            ]),
          )
        }
      }
    }
  }
}

fn close(
  chunk: BitArray,
  i: Int,
  is_object: Bool,
  m: Machine,
) -> Result(Machine, Machine) {
  case m.stack {
    [] -> fail(chunk, i, "'{'", m)
    [frame, ..rest] ->
      case frame.is_object == is_object {
        False ->
          fail(
            chunk,
            i,
            case frame.is_object {
              True -> "'}'"
              False -> "']'"
            },
            m,
          )
        True -> {
          let m = Machine(..m, stack: rest)
          let section_read = m.section.seen
          let doc_read = m.doc.seen
          case frame.tag {
            Bucket -> {
              let m = case m.cap_from {
                option.Some(from) ->
                  append_capture(
                    Machine(..m, cap_from: option.None),
                    bytes.slice(chunk, from, i - from + 1),
                  )
                option.None -> m
              }
              case m.capture {
                option.Some(cap) ->
                  Ok(record(cap, Machine(..m, capture: option.None)))
                option.None -> Ok(m)
              }
            }
            // Usage this parser would not read: refused, not taken as none.
            Entry if section_read == False ->
              Ok(unread(m, m.section, "entries.buckets"))
            Root if doc_read == False -> Ok(unread(m, m.doc, "entries"))
            _ -> Ok(m)
          }
        }
      }
  }
}

// A rejected record for an object that lacks the part holding its usage.
fn unread(m: Machine, at: Start, field: String) -> Machine {
  let r =
    event.Reject(
      format: event.RgwUsage,
      line: at.line,
      offset: at.offset,
      reason: event.MissingField(field: field),
      text: <<>>,
    )
  let o = m.out
  Machine(
    ..m,
    out: Out(
      ..o,
      rejects: [r, ..o.rejects],
      records: o.records + 1,
      rejected: o.rejected + 1,
    ),
  )
}

fn record(cap: Capture, m: Machine) -> Machine {
  let result = case cap.overflow {
    option.Some(length) ->
      Error(event.LineTooLong(length: length, limit: m.max_record))
    option.None ->
      case m.section_users > 1 {
        True -> Error(event.DuplicateKey(field: "user"))
        False -> parse_bucket(cap.bytes, m.user, m.source)
      }
  }
  let o = Out(..m.out, records: m.out.records + 1)
  let o = case result {
    Ok(events) ->
      Out(
        ..o,
        events: chain.prepend(events, o.events),
        accepted: o.accepted + 1,
        emitted: o.emitted + bytes.length(events),
      )
    Error(reason) -> {
      let r =
        event.Reject(
          format: event.RgwUsage,
          line: cap.line,
          offset: cap.offset,
          reason: reason,
          text: bytes.head(cap.bytes, kept_text_limit),
        )
      Out(..o, rejects: [r, ..o.rejects], rejected: o.rejected + 1)
    }
  }
  Machine(..m, out: o)
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
    payer: option.Option(String),
    categories: List(Category),
  )
}

fn scan_reason(e: json.ScanError) -> event.RejectReason {
  case e {
    json.Syntax(at, expected) ->
      event.InvalidJson(column: at + 1, expected: expected)
    json.Utf8(at) -> event.InvalidUtf8(column: at + 1)
  }
}

fn scanned(result: Result(a, json.ScanError)) -> Result(a, event.RejectReason) {
  case result {
    Ok(v) -> Ok(v)
    Error(e) -> Error(scan_reason(e))
  }
}

fn count(
  b: BitArray,
  pos: Int,
  field: String,
) -> Result(#(Int, Int), event.RejectReason) {
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

fn text(
  b: BitArray,
  pos: Int,
  field: String,
) -> Result(#(String, Int), event.RejectReason) {
  case json.peek(b, pos) {
    #(34, _) -> scanned(json.string(b, pos))
    _ -> Error(event.WrongType(field: field, expected: "a string"))
  }
}

fn parse_bucket(
  b: BitArray,
  user: option.Option(String),
  source: String,
) -> Result(List(event.UsageEvent), event.RejectReason) {
  use <- utf8(b)
  use pos <- chain.then(scanned(json.begin_object(b, 0)))
  use #(entry, after) <- chain.then(bucket_members(
    b,
    pos,
    True,
    [],
    BucketEntry(
      option.None,
      option.None,
      option.None,
      option.None,
      option.None,
      [],
    ),
  ))
  use _ <- chain.then(scanned(json.end(b, after)))
  use bucket <- chain.then(case entry.bucket {
    option.None -> Error(event.MissingField(field: "bucket"))
    option.Some(name) -> Ok(name)
  })
  // No bucket: user-level operations (`""`) and buckets not found (`"-"`).
  let resource = case bucket {
    "" -> "-"
    _ -> bucket
  }
  // Who RGW accounts the usage to: the payer, else the owner, else the section's user.
  use #(customer, field) <- chain.then(case entry.payer, entry.owner, user {
    option.Some(p), _, _ if p != "" -> Ok(#(p, "payer"))
    _, option.Some(o), _ -> Ok(#(o, "owner"))
    _, option.None, option.Some(u) -> Ok(#(u, "user"))
    _, option.None, option.None -> Error(event.MissingField(field: "owner"))
  })
  use <- chain.guard(customer == "", event.EmptyField(field: field))
  use <- chain.guard(
    case user {
      option.Some(u) -> u != customer
      option.None -> False
    },
    event.Disagree(field: field, other: "user"),
  )
  use time_ms <- chain.then(case entry.epoch, entry.time {
    option.Some(e), t ->
      case e * 1000 > 9_223_372_036_854_775_807, t {
        True, _ -> Error(event.NumberTooLarge(field: "epoch"))
        False, option.None -> Ok(e * 1000)
        False, option.Some(t) ->
          case rfc3339.parse(<<t:utf8>>), e * 1000 {
            Error(Nil), _ -> Error(event.InvalidTime(field: "time"))
            Ok(written), ms if written == ms -> Ok(ms)
            Ok(_), _ -> Error(event.Disagree(field: "time", other: "epoch"))
          }
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
    False ->
      Ok(
        category_events(
          categories,
          customer,
          bucket,
          resource,
          time_ms,
          source,
          [],
        ),
      )
  }
}

fn utf8(
  b: BitArray,
  rest: fn() -> Result(a, event.RejectReason),
) -> Result(a, event.RejectReason) {
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
  resource: String,
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
              id: "rgw/"
                <> customer
                <> "/"
                <> bucket
                <> "/"
                <> bytes.int_to_text(time_ms)
                <> "/"
                <> name
                <> "/"
                <> meter,
              source: source,
              customer: customer,
              resource: resource,
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
      category_events(rest, customer, bucket, resource, time_ms, source, acc)
    }
  }
}

// A key given twice in one object refuses the bucket entry.
fn once(
  seen: List(String),
  key: String,
  field: String,
) -> Result(List(String), event.RejectReason) {
  case chain.contains(seen, key) {
    True -> Error(event.DuplicateKey(field: field))
    False -> Ok([key, ..seen])
  }
}

fn bucket_members(
  b: BitArray,
  pos: Int,
  first: Bool,
  seen: List(String),
  e: Bucket,
) -> Result(#(Bucket, Int), event.RejectReason) {
  use next <- chain.then(scanned(json.next_key(b, pos, first)))
  case next {
    json.EndOfObject(after) -> Ok(#(e, after))
    json.Key(key, at) -> {
      use seen <- chain.then(once(seen, key, key))
      let read = case key {
        "bucket" ->
          string_into(b, at, "bucket", fn(v) {
            BucketEntry(..e, bucket: option.Some(v))
          })
        "time" ->
          string_into(b, at, "time", fn(v) {
            BucketEntry(..e, time: option.Some(v))
          })
        "owner" ->
          string_into(b, at, "owner", fn(v) {
            BucketEntry(..e, owner: option.Some(v))
          })
        "payer" ->
          string_into(b, at, "payer", fn(v) {
            BucketEntry(..e, payer: option.Some(v))
          })
        "epoch" ->
          case count(b, at, "epoch") {
            Ok(#(v, n)) -> Ok(#(BucketEntry(..e, epoch: option.Some(v)), n))
            Error(r) -> Error(r)
          }
        "categories" ->
          case json.peek(b, at) {
            #(91, p) -> categories(b, p + 1, True, e)
            _ ->
              Error(event.WrongType(
                field: "categories",
                expected: "a list of objects",
              ))
          }
        _ ->
          case scanned(json.skip_value(b, at)) {
            Ok(n) -> Ok(#(e, n))
            Error(r) -> Error(r)
          }
      }
      use #(e2, n) <- chain.then(read)
      bucket_members(b, n, False, seen, e2)
    }
  }
}

fn string_into(
  b: BitArray,
  at: Int,
  field: String,
  set: fn(String) -> Bucket,
) -> Result(#(Bucket, Int), event.RejectReason) {
  case text(b, at, field) {
    Ok(#(v, n)) -> Ok(#(set(v), n))
    Error(r) -> Error(r)
  }
}

fn categories(
  b: BitArray,
  pos: Int,
  first: Bool,
  e: Bucket,
) -> Result(#(Bucket, Int), event.RejectReason) {
  use #(more, at) <- chain.then(scanned(json.next_element(b, pos, first)))
  case more {
    False -> Ok(#(e, at))
    True -> {
      use #(cat, n) <- chain.then(category(b, at))
      categories(
        b,
        n,
        False,
        BucketEntry(..e, categories: [cat, ..e.categories]),
      )
    }
  }
}

fn category(
  b: BitArray,
  pos: Int,
) -> Result(#(Category, Int), event.RejectReason) {
  case json.peek(b, pos) {
    #(123, p) ->
      category_members(b, p + 1, True, [], Category(option.None, #(0, 0, 0, 0)))
    _ ->
      Error(event.WrongType(field: "categories", expected: "a list of objects"))
  }
}

fn category_members(
  b: BitArray,
  pos: Int,
  first: Bool,
  seen: List(String),
  c: Category,
) -> Result(#(Category, Int), event.RejectReason) {
  use next <- chain.then(scanned(json.next_key(b, pos, first)))
  case next {
    json.EndOfObject(after) -> Ok(#(c, after))
    json.Key(key, at) -> {
      use seen <- chain.then(once(seen, key, "categories." <> key))
      let #(s, r, o, k) = c.counts
      let read = case key {
        "category" ->
          case text(b, at, "categories.category") {
            Ok(#(v, n)) -> Ok(#(Category(..c, name: option.Some(v)), n))
            Error(e) -> Error(e)
          }
        "bytes_sent" ->
          counted(b, at, "categories.bytes_sent", fn(v) {
            Category(..c, counts: #(v, r, o, k))
          })
        "bytes_received" ->
          counted(b, at, "categories.bytes_received", fn(v) {
            Category(..c, counts: #(s, v, o, k))
          })
        "ops" ->
          counted(b, at, "categories.ops", fn(v) {
            Category(..c, counts: #(s, r, v, k))
          })
        "successful_ops" ->
          counted(b, at, "categories.successful_ops", fn(v) {
            Category(..c, counts: #(s, r, o, v))
          })
        _ ->
          case scanned(json.skip_value(b, at)) {
            Ok(n) -> Ok(#(c, n))
            Error(e) -> Error(e)
          }
      }
      use #(c2, n) <- chain.then(read)
      category_members(b, n, False, seen, c2)
    }
  }
}

fn counted(
  b: BitArray,
  at: Int,
  field: String,
  set: fn(Int) -> Category,
) -> Result(#(Category, Int), event.RejectReason) {
  case count(b, at, field) {
    Ok(#(v, n)) -> Ok(#(set(v), n))
    Error(e) -> Error(e)
  }
}
