//// What every engine backend can fail with, and what an engine says about itself.

import tally/option

/// A failure of an operation, as opposed to bad input lines (which come
/// back as `event.Reject`s inside a successful call).
pub type EngineError {
  /// Rust panicked; the VM and the engine carry on.
  NativePanic(message: String)
  /// An argument did not have the expected shape.
  BadArgument(expected: String)
  /// The port could not read the request.
  BadRequest(detail: String)
  /// The port does not know the operation (name/arity).
  UnknownRequest(detail: String)
  /// No reply within the call's timeout.
  Timeout
  /// The port's OS process exited with this status while the call was in flight.
  PortExited(status: Int)
  /// Handles passed to one call live on different ports (or backends): the
  /// named argument is not on the first handle's port.
  OnOtherPort(argument: String)
  /// The port could not be started.
  PortStartFailed(reason: String)
  /// A reply frame over the configured size, or that was not a valid term.
  BadReply(detail: String)
  AggregateFailed(reason: AggregateError)
  BillingFailed(reason: BillingError)
  /// A snapshot file could not be written or read: its path and the
  /// POSIX reason (`"enoent"`, `"enospc"`, ...). A damaged snapshot is an
  /// `AggregateFailed(BadExport(reason))` instead.
  SnapshotFailed(path: String, reason: String)
}

/// Why an aggregator operation was refused.
pub type AggregateError {
  /// Merging aggregators configured differently.
  ConfigMismatch
  /// Merging aggregators that both counted `count` events of `period`.
  Overlap(period: String, count: Int)
  /// Restoring from bytes that are not an aggregator export.
  BadExport(reason: String)
}

/// Why billing was refused.
pub type BillingError {
  /// The plans file is not valid; the reason names the plan and line.
  PlansInvalid(reason: String)
  UnknownPlan(customer: String, plan: String)
  AmountOverflow(key: String)
}

/// The build of a running engine.
///
/// ```gleam
/// EngineInfo(name: "tally_core/nif", version: "0.1.0", commit: option.None)
/// ```
pub type EngineInfo {
  EngineInfo(name: String, version: String, commit: option.Option(String))
}

/// Where `panic_for_test` panics on purpose: in the work, or encoding the
/// result.
pub type PanicStage {
  Work
  Encode
}
