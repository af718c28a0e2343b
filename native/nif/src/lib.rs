//! tally_nif: rustler adapters over tally_core. Each NIF decodes its
//! arguments, calls the core, and returns the result in Gleam's shapes
//! through `tally_interop::nif::guarded`: `{ok, Value}`, `{error, Error}`,
//! and a panic as `{error, {native_panic, Message}}`, never an exception.
//!
//! Scheduling: a NIF on a normal scheduler must return within 1 ms, so
//! every NIF whose work grows with its input runs on a dirty CPU scheduler;
//! the rest do a small, bounded amount of work. `parse_event_line` is the
//! exception that proves it: it refuses lines over 64 KiB and the Erlang stub
//! sends those to its dirty twin.
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

use rustler::{Binary, Encoder, Env, NewBinary, ResourceArc, Term};
use tally_core::aggregate::{parse_period, Aggregator, PeriodUsage};
use tally_core::batch::{ingest_chunk as ingest, EventBatch};
use tally_core::billing::{bill, bill_shard, BillingError, Plans, PlansCache};
use tally_core::gleam_shapes::{parsed, window_aggregate};
use tally_core::parse::{parse_all, ParserOptions, StreamParser};
use tally_core::written::bill_shard_written;
use tally_core::{Format, UsageEvent};
use tally_interop::files::posix_name;
use tally_interop::nif::{from_gleam, guarded};
use tally_interop::{IntoGleam, Value};

// The NIFs the operation table gives whole (make generate).
#[rustfmt::skip]
mod generated;

/// Biggest line parsed on a normal scheduler: well under 1 ms of work.
const NORMAL_SCHEDULER_LINE_LIMIT: usize = 64 * 1024;

pub struct ParserRef(Mutex<StreamParser>);
pub struct AggregatorRef(Mutex<Aggregator>);
/// `None` once applied: its memory is given back at once, not when the
/// BEAM collects the reference.
pub struct BatchRef(Mutex<Option<EventBatch>>);

/// The plans of the last close: its shards parse the plans file once.
static PLANS: PlansCache = PlansCache::new();

/// Biggest chunk `ingest_chunk` takes: a batch's offsets are 32 bits.
const MAX_CHUNK: usize = 1 << 30;
/// Snapshots hold billing data: readable by their owner only.
const SNAPSHOT_MODE: u32 = 0o600;

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

fn bad_argument(what: &'static str) -> Value {
    Value::record("bad_argument", vec![what.into_gleam()])
}

#[rustler::nif]
fn engine_info(env: Env) -> Term {
    guarded(env, || Ok(tally_core::engine_info("nif").into_gleam()))
}

#[rustler::nif]
fn meter_unit<'a>(env: Env<'a>, meter: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let name = std::str::from_utf8(meter.as_slice()).unwrap_or("");
        Ok(tally_core::meter_unit(name).into_gleam())
    })
}

#[rustler::nif]
fn parse_event_line_normal<'a>(env: Env<'a>, line: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let bytes = line.as_slice();
        if bytes.len() > NORMAL_SCHEDULER_LINE_LIMIT {
            let reason = tally_core::RejectReason::LineTooLong {
                length: bytes.len() as u64,
                limit: NORMAL_SCHEDULER_LINE_LIMIT as u64,
            };
            return Ok(Err::<(), _>(reason).into_gleam());
        }
        Ok(tally_core::jsonl::parse_event_line(bytes).into_gleam())
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn parse_event_line_dirty<'a>(env: Env<'a>, line: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        Ok(tally_core::jsonl::parse_event_line(line.as_slice()).into_gleam())
    })
}

/// Parses one complete input (a whole file's bytes, or a self-contained batch).
#[rustler::nif(schedule = "DirtyCpu")]
fn parse_chunk<'a>(env: Env<'a>, format: Term<'a>, options: Term<'a>, chunk: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let format: Format = from_gleam(format)?;
        let options: ParserOptions = from_gleam(options)?;
        let (batch, stats) = parse_all(format, options, chunk.as_slice());
        Ok(parsed(batch, stats))
    })
}

/// Feeds a chunk cut anywhere to a streaming parser; returns what it completed.
#[rustler::nif(schedule = "DirtyCpu")]
fn parser_feed<'a>(env: Env<'a>, parser: ResourceArc<ParserRef>, chunk: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let mut p = lock(&parser.0)?;
        let before = p.stats();
        let mut batch = tally_core::Batch::default();
        p.feed(chunk.as_slice(), &mut batch);
        Ok(parsed(batch, p.stats().since(before)))
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn parser_finish(env: Env, parser: ResourceArc<ParserRef>) -> Term {
    guarded(env, || {
        let mut p = lock(&parser.0)?;
        let before = p.stats();
        let mut batch = tally_core::Batch::default();
        p.finish(&mut batch);
        Ok(parsed(batch, p.stats().since(before)))
    })
}

