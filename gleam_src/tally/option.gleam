//// `Option`, in the shape Gleam's standard library gives it on Erlang
//// (`{some, X}` / `none`): tally has no hex dependencies, so it carries its own.

/// A value that may be absent.
pub type Option(a) {
  Some(a)
  None
}

/// The value, or `default` when absent.
///
/// ```gleam
/// unwrap(None, or: 0)
/// // -> 0
/// ```
pub fn unwrap(option: Option(a), or default: a) -> a {
  case option {
    Some(value) -> value
    None -> default
  }
}
