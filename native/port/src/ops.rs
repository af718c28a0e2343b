//! Request dispatch: decode `{Id, Op, Args}`, run the operation on the
//! engine's state, wrap the reply. Each operation mirrors the NIF of the same
//! name (native/nif/src/lib.rs) and returns the same terms; where the NIF
//! hands out resources, the port hands out integer handles, freed with
//! `release`.
//!
//! Batches (`ingest_chunk`) are not handles of the journal: the port keeps
//! each shard's `EventBatch` under `{Session, N}`, where `Session` is a
//! random number drawn when this process started. A request that uses a
//! batch comes with its key alone first (the chunk crossed the pipe once,
//! with `ingest_chunk`); `aggregator_apply_batch` counts the batch held
//! under that key and frees it. When the key belongs to an earlier process
//! (the port was restarted between ingest and apply, or the owner replays
//! its journal) or the batch was evicted, the reply is `batch_not_held` and
//! the owner sends the request again with the batch's recipe (format,
//! options, shard count, shard index, chunk; `tally_port_batch` adds it),
//! which is parsed again and counts exactly the same events. A stale key can
//! never select another batch: a new process draws a new session. At most
//! `MAX_BATCH_BYTES` of batches are held; the oldest are evicted (and
//! rebuilt from their recipe if applied later), so batches a caller drops
//! without applying cannot fill the port.

use std::collections::{HashMap, HashSet, VecDeque};

use tally_core::aggregate::Aggregator;
use tally_core::batch::{ingest_chunk, EventBatch};
pub(crate) use tally_core::entry::bad_argument;
use tally_core::entry::ShardCount;
use tally_core::parse::{ParserOptions, StreamParser};
use tally_core::Format;
use tally_interop::etf::Term;
use tally_interop::{FromGleam, IntoGleam, Value};

/// Most bytes of batches held before the oldest are evicted.
const MAX_BATCH_BYTES: usize = 256 << 20;

/// The parsers and aggregators this port holds, by handle, and the batches
/// ingested and not applied yet (see the module documentation).
pub struct Engine {
    pub(crate) parsers: HashMap<u64, StreamParser>,
    pub(crate) aggregators: HashMap<u64, Aggregator>,
    next_handle: u64,
    session: u64,
    batches: HashMap<u64, EventBatch>,
    /// Batch numbers in the order made, for eviction (applied ones are skipped).
    batch_order: VecDeque<u64>,
    batch_bytes: usize,
    evicted: HashSet<u64>,
    next_batch: u64,
    /// Most bytes of batches held (`MAX_BATCH_BYTES`; smaller in tests).
    max_batch_bytes: usize,
}

impl Default for Engine {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // A random session per process (std's hasher keys are random).
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Engine {
            parsers: HashMap::new(),
            aggregators: HashMap::new(),
            next_handle: 0,
            session: h.finish() >> 1, // fits an i64: a small integer term on every side
            batches: HashMap::new(),
            batch_order: VecDeque::new(),
            batch_bytes: 0,
            evicted: HashSet::new(),
            next_batch: 0,
            max_batch_bytes: MAX_BATCH_BYTES,
        }
    }
}

/// A recipe's arguments: format, options, shard count, shard index, chunk.
const RECIPE: usize = 5;

/// How to make a batch again: `ingest_chunk`'s arguments and the shard's index.
struct Recipe<'a> {
    format: Format,
    options: ParserOptions,
    shards: u32,
    index: u32,
    chunk: &'a [u8],
}

