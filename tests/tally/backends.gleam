//// Runs a test body once per engine backend, so one suite covers the NIF
//// and the port with the same assertions. A failure names the backend.

import tally/backend
import tally/port

/// Runs `body` on the NIF, then on a fresh port (stopped afterwards).
pub fn each(body: fn(backend.Backend) -> Nil) -> Nil {
  labelled("nif", fn() { body(backend.Nif) })
  let assert Ok(p) = port.start(timeout_ms: 10_000)
  labelled("port", fn() { body(backend.Port(p)) })
  port.stop(p)
}

@external(erlang, "tally_test_ffi", "labelled")
fn labelled(label: String, body: fn() -> Nil) -> Nil
