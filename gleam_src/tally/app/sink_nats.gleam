//// The bus sink: each item is published to its subject on NATS JetStream
//// with `Nats-Msg-Id` set to its key (an invoice line's key and version)
//// and `Tally-Schema` to the schema its payload follows
//// (contract/invoice_line.v1.schema.json), and counts as acknowledged when
//// the stream's ack arrives. A batch is in flight all at once; a retry
//// within the stream's duplicate window is dropped by the server, so the
//// stream holds each key once. The NATS client is linked to the process
//// that opens the sink (the publisher).
////
//// ```gleam
//// let assert Ok(bus) = sink_nats.open(sink_nats.Config(
////   nats: nats.config(host: "127.0.0.1", port: 4222),
////   stream: "INVOICES", subjects: ["invoices.>"], create_stream: True))
//// let #(bus, outcome) = sink_nats.publish(bus, items)
//// ```

import tally/app/config
import tally/app/nats
import tally/app/nats_protocol as protocol
import tally/app/sink
import tally/option
import tally/otp/process
import tally/pure/bytes

/// Which server, which stream.
pub type Config {
  Config(
    nats: nats.Config,
    /// The JetStream stream that stores the invoice lines.
    stream: String,
    /// The subjects it takes (created with them when `create_stream`).
    subjects: List(String),
    /// Create the stream (file storage, 2-minute duplicate window) before
    /// the first publish; an existing one is used as it is.
    create_stream: Bool,
  )
}

/// An open bus sink.
pub opaque type NatsSink {
  NatsSink(client: nats.Client, config: Config, stream_ready: Bool)
}

/// The `Tally-Schema` header's value (`written.schema()`).
pub const schema = "invoice_line.v1"

// The duplicate window of a stream tally creates: how long a retry of a
// message is recognised as one.
const duplicate_window_ms = 120_000

/// The bus sink of the decoded configuration.
pub fn from_config(bus: config.Bus) -> Config {
  let auth = case bus.auth {
    config.NoAuth -> protocol.NoAuth
    config.Token(token) -> protocol.Token(token)
    config.UserPassword(user, password) -> protocol.UserPassword(user, password)
  }
  let tls = case bus.tls {
    config.TlsOff -> option.None
    config.TlsOn(ca, cert, key, server_name) ->
      option.Some(nats.TlsOptions(ca, cert, key, server_name))
  }
  Config(
    nats: nats.Config(
      host: bus.host,
      port: bus.port,
      auth: auth,
      tls: tls,
      name: bus.name,
      ping_interval: option.unwrap(bus.ping_interval_ms, or: 5000),
    ),
    stream: bus.stream,
    subjects: bus.subjects,
    create_stream: bus.create_stream,
  )
}

/// Starts the NATS client (linked to the caller); it connects in the
/// background, so the sink opens while the bus is away.
pub fn open(config: Config) -> Result(NatsSink, String) {
  case nats.start(config.nats) {
    Ok(client) -> Ok(NatsSink(client, config, !config.create_stream))
    Error(_) -> Error("the NATS client did not start")
  }
}

/// `nats stream NAME`, for logs.
pub fn describe(sink: NatsSink) -> String {
  "nats stream " <> sink.config.stream
}

/// The sink's NATS client.
pub fn client(sink: NatsSink) -> nats.Client {
  sink.client
}

/// Publishes a batch, every item at once (one waiting process each; the
/// client multiplexes the acks): each key acked counts, whatever happened
/// to the others.
pub fn publish(
  sink: NatsSink,
  items: List(sink.Item),
) -> #(NatsSink, sink.Outcome) {
  case sink.stream_ready {
    False ->
      case
        nats.create_stream(
          sink.client,
          name: sink.config.stream,
          subjects: sink.config.subjects,
          duplicate_window_ms: duplicate_window_ms,
        )
      {
        Ok(Nil) -> publish(NatsSink(..sink, stream_ready: True), items)
        Error(e) -> #(
          sink,
          sink.Failed([], "create_stream: " <> nats.describe_error(e)),
        )
      }
    True -> {
      let results = process.new_subject()
      let count = start_all(sink.client, sink.config.stream, items, results, 0)
      #(sink, sink.outcome(collect(results, count, [])))
    }
  }
}

fn start_all(
  client: nats.Client,
  stream: String,
  items: List(sink.Item),
  results: process.Subject(#(String, Result(Nil, sink.ItemFailure))),
  count: Int,
) -> Int {
  case items {
    [] -> count
    [sink.Item(key, subject, payload), ..rest] -> {
      process.spawn(fn() {
        let result =
          nats.js_publish(
            client,
            subject: subject,
            msg_id: key,
            headers: [#("Tally-Schema", schema)],
            payload: payload,
          )
        process.send(results, #(key, item_result(result, stream)))
      })
      start_all(client, stream, rest, results, count + 1)
    }
  }
}

/// One publish's result as the sink counts it: over the server's
/// `max_payload` never fits (the publisher parks it); anything else may
/// pass. An ack from another stream than `stream` (another stream took the
/// subject: a configuration to fix) is not a delivery where it was asked
/// for, so the line stays in the outbox and the reason is logged.
pub fn item_result(
  result: Result(protocol.PubAck, nats.NatsError),
  stream: String,
) -> Result(Nil, sink.ItemFailure) {
  case result {
    Ok(protocol.PubAck(stream: stored, ..)) if stored == stream -> Ok(Nil)
    Ok(protocol.PubAck(stream: stored, ..)) ->
      Error(sink.Transient("stored in stream " <> stored <> ", not " <> stream))
    Error(nats.PayloadTooLarge(size, max)) -> Error(sink.OverLimit(size, max))
    Error(e) -> Error(sink.Transient(nats.describe_error(e)))
  }
}

fn collect(
  results: process.Subject(#(String, Result(Nil, sink.ItemFailure))),
  left: Int,
  acc: List(#(String, Result(Nil, sink.ItemFailure))),
) -> List(#(String, Result(Nil, sink.ItemFailure))) {
  case left {
    0 -> bytes.reverse(acc)
    _ -> {
      // Each waiter answers within its publish's timeout (5 s).
      let result = process.receive(results, within: 60_000)
      case result {
        Ok(r) -> collect(results, left - 1, [r, ..acc])
        Error(Nil) ->
          bytes.reverse([
            #("", Error(sink.Transient("no answer from a publish"))),
            ..acc
          ])
      }
    }
  }
}
