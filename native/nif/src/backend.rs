//! The work that is the NIF's own (`backend::<name>` in the operation
//! table): the engine's name, and results that hold new resources inside a
//! record (rustler `Encoder`s, returned as they are).

use std::sync::Mutex;

use rustler::types::atom::Atom;
use rustler::types::tuple::make_tuple;
use rustler::{Encoder, Env, NewBinary, ResourceArc, Term};
use tally_core::entry::{PanicStage, ShardCount};
use tally_core::parse::ParserOptions;
use tally_core::Format;
use tally_interop::{IntoGleam, Value};

use crate::{AggregatorRef, BatchRef};

pub fn engine_info() -> Value {
    tally_core::engine_info("nif").into_gleam()
}

/// `{ingested, Batches, Rejects, Stats}` with the batches as resources.
pub struct Ingested(Vec<ResourceArc<BatchRef>>, Value, Value);

impl Encoder for Ingested {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        let tag = Atom::from_str(env, "ingested").expect("an atom");
        make_tuple(
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

/// Parses a whole chunk and partitions its events by shard, one batch
/// resource per shard (`tally_core::entry::ingest`).
pub fn ingest_chunk(
    format: Format,
    options: ParserOptions,
    shards: ShardCount,
    chunk: &[u8],
) -> Result<Ingested, Value> {
    let got = tally_core::entry::ingest(format, options, shards, chunk)?;
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
}

/// `{loaded, Aggregator, Extra}`.
pub struct Loaded(ResourceArc<AggregatorRef>, Vec<u8>);

impl Encoder for Loaded {
    fn encode<'b>(&self, env: Env<'b>) -> Term<'b> {
        let tag = Atom::from_str(env, "loaded").expect("an atom");
        let mut bin = NewBinary::new(env, self.1.len());
        bin.as_mut_slice().copy_from_slice(&self.1);
        make_tuple(env, &[tag.encode(env), self.0.encode(env), Term::from(bin)])
    }
}

/// Reads a snapshot saved by `aggregator_save` (`tally_core::entry::load`).
pub fn aggregator_load(path: &str) -> Result<Loaded, Value> {
    let (agg, extra) = tally_core::entry::load(path)?;
    Ok(Loaded(ResourceArc::new(AggregatorRef(Mutex::new(agg))), extra))
}

/// Encoding this value panics: lets the tests prove that a panic while
/// encoding a result is caught too.
pub struct PanicsWhenEncoded;

impl Encoder for PanicsWhenEncoded {
    fn encode<'a>(&self, _env: Env<'a>) -> Term<'a> {
        panic!("deliberate panic while encoding")
    }
}

/// Panics on purpose (in the work, or while encoding its result), so that
/// tests can prove a Rust panic reaches Gleam as `NativePanic` and the VM
/// carries on.
pub fn panic_for_test(stage: PanicStage) -> PanicsWhenEncoded {
    match stage {
        PanicStage::Work => panic!("deliberate panic in the work"),
        PanicStage::Encode => PanicsWhenEncoded,
    }
}
