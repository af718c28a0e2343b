//// The NATS protocol without sockets: frames encoded byte for byte, a
//// stream parsed the same wherever it is cut, every broken frame refused
//// with its reason, random bytes never crashing the parser, and the
//// JetStream replies and the client's decisions.

import tally/app/backoff
import tally/app/nats_protocol as p
import tally/app/secret
import tally/expect
import tally/option
import tally/pure/bytes
import tally/pure/json_tree

pub fn encodes_hpub_with_sizes_test() {
  // "NATS/1.0\r\n" (10) + "Nats-Msg-Id: k1\r\n" (17) + "\r\n" (2) = 29 header bytes.
  expect.equal(
    p.hpub("inv.acme", option.Some("_INBOX.x.1"), [#("Nats-Msg-Id", "k1")], <<
      "{}":utf8,
    >>),
    <<
      "HPUB inv.acme _INBOX.x.1 29 31\r\nNATS/1.0\r\nNats-Msg-Id: k1\r\n\r\n{}\r\n":utf8,
    >>,
  )
  expect.equal(p.hpub("s", option.None, [], <<"hi":utf8>>), <<
    "PUB s 2\r\nhi\r\n":utf8,
  >>)
  expect.equal(p.publish("s", option.Some("r"), <<>>), <<
    "PUB s r 0\r\n\r\n":utf8,
  >>)
  expect.equal(p.sub("a.>", "2"), <<"SUB a.> 2\r\n":utf8>>)
  expect.equal(p.unsub("2"), <<"UNSUB 2\r\n":utf8>>)
  expect.equal(p.ping(), <<"PING\r\n":utf8>>)
  expect.equal(p.pong(), <<"PONG\r\n":utf8>>)
}

pub fn encodes_connect_with_credentials_test() {
  let line =
    p.connect(
      p.UserPassword("u", secret.new("p\"w")),
      name: "tally",
      tls: False,
    )
  let json = connect_json(line)
  expect.equal(json_tree.member(json, "user"), Ok(json_tree.JString("u")))
  expect.equal(json_tree.member(json, "pass"), Ok(json_tree.JString("p\"w")))
  expect.equal(json_tree.member(json, "headers"), Ok(json_tree.JBool(True)))
  expect.equal(json_tree.member(json, "verbose"), Ok(json_tree.JBool(False)))
  expect.equal(json_tree.member(json, "auth_token"), Error(Nil))
  let json =
    connect_json(p.connect(p.Token(secret.new("t0k")), name: "n", tls: True))
  expect.equal(
    json_tree.member(json, "auth_token"),
    Ok(json_tree.JString("t0k")),
  )
  expect.equal(
    json_tree.member(json, "tls_required"),
    Ok(json_tree.JBool(True)),
  )
  expect.equal(json_tree.member(json, "name"), Ok(json_tree.JString("n")))
  let json = connect_json(p.connect(p.NoAuth, name: "n", tls: False))
  expect.equal(json_tree.member(json, "user"), Error(Nil))
  expect.equal(json_tree.member(json, "pass"), Error(Nil))
}

fn connect_json(line: BitArray) -> json_tree.Json {
  let size = bytes.size(line)
  expect.equal(bytes.slice(line, 0, 8), <<"CONNECT ":utf8>>)
  expect.equal(bytes.slice(line, size - 2, 2), <<"\r\n":utf8>>)
  let assert Ok(json) = json_tree.parse(bytes.slice_text(line, 8, size - 10))
  json
}

pub fn connect_reveals_a_wrapped_password_only_in_the_frame_test() {
  let auth = p.UserPassword("u", secret.new("s3cret"))
  expect.be_true(!contains(format(auth), "s3cret"), "the auth prints no secret")
  let line = p.connect(auth, name: "t", tls: True)
  expect.be_true(contains(line, "\"pass\":\"s3cret\""), "the frame has it")
}

const stream = "INFO {\"server_id\":\"x\",\"headers\":true,\"max_payload\":512,\"tls_available\":true}\r\nPING\r\n+OK\r\nMSG a.b 7 12\r\nhello\r\nworld\r\nHMSG _INBOX.x.3 1 22 24\r\nNATS/1.0 503\r\nA: b\r\n\r\nok\r\nMSG c 8 r.1 0\r\n\r\n-ERR 'Authorization Violation'\r\npong\r\n"

fn stream_messages() -> List(p.ServerMessage) {
  [
    p.Info(p.ServerInfo(
      tls_required: False,
      tls_available: True,
      max_payload: option.Some(512),
    )),
    p.Ping,
    p.Okay,
    p.Msg("a.b", "7", option.None, <<"hello\r\nworld":utf8>>),
    p.HMsg("_INBOX.x.3", "1", option.None, option.Some(503), [#("A", "b")], <<
      "ok":utf8,
    >>),
    p.Msg("c", "8", option.Some("r.1"), <<>>),
    p.ServerError("Authorization Violation"),
    p.Pong,
  ]
}

pub fn parses_a_stream_cut_anywhere_test() {
  let whole = <<stream:utf8>>
  expect.equal(p.parse(whole, p.default_max_in), Ok(#(stream_messages(), <<>>)))
  // Every cut point gives the same messages.
  every_cut(whole, 0)
}

fn every_cut(whole: BitArray, cut: Int) -> Nil {
  let size = bytes.size(whole)
  case cut > size {
    True -> Nil
    False -> {
      let assert Ok(#(first, rest)) =
        p.parse(bytes.slice(whole, 0, cut), p.default_max_in)
      let assert Ok(#(second, <<>>)) =
        p.parse(
          bytes.append(rest, bytes.slice(whole, cut, size - cut)),
          p.default_max_in,
        )
      expect.equal(#(cut, append(first, second)), #(cut, stream_messages()))
      every_cut(whole, cut + 1)
    }
  }
}

// Frames a hostile or broken server may send: each is a clear error.
pub fn bad_frames_are_refused_with_a_reason_test() {
  let cases = [
    #(
      <<"HMSG _INBOX.x.1 1 0 0\r\n\r\n":utf8>>,
      "HMSG with a bad header size: 0 of 0",
    ),
    #(
      <<"HMSG _INBOX.x.1 1 10 4\r\nNATS/1.0\r\n\r\n":utf8>>,
      "HMSG with a bad header size: 10 of 4",
    ),
    #(
      <<"HMSG a 1 12 12\r\nHTTP/1.1\r\n\r\n\r\n":utf8>>,
      "HMSG header block does not start with NATS/1.0",
    ),
    #(
      <<"HMSG a 1 12 12\r\nNATS/1.0xxxx\r\n":utf8>>,
      "HMSG header block not ended by an empty line",
    ),
    #(
      <<"HMSG a 1 15 15\r\nNATS/1.0\r\n":utf8, 255, "\r\n\r\n\r\n":utf8>>,
      "HMSG header block that is not UTF-8",
    ),
    #(<<"MSG a 1 5\r\nhello!!\r\n":utf8>>, "payload not followed by CRLF"),
    #(<<"MSG a\r\n":utf8>>, "wrong number of fields: MSG a"),
    #(<<"INFO [1,2]\r\n":utf8>>, "INFO that is not a JSON object"),
    #(<<"INFO not json\r\n":utf8>>, "INFO that is not a JSON object"),
    #(
      <<"MSG a 1 999999999999\r\n":utf8>>,
      "message of 999999999999 bytes, over the limit of 67108864",
    ),
    #(<<"MSG a 1 -3\r\n":utf8>>, "bad payload size"),
    #(<<"BOGUS x\r\n":utf8>>, "unknown protocol line: BOGUS x"),
    #(<<"PING extra\r\n":utf8>>, "unknown protocol line: PING extra"),
    #(<<"\r\n":utf8>>, "unknown protocol line: "),
    #(<<255, 254, 0, 13, 10>>, "malformed protocol line (not UTF-8): "),
    #(bytes_of("x", 70_000), "control line over 64 KiB"),
    #(
      bytes.append(bytes_of("x", 70_000), <<"\r\n":utf8>>),
      "control line over 64 KiB",
    ),
  ]
  each(cases, fn(c) {
    let #(frame, reason) = c
    expect.equal(#(frame, p.parse(frame, p.default_max_in)), #(
      frame,
      Error(reason),
    ))
  })
  // The caller's limit on a message.
  expect.equal(
    p.parse(<<"MSG a 1 11\r\n":utf8>>, 10),
    Error("message of 11 bytes, over the limit of 10"),
  )
}

