//// Runs a test body once per engine backend, so one suite covers the NIF,
//// the port and shadow mode with the same assertions. A failure names the
//// backend.

import tally/backend
import tally/expect
import tally/port
import tally/shadow

/// Runs `body` on the NIF, on a fresh port, and in shadow mode (NIF first,
/// port second), where the answers must be the same and no difference may
/// be counted.
pub fn each(body: fn(backend.Backend) -> Nil) -> Nil {
  labelled("nif", fn() { body(backend.Nif) })
  let assert Ok(p) = port.start(timeout_ms: 10_000)
  labelled("port", fn() { body(backend.Port(p)) })
  let before = differences()
  labelled("shadow", fn() { body(backend.Shadow(backend.Nif, backend.Port(p))) })
  expect.equal(differences(), before)
  port.stop(p)
}

/// Every backend of `each`, then the pure Gleam engine, alone and as the
/// NIF's secondary in shadow mode.
pub fn each_engine(body: fn(backend.Backend) -> Nil) -> Nil {
  each(body)
  labelled("gleam", fn() { body(backend.Gleam) })
  let before = differences()
  labelled("shadow(nif, gleam)", fn() {
    body(backend.Shadow(backend.Nif, backend.Gleam))
  })
  expect.equal(differences(), before)
}

fn differences() -> Int {
  count(shadow.stats(), 0)
}

fn count(stats: List(shadow.ShadowStats), total: Int) -> Int {
  case stats {
    [] -> total
    [s, ..rest] -> count(rest, total + s.differences)
  }
}

@external(erlang, "tally_test_ffi", "labelled")
fn labelled(label: String, body: fn() -> Nil) -> Nil
