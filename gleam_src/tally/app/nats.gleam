//// A NATS client actor: one connection (TCP, or TLS through OTP's ssl),
//// CONNECT with a user and password or a token, PING/PONG keepalive,
//// reconnection with exponential backoff and jitter, subscriptions,
//// request/reply through one wildcard inbox, and JetStream publishing
//// with `Nats-Msg-Id` (the stream drops a message whose id it saw within
//// its duplicate window).
////
//// Safety: the connection is upgraded to TLS before CONNECT whenever the
//// server's INFO says `tls_required` or TLS is configured (the server
//// verified against the CA file, or the system's CAs, with its host name
//// checked; an optional client certificate); credentials never go over
//// plain TCP to a server that asks for TLS, and a configured TLS that the
//// server does not offer is refused. A frame that breaks the protocol
//// closes the connection with a logged reason and the client reconnects:
//// nothing a server sends crashes it. Passwords and tokens stay wrapped
//// (`tally/app/secret`), so no state or crash report prints them. A
//// publish over the server's `max_payload` is refused, never sent.
////
//// The protocol itself is `tally/app/nats_protocol` (pure); this actor
//// moves bytes (through `tally_socket_ffi`) and keeps track of who waits
//// for what. While disconnected, requests fail at once with
//// `NotConnected`: the caller (the publisher) owns its retry policy, and
//// no request waits on a dead socket.
////
//// ```gleam
//// let assert Ok(client) = nats.start(nats.config(host: "127.0.0.1", port: 4222))
//// nats.js_publish(client, "invoices.acme", msg_id: "k1", headers: [],
////   payload: <<"{}":utf8>>)
//// // -> Ok(nats_protocol.PubAck("INVOICES", 1, False))
//// ```

import tally/app/backoff
import tally/app/log
import tally/app/nats_protocol as protocol
import tally/option
import tally/otp/actor
import tally/otp/dynamic
import tally/otp/process
import tally/pure/bytes
import tally/pure/map

/// Where and how to connect.
pub type Config {
  Config(
    host: String,
    port: Int,
    auth: protocol.Auth,
    /// `Some` to require TLS (with these options); with `None` TLS is
    /// still used when the server requires it (with the system's CAs).
    tls: option.Option(TlsOptions),
    /// The client's name in CONNECT (shown by the server's monitoring).
    name: String,
    /// Milliseconds between keepalive PINGs; two unanswered ones mean the
    /// connection is gone.
    ping_interval: Int,
  )
}

/// How the server is verified and the client proves itself over TLS.
pub type TlsOptions {
  TlsOptions(
    /// PEM file of the CAs to trust; the system's CAs when `None`.
    ca_file: option.Option(String),
    /// PEM client certificate and key, for servers that verify clients.
    cert_file: option.Option(String),
    key_file: option.Option(String),
    /// The name the server's certificate must have; the host when `None`.
    server_name: option.Option(String),
  )
}

/// The default configuration for a server at `host`:`port`: no auth, TLS
/// only when the server requires it, PING every 5 s.
pub fn config(host host: String, port port: Int) -> Config {
  Config(
    host: host,
    port: port,
    auth: protocol.NoAuth,
    tls: option.None,
    name: "tally",
    ping_interval: 5000,
  )
}

/// TLS options with the system's CAs, the host name checked, no client
/// certificate.
pub fn default_tls() -> TlsOptions {
  TlsOptions(option.None, option.None, option.None, option.None)
}

/// A running client.
pub opaque type Client {
  Client(pid: process.Pid, subject: process.Subject(Message))
}

/// A reply to a request.
pub type Reply {
  /// `status`: the code of a header block's first line (503: no responders).
  Reply(
    status: option.Option(Int),
    headers: protocol.Headers,
    payload: BitArray,
  )
}

/// A message on a subscribed subject.
pub type Delivery {
  Delivery(
    sid: String,
    subject: String,
    headers: protocol.Headers,
    payload: BitArray,
  )
}

