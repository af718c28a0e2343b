//! The engine's operations, once: name, arguments, result, whether a
//! success changes state, which arguments are handles, and the scheduler.
//! `make generate` (native/bindgen) writes every binding from this table:
//! erlang_src/tally_nif.erl, erlang_src/tally_port_ops.erl (the port
//! journal's classes), erlang_src/tally_atoms.erl, erlang_src/tally_values.erl
//! (engine records read and made by name), gleam_src/tally/nif.gleam,
//! gleam_src/tally/port.gleam and gleam_src/tally/aggregate.gleam, and the
//! NIF's and the port's Rust adapters; `cargo test` fails when one of them
//! is not what this table gives.
//!
//! Adding an operation: write it in the core, add its line here, its
//! pure-Gleam twin, and run `make generate`.

use tally_interop::table::{Arg, Operation, Port, Resource, Scheduler, Ty};

pub const PARSER: Resource = Resource {
    rust: "tally_core::parse::StreamParser",
    name: "parser",
    doc: "A streaming parser.",
    journaled: true,
    port_module: None,
};
pub const AGGREGATOR: Resource = Resource {
    rust: "tally_core::aggregate::Aggregator",
    name: "aggregator",
    doc: "An aggregator.",
    journaled: true,
    port_module: None,
};
/// A batch of one shard's events (`ingest_chunk`); the port keeps batches
/// with their recipe instead of journaling them (see native/port/src/ops.rs),
/// and its caller holds the key with the recipe (tally_port_batch).
pub const BATCH: Resource = Resource {
    rust: "Option<tally_core::batch::EventBatch>",
    name: "batch",
    doc: "A batch of one shard's events (see `ingest_chunk`).",
    journaled: false,
    port_module: Some("tally_port_batch"),
};
/// Any handle (the port's `release`).
pub const HANDLE: Resource = Resource {
    rust: "",
    name: "handle",
    doc: "Any handle.",
    journaled: true,
    port_module: None,
};

pub const RESOURCES: &[&Resource] = &[&PARSER, &AGGREGATOR, &BATCH];

const FORMAT: Ty = Ty::new("event.Format", "atom()").rust("tally_core::Format");
const OPTIONS: Ty = Ty::new("event.ParserOptions", "tuple()").rust("tally_core::ParserOptions");
const PARSED: Ty = Ty::new("event.Parsed", "tuple()");
const EVENTS: Ty = Ty::new("List(event.UsageEvent)", "[tuple()]").rust("Vec<tally_core::UsageEvent>");
const COUNTERS: Ty = Ty::new("usage.Counters", "tuple()");
const FEED_RESULT: Ty = Ty::new("usage.FeedResult", "tuple()");
const INVOICE: Ty = Ty::new("billing.Invoice", "tuple()");
const SHARDS: Ty = Ty::new("Int", "pos_integer()").rust("tally_core::entry::ShardCount");
/// A shard count that `close_shard` checks against the shard itself.
const SHARD_TOTAL: Ty = Ty::new("Int", "pos_integer()").rust("u32");
const COUNT: Ty = Ty::new("Int", "non_neg_integer()").rust("u32");

const fn parser(name: &'static str) -> Arg {
    Arg::handle(name, &PARSER)
}
const fn aggregator(name: &'static str) -> Arg {
    Arg::handle(name, &AGGREGATOR)
}
const fn batch() -> Arg {
    Arg::handle("batch", &BATCH)
}
const fn arg(name: &'static str, ty: Ty) -> Arg {
    Arg::new(name, ty)
}
const CHUNK: Arg = arg("chunk", Ty::BIT_ARRAY);
const FORMAT_ARG: Arg = arg("format", FORMAT);
const OPTIONS_ARG: Arg = arg("options", OPTIONS);

