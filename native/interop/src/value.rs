//! [`Value`]: a Rust value in the shape Gleam gives it on Erlang.

/// A term in Gleam's shapes, ready to be encoded as a rustler term or as ETF.
///
/// `Atom` takes only `&'static str`: atoms come from the code, never from input.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Atom(&'static str),
    /// Any integer a Gleam `Int` holds here: i64 and u64 both fit.
    Int(i128),
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
pub trait IntoGleam {
    fn into_gleam(self) -> Value;
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
}
impl IntoGleam for bool {
    fn into_gleam(self) -> Value {
        Value::Atom(if self { "true" } else { "false" })
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
int_into_gleam!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl<T: IntoGleam> IntoGleam for Option<T> {
    fn into_gleam(self) -> Value {
        match self {
            Some(v) => Value::some(v.into_gleam()),
            None => Value::none(),
        }
    }
}
impl<T: IntoGleam, E: IntoGleam> IntoGleam for Result<T, E> {
    fn into_gleam(self) -> Value {
        match self {
            Ok(v) => Value::ok(v.into_gleam()),
            Err(e) => Value::error(e.into_gleam()),
        }
    }
}
impl<T: IntoGleam> IntoGleam for Vec<T> {
    fn into_gleam(self) -> Value {
        Value::List(self.into_iter().map(IntoGleam::into_gleam).collect())
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
    }
}