impl<'a> Recipe<'a> {
    fn read(args: &'a [Term]) -> Result<Recipe<'a>, Value> {
        let [format, options, shards, index, chunk] = args else {
            return Err(bad_argument("a batch recipe"));
        };
        let ShardCount(shards) = arg(shards)?;
        let index: u32 = arg(index)?;
        if index >= shards {
            return Err(bad_argument("a shard index below the shard count"));
        }
        Ok(Recipe {
            format: arg(format)?,
            options: arg(options)?,
            shards,
            index,
            chunk: binary(chunk, "a chunk")?,
        })
    }

    fn make(self) -> EventBatch {
        let mut got = ingest_chunk(self.format, self.options, self.shards, self.chunk);
        got.batches.swap_remove(self.index as usize)
    }
}

fn batch_not_applied() -> Value {
    bad_argument("a batch not applied yet")
}

pub(crate) type OpResult = Result<Value, Value>;

pub(crate) fn arg<T: FromGleam>(t: &Term) -> Result<T, Value> {
    T::from_gleam(t).map_err(IntoGleam::into_gleam)
}

pub(crate) fn binary<'a>(t: &'a Term, what: &'static str) -> Result<&'a [u8], Value> {
    t.as_binary().ok_or_else(|| bad_argument(what))
}

pub(crate) fn handle(t: &Term) -> Result<u64, Value> {
    t.as_int()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad_argument("a handle"))
}

impl Engine {
    /// The reply to one frame (see `tally_interop::port::answer`). A frame
    /// that cannot be read as a request is answered with id 0 and
    /// `{error, {bad_request, Detail}}`.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Value {
        tally_interop::port::answer(frame, |op, args| self.dispatch(op, args))
    }

    pub(crate) fn new_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    pub(crate) fn aggregator(&mut self, t: &Term) -> Result<&mut Aggregator, Value> {
        held(&mut self.aggregators, t, "a live aggregator handle")
    }

    /// Holds a new batch; returns its key `{Session, N}`.
    fn keep_batch(&mut self, batch: EventBatch) -> Value {
        self.next_batch += 1;
        let n = self.next_batch;
        self.batch_bytes += batch.heap_bytes();
        self.batches.insert(n, batch);
        self.batch_order.push_back(n);
        while self.batch_bytes > self.max_batch_bytes {
            let Some(old) = self.batch_order.pop_front() else {
                break;
            };
            if let Some(b) = self.batches.remove(&old) {
                self.batch_bytes -= b.heap_bytes();
                self.evicted.insert(old);
            }
        }
        Value::Tuple(vec![Value::Int(self.session as i128), Value::Int(n as i128)])
    }

    /// The batch under `key`, taken out (`take`) or copied, else made again
    /// from its recipe when the key is stale or the batch was evicted.
    /// Without a recipe (the caller sends the key alone first) a batch this
    /// process does not hold is `batch_not_held`: the caller sends the
    /// recipe then, so a chunk crosses the pipe once in the usual case.
    fn batch(&mut self, key: &Term, recipe: &[Term], take: bool) -> Result<EventBatch, Value> {
        let recipe = match recipe {
            [] => None,
            _ => Some(Recipe::read(recipe)?),
        };
        let (session, n) = match key {
            Term::Tuple(parts) if parts.len() == 2 => (arg::<u64>(&parts[0])?, arg::<u64>(&parts[1])?),
            _ => return Err(bad_argument("a batch")),
        };
        let remake = |recipe: Option<Recipe>| recipe.map(Recipe::make).ok_or(Value::Atom("batch_not_held"));
        if session != self.session {
            return remake(recipe); // made by an earlier port process
        }
        if take {
            if let Some(b) = self.batches.remove(&n) {
                self.batch_bytes -= b.heap_bytes();
                // Forget the applied at the front, so the order stays as short as the batches held.
                while let Some(front) = self.batch_order.front() {
                    if self.batches.contains_key(front) || self.evicted.contains(front) {
                        break;
                    }
                    self.batch_order.pop_front();
                }
                return Ok(b);
            }
            if self.evicted.contains(&n) {
                let batch = remake(recipe)?;
                self.evicted.remove(&n);
                return Ok(batch);
            }
        } else {
            if let Some(b) = self.batches.get(&n) {
                return Ok(b.clone());
            }
            if self.evicted.contains(&n) {
                return remake(recipe);
            }
        }
        Err(batch_not_applied())
    }

    // The requests the table marks `Port::ByHand`: batches are kept with
    // their recipe (see the module documentation), which a generic request
    // cannot carry; `aggregator_load` and `panic_for_test` answer what
    // their hand-written Gleam bindings (port.gleam.in) read. The generated
    // dispatch (generated.rs) sends each here by its name.

    pub(crate) fn ingest_chunk(&mut self, args: &[Term]) -> Option<OpResult> {
        let [format, options, shards, chunk] = args else {
            return None;
        };
        Some((|| {
            let got = tally_core::entry::ingest(
                arg(format)?,
                arg(options)?,
                arg(shards)?,
                binary(chunk, "a chunk")?,
            )?;
            let keys = got.batches.into_iter().map(|b| self.keep_batch(b)).collect();
            Ok(Value::record(
                "ingested",
                vec![
                    Value::List(keys),
                    got.rejects.into_gleam(),
                    got.stats.into_gleam(),
                ],
            ))
        })())
    }

    pub(crate) fn aggregator_apply_batch(&mut self, args: &[Term]) -> Option<OpResult> {
        let (a, key, recipe) = match args {
            [a, key, recipe @ ..] if recipe.is_empty() || recipe.len() == RECIPE => (a, key, recipe),
            _ => return None,
        };
        Some((|| {
            self.aggregator(a)?; // before the batch is taken
            let mut batch = Some(self.batch(key, recipe, true)?);
            tally_core::entry::apply_batch(self.aggregator(a)?, &mut batch).map(IntoGleam::into_gleam)
        })())
    }

    pub(crate) fn batch_events(&mut self, args: &[Term]) -> Option<OpResult> {
        let (key, recipe) = match args {
            [key, recipe @ ..] if recipe.is_empty() || recipe.len() == RECIPE => (key, recipe),
            _ => return None,
        };
        let mut batch = match self.batch(key, recipe, false) {
            Ok(b) => Some(b),
            Err(e) => return Some(Err(e)),
        };
        Some(tally_core::entry::batch_events(&mut batch).map(IntoGleam::into_gleam))
    }

    pub(crate) fn aggregator_load(&mut self, args: &[Term]) -> Option<OpResult> {
        let [path] = args else {
            return None;
        };
        Some((|| {
            let (agg, extra) = tally_core::entry::load(utf8(path, "a UTF-8 path")?)?;
            let h = self.new_handle();
            self.aggregators.insert(h, agg);
            Ok(Value::record(
                "loaded",
                vec![h.into_gleam(), Value::Binary(extra)],
            ))
        })())
    }

    pub(crate) fn panic_for_test(&mut self, args: &[Term]) -> Option<OpResult> {
        match args {
            [_stage] => panic!("deliberate panic in the work"),
            _ => None,
        }
    }
}