/// One operation with the usual defaults: on the NIF and the port's
/// generic call, reading only, on a normal scheduler.
const fn op(name: &'static str, args: &'static [Arg], result: Ty, doc: &'static str) -> Operation {
    Operation {
        name,
        doc,
        args,
        result,
        mutates: false,
        scheduler: Scheduler::Normal,
        nif: true,
        port: Port::Call,
        core: None,
        fallible: false,
        api: None,
    }
}

/// Its function in the backend-neutral API (`aggregate.<name>`) is generated.
const fn api(name: &'static str, o: Operation) -> Operation {
    Operation { api: Some(name), ..o }
}

/// The NIF and port adapters are generated: `path` does the work.
const fn core(path: &'static str, o: Operation) -> Operation {
    Operation {
        core: Some(path),
        ..o
    }
}

/// Its core function returns a `Result` (the error is a Gleam value too).
const fn fallible(o: Operation) -> Operation {
    Operation { fallible: true, ..o }
}
/// In slices on a normal scheduler (`Scheduler::Chunked`).
const fn chunked(o: Operation) -> Operation {
    Operation {
        scheduler: Scheduler::Chunked,
        ..o
    }
}

const fn dirty(o: Operation) -> Operation {
    Operation {
        scheduler: Scheduler::DirtyCpu,
        ..o
    }
}
const fn dirty_io(o: Operation) -> Operation {
    Operation {
        scheduler: Scheduler::DirtyIo,
        ..o
    }
}
const fn mutating(o: Operation) -> Operation {
    Operation { mutates: true, ..o }
}
/// A request only the port's owner sends (tally_port.erl); not in the NIF.
const fn owner_only(o: Operation) -> Operation {
    Operation {
        nif: false,
        port: Port::Owner,
        ..o
    }
}

/// The port's Rust adapter is written by hand (native/port/src/ops.rs: it
/// keeps batches with their recipe, or handles inside a record); its Gleam
/// binding is generated all the same.
const fn port_by_hand(o: Operation) -> Operation {
    Operation {
        port: Port::ByHand,
        ..o
    }
}

/// The port's request that frees a handle of any resource; not in the NIF
/// (the VM frees a NIF resource when no process holds it any more).
const fn frees(o: Operation) -> Operation {
    Operation {
        nif: false,
        port: Port::Free,
        ..o
    }
}

