//// tally: consumption billing for the BEAM.
////
//// The typed API lives in the `tally/*` modules:
//// - `tally/event`: usage events, rejects and their reasons;
//// - `tally/engine`: engine errors and build information;
//// - `tally/nif` and `tally/port`: the Rust engine in the VM or beside it.

/// The version of the Gleam package, which the engines must match.
///
/// ```gleam
/// tally.version()
/// // -> "0.1.0"
/// ```
pub fn version() -> String {
  "0.1.0"
}