/// Why a request or publish did not get its answer.
pub type NatsError {
  /// The client has no connection now.
  NotConnected
  /// No reply within the time given.
  Timeout
  /// The connection went while waiting: the message may or may not have
  /// reached the server (JetStream's dedup makes a retry safe).
  Disconnected
  /// Over the server's `max_payload` (headers plus payload): never sent.
  PayloadTooLarge(size: Int, max: Int)
  /// Writing to the socket failed.
  SendFailed(String)
  /// JetStream answered, but not with what was asked.
  JetStream(protocol.JetStreamError)
}

/// The actor's messages (opaque: use the functions of this module).
pub opaque type Message {
  Connect
  Socket(SocketEvent)
  Keepalive(generation: Int)
  RequestTimedOut(token: String)
  Request(
    subject: String,
    headers: protocol.Headers,
    payload: BitArray,
    timeout: Int,
    reply: process.Subject(Result(Reply, NatsError)),
  )
  Subscribe(
    subject: String,
    deliver: process.Subject(Delivery),
    reply: process.Subject(String),
  )
  IsConnected(reply: process.Subject(Bool))
  MaxPayload(reply: process.Subject(Int))
  Stop(reply: process.Subject(Nil))
  Ignore
}

// The socket messages, as tally_socket_ffi:socket_event/1 gives them.
type SocketEvent {
  Data(SocketRef, BitArray)
  Closed(SocketRef)
  Failed(SocketRef, String)
}

// A socket of either kind (`{tcp, Port}` or `{tls, SslSocket}`).
type SocketRef

type Connection {
  Down
  Up(socket: SocketRef)
}