/// The value under handle `t` in `map` (one of the engine's); `live` is the
/// error when there is none.
pub(crate) fn held<'m, T>(
    map: &'m mut HashMap<u64, T>,
    t: &Term,
    live: &'static str,
) -> Result<&'m mut T, Value> {
    map.get_mut(&handle(t)?).ok_or_else(|| bad_argument(live))
}

/// The values under two different handles of one map; `same` is the error
/// when they are one handle.
pub(crate) fn held_pair<'m, T>(
    map: &'m mut HashMap<u64, T>,
    a: &Term,
    b: &Term,
    same: &'static str,
    live: &'static str,
) -> Result<(&'m mut T, &'m mut T), Value> {
    let (ha, hb) = (handle(a)?, handle(b)?);
    if ha == hb {
        return Err(bad_argument(same));
    }
    match map.get_disjoint_mut([&ha, &hb]) {
        [Some(x), Some(y)] => Ok((x, y)),
        _ => Err(bad_argument(live)),
    }
}

pub(crate) fn utf8<'a>(t: &'a Term, what: &'static str) -> Result<&'a str, Value> {
    std::str::from_utf8(binary(t, what)?).map_err(|_| bad_argument(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_core::aggregate::AggregatorConfig;
    use tally_core::parse::parse_all;
    use tally_interop::panics::panic_value;
    use tally_interop::port::port_error;

    fn reply(id: i128, value: Value) -> Value {
        Value::Tuple(vec![Value::Int(id), value])
    }

    fn request(id: i128, op: &'static str, args: Vec<Value>) -> Vec<u8> {
        tally_interop::etf::encode(&Value::Tuple(vec![
            Value::Int(id),
            Value::Atom(op),
            Value::Tuple(args),
        ]))
        .unwrap()
    }

    #[test]
    fn answers_with_the_request_id() {
        let v = Engine::default().handle_frame(&request(7, "meter_unit", vec![Value::binary("requests")]));
        assert_eq!(
            v,
            Value::Tuple(vec![Value::Int(7), Value::ok(Value::some(Value::Atom("count")))])
        );
    }

    #[test]
    fn unknown_and_malformed_requests_get_typed_errors() {
        let mut e = Engine::default();
        assert_eq!(
            e.handle_frame(&request(3, "nope", vec![])),
            reply(3, port_error("unknown_request", "nope/0"))
        );
        let v = e.handle_frame(b"garbage");
        assert!(matches!(v, Value::Tuple(ref t) if t[0] == Value::Int(0)));
        assert_eq!(
            e.handle_frame(&request(4, "aggregator_counters", vec![Value::Int(99)])),
            reply(4, Value::error(bad_argument("a live aggregator handle")))
        );
    }

    /// An `AggregatorConfig` with hourly windows, dedup, and no special meters.
    fn hourly_config() -> Value {
        hourly_config_with_gap_cap(1000)
    }

    /// The same with the given gauge gap cap (milliseconds).
    fn hourly_config_with_gap_cap(gap_cap_ms: i128) -> Value {
        Value::record(
            "aggregator_config",
            vec![
                Value::Atom("hour"),
                Value::Atom("true"),
                Value::List(vec![]),
                Value::List(vec![]),
                Value::List(vec![]),
                Value::Int(gap_cap_ms),
            ],
        )
    }

    #[test]
    fn handles_live_until_released() {
        let mut e = Engine::default();
        let created = e.handle_frame(&request(1, "aggregator_new", vec![hourly_config()]));
        assert_eq!(created, reply(1, Value::ok(Value::Int(1))));
        let counters = e.handle_frame(&request(2, "aggregator_counters", vec![Value::Int(1)]));
        assert_eq!(
            counters,
            reply(
                2,
                Value::ok(Value::record(
                    "counters",
                    vec![Value::Int(0), Value::Int(0), Value::Int(0)]
                ))
            )
        );
        assert_eq!(
            e.handle_frame(&request(3, "release", vec![Value::Int(1)])),
            reply(3, Value::ok(Value::nil()))
        );
        assert_eq!(
            e.handle_frame(&request(4, "release", vec![Value::Int(1)])),
            reply(4, Value::error(bad_argument("a live handle")))
        );
    }

    #[test]
    fn checkpoints_go_through_files() {
        let mut e = Engine::default();
        assert_eq!(
            e.handle_frame(&request(1, "aggregator_new", vec![hourly_config()])),
            reply(1, Value::ok(Value::Int(1)))
        );
        let dir = std::env::temp_dir().join(format!("tally-port-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a1").to_string_lossy().into_owned();
        let saved = e.handle_frame(&request(
            2,
            "aggregator_export_to",
            vec![Value::Int(1), Value::binary(&path)],
        ));
        assert!(
            matches!(saved, Value::Tuple(ref t) if matches!(t[1], Value::Tuple(ref r) if r[0] == Value::Atom("ok") && matches!(r[1], Value::Int(n) if n > 0)))
        );
        let restored = e.handle_frame(&request(3, "aggregator_restore_from", vec![Value::binary(&path)]));
        assert_eq!(restored, reply(3, Value::ok(Value::Int(2))));
        let missing = e.handle_frame(&request(
            4,
            "aggregator_restore_from",
            vec![Value::binary("/nonexistent/x")],
        ));
        assert!(matches!(missing, Value::Tuple(ref t) if t[1] != Value::ok(Value::nil())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn ok_value(v: Value) -> Value {
        match v {
            Value::Tuple(mut t) if t.len() == 2 => match t.remove(1) {
                Value::Tuple(mut r) if r.len() == 2 && r[0] == Value::Atom("ok") => r.remove(1),
                other => panic!("not ok: {other:?}"),
            },
            other => panic!("not a reply: {other:?}"),
        }
    }

    fn jsonl(first: u32, n: u32) -> Vec<u8> {
        (first..first + n)
            .map(|i| {
                format!(
                    "{{\"id\":\"e{i}\",\"source\":\"s\",\"subject\":\"c{}\",\"time\":\"2026-10-01T00:00:00Z\",\
                     \"data\":{{\"resource\":\"r\",\"meter\":\"requests\",\"value\":{i}}}}}\n",
                    i % 11
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    fn recipe(chunk: &[u8], shards: i128, index: i128) -> Vec<Value> {
        vec![
            Value::Atom("json_lines"),
            Value::record(
                "parser_options",
                vec![
                    Value::Int(1 << 20),
                    Value::Atom("none"),
                    Value::Atom("bucket_owner"),
                    Value::Atom("true"),
                ],
            ),
            Value::Int(shards),
            Value::Int(index),
            Value::Binary(chunk.to_vec()),
        ]
    }

    /// Ingests `chunk` into 3 shards; returns the batch keys.
    fn ingest(e: &mut Engine, id: i128, chunk: &[u8]) -> Vec<Value> {
        let mut args = recipe(chunk, 3, 0);
        args.remove(3);
        let got = ok_value(e.handle_frame(&request(id, "ingest_chunk", args)));
        match got {
            Value::Tuple(t) => match &t[1] {
                Value::List(keys) => keys.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn apply(e: &mut Engine, id: i128, agg: i128, key: &Value, chunk: &[u8], index: i128) -> Value {
        let mut args = vec![Value::Int(agg), key.clone()];
        args.extend(recipe(chunk, 3, index));
        e.handle_frame(&request(id, "aggregator_apply_batch", args))
    }

    #[test]
    fn evicted_and_stale_batches_are_made_again_from_their_recipe() {
        let (a, b) = (jsonl(0, 300), jsonl(300, 300));
        let mut want = Aggregator::new(AggregatorConfig {
            gauge_gap_cap_ms: 172_800_000,
            rate_meters: vec![],
            gauge_meters: vec![],
            unique_meters: vec![],
            ..AggregatorConfig::default()
        });
        for chunk in [&a, &b] {
            let (parsed, _) = parse_all(Format::JsonLines, ParserOptions::default(), chunk);
            want.apply_all(&parsed.events);
        }
        let mut e = Engine {
            max_batch_bytes: 4096,
            ..Engine::default()
        };
        let config = hourly_config_with_gap_cap(172_800_000);
        let agg = match ok_value(e.handle_frame(&request(1, "aggregator_new", vec![config]))) {
            Value::Int(h) => h,
            other => panic!("{other:?}"),
        };
        let old = ingest(&mut e, 2, &a);
        let new = ingest(&mut e, 3, &b);
        // The second chunk's batches pushed the first's out of 4 KiB.
        assert!(e.evicted.len() >= 3, "{} evicted", e.evicted.len());
        for (i, key) in old.iter().enumerate() {
            ok_value(apply(&mut e, 10, agg, key, &a, i as i128));
        }
        // A key of an earlier process (another session) is made again, never looked up.
        let stale = match &new[0] {
            Value::Tuple(t) => Value::Tuple(vec![Value::Int(e.session as i128 ^ 1), t[1].clone()]),
            other => panic!("{other:?}"),
        };
        ok_value(apply(&mut e, 11, agg, &stale, &b, 0));
        for (i, key) in new.iter().enumerate().skip(1) {
            ok_value(apply(&mut e, 12, agg, key, &b, i as i128));
        }
        // Applied once: the batch is gone (and the evicted one too).
        assert_eq!(
            apply(&mut e, 13, agg, &old[0], &a, 0),
            reply(13, Value::error(batch_not_applied()))
        );
        assert_eq!(
            apply(&mut e, 14, agg, &old[0], &a, 3),
            reply(
                14,
                Value::error(bad_argument("a shard index below the shard count"))
            )
        );
        let got = &e.aggregators[&(agg as u64)];
        assert_eq!(got.counters(), want.counters());
        assert!(got.export() == want.export(), "the port counted other events");
        assert!(
            e.batches.len() <= 1 && e.batch_order.len() <= 3,
            "{:?}",
            e.batch_order
        );
    }

    /// A key alone applies a batch this process holds; one it does not
    /// (evicted, or of an earlier process) is `batch_not_held`, and is made
    /// from its recipe when the caller sends it then.
    #[test]
    fn a_held_batch_is_applied_by_its_key_alone() {
        let (a, b) = (jsonl(0, 300), jsonl(300, 300));
        let mut e = Engine {
            max_batch_bytes: 4096,
            ..Engine::default()
        };
        let config = hourly_config_with_gap_cap(172_800_000);
        let agg = match ok_value(e.handle_frame(&request(1, "aggregator_new", vec![config]))) {
            Value::Int(h) => h,
            other => panic!("{other:?}"),
        };
        let by_key = |e: &mut Engine, id: i128, key: &Value| {
            e.handle_frame(&request(
                id,
                "aggregator_apply_batch",
                vec![Value::Int(agg), key.clone()],
            ))
        };
        let old = ingest(&mut e, 2, &a);
        let new = ingest(&mut e, 3, &b);
        let held = new.last().unwrap();
        ok_value(by_key(&mut e, 4, held));
        assert_eq!(
            by_key(&mut e, 5, &old[0]),
            reply(5, Value::error(Value::Atom("batch_not_held")))
        );
        ok_value(apply(&mut e, 6, agg, &old[0], &a, 0)); // then with its recipe
        let stale = match &new[0] {
            Value::Tuple(t) => Value::Tuple(vec![Value::Int(e.session as i128 ^ 1), t[1].clone()]),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            by_key(&mut e, 7, &stale),
            reply(7, Value::error(Value::Atom("batch_not_held")))
        );
        // Applied once: by its key alone too.
        assert_eq!(
            by_key(&mut e, 8, held),
            reply(8, Value::error(batch_not_applied()))
        );
    }

    /// Every request the operation table gives the port is answered (with
    /// a value or an error about its arguments), and a name or an arity
    /// the table does not give is `unknown_request`.
    #[test]
    fn the_tables_requests_and_no_others_are_answered() {
        use tally_interop::table::Port;
        let unknown = |v: &Value| {
            matches!(v, Value::Tuple(t) if matches!(&t[1], Value::Tuple(r)
                if r[0] == Value::Atom("error") && matches!(&r[1], Value::Tuple(e) if e[0] == Value::Atom("unknown_request"))))
        };
        let ops = tally_core::operations::OPERATIONS;
        assert!(ops.iter().filter(|o| o.port != Port::No).count() >= 30);
        for o in ops
            .iter()
            .filter(|o| o.port != Port::No && o.name != "panic_for_test")
        {
            let args = vec![Value::Int(0); o.args.len()];
            let got = Engine::default().handle_frame(&request(1, o.name, args));
            assert!(!unknown(&got), "{}: {got:?}", o.name);
            let args = vec![Value::Int(0); o.args.len() + 6];
            let got = Engine::default().handle_frame(&request(1, o.name, args));
            assert!(unknown(&got), "{} with 6 more arguments: {got:?}", o.name);
        }
        assert!(unknown(&Engine::default().handle_frame(&request(
            1,
            "aggregator_frobnicate",
            vec![]
        ))));
    }

    #[test]
    fn a_panic_is_an_error_reply() {
        let v = Engine::default().handle_frame(&request(5, "panic_for_test", vec![Value::Atom("work")]));
        assert_eq!(v, reply(5, panic_value("deliberate panic in the work")));
    }
}
