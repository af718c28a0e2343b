//! [`Value`]: a Rust value in the shape Gleam gives it on Erlang.

/// A term in Gleam's shapes, ready to be encoded as a rustler term or as ETF.
///
/// `Atom` takes only `&'static str`: atoms come from the code, never from input.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Atom(&'static str),
    /// An integer: a small integer on the BEAM up to 60 bits, a bignum past
    /// them (a Gleam `Int` has no bound on Erlang); i64, u64 and i128 fit.
    Int(i128),
    /// An unsigned integer over `i128::MAX` (only a `u128` makes one): a bignum.
    BigUint(u128),
    Float(f64),
    /// A binary: a Gleam `String` (UTF-8) or `BitArray`.
    Binary(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Value {
    /// Gleam's `Nil`.
    pub fn nil() -> Value {
        Value::Atom("nil")
    }
    /// A custom type's variant: `Tag(fields...)` is `{tag, Fields...}`; a
    /// variant with no fields is the bare atom.
    pub fn record(tag: &'static str, fields: Vec<Value>) -> Value {
        if fields.is_empty() {
            return Value::Atom(tag);
        }
        let mut items = Vec::with_capacity(fields.len() + 1);
        items.push(Value::Atom(tag));
        items.extend(fields);
        Value::Tuple(items)
    }
    pub fn some(v: Value) -> Value {
        Value::record("some", vec![v])
    }
    pub fn none() -> Value {
        Value::Atom("none")
    }
    pub fn ok(v: Value) -> Value {
        Value::record("ok", vec![v])
    }
    pub fn error(v: Value) -> Value {
        Value::record("error", vec![v])
    }
    /// A Gleam `String` from UTF-8 text.
    pub fn binary(s: &str) -> Value {
        Value::Binary(s.as_bytes().to_vec())
    }
}

/// Conversion of a Rust value into its Gleam shape.
///
/// `#[derive(IntoGleam)]` (see `tally_interop_derive`) writes it for structs
/// and enums; `gleam_atoms` then lists every atom the value can hold.
pub trait IntoGleam {
    fn into_gleam(self) -> Value;

    /// Adds the atoms values of this type can hold (its fields' included)
    /// to `atoms`. Hand-written impls that make atoms should add them too.
    fn gleam_atoms(atoms: &mut Atoms)
    where
        Self: Sized,
    {
        let _ = atoms;
    }
}

/// The atoms a set of types uses, collected from their `gleam_atoms`: the
/// vocabulary a port's owner must know before it decodes replies with
/// `binary_to_term(_, [safe])`, made from the types instead of a text scan.
///
/// ```
/// use tally_interop::{Atoms, IntoGleam};
/// let mut atoms = Atoms::default();
/// <Option<Result<bool, ()>> as IntoGleam>::gleam_atoms(&mut atoms);
/// assert_eq!(atoms.sorted(), ["error", "false", "nil", "none", "ok", "some", "true"]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Atoms {
    atoms: std::collections::BTreeSet<&'static str>,
    types: std::collections::HashSet<&'static str>,
}

impl Atoms {
    pub fn add(&mut self, atom: &'static str) {
        self.atoms.insert(atom);
    }
    /// True the first time a type (by its `type_name`) is entered, so a
    /// recursive type is walked once.
    pub fn enter(&mut self, type_name: &'static str) -> bool {
        self.types.insert(type_name)
    }
    /// The atoms, sorted and without repeats.
    pub fn sorted(&self) -> Vec<&'static str> {
        self.atoms.iter().copied().collect()
    }
    pub fn contains(&self, atom: &str) -> bool {
        self.atoms.contains(atom)
    }
}

/// The atoms of type `T` (see [`Atoms`]).
pub fn atoms_of<T: IntoGleam>() -> Vec<&'static str> {
    let mut atoms = Atoms::default();
    T::gleam_atoms(&mut atoms);
    atoms.sorted()
}

