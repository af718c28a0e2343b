//! tally_nif: rustler adapters over tally_core. Each NIF decodes its
//! arguments, calls the core, and returns the result in Gleam's shapes
//! through `tally_interop::nif::guarded`, so a panic comes back as an error
//! value instead of an exception.
//!
//! Scheduling: a NIF on a normal scheduler must return within 1 ms. The
//! single-line calls here refuse lines over `NORMAL_SCHEDULER_LINE_LIMIT`;
//! the Erlang stub sends bigger ones to the `_dirty` twin.

use rustler::{Binary, Env, Term};
use tally_interop::nif::guarded;
use tally_interop::IntoGleam;

/// Biggest line parsed on a normal scheduler: well under 1 ms of work.
const NORMAL_SCHEDULER_LINE_LIMIT: usize = 64 * 1024;

#[rustler::nif]
fn engine_info(env: Env) -> Term {
    guarded(env, || tally_core::engine_info("nif").into_gleam())
}

#[rustler::nif]
fn meter_unit<'a>(env: Env<'a>, meter: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let name = std::str::from_utf8(meter.as_slice()).unwrap_or("");
        tally_core::meter_unit(name).into_gleam()
    })
}

fn parse_line(line: &[u8]) -> tally_interop::Value {
    tally_core::jsonl::parse_event_line(line).into_gleam()
}

#[rustler::nif]
fn parse_event_line_normal<'a>(env: Env<'a>, line: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let bytes = line.as_slice();
        if bytes.len() > NORMAL_SCHEDULER_LINE_LIMIT {
            return Err::<(), _>(tally_core::RejectReason::LineTooLong {
                length: bytes.len() as u64,
                limit: NORMAL_SCHEDULER_LINE_LIMIT as u64,
            })
            .into_gleam();
        }
        parse_line(bytes)
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn parse_event_line_dirty<'a>(env: Env<'a>, line: Binary<'a>) -> Term<'a> {
    guarded(env, || parse_line(line.as_slice()))
}

rustler::init!("tally_nif");
