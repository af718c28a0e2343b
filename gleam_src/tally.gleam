//// tally: consumption billing for the BEAM.
////
//// The typed API lives in the `tally/*` modules:
//// - `tally/event`, `tally/usage`, `tally/billing`: the values (usage
////   events, rejects and their reasons, windows, invoices);
//// - `tally/parse` and `tally/aggregate`: every operation, on the backend
////   named by a `tally/backend.Backend` (`Nif`, `Port(p)`, `Gleam`, or
////   `Shadow(primary, secondary)`, see `tally/shadow`);
//// - `tally/nif`, `tally/port` and `tally/pure`: the three engines' own calls;
//// - `tally/engine`: what every engine can fail with;
//// - `tally/pipeline`: the running OTP application (close a period).

/// The version of the Gleam package, which the engines must match.
///
/// ```gleam
/// tally.version()
/// // -> "0.1.0"
/// ```
pub fn version() -> String {
  "0.1.0"
}