impl IntoGleam for Value {
    fn into_gleam(self) -> Value {
        self
    }
}
impl IntoGleam for () {
    fn into_gleam(self) -> Value {
        Value::nil()
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        atoms.add("nil");
    }
}
impl IntoGleam for bool {
    fn into_gleam(self) -> Value {
        Value::Atom(if self { "true" } else { "false" })
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        atoms.add("true");
        atoms.add("false");
    }
}
impl IntoGleam for String {
    fn into_gleam(self) -> Value {
        Value::Binary(self.into_bytes())
    }
}
impl IntoGleam for &str {
    fn into_gleam(self) -> Value {
        Value::binary(self)
    }
}
impl IntoGleam for f64 {
    fn into_gleam(self) -> Value {
        Value::Float(self)
    }
}
macro_rules! int_into_gleam {
    ($($t:ty),*) => {$(
        impl IntoGleam for $t {
            fn into_gleam(self) -> Value { Value::Int(self as i128) }
        }
    )*};
}
int_into_gleam!(i8, i16, i32, i64, i128, u8, u16, u32, u64, usize, isize);

impl IntoGleam for u128 {
    fn into_gleam(self) -> Value {
        match i128::try_from(self) {
            Ok(small) => Value::Int(small),
            Err(_) => Value::BigUint(self),
        }
    }
}

/// A Gleam `BitArray`: bytes as one binary (a `Vec<u8>` on its own is a
/// `List(Int)`). In a derived type, `#[gleam(bit_array)]` on a `Vec<u8>`
/// field does the same without the wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BitArray(pub Vec<u8>);

impl IntoGleam for BitArray {
    fn into_gleam(self) -> Value {
        Value::Binary(self.0)
    }
}
impl From<Vec<u8>> for BitArray {
    fn from(bytes: Vec<u8>) -> Self {
        BitArray(bytes)
    }
}
impl From<BitArray> for Vec<u8> {
    fn from(bits: BitArray) -> Self {
        bits.0
    }
}

impl<T: IntoGleam> IntoGleam for Option<T> {
    fn into_gleam(self) -> Value {
        match self {
            Some(v) => Value::some(v.into_gleam()),
            None => Value::none(),
        }
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        atoms.add("some");
        atoms.add("none");
        T::gleam_atoms(atoms);
    }
}
impl<T: IntoGleam, E: IntoGleam> IntoGleam for Result<T, E> {
    fn into_gleam(self) -> Value {
        match self {
            Ok(v) => Value::ok(v.into_gleam()),
            Err(e) => Value::error(e.into_gleam()),
        }
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        atoms.add("ok");
        atoms.add("error");
        T::gleam_atoms(atoms);
        E::gleam_atoms(atoms);
    }
}
impl<T: IntoGleam> IntoGleam for Vec<T> {
    fn into_gleam(self) -> Value {
        Value::List(self.into_iter().map(IntoGleam::into_gleam).collect())
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        T::gleam_atoms(atoms);
    }
}
impl<T: IntoGleam> IntoGleam for Box<T> {
    fn into_gleam(self) -> Value {
        (*self).into_gleam()
    }
    fn gleam_atoms(atoms: &mut Atoms) {
        T::gleam_atoms(atoms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_gleam() {
        assert_eq!(().into_gleam(), Value::Atom("nil"));
        assert_eq!(None::<i64>.into_gleam(), Value::Atom("none"));
        assert_eq!(
            Ok::<_, String>(1u8).into_gleam(),
            Value::Tuple(vec![Value::Atom("ok"), Value::Int(1)])
        );
        assert_eq!(Value::record("empty", vec![]), Value::Atom("empty"));
        assert_eq!(
            Value::record("usage", vec![Value::Int(1), Value::binary("a")]),
            Value::Tuple(vec![
                Value::Atom("usage"),
                Value::Int(1),
                Value::Binary(b"a".to_vec())
            ])
        );
        assert_eq!(u64::MAX.into_gleam(), Value::Int(u64::MAX as i128));
        assert_eq!(
            (i128::MAX as u128).into_gleam(),
            Value::Int(i128::MAX),
            "a u128 that fits i128 stays an Int"
        );
        assert_eq!(u128::MAX.into_gleam(), Value::BigUint(u128::MAX));
    }
}