/// Parses a chunk with `parser` straight into the aggregator.
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_feed<'a>(
    env: Env<'a>,
    agg: ResourceArc<AggregatorRef>,
    parser: ResourceArc<ParserRef>,
    chunk: Binary<'a>,
) -> Term<'a> {
    guarded(env, || {
        let mut p = lock(&parser.0)?;
        let mut a = lock(&agg.0)?;
        Ok(a.feed(&mut p, Some(chunk.as_slice())).into_gleam())
    })
}

/// Ends `parser`'s stream into the aggregator (a last line without newline).
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_finish(env: Env, agg: ResourceArc<AggregatorRef>, parser: ResourceArc<ParserRef>) -> Term {
    guarded(env, || {
        let mut p = lock(&parser.0)?;
        let mut a = lock(&agg.0)?;
        Ok(a.feed(&mut p, None).into_gleam())
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_add_events<'a>(env: Env<'a>, agg: ResourceArc<AggregatorRef>, events: Term<'a>) -> Term<'a> {
    guarded(env, || {
        let events: Vec<UsageEvent> = from_gleam(events)?;
        let mut a = lock(&agg.0)?;
        a.apply_all(&events);
        Ok(a.counters().into_gleam())
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_windows(env: Env, agg: ResourceArc<AggregatorRef>) -> Term {
    guarded(env, || {
        let a = lock(&agg.0)?;
        Ok(Value::List(
            a.windows()
                .into_iter()
                .map(|(k, s, st)| window_aggregate(&k, s, st))
                .collect(),
        ))
    })
}

/// Closes the period `YYYY-MM` and bills it with the plans (JSON text).
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_close_period<'a>(
    env: Env<'a>,
    agg: ResourceArc<AggregatorRef>,
    period: Binary<'a>,
    plans: Binary<'a>,
    version: u32,
) -> Term<'a> {
    guarded(env, || {
        let label = std::str::from_utf8(period.as_slice()).map_err(|_| bad_argument("a period YYYY-MM"))?;
        let start = parse_period(label).ok_or_else(|| bad_argument("a period YYYY-MM"))?;
        let text = std::str::from_utf8(plans.as_slice()).map_err(|_| bad_argument("plans as UTF-8 JSON"))?;
        let plans = PLANS.parse(text).map_err(IntoGleam::into_gleam)?;
        let usage = lock(&agg.0)?.close_period(start);
        Ok(bill(&usage, &plans, version)
            .map_err(IntoGleam::into_gleam)?
            .into_gleam())
    })
}

/// One shard's close for `aggregator_close_shard` and
/// `aggregator_close_written`: the arguments checked, the period closed, the
/// shard's customers billed by `bill` (`bill_shard`, or `bill_shard_written`).
fn close_and_bill_shard<T>(
    agg: &AggregatorRef,
    (period, plans, version): (&[u8], &[u8], u32),
    (shard, shards): (u32, u32),
    bill: fn(&PeriodUsage, &Plans, u32, u32, u32) -> Result<T, BillingError>,
) -> Result<T, Value> {
    let label = std::str::from_utf8(period).map_err(|_| bad_argument("a period YYYY-MM"))?;
    let start = parse_period(label).ok_or_else(|| bad_argument("a period YYYY-MM"))?;
    if shard >= shards.max(1) {
        return Err(bad_argument("a shard below the shard count"));
    }
    let text = std::str::from_utf8(plans).map_err(|_| bad_argument("plans as UTF-8 JSON"))?;
    let plans = PLANS.parse(text).map_err(IntoGleam::into_gleam)?;
    let usage = lock(&agg.0)?.close_period(start);
    bill(&usage, &plans, version, shard, shards).map_err(IntoGleam::into_gleam)
}

/// Closes the period and bills the customers of one shard of `shards`
/// (`tally_core::shard::shard_of`), with usage here or named in the plans.
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_close_shard<'a>(
    env: Env<'a>,
    agg: ResourceArc<AggregatorRef>,
    period: Binary<'a>,
    plans: Binary<'a>,
    version: u32,
    shard: u32,
    shards: u32,
) -> Term<'a> {
    guarded(env, || {
        let args = (period.as_slice(), plans.as_slice(), version);
        Ok(close_and_bill_shard(&agg, args, (shard, shards), bill_shard)?.into_gleam())
    })
}

/// `aggregator_close_shard`, with the lines in their written form (the
/// bytes `tally bill` prints), cut into outbox batches with their message
/// ids, and each customer's total: `{written_invoice, Batches, Totals,
/// Unbilled}` (`tally_core::written::bill_shard_written`). No line becomes a
/// term.
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_close_written<'a>(
    env: Env<'a>,
    agg: ResourceArc<AggregatorRef>,
    period: Binary<'a>,
    plans: Binary<'a>,
    version: u32,
    shard: u32,
    shards: u32,
) -> Term<'a> {
    guarded(env, || {
        // Each line written as it is billed: no line is owned on the way.
        let args = (period.as_slice(), plans.as_slice(), version);
        Ok(close_and_bill_shard(&agg, args, (shard, shards), bill_shard_written)?.into_gleam())
    })
}

