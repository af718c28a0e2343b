//// Small helpers the pure Gleam engine's modules share (there is no
//// gleam_stdlib here).

/// Continues with the value of an `Ok`; an `Error` ends the chain.
///
/// ```gleam
/// use x <- chain.then(Ok(1))
/// Ok(x + 1)
/// // -> Ok(2)
/// ```
pub fn then(result: Result(a, e), rest: fn(a) -> Result(b, e)) -> Result(b, e) {
  case result {
    Ok(v) -> rest(v)
    Error(e) -> Error(e)
  }
}

/// `items` reversed in front of `onto` (appending to a list kept reversed).
pub fn prepend(items: List(a), onto: List(a)) -> List(a) {
  case items {
    [] -> onto
    [x, ..rest] -> prepend(rest, [x, ..onto])
  }
}

/// Ends with `Error(reason)` when `failed`, else continues.
///
/// ```gleam
/// use <- chain.guard(n < 0, "negative")
/// Ok(n)
/// ```
pub fn guard(
  failed: Bool,
  reason: e,
  rest: fn() -> Result(b, e),
) -> Result(b, e) {
  case failed {
    True -> Error(reason)
    False -> rest()
  }
}

/// Whether `list` holds `x`.
pub fn contains(list: List(a), x: a) -> Bool {
  case list {
    [] -> False
    [y, ..rest] -> y == x || contains(rest, x)
  }
}
