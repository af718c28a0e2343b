//! External Term Format: encoding [`Value`]s and decoding terms sent by the BEAM.
//!
//! Covers the tags Gleam values use (atoms, integers up to 128 bits, floats,
//! binaries, tuples, lists, maps, and `STRING_EXT` lists of bytes), as the ETF
//! chapter of the ERTS user's guide defines them. Decoding never trusts a
//! length: every read is bounds-checked and nesting is limited.

use crate::{InteropError, Value};

const VERSION: u8 = 131;
const NEW_FLOAT_EXT: u8 = 70;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;
const ATOM_EXT: u8 = 100;
const SMALL_TUPLE_EXT: u8 = 104;
const LARGE_TUPLE_EXT: u8 = 105;
const NIL_EXT: u8 = 106;
const STRING_EXT: u8 = 107;
const LIST_EXT: u8 = 108;
const BINARY_EXT: u8 = 109;
const SMALL_BIG_EXT: u8 = 110;
const SMALL_ATOM_EXT: u8 = 115;
const MAP_EXT: u8 = 116;
const ATOM_UTF8_EXT: u8 = 118;
const SMALL_ATOM_UTF8_EXT: u8 = 119;

/// Deepest nesting accepted when decoding, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// A term decoded from ETF. Unlike [`Value`], atoms here are owned text:
/// they came from the BEAM, and stay Rust strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Atom(String),
    Int(i128),
    /// A positive integer over `i128::MAX` and up to `u128::MAX`.
    BigUint(u128),
    Float(f64),
    Binary(Vec<u8>),
    Tuple(Vec<Term>),
    List(Vec<Term>),
    Map(Vec<(Term, Term)>),
}

impl Term {
    pub fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i128> {
        match self {
            Term::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Term::Binary(b) => Some(b),
            _ => None,
        }
    }
}

/// Encodes a value as ETF, with the version byte.
pub fn encode(value: &Value) -> Result<Vec<u8>, InteropError> {
    let mut out = Vec::with_capacity(64);
    out.push(VERSION);
    encode_into(value, &mut out)?;
    Ok(out)
}