// Whatever the bytes, parse returns; it never raises.
pub fn random_bytes_never_crash_the_parser_test() {
  let words = [
    <<"MSG ":utf8>>,
    <<"HMSG ":utf8>>,
    <<"INFO ":utf8>>,
    <<"PING":utf8>>,
    <<"-ERR ":utf8>>,
    <<"\r\n":utf8>>,
    <<" ":utf8>>,
    <<"12":utf8>>,
    <<"0":utf8>>,
    <<"NATS/1.0":utf8>>,
    <<"{":utf8>>,
    <<"x":utf8>>,
    <<255>>,
  ]
  random_frames(words, 3000, 12_345)
}

fn random_frames(words: List(BitArray), n: Int, seed: Int) -> Nil {
  case n {
    0 -> Nil
    _ -> {
      let #(count, seed) = next(seed, 30)
      let #(frame, seed) = random_frame(words, count + 1, seed, <<>>)
      case p.parse(frame, p.default_max_in) {
        Ok(_) -> Nil
        Error(_) -> Nil
      }
      random_frames(words, n - 1, seed)
    }
  }
}

fn random_frame(
  words: List(BitArray),
  count: Int,
  seed: Int,
  acc: BitArray,
) -> #(BitArray, Int) {
  case count {
    0 -> #(acc, seed)
    _ -> {
      let #(i, seed) = next(seed, bytes.length(words))
      random_frame(words, count - 1, seed, bytes.append(acc, nth(words, i)))
    }
  }
}

