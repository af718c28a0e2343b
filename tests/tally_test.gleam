//// Entry point of the Gleam tests: runs EUnit over every `*_test` module
//// (there is no gleeunit here) and exits non-zero if any test fails, so
//// `gleam test` and `make test` run and report the same tests. `main`
//// returns when every test passed, so `gleam test` exits 0.

pub fn main() -> Nil {
  run_all_test_modules()
}

@external(erlang, "tally_test_ffi", "run_all_test_modules")
fn run_all_test_modules() -> Nil
