import tally/aggregate
import tally/backend
import tally/engine
import tally/engine_cases
import tally/event
import tally/expect
import tally/nif
import tally/port
import tally/usage

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

pub fn a_panic_in_the_port_is_an_error_and_the_port_carries_on_test() {
  use p <- with_port()
  let assert Error(engine.NativePanic(message)) =
    port.panic_for_test(p, engine.Work)
  expect.equal(message, "deliberate panic in the work")
  engine_cases.meter_unit(fn(meter) { port.meter_unit(p, meter) })
}

pub fn aggregators_merge_across_backends_test() {
  use p <- with_port()
  let event = fn(id, value) {
    event.UsageEvent(
      id: id,
      source: "edge",
      customer: "acme",
      resource: "cdn",
      meter: "requests",
      value: value,
      time_ms: 1_790_812_800_000,
    )
  }
  let assert Ok(on_nif) =
    aggregate.new(on: backend.Nif, config: usage.default_config())
  let assert Ok(on_port) =
    aggregate.new(on: backend.Port(p), config: usage.default_config())
  let assert Ok(_) = aggregate.add_events(on_nif, [event("a", 1)])
  let assert Ok(_) = aggregate.add_events(on_port, [event("b", 2)])
  expect.equal(aggregate.merge(into: on_port, from: on_nif), Ok(Nil))
  let assert Ok([merged]) = aggregate.windows(on_port)
  expect.equal(#(merged.sum, merged.count), #(3, 2))
  // The port's export restores on the NIF bit for bit.
  let assert Ok(bytes) = aggregate.export(on_port)
  let assert Ok(copy) = aggregate.restore(on: backend.Nif, bytes: bytes)
  expect.equal(aggregate.export(copy), Ok(bytes))
  expect.equal(aggregate.close(on_port), Ok(Nil))
  expect.equal(
    aggregate.counters(on_port),
    Error(engine.BadArgument(expected: "a live handle")),
  )
}
