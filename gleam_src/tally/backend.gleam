//// Which engine runs an operation. Every operation of `tally/parse` and
//// `tally/aggregate` takes one, so a caller switches engines by changing a
//// value, not code.

import tally/port

/// `Nif`: the Rust engine inside the VM. `Port(p)`: the Rust engine in a
/// separate OS process, owned by `p`.
///
/// ```gleam
/// parse.parse_chunk(on: backend.Nif, format: event.JsonLines, chunk: bytes,
///   options: event.default_parser_options())
/// ```
pub type Backend {
  Nif
  Port(port.Port)
}
