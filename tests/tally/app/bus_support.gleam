//// Shared by the bus tests: a real nats-server on loopback (started,
//// stopped and restarted on the same port and store by the tests), a
//// client waiting for its connection, a stream read back, long tests.

import tally/app/nats
import tally/app/nats_protocol as protocol
import tally/option
import tally/otp/process

/// A running nats-server (tally_nats_server's record).
pub type Server

/// How the server checks clients.
pub type ServerAuth {
  NoAuth
  UserPassword(String, String)
  Token(String)
}

/// A CA, a server certificate for "localhost" and a client certificate, as
/// PEM files: `ca` signed the server's certificate, `client_ca` the
/// client's.
pub type TlsFiles {
  TlsFiles(
    ca: String,
    server_cert: String,
    server_key: String,
    client_ca: String,
    client_cert: String,
    client_key: String,
  )
}

/// EUnit's `{timeout, Seconds, Test}`, for tests that take longer than 5 s.
pub type Eunit {
  Timeout
}

/// A test with a longer time limit (a `_test_` generator returns it).
pub fn within(seconds: Int, body: fn() -> Nil) -> #(Eunit, Int, fn() -> Nil) {
  #(Timeout, seconds, body)
}

/// A plain server with JetStream.
pub fn start_plain() -> Server {
  start_server(NoAuth, option.None, False, option.None)
}

/// A client of the server on loopback with the test's settings.
pub fn client_config(server: Server, auth: protocol.Auth) -> nats.Config {
  nats.Config(
    ..nats.config(host: "127.0.0.1", port: server_port(server)),
    auth: auth,
    ping_interval: 200,
  )
}

/// Polls until the client is connected, for at most `ms`.
pub fn wait_connected(client: nats.Client, ms: Int) -> Result(Nil, Nil) {
  case nats.is_connected(client), ms <= 0 {
    True, _ -> Ok(Nil)
    False, True -> Error(Nil)
    False, False -> {
      process.sleep(25)
      wait_connected(client, ms - 25)
    }
  }
}

/// Starts a client and waits for its connection.
pub fn connected(config: nats.Config) -> nats.Client {
  let assert Ok(client) = nats.start(config)
  let assert Ok(Nil) = wait_connected(client, 5000)
  client
}

@external(erlang, "tally_bus_test_ffi", "start_server")
pub fn start_server(
  auth: ServerAuth,
  tls: option.Option(TlsFiles),
  verify_clients: Bool,
  max_payload: option.Option(Int),
) -> Server

/// Stops the server (its store stays for `restart_server`).
@external(erlang, "tally_bus_test_ffi", "stop_server")
pub fn stop_server(server: Server) -> Server

/// The same port and store: streams and their dedup windows survive.
@external(erlang, "tally_bus_test_ffi", "restart_server")
pub fn restart_server(server: Server) -> Server

@external(erlang, "tally_bus_test_ffi", "server_port")
pub fn server_port(server: Server) -> Int

@external(erlang, "tally_bus_test_ffi", "tls_files")
pub fn tls_files() -> TlsFiles

/// Every message of a stream, in order, as `#(headers, payload)`; `want`
/// of them are waited for (and then a little more, to see a duplicate).
@external(erlang, "tally_bus_test_ffi", "read_stream")
pub fn read_stream(
  client: nats.Client,
  stream: String,
  want: Int,
) -> List(#(protocol.Headers, BitArray))

/// Runs `body` with the logger silenced.
@external(erlang, "tally_bus_test_ffi", "quiet")
pub fn quiet(body: fn() -> a) -> a

@external(erlang, "tally_bus_test_ffi", "tmp_dir")
pub fn tmp_dir() -> String

@external(erlang, "tally_bus_test_ffi", "read_file")
pub fn read_file(path: String) -> Result(BitArray, Nil)

@external(erlang, "tally_bus_test_ffi", "write_file")
pub fn write_file(path: String, bytes: BitArray) -> Nil
