//// An Erlang process as a child of a Gleam supervisor: a `start_link`
//// that returns `{ok, Pid}` (an OTP gen_server, the port owner) becomes a
//// `supervision.ChildSpecification`. The port owner stays Erlang (it
//// speaks to the port's OS process), so the tree starts it through here.
////
//// ```gleam
//// erlang_child.worker(fn() { owner_start_link(options) })
//// |> supervision.timeout(ms: 5000)
//// ```

import tally/otp/actor
import tally/otp/dynamic
import tally/otp/process
import tally/otp/supervision

/// A worker started by an Erlang `start_link`.
pub fn worker(
  start: fn() -> Result(process.Pid, dynamic.Dynamic),
) -> supervision.ChildSpecification(process.Pid) {
  supervision.worker(fn() { started(start()) })
}

/// A supervisor started by an Erlang `start_link`.
pub fn supervisor(
  start: fn() -> Result(process.Pid, dynamic.Dynamic),
) -> supervision.ChildSpecification(process.Pid) {
  supervision.supervisor(fn() { started(start()) })
}

/// `{ok, Pid}` as a started actor whose data is its pid; `{error, Reason}`
/// as the start error the supervisor reports.
pub fn started(
  result: Result(process.Pid, dynamic.Dynamic),
) -> actor.StartResult(process.Pid) {
  case result {
    Ok(pid) -> Ok(actor.Started(pid, pid))
    Error(reason) -> Error(actor.InitExited(process.Abnormal(reason)))
  }
}

/// The reason an actor or supervisor did not start, as an Erlang
/// `start_link` gives it (`{error, Reason}`).
pub fn start_error_reason(error: actor.StartError) -> dynamic.Dynamic {
  case error {
    actor.InitExited(process.Abnormal(reason)) -> reason
    actor.InitExited(process.Normal) -> dynamic.from(process.Normal)
    actor.InitExited(process.Killed) -> dynamic.from(process.Killed)
    actor.InitFailed(reason) -> dynamic.from(reason)
    actor.InitTimeout -> dynamic.from(actor.InitTimeout)
  }
}
