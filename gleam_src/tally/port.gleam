//// The Rust engine beside the VM, as a port (native/port): a separate OS
//// process owned by an Erlang process (`tally_port`). It answers with the
//// same values as `tally/nif`.

import tally/engine
import tally/event
import tally/option

/// An Erlang process identifier.
pub type Pid

/// A running port and the process that owns it.
pub opaque type Port {
  Port(owner: Pid)
}

// The port's operation names; each constructor is the atom the port reads.
type Operation {
  EngineInfo
  MeterUnit
  ParseEventLine
  ParseChunk
}

/// Starts the port's OS process from the application's priv directory,
/// owned by a new process that is not linked to the caller.
///
/// ```gleam
/// let assert Ok(p) = port.start(timeout_ms: 5000)
/// ```
pub fn start(timeout_ms timeout_ms: Int) -> Result(Port, engine.EngineError) {
  case owner_start(timeout_ms) {
    Ok(pid) -> Ok(Port(owner: pid))
    Error(e) -> Error(e)
  }
}

/// Stops the owner, which closes the port: the OS process sees end of
/// file on its standard input and exits.
pub fn stop(port: Port) -> Nil {
  owner_stop(port.owner)
}

/// The operating system's process id of the port.
pub fn os_pid(port: Port) -> Int {
  owner_os_pid(port.owner)
}

/// Same as `nif.engine_info`.
pub fn engine_info(port: Port) -> Result(engine.EngineInfo, engine.EngineError) {
  owner_call(port.owner, EngineInfo, #())
}

/// Same as `nif.meter_unit`.
pub fn meter_unit(
  port: Port,
  meter: String,
) -> Result(option.Option(event.MeterUnit), engine.EngineError) {
  owner_call(port.owner, MeterUnit, #(meter))
}

/// Same as `nif.parse_event_line`.
pub fn parse_event_line(
  port: Port,
  line: BitArray,
) -> Result(Result(event.UsageEvent, event.RejectReason), engine.EngineError) {
  owner_call(port.owner, ParseEventLine, #(line))
}

/// Same as `nif.parse_chunk`.
pub fn parse_chunk(
  port: Port,
  format: event.Format,
  options: event.ParserOptions,
  chunk: BitArray,
) -> Result(event.Parsed, engine.EngineError) {
  owner_call(port.owner, ParseChunk, #(format, options, chunk))
}

@external(erlang, "tally_port", "start_for_gleam")
fn owner_start(timeout_ms: Int) -> Result(Pid, engine.EngineError)

@external(erlang, "tally_port", "stop")
fn owner_stop(owner: Pid) -> Nil

@external(erlang, "tally_port", "os_pid")
fn owner_os_pid(owner: Pid) -> Int

@external(erlang, "tally_port", "call")
fn owner_call(owner: Pid, op: Operation, args: args) -> Result(a, engine.EngineError)
