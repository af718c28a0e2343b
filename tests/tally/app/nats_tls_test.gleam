//// The NATS client over TLS against a real nats-server on loopback, with a
//// CA and certificates the test makes: the server is verified against the
//// CA file with its host name checked, a client certificate is sent when
//// the server asks for one, and anything else is refused.

import tally/app/bus_support as bus
import tally/app/nats
import tally/app/nats_protocol as protocol
import tally/app/secret
import tally/expect
import tally/option

fn client(
  server: bus.Server,
  tls: option.Option(nats.TlsOptions),
) -> nats.Client {
  let assert Ok(client) =
    nats.start(
      nats.Config(
        ..nats.config(host: "localhost", port: bus.server_port(server)),
        auth: protocol.UserPassword("tally", secret.new("s3cret")),
        tls: tls,
        ping_interval: 500,
      ),
    )
  client
}

fn never_connects(client: nats.Client) -> Nil {
  expect.equal(bus.wait_connected(client, 2000), Error(Nil))
  nats.stop(client)
}

fn ca(file: String) -> nats.TlsOptions {
  nats.TlsOptions(..nats.default_tls(), ca_file: option.Some(file))
}

pub fn tls_with_the_servers_ca_publishes_and_anything_else_is_refused_test_() {
  bus.within(60, fn() { bus.quiet(server_tls) })
}

fn server_tls() -> Nil {
  let files = bus.tls_files()
  let server =
    bus.start_server(
      bus.UserPassword("tally", "s3cret"),
      option.Some(files),
      False,
      option.None,
    )
  let c = client(server, option.Some(ca(files.ca)))
  expect.equal(bus.wait_connected(c, 5000), Ok(Nil))
  expect.equal(nats.create_stream(c, "TLS", ["tls.>"], 120_000), Ok(Nil))
  expect.equal(
    nats.js_publish(c, "tls.a", "k1", [], <<"{}":utf8>>),
    Ok(protocol.PubAck("TLS", 1, False)),
  )
  nats.stop(c)
  // Not configured for TLS: the server's tls_required still upgrades the
  // connection, and the system's CAs do not know this one.
  never_connects(client(server, option.None))
  // A CA that did not sign the server's certificate.
  never_connects(client(server, option.Some(ca(files.client_ca))))
  // The right CA, but the certificate is not for this name.
  never_connects(client(
    server,
    option.Some(
      nats.TlsOptions(
        ..ca(files.ca),
        server_name: option.Some("nats.example.com"),
      ),
    ),
  ))
  let _ = bus.stop_server(server)
  Nil
}

pub fn a_server_that_verifies_clients_takes_the_configured_certificate_test_() {
  bus.within(60, fn() { bus.quiet(client_certificate) })
}

fn client_certificate() -> Nil {
  let files = bus.tls_files()
  let server =
    bus.start_server(bus.NoAuth, option.Some(files), True, option.None)
  never_connects(client(server, option.Some(ca(files.ca))))
  let c =
    client(
      server,
      option.Some(
        nats.TlsOptions(
          ..ca(files.ca),
          cert_file: option.Some(files.client_cert),
          key_file: option.Some(files.client_key),
        ),
      ),
    )
  expect.equal(bus.wait_connected(c, 5000), Ok(Nil))
  expect.equal(nats.create_stream(c, "MTLS", ["mtls.>"], 120_000), Ok(Nil))
  let assert Ok(protocol.PubAck("MTLS", 1, _)) =
    nats.js_publish(c, "mtls.a", "k1", [], <<"{}":utf8>>)
  nats.stop(c)
  let _ = bus.stop_server(server)
  Nil
}
