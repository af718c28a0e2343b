//// Structured log reports through OTP's `logger`: a message and named
//// fields, at a level. Never log a secret: `tally/app/secret` values are
//// closures and print as such, but their revealed text must not be passed
//// here.

/// How much a report matters (the `logger` levels tally uses).
pub type Level {
  Info
  Notice
  Warning
  /// `error` in logger.
  ErrorLevel
}

/// Logs `message` with `fields` as one report.
///
/// ```gleam
/// log.report(log.Warning, "nats disconnected", [#("reason", "closed")])
/// ```
@external(erlang, "tally_log_ffi", "report")
pub fn report(
  level: Level,
  message: String,
  fields: List(#(String, String)),
) -> Nil
