//! A small validating JSON scanner over one complete document in a byte slice.
//!
//! Parsers walk the fields they need and skip (but still validate) the rest,
//! so unknown fields cost a scan, not an allocation. Strings without escapes
//! are borrowed from the input.

use std::borrow::Cow;

use crate::line_index::{self, QuoteIndex};

/// Deepest nesting accepted, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// Why scanning stopped, at a 0-based byte position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    Syntax { at: usize, expected: &'static str },
    Utf8 { at: usize },
}

/// A JSON number classified for usage values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number {
    /// A non-negative integer up to `i64::MAX`.
    Count(u64),
    /// A well-formed number that is negative, fractional or has an exponent.
    NotCount,
    /// A non-negative integer over `i64::MAX`.
    TooLarge,
}

/// Scans text already known to be UTF-8: validating the whole line once is
/// much cheaper than validating each string in it.
pub struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Where every quote is, for a line with no escapes or control bytes
    /// (see [`crate::line_index`]); strings then end at the next quote.
    quotes: QuoteIndex,
}

/// The position of the first `"`, `\\` or control byte at or after `from`,
/// eight bytes at a time (the SWAR "has byte" tests).
#[inline]
fn find_string_special(bytes: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (LO * b'"' as u64);
        let backslash = w ^ (LO * b'\\' as u64);
        // A zero byte in `quote`/`backslash`, or a byte below 0x20 in `w`: the
        // lowest flagged byte is exact (later ones may be false positives).
        let found = ((quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            quotes: QuoteIndex::NONE,
        }
    }

    /// Checks `bytes` are UTF-8 and scans them, with an index of their
    /// quotes where that is sound (one vector pass finds the quotes and
    /// whether the text is all ASCII, which spares the UTF-8 check).
    #[inline(always)]
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ScanError> {
        let mut s = Scanner {
            text: "",
            bytes,
            pos: 0,
            quotes: QuoteIndex::NONE,
        };
        s.text = if line_index::examine(bytes, &mut s.quotes) {
            // SAFETY: every byte is below 0x80, so this is UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).map_err(|e| ScanError::Utf8 { at: e.valid_up_to() })?
        };
        Ok(s)
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err(&self, expected: &'static str) -> ScanError {
        ScanError::Syntax {
            at: self.pos,
            expected,
        }
    }

    #[inline]
    pub fn skip_ws(&mut self) {
        while let Some(&c) = self.bytes.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next non-space byte, without consuming it.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub fn expect(&mut self, c: u8, expected: &'static str) -> Result<(), ScanError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(expected))
        }
    }

    /// After the document: only white space may remain.
    pub fn end(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.err("end of line after the object")),
        }
    }

    /// Starts an object: consumes `{`.
    #[inline]
    pub fn begin_object(&mut self) -> Result<(), ScanError> {
        self.expect(b'{', "'{'")
    }

    /// The next key of an object, or `None` at its closing `}`. `first` says
    /// whether this is the first key (no comma before it).
    #[inline(always)]
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>, ScanError> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') if !*first => self.pos += 1,
            _ if *first => {}
            _ => return Err(self.err("',' or '}'")),
        }
        *first = false;
        if self.peek() != Some(b'"') {
            return Err(self.err("a string key"));
        }
        let key = self.string()?;
        self.expect(b':', "':'")?;
        Ok(Some(key))
    }

    /// Starts an array: consumes `[`.
    pub fn begin_array(&mut self) -> Result<(), ScanError> {
        self.expect(b'[', "'['")
    }

    /// Whether another element follows in an array (consuming the comma or
    /// the closing `]`).
    #[inline]
    pub fn next_element(&mut self, first: &mut bool) -> Result<bool, ScanError> {
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.err("',' or ']'")),
        }
    }

    /// Whether the next value is a string (without consuming it).
    pub fn at_string(&mut self) -> bool {
        self.peek() == Some(b'"')
    }

    /// Whether the next value is `null`, consuming it if so.
    pub fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.bytes[self.pos..].starts_with(b"null") {
            self.pos += 4;
            true
        } else {
            false
        }
    }

    /// A string value, unescaped; borrowed when it holds no escapes.
    #[inline(always)]
    pub fn string(&mut self) -> Result<Cow<'a, str>, ScanError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("a string"));
        }
        let start = self.pos + 1;
        let end = if self.quotes.usable() {
            self.quotes.next_quote(start)
        } else {
            find_string_special(self.bytes, start)
        };
        let Some(end) = end else {
            self.pos = self.bytes.len();
            return Err(self.err("closing '\"'"));
        };
        match self.bytes[end] {
            b'"' => {
                self.pos = end + 1;
                // Cut at ASCII quotes, so on character boundaries: no new UTF-8 check.
                Ok(Cow::Borrowed(&self.text[start..end]))
            }
            b'\\' => self.escaped_string(start, end),
            _ => {
                self.pos = end;
                Err(self.err("no control characters in a string"))
            }
        }
    }

    fn escaped_string(&mut self, start: usize, first_escape: usize) -> Result<Cow<'a, str>, ScanError> {
        let mut out: Vec<u8> = self.bytes[start..first_escape].to_vec();
        let mut i = first_escape;
        loop {
            let Some(&c) = self.bytes.get(i) else {
                self.pos = i;
                return Err(self.err("closing '\"'"));
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.bytes.get(i + 1) else {
                        self.pos = i + 1;
                        return Err(self.err("an escape"));
                    };
                    i += 2;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let ch = self.unicode_escape(&mut i)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.pos = i - 1;
                            return Err(self.err("a valid escape"));
                        }
                    }
                }
                0..=0x1f => {
                    self.pos = i;
                    return Err(self.err("no control characters in a string"));
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        String::from_utf8(out)
            .map(Cow::Owned)
            .map_err(|_| ScanError::Utf8 { at: start })
    }

    fn hex4(&mut self, i: &mut usize) -> Result<u32, ScanError> {
        let Some(h) = self.bytes.get(*i..*i + 4) else {
            self.pos = *i;
            return Err(self.err("four hex digits"));
        };
        let mut v = 0u32;
        for &c in h {
            let d = (c as char).to_digit(16).ok_or(ScanError::Syntax {
                at: *i,
                expected: "four hex digits",
            })?;
            v = v * 16 + d;
        }
        *i += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self, i: &mut usize) -> Result<char, ScanError> {
        let at = *i;
        let hi = self.hex4(i)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            // A surrogate pair: \uD83D\uDE00.
            if self.bytes.get(*i..*i + 2) != Some(&b"\\u"[..]) {
                return Err(ScanError::Syntax {
                    at: *i,
                    expected: "a low surrogate escape",
                });
            }
            *i += 2;
            let lo = self.hex4(i)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(ScanError::Syntax {
                    at: *i - 4,
                    expected: "a low surrogate",
                });
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or(ScanError::Syntax {
            at,
            expected: "a valid code point",
        })
    }

    /// A number, checked against the JSON grammar and classified.
    #[inline]
    pub fn number(&mut self) -> Result<Number, ScanError> {
        self.skip_ws();
        let b = self.bytes;
        let start = self.pos;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return Err(self.err("a number"));
            }
        }
        let int_end = i;
        let mut integral = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            integral = false;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return Err(self.err("a digit after '.'"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            integral = false;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return Err(self.err("a digit in the exponent"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.pos = i;
        if negative && !(int_end - int_start == 1 && b[int_start] == b'0' && integral) {
            return Ok(Number::NotCount);
        }
        if !integral {
            return Ok(Number::NotCount);
        }
        let mut v: u64 = 0;
        for &c in &b[int_start..int_end] {
            v = match v.checked_mul(10).and_then(|v| v.checked_add((c - b'0') as u64)) {
                Some(v) => v,
                None => return Ok(Number::TooLarge),
            };
        }
        if v > i64::MAX as u64 {
            return Ok(Number::TooLarge);
        }
        Ok(Number::Count(v))
    }

    /// Skips any value, validating it.
    pub fn skip_value(&mut self) -> Result<(), ScanError> {
        self.skip_value_at(0)
    }

    fn skip_value_at(&mut self, depth: usize) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                self.pos += 1;
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip_value_at(depth + 1)?;
                }
                Ok(())
            }
            Some(b'[') => {
                self.pos += 1;
                let mut first = true;
                while self.next_element(&mut first)? {
                    self.skip_value_at(depth + 1)?;
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(|_| ()),
            _ => Err(self.err("a value")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), ScanError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("a value"))
        }
    }
}

