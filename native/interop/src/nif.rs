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

// ---------------------------------------------------------------- chunked

/// Longest a slice of a chunked reply runs before it yields: half a time
/// slice, so that with what the process did before the call its schedule
/// stays under 1 ms.
const SLICE: std::time::Duration = std::time::Duration::from_micros(500);
/// Items encoded between two looks at the clock.
const ITEMS_PER_LOOK: usize = 32;

/// What is left of a chunked reply between its slices: the items not
/// encoded yet, taken from the back, and the NIF's name for the scheduler.
pub struct Chunks {
    name: &'static std::ffi::CStr,
    rest: std::sync::Mutex<Box<dyn Iterator<Item = Value> + Send>>,
}

impl rustler::Resource for Chunks {}

/// Registers [`Chunks`]; call it from the library's `load` when it has a
/// chunked operation (the generated `chunked` calls need it).
pub fn register(env: Env) -> bool {
    env.register::<Chunks>().is_ok()
}

/// A chunked NIF (`Scheduler::Chunked` in the table): runs `work` (small,
/// bounded: it must not take 1 ms itself), then returns its list as
/// `{ok, List}` built in slices of about 1 ms on the normal scheduler. The
/// items are encoded from the back, each put at the head of the list built
/// so far, so the list is whole and in order at the end with no reversal;
/// between slices the NIF reschedules itself (`enif_schedule_nif`) with
/// what is left and the list so far, and yields its scheduler to other
/// processes. Errors and panics are what [`guarded`] makes of them.
///
/// rustler has no safe API for `enif_schedule_nif` (rusterlium/rustler#106,
/// #232), so this calls it through `rustler::sys`, with a continuation that
/// catches panics itself.
pub fn chunked<'a, T>(
    env: Env<'a>,
    name: &'static std::ffi::CStr,
    work: impl FnOnce() -> Result<Vec<T>, Value>,
) -> Term<'a>
where
    T: IntoGleam + Send + 'static,
{
    let items = match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(items)) => items,
        Ok(Err(e)) => return Value::error(e).encode(env),
        Err(payload) => return panic_value(&panic_message(payload.as_ref())).encode(env),
    };
    let rest: Box<dyn Iterator<Item = Value> + Send> =
        Box::new(items.into_iter().rev().map(IntoGleam::into_gleam));
    let chunks = rustler::ResourceArc::new(Chunks {
        name,
        rest: std::sync::Mutex::new(rest),
    });
    slice(env, chunks, Term::list_new_empty(env))
}

/// One slice: prepends items to `list` until they are all in (the reply) or
/// the slice's time is up (the NIF rescheduled with what is left).
fn slice<'a>(env: Env<'a>, chunks: rustler::ResourceArc<Chunks>, list: Term<'a>) -> Term<'a> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut rest = chunks.rest.lock().map_err(|_| "an earlier slice panicked")?;
        let mut list = list;
        let started = std::time::Instant::now();
        let mut last = started;
        loop {
            for _ in 0..ITEMS_PER_LOOK {
                match rest.next() {
                    Some(v) => list = list.list_prepend(v),
                    None => return Ok((list, true)),
                }
            }
            // Tell the scheduler how much of its time slice (1 ms) went since
            // the last look; yield when the process has used it all, or when
            // this slice alone has taken half of it.
            let now = std::time::Instant::now();
            let percent = (now.duration_since(last).as_micros() / 10).clamp(1, 100) as i32;
            last = now;
            if rustler::schedule::consume_timeslice(env, percent) || now.duration_since(started) >= SLICE {
                return Ok((list, false));
            }
        }
    }));
    match outcome {
        Ok(Ok((list, true))) => make_tuple(env, &[rustler::types::atom::ok().encode(env), list]),
        Ok(Ok((list, false))) => reschedule(env, chunks, list),
        Ok(Err(why)) => panic_value(why).encode(env),
        Err(payload) => panic_value(&panic_message(payload.as_ref())).encode(env),
    }
}

fn reschedule<'a>(env: Env<'a>, chunks: rustler::ResourceArc<Chunks>, list: Term<'a>) -> Term<'a> {
    let name = chunks.name;
    let args = [chunks.encode(env).as_c_arg(), list.as_c_arg()];
    // SAFETY: the arguments are terms of this env, the name a C string that
    // lives forever, and the result is this NIF's return value, as
    // enif_schedule_nif requires.
    unsafe {
        let scheduled = rustler::sys::enif_schedule_nif(
            env.as_c_arg(),
            name.as_ptr(),
            0, // a normal scheduler
            continue_chunks,
            args.len() as rustler::sys::c_int,
            args.as_ptr(),
        );
        Term::new(env, scheduled)
    }
}

/// The continuation `enif_schedule_nif` calls: the next slice.
unsafe extern "C" fn continue_chunks(
    raw_env: *mut rustler::sys::ErlNifEnv,
    argc: rustler::sys::c_int,
    argv: *const rustler::sys::ErlNifTerm,
) -> rustler::sys::ErlNifTerm {
    let lifetime = ();
    // SAFETY: called by the VM as a NIF with this env and these arguments.
    let env = unsafe { Env::new(&lifetime, raw_env) };
    let args = unsafe { std::slice::from_raw_parts(argv, argc.max(0) as usize) };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let [chunks, list] = args else {
            return panic_value("a chunked reply's state was lost").encode(env);
        };
        let (chunks, list) = unsafe { (Term::new(env, *chunks), Term::new(env, *list)) };
        match chunks.decode::<rustler::ResourceArc<Chunks>>() {
            Ok(chunks) => slice(env, chunks, list),
            Err(_) => panic_value("a chunked reply's state was lost").encode(env),
        }
    }));
    match outcome {
        Ok(term) => term.as_c_arg(),
        Err(_) => rustler::types::atom::error().encode(env).as_c_arg(),
    }
}
