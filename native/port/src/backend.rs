//! The work that is the port's own (`backend::<name>` in the operation
//! table): the engine's name, and the owner's checkpoints and releases.
//! Each gets the engine and its handle arguments as they came, to find or
//! free them itself.

use tally_core::aggregate::Aggregator;
use tally_core::EngineInfo;
use tally_interop::etf::Term;
use tally_interop::{IntoGleam, Value};

use crate::ops::{bad_argument, handle, Engine};

pub fn engine_info(_engine: &mut Engine) -> EngineInfo {
    tally_core::engine_info("port")
}

// Checkpoints of the owner's journal (erlang_src/tally_port.erl): the export
// goes to a file, never through the pipe, so a big state costs the VM
// neither a huge frame nor the time to copy it.

/// Writes the aggregator's export to `path`; returns its size.
pub fn aggregator_export_to(engine: &mut Engine, aggregator: &Term, path: &str) -> Result<u64, Value> {
    let bytes = engine.aggregator(aggregator)?.export();
    write_file(path, &bytes).map_err(|e| checkpoint_failed(path, &e))?;
    Ok(bytes.len() as u64)
}

/// An aggregator from a checkpoint file.
pub fn aggregator_restore_from(_engine: &mut Engine, path: &str) -> Result<Aggregator, Value> {
    let bytes = std::fs::read(path).map_err(|e| checkpoint_failed(path, &e))?;
    Aggregator::restore(&bytes).map_err(IntoGleam::into_gleam)
}

/// Frees a parser or an aggregator.
pub fn release(engine: &mut Engine, h: &Term) -> Result<(), Value> {
    let h = handle(h)?;
    let found = engine.parsers.remove(&h).is_some() | engine.aggregators.remove(&h).is_some();
    if found {
        Ok(())
    } else {
        Err(bad_argument("a live handle"))
    }
}

/// Written whole or not at all: a temporary file renamed over the old one.
fn write_file(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn checkpoint_failed(path: &str, e: &std::io::Error) -> Value {
    Value::record("checkpoint_failed", vec![format!("{path}: {e}").into_gleam()])
}
