//// A Rust panic reaches Gleam as an error value and the VM carries on.

import tally/engine
import tally/expect
import tally/nif

pub fn panic_in_the_work_is_an_error_test() {
  expect.equal(
    nif.panic_for_test(engine.Work),
    Error(engine.NativePanic(message: "deliberate panic in the work")),
  )
}

pub fn panic_while_encoding_is_an_error_test() {
  expect.equal(
    nif.panic_for_test(engine.Encode),
    Error(engine.NativePanic(message: "deliberate panic while encoding")),
  )
  // And the library still works afterwards.
  let assert Ok(_) = nif.engine_info()
  Nil
}