/// A key given twice in one object of a document: the object's place as a
/// JSON Pointer (RFC 6901, `""` for the top level) and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedKey {
    pub pointer: String,
    pub key: String,
}

impl std::fmt::Display for RepeatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "duplicate key \"{}\" at the top level", self.key)
        } else {
            write!(f, "duplicate key \"{}\" in {}", self.key, self.pointer)
        }
    }
}

/// The first key (in document order) given twice in one object anywhere in
/// `text`, for documents read with a map that would keep only one copy
/// (serde keeps the last). `None` when there is none, and when `text` is not
/// JSON at all: its reader reports that.
pub fn first_repeated_key(text: &str) -> Option<RepeatedKey> {
    fn walk<'a>(
        s: &mut Scanner<'a>,
        pointer: &mut String,
        depth: usize,
        found: &mut Option<RepeatedKey>,
    ) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(s.err("less nesting"));
        }
        match s.peek() {
            Some(b'{') => {
                s.begin_object()?;
                let mut keys = std::collections::HashSet::new();
                let mut first = true;
                while let Some(key) = s.next_key(&mut first)? {
                    if !keys.insert(key.clone()) && found.is_none() {
                        *found = Some(RepeatedKey {
                            pointer: pointer.clone(),
                            key: key.to_string(),
                        });
                    }
                    let at = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    walk(s, pointer, depth + 1, found)?;
                    pointer.truncate(at);
                }
                Ok(())
            }
            Some(b'[') => {
                s.begin_array()?;
                let mut first = true;
                let mut i = 0usize;
                while s.next_element(&mut first)? {
                    let at = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    walk(s, pointer, depth + 1, found)?;
                    pointer.truncate(at);
                    i += 1;
                }
                Ok(())
            }
            _ => s.skip_value(),
        }
    }
    let mut s = Scanner::new(text);
    let mut found = None;
    walk(&mut s, &mut String::new(), 0, &mut found).ok()?;
    s.end().ok()?;
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_unescape() {
        let mut s = Scanner::new(r#""a\"b\\c\u00e9\ud83d\ude00\n""#);
        assert_eq!(s.string().unwrap(), "a\"b\\c\u{e9}\u{1F600}\n");
        let mut s = Scanner::new(r#""plain""#);
        assert!(matches!(s.string().unwrap(), Cow::Borrowed("plain")));
    }

    #[test]
    fn numbers_classify() {
        let n = |t: &str| Scanner::new(t).number();
        assert_eq!(n("0"), Ok(Number::Count(0)));
        assert_eq!(n("9223372036854775807"), Ok(Number::Count(i64::MAX as u64)));
        assert_eq!(n("9223372036854775808"), Ok(Number::TooLarge));
        assert_eq!(n("99999999999999999999999"), Ok(Number::TooLarge));
        assert_eq!(n("-1"), Ok(Number::NotCount));
        assert_eq!(n("-0"), Ok(Number::Count(0)));
        assert_eq!(n("1.5"), Ok(Number::NotCount));
        assert_eq!(n("1e3"), Ok(Number::NotCount));
        assert!(n("1.").is_err());
        assert!(n("-").is_err());
    }

    /// Every string (keys and values) of a document, or where and why it
    /// is not JSON.
    fn strings_of(mut s: Scanner<'_>) -> Result<Vec<String>, ScanError> {
        fn walk(s: &mut Scanner<'_>, out: &mut Vec<String>, depth: usize) -> Result<(), ScanError> {
            match s.peek() {
                Some(b'{') if depth < 8 => {
                    s.begin_object()?;
                    let mut first = true;
                    while let Some(k) = s.next_key(&mut first)? {
                        out.push(k.into_owned());
                        walk(s, out, depth + 1)?;
                    }
                    Ok(())
                }
                Some(b'"') => s.string().map(|v| out.push(v.into_owned())),
                _ => s.skip_value(),
            }
        }
        let mut out = Vec::new();
        walk(&mut s, &mut out, 0)?;
        s.end()?;
        Ok(out)
    }

    #[test]
    fn the_quote_index_changes_no_answer() {
        // Lines with and without escapes, control bytes and non-ASCII text,
        // around the 16- and 64-byte steps of the index, each also cut at
        // every byte: scanning with the index (from_bytes) and without it
        // (new) must find the same strings, or fail at the same place for
        // the same reason.
        let long = "x".repeat(70);
        let lines = [
            r#"{"id":"e1","data":{"meter":"requests","value":12},"t":[1,"a",null]}"#.to_string(),
            format!(r#"{{"k":"{long}","k2":"{long}{long}","é":"ü"}}"#),
            r#"{"a":"b\"c","d":"\u00e9"}"#.to_string(),
            "{\"a\":\"tab\there\"}".to_string(),
            format!("{{\"{}\":\"v\"}}", "q".repeat(61)),
            r#"{"a":"","b":"\\","c":"\/"}"#.to_string(),
            format!("{{\"a\":\"{}\"}}", "z".repeat(1100)),
        ];
        for line in &lines {
            for cut in 0..=line.len() {
                let Some(part) = line.get(..cut) else { continue };
                let indexed = strings_of(Scanner::from_bytes(part.as_bytes()).unwrap());
                let plain = strings_of(Scanner::new(part));
                assert_eq!(indexed, plain, "{part:?}");
            }
        }
    }

    #[test]
    fn repeated_keys_are_found_in_document_order() {
        let f = |t: &str| first_repeated_key(t).map(|r| r.to_string());
        assert_eq!(
            f(r#"{"a":1,"b":{"c":1,"c":2},"a":3}"#).as_deref(),
            Some(r#"duplicate key "c" in /b"#)
        );
        assert_eq!(
            f(r#"{"a":1,"b":[{"x":1},{"y/~":{"q":1,"q":1}}],"a":3}"#).as_deref(),
            Some(r#"duplicate key "q" in /b/1/y~1~0"#)
        );
        assert_eq!(
            f(r#"{"a":1,"\u0061":2}"#).as_deref(),
            Some(r#"duplicate key "a" at the top level"#)
        );
        assert_eq!(f(r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#), None);
        // The repeated key comes before the repeats inside its own value.
        assert_eq!(
            f(r#"{"a":1,"a":{"b":1,"b":2}}"#).as_deref(),
            Some(r#"duplicate key "a" at the top level"#)
        );
        // Not JSON: the document's reader says why.
        assert_eq!(f(r#"{"a":1,"a":2"#), None);
    }

    #[test]
    fn skip_validates() {
        assert!(Scanner::new(r#"{"a":[1,{"b":null}],"c":true}"#)
            .skip_value()
            .is_ok());
        assert!(Scanner::new(r#"{"a":[1,}"#).skip_value().is_err());
        assert!(Scanner::new("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[").skip_value().is_err());
        assert!(Scanner::from_bytes(b"\"\xff\"").is_err());
        assert!(Scanner::new("\"a\u{1}b\"").skip_value().is_err());
    }
}
