//// A secret (a NATS password or token) kept in a closure, so that an
//// actor's state, a supervisor's child spec or a crash report that prints
//// the value shows `{secret, #Fun<...>}`, never the secret. Only the code
//// that sends it calls `reveal`.

/// A password or token that does not print.
pub opaque type Secret {
  Secret(reveal: fn() -> String)
}

/// Wraps a secret.
///
/// ```gleam
/// reveal(new("s3cret"))
/// // -> "s3cret"
/// ```
pub fn new(text: String) -> Secret {
  Secret(fn() { text })
}

/// The secret itself: for the one place that sends it.
pub fn reveal(secret: Secret) -> String {
  let Secret(closure) = secret
  closure()
}
