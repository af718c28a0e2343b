//// A value of any type, as it arrived from outside the type system (an
//// untyped message, an exit reason). The shape of `gleam/dynamic.Dynamic`
//// from gleam_stdlib, which tally cannot fetch; read one with a small FFI
//// decoder of your own.

/// Any Erlang term.
pub type Dynamic

/// Any value, seen as `Dynamic`.
///
/// ```gleam
/// dynamic.from(42)
/// ```
pub fn from(value: a) -> Dynamic {
  identity(value)
}

@external(erlang, "tally_otp_ffi", "identity")
fn identity(value: a) -> Dynamic
