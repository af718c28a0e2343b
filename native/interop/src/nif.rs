//! Encoding [`Value`]s as rustler terms, and NIF helpers for Gleam shapes.
//!
//! ```ignore
//! #[rustler::nif]
//! fn parse(env: Env, line: Binary) -> Term {
//!     tally_interop::nif::guarded(env, || core::parse(line.as_slice()).into_gleam())
//! }
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};

use rustler::types::binary::NewBinary;
use rustler::types::tuple::make_tuple;
use rustler::{Atom, Encoder, Env, NifResult, Term};

use crate::{IntoGleam, Value};

impl Encoder for Value {
    fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match try_encode(self, env) {
            Ok(term) => term,
            // Only reachable for atoms rustler refuses (over 255 characters),
            // which code never writes; still, never abort the VM over it.
            Err(_) => Value::error(Value::record("encode_failed", vec![])).encode_atoms_only(env),
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
        Value::Int(i) => match i64::try_from(*i) {
            Ok(small) => small.encode(env),
            Err(_) => i.encode(env), // a bignum on the BEAM
        },
        Value::BigUint(u) => u.encode(env),
        Value::Float(f) => f.encode(env),
        Value::Binary(bytes) => {
            let mut bin = NewBinary::new(env, bytes.len());
            bin.as_mut_slice().copy_from_slice(bytes);
            Term::from(bin)
        }
        Value::Tuple(items) => {
            let terms = items
                .iter()
                .map(|v| try_encode(v, env))
                .collect::<NifResult<Vec<_>>>()?;
            make_tuple(env, &terms)
        }
        Value::List(items) => {
            let terms = items
                .iter()
                .map(|v| try_encode(v, env))
                .collect::<NifResult<Vec<_>>>()?;
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

/// Runs `work` and encodes its result: `Ok(v)` as `{ok, V}`, `Err(e)` as
/// `{error, E}`. A panic in either the work or the encoding becomes the Gleam
/// error `{error, {native_panic, Message}}` instead of an exception or a VM
/// abort. On the Gleam side every call is thus a `Result(T, EngineError)`.
pub fn guarded<'a, T: Encoder>(env: Env<'a>, work: impl FnOnce() -> Result<T, Value>) -> Term<'a> {
    let outcome = catch_unwind(AssertUnwindSafe(|| match work() {
        Ok(v) => {
            let term = v.encode(env);
            Ok(rustler::types::tuple::make_tuple(
                env,
                &[rustler::types::atom::ok().encode(env), term],
            ))
        }
        Err(e) => try_encode(&Value::error(e), env),
    }));
    match outcome {
        Ok(Ok(term)) => term,
        Ok(Err(_)) => panic_value("result could not be encoded").encode(env),
        Err(payload) => panic_value(&panic_message(payload.as_ref())).encode(env),
    }
}

/// Copies a NIF argument into an owned [`crate::etf::Term`], for [`crate::FromGleam`].
/// Atoms become text; no atom is created.
pub fn to_term(t: Term) -> NifResult<crate::etf::Term> {
    use crate::etf::Term as T;
    use rustler::TermType;
    Ok(match t.get_type() {
        TermType::Atom => T::Atom(t.atom_to_string()?),
        TermType::Binary => T::Binary(t.decode::<rustler::Binary>()?.as_slice().to_vec()),
        // Small integers first (the common case); bignums up to 128 bits.
        TermType::Integer => match t.decode::<i64>() {
            Ok(i) => T::Int(i as i128),
            Err(_) => match t.decode::<i128>() {
                Ok(i) => T::Int(i),
                Err(_) => T::BigUint(t.decode::<u128>()?),
            },
        },
        TermType::Float => T::Float(t.decode::<f64>()?),
        TermType::Tuple => T::Tuple(
            rustler::types::tuple::get_tuple(t)?
                .into_iter()
                .map(to_term)
                .collect::<NifResult<_>>()?,
        ),
        TermType::List => T::List(
            t.decode::<rustler::ListIterator>()?
                .map(to_term)
                .collect::<NifResult<_>>()?,
        ),
        TermType::Map => {
            let mut pairs = Vec::new();
            for (k, v) in t.decode::<rustler::MapIterator>()? {
                pairs.push((to_term(k)?, to_term(v)?));
            }
            T::Map(pairs)
        }
        _ => return Err(rustler::Error::BadArg),
    })
}

pub use crate::panics::{panic_message, panic_value};

/// Decodes a NIF argument as a Gleam value of type `T`; a term of the wrong
/// shape gives the Gleam error `BadArgument(expected)`.
pub fn from_gleam<T: crate::FromGleam>(t: Term) -> Result<T, Value> {
    let term = to_term(t).map_err(|_| crate::DecodeError::new("a Gleam value").into_gleam())?;
    T::from_gleam(&term).map_err(crate::IntoGleam::into_gleam)
}