/// The aggregator's state as a binary, for snapshots.
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_export(env: Env, agg: ResourceArc<AggregatorRef>) -> Term {
    guarded(env, || {
        let bytes = lock(&agg.0)?.export();
        let mut bin = NewBinary::new(env, bytes.len());
        bin.as_mut_slice().copy_from_slice(&bytes);
        Ok(Term::from(bin))
    })
}

#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_restore<'a>(env: Env<'a>, bytes: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let agg = Aggregator::restore(bytes.as_slice()).map_err(IntoGleam::into_gleam)?;
        Ok(ResourceArc::new(AggregatorRef(Mutex::new(agg))))
    })
}

/// Adds `other`'s counts into `agg`.
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_merge(env: Env, agg: ResourceArc<AggregatorRef>, other: ResourceArc<AggregatorRef>) -> Term {
    guarded(env, || {
        if std::ptr::eq(&*agg, &*other) {
            return Err(bad_argument("two different aggregators"));
        }
        // Lock in address order, so two opposite merges cannot deadlock.
        let (first, second) = if (&*agg as *const AggregatorRef) < (&*other as *const AggregatorRef) {
            (&agg.0, &other.0)
        } else {
            (&other.0, &agg.0)
        };
        let (g1, g2) = (lock(first)?, lock(second)?);
        let (mut target, source) = if std::ptr::eq(first, &agg.0) {
            (g1, g2)
        } else {
            (g2, g1)
        };
        target.merge(&source).map_err(IntoGleam::into_gleam)?;
        Ok(Value::nil())
    })
}

/// The shard (0-based) of a customer among `shards`: `tally_core::shard::shard_of`.
#[rustler::nif]
fn shard_of<'a>(env: Env<'a>, customer: Binary<'a>, shards: Term<'a>) -> Term<'a> {
    guarded(env, || {
        let customer =
            std::str::from_utf8(customer.as_slice()).map_err(|_| bad_argument("a UTF-8 customer"))?;
        let shards = shard_count(shards)?;
        Ok(tally_core::shard::shard_of(customer, shards).into_gleam())
    })
}

/// A shard count: 1 to 2^32-1.
fn shard_count(shards: Term) -> Result<u32, Value> {
    shards
        .decode::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| bad_argument("a shard count from 1 to 2^32-1"))
}

/// Parses a whole chunk and partitions its events by shard:
/// `{ingested, [Batch], Rejects, ParseStats}`, one batch per shard.
#[rustler::nif(schedule = "DirtyCpu")]
fn ingest_chunk<'a>(
    env: Env<'a>,
    format: Term<'a>,
    options: Term<'a>,
    shards: Term<'a>,
    chunk: Binary<'a>,
) -> Term<'a> {
    guarded(env, || {
        let format: Format = from_gleam(format)?;
        let options: ParserOptions = from_gleam(options)?;
        let shards = shard_count(shards)?;
        if chunk.len() > MAX_CHUNK {
            return Err(bad_argument("a chunk of at most 1 GiB"));
        }
        let got = ingest(format, options, shards, chunk.as_slice());
        let batches = got
            .batches
            .into_iter()
            .map(|b| ResourceArc::new(BatchRef(Mutex::new(Some(b)))))
            .collect();
        Ok(Ingested(
            batches,
            got.rejects.into_gleam(),
            got.stats.into_gleam(),
        ))
    })
}

/// `{ingested, Batches, Rejects, Stats}` with the batches as resources.
struct Ingested(Vec<ResourceArc<BatchRef>>, Value, Value);

impl Encoder for Ingested {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        let tag = rustler::types::atom::Atom::from_str(env, "ingested").expect("an atom");
        rustler::types::tuple::make_tuple(
            env,
            &[
                tag.encode(env),
                self.0.encode(env),
                self.1.encode(env),
                self.2.encode(env),
            ],
        )
    }
}

