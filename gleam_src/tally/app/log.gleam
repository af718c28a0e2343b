//// Logging for the application's actors: a message and named fields,
//// through OTP's `logger` (`tally_app_ffi`). Field names are the code's
//// own, never input.

/// How much a log line matters (OTP logger levels).
pub type Level {
  Error
  Warning
  Notice
  Info
}

/// A field's value.
pub type Value

/// Logs `message` with `fields` at `level`.
///
/// ```gleam
/// log.log(log.Warning, "source file was rewritten", [#("file", log.text(path))])
/// ```
@external(erlang, "tally_ingest_ffi", "log")
pub fn log(level: Level, message: String, fields: List(#(String, Value))) -> Nil

/// A text field.
pub fn text(value: String) -> Value {
  coerce(value)
}

/// An integer field.
pub fn int(value: Int) -> Value {
  coerce(value)
}

@external(erlang, "tally_ingest_ffi", "value")
fn coerce(value: a) -> Value
