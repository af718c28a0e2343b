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
//! Stateful values are resources: a streaming parser (`ParserRef`) and an
//! aggregator (`AggregatorRef`), each behind a mutex, so calls from many
//! processes are safe.

use std::sync::{Mutex, MutexGuard};

use rustler::{Binary, Encoder, Env, NewBinary, ResourceArc, Term};
use tally_core::aggregate::{parse_period, Aggregator, AggregatorConfig};
use tally_core::billing::{bill, bill_shard, Plans};
use tally_core::gleam_shapes::{parsed, window_aggregate};
use tally_core::parse::{parse_all, ParserOptions, StreamParser};
use tally_core::{Format, UsageEvent};
use tally_interop::nif::{from_gleam, guarded};
use tally_interop::{IntoGleam, Value};

/// Biggest line parsed on a normal scheduler: well under 1 ms of work.
const NORMAL_SCHEDULER_LINE_LIMIT: usize = 64 * 1024;

pub struct ParserRef(Mutex<StreamParser>);
pub struct AggregatorRef(Mutex<Aggregator>);

#[rustler::resource_impl]
impl rustler::Resource for ParserRef {}

#[rustler::resource_impl]
impl rustler::Resource for AggregatorRef {}

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

#[rustler::nif]
fn parser_new<'a>(env: Env<'a>, format: Term<'a>, options: Term<'a>) -> Term<'a> {
    guarded(env, || {
        let format: Format = from_gleam(format)?;
        let options: ParserOptions = from_gleam(options)?;
        Ok(ResourceArc::new(ParserRef(Mutex::new(StreamParser::new(
            format, options,
        )))))
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

#[rustler::nif]
fn aggregator_new<'a>(env: Env<'a>, config: Term<'a>) -> Term<'a> {
    guarded(env, || {
        let config: AggregatorConfig = from_gleam(config)?;
        Ok(ResourceArc::new(AggregatorRef(Mutex::new(Aggregator::new(
            config,
        )))))
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

#[rustler::nif]
fn aggregator_counters(env: Env, agg: ResourceArc<AggregatorRef>) -> Term {
    guarded(env, || Ok(lock(&agg.0)?.counters().into_gleam()))
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
        let plans = Plans::from_json(text).map_err(IntoGleam::into_gleam)?;
        let usage = lock(&agg.0)?.close_period(start);
        Ok(bill(&usage, &plans, version)
            .map_err(IntoGleam::into_gleam)?
            .into_gleam())
    })
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
        let label = std::str::from_utf8(period.as_slice()).map_err(|_| bad_argument("a period YYYY-MM"))?;
        let start = parse_period(label).ok_or_else(|| bad_argument("a period YYYY-MM"))?;
        if shard >= shards.max(1) {
            return Err(bad_argument("a shard below the shard count"));
        }
        let text = std::str::from_utf8(plans.as_slice()).map_err(|_| bad_argument("plans as UTF-8 JSON"))?;
        let plans = Plans::from_json(text).map_err(IntoGleam::into_gleam)?;
        let usage = lock(&agg.0)?.close_period(start);
        Ok(bill_shard(&usage, &plans, version, shard, shards)
            .map_err(IntoGleam::into_gleam)?
            .into_gleam())
    })
}

#[rustler::nif]
fn aggregator_take_late(env: Env, agg: ResourceArc<AggregatorRef>) -> Term {
    guarded(env, || Ok(lock(&agg.0)?.take_late().into_gleam()))
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
