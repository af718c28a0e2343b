//// A supervisor whose children are fixed when it starts, in the names and
//// shapes of `gleam/otp/static_supervisor` (gleam_otp 1.x). It is OTP's
//// own `supervisor`, with this module as its callback.
////
//// ```gleam
//// static_supervisor.new(static_supervisor.RestForOne)
//// |> static_supervisor.restart_tolerance(intensity: 5, period: 10)
//// |> static_supervisor.add(supervision.worker(fn() { shard.start(0) }))
//// |> static_supervisor.add(supervision.supervisor(collectors.start))
//// |> static_supervisor.start
//// ```

import tally/option
import tally/otp/actor
import tally/otp/dynamic
import tally/otp/process
import tally/otp/supervision

/// How children are restarted.
pub type Strategy {
  /// Only the child that ended.
  OneForOne
  /// Every child.
  OneForAll
  /// The child that ended and every child added after it.
  RestForOne
}

/// A running supervisor.
pub opaque type Supervisor {
  Supervisor(pid: process.Pid)
}

/// A supervisor to start: its strategy, its restart tolerance, its
/// children in start order.
pub opaque type Builder {
  Builder(
    strategy: Strategy,
    intensity: Int,
    period: Int,
    children: List(ErlangChild),
    name: option.Option(process.Name(Nil)),
  )
}

/// A child as OTP's supervisor takes it.
type ErlangChild

/// The flags as OTP's supervisor takes them.
type ErlangFlags

/// A supervisor with `strategy`, no children, tolerating 2 restarts in 5
/// seconds.
pub fn new(strategy: Strategy) -> Builder {
  Builder(strategy, 2, 5, [], option.None)
}

/// More than `intensity` restarts within `period` seconds and the
/// supervisor gives up: it stops its children and exits with `shutdown`.
pub fn restart_tolerance(
  builder: Builder,
  intensity intensity: Int,
  period period: Int,
) -> Builder {
  Builder(..builder, intensity: intensity, period: period)
}

/// Adds a child, started after those added before.
pub fn add(
  builder: Builder,
  child: supervision.ChildSpecification(data),
) -> Builder {
  let id = list_length(builder.children)
  let start = fn() {
    case child.start() {
      Ok(started) -> Ok(started.pid)
      Error(error) -> Error(dynamic.from(error))
    }
  }
  let erlang_child =
    child_spec(id, start, child.restart, child.child_type, child.significant)
  Builder(..builder, children: [erlang_child, ..builder.children])
}

/// Registers the supervisor under `name` (a tally addition, for the tree's
/// well-known names).
pub fn named(builder: Builder, name: process.Name(Nil)) -> Builder {
  Builder(..builder, name: option.Some(name))
}

/// Starts the supervisor and its children, linked to the caller.
pub fn start(builder: Builder) -> actor.StartResult(Supervisor) {
  let name = case builder.name {
    option.Some(name) -> Ok(name)
    option.None -> Error(Nil)
  }
  let spec = #(
    flags(builder.strategy, builder.intensity, builder.period),
    list_reverse(builder.children),
  )
  case start_supervisor(name, spec) {
    Ok(pid) -> Ok(actor.Started(pid, Supervisor(pid)))
    Error(reason) -> Error(actor.InitExited(process.Abnormal(reason)))
  }
}

/// The supervisor as a child of another supervisor.
pub fn supervised(
  builder: Builder,
) -> supervision.ChildSpecification(Supervisor) {
  supervision.supervisor(fn() { start(builder) })
}

/// The supervisor's pid.
pub fn pid(supervisor: Supervisor) -> process.Pid {
  supervisor.pid
}

/// OTP's supervisor callback: the flags and children given to `start`.
/// Not for calling.
pub fn init(spec: dynamic.Dynamic) -> Result(dynamic.Dynamic, Nil) {
  Ok(spec)
}

@external(erlang, "tally_otp_ffi", "supervisor_flags")
fn flags(strategy: Strategy, intensity: Int, period: Int) -> ErlangFlags

@external(erlang, "tally_otp_ffi", "child_spec")
fn child_spec(
  id: Int,
  start: fn() -> Result(process.Pid, dynamic.Dynamic),
  restart: supervision.Restart,
  child_type: supervision.ChildType,
  significant: Bool,
) -> ErlangChild

@external(erlang, "tally_otp_ffi", "start_supervisor")
fn start_supervisor(
  name: Result(process.Name(Nil), Nil),
  spec: #(ErlangFlags, List(ErlangChild)),
) -> Result(process.Pid, dynamic.Dynamic)

@external(erlang, "erlang", "length")
fn list_length(list: List(a)) -> Int

@external(erlang, "lists", "reverse")
fn list_reverse(list: List(a)) -> List(a)
