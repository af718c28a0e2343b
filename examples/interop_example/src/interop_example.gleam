//// One Rust function, `totals`, reached from Gleam two ways: inside the VM
//// as a NIF (`interop_example/nif`) or beside it as a port
//// (`interop_example/port`). Both modules are generated from the Rust
//// operation table (`make generate`); this one picks between them.

import interop_example/meter
import interop_example/nif
import interop_example/port

/// Where `totals` runs.
pub type Backend {
  Nif
  Port(port.Port)
}

/// Sums the readings per meter, meters in the order first seen.
///
/// ```gleam
/// totals(Nif, [meter.Reading("bytes", 5, meter.None)])
/// // -> Ok([meter.Total("bytes", 5, 1, meter.None)])
/// ```
pub fn totals(
  on backend: Backend,
  readings readings: List(meter.Reading),
) -> Result(List(meter.Total), meter.MeterError) {
  case backend {
    Nif -> nif.totals(readings)
    Port(p) -> port.totals(p, readings)
  }
}
