//// The top of the running system, registered as `tally_sup`
//// (one_for_one, 5 restarts in 10 s):
////
//// ```text
//// tally_sup
//// ├── tally_port_default   the engine as a port (tally/app/port_supervisor), for the `port` engine
//// ├── tally_outbox         the durable queue of invoice lines: tally/app/outbox
//// ├── tally_ingest_sup     (rest_for_one) shards, then tally_collectors_sup
//// ├── tally_closer         period close, on demand and on schedule: tally/app/closer
//// └── tally_publisher      outbox -> sink (NATS JetStream, or the file sink): tally/app/publisher
//// ```
////
//// one_for_one because the children share nothing but files: a crashing
//// publisher restarts alone and finds every unacknowledged item still in
//// the outbox on disk; a crashing collector restarts alone under
//// tally_collectors_sup. Shards and collectors are tied (see
//// `tally/app/ingest_supervisor`). Five crashes in ten seconds mean
//// something is wrong beyond one process: the application stops rather
//// than loop.
////
//// With no sources (`config.is_inert`) the tree has no children: nothing
//// is read, written or started (tally used as a library, `gleam test`).

import tally/app/closer
import tally/app/config
import tally/app/erlang_child
import tally/app/ingest_supervisor
import tally/app/outbox
import tally/app/port_supervisor
import tally/app/publisher
import tally/otp/actor
import tally/otp/dynamic
import tally/otp/names
import tally/otp/process
import tally/otp/static_supervisor

/// The tree's registered name.
pub const name = "tally_sup"

/// Starts the tree for `config`, linked to the caller, and makes `config`
/// the running system's (`config.current`).
pub fn start(
  config: config.Config,
) -> actor.StartResult(static_supervisor.Supervisor) {
  config.set_current(config)
  let builder =
    static_supervisor.new(static_supervisor.OneForOne)
    |> static_supervisor.restart_tolerance(intensity: 5, period: 10)
    |> static_supervisor.named(names.fixed(name))
  case config.is_inert(config) {
    True -> builder
    False -> {
      builder
      |> static_supervisor.add(port_supervisor.supervised(default_port()))
      |> static_supervisor.add(outbox.supervised(config.data_dir <> "/outbox"))
      |> static_supervisor.add(ingest_supervisor.supervised(config))
      |> static_supervisor.add(closer.supervised(closer.from_config(config)))
      |> static_supervisor.add(
        publisher.supervised(publisher.from_config(config)),
      )
    }
  }
  |> static_supervisor.start
}

/// For Erlang callers and tests: decodes the configuration and starts the
/// tree; `{error, {bad_config, Text}}` for a bad configuration.
pub fn start_link() -> Result(process.Pid, dynamic.Dynamic) {
  case config.load() {
    Error(error) ->
      Error(dynamic.from(#(bad_config(), config.describe_error(error))))
    Ok(c) ->
      case start(c) {
        Ok(started) -> Ok(started.pid)
        Error(error) -> Error(erlang_child.start_error_reason(error))
      }
  }
}

@external(erlang, "tally_app_ffi", "bad_config")
fn bad_config() -> dynamic.Dynamic

@external(erlang, "tally_app_ffi", "default_port")
fn default_port() -> dynamic.Dynamic
