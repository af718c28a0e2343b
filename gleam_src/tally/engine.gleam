//// What every engine backend can fail with, and what an engine says about itself.

import tally/option

/// A failure of the engine itself, as opposed to bad input (which comes
/// back as a `RejectReason` inside a successful call).
pub type EngineError {
  /// Rust panicked; the VM and the engine carry on.
  NativePanic(message: String)
  /// The port could not read the request.
  BadRequest(detail: String)
  /// The port does not know the operation (name/arity).
  UnknownRequest(detail: String)
  /// No reply within the call's timeout.
  Timeout
  /// The port's OS process exited with this status while the call was in flight.
  PortExited(status: Int)
  /// The port could not be started.
  PortStartFailed(reason: String)
  /// A reply frame over the configured size, or that was not a valid term.
  BadReply(detail: String)
}

/// The build of a running engine.
///
/// ```gleam
/// EngineInfo(name: "tally_core/nif", version: "0.1.0", commit: option.None)
/// ```
pub type EngineInfo {
  EngineInfo(name: String, version: String, commit: option.Option(String))
}
