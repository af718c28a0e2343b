//// One supervised port (the `port` engine): its owner, `tally_port` (the
//// Erlang process that speaks to the port's OS process), under a
//// one_for_one supervisor that keeps the owner's journal. The journal is
//// an ETS table owned by this supervisor, so it outlives every owner: when
//// the port's OS process dies, its owner stops, the supervisor starts a
//// new one, and the new owner rebuilds the port's state from the journal
//// (last checkpoint plus the operations since).
////
//// 10 restarts in 10 s means the port cannot stay up: the supervisor gives
//// up and the one above decides (`restart_intensity => {Restarts,
//// Seconds}` in the options changes that, for soak tests that kill the
//// port on purpose).
////
//// ```erlang
//// {ok, Sup} = 'tally@app@port_supervisor':start(#{timeout => 5000}).
//// ```

import tally/app/erlang_child
import tally/otp/dynamic
import tally/otp/process
import tally/otp/static_supervisor
import tally/otp/supervision

/// The supervisor and its owner, linked to the caller. `options` is the
/// owner's map (`tally_port:options()`), plus `restart_intensity`.
pub fn start_link(
  options: dynamic.Dynamic,
) -> Result(process.Pid, dynamic.Dynamic) {
  case static_supervisor.start(builder(options)) {
    Ok(started) -> Ok(started.pid)
    Error(error) -> Error(erlang_child.start_error_reason(error))
  }
}

/// The same, not linked to the caller (for `tally/port` and tests: the
/// port lives until stopped).
pub fn start(options: dynamic.Dynamic) -> Result(process.Pid, dynamic.Dynamic) {
  case start_link(options) {
    Ok(pid) -> {
      process.unlink(pid)
      Ok(pid)
    }
    Error(reason) -> Error(reason)
  }
}

/// The port as a child of the application's tree.
pub fn supervised(
  options: dynamic.Dynamic,
) -> supervision.ChildSpecification(static_supervisor.Supervisor) {
  static_supervisor.supervised(builder(options))
}

fn builder(options: dynamic.Dynamic) -> static_supervisor.Builder {
  let #(intensity, period, owner_options) = port_options(options)
  static_supervisor.new(static_supervisor.OneForOne)
  |> static_supervisor.restart_tolerance(intensity: intensity, period: period)
  |> static_supervisor.add(
    // The start runs in the supervisor, which keeps the journal.
    erlang_child.worker(fn() {
      owner_start_link(journal_options(owner_options))
    })
    |> supervision.timeout(ms: 5000),
  )
}

@external(erlang, "tally_app_ffi", "port_options")
fn port_options(options: dynamic.Dynamic) -> #(Int, Int, dynamic.Dynamic)

@external(erlang, "tally_app_ffi", "journal_options")
fn journal_options(options: dynamic.Dynamic) -> dynamic.Dynamic

@external(erlang, "tally_port", "start_link")
fn owner_start_link(
  options: dynamic.Dynamic,
) -> Result(process.Pid, dynamic.Dynamic)
