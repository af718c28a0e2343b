//// The sinks: a batch's outcome from each item's result, the file sink's
//// keys read back (key and version), its appends once per key, and what a
//// bus publish's result counts as.

import tally/app/bus_support as bus
import tally/app/config
import tally/app/nats
import tally/app/nats_protocol as protocol
import tally/app/secret
import tally/app/sink
import tally/app/sink_file
import tally/app/sink_nats
import tally/expect
import tally/option
import tally/pure/map

pub fn a_batch_outcome_counts_every_acked_key_test() {
  expect.equal(
    sink.outcome([#("a", Ok(Nil)), #("b", Ok(Nil))]),
    sink.Published(["a", "b"]),
  )
  // Over the limit never fits: refused with its sizes; the rest counts.
  expect.equal(
    sink.outcome([
      #("a", Ok(Nil)),
      #("big", Error(sink.OverLimit(2000, 512))),
      #("c", Ok(Nil)),
    ]),
    sink.TooLarge(["a", "c"], [sink.Refused("big", 2000, 512)]),
  )
  // Any other failure: the batch is tried again (the first reason says
  // why), the acked keys still count.
  expect.equal(
    sink.outcome([
      #("a", Error(sink.Transient("timeout"))),
      #("big", Error(sink.OverLimit(2000, 512))),
      #("c", Ok(Nil)),
      #("d", Error(sink.Transient("disconnected"))),
    ]),
    sink.Failed(["c"], "timeout"),
  )
  expect.equal(sink.outcome([]), sink.Published([]))
  expect.equal(sink.acked(sink.Failed(["c"], "x")), ["c"])
}

pub fn a_publish_result_is_refused_for_good_only_over_the_limit_test() {
  expect.equal(
    sink_nats.item_result(Ok(protocol.PubAck("S", 1, True)), "S"),
    Ok(Nil),
  )
  expect.equal(
    sink_nats.item_result(Ok(protocol.PubAck("OTHER", 7, False)), "S"),
    Error(sink.Transient("stored in stream OTHER, not S")),
  )
  expect.equal(
    sink_nats.item_result(Error(nats.PayloadTooLarge(101, 100)), "S"),
    Error(sink.OverLimit(101, 100)),
  )
  expect.equal(
    sink_nats.item_result(Error(nats.NotConnected), "S"),
    Error(sink.Transient("not connected")),
  )
  expect.equal(
    sink_nats.item_result(
      Error(nats.JetStream(protocol.ApiError(503, 10_077, "full"))),
      "S",
    ),
    Error(sink.Transient("JetStream error 503/10077: full")),
  )
}

pub fn the_file_keys_are_key_and_version_test() {
  expect.equal(
    sink_file.line_key(<<"{\"key\":\"a/*/m\",\"version\":3,\"x\":[1,{}]}":utf8>>),
    Ok("a/*/m/v3"),
  )
  expect.equal(
    sink_file.line_key(<<"{\"version\":3, \"n\":null, \"key\" : \"k\"}":utf8>>),
    Ok("k/v3"),
  )
  expect.equal(sink_file.line_key(<<"{\"key\":\"b\"}":utf8>>), Ok("b"))
  // Not an item line: no key, a key that is not a string, not JSON.
  expect.equal(sink_file.line_key(<<"{\"version\":3}":utf8>>), Error(Nil))
  expect.equal(sink_file.line_key(<<"{\"key\":1}":utf8>>), Error(Nil))
  expect.equal(sink_file.line_key(<<"{\"key\":\"a\"":utf8>>), Error(Nil))
  expect.equal(sink_file.line_key(<<"[1]":utf8>>), Error(Nil))
  expect.equal(
    map.keys(
      sink_file.seen_keys(<<
        "{\"key\":\"a\",\"version\":1}\n\n{\"key\":\"b\"}\nnot json\n{\"key\":\"a\",\"version\":2}\n":utf8,
      >>),
    )
      |> sorted,
    ["a/v1", "a/v2", "b"],
  )
}

// Reading a file's keys takes a faster path for lines in the written form:
// it must give what the JSON scanner gives, line by line.
pub fn the_fast_key_path_agrees_with_the_scanner_test() {
  let lines = [
    "{\"amount_minor\":\"0\",\"customer\":\"c\",\"key\":\"c/*/m/total/2026-10\",\"version\":12}",
    "{\"customer\":\"c\",\"key\":\"c/*/m/total/2026-10\",\"version\":2,\"void\":true}",
    "{\"key\":\"a\\\"b\",\"version\":1}",
    "{\"key\":\"a\\u0041\",\"version\":1}",
    "{\"x\":{\"key\":\"inner\"},\"key\":\"outer\"}",
    "{\"x\":{\"key\":\"inner\"}}",
    "{\"key\":\"k\",\"version\":01}",
    "{\"key\":\"k\",\"version\":1.5}",
    "{\"key\":\"k\",\"version\":\"2\"}",
    "{\"key\":\"k\",\"version\":-1}",
    "{\"key\":\"k\",\"key\":\"l\"}",
    "{\"key\":\"k\",\"version\":1,\"version\":2}",
    "{\"key\" : \"k\"}",
    "{\"key\":\"k\"",
    "{\"name\":\"}\",\"key\":\"k\"}",
    "{\"key\":\"k\",\"version\":0}",
    "{}",
  ]
  check_each_line(lines)
}

fn check_each_line(lines: List(String)) -> Nil {
  case lines {
    [] -> Nil
    [l, ..rest] -> {
      let want = case sink_file.line_key(<<l:utf8>>) {
        Ok(k) -> [k]
        Error(Nil) -> []
      }
      expect.equal(
        #(l, map.keys(sink_file.seen_keys(<<l:utf8, "\n":utf8>>))),
        #(l, want),
      )
      check_each_line(rest)
    }
  }
}

pub fn a_torn_last_line_is_cut_off_at_open_test() {
  let path = bus.tmp_dir() <> "/invoices.jsonl"
  let whole = <<line("1"):bits, "\n":utf8>>
  bus.write_file(path, <<whole:bits, "{\"key\":\"a/*/m/tot":utf8>>)
  let assert Ok(file) = sink_file.open(path)
  expect.equal(bus.read_file(path), Ok(whole))
  // The torn line's item comes again: appended whole, on a line of its own.
  let #(_, outcome) = sink_file.publish(file, [item("2")])
  expect.equal(outcome, sink.Published(["a/*/m/total/2026-10/v2"]))
  expect.equal(
    bus.read_file(path),
    Ok(<<whole:bits, line("2"):bits, "\n":utf8>>),
  )
}

// The keys are read a few MiB at a time: lines across the reads' ends,
// and a line longer than a read, are all known at open.
pub fn a_file_bigger_than_a_read_is_known_whole_at_open_test() {
  let path = bus.tmp_dir() <> "/invoices.jsonl"
  let long = <<
    "{\"key\":\"long\",\"pad\":\"":utf8,
    copy(<<"x":utf8>>, 5_000_000):bits,
    "\",\"version\":1}\n":utf8,
  >>
  let contents = <<
    versions(1, 100_000, []):bits,
    long:bits,
    versions(100_001, 200_000, []):bits,
  >>
  bus.write_file(path, contents)
  let assert Ok(file) = sink_file.open(path)
  let again = [
    item("1"),
    item("77777"),
    item("100000"),
    item("100001"),
    item("200000"),
    sink.Item("long/v1", "s", <<"{\"key\":\"long\",\"version\":1}":utf8>>),
  ]
  let #(_, _) = sink_file.publish(file, [item("200001"), ..again])
  expect.equal(
    bus.read_file(path),
    Ok(<<contents:bits, line("200001"):bits, "\n":utf8>>),
  )
}

// The lines of versions `from` to `to`, each ended by a newline.
fn versions(from: Int, to: Int, acc: List(BitArray)) -> BitArray {
  case from > to {
    True -> concat(reverse(acc))
    False ->
      versions(from + 1, to, [
        <<line(int_to_text(from)):bits, "\n":utf8>>,
        ..acc
      ])
  }
}

@external(erlang, "binary", "copy")
fn copy(bytes: BitArray, times: Int) -> BitArray

@external(erlang, "erlang", "list_to_bitstring")
fn concat(parts: List(BitArray)) -> BitArray

@external(erlang, "lists", "reverse")
fn reverse(items: List(a)) -> List(a)

@external(erlang, "erlang", "integer_to_binary")
fn int_to_text(n: Int) -> String

fn line(version: String) -> BitArray {
  <<
    "{\"key\":\"a/*/m/total/2026-10\",\"version\":":utf8,
    version:utf8,
    "}":utf8,
  >>
}

fn item(version: String) -> sink.Item {
  sink.Item("a/*/m/total/2026-10/v" <> version, "s", line(version))
}

pub fn the_file_sink_keeps_each_key_and_version_once_test() {
  let path = bus.tmp_dir() <> "/sub/invoices.jsonl"
  let assert Ok(file) = sink_file.open(path)
  expect.equal(sink_file.describe(file), "file " <> path)
  let #(_, outcome) = sink_file.publish(file, [item("1"), item("1")])
  expect.equal(
    outcome,
    sink.Published(["a/*/m/total/2026-10/v1", "a/*/m/total/2026-10/v1"]),
  )
  // A new sink reads the file back: version 1 is there, version 2 is new.
  let assert Ok(file) = sink_file.open(path)
  let #(file, outcome) = sink_file.publish(file, [item("1"), item("2")])
  expect.equal(
    outcome,
    sink.Published(["a/*/m/total/2026-10/v1", "a/*/m/total/2026-10/v2"]),
  )
  let #(_, _) = sink_file.publish(file, [item("2")])
  expect.equal(
    bus.read_file(path),
    Ok(<<line("1"):bits, "\n":utf8, line("2"):bits, "\n":utf8>>),
  )
}

// A crash (or a full disk) mid-append leaves a torn last line: its item
// was never acknowledged, so it comes again; it must not be glued to the
// torn bytes (a line no reader can parse, the invoice line lost).
pub fn a_torn_last_line_is_cut_when_the_sink_opens_test() {
  let path = bus.tmp_dir() <> "/invoices.jsonl"
  let torn = <<"{\"key\":\"a/*/m/total/2026-10\",\"vers":utf8>>
  bus.write_file(path, <<line("1"):bits, "\n":utf8, torn:bits>>)
  let assert Ok(file) = sink_file.open(path)
  let #(_, outcome) = sink_file.publish(file, [item("1"), item("2")])
  expect.equal(
    outcome,
    sink.Published(["a/*/m/total/2026-10/v1", "a/*/m/total/2026-10/v2"]),
  )
  expect.equal(
    bus.read_file(path),
    Ok(<<line("1"):bits, "\n":utf8, line("2"):bits, "\n":utf8>>),
  )
}

pub fn a_file_sink_that_cannot_write_fails_the_batch_test() {
  let dir = bus.tmp_dir()
  // The path is a directory: it opens nothing and writes nothing.
  expect.be_true(
    case sink_file.open(dir) {
      Error(_) -> True
      Ok(file) ->
        case sink_file.publish(file, [item("1")]) {
          #(_, sink.Failed([], _)) -> True
          _ -> False
        }
    },
    "a directory is no sink",
  )
}

fn sorted(items: List(String)) -> List(String) {
  sort(items)
}

@external(erlang, "lists", "sort")
fn sort(items: List(String)) -> List(String)

pub fn the_bus_sink_comes_from_the_decoded_configuration_test() {
  let bus =
    config.Bus(
      host: "nats.example",
      port: 4223,
      stream: "S",
      subjects: ["a.>", "b"],
      create_stream: True,
      auth: config.UserPassword("u", wrap("pw")),
      tls: config.TlsOn(
        option.Some("/ca.pem"),
        option.None,
        option.None,
        option.Some("nats.example.com"),
      ),
      name: "tally-7",
      ping_interval_ms: option.None,
    )
  let sink = sink_nats.from_config(bus)
  expect.equal(#(sink.stream, sink.subjects, sink.create_stream), #(
    "S",
    ["a.>", "b"],
    True,
  ))
  expect.equal(
    #(sink.nats.host, sink.nats.port, sink.nats.name, sink.nats.ping_interval),
    #("nats.example", 4223, "tally-7", 5000),
  )
  expect.equal(
    sink.nats.tls,
    option.Some(nats.TlsOptions(
      option.Some("/ca.pem"),
      option.None,
      option.None,
      option.Some("nats.example.com"),
    )),
  )
  let assert protocol.UserPassword("u", password) = sink.nats.auth
  expect.equal(secret.reveal(password), "pw")
  // TLS off in the configuration: none required (the server may still ask).
  let plain =
    sink_nats.from_config(
      config.Bus(
        ..bus,
        tls: config.TlsOff,
        auth: config.Token(wrap("t")),
        ping_interval_ms: option.Some(250),
      ),
    )
  expect.equal(#(plain.nats.tls, plain.nats.ping_interval), #(option.None, 250))
  let assert protocol.Token(token) = plain.nats.auth
  expect.equal(secret.reveal(token), "t")
}

fn wrap(text: String) -> config.Secret {
  secret.new(text)
}