/// Every operation of the engine. Each names the function that does its
/// work (`core`): a core function (mostly `tally_core::entry`, where the
/// argument checks both backends make live), or `backend::<name>`, written
/// once per backend (native/nif/src/backend.rs, native/port/src/backend.rs)
/// where the work differs: what names the engine, and handles inside a
/// record.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    core("backend::engine_info", op("engine_info", &[], Ty::new("engine.EngineInfo", "tuple()"),
       "Describes the loaded engine.\n\n```gleam\nlet assert Ok(info) = nif.engine_info()\ninfo.name\n// -> \"tally_core/nif\"\n```")),
    core("tally_core::meter_unit", op("meter_unit", &[arg("meter", Ty::STRING)], Ty::new("option.Option(event.MeterUnit)", "{some, atom()} | none"),
       "The unit of a standard meter; `None` for a custom meter.\n\n```gleam\nnif.meter_unit(\"requests\")\n// -> Ok(option.Some(event.Count))\n```")),
    core("tally_core::jsonl::parse_event_line", Operation {
        scheduler: Scheduler::SplitAt { arg: 1, limit: 65536 },
        ..op("parse_event_line", &[arg("line", Ty::BIT_ARRAY)],
             Ty::new("Result(event.UsageEvent, event.RejectReason)", "{ok, tuple()} | {error, term()}"),
             "Parses one JSON Lines usage event (no line terminator).\n\n```gleam\nnif.parse_event_line(<<\"[]\">>)\n// -> Ok(Error(event.InvalidJson(column: 1, expected: \"'{'\")))\n```")
    }),
    core("tally_core::entry::parse_chunk", dirty(op("parse_chunk", &[FORMAT_ARG, OPTIONS_ARG, CHUNK], PARSED,
             "Parses one complete input (a whole file's bytes, or a self-contained batch)."))),
    core("tally_core::parse::StreamParser::new",
         mutating(op("parser_new", &[FORMAT_ARG, OPTIONS_ARG], Ty::new("{parser}", "reference()"),
                     "A streaming parser for `format`: input may arrive in chunks cut anywhere."))),
    core("tally_core::entry::parser_feed", mutating(dirty(op("parser_feed", &[parser("parser"), CHUNK], PARSED,
                      "Feeds a chunk cut anywhere to a streaming parser; returns what it completed.")))),
    core("tally_core::entry::parser_finish", mutating(dirty(op("parser_finish", &[parser("parser")], PARSED,
                      "Ends the parser's input: parses a last line without a newline.")))),
    core("tally_core::aggregate::Aggregator::new",
         mutating(op("aggregator_new", &[arg("config", Ty::new("usage.AggregatorConfig", "tuple()").rust("tally_core::aggregate::AggregatorConfig"))],
                     Ty::new("{aggregator}", "reference()"), "A new, empty aggregator."))),
    core("tally_core::entry::aggregator_feed", mutating(dirty(op("aggregator_feed", &[aggregator("aggregator"), parser("parser"), CHUNK], FEED_RESULT,
                      "Parses a chunk with `parser` straight into the aggregator.")))),
    core("tally_core::entry::aggregator_finish", mutating(dirty(op("aggregator_finish", &[aggregator("aggregator"), parser("parser")], FEED_RESULT,
                      "Ends `parser`'s stream into the aggregator (a last line without newline).")))),
    core("tally_core::entry::add_events", mutating(dirty(op("aggregator_add_events", &[aggregator("aggregator"), arg("events", EVENTS)], COUNTERS,
                      "Counts events that are already parsed.")))),
    api("counters", core("tally_core::aggregate::Aggregator::counters",
         op("aggregator_counters", &[aggregator("aggregator")], COUNTERS,
            "How many events the aggregator applied, found duplicate, and kept aside as late."))),
    api("windows", core("tally_core::entry::windows", dirty(op("aggregator_windows", &[aggregator("aggregator")], Ty::new("List(usage.WindowAggregate)", "[tuple()]"),
             "Every window, sorted by customer, resource, meter and start.")))),
    core("tally_core::entry::close_period", fallible(mutating(dirty(op("aggregator_close_period",
                      &[aggregator("aggregator"), arg("period", Ty::STRING), arg("plans_json", Ty::STRING), arg("version", COUNT)],
                      INVOICE, "Closes the period `YYYY-MM` and bills it with the plans (JSON text)."))))),
    core("tally_core::entry::close_shard", fallible(mutating(dirty(op("aggregator_close_shard",
                      &[aggregator("aggregator"), arg("period", Ty::STRING), arg("plans_json", Ty::STRING), arg("version", COUNT),
                        arg("shard", COUNT), arg("shards", SHARD_TOTAL)],
                      INVOICE,
                      "Closes the period and bills the customers of shard `shard` of `shards`\n(`tally_core::shard::shard_of`: XXH3-64 of the customer modulo `shards`)."))))),
    core("tally_core::entry::close_written", fallible(mutating(dirty(op("aggregator_close_written",
                      &[aggregator("aggregator"), arg("period", Ty::STRING), arg("plans_json", Ty::STRING), arg("version", COUNT),
                        arg("shard", COUNT), arg("shards", SHARD_TOTAL)],
                      Ty::new("billing.WrittenInvoice", "tuple()"),
                      "`aggregator_close_shard` with the lines in their written form (the\nbytes `tally bill` prints), cut into outbox batches of at most 5000\nlines (closed at 4 MiB) with their message ids, and each customer's\ntotal: no line becomes a term."))))),
    core("tally_core::entry::close_round", fallible(mutating(dirty(op("aggregator_close_round",
                      &[aggregator("aggregator"), arg("period", Ty::STRING), arg("plans_json", Ty::STRING), arg("version", COUNT),
                        arg("shard", COUNT), arg("shards", SHARD_TOTAL), arg("from", Ty::new("option.Option(String)", "{some, binary()} | none").rust("Option<String>")),
                        arg("max_lines", COUNT)],
                      Ty::new("billing.WrittenRound", "tuple()"),
                      "One round of `aggregator_close_written` (the period closed, one shard\nbilled): the lines of the customers from `from` on (`None`: the first),\nstopping before the customer whose lines would take the round past\n`max_lines` (1 or more); that customer is `next`, where the next round\nstarts (`None`: the last round). Between rounds the aggregator keeps a\ncursor of 40 bytes a series of the shard, not the period's lines."))))),
    api("take_late", core("tally_core::aggregate::Aggregator::take_late",
         chunked(mutating(op("aggregator_take_late", &[aggregator("aggregator")], EVENTS,
                     "Events that arrived for closed periods since the last call (each handed over once)."))))),
    api("reset", core("tally_core::aggregate::Aggregator::reset", mutating(dirty(op("aggregator_reset", &[aggregator("aggregator")], Ty::NIL, "Forgets everything counted (windows, periods, event ids, late events,\ncounters) and keeps the configuration: the same as a new aggregator.\nDirty: freeing a big state takes over 1 ms."))))),
    api("export", core("tally_core::aggregate::Aggregator::export", dirty(op("aggregator_export", &[aggregator("aggregator")], Ty::BIT_ARRAY,
             "The whole state as bytes (canonical: equal aggregators, equal bytes,\nwhichever backend made them); they restore on any backend.")))),
    core("tally_core::aggregate::Aggregator::restore", fallible(mutating(dirty(op("aggregator_restore", &[arg("bytes", Ty::BIT_ARRAY)], Ty::new("{aggregator}", "reference()"),
                      "An aggregator from `aggregator_export`'s bytes; refuses damaged ones."))))),
    core("tally_core::aggregate::Aggregator::merge", fallible(mutating(dirty(op("aggregator_merge", &[aggregator("into"), aggregator("from")], Ty::NIL,
                      "Adds `from`'s counts into `into`."))))),
    core("tally_core::entry::shard_of", op("shard_of", &[arg("customer", Ty::STRING), arg("shards", SHARDS)], COUNT,
       "The shard (0-based) of `customer` among `shards` (1 or more): the one\ncustomer-to-shard rule (XXH3-64 of the customer modulo the count).")),
    core("backend::ingest_chunk", fallible(port_by_hand(dirty(op("ingest_chunk", &[FORMAT_ARG, OPTIONS_ARG, arg("shards", SHARDS), CHUNK],
                          Ty::new("event.Ingested({batch})", "tuple()"),
                          "Parses a whole chunk and partitions its events by shard, on a dirty\nscheduler: one batch per shard, whose events stay in Rust (40 bytes\neach plus their texts) until `aggregator_apply_batch` counts them."))))),
    core("tally_core::entry::apply_batch", fallible(port_by_hand(mutating(dirty(op("aggregator_apply_batch", &[aggregator("aggregator"), batch()], COUNTERS,
                                   "Counts a batch into the aggregator, once (the batch is emptied; a second\ncall is `BadArgument(\"a batch not applied yet\")`).")))))),
    core("tally_core::entry::batch_events", fallible(port_by_hand(dirty(op("batch_events", &[batch()], EVENTS, "A batch's events, copied out for inspection and tests."))))),
    core("tally_core::entry::save", fallible(dirty_io(op("aggregator_save", &[aggregator("aggregator"), arg("path", Ty::STRING), arg("extra", Ty::BIT_ARRAY)], COUNT,
                "Writes the aggregator's snapshot and `extra` to `path` atomically\n(temporary file, fsync, rename, directory fsync; mode 0600), streaming\nfrom Rust on a dirty I/O scheduler. Returns the bytes written.")))),
    core("backend::aggregator_load", fallible(port_by_hand(mutating(dirty_io(op("aggregator_load", &[arg("path", Ty::STRING)],
                                      Ty::new("usage.Loaded({aggregator})", "{loaded, reference(), binary()}"),
                                      "Reads a snapshot back, refusing a damaged one\n(`AggregateFailed(BadExport(..))`).")))))),
    core("backend::panic_for_test", port_by_hand(op("panic_for_test", &[arg("stage", Ty::new("engine.PanicStage", "work | encode").rust("tally_core::entry::PanicStage"))], Ty::NIL,
                    "Panics inside Rust on purpose; returns `Error(NativePanic(..))`. Exists\nso tests can prove a panic never takes the VM down."))),
    core("tally_core::parse::StreamParser::export_state", owner_only(op("parser_export", &[parser("parser")], Ty::BIT_ARRAY, "A parser's state, for the owner's checkpoints."))),
    core("tally_core::entry::parser_import", fallible(owner_only(mutating(op("parser_import", &[arg("bytes", Ty::BIT_ARRAY)], Ty::new("{parser}", "integer()"),
                           "A parser from `parser_export`'s bytes."))))),
    core("backend::aggregator_export_to", fallible(owner_only(op("aggregator_export_to", &[aggregator("aggregator"), arg("path", Ty::STRING)], COUNT,
                  "Writes the aggregator's export to a checkpoint file; returns its size.")))),
    core("backend::aggregator_restore_from", fallible(owner_only(op("aggregator_restore_from", &[arg("path", Ty::STRING)], Ty::new("{aggregator}", "integer()"),
                  "An aggregator from a checkpoint file.")))),
    core("backend::release", fallible(frees(mutating(op("release", &[Arg::handle("handle", &HANDLE)], Ty::NIL, "Frees a parser or an aggregator."))))),
];

