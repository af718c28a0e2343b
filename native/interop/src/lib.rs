//! Interop between Rust and Gleam on the BEAM.
//!
//! Gleam on Erlang has fixed shapes for its values: a custom type
//! `Usage(a, b)` is the tuple `{usage, A, B}`, `Option` is `{some, X}` /
//! `none`, `Result` is `{ok, X}` / `{error, E}`, `Nil` is `nil`, `String` is a
//! UTF-8 binary. This crate describes Rust values in those shapes once
//! ([`Value`], [`IntoGleam`]) and encodes them two ways:
//!
//! * as rustler terms inside a NIF (feature `nif`, module [`nif`]);
//! * as External Term Format for ports ([`etf`]), framed `{packet,4}` ([`framing`]).
//!
//! So a NIF and a port built on it return the very same terms.
//!
//! Atoms are only ever made from `&'static str` written in the code: a
//! [`Value`] cannot carry an atom built from input data.
//!
//! ```
//! use tally_interop::{IntoGleam, Value};
//! let v = Some(3i64).into_gleam();
//! assert_eq!(v, Value::Tuple(vec![Value::Atom("some"), Value::Int(3)]));
//! let r: Result<(), String> = Err("bad".into());
//! assert_eq!(r.into_gleam(), Value::error(Value::binary("bad")));
//! ```

// The derives name `::tally_interop`, also from inside this crate.
extern crate self as tally_interop;

mod decode;
pub mod etf;
pub mod files;
pub mod framing;
pub mod panics;
pub mod port;
pub mod table;
mod value;

#[cfg(feature = "nif")]
pub mod nif;

pub use decode::{expected, DecodeError, FromGleam, Step};
pub use tally_interop_derive::{FromGleam, IntoGleam};
pub use value::{atoms_of, Atoms, BitArray, IntoGleam, Value};

/// The atoms of every reply's envelope: `{ok, V}`, `{error, E}`, a caught
/// panic (`{native_panic, Message}`) and an argument of the wrong shape
/// (`{bad_argument, Expected}`).
pub fn boundary_atoms(atoms: &mut Atoms) {
    for a in ["ok", "error", "native_panic", "bad_argument"] {
        atoms.add(a);
    }
}

/// Errors of the interop layer itself: malformed ETF or frames. In Gleam:
/// `BadTerm(offset, reason)`, `FrameTooLarge(size, limit)`, `IntegerRange(n)`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq, IntoGleam)]
pub enum InteropError {
    #[error("external term format: {reason} at byte {offset}")]
    BadTerm { offset: usize, reason: &'static str },
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    FrameTooLarge { size: usize, limit: usize },
    #[error("integer {0} does not fit the target encoding")]
    IntegerRange(i128),
}