type State {
  State(
    config: Config,
    self: process.Subject(Message),
    connection: Connection,
    // bytes received and not yet parsed (newest first), their size, and
    // how many a whole frame needs (0: unknown)
    pending: List(BitArray),
    have: Int,
    need: Int,
    max_payload: Int,
    inbox: String,
    next_token: Int,
    requests: map.Map(
      String,
      #(process.Subject(Result(Reply, NatsError)), process.Timer),
    ),
    subscriptions: map.Map(String, #(String, process.Subject(Delivery))),
    next_sid: Int,
    pings_out: Int,
    // which connection the keepalive timers belong to
    generation: Int,
    backoff: Int,
  )
}

// Why a connection could not be made or was lost: how loudly it is logged.
type Trouble {
  ServerRefused(String)
  TlsFailed(String)
  ProtocolBroken(String)
  Routine(String)
}

const connect_timeout = 5000

const max_pings_out = 2

const backoff_min = 100

const backoff_max = 5000

/// Starts a client linked to the caller; it connects at once and again
/// whenever the connection is lost. Starting succeeds while the server is
/// away.
pub fn start(config: Config) -> Result(Client, actor.StartError) {
  let started =
    actor.new_with_initialiser(1000, fn(subject) {
      let selector =
        process.new_selector()
        |> process.select(subject)
        |> process.select_other(fn(message) {
          case socket_event(message) {
            Ok(event) -> Socket(event)
            Error(Nil) -> Ignore
          }
        })
      process.send(subject, Connect)
      actor.initialised(State(
        config: config,
        self: subject,
        connection: Down,
        pending: [],
        have: 0,
        need: 0,
        max_payload: protocol.default_max_payload,
        inbox: "_INBOX." <> random_hex(8),
        next_token: 1,
        requests: map.new(),
        subscriptions: map.new(),
        next_sid: 2,
        pings_out: 0,
        generation: 0,
        backoff: backoff_min,
      ))
      |> actor.selecting(selector)
      |> actor.returning(subject)
      |> Ok
    })
    |> actor.on_message(handle)
    |> actor.start
  case started {
    Ok(actor.Started(pid, subject)) -> Ok(Client(pid, subject))
    Error(e) -> Error(e)
  }
}

/// The client's process.
pub fn pid(client: Client) -> process.Pid {
  client.pid
}

/// Closes the connection and ends the client.
pub fn stop(client: Client) -> Nil {
  process.call(client.subject, waiting: 10_000, sending: Stop)
}

/// Whether the client has a connection now.
pub fn is_connected(client: Client) -> Bool {
  process.call(client.subject, waiting: 10_000, sending: IsConnected)
}

/// The largest publish (headers plus payload) the server takes.
pub fn max_payload(client: Client) -> Int {
  process.call(client.subject, waiting: 10_000, sending: MaxPayload)
}

/// Publishes with a reply inbox and waits at most `timeout` ms for the
/// first reply.
pub fn request(
  client: Client,
  subject subject: String,
  headers headers: protocol.Headers,
  payload payload: BitArray,
  timeout timeout: Int,
) -> Result(Reply, NatsError) {
  // The client always answers (a timer of its own ends the wait), so the
  // call's own limit only guards against a client that is stuck.
  process.call(client.subject, waiting: timeout + 10_000, sending: fn(reply) {
    Request(subject, headers, payload, timeout, reply)
  })
}

/// Publishes to a JetStream stream with `Nats-Msg-Id: msg_id` (then
/// `headers`) and waits up to 5 s for the stream's acknowledgement.
pub fn js_publish(
  client: Client,
  subject subject: String,
  msg_id msg_id: String,
  headers headers: protocol.Headers,
  payload payload: BitArray,
) -> Result(protocol.PubAck, NatsError) {
  case
    request(
      client,
      subject,
      [#("Nats-Msg-Id", msg_id), ..headers],
      payload,
      5000,
    )
  {
    Ok(Reply(status, _, body)) ->
      case protocol.publish_ack(status, body) {
        Ok(ack) -> Ok(ack)
        Error(e) -> Error(JetStream(e))
      }
    Error(e) -> Error(e)
  }
}

/// Creates a stream (file storage) over `subjects` with a duplicate window
/// of `duplicate_window_ms`; a stream that already exists with that name
/// is fine.
pub fn create_stream(
  client: Client,
  name name: String,
  subjects subjects: List(String),
  duplicate_window_ms duplicate_window_ms: Int,
) -> Result(Nil, NatsError) {
  let #(subject, body) =
    protocol.stream_create(name, subjects, duplicate_window_ms)
  case request(client, subject, [], body, 5000) {
    Ok(Reply(status, _, reply)) ->
      case protocol.stream_created(status, reply) {
        Ok(Nil) -> Ok(Nil)
        Error(e) -> Error(JetStream(e))
      }
    Error(e) -> Error(e)
  }
}

/// Delivers every message on `subject` to `deliver` (subscriptions
/// survive reconnects); returns the subscription's id.
pub fn subscribe(
  client: Client,
  subject subject: String,
  deliver deliver: process.Subject(Delivery),
) -> String {
  process.call(client.subject, waiting: 10_000, sending: fn(reply) {
    Subscribe(subject, deliver, reply)
  })
}

// --- The actor ------------------------------------------------------------

fn handle(state: State, message: Message) -> actor.Next(State, Message) {
  case message {
    Connect ->
      case state.connection {
        Up(_) -> actor.continue(state)
        Down -> actor.continue(connect(state))
      }
    Socket(event) -> actor.continue(socket(state, event))
    Keepalive(generation) -> actor.continue(keepalive(state, generation))
    RequestTimedOut(token) ->
      case map.get(state.requests, token) {
        Ok(#(reply, _)) -> {
          process.send(reply, Error(Timeout))
          actor.continue(
            State(..state, requests: map.delete(state.requests, token)),
          )
        }
        Error(Nil) -> actor.continue(state)
      }
    Request(subject, headers, payload, timeout, reply) ->
      actor.continue(request_sent(
        state,
        subject,
        headers,
        payload,
        timeout,
        reply,
      ))
    Subscribe(subject, deliver, reply) -> {
      let sid = bytes.int_to_text(state.next_sid)
      let state = case state.connection {
        Up(socket) ->
          case send(socket, protocol.sub(subject, sid)) {
            Ok(Nil) -> state
            Error(why) -> disconnected(state, Routine(why))
          }
        Down -> state
      }
      process.send(reply, sid)
      actor.continue(
        State(
          ..state,
          next_sid: state.next_sid + 1,
          subscriptions: map.put(state.subscriptions, sid, #(subject, deliver)),
        ),
      )
    }
    IsConnected(reply) -> {
      process.send(reply, state.connection != Down)
      actor.continue(state)
    }
    MaxPayload(reply) -> {
      process.send(reply, state.max_payload)
      actor.continue(state)
    }
    Stop(reply) -> {
      case state.connection {
        Up(socket) -> close(socket)
        Down -> Nil
      }
      process.send(reply, Nil)
      actor.stop()
    }
    Ignore -> actor.continue(state)
  }
}

fn request_sent(
  state: State,
  subject: String,
  headers: protocol.Headers,
  payload: BitArray,
  timeout: Int,
  reply: process.Subject(Result(Reply, NatsError)),
) -> State {
  let size = protocol.publish_size(headers, payload)
  let max = state.max_payload
  case state.connection {
    Down -> {
      process.send(reply, Error(NotConnected))
      state
    }
    // The server would refuse it and close the connection: never send it.
    Up(_) if size > max -> {
      process.send(reply, Error(PayloadTooLarge(size, max)))
      state
    }
    Up(socket) -> {
      let token = bytes.int_to_text(state.next_token)
      let frame =
        protocol.hpub(
          subject,
          option.Some(state.inbox <> "." <> token),
          headers,
          payload,
        )
      case send(socket, frame) {
        Ok(Nil) -> {
          let timer =
            process.send_after(state.self, timeout, RequestTimedOut(token))
          State(
            ..state,
            next_token: state.next_token + 1,
            requests: map.put(state.requests, token, #(reply, timer)),
          )
        }
        Error(why) -> {
          process.send(reply, Error(SendFailed(why)))
          disconnected(state, Routine(why))
        }
      }
    }
  }
}

fn socket(state: State, event: SocketEvent) -> State {
  case state.connection, event {
    Up(current), Data(socket, data) if current == socket ->
      case active_once(socket) {
        Ok(Nil) -> received(state, socket, data)
        Error(why) -> disconnected(state, Routine(why))
      }
    Up(current), Closed(socket) if current == socket ->
      disconnected(state, Routine("closed"))
    Up(current), Failed(socket, why) if current == socket ->
      disconnected(state, Routine(why))
    // A socket that is gone already.
    _, _ -> state
  }
}

fn keepalive(state: State, generation: Int) -> State {
  let current = state.generation
  case state.connection {
    Up(socket) if generation == current ->
      case state.pings_out >= max_pings_out {
        True -> disconnected(state, Routine("stale connection"))
        False -> {
          process.send_after(
            state.self,
            state.config.ping_interval,
            Keepalive(generation),
          )
          case send(socket, protocol.ping()) {
            Ok(Nil) -> State(..state, pings_out: state.pings_out + 1)
            Error(why) -> disconnected(state, Routine(why))
          }
        }
      }
    // A timer of a connection that is gone.
    _ -> state
  }
}

// --- Connecting -----------------------------------------------------------

fn connect(state: State) -> State {
  case open(state) {
    Ok(#(socket, info, rest)) -> {
      let config = state.config
      log.report(log.Notice, "nats connected", [
        #("host", config.host),
        #("port", bytes.int_to_text(config.port)),
        #("tls", case is_tls(socket) {
          True -> "true"
          False -> "false"
        }),
      ])
      let generation = state.generation + 1
      process.send_after(
        state.self,
        config.ping_interval,
        Keepalive(generation),
      )
      let state =
        State(
          ..state,
          connection: Up(socket),
          backoff: backoff_min,
          pings_out: 0,
          pending: [],
          have: 0,
          need: 0,
          generation: generation,
          max_payload: protocol.max_payload(info),
        )
      received(state, socket, rest)
    }
    Error(trouble) -> retry_later(state, trouble)
  }
}

// Connects and reads INFO; upgrades to TLS when the server requires it or
// it is configured (refusing when it cannot be had); sends CONNECT and
// PING and waits for PONG, so a refused login is seen here; then
// subscribes the inbox and every subscription again. Returns the bytes
// read past the PONG.
fn open(
  state: State,
) -> Result(#(SocketRef, protocol.ServerInfo, BitArray), Trouble) {
  let config = state.config
  let deadline = now() + connect_timeout
  case tcp_connect(config.host, config.port, connect_timeout) {
    Error(why) -> Error(Routine(why))
    Ok(tcp) -> {
      let result = case await(tcp, WantInfo, <<>>, deadline) {
        Error(trouble) -> Error(trouble)
        Ok(#(Got(protocol.Info(info)), rest)) ->
          case secure(tcp, info, config, deadline) {
            Error(trouble) -> Error(trouble)
            Ok(socket) ->
              case login(socket, rest, state, deadline) {
                Ok(rest) -> Ok(#(socket, info, rest))
                Error(trouble) -> {
                  case socket == tcp {
                    True -> Nil
                    False -> close(socket)
                  }
                  Error(trouble)
                }
              }
          }
        Ok(_) -> Error(ProtocolBroken("no INFO"))
      }
      case result {
        Ok(_) -> Nil
        Error(_) -> close(tcp)
      }
      result
    }
  }
}

fn secure(
  tcp: SocketRef,
  info: protocol.ServerInfo,
  config: Config,
  deadline: Int,
) -> Result(SocketRef, Trouble) {
  case protocol.security(info, tls_configured: config.tls != option.None) {
    protocol.Plain -> Ok(tcp)
    protocol.RefuseTls(why) -> Error(TlsFailed(why))
    protocol.UpgradeToTls -> {
      let options = option.unwrap(config.tls, or: default_tls())
      case tls_upgrade(tcp, config.host, options, left(deadline)) {
        Ok(socket) -> Ok(socket)
        Error(why) -> Error(TlsFailed(why))
      }
    }
  }
}

fn login(
  socket: SocketRef,
  rest: BitArray,
  state: State,
  deadline: Int,
) -> Result(BitArray, Trouble) {
  let config = state.config
  let hello =
    concat([
      protocol.connect(config.auth, name: config.name, tls: is_tls(socket)),
      protocol.ping(),
    ])
  let subscriptions =
    concat([
      protocol.sub(state.inbox <> ".*", "1"),
      ..resubscriptions(map.sorted_pairs(state.subscriptions), [])
    ])
  case send(socket, hello) {
    Error(why) -> Error(Routine(why))
    Ok(Nil) ->
      case await(socket, WantPong, rest, deadline) {
        Error(trouble) -> Error(trouble)
        Ok(#(_, rest)) ->
          case send(socket, subscriptions) {
            Error(why) -> Error(Routine(why))
            Ok(Nil) ->
              case active_once(socket) {
                Ok(Nil) -> Ok(rest)
                Error(why) -> Error(Routine(why))
              }
          }
      }
  }
}

fn resubscriptions(
  subscriptions: List(#(String, #(String, process.Subject(Delivery)))),
  acc: List(BitArray),
) -> List(BitArray) {
  case subscriptions {
    [] -> bytes.reverse(acc)
    [#(sid, #(subject, _)), ..rest] ->
      resubscriptions(rest, [protocol.sub(subject, sid), ..acc])
  }
}

type Want {
  WantInfo
  WantPong
}

type Awaited {
  Got(protocol.ServerMessage)
}

// Reads until the wanted message; -ERR (a refused login) ends the wait.
// Returns the bytes after it (nothing but PING and +OK can follow this
// early; PINGs are kept for the reader).
fn await(
  socket: SocketRef,
  want: Want,
  buffer: BitArray,
  deadline: Int,
) -> Result(#(Awaited, BitArray), Trouble) {
  case protocol.parse(buffer, protocol.default_max_in) {
    Error(why) -> Error(ProtocolBroken(why))
    Ok(#(messages, rest)) ->
      case find_wanted(messages, want) {
        Found(message, after) ->
          Ok(#(Got(message), concat(append_list(after, [rest]))))
        Refused(text) -> Error(ServerRefused(text))
        NotYet ->
          case left(deadline) {
            0 -> Error(Routine("connect timeout"))
            ms ->
              case recv(socket, ms) {
                Ok(more) ->
                  await(socket, want, bytes.append(rest, more), deadline)
                Error(why) -> Error(Routine(why))
              }
          }
      }
  }
}

type Search {
  Found(protocol.ServerMessage, List(BitArray))
  Refused(String)
  NotYet
}

fn find_wanted(messages: List(protocol.ServerMessage), want: Want) -> Search {
  case messages, want {
    [], _ -> NotYet
    [protocol.ServerError(text), ..], _ -> Refused(text)
    [protocol.Info(_) as message, ..rest], WantInfo ->
      Found(message, pings(rest, []))
    [protocol.Pong as message, ..rest], WantPong ->
      Found(message, pings(rest, []))
    [_, ..rest], _ -> find_wanted(rest, want)
  }
}

// The PINGs among `messages`, encoded again; a -ERR after the wanted
// message is seen by the reader instead.
fn pings(
  messages: List(protocol.ServerMessage),
  acc: List(BitArray),
) -> List(BitArray) {
  case messages {
    [] -> bytes.reverse(acc)
    [protocol.Ping, ..rest] -> pings(rest, [protocol.ping(), ..acc])
    [_, ..rest] -> pings(rest, acc)
  }
}

// --- Reading --------------------------------------------------------------

// Incoming bytes wait in `pending` until the frame they belong to is whole
// (its size is known from its control line), so a big message is put
// together once, not copied again with every piece of it.
fn received(state: State, socket: SocketRef, data: BitArray) -> State {
  let have = state.have + bytes.size(data)
  case bytes.size(data), have < state.need {
    0, _ -> state
    _, True -> State(..state, pending: [data, ..state.pending], have: have)
    _, False -> {
      let buffer = concat(bytes.reverse([data, ..state.pending]))
      case protocol.parse(buffer, protocol.max_in(state.max_payload)) {
        Ok(#(messages, rest)) -> {
          let rest = copy(rest)
          let pending = case bytes.size(rest) {
            0 -> []
            _ -> [rest]
          }
          let state =
            State(
              ..state,
              pending: pending,
              have: bytes.size(rest),
              need: protocol.frame_size(rest),
            )
          handle_messages(state, socket, messages)
        }
        Error(why) -> {
          log.report(log.Warning, "nats protocol error, reconnecting", [
            #("reason", why),
            #("host", state.config.host),
            #("port", bytes.int_to_text(state.config.port)),
          ])
          disconnected(state, ProtocolBroken(why))
        }
      }
    }
  }
}

fn handle_messages(
  state: State,
  socket: SocketRef,
  messages: List(protocol.ServerMessage),
) -> State {
  case messages, state.connection {
    [], _ -> state
    // The connection went while handling earlier messages.
    _, Down -> state
    [message, ..rest], Up(_) ->
      handle_messages(handle_message(state, socket, message), socket, rest)
  }
}

fn handle_message(
  state: State,
  socket: SocketRef,
  message: protocol.ServerMessage,
) -> State {
  case message {
    protocol.Ping ->
      case send(socket, protocol.pong()) {
        Ok(Nil) -> state
        Error(why) -> disconnected(state, Routine(why))
      }
    protocol.Pong -> State(..state, pings_out: 0)
    protocol.ServerError(text) -> {
      log.report(log.ErrorLevel, "nats server error", [
        #("error", text),
        #("host", state.config.host),
        #("port", bytes.int_to_text(state.config.port)),
      ])
      state
    }
    protocol.Msg(subject, sid, _, payload) ->
      deliver(state, subject, sid, option.None, [], payload)
    protocol.HMsg(subject, sid, _, status, headers, payload) ->
      deliver(state, subject, sid, status, headers, payload)
    protocol.Info(_) | protocol.Okay -> state
  }
}

// Inbox replies (sid 1) go to the waiting caller; others to subscribers.
fn deliver(
  state: State,
  subject: String,
  sid: String,
  status: option.Option(Int),
  headers: protocol.Headers,
  payload: BitArray,
) -> State {
  case sid {
    "1" -> {
      let token = protocol.reply_token(subject)
      case map.get(state.requests, token) {
        Ok(#(reply, timer)) -> {
          let _ = process.cancel_timer(timer)
          process.send(reply, Ok(Reply(status, headers, payload)))
          State(..state, requests: map.delete(state.requests, token))
        }
        Error(Nil) -> state
      }
    }
    _ -> {
      case map.get(state.subscriptions, sid) {
        Ok(#(_, subscriber)) ->
          process.send(subscriber, Delivery(sid, subject, headers, payload))
        Error(Nil) -> Nil
      }
      state
    }
  }
}

// --- Losing the connection ------------------------------------------------

// The connection is gone: every waiting request fails now (its message may
// or may not have reached the server; JetStream's dedup makes a retry safe).
fn disconnected(state: State, trouble: Trouble) -> State {
  case state.connection {
    Up(socket) -> close(socket)
    Down -> Nil
  }
  log.report(log.Warning, "nats disconnected", [#("reason", describe(trouble))])
  fail_requests(map.sorted_pairs(state.requests))
  retry_later(
    State(
      ..state,
      connection: Down,
      requests: map.new(),
      pending: [],
      have: 0,
      need: 0,
    ),
    trouble,
  )
}

fn fail_requests(
  requests: List(
    #(String, #(process.Subject(Result(Reply, NatsError)), process.Timer)),
  ),
) -> Nil {
  case requests {
    [] -> Nil
    [#(_, #(reply, timer)), ..rest] -> {
      let _ = process.cancel_timer(timer)
      process.send(reply, Error(Disconnected))
      fail_requests(rest)
    }
  }
}

// A refused login or a TLS failure is an operator's problem: logged as an
// error with the server's own words; a server that is away is routine.
fn retry_later(state: State, trouble: Trouble) -> State {
  let #(delay, next_backoff) =
    backoff.next(
      backoff: state.backoff,
      random: uniform(state.backoff),
      ceiling: backoff_max,
    )
  let fields = [
    #("reason", describe(trouble)),
    #("in_ms", bytes.int_to_text(delay)),
    #("host", state.config.host),
    #("port", bytes.int_to_text(state.config.port)),
  ]
  case trouble {
    ServerRefused(text) ->
      log.report(log.ErrorLevel, "nats server refused the connection", [
        #("error", text),
        ..fields
      ])
    TlsFailed(_) -> log.report(log.ErrorLevel, "nats TLS failed", fields)
    ProtocolBroken(_) -> log.report(log.Warning, "nats reconnecting", fields)
    Routine(_) -> log.report(log.Info, "nats reconnecting", fields)
  }
  process.send_after(state.self, delay, Connect)
  State(..state, backoff: next_backoff)
}

fn describe(trouble: Trouble) -> String {
  case trouble {
    ServerRefused(text) -> "server: " <> text
    TlsFailed(text) -> "tls: " <> text
    ProtocolBroken(text) -> "protocol: " <> text
    Routine(text) -> text
  }
}

// --- Helpers --------------------------------------------------------------

fn left(deadline: Int) -> Int {
  let ms = deadline - now()
  case ms > 0 {
    True -> ms
    False -> 0
  }
}

fn append_list(a: List(x), b: List(x)) -> List(x) {
  case bytes.reverse(a) {
    [] -> b
    reversed -> prepend(reversed, b)
  }
}

fn prepend(reversed: List(x), acc: List(x)) -> List(x) {
  case reversed {
    [] -> acc
    [x, ..rest] -> prepend(rest, [x, ..acc])
  }
}

type TimeUnit {
  Millisecond
}

fn now() -> Int {
  monotonic_time(Millisecond)
}

fn random_hex(n: Int) -> String {
  encode_hex(strong_rand_bytes(n))
}

@external(erlang, "erlang", "monotonic_time")
fn monotonic_time(unit: TimeUnit) -> Int

@external(erlang, "rand", "uniform")
fn uniform(below: Int) -> Int

@external(erlang, "crypto", "strong_rand_bytes")
fn strong_rand_bytes(n: Int) -> BitArray

@external(erlang, "binary", "encode_hex")
fn encode_hex(bytes: BitArray) -> String

@external(erlang, "binary", "copy")
fn copy(bytes: BitArray) -> BitArray

@external(erlang, "tally_bytes_ffi", "concat")
fn concat(parts: List(BitArray)) -> BitArray

@external(erlang, "tally_socket_ffi", "socket_event")
fn socket_event(message: dynamic.Dynamic) -> Result(SocketEvent, Nil)

@external(erlang, "tally_socket_ffi", "connect")
fn tcp_connect(
  host: String,
  port: Int,
  timeout: Int,
) -> Result(SocketRef, String)

@external(erlang, "tally_socket_ffi", "upgrade")
fn tls_upgrade(
  socket: SocketRef,
  host: String,
  options: TlsOptions,
  timeout: Int,
) -> Result(SocketRef, String)

@external(erlang, "tally_socket_ffi", "send")
fn send(socket: SocketRef, bytes: BitArray) -> Result(Nil, String)

@external(erlang, "tally_socket_ffi", "recv")
fn recv(socket: SocketRef, timeout: Int) -> Result(BitArray, String)

@external(erlang, "tally_socket_ffi", "active_once")
fn active_once(socket: SocketRef) -> Result(Nil, String)

@external(erlang, "tally_socket_ffi", "close")
fn close(socket: SocketRef) -> Nil

@external(erlang, "tally_socket_ffi", "is_tls")
fn is_tls(socket: SocketRef) -> Bool

/// A short text for logs.
///
/// ```gleam
/// describe_error(PayloadTooLarge(2000, 512))
/// // -> "payload of 2000 bytes over max_payload 512"
/// ```
pub fn describe_error(error: NatsError) -> String {
  case error {
    NotConnected -> "not connected"
    Timeout -> "timeout"
    Disconnected -> "disconnected"
    PayloadTooLarge(size, max) ->
      "payload of "
      <> bytes.int_to_text(size)
      <> " bytes over max_payload "
      <> bytes.int_to_text(max)
    SendFailed(why) -> "send failed: " <> why
    JetStream(protocol.NoStreamForSubject) -> "no stream for the subject"
    JetStream(protocol.JetStreamNotEnabled) -> "JetStream is not enabled"
    JetStream(protocol.ApiError(code, err_code, description)) ->
      "JetStream error "
      <> bytes.int_to_text(code)
      <> "/"
      <> bytes.int_to_text(err_code)
      <> ": "
      <> description
    JetStream(protocol.BadReply(_)) -> "a reply that is not JetStream's"
  }
}
