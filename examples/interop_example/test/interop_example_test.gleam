//// The example's checks, run by `gleam test` (and by tally's `make test`,
//// through the npm compiler when there is no gleam binary): each call gives
//// the same value on the NIF and on the port. A failed check raises with
//// both sides printed, so the run exits non-zero.

import interop_example as example
import interop_example/meter
import interop_example/port

pub fn main() -> Nil {
  let assert Ok(p) = port.start()
  let backends = [example.Nif, example.Port(p)]
  each(backends, sums_per_meter)
  each(backends, sums_past_64_bits_are_bignums)
  each(backends, an_empty_meter_is_an_error_at_its_index)
  each(backends, a_value_outside_u64_is_a_bad_argument)
  each(backends, no_readings_no_totals)
  port.stop(p)
  println("interop_example: 5 checks passed on the NIF and the port")
}

fn sums_per_meter(on: example.Backend) -> Nil {
  let readings = [
    meter.Reading("bytes", 5, meter.None),
    meter.Reading("requests", 1, meter.Some("first")),
    meter.Reading("bytes", 7, meter.Some("late")),
  ]
  equal(
    example.totals(on: on, readings: readings),
    Ok([
      meter.Total("bytes", 12, 2, meter.Some("late")),
      meter.Total("requests", 1, 1, meter.Some("first")),
    ]),
  )
}

// 2 x (2^64 - 1): a u128 in Rust, a bignum on the BEAM.
fn sums_past_64_bits_are_bignums(on: example.Backend) -> Nil {
  let max = 18_446_744_073_709_551_615
  let readings = [
    meter.Reading("bytes", max, meter.None),
    meter.Reading("bytes", max, meter.None),
  ]
  equal(
    example.totals(on: on, readings: readings),
    Ok([meter.Total("bytes", 36_893_488_147_419_103_230, 2, meter.None)]),
  )
}

fn an_empty_meter_is_an_error_at_its_index(on: example.Backend) -> Nil {
  let readings = [
    meter.Reading("bytes", 1, meter.None),
    meter.Reading("", 1, meter.None),
  ]
  equal(example.totals(on: on, readings: readings), Error(meter.EmptyMeter(1)))
}

fn a_value_outside_u64_is_a_bad_argument(on: example.Backend) -> Nil {
  let bad = Error(meter.BadArgument("an Int that fits u64"))
  equal(
    example.totals(on: on, readings: [meter.Reading("bytes", -1, meter.None)]),
    bad,
  )
  equal(
    example.totals(on: on, readings: [
      meter.Reading("bytes", 18_446_744_073_709_551_616, meter.None),
    ]),
    bad,
  )
}

fn no_readings_no_totals(on: example.Backend) -> Nil {
  equal(example.totals(on: on, readings: []), Ok([]))
}

fn each(items: List(a), check: fn(a) -> Nil) -> Nil {
  case items {
    [] -> Nil
    [first, ..rest] -> {
      check(first)
      each(rest, check)
    }
  }
}

@external(erlang, "interop_example_test_ffi", "equal")
fn equal(got: a, want: a) -> Nil

@external(erlang, "interop_example_test_ffi", "println")
fn println(line: String) -> Nil