/// Appends the encoding of `value` (no version byte) to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) -> Result<(), InteropError> {
    match value {
        Value::Atom(a) => encode_atom(a, out),
        Value::Int(i) => encode_int(*i, out)?,
        Value::BigUint(u) => encode_big(false, *u, out),
        Value::Float(f) => {
            out.push(NEW_FLOAT_EXT);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Value::Binary(b) => {
            out.push(BINARY_EXT);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        Value::Tuple(items) => {
            if items.len() < 256 {
                out.push(SMALL_TUPLE_EXT);
                out.push(items.len() as u8);
            } else {
                out.push(LARGE_TUPLE_EXT);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            }
            for item in items {
                encode_into(item, out)?;
            }
        }
        Value::List(items) => {
            if !items.is_empty() {
                out.push(LIST_EXT);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                for item in items {
                    encode_into(item, out)?;
                }
            }
            out.push(NIL_EXT);
        }
        Value::Map(pairs) => {
            out.push(MAP_EXT);
            out.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
            for (k, v) in pairs {
                encode_into(k, out)?;
                encode_into(v, out)?;
            }
        }
    }
    Ok(())
}

fn encode_atom(a: &str, out: &mut Vec<u8>) {
    // Atoms in code are short; longer ones would not be valid atoms anyway.
    let bytes = a.as_bytes();
    if bytes.len() < 256 {
        out.push(SMALL_ATOM_UTF8_EXT);
        out.push(bytes.len() as u8);
    } else {
        out.push(ATOM_UTF8_EXT);
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

fn encode_int(i: i128, out: &mut Vec<u8>) -> Result<(), InteropError> {
    if (0..=255).contains(&i) {
        out.push(SMALL_INTEGER_EXT);
        out.push(i as u8);
    } else if i >= i32::MIN as i128 && i <= i32::MAX as i128 {
        out.push(INTEGER_EXT);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        encode_big(i < 0, i.unsigned_abs(), out);
    }
    Ok(())
}

/// `SMALL_BIG_EXT`: sign, then the magnitude's bytes, least significant first.
fn encode_big(negative: bool, magnitude: u128, out: &mut Vec<u8>) {
    let digits = magnitude.to_le_bytes();
    let n = 16 - (magnitude.leading_zeros() as usize / 8);
    out.push(SMALL_BIG_EXT);
    out.push(n as u8);
    out.push(u8::from(negative));
    out.extend_from_slice(&digits[..n]);
}

/// Decodes one ETF term (with the version byte) that must fill `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Term, InteropError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.u8()? != VERSION {
        return Err(r.bad(0, "missing version byte 131"));
    }
    let term = r.term(0)?;
    if r.pos != bytes.len() {
        return Err(r.bad(r.pos, "trailing bytes after term"));
    }
    Ok(term)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bad(&self, offset: usize, reason: &'static str) -> InteropError {
        InteropError::BadTerm { offset, reason }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], InteropError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.bad(self.pos, "truncated term"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, InteropError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, InteropError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    fn u32(&mut self) -> Result<usize, InteropError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    /// A count of items that each take at least one byte cannot exceed what is left.
    fn count(&mut self, n: usize) -> Result<usize, InteropError> {
        if n > self.bytes.len() - self.pos {
            return Err(self.bad(self.pos, "count larger than the input"));
        }
        Ok(n)
    }
    fn atom_text(&mut self, n: usize, at: usize) -> Result<Term, InteropError> {
        let raw = self.take(n)?;
        let text = std::str::from_utf8(raw).map_err(|_| self.bad(at, "atom is not UTF-8"))?;
        Ok(Term::Atom(text.to_string()))
    }
    fn items(&mut self, n: usize, depth: usize) -> Result<Vec<Term>, InteropError> {
        let n = self.count(n)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.term(depth + 1)?);
        }
        Ok(items)
    }
    fn term(&mut self, depth: usize) -> Result<Term, InteropError> {
        let at = self.pos;
        if depth > MAX_DEPTH {
            return Err(self.bad(at, "nesting too deep"));
        }
        match self.u8()? {
            SMALL_INTEGER_EXT => Ok(Term::Int(self.u8()? as i128)),
            INTEGER_EXT => {
                let b = self.take(4)?;
                Ok(Term::Int(i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i128))
            }
            SMALL_BIG_EXT => {
                let n = self.u8()? as usize;
                let sign = self.u8()?;
                let digits = self.take(n)?;
                if n > 16 {
                    return Err(self.bad(at, "integer wider than 128 bits"));
                }
                let mut le = [0u8; 16];
                le[..n].copy_from_slice(digits);
                let magnitude = u128::from_le_bytes(le);
                match (sign, i128::try_from(magnitude)) {
                    (0, Ok(i)) => Ok(Term::Int(i)),
                    (0, Err(_)) => Ok(Term::BigUint(magnitude)),
                    (_, Ok(i)) => Ok(Term::Int(-i)),
                    // -2^127 is the one negative magnitude over i128::MAX that fits.
                    (_, Err(_)) if magnitude == 1u128 << 127 => Ok(Term::Int(i128::MIN)),
                    (_, Err(_)) => Err(self.bad(at, "integer below -2^127")),
                }
            }
            NEW_FLOAT_EXT => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(Term::Float(f64::from_bits(u64::from_be_bytes(a))))
            }
            ATOM_EXT | ATOM_UTF8_EXT => {
                let n = self.u16()?;
                self.atom_text(n, at)
            }
            SMALL_ATOM_EXT | SMALL_ATOM_UTF8_EXT => {
                let n = self.u8()? as usize;
                self.atom_text(n, at)
            }
            BINARY_EXT => {
                let n = self.u32()?;
                Ok(Term::Binary(self.take(n)?.to_vec()))
            }
            SMALL_TUPLE_EXT => {
                let n = self.u8()? as usize;
                Ok(Term::Tuple(self.items(n, depth)?))
            }
            LARGE_TUPLE_EXT => {
                let n = self.u32()?;
                Ok(Term::Tuple(self.items(n, depth)?))
            }
            NIL_EXT => Ok(Term::List(Vec::new())),
            STRING_EXT => {
                let n = self.u16()?;
                Ok(Term::List(
                    self.take(n)?.iter().map(|&b| Term::Int(b as i128)).collect(),
                ))
            }
            LIST_EXT => {
                let n = self.u32()?;
                let items = self.items(n, depth)?;
                match self.term(depth + 1)? {
                    Term::List(tail) if tail.is_empty() => Ok(Term::List(items)),
                    _ => Err(self.bad(at, "improper list")),
                }
            }
            MAP_EXT => {
                let n = self.u32()?;
                let n = self.count(n)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.term(depth + 1)?;
                    let v = self.term(depth + 1)?;
                    pairs.push((k, v));
                }
                Ok(Term::Map(pairs))
            }
            _ => Err(self.bad(at, "unsupported term tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IntoGleam;

    fn roundtrip(v: Value) -> Term {
        decode(&encode(&v).unwrap()).unwrap()
    }

    #[test]
    fn known_encodings_match_term_to_binary() {
        // Byte strings as printed by term_to_binary/1 on OTP 25.
        assert_eq!(
            encode(&Value::Atom("none")).unwrap(),
            vec![131, 119, 4, b'n', b'o', b'n', b'e']
        );
        assert_eq!(encode(&Value::Int(1)).unwrap(), vec![131, 97, 1]);
        assert_eq!(
            encode(&Value::Int(-1)).unwrap(),
            vec![131, 98, 255, 255, 255, 255]
        );
        assert_eq!(
            encode(&Value::Int(1 << 40)).unwrap(),
            vec![131, 110, 6, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(encode(&Value::List(vec![])).unwrap(), vec![131, 106]);
        assert_eq!(
            encode(&Value::binary("ab")).unwrap(),
            vec![131, 109, 0, 0, 0, 2, b'a', b'b']
        );
    }

    #[test]
    fn roundtrips_gleam_shapes() {
        let v = Value::record(
            "usage",
            vec![
                Some(u64::MAX).into_gleam(),
                Value::List(vec![Value::Int(-5), Value::Float(1.5)]),
            ],
        );
        let t = roundtrip(v);
        assert_eq!(
            t,
            Term::Tuple(vec![
                Term::Atom("usage".into()),
                Term::Tuple(vec![Term::Atom("some".into()), Term::Int(u64::MAX as i128)]),
                Term::List(vec![Term::Int(-5), Term::Float(1.5)]),
            ])
        );
        assert_eq!(
            roundtrip(Value::Int(i64::MIN as i128)),
            Term::Int(i64::MIN as i128)
        );
    }

    #[test]
    fn integers_to_128_bits_are_bignums() {
        for i in [i128::MIN, i128::MIN + 1, -(1 << 64), 1 << 64, i128::MAX] {
            assert_eq!(roundtrip(Value::Int(i)), Term::Int(i));
        }
        for u in [1u128 << 127, u128::MAX] {
            assert_eq!(roundtrip(Value::BigUint(u)), Term::BigUint(u));
        }
        // term_to_binary(1 bsl 64) on OTP 25.
        assert_eq!(
            encode(&Value::Int(1 << 64)).unwrap(),
            vec![131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        // -(2^128 - 1) fits no Rust integer here: refused, not wrapped.
        let mut below = vec![131, 110, 16, 1];
        below.extend([255; 16]);
        assert!(decode(&below).is_err());
    }

    #[test]
    fn rejects_hostile_input_without_panicking() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[131]).is_err());
        assert!(decode(&[131, 108, 255, 255, 255, 255]).is_err());
        assert!(decode(&[131, 109, 0, 0, 0, 9, 1]).is_err());
        assert!(decode(&[131, 97, 1, 0]).is_err());
        let mut deep = vec![131];
        deep.extend(std::iter::repeat_n([104u8, 1], 10_000).flatten());
        deep.push(106);
        assert!(decode(&deep).is_err());
    }
}
