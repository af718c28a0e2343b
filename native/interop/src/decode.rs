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

/// A term that does not have the shape a Gleam type gives it: what was
/// expected, and where (the fields and list items, outermost first).
///
/// At the boundary it is Gleam's `BadArgument(expected)`: the text alone,
/// as the pure-Gleam twins give it. Its `Display` names the field too:
/// `expected a Window at AggregatorConfig.window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub expected: &'static str,
    /// Innermost first, as the error travels out.
    path: Vec<Step>,
}

/// One step of a [`DecodeError`]'s path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A field of a custom type: `("UsageEvent", "value")`, or a variant's
    /// (`"AggregateError::Overlap"`); unnamed fields are numbered from 0.
    Field {
        owner: &'static str,
        field: &'static str,
    },
    /// An item of a list, from 0.
    Item(usize),
}

impl DecodeError {
    pub fn new(expected: &'static str) -> Self {
        DecodeError {
            expected,
            path: Vec::new(),
        }
    }
    /// The error, found in `owner`'s field `field`.
    pub fn in_field(mut self, owner: &'static str, field: &'static str) -> Self {
        self.path.push(Step::Field { owner, field });
        self
    }
    /// The error, found in a list's item `index`.
    pub fn in_item(mut self, index: usize) -> Self {
        self.path.push(Step::Item(index));
        self
    }
    /// The same place, with another text (a field's own `expected`).
    pub fn with_expected(mut self, expected: &'static str) -> Self {
        self.expected = expected;
        self
    }
    /// Outermost first.
    pub fn path(&self) -> impl Iterator<Item = &Step> {
        self.path.iter().rev()
    }
    /// Where, as text: `[2] > UsageEvent.value` (empty at the top).
    pub fn location(&self) -> String {
        self.path()
            .map(|step| match step {
                Step::Field { owner, field } => format!("{owner}.{field}"),
                Step::Item(i) => format!("[{i}]"),
            })
            .collect::<Vec<_>>()
            .join(" > ")
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {}", self.expected)?;
        if !self.path.is_empty() {
            write!(f, " at {}", self.location())?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl IntoGleam for DecodeError {
    fn into_gleam(self) -> Value {
        Value::record("bad_argument", vec![self.expected.into_gleam()])
    }
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        atoms.add("bad_argument");
    }
}

pub fn expected(what: &'static str) -> DecodeError {
    DecodeError::new(what)
}

/// Reading a Gleam value back from a term. `#[derive(FromGleam)]` writes it
/// for structs and enums; a wrong shape names the field it was found in.
pub trait FromGleam: Sized {
    fn from_gleam(term: &Term) -> Result<Self, DecodeError>;

    /// Adds the atoms this type reads (see [`crate::Atoms`]).
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        let _ = atoms;
    }
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
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        atoms.add("true");
        atoms.add("false");
    }
}

impl FromGleam for () {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        match t.as_atom() {
            Some("nil") => Ok(()),
            _ => Err(expected("Nil")),
        }
    }
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        atoms.add("nil");
    }
}

impl FromGleam for f64 {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        match t {
            Term::Float(f) => Ok(*f),
            _ => Err(expected("a Float")),
        }
    }
}

impl FromGleam for crate::BitArray {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        t.as_binary()
            .map(|b| crate::BitArray(b.to_vec()))
            .ok_or(expected("a BitArray"))
    }
}

impl FromGleam for u128 {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        match t {
            Term::Int(i) => u128::try_from(*i).map_err(|_| expected("an Int that fits u128")),
            Term::BigUint(u) => Ok(*u),
            _ => Err(expected("an Int that fits u128")),
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
int_from_gleam!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, usize);

impl<T: FromGleam> FromGleam for Vec<T> {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        match t {
            Term::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_gleam(item).map_err(|e| e.in_item(i)))
                .collect(),
            _ => Err(expected("a List")),
        }
    }
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        T::gleam_atoms(atoms);
    }
}

impl<T: FromGleam> FromGleam for Box<T> {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        T::from_gleam(t).map(Box::new)
    }
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        T::gleam_atoms(atoms);
    }
}

impl<T: FromGleam, E: FromGleam> FromGleam for Result<T, E> {
    fn from_gleam(t: &Term) -> Result<Self, DecodeError> {
        if let Ok([v]) = t.record("ok", 1, "a Result") {
            return T::from_gleam(v).map(Ok);
        }
        match t.record("error", 1, "a Result")? {
            [e] => E::from_gleam(e).map(Err),
            _ => Err(expected("a Result")),
        }
    }
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        atoms.add("ok");
        atoms.add("error");
        T::gleam_atoms(atoms);
        E::gleam_atoms(atoms);
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
    fn gleam_atoms(atoms: &mut crate::Atoms) {
        atoms.add("some");
        atoms.add("none");
        T::gleam_atoms(atoms);
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
