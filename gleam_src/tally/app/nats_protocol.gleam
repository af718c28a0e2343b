//// The NATS client protocol as pure functions: encoding what tally sends
//// (CONNECT, PING/PONG, SUB, UNSUB, PUB, HPUB), parsing what a server sends
//// (INFO, MSG, HMSG, PING, PONG, +OK, -ERR) out of a byte stream cut
//// anywhere, the JetStream requests and replies tally uses, and the
//// decisions a client takes on them (TLS or not, which reply is whose).
//// No sockets here: the actor in
//// `tally/app/nats` carries out what these functions return.
//// See https://docs.nats.io/reference/reference-protocols/nats-protocol.

import tally/app/secret
import tally/option
import tally/pure/bytes
import tally/pure/json_tree

/// Message headers in order, as `#(name, value)`.
pub type Headers =
  List(#(String, String))

/// What a server's INFO says that tally acts on.
pub type ServerInfo {
  ServerInfo(
    /// The server takes only TLS connections.
    tls_required: Bool,
    /// The server takes TLS when the client asks for it.
    tls_available: Bool,
    /// The largest message (header block plus payload) it takes, in bytes.
    max_payload: option.Option(Int),
  )
}

/// One whole message from a server.
pub type ServerMessage {
  Info(ServerInfo)
  Ping
  Pong
  /// `+OK` (only sent to verbose clients; tally is not one).
  Okay
  /// `-ERR 'text'`: the text without its quotes.
  ServerError(String)
  Msg(
    subject: String,
    sid: String,
    reply_to: option.Option(String),
    payload: BitArray,
  )
  /// A message with headers; `status` is the code on the header block's
  /// first line (`NATS/1.0 503` for "no responders").
  HMsg(
    subject: String,
    sid: String,
    reply_to: option.Option(String),
    status: option.Option(Int),
    headers: Headers,
    payload: BitArray,
  )
}

/// How a client proves who it is in CONNECT.
pub type Auth {
  NoAuth
  UserPassword(user: String, password: secret.Secret)
  Token(secret.Secret)
}

/// The most bytes a server may send in one message when the caller names
/// no other limit: well above any reply tally asks for, far below what
/// would exhaust memory.
pub const default_max_in = 67_108_864

// The most nats-server lets max_payload be (64 MiB): a server announcing
// more is believed only up to it, since what it may send the client grows
// with it (`max_in`).
const max_server_payload = 67_108_864

/// The NATS default for `max_payload`, until a server's INFO says otherwise.
pub const default_max_payload = 1_048_576

// The longest control line accepted before the stream is declared broken
// (the server's own default max_control_line is 4 KiB).
const max_control_line = 65_536

// --- Encoding -------------------------------------------------------------

/// CONNECT with the options tally uses (no verbose `+OK`, headers, no
/// responders status); the password or token is revealed here, into the
/// frame only.
///
/// ```gleam
/// connect(NoAuth, name: "tally", tls: False)
/// // -> <<"CONNECT {\"verbose\":false,...}\r\n">>
/// ```
pub fn connect(auth: Auth, name name: String, tls tls: Bool) -> BitArray {
  let base = [
    #("verbose", json_tree.JBool(False)),
    #("pedantic", json_tree.JBool(False)),
    #("headers", json_tree.JBool(True)),
    #("no_responders", json_tree.JBool(True)),
    #("lang", json_tree.JString("gleam")),
    #("version", json_tree.JString("0.1.0")),
    #("protocol", json_tree.JNumber("1")),
    #("name", json_tree.JString(name)),
    #("tls_required", json_tree.JBool(tls)),
  ]
  let credentials = case auth {
    NoAuth -> []
    UserPassword(user, password) -> [
      #("user", json_tree.JString(user)),
      #("pass", json_tree.JString(secret.reveal(password))),
    ]
    Token(token) -> [#("auth_token", json_tree.JString(secret.reveal(token)))]
  }
  let options =
    json_tree.to_string(json_tree.JObject(append(base, credentials)))
  <<"CONNECT ":utf8, options:utf8, "\r\n":utf8>>
}

/// `PING\r\n`
pub fn ping() -> BitArray {
  <<"PING\r\n":utf8>>
}

/// `PONG\r\n`
pub fn pong() -> BitArray {
  <<"PONG\r\n":utf8>>
}

/// `SUB subject sid\r\n`
pub fn sub(subject: String, sid: String) -> BitArray {
  <<"SUB ":utf8, subject:utf8, " ":utf8, sid:utf8, "\r\n":utf8>>
}

/// `UNSUB sid\r\n`
pub fn unsub(sid: String) -> BitArray {
  <<"UNSUB ":utf8, sid:utf8, "\r\n":utf8>>
}

/// A message without headers.
///
/// ```gleam
/// publish("a.b", option.None, <<"hi":utf8>>)
/// // -> <<"PUB a.b 2\r\nhi\r\n":utf8>>
/// ```
pub fn publish(
  subject: String,
  reply_to: option.Option(String),
  payload: BitArray,
) -> BitArray {
  let size = bytes.int_to_text(bytes.size(payload))
  concat([
    <<"PUB ":utf8, subject:utf8>>,
    reply_part(reply_to),
    <<" ":utf8, size:utf8, "\r\n":utf8>>,
    payload,
    <<"\r\n":utf8>>,
  ])
}

/// A message with a `NATS/1.0` header block before its payload (HPUB), or
/// without one (PUB) when there are no headers.
pub fn hpub(
  subject: String,
  reply_to: option.Option(String),
  headers: Headers,
  payload: BitArray,
) -> BitArray {
  case headers {
    [] -> publish(subject, reply_to, payload)
    _ -> {
      let block = header_block(headers)
      let header_size = bytes.size(block)
      let total = bytes.int_to_text(header_size + bytes.size(payload))
      let header_size = bytes.int_to_text(header_size)
      concat([
        <<"HPUB ":utf8, subject:utf8>>,
        reply_part(reply_to),
        <<" ":utf8, header_size:utf8, " ":utf8, total:utf8, "\r\n":utf8>>,
        block,
        payload,
        <<"\r\n":utf8>>,
      ])
    }
  }
}

/// The bytes a publish puts against the server's `max_payload`: the header
/// block (when there are headers) plus the payload.
pub fn publish_size(headers: Headers, payload: BitArray) -> Int {
  case headers {
    [] -> bytes.size(payload)
    _ -> bytes.size(header_block(headers)) + bytes.size(payload)
  }
}

fn header_block(headers: Headers) -> BitArray {
  concat([
    <<"NATS/1.0\r\n":utf8>>,
    ..append(header_lines(headers, []), [<<"\r\n":utf8>>])
  ])
}

fn header_lines(headers: Headers, acc: List(BitArray)) -> List(BitArray) {
  case headers {
    [] -> bytes.reverse(acc)
    [#(name, value), ..rest] ->
      header_lines(rest, [
        <<name:utf8, ": ":utf8, value:utf8, "\r\n":utf8>>,
        ..acc
      ])
  }
}

fn reply_part(reply_to: option.Option(String)) -> BitArray {
  case reply_to {
    option.None -> <<>>
    option.Some(inbox) -> <<" ":utf8, inbox:utf8>>
  }
}

// --- Parsing --------------------------------------------------------------

/// Every whole message in `buffer` and the bytes of an unfinished one. A
/// frame that breaks the protocol is an error saying why (the connection
/// cannot be trusted after it); so is a message over `max_in` bytes.
/// Whatever the bytes, this returns: it never crashes.
///
/// ```gleam
/// parse(<<"PING\r\nMSG a 1 2\r\nh":utf8>>, default_max_in)
/// // -> Ok(#([Ping], <<"MSG a 1 2\r\nh":utf8>>))
/// ```
pub fn parse(
  buffer: BitArray,
  max_in: Int,
) -> Result(#(List(ServerMessage), BitArray), String) {
  parse_loop(buffer, max_in, [])
}

type Step {
  Parsed(ServerMessage, BitArray)
  More
}

fn parse_loop(
  buffer: BitArray,
  max_in: Int,
  acc: List(ServerMessage),
) -> Result(#(List(ServerMessage), BitArray), String) {
  case split_line(buffer) {
    Error(Nil) ->
      case bytes.size(buffer) > max_control_line {
        True -> Error("control line over 64 KiB")
        False -> Ok(#(bytes.reverse(acc), buffer))
      }
    Ok(#(line, rest)) ->
      case bytes.size(line) > max_control_line {
        True -> Error("control line over 64 KiB")
        False ->
          case control(line, rest, max_in) {
            Error(why) -> Error(why)
            Ok(More) -> Ok(#(bytes.reverse(acc), buffer))
            Ok(Parsed(message, rest)) ->
              parse_loop(rest, max_in, [message, ..acc])
          }
      }
  }
}

fn control(
  line: BitArray,
  rest: BitArray,
  max_in: Int,
) -> Result(Step, String) {
  case bytes.utf8_error_at(line) {
    -1 -> control_words(line, words(line), rest, max_in)
    _ ->
      Error(
        "malformed protocol line (not UTF-8): "
        <> bytes.to_text(utf8_prefix(line, 80)),
      )
  }
}

fn control_words(
  line: BitArray,
  words: List(BitArray),
  rest: BitArray,
  max_in: Int,
) -> Result(Step, String) {
  let op = case words {
    [] -> ""
    [first, ..] -> bytes.to_text(ascii_uppercase(first))
  }
  let args = case words {
    [] -> []
    [_, ..args] -> texts(args, [])
  }
  case op, args {
    "PING", [] -> Ok(Parsed(Ping, rest))
    "PONG", [] -> Ok(Parsed(Pong, rest))
    "+OK", [] -> Ok(Parsed(Okay, rest))
    "-ERR", _ -> Ok(Parsed(ServerError(error_text(line)), rest))
    "INFO", _ ->
      case info(bytes.slice_text(line, 4, bytes.size(line) - 4)) {
        Ok(server) -> Ok(Parsed(Info(server), rest))
        Error(why) -> Error(why)
      }
    "MSG", [subject, sid, size] ->
      msg(subject, sid, option.None, size, rest, max_in)
    "MSG", [subject, sid, reply_to, size] ->
      msg(subject, sid, option.Some(reply_to), size, rest, max_in)
    "HMSG", [subject, sid, header_size, size] ->
      hmsg(subject, sid, option.None, header_size, size, rest, max_in)
    "HMSG", [subject, sid, reply_to, header_size, size] ->
      hmsg(subject, sid, option.Some(reply_to), header_size, size, rest, max_in)
    "MSG", _ | "HMSG", _ -> Error("wrong number of fields: " <> excerpt(line))
    _, _ -> Error("unknown protocol line: " <> excerpt(line))
  }
}

fn texts(words: List(BitArray), acc: List(String)) -> List(String) {
  case words {
    [] -> bytes.reverse(acc)
    [word, ..rest] -> texts(rest, [bytes.to_text(word), ..acc])
  }
}

fn excerpt(line: BitArray) -> String {
  bytes.to_text(utf8_prefix(line, 80))
}

fn error_text(line: BitArray) -> String {
  let text = bytes.slice(line, 4, bytes.size(line) - 4)
  bytes.to_text(strip(bytes.trim(text), 39))
}

fn info(json: String) -> Result(ServerInfo, String) {
  case json_tree.parse(json) {
    Ok(json_tree.JObject(_) as tree) ->
      Ok(
        ServerInfo(
          tls_required: flag(tree, "tls_required"),
          tls_available: flag(tree, "tls_available"),
          max_payload: case json_tree.member(tree, "max_payload") {
            Ok(json_tree.JNumber(text)) ->
              case non_negative_int(<<text:utf8>>) {
                Ok(n) if n > max_server_payload ->
                  option.Some(max_server_payload)
                Ok(n) if n > 0 -> option.Some(n)
                _ -> option.None
              }
            _ -> option.None
          },
        ),
      )
    _ -> Error("INFO that is not a JSON object")
  }
}

fn flag(tree: json_tree.Json, key: String) -> Bool {
  json_tree.member(tree, key) == Ok(json_tree.JBool(True))
}

fn msg(
  subject: String,
  sid: String,
  reply_to: option.Option(String),
  size: String,
  rest: BitArray,
  max_in: Int,
) -> Result(Step, String) {
  case payload(size, rest, max_in) {
    Error(why) -> Error(why)
    Ok(option.None) -> Ok(More)
    Ok(option.Some(#(body, rest))) ->
      Ok(Parsed(Msg(subject, sid, reply_to, body), rest))
  }
}

// HMSG: the header block (its size first) is a NATS/1.0 line, header lines
// and an empty line, all inside the total size.
fn hmsg(
  subject: String,
  sid: String,
  reply_to: option.Option(String),
  header_size_text: String,
  size_text: String,
  rest: BitArray,
  max_in: Int,
) -> Result(Step, String) {
  case
    non_negative_int(<<header_size_text:utf8>>),
    non_negative_int(<<size_text:utf8>>)
  {
    Ok(header_size), Ok(size) if header_size >= 12 && header_size <= size ->
      case payload(size_text, rest, max_in) {
        Error(why) -> Error(why)
        Ok(option.None) -> Ok(More)
        Ok(option.Some(#(all, rest))) -> {
          let block = bytes.slice(all, 0, header_size)
          let body = bytes.slice(all, header_size, size - header_size)
          case parse_header_block(block) {
            Ok(#(status, headers)) ->
              Ok(Parsed(
                HMsg(subject, sid, reply_to, status, headers, body),
                rest,
              ))
            Error(why) -> Error(why)
          }
        }
      }
    _, _ ->
      Error(
        "HMSG with a bad header size: "
        <> header_size_text
        <> " of "
        <> size_text,
      )
  }
}

// Some(#(payload, rest)) when the whole payload and its CRLF are there.
fn payload(
  size_text: String,
  rest: BitArray,
  max_in: Int,
) -> Result(option.Option(#(BitArray, BitArray)), String) {
  case non_negative_int(<<size_text:utf8>>) {
    Error(Nil) -> Error("bad payload size")
    Ok(size) ->
      case size > max_in, bytes.size(rest) >= size + 2 {
        True, _ ->
          Error(
            "message of "
            <> size_text
            <> " bytes, over the limit of "
            <> bytes.int_to_text(max_in),
          )
        False, False -> Ok(option.None)
        False, True ->
          case bytes.slice(rest, size, 2) == <<"\r\n":utf8>> {
            True ->
              Ok(
                option.Some(#(
                  bytes.slice(rest, 0, size),
                  bytes.slice(rest, size + 2, bytes.size(rest) - size - 2),
                )),
              )
            False -> Error("payload not followed by CRLF")
          }
      }
  }
}

fn parse_header_block(
  block: BitArray,
) -> Result(#(option.Option(Int), Headers), String) {
  let size = bytes.size(block)
  case
    bytes.starts_with(block, 0, <<"NATS/":utf8>>),
    bytes.slice(block, size - 4, 4) == <<"\r\n\r\n":utf8>>,
    bytes.utf8_error_at(block)
  {
    False, _, _ -> Error("HMSG header block does not start with NATS/1.0")
    _, False, _ -> Error("HMSG header block not ended by an empty line")
    _, _, -1 -> Ok(headers(block))
    _, _, _ -> Error("HMSG header block that is not UTF-8")
  }
}

/// A header block (UTF-8): `NATS/1.0 [Status [Description]]` then
/// `Name: Value` lines; lines without a colon are skipped.
///
/// ```gleam
/// headers(<<"NATS/1.0 503\r\nA: b\r\n\r\n":utf8>>)
/// // -> #(option.Some(503), [#("A", "b")])
/// ```
pub fn headers(block: BitArray) -> #(option.Option(Int), Headers) {
  let #(first, lines) = case split(block, <<"\r\n":utf8>>) {
    [] -> #(<<>>, [])
    [first, ..lines] -> #(first, lines)
  }
  let status = case split(first, <<" ":utf8>>) {
    [_version, code, ..] ->
      case non_negative_int(code) {
        Ok(n) -> option.Some(n)
        Error(Nil) -> option.None
      }
    _ -> option.None
  }
  #(status, header_pairs(lines, []))
}

fn header_pairs(lines: List(BitArray), acc: Headers) -> Headers {
  case lines {
    [] -> bytes.reverse(acc)
    [line, ..rest] ->
      case split_once(line, <<":":utf8>>) {
        Ok(#(name, value)) ->
          header_pairs(rest, [
            #(bytes.to_text(bytes.trim(name)), bytes.to_text(bytes.trim(value))),
            ..acc
          ])
        Error(Nil) -> header_pairs(rest, acc)
      }
  }
}

/// How many bytes the frame at the start of `buffer` needs in all, when its
/// control line says (MSG, HMSG); 0 when unknown. A reader holds incoming
/// bytes until it has that many, instead of parsing a big message again for
/// every piece of it that arrives.
pub fn frame_size(buffer: BitArray) -> Int {
  case split_line(buffer) {
    Error(Nil) -> 0
    Ok(#(line, _)) -> {
      let size = case words(line) {
        [op, _, _, size] -> sized(op, <<"MSG":utf8>>, size)
        [op, _, _, _, size] ->
          case sized(op, <<"MSG":utf8>>, size) {
            0 -> sized(op, <<"HMSG":utf8>>, size)
            n -> n
          }
        [op, _, _, _, _, size] -> sized(op, <<"HMSG":utf8>>, size)
        _ -> 0
      }
      case size {
        0 -> 0
        n -> bytes.size(line) + 2 + n
      }
    }
  }
}

// The payload size plus its CRLF when `op` is `want`; else 0.
fn sized(op: BitArray, want: BitArray, size: BitArray) -> Int {
  case ascii_uppercase(op) == want, non_negative_int(size) {
    True, Ok(n) -> n + 2
    _, _ -> 0
  }
}

// --- JetStream ------------------------------------------------------------

/// A stream's acknowledgement of a published message.
pub type PubAck {
  /// `duplicate`: the stream had this `Nats-Msg-Id` within its duplicate
  /// window and dropped the message (it is stored once, at `seq`).
  PubAck(stream: String, seq: Int, duplicate: Bool)
}

/// Why JetStream did not do what was asked.
pub type JetStreamError {
  /// No stream listens on the subject (status 503, no responders).
  NoStreamForSubject
  /// Nothing answers the JetStream API (status 503): JetStream is off.
  JetStreamNotEnabled
  /// The API's own error object.
  ApiError(code: Int, err_code: Int, description: String)
  /// A reply that is not what the API sends.
  BadReply(BitArray)
}

/// The JetStream reading of a reply to a publish.
///
/// ```gleam
/// publish_ack(option.None, <<"{\"stream\":\"S\",\"seq\":2}":utf8>>)
/// // -> Ok(PubAck("S", 2, False))
/// ```
pub fn publish_ack(
  status: option.Option(Int),
  body: BitArray,
) -> Result(PubAck, JetStreamError) {
  case status, reply_json(body) {
    option.Some(503), _ -> Error(NoStreamForSubject)
    _, Ok(tree) ->
      case
        api_error(tree),
        json_tree.member(tree, "stream"),
        json_tree.member(tree, "seq")
      {
        Ok(e), _, _ -> Error(e)
        _, Ok(json_tree.JString(stream)), Ok(json_tree.JNumber(seq)) ->
          case non_negative_int(<<seq:utf8>>) {
            Ok(seq) ->
              Ok(PubAck(
                stream,
                seq,
                json_tree.member(tree, "duplicate") == Ok(json_tree.JBool(True)),
              ))
            Error(Nil) -> Error(BadReply(body))
          }
        _, _, _ -> Error(BadReply(body))
      }
    _, Error(Nil) -> Error(BadReply(body))
  }
}

/// The subject and body of a request that creates a stream (file storage)
/// over `subjects` with a duplicate window of `duplicate_window_ms`.
pub fn stream_create(
  name: String,
  subjects: List(String),
  duplicate_window_ms: Int,
) -> #(String, BitArray) {
  let body =
    json_tree.JObject([
      #("name", json_tree.JString(name)),
      #("subjects", json_tree.JArray(strings(subjects, []))),
      #("storage", json_tree.JString("file")),
      #(
        "duplicate_window",
        json_tree.JNumber(bytes.int_to_text(duplicate_window_ms * 1_000_000)),
      ),
    ])
  #("$JS.API.STREAM.CREATE." <> name, <<json_tree.to_string(body):utf8>>)
}

/// The reading of a reply to `stream_create`: a stream that already exists
/// with that name (err_code 10058) is fine.
pub fn stream_created(
  status: option.Option(Int),
  body: BitArray,
) -> Result(Nil, JetStreamError) {
  case status, reply_json(body) {
    option.Some(503), _ -> Error(JetStreamNotEnabled)
    _, Ok(tree) ->
      case api_error(tree), json_tree.member(tree, "config") {
        Ok(ApiError(_, 10_058, _)), _ -> Ok(Nil)
        Ok(e), _ -> Error(e)
        _, Ok(_) -> Ok(Nil)
        _, _ -> Error(BadReply(body))
      }
    _, Error(Nil) -> Error(BadReply(body))
  }
}

/// The subject and body of a request that creates an ephemeral push
/// consumer delivering every message of `stream` to `deliver_subject`
/// without acks (how a test or an operator reads a stream back).
pub fn consumer_create(
  stream: String,
  deliver_subject: String,
) -> #(String, BitArray) {
  let body =
    json_tree.JObject([
      #("stream_name", json_tree.JString(stream)),
      #(
        "config",
        json_tree.JObject([
          #("deliver_subject", json_tree.JString(deliver_subject)),
          #("ack_policy", json_tree.JString("none")),
          #("deliver_policy", json_tree.JString("all")),
        ]),
      ),
    ])
  #("$JS.API.CONSUMER.CREATE." <> stream, <<json_tree.to_string(body):utf8>>)
}

fn strings(
  items: List(String),
  acc: List(json_tree.Json),
) -> List(json_tree.Json) {
  case items {
    [] -> bytes.reverse(acc)
    [s, ..rest] -> strings(rest, [json_tree.JString(s), ..acc])
  }
}

fn reply_json(body: BitArray) -> Result(json_tree.Json, Nil) {
  case bytes.utf8_error_at(body) {
    -1 ->
      case json_tree.parse(bytes.to_text(body)) {
        Ok(tree) -> Ok(tree)
        Error(_) -> Error(Nil)
      }
    _ -> Error(Nil)
  }
}

fn api_error(tree: json_tree.Json) -> Result(JetStreamError, Nil) {
  case json_tree.member(tree, "error") {
    Ok(error) -> {
      let number = fn(key) {
        case json_tree.member(error, key) {
          Ok(json_tree.JNumber(text)) ->
            case non_negative_int(<<text:utf8>>) {
              Ok(n) -> n
              Error(Nil) -> 0
            }
          _ -> 0
        }
      }
      let description = case json_tree.member(error, "description") {
        Ok(json_tree.JString(text)) -> text
        _ -> ""
      }
      Ok(ApiError(number("code"), number("err_code"), description))
    }
    Error(Nil) -> Error(Nil)
  }
}

// --- Decisions ------------------------------------------------------------

/// How a connection is secured once the server's INFO is known.
pub type Security {
  /// Plain TCP: neither side asks for TLS.
  Plain
  /// TLS before CONNECT: the server requires it or it is configured.
  UpgradeToTls
  /// TLS is configured but the server does not offer it: close before
  /// any credential is sent.
  RefuseTls(String)
}

/// TLS whenever the server requires it or it is configured; credentials
/// never go over plain TCP to a server that asks for TLS, and a configured
/// TLS that the server does not offer is refused.
///
/// ```gleam
/// security(ServerInfo(True, False, option.None), tls_configured: False)
/// // -> UpgradeToTls
/// ```
pub fn security(info: ServerInfo, tls_configured configured: Bool) -> Security {
  let offered = info.tls_required || info.tls_available
  case configured, info.tls_required, offered {
    False, False, _ -> Plain
    _, _, True -> UpgradeToTls
    _, _, False ->
      RefuseTls("TLS is configured but the server does not offer it")
  }
}

/// The largest publish the server takes, from its INFO.
pub fn max_payload(info: ServerInfo) -> Int {
  option.unwrap(info.max_payload, or: default_max_payload)
}

/// The most a server may send in one message to a client whose server
/// takes `max_payload`: at least `default_max_in`.
pub fn max_in(max_payload: Int) -> Int {
  case max_payload > default_max_in {
    True -> max_payload
    False -> default_max_in
  }
}

/// The reply token of an inbox subject (`_INBOX.abc.7` -> `7`): requests
/// share one wildcard subscription and are told apart by it.
pub fn reply_token(subject: String) -> String {
  case bytes.reverse(split(<<subject:utf8>>, <<".":utf8>>)) {
    [last, ..] -> bytes.to_text(last)
    [] -> ""
  }
}

// --- Byte helpers ---------------------------------------------------------

fn append(a: List(x), b: List(x)) -> List(x) {
  case a {
    [] -> b
    _ -> append_reversed(bytes.reverse(a), b)
  }
}

fn append_reversed(reversed: List(x), acc: List(x)) -> List(x) {
  case reversed {
    [] -> acc
    [x, ..rest] -> append_reversed(rest, [x, ..acc])
  }
}

@external(erlang, "tally_bytes_ffi", "split_line")
fn split_line(buffer: BitArray) -> Result(#(BitArray, BitArray), Nil)

@external(erlang, "tally_bytes_ffi", "words")
fn words(line: BitArray) -> List(BitArray)

@external(erlang, "tally_bytes_ffi", "non_negative_int")
fn non_negative_int(text: BitArray) -> Result(Int, Nil)

@external(erlang, "tally_bytes_ffi", "split")
fn split(bytes: BitArray, separator: BitArray) -> List(BitArray)

@external(erlang, "tally_bytes_ffi", "split_once")
fn split_once(
  bytes: BitArray,
  separator: BitArray,
) -> Result(#(BitArray, BitArray), Nil)

@external(erlang, "tally_bytes_ffi", "utf8_prefix")
fn utf8_prefix(bytes: BitArray, most: Int) -> BitArray

@external(erlang, "tally_bytes_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray

@external(erlang, "tally_bytes_ffi", "ascii_uppercase")
fn ascii_uppercase(bytes: BitArray) -> BitArray

@external(erlang, "tally_bytes_ffi", "strip")
fn strip(bytes: BitArray, byte: Int) -> BitArray
