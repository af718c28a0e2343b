//// Children of a supervisor, in the names and shapes of
//// `gleam/otp/supervision` (gleam_otp 1.x): how to start one, when to
//// restart it and how long it has to stop.
////
//// ```gleam
//// supervision.worker(fn() { outbox.start(config) })
//// |> supervision.restart(supervision.Permanent)
//// |> supervision.timeout(30_000)
//// ```

import tally/otp/actor

/// When a child that ended is started again.
pub type Restart {
  /// Always.
  Permanent
  /// Only when it ended abnormally (not `normal`, `shutdown`).
  Transient
  /// Never.
  Temporary
}

/// A worker, with the milliseconds it has to stop before it is killed, or
/// a supervisor (which has as long as it takes).
pub type ChildType {
  Worker(shutdown_ms: Int)
  Supervisor
}

/// A child: its start function and how it is supervised.
pub type ChildSpecification(data) {
  ChildSpecification(
    start: fn() -> actor.StartResult(data),
    restart: Restart,
    significant: Bool,
    child_type: ChildType,
  )
}

/// A worker child (an actor), permanent, with 5 seconds to stop.
pub fn worker(
  run start: fn() -> actor.StartResult(data),
) -> ChildSpecification(data) {
  ChildSpecification(start, Permanent, False, Worker(5000))
}

/// A supervisor child, permanent.
pub fn supervisor(
  run start: fn() -> actor.StartResult(data),
) -> ChildSpecification(data) {
  ChildSpecification(start, Permanent, False, Supervisor)
}

/// Whether the child's end may end the supervisor (see OTP's
/// `auto_shutdown`).
pub fn significant(
  child: ChildSpecification(data),
  significant: Bool,
) -> ChildSpecification(data) {
  ChildSpecification(..child, significant: significant)
}

/// How long a worker has to stop (ms); no effect on a supervisor child.
pub fn timeout(
  child: ChildSpecification(data),
  ms ms: Int,
) -> ChildSpecification(data) {
  case child.child_type {
    Worker(_) -> ChildSpecification(..child, child_type: Worker(ms))
    Supervisor -> child
  }
}

/// When the child is restarted.
pub fn restart(
  child: ChildSpecification(data),
  restart: Restart,
) -> ChildSpecification(data) {
  ChildSpecification(..child, restart: restart)
}

/// The child with what its start returns turned by `transform`.
pub fn map_data(
  child: ChildSpecification(a),
  transform: fn(a) -> b,
) -> ChildSpecification(b) {
  ChildSpecification(
    start: fn() {
      case child.start() {
        Ok(started) -> Ok(actor.Started(started.pid, transform(started.data)))
        Error(error) -> Error(error)
      }
    },
    restart: child.restart,
    significant: child.significant,
    child_type: child.child_type,
  )
}
