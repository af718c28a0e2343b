//! Encoding [`Value`]s as rustler terms, and NIF helpers for Gleam shapes.
//!
//! ```ignore
//! #[rustler::nif]
//! fn parse(env: Env, line: Binary) -> Term {
//!     tally_interop::nif::guarded(env, || core::parse(line.as_slice()).into_gleam())
//! }
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use rustler::types::tuple::make_tuple;
use rustler::types::binary::NewBinary;
use rustler::{Atom, Encoder, Env, NifResult, Term};

use crate::Value;

impl Encoder for Value {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match try_encode(self, env) {
            Ok(term) => term,
            // Only reachable for atoms rustler refuses (over 255 characters),
            // which code never writes; still, never abort the VM over it.
            Err(_) => Value::error(Value::record("encode_failed", vec![]))
                .encode_atoms_only(env),
        }
    }
}

impl Value {
    fn encode_atoms_only<'a>(&self, env: Env<'a>) -> Term<'a> {
        try_encode(self, env).unwrap_or_else(|_| rustler::types::atom::error().encode(env))
    }
}

fn try_encode<'a>(value: &Value, env: Env<'a>) -> NifResult<Term<'a>> {
    Ok(match value {
        Value::Atom(a) => Atom::from_str(env, a)?.encode(env),
        Value::Int(i) => {
            if let Ok(v) = i64::try_from(*i) {
                v.encode(env)
            } else if let Ok(v) = u64::try_from(*i) {
                v.encode(env)
            } else {
                return Err(rustler::Error::BadArg);
            }
        }
        Value::Float(f) => f.encode(env),
        Value::Binary(bytes) => {
            let mut bin = NewBinary::new(env, bytes.len());
            bin.as_mut_slice().copy_from_slice(bytes);
            Term::from(bin)
        }
        Value::Tuple(items) => {
            let terms = items.iter().map(|v| try_encode(v, env)).collect::<NifResult<Vec<_>>>()?;
            make_tuple(env, &terms)
        }
        Value::List(items) => {
            let terms = items.iter().map(|v| try_encode(v, env)).collect::<NifResult<Vec<_>>>()?;
            terms.encode(env)
        }
        Value::Map(pairs) => {
            let mut terms = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                terms.push((try_encode(k, env)?, try_encode(v, env)?));
            }
            Term::map_from_pairs(env, &terms)?
        }
    })
}

/// Runs `work` and encodes its result as `{ok, Value}`; a panic in either
/// becomes the Gleam error `{error, {native_panic, Message}}` instead of an
/// exception or a VM abort. On the Gleam side every call is thus a
/// `Result(T, EngineError)`.
pub fn guarded<'a>(env: Env<'a>, work: impl FnOnce() -> Value) -> Term<'a> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let value = Value::ok(work());
        try_encode(&value, env)
    }));
    match outcome {
        Ok(Ok(term)) => term,
        Ok(Err(_)) => panic_value("result could not be encoded").encode(env),
        Err(payload) => panic_value(&panic_message(payload.as_ref())).encode(env),
    }
}

pub use crate::panics::{panic_message, panic_value};

/// Decodes a Gleam `Option(a)` (`{some, X}` or `none`) into a Rust `Option`,
/// comparing atoms against existing ones only: nothing is created from input.
pub fn decode_option<'a, T: rustler::Decoder<'a>>(term: Term<'a>) -> NifResult<Option<T>> {
    if term.is_atom() {
        return if term.atom_to_string()? == "none" { Ok(None) } else { Err(rustler::Error::BadArg) };
    }
    let items = rustler::types::tuple::get_tuple(term)?;
    match items.as_slice() {
        [tag, inner] if tag.is_atom() && tag.atom_to_string()? == "some" => Ok(Some(inner.decode()?)),
        _ => Err(rustler::Error::BadArg),
    }
}
