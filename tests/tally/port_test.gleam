import tally/engine_cases
import tally/expect
import tally/nif
import tally/port

fn with_port(run: fn(port.Port) -> Nil) -> Nil {
  let assert Ok(p) = port.start(timeout_ms: 5000)
  run(p)
  port.stop(p)
}

pub fn engine_info_test() {
  use p <- with_port()
  engine_cases.engine_info(port.engine_info(p), "port")
  // Both engines come from one build.
  let assert Ok(from_port) = port.engine_info(p)
  let assert Ok(from_nif) = nif.engine_info()
  expect.equal(from_port.commit, from_nif.commit)
}

pub fn meter_unit_test() {
  use p <- with_port()
  engine_cases.meter_unit(fn(meter) { port.meter_unit(p, meter) })
}

pub fn parse_event_line_test() {
  use p <- with_port()
  engine_cases.parse_event_line(fn(line) { port.parse_event_line(p, line) })
}

pub fn stopping_the_port_ends_the_os_process_test() {
  let assert Ok(p) = port.start(timeout_ms: 5000)
  let os_pid = port.os_pid(p)
  expect.be_true(os_process_alive(os_pid), "port process running")
  port.stop(p)
  expect.be_true(wait_until_gone(os_pid, 5000), "port process gone after stop")
}

@external(erlang, "tally_test_ffi", "os_process_alive")
fn os_process_alive(os_pid: Int) -> Bool

@external(erlang, "tally_test_ffi", "wait_until_gone")
fn wait_until_gone(os_pid: Int, timeout_ms: Int) -> Bool
