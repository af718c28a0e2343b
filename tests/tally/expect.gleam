//// Assertions for the Gleam tests (no gleeunit here): each crashes the test
//// with both values when they differ.

/// Crashes with `{not_equal, [{got, Got}, {want, Want}]}` unless equal.
pub fn equal(got: a, want: a) -> Nil {
  ffi_equal(got, want)
}

/// Crashes unless `condition` holds; `what` says which.
pub fn be_true(condition: Bool, what: String) -> Nil {
  ffi_equal(#(what, condition), #(what, True))
}

@external(erlang, "tally_test_ffi", "equal")
fn ffi_equal(got: a, want: a) -> Nil
