//// Which engine runs an operation. Every operation of `tally/parse` and
//// `tally/aggregate` takes one, so a caller switches engines by changing a
//// value, not code.

import tally/port

/// `Nif`: the Rust engine inside the VM. `Port(p)`: the Rust engine in a
/// separate OS process, owned by `p`. `Gleam`: the pure Gleam engine
/// (`tally/pure`), every operation in Gleam. `Shadow(primary, secondary)`: two of them;
/// the caller gets the primary's answer, and every difference from the
/// secondary's is counted and logged (see `tally/shadow`).
///
/// ```gleam
/// parse.parse_chunk(on: backend.Shadow(backend.Nif, backend.Port(p)),
///   format: event.JsonLines, chunk: bytes,
///   options: event.default_parser_options())
/// ```
pub type Backend {
  Nif
  Port(port.Port)
  Gleam
  Shadow(primary: Backend, secondary: Backend)
}
