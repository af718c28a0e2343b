//// The NATS client against a real nats-server with JetStream on loopback:
//// acks and dedup by `Nats-Msg-Id`, user/password and token auth, and
//// reconnection after the server restarts.

import tally/app/bus_support as bus
import tally/app/nats
import tally/app/nats_protocol as protocol
import tally/app/secret
import tally/expect
import tally/option
import tally/otp/process

pub fn publish_is_acknowledged_and_deduplicated_by_msg_id_test_() {
  bus.within(30, fn() { bus.quiet(publish_dedup) })
}

fn publish_dedup() -> Nil {
  let server =
    bus.start_server(
      bus.UserPassword("tally", "s3cret"),
      option.None,
      False,
      option.None,
    )
  let client =
    bus.connected(bus.client_config(
      server,
      protocol.UserPassword("tally", secret.new("s3cret")),
    ))
  let create = fn() {
    nats.create_stream(client, "INVOICES", ["invoices.>"], 120_000)
  }
  expect.equal(create(), Ok(Nil))
  // The name is in use: fine.
  expect.equal(create(), Ok(Nil))
  let publish = fn(subject, key, payload) {
    nats.js_publish(client, subject, key, [], payload)
  }
  expect.equal(
    publish("invoices.acme", "k1", <<"{\"a\":1}":utf8>>),
    Ok(protocol.PubAck("INVOICES", 1, False)),
  )
  expect.equal(
    publish("invoices.acme", "k1", <<"{\"a\":1}":utf8>>),
    Ok(protocol.PubAck("INVOICES", 1, True)),
  )
  expect.equal(
    publish("invoices.acme", "k2", <<"{\"a\":2}":utf8>>),
    Ok(protocol.PubAck("INVOICES", 2, False)),
  )
  expect.equal(
    publish("elsewhere", "k3", <<"x":utf8>>),
    Error(nats.JetStream(protocol.NoStreamForSubject)),
  )
  expect.equal(bus.read_stream(client, "INVOICES", 2), [
    #([#("Nats-Msg-Id", "k1")], <<"{\"a\":1}":utf8>>),
    #([#("Nats-Msg-Id", "k2")], <<"{\"a\":2}":utf8>>),
  ])
  nats.stop(client)
  let _ = bus.stop_server(server)
  Nil
}

pub fn wrong_password_never_connects_and_right_token_does_test_() {
  bus.within(30, fn() { bus.quiet(auth) })
}

fn auth() -> Nil {
  let server =
    bus.start_server(
      bus.UserPassword("tally", "s3cret"),
      option.None,
      False,
      option.None,
    )
  let assert Ok(bad) =
    nats.start(bus.client_config(
      server,
      protocol.UserPassword("tally", secret.new("nope")),
    ))
  expect.equal(bus.wait_connected(bad, 1000), Error(Nil))
  expect.equal(
    nats.js_publish(bad, "x", "k", [], <<>>),
    Error(nats.NotConnected),
  )
  nats.stop(bad)
  let _ = bus.stop_server(server)
  let server =
    bus.start_server(bus.Token("t0ken"), option.None, False, option.None)
  let client =
    bus.connected(bus.client_config(server, protocol.Token(secret.new("t0ken"))))
  expect.be_true(nats.is_connected(client), "connected with the token")
  nats.stop(client)
  let _ = bus.stop_server(server)
  Nil
}

pub fn reconnects_after_the_server_comes_back_test_() {
  bus.within(60, fn() { bus.quiet(reconnects) })
}

fn reconnects() -> Nil {
  let server = bus.start_plain()
  let client = bus.connected(bus.client_config(server, protocol.NoAuth))
  expect.equal(nats.create_stream(client, "R", ["r.>"], 120_000), Ok(Nil))
  let publish = fn(key, payload) {
    nats.js_publish(client, "r.a", key, [], payload)
  }
  expect.equal(publish("k1", <<"1":utf8>>), Ok(protocol.PubAck("R", 1, False)))
  let stopped = bus.stop_server(server)
  expect.equal(wait_until_down(client, 100), Ok(Nil))
  let server = bus.restart_server(stopped)
  expect.equal(bus.wait_connected(client, 10_000), Ok(Nil))
  // Same store: the stream and its duplicate window are still there.
  expect.equal(publish("k1", <<"1":utf8>>), Ok(protocol.PubAck("R", 1, True)))
  expect.equal(publish("k2", <<"2":utf8>>), Ok(protocol.PubAck("R", 2, False)))
  nats.stop(client)
  let _ = bus.stop_server(server)
  Nil
}

// Publishes until the client says it has no connection.
fn wait_until_down(client: nats.Client, tries: Int) -> Result(Nil, Nil) {
  case tries, nats.js_publish(client, "r.a", "down", [], <<>>) {
    _, Error(nats.NotConnected) -> Ok(Nil)
    0, _ -> Error(Nil)
    _, _ -> {
      process.sleep(50)
      wait_until_down(client, tries - 1)
    }
  }
}

pub fn subscriptions_survive_a_restart_test_() {
  bus.within(60, fn() { bus.quiet(resubscribes) })
}

fn resubscribes() -> Nil {
  let server = bus.start_plain()
  let client = bus.connected(bus.client_config(server, protocol.NoAuth))
  let inbox = process.new_subject()
  let sid = nats.subscribe(client, "events.x", inbox)
  let stopped = bus.stop_server(server)
  let server = bus.restart_server(stopped)
  let assert Ok(Nil) = wait_reconnected(client, 200)
  // A plain request to the subject: the subscription gets it (no reply).
  expect.equal(
    nats.request(client, "events.x", [#("A", "b")], <<"hello":utf8>>, 300),
    Error(nats.Timeout),
  )
  let assert Ok(delivery) = process.receive(inbox, within: 5000)
  expect.equal(
    delivery,
    nats.Delivery(sid, "events.x", [#("A", "b")], <<"hello":utf8>>),
  )
  nats.stop(client)
  let _ = bus.stop_server(server)
  Nil
}

// Connected again after having been down.
fn wait_reconnected(client: nats.Client, tries: Int) -> Result(Nil, Nil) {
  case tries {
    0 -> Error(Nil)
    _ ->
      case nats.is_connected(client) {
        True ->
          case nats.js_publish(client, "nothing", "k", [], <<>>) {
            Error(nats.NotConnected) | Error(nats.Disconnected) -> {
              process.sleep(50)
              wait_reconnected(client, tries - 1)
            }
            _ -> Ok(Nil)
          }
        False -> {
          process.sleep(50)
          wait_reconnected(client, tries - 1)
        }
      }
  }
}
