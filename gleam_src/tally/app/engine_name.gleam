//// The engine a release runs, as its configuration names it (`nif`,
//// `port`, `gleam`), and the `backend.Backend` that name stands for.

import tally/backend
import tally/port

/// An engine's name in `sys.config` (`{backend, nif}`).
pub type EngineName {
  Nif
  Port
  Gleam
}

/// The backend a name stands for: `Port` is the release's own supervised
/// port (`port.release_port`).
///
/// ```gleam
/// engine_name.backend(engine_name.Nif)
/// // -> backend.Nif
/// ```
pub fn backend(name: EngineName) -> backend.Backend {
  case name {
    Nif -> backend.Nif
    Port -> backend.Port(port.release_port())
    Gleam -> backend.Gleam
  }
}