// A linear congruential generator: the same frames on every run.
fn next(seed: Int, below: Int) -> #(Int, Int) {
  let seed = { seed * 1_103_515_245 + 12_345 } % 2_147_483_648
  #({ seed / 65_536 } % below, seed)
}

pub fn frame_size_is_known_from_the_control_line_test() {
  expect.equal(
    p.frame_size(<<"MSG a.b 7 5\r\nhel":utf8>>),
    bytes.size(<<"MSG a.b 7 5\r\nhello\r\n":utf8>>),
  )
  expect.equal(
    p.frame_size(<<"MSG a.b 7 r 5\r\nhel":utf8>>),
    bytes.size(<<"MSG a.b 7 r 5\r\nhello\r\n":utf8>>),
  )
  expect.equal(
    p.frame_size(<<"HMSG a 1 r 12 14\r\n":utf8>>),
    bytes.size(<<"HMSG a 1 r 12 14\r\nNATS/1.0\r\n\r\nok\r\n":utf8>>),
  )
  expect.equal(
    p.frame_size(<<"HMSG a 1 12 14\r\n":utf8>>),
    bytes.size(<<"HMSG a 1 12 14\r\nNATS/1.0\r\n\r\nok\r\n":utf8>>),
  )
  expect.equal(p.frame_size(<<"MSG a.b 7":utf8>>), 0)
  expect.equal(p.frame_size(<<"PING\r\n":utf8>>), 0)
  expect.equal(p.frame_size(<<"MSG a 1 x\r\n":utf8>>), 0)
}

