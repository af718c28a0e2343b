//! Reading Gleam values back: [`FromGleam`] turns a decoded [`Term`] (from
//! ETF, or from a NIF argument through `nif::to_term`) into a Rust value,
//! so the NIF and the port share one decoder per type. Atoms are compared
//! as text: nothing is created.
//!
//! ```
//! use tally_interop::etf::Term;
//! use tally_interop::FromGleam;
//! let t = Term::Tuple(vec![Term::Atom("some".into()), Term::Int(3)]);
//! assert_eq!(Option::<i64>::from_gleam(&t), Ok(Some(3)));
//! ```

use crate::etf::Term;
use crate::{IntoGleam, Value};

/// A term that does not have the shape a Gleam type gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}")]
pub struct DecodeError {
    pub expected: &'static str,
}

impl IntoGleam for DecodeError {
    fn into_gleam(self) -> Value {
        Value::record("bad_argument", vec![self.expected.into_gleam()])
    }
}

pub fn expected(what: &'static str) -> DecodeError {
    DecodeError { expected: what }
}

pub trait FromGleam: Sized {
    fn from_gleam(term: &Term) -> Result<Self, DecodeError>;
}

impl Term {
    /// The fields of a custom-type value `{tag, Fields...}` with `arity` fields.
    pub fn record(&self, tag: &str, arity: usize, what: &'static str) -> Result<&[Term], DecodeError> {
        match self {
            Term::Tuple(items) if items.len() == arity + 1 && items[0].as_atom() == Some(tag) => {
                Ok(&items[1..])
            }
            _ => Err(expected(what)),
        }
    }

    /// The name of a field-less variant (a bare atom).
    pub fn variant(&self, what: &'static str) -> Result<&str, DecodeError> {
        self.as_atom().ok_or(expected(what))
    }
}

impl FromGleam for String {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        let bytes = t.as_binary().ok_or(expected("a String"))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| expected("a UTF-8 String"))
    }
}

impl FromGleam for bool {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        match t.as_atom() {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(expected("a Bool")),
        }
    }
}

macro_rules! int_from_gleam {
    ($($t:ty),*) => {$(
        impl FromGleam for $t {
            fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
                t.as_int().and_then(|i| <$t>::try_from(i).ok()).ok_or(expected(concat!("an Int that fits ", stringify!($t))))
            }
        }
    )*};
}
int_from_gleam!(i64, u64, u32, usize);

impl<T: FromGleam> FromGleam for Vec<T> {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        match t {
            Term::List(items) => items.iter().map(T::from_gleam).collect(),
            _ => Err(expected("a List")),
        }
    }
}

impl<T: FromGleam> FromGleam for Option<T> {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        if t.as_atom() == Some("none") {
            return Ok(None);
        }
        Ok(Some(T::from_gleam(
            t.record("some", 1, "an Option")?
                .first()
                .ok_or(expected("an Option"))?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(bool::from_gleam(&Term::Atom("true".into())), Ok(true));
        assert_eq!(Option::<String>::from_gleam(&Term::Atom("none".into())), Ok(None));
        assert_eq!(
            Vec::<u32>::from_gleam(&Term::List(vec![Term::Int(1), Term::Int(2)])),
            Ok(vec![1, 2])
        );
        assert!(u32::from_gleam(&Term::Int(-1)).is_err());
        assert!(String::from_gleam(&Term::Binary(vec![0xff])).is_err());
        let rec = Term::Tuple(vec![Term::Atom("pair".into()), Term::Int(1), Term::Int(2)]);
        assert_eq!(rec.record("pair", 2, "a pair").unwrap().len(), 2);
        assert!(rec.record("pair", 3, "a pair").is_err());
    }
}
