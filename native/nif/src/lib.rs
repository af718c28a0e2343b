//! tally_nif: rustler adapters over tally_core. Every NIF function is
//! generated from the operation table (native/core/src/operations.rs, `make
//! generate` writes src/generated.rs): it decodes its arguments, locks its
//! handles, calls the function the table names, and returns the result in
//! Gleam's shapes through `tally_interop::nif::guarded`: `{ok, Value}`,
//! `{error, Error}`, and a panic as `{error, {native_panic, Message}}`,
//! never an exception. This file holds what the generated functions use:
//! the resources, the lock helpers, the load hook, and (in `backend`) the
//! work that is the NIF's own.
//!
//! Scheduling: a NIF on a normal scheduler must return within 1 ms, so
//! every NIF whose work grows with its input runs on a dirty CPU scheduler;
//! the rest do a small, bounded amount of work. `parse_event_line` is split:
//! `parse_event_line_normal` refuses lines over 64 KiB and the Erlang stub
//! sends those to `parse_event_line_dirty`. `aggregator_take_late` is
//! chunked: it returns its events in slices of about 1 ms on a normal
//! scheduler (`tally_interop::nif::chunked`).
//!
//! Stateful values are resources: a streaming parser (`ParserRef`), an
//! aggregator (`AggregatorRef`) and a batch of events bound for one shard
//! (`BatchRef`), each behind a mutex, so calls from many processes are safe.
//!
//! The release's main path keeps events in Rust: `ingest_chunk` parses a
//! chunk into one `BatchRef` per shard (an `EventBatch`: 40 bytes per event
//! plus its texts), `aggregator_apply_batch` counts one into a shard's
//! aggregator and frees it (a batch is applied once), and
//! `aggregator_save`/`aggregator_load` stream a shard's snapshot to and
//! from disk on a dirty I/O scheduler.

use std::sync::{Mutex, MutexGuard};

use tally_core::aggregate::Aggregator;
use tally_core::batch::EventBatch;
use tally_core::parse::StreamParser;
use tally_interop::{IntoGleam, Value};

pub use tally_core::entry::bad_argument;

mod backend;
// The NIFs of the operation table (make generate).
#[rustfmt::skip]
mod generated;

pub struct ParserRef(Mutex<StreamParser>);
pub struct AggregatorRef(Mutex<Aggregator>);
/// `None` once applied: its memory is given back at once, not when the
/// BEAM collects the reference.
pub struct BatchRef(Mutex<Option<EventBatch>>);

#[rustler::resource_impl]
impl rustler::Resource for ParserRef {}

#[rustler::resource_impl]
impl rustler::Resource for AggregatorRef {}

#[rustler::resource_impl]
impl rustler::Resource for BatchRef {}

/// Locks a resource. A mutex poisoned by an earlier panic means its state may
/// be half-updated: the caller gets an error rather than that state.
fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, Value> {
    m.lock().map_err(|_| {
        Value::record(
            "native_panic",
            vec!["state lost to an earlier panic".into_gleam()],
        )
    })
}

/// Locks two resources of one kind, in address order (so two calls naming
/// them in opposite order cannot deadlock); returns the guards in argument
/// order. The same resource twice is `BadArgument(same)`.
fn lock_pair<'m, T>(
    a: &'m Mutex<T>,
    b: &'m Mutex<T>,
    same: &'static str,
) -> Result<(MutexGuard<'m, T>, MutexGuard<'m, T>), Value> {
    if std::ptr::eq(a, b) {
        return Err(bad_argument(same));
    }
    if (a as *const Mutex<T>) < (b as *const Mutex<T>) {
        let ga = lock(a)?;
        Ok((ga, lock(b)?))
    } else {
        let gb = lock(b)?;
        Ok((lock(a)?, gb))
    }
}

/// On load: a panic prints one line instead of the default hook's backtrace
/// (`guarded` turns it into an error value for the caller either way), and
/// the state of chunked replies is registered.
fn on_load(env: rustler::Env, _info: rustler::Term) -> bool {
    std::panic::set_hook(Box::new(|info| eprintln!("tally_nif: caught panic: {info}")));
    tally_interop::nif::register(env)
}

rustler::init!("tally_nif", load = on_load);
