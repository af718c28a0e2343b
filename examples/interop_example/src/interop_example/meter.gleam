//// The values `totals` takes and gives, in the shapes the Rust side derives
//// (`#[derive(IntoGleam, FromGleam)]` in native/meter/src/lib.rs): a record
//// is a tuple tagged with its name in snake_case, so `Reading(..)` is
//// `{reading, Meter, Value, Note}` on both sides of the boundary.

/// Gleam's `Option` in its Erlang shape (`{some, X}` / `none`), here for
/// want of gleam_stdlib (no Hex packages on these machines): a project with
/// the stdlib uses `gleam/option.Option` instead, the same terms.
pub type Option(a) {
  Some(a)
  None
}

/// One reading of a meter. `value` is 0 to 2^64-1.
pub type Reading {
  Reading(meter: String, value: Int, note: Option(String))
}

/// A meter's readings summed. `sum` may pass 2^64: it is a bignum then.
pub type Total {
  Total(meter: String, sum: Int, count: Int, last_note: Option(String))
}

/// Why a call failed: the function's own error, then the boundary's.
pub type MeterError {
  /// The reading at `index` (from 0) has an empty meter name.
  EmptyMeter(index: Int)
  /// An argument does not have its type's shape (what was expected).
  BadArgument(expected: String)
  /// The Rust code panicked; the VM (or the port) carries on.
  NativePanic(message: String)
  /// The port could not read the request.
  BadRequest(detail: String)
  /// The port does not know the operation (`name/arity`).
  UnknownRequest(detail: String)
  /// The port's process exited with this status.
  PortExited(status: Int)
  /// The port did not answer in time.
  PortTimeout
  /// The port's reply could not be read: it holds an atom the VM does not
  /// know (a reply type left out of the crate's `vocabulary()`).
  BadReply(detail: String)
}
