//// Shadow mode: run an operation on two backends, hand the caller the
//// primary's answer, and count and log every time the secondary's answer
//// differs. This is how a team moves an operation from one engine to the
//// other: run the candidate as the secondary in production, watch
//// `stats()` stay at zero differences, then swap them.
////
//// A difference is logged (OTP `logger`, warning) with the operation, a
//// SHA-256 digest of its input, and both answers, so it can be replayed.
//// The secondary can never change what the caller gets: its errors and
//// even its crashes are only counted as differences.

/// How often an operation ran in shadow mode, and how often the two
/// answers differed.
pub type ShadowStats {
  ShadowStats(operation: String, calls: Int, differences: Int)
}

/// The primary's answer, after comparing it with the secondary's (which is
/// computed by `secondary`, after the primary).
///
/// ```gleam
/// shadow.compare("counters", Nil, counters(a), fn() { counters(b) })
/// ```
pub fn compare(
  operation: String,
  input: input,
  primary: a,
  secondary: fn() -> a,
) -> a {
  ffi_compare(operation, input, primary, secondary)
}

/// What can be compared of two results holding different engines' handles:
/// whether they succeeded, and the error if not.
pub fn outcome(result: Result(a, e)) -> Result(Nil, e) {
  case result {
    Ok(_) -> Ok(Nil)
    Error(e) -> Error(e)
  }
}

/// The counts since the VM started (or since `reset`), one per operation
/// that ran in shadow mode, sorted by operation.
pub fn stats() -> List(ShadowStats) {
  ffi_stats()
}

/// Sets every count back to zero.
pub fn reset() -> Nil {
  ffi_reset()
}

@external(erlang, "tally_shadow", "compare")
fn ffi_compare(
  operation: String,
  input: input,
  primary: a,
  secondary: fn() -> a,
) -> a

@external(erlang, "tally_shadow", "stats")
fn ffi_stats() -> List(ShadowStats)

@external(erlang, "tally_shadow", "reset")
fn ffi_reset() -> Nil