pub fn publish_size_counts_headers_and_payload_test() {
  // HPUB s 29 31: the total is what the server weighs against max_payload.
  expect.equal(p.publish_size([#("Nats-Msg-Id", "k1")], <<"{}":utf8>>), 31)
  expect.be_true(
    contains(
      p.hpub("s", option.None, [#("Nats-Msg-Id", "k1")], <<"{}":utf8>>),
      " 29 31\r\n",
    ),
    "the frame says 29 31",
  )
  expect.equal(p.publish_size([], <<"hello":utf8>>), 5)
}

pub fn headers_keep_order_and_status_test() {
  expect.equal(
    p.headers(<<
      "NATS/1.0 408 Request Timeout\r\nA: 1\r\nno colon\r\n B : x:y \r\n\r\n":utf8,
    >>),
    #(option.Some(408), [#("A", "1"), #("B", "x:y")]),
  )
  expect.equal(p.headers(<<"NATS/1.0\r\n\r\n":utf8>>), #(option.None, []))
}

pub fn jetstream_publish_acks_are_read_test() {
  expect.equal(
    p.publish_ack(option.None, <<"{\"stream\":\"INV\",\"seq\":7}":utf8>>),
    Ok(p.PubAck("INV", 7, False)),
  )
  expect.equal(
    p.publish_ack(option.None, <<
      "{\"stream\":\"INV\",\"seq\":7,\"duplicate\":true}":utf8,
    >>),
    Ok(p.PubAck("INV", 7, True)),
  )
  expect.equal(
    p.publish_ack(option.Some(503), <<>>),
    Error(p.NoStreamForSubject),
  )
  expect.equal(
    p.publish_ack(option.None, <<
      "{\"error\":{\"code\":503,\"err_code\":10077,\"description\":\"maximum messages exceeded\"}}":utf8,
    >>),
    Error(p.ApiError(503, 10_077, "maximum messages exceeded")),
  )
  expect.equal(
    p.publish_ack(option.None, <<"not json":utf8>>),
    Error(p.BadReply(<<"not json":utf8>>)),
  )
  expect.equal(
    p.publish_ack(option.None, <<"{\"seq\":1}":utf8>>),
    Error(p.BadReply(<<"{\"seq\":1}":utf8>>)),
  )
}

pub fn jetstream_stream_creation_test() {
  let #(subject, body) = p.stream_create("INV", ["inv.>", "x"], 300)
  expect.equal(subject, "$JS.API.STREAM.CREATE.INV")
  let assert Ok(json) = json_tree.parse(bytes.to_text(body))
  expect.equal(
    json,
    json_tree.JObject([
      #("name", json_tree.JString("INV")),
      #(
        "subjects",
        json_tree.JArray([json_tree.JString("inv.>"), json_tree.JString("x")]),
      ),
      #("storage", json_tree.JString("file")),
      #("duplicate_window", json_tree.JNumber("300000000")),
    ]),
  )
  expect.equal(
    p.stream_created(option.None, <<"{\"config\":{\"name\":\"INV\"}}":utf8>>),
    Ok(Nil),
  )
  // The name is in use: the stream is there.
  expect.equal(
    p.stream_created(option.None, <<
      "{\"error\":{\"code\":400,\"err_code\":10058,\"description\":\"stream name already in use\"}}":utf8,
    >>),
    Ok(Nil),
  )
  expect.equal(
    p.stream_created(option.None, <<
      "{\"error\":{\"code\":500,\"err_code\":10049,\"description\":\"x\"}}":utf8,
    >>),
    Error(p.ApiError(500, 10_049, "x")),
  )
  expect.equal(
    p.stream_created(option.Some(503), <<>>),
    Error(p.JetStreamNotEnabled),
  )
}

pub fn tls_is_used_whenever_either_side_asks_test() {
  let info = fn(required, available) {
    p.ServerInfo(
      tls_required: required,
      tls_available: available,
      max_payload: option.None,
    )
  }
  expect.equal(p.security(info(False, False), tls_configured: False), p.Plain)
  expect.equal(p.security(info(False, True), tls_configured: False), p.Plain)
  expect.equal(
    p.security(info(True, False), tls_configured: False),
    p.UpgradeToTls,
  )
  expect.equal(
    p.security(info(False, True), tls_configured: True),
    p.UpgradeToTls,
  )
  expect.equal(
    p.security(info(False, False), tls_configured: True),
    p.RefuseTls("TLS is configured but the server does not offer it"),
  )
  expect.equal(p.max_payload(info(False, False)), 1_048_576)
  expect.equal(p.max_payload(p.ServerInfo(False, False, option.Some(100))), 100)
}

// A server that announces a max_payload no nats-server takes (over 64 MiB)
// is lying: believed, it would let one message it sends grow the client's
// buffer without bound (max_in follows max_payload).
pub fn an_announced_max_payload_over_64_mib_counts_as_64_mib_test() {
  let info = fn(max: String) {
    let frame = "INFO {\"server_id\":\"x\",\"max_payload\":" <> max <> "}\r\n"
    case p.parse(<<frame:utf8>>, p.default_max_in) {
      Ok(#([p.Info(info)], <<>>)) -> Ok(p.max_payload(info))
      _ -> Error(Nil)
    }
  }
  expect.equal(info("1000000000000000"), Ok(67_108_864))
  expect.equal(info("67108865"), Ok(67_108_864))
  expect.equal(info("67108864"), Ok(67_108_864))
  expect.equal(info("8388608"), Ok(8_388_608))
}

pub fn reply_tokens_and_backoff_test() {
  expect.equal(p.reply_token("_INBOX.ab12.17"), "17")
  expect.equal(backoff.next(backoff: 100, random: 1, ceiling: 5000), #(51, 200))
  expect.equal(backoff.next(backoff: 100, random: 100, ceiling: 5000), #(
    150,
    200,
  ))
  expect.equal(backoff.next(backoff: 4000, random: 1, ceiling: 5000), #(
    2001,
    5000,
  ))
  expect.equal(p.max_in(100), p.default_max_in)
  expect.equal(p.max_in(100_000_000), 100_000_000)
}

pub fn json_text_round_trips_test() {
  let tree =
    json_tree.JObject([
      #("a\"b\\", json_tree.JArray([json_tree.JNumber("1"), json_tree.JNull])),
      #("ctl", json_tree.JString("x\n\t\r" <> bytes.to_text(<<1>>) <> "é")),
      #("t", json_tree.JBool(True)),
      #("o", json_tree.JObject([])),
    ])
  let text = json_tree.to_string(tree)
  expect.equal(
    text,
    "{\"a\\\"b\\\\\":[1,null],\"ctl\":\"x\\n\\t\\r\\u0001é\",\"t\":true,\"o\":{}}",
  )
  expect.equal(json_tree.parse(text), Ok(tree))
}

fn bytes_of(text: String, n: Int) -> BitArray {
  repeat(<<text:utf8>>, n, <<>>)
}

fn repeat(b: BitArray, n: Int, acc: BitArray) -> BitArray {
  case n {
    0 -> acc
    _ -> repeat(b, n - 1, bytes.append(acc, b))
  }
}

fn each(items: List(a), f: fn(a) -> Nil) -> Nil {
  case items {
    [] -> Nil
    [x, ..rest] -> {
      f(x)
      each(rest, f)
    }
  }
}

fn append(a: List(x), b: List(x)) -> List(x) {
  case bytes.reverse(a) {
    [] -> b
    [x, ..rest] -> append(bytes.reverse(rest), [x, ..b])
  }
}

fn nth(items: List(a), i: Int) -> a {
  let assert [x, ..rest] = items
  case i {
    0 -> x
    _ -> nth(rest, i - 1)
  }
}

fn contains(haystack: a, needle: String) -> Bool {
  case binary_match(printed(haystack), <<needle:utf8>>) {
    #(-1, _) -> False
    _ -> True
  }
}

fn format(term: a) -> BitArray {
  printed(term)
}

@external(erlang, "tally_bus_test_ffi", "printed")
fn printed(term: a) -> BitArray

@external(erlang, "tally_bus_test_ffi", "find")
fn binary_match(haystack: BitArray, needle: BitArray) -> #(Int, Int)