fn batch_not_applied() -> Value {
    bad_argument("a batch not applied yet")
}

/// Counts a batch into the aggregator (once: the batch is emptied).
#[rustler::nif(schedule = "DirtyCpu")]
fn aggregator_apply_batch(env: Env, agg: ResourceArc<AggregatorRef>, batch: ResourceArc<BatchRef>) -> Term {
    guarded(env, || {
        let events = lock(&batch.0)?.take().ok_or_else(batch_not_applied)?;
        let mut a = lock(&agg.0)?;
        events.apply_to(&mut a);
        Ok(a.counters().into_gleam())
    })
}

/// A batch's events as terms, for inspection and tests (not the main path).
#[rustler::nif(schedule = "DirtyCpu")]
fn batch_events(env: Env, batch: ResourceArc<BatchRef>) -> Term {
    guarded(env, || {
        let b = lock(&batch.0)?;
        Ok(b.as_ref().ok_or_else(batch_not_applied)?.to_events().into_gleam())
    })
}

fn snapshot_failed(path: &str, e: &std::io::Error) -> Value {
    Value::record(
        "snapshot_failed",
        vec![path.into_gleam(), posix_name(e).into_gleam()],
    )
}

/// Saves the aggregator's snapshot with `extra` (opaque bytes) to `path`:
/// a delta of what changed since its last save to `path` appended to
/// `path.log`, or a whole base written atomically (tally_core::snapshot);
/// returns the bytes written.
#[rustler::nif(schedule = "DirtyIo")]
fn aggregator_save<'a>(
    env: Env<'a>,
    agg: ResourceArc<AggregatorRef>,
    path: Binary<'a>,
    extra: Binary<'a>,
) -> Term<'a> {
    guarded(env, || {
        let path = std::str::from_utf8(path.as_slice()).map_err(|_| bad_argument("a UTF-8 path"))?;
        let mut a = lock(&agg.0)?;
        let saved = tally_core::snapshot::save_files(&mut a, path, SNAPSHOT_MODE, extra.as_slice())
            .map_err(|e| snapshot_failed(path, &e))?;
        Ok(saved.bytes.into_gleam())
    })
}

/// Reads a snapshot saved by `aggregator_save` (its base and log, through
/// small buffers): `{loaded, Aggregator, Extra}`.
#[rustler::nif(schedule = "DirtyIo")]
fn aggregator_load<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    guarded(env, || {
        let path = std::str::from_utf8(path.as_slice()).map_err(|_| bad_argument("a UTF-8 path"))?;
        let (agg, extra) = tally_core::snapshot::load_files(path)
            .map_err(|e| snapshot_failed(path, &e))?
            .map_err(IntoGleam::into_gleam)?;
        Ok(Loaded(ResourceArc::new(AggregatorRef(Mutex::new(agg))), extra))
    })
}

struct Loaded(ResourceArc<AggregatorRef>, Vec<u8>);

impl Encoder for Loaded {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        let tag = rustler::types::atom::Atom::from_str(env, "loaded").expect("an atom");
        let mut bin = NewBinary::new(env, self.1.len());
        bin.as_mut_slice().copy_from_slice(&self.1);
        rustler::types::tuple::make_tuple(env, &[tag.encode(env), self.0.encode(env), Term::from(bin)])
    }
}

/// Encoding this value panics: lets the tests prove that a panic while
/// encoding a result is caught too.
struct PanicsWhenEncoded;

impl Encoder for PanicsWhenEncoded {
    fn encode<'a>(&self, _env: Env<'a>) -> Term<'a> {
        panic!("deliberate panic while encoding")
    }
}

/// Panics on purpose (`work` or `encode`), so that tests can prove a Rust
/// panic reaches Gleam as `NativePanic` and the VM carries on.
#[rustler::nif]
fn panic_for_test<'a>(env: Env<'a>, stage: Term<'a>) -> Term<'a> {
    let encode = stage.atom_to_string().is_ok_and(|s| s == "encode");
    guarded(env, || {
        if !encode {
            panic!("deliberate panic in the work");
        }
        Ok(PanicsWhenEncoded)
    })
}

/// On load: a panic prints one line instead of the default hook's backtrace;
/// `guarded` turns it into an error value for the caller either way.
fn on_load(_env: Env, _info: Term) -> bool {
    std::panic::set_hook(Box::new(|info| eprintln!("tally_nif: caught panic: {info}")));
    true
}

rustler::init!("tally_nif", load = on_load);