/// Atoms of replies that no derived type lists: `Nil` replies, the port's
/// own errors (`batch_not_held`: the port no longer holds a batch), records that hold handles (`ingested`, `loaded`), file errors,
/// `panic_for_test`'s stages, and two kept from the old list (`empty`, `usage`).
#[rustfmt::skip]
pub const HAND_ATOMS: &[&str] = &[
    "nil", "bad_request", "unknown_request", "checkpoint_failed", "snapshot_failed",
    "ingested", "loaded", "encode", "work", "empty", "usage",
    "batch_not_held",
];

/// Every atom the engine can put in a reply (erlang_src/tally_atoms.erl is
/// written from it): the atoms the core's types list through their derives
/// ([`crate::gleam_shapes::engine_atoms`]) and [`HAND_ATOMS`].
pub fn vocabulary() -> Vec<&'static str> {
    let mut atoms = crate::gleam_shapes::engine_atoms();
    atoms.extend_from_slice(HAND_ATOMS);
    atoms.sort_unstable();
    atoms.dedup();
    atoms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_handles_known() {
        let mut names: Vec<_> = OPERATIONS.iter().map(|o| o.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            OPERATIONS.len(),
            "an operation is in the table twice"
        );
        for o in OPERATIONS {
            if let Some(r) = o.creates() {
                assert!(
                    RESOURCES.iter().any(|k| k.name == r),
                    "{}: unknown resource {r}",
                    o.name
                );
            }
        }
    }

    fn atoms_in(v: &tally_interop::Value, out: &mut Vec<&'static str>) {
        use tally_interop::Value;
        match v {
            Value::Atom(a) => out.push(a),
            Value::Tuple(items) | Value::List(items) => items.iter().for_each(|i| atoms_in(i, out)),
            Value::Map(pairs) => pairs.iter().for_each(|(k, x)| {
                atoms_in(k, out);
                atoms_in(x, out)
            }),
            _ => {}
        }
    }

    /// The replies of real operations (every parser on good and bad input,
    /// windows, counters, an invoice and its written form, each kind of
    /// error) hold only atoms of the vocabulary tally_atoms.erl is written
    /// from: what used to be checked by scanning the Rust sources.
    #[test]
    fn every_atom_a_reply_holds_is_in_the_vocabulary() {
        use crate::aggregate::{parse_period, Aggregator, AggregatorConfig};
        use crate::billing::{bill, Plans};
        use crate::gleam_shapes::{parsed, window_aggregate};
        use crate::{parse_all, Format, ParserOptions};
        use tally_interop::{IntoGleam, Value};

        let jsonl = "{\"id\":\"e1\",\"source\":\"s\",\"subject\":\"acme\",\"time\":\"2026-10-01T00:00:00Z\",\
                     \"data\":{\"resource\":\"r\",\"meter\":\"requests\",\"value\":20}}\n\
                     {bad\n[]\n{\"id\":1}\n\"x\"\n{\"id\":\"e2\",\"time\":\"nope\"}\n";
        let inputs: [(Format, &[u8]); 4] = [
            (Format::JsonLines, &[jsonl.as_bytes(), b"\xff\n"].concat()),
            (
                Format::StorageCsv,
                b"a,b\nx\ncustomer,resource,bytes,time\nc,r,-1,2026\n",
            ),
            (Format::S3AccessLog, b"x y\n"),
            (Format::RgwUsage, b"{\"entries\": 1}"),
        ];
        let mut values: Vec<Value> = Vec::new();
        let mut events = Vec::new();
        for (format, input) in inputs {
            let (batch, stats) = parse_all(format, ParserOptions::default(), input);
            events.extend(batch.events.iter().cloned());
            values.push(parsed(batch, stats));
        }
        let config = AggregatorConfig {
            rate_meters: vec!["requests".into()],
            ..AggregatorConfig::default()
        };
        values.push(config.clone().into_gleam());
        values.push(ParserOptions::default().into_gleam());
        let mut agg = Aggregator::new(config);
        agg.apply_all(&events);
        values.extend(
            agg.windows()
                .into_iter()
                .map(|(k, s, st)| window_aggregate(&k, s, st)),
        );
        values.push(agg.counters().into_gleam());
        let plans = Plans::from_json(
            "{\"plans\": {\"std\": {\"currency\": \"EUR\", \"lines\": [{\"meter\": \"requests\", \
             \"measure\": \"total\", \"pricing\": {\"model\": \"flat\", \"unit_price\": \"1\"}}]}}, \
             \"customers\": {\"acme\": \"std\"}}",
        )
        .unwrap();
        let usage = agg.close_period(parse_period("2026-10").unwrap());
        let invoice = bill(&usage, &plans, 1).unwrap();
        values.push(crate::written::write_invoice(&invoice).into_gleam());
        values.push(invoice.into_gleam());
        values.push(Plans::from_json("{}").map(|_| ()).into_gleam());
        let unknown = Plans::from_json("{\"plans\": {}, \"customers\": {\"acme\": \"gold\"}}");
        values.push(unknown.map(|_| ()).into_gleam());
        values.push(Aggregator::restore(b"not an export").map(|_| ()).into_gleam());
        let other = Aggregator::new(AggregatorConfig::default());
        values.push(agg.merge(&other).into_gleam());
        values.push(crate::engine_info("test").into_gleam());
        for meter in ["requests", "bytes_out", "custom"] {
            values.push(crate::meter_unit(meter).into_gleam());
        }
        let mut found = Vec::new();
        values.iter().for_each(|v| atoms_in(v, &mut found));
        found.sort_unstable();
        found.dedup();
        assert!(
            found.len() > 35,
            "only {} atoms: the replies above are too few",
            found.len()
        );
        let vocabulary = vocabulary();
        let missing: Vec<_> = found.iter().filter(|a| !vocabulary.contains(a)).collect();
        assert!(missing.is_empty(), "atoms not in the vocabulary: {missing:?}");
    }
}
