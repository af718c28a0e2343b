//// tally/app/application: started as a dependency with no configuration
//// the application is inert (an empty tree, nothing written); a bad
//// sys.config stops it from starting, with the reason naming the key.

import tally/expect
import tally/otp/dynamic

pub fn with_no_configuration_the_application_starts_inert_test() {
  let #(children, files) = in_empty_dir_with_env([], started_children)
  expect.equal(children, 0)
  expect.equal(files, [])
}

pub fn a_bad_configuration_refuses_to_start_with_the_reason_test() {
  let #(reason, files) =
    in_empty_dir_with_env(
      [#("shards", dynamic.from(0)), #("sources", dynamic.from([]))],
      start_error,
    )
  expect.equal(
    reason,
    "tally configuration: shards should be an integer from 1 to 1024, got: 0",
  )
  expect.equal(files, [])
}

// Runs `body` with the application stopped and its environment replaced
// by `env`, in a fresh empty working directory; gives what `body`
// returned and the files left in the directory, and puts everything back.
@external(erlang, "tally_app_test_ffi", "in_empty_dir_with_env")
fn in_empty_dir_with_env(
  env: List(#(String, dynamic.Dynamic)),
  body: fn() -> a,
) -> #(a, List(String))

// Starts the application: the number of children of its tree.
@external(erlang, "tally_app_test_ffi", "started_children")
fn started_children() -> Int

// Starts the application, which must fail: the configuration error.
@external(erlang, "tally_app_test_ffi", "start_error")
fn start_error() -> String
