//// The Rust engine inside the VM, as a NIF library (native/nif).
////
//// Every call returns `Error(engine.NativePanic(..))` rather than crashing
//// the caller if the Rust code panics.

import tally/engine
import tally/event
import tally/option

/// Describes the loaded engine.
///
/// ```gleam
/// let assert Ok(info) = nif.engine_info()
/// info.name
/// // -> "tally_core/nif"
/// ```
pub fn engine_info() -> Result(engine.EngineInfo, engine.EngineError) {
  nif_engine_info()
}

/// The unit of a standard meter; `None` for a custom meter.
///
/// ```gleam
/// nif.meter_unit("requests")
/// // -> Ok(option.Some(event.Count))
/// ```
pub fn meter_unit(
  meter: String,
) -> Result(option.Option(event.MeterUnit), engine.EngineError) {
  nif_meter_unit(meter)
}

/// Parses one JSON Lines usage event (no line terminator).
///
/// ```gleam
/// nif.parse_event_line(<<"[]">>)
/// // -> Ok(Error(event.InvalidJson(column: 1, expected: "'{'")))
/// ```
pub fn parse_event_line(
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError) {
  nif_parse_event_line(line)
}

@external(erlang, "tally_nif", "engine_info")
fn nif_engine_info() -> Result(engine.EngineInfo, engine.EngineError)

@external(erlang, "tally_nif", "meter_unit")
fn nif_meter_unit(
  meter: String,
) -> Result(option.Option(event.MeterUnit), engine.EngineError)

@external(erlang, "tally_nif", "parse_event_line")
fn nif_parse_event_line(
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError)
