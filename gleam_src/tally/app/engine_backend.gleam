//// The engine a configuration names (`config.Engine`: `nif`, `port`,
//// `gleam`) as the `backend.Backend` the shards and collectors call.

import tally/app/config
import tally/backend
import tally/port

/// The backend `engine` stands for: `Port` is the release's own
/// supervised port (`port.release_port`).
///
/// ```gleam
/// engine_backend.of(config.Nif)
/// // -> backend.Nif
/// ```
pub fn of(engine: config.Engine) -> backend.Backend {
  case engine {
    config.Nif -> backend.Nif
    config.Port -> backend.Port(port.release_port())
    config.Gleam -> backend.Gleam
  }
}
