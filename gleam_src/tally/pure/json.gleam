//// A validating JSON scanner over one complete document, in Gleam: the
//// reference twin of `native/core/src/json.rs`, rule for rule, so that both
//// engines stop at the same byte with the same `expected` text. Positions
//// are 0-based byte offsets; every function takes the position to read
//// from and returns the position after what it read.

import tally/pure/bytes

/// Why scanning stopped, at a 0-based byte position.
pub type ScanError {
  Syntax(at: Int, expected: String)
  Utf8(at: Int)
}

/// A JSON number classified for usage values.
pub type Number {
  /// A non-negative integer up to 2^63 - 1.
  Count(Int)
  /// Well-formed, but negative, fractional or with an exponent.
  NotCount
  /// A non-negative integer over 2^63 - 1.
  TooLarge
}

/// What `next_key` found: the object's end, or a key.
pub type NextKey {
  EndOfObject(pos: Int)
  Key(key: String, pos: Int)
}

/// The deepest nesting read (as serde_json's recursion limit).
pub const max_depth = 128

const i64_max = 9_223_372_036_854_775_807

/// The position after any white space at `pos`.
pub fn skip_ws(b: BitArray, pos: Int) -> Int {
  case bytes.at(b, pos) {
    32 | 9 | 10 | 13 -> skip_ws(b, pos + 1)
    _ -> pos
  }
}

/// The next non-space byte (-1 at the end) and its position.
pub fn peek(b: BitArray, pos: Int) -> #(Int, Int) {
  let p = skip_ws(b, pos)
  #(bytes.at(b, p), p)
}

pub fn expect(
  b: BitArray,
  pos: Int,
  c: Int,
  expected: String,
) -> Result(Int, ScanError) {
  let #(got, p) = peek(b, pos)
  case got == c {
    True -> Ok(p + 1)
    False -> Error(Syntax(p, expected))
  }
}

/// After the document: only white space may remain.
pub fn end(b: BitArray, pos: Int) -> Result(Nil, ScanError) {
  case peek(b, pos) {
    #(-1, _) -> Ok(Nil)
    #(_, p) -> Error(Syntax(p, "end of line after the object"))
  }
}

pub fn begin_object(b: BitArray, pos: Int) -> Result(Int, ScanError) {
  expect(b, pos, 123, "'{'")
}

/// The next key of an object, or its end; `first` when no key came yet.
pub fn next_key(
  b: BitArray,
  pos: Int,
  first: Bool,
) -> Result(NextKey, ScanError) {
  let #(c, p) = peek(b, pos)
  case c, first {
    125, _ -> Ok(EndOfObject(p + 1))
    44, False -> key_at(b, p + 1)
    _, True -> key_at(b, p)
    _, False -> Error(Syntax(p, "',' or '}'"))
  }
}

// A `"key":` from `pos` (after any comma).
fn key_at(b: BitArray, pos: Int) -> Result(NextKey, ScanError) {
  let #(quote, k) = peek(b, pos)
  case quote == 34 {
    False -> Error(Syntax(k, "a string key"))
    True ->
      case string(b, k) {
        Error(e) -> Error(e)
        Ok(#(key, after_key)) ->
          case expect(b, after_key, 58, "':'") {
            Ok(after_colon) -> Ok(Key(key, after_colon))
            Error(e) -> Error(e)
          }
      }
  }
}

/// Whether another element follows in an array (consuming the comma or
/// the closing `]`).
pub fn next_element(
  b: BitArray,
  pos: Int,
  first: Bool,
) -> Result(#(Bool, Int), ScanError) {
  let #(c, p) = peek(b, pos)
  case c, first {
    93, _ -> Ok(#(False, p + 1))
    44, False -> Ok(#(True, p + 1))
    -1, _ -> Error(Syntax(p, "',' or ']'"))
    _, True -> Ok(#(True, p))
    _, False -> Error(Syntax(p, "',' or ']'"))
  }
}

/// A string value, unescaped, and the position after it.
pub fn string(b: BitArray, pos: Int) -> Result(#(String, Int), ScanError) {
  let #(c, p) = peek(b, pos)
  case c == 34 {
    False -> Error(Syntax(p, "a string"))
    True -> plain_string(b, p + 1, p + 1)
  }
}

fn plain_string(
  b: BitArray,
  start: Int,
  i: Int,
) -> Result(#(String, Int), ScanError) {
  case bytes.at(b, i) {
    -1 -> Error(Syntax(bytes.size(b), "closing '\"'"))
    34 -> Ok(#(bytes.slice_text(b, start, i - start), i + 1))
    92 -> escaped(b, start, i, bytes.slice(b, start, i - start))
    c if c < 32 -> Error(Syntax(i, "no control characters in a string"))
    _ -> plain_string(b, start, i + 1)
  }
}

fn escaped(
  b: BitArray,
  start: Int,
  i: Int,
  out: BitArray,
) -> Result(#(String, Int), ScanError) {
  case bytes.at(b, i) {
    -1 -> Error(Syntax(i, "closing '\"'"))
    34 ->
      case bytes.utf8_error_at(out) {
        -1 -> Ok(#(bytes.to_text(out), i + 1))
        _ -> Error(Utf8(start))
      }
    92 ->
      case bytes.at(b, i + 1) {
        -1 -> Error(Syntax(i + 1, "an escape"))
        34 -> escaped(b, start, i + 2, bytes.append_byte(out, 34))
        92 -> escaped(b, start, i + 2, bytes.append_byte(out, 92))
        47 -> escaped(b, start, i + 2, bytes.append_byte(out, 47))
        98 -> escaped(b, start, i + 2, bytes.append_byte(out, 8))
        102 -> escaped(b, start, i + 2, bytes.append_byte(out, 12))
        110 -> escaped(b, start, i + 2, bytes.append_byte(out, 10))
        114 -> escaped(b, start, i + 2, bytes.append_byte(out, 13))
        116 -> escaped(b, start, i + 2, bytes.append_byte(out, 9))
        117 ->
          case unicode_escape(b, i + 2) {
            Ok(#(utf8, next)) ->
              escaped(b, start, next, bytes.append(out, utf8))
            Error(e) -> Error(e)
          }
        _ -> Error(Syntax(i + 1, "a valid escape"))
      }
    c if c < 32 -> Error(Syntax(i, "no control characters in a string"))
    c -> escaped(b, start, i + 1, bytes.append_byte(out, c))
  }
}

fn hex4(b: BitArray, i: Int) -> Result(Int, ScanError) {
  case i + 4 > bytes.size(b) {
    True -> Error(Syntax(i, "four hex digits"))
    False -> hex_digits(b, i, i, 0, 4)
  }
}

fn hex_digits(
  b: BitArray,
  at: Int,
  i: Int,
  value: Int,
  left: Int,
) -> Result(Int, ScanError) {
  case left {
    0 -> Ok(value)
    _ -> {
      let c = bytes.at(b, i)
      let digit = case c {
        _ if c >= 48 && c <= 57 -> c - 48
        _ if c >= 97 && c <= 102 -> c - 87
        _ if c >= 65 && c <= 70 -> c - 55
        _ -> -1
      }
      case digit {
        -1 -> Error(Syntax(at, "four hex digits"))
        d -> hex_digits(b, at, i + 1, value * 16 + d, left - 1)
      }
    }
  }
}

// `\u` then four hex digits at `i`; a high surrogate must be followed by a
// `\u` low surrogate. Returns the UTF-8 and the position after the escape.
fn unicode_escape(b: BitArray, i: Int) -> Result(#(BitArray, Int), ScanError) {
  case hex4(b, i) {
    Error(e) -> Error(e)
    Ok(hi) ->
      case hi >= 55_296 && hi < 56_320 {
        False -> code_point(hi, i, i + 4)
        True ->
          case bytes.starts_with(b, i + 4, <<"\\u":utf8>>) {
            False -> Error(Syntax(i + 4, "a low surrogate escape"))
            True ->
              case hex4(b, i + 6) {
                Error(e) -> Error(e)
                Ok(lo) ->
                  case lo >= 56_320 && lo < 57_344 {
                    False -> Error(Syntax(i + 6, "a low surrogate"))
                    True ->
                      code_point(
                        65_536 + { hi - 55_296 } * 1024 + { lo - 56_320 },
                        i,
                        i + 10,
                      )
                  }
              }
          }
      }
  }
}

fn code_point(
  code: Int,
  at: Int,
  next: Int,
) -> Result(#(BitArray, Int), ScanError) {
  case bytes.codepoint_utf8(code) {
    Ok(utf8) -> Ok(#(utf8, next))
    Error(Nil) -> Error(Syntax(at, "a valid code point"))
  }
}

/// A number, checked against the JSON grammar and classified.
pub fn number(b: BitArray, pos: Int) -> Result(#(Number, Int), ScanError) {
  let start = skip_ws(b, pos)
  let negative = bytes.at(b, start) == 45
  let int_start = case negative {
    True -> start + 1
    False -> start
  }
  let int_end = case bytes.at(b, int_start) {
    48 -> Ok(int_start + 1)
    c if c >= 49 && c <= 57 -> Ok(digits_end(b, int_start))
    _ -> Error(Syntax(int_start, "a number"))
  }
  case int_end {
    Error(e) -> Error(e)
    Ok(int_end) ->
      case fraction(b, int_end) {
        Error(e) -> Error(e)
        Ok(#(after_fraction, has_fraction)) ->
          case exponent(b, after_fraction) {
            Error(e) -> Error(e)
            Ok(#(after, has_exponent)) -> {
              let integral = !has_fraction && !has_exponent
              let zero =
                int_end - int_start == 1 && bytes.at(b, int_start) == 48
              case negative && !{ zero && integral }, integral {
                True, _ -> Ok(#(NotCount, after))
                _, False -> Ok(#(NotCount, after))
                False, True -> {
                  let v =
                    bytes.parse_digits(bytes.slice(
                      b,
                      int_start,
                      int_end - int_start,
                    ))
                  case v > i64_max {
                    True -> Ok(#(TooLarge, after))
                    False -> Ok(#(Count(v), after))
                  }
                }
              }
            }
          }
      }
  }
}

fn digits_end(b: BitArray, i: Int) -> Int {
  case bytes.is_digit(bytes.at(b, i)) {
    True -> digits_end(b, i + 1)
    False -> i
  }
}

fn fraction(b: BitArray, i: Int) -> Result(#(Int, Bool), ScanError) {
  case bytes.at(b, i) {
    46 ->
      case bytes.is_digit(bytes.at(b, i + 1)) {
        True -> Ok(#(digits_end(b, i + 1), True))
        False -> Error(Syntax(i + 1, "a digit after '.'"))
      }
    _ -> Ok(#(i, False))
  }
}

fn exponent(b: BitArray, i: Int) -> Result(#(Int, Bool), ScanError) {
  case bytes.at(b, i) {
    101 | 69 -> {
      let j = case bytes.at(b, i + 1) {
        43 | 45 -> i + 2
        _ -> i + 1
      }
      case bytes.is_digit(bytes.at(b, j)) {
        True -> Ok(#(digits_end(b, j), True))
        False -> Error(Syntax(j, "a digit in the exponent"))
      }
    }
    _ -> Ok(#(i, False))
  }
}

/// Skips any value, validating it.
pub fn skip_value(b: BitArray, pos: Int) -> Result(Int, ScanError) {
  skip_value_at(b, pos, 0)
}

fn skip_value_at(b: BitArray, pos: Int, depth: Int) -> Result(Int, ScanError) {
  case depth > max_depth {
    True -> Error(Syntax(pos, "less nesting"))
    False -> {
      let #(c, p) = peek(b, pos)
      case c {
        34 ->
          case string(b, p) {
            Ok(#(_, after)) -> Ok(after)
            Error(e) -> Error(e)
          }
        123 -> skip_members(b, p + 1, True, depth)
        91 -> skip_elements(b, p + 1, True, depth)
        116 -> literal(b, p, <<"true":utf8>>)
        102 -> literal(b, p, <<"false":utf8>>)
        110 -> literal(b, p, <<"null":utf8>>)
        _ if c == 45 || c >= 48 && c <= 57 ->
          case number(b, p) {
            Ok(#(_, after)) -> Ok(after)
            Error(e) -> Error(e)
          }
        _ -> Error(Syntax(p, "a value"))
      }
    }
  }
}

fn skip_members(
  b: BitArray,
  pos: Int,
  first: Bool,
  depth: Int,
) -> Result(Int, ScanError) {
  case next_key(b, pos, first) {
    Error(e) -> Error(e)
    Ok(EndOfObject(after)) -> Ok(after)
    Ok(Key(_, after)) ->
      case skip_value_at(b, after, depth + 1) {
        Ok(next) -> skip_members(b, next, False, depth)
        Error(e) -> Error(e)
      }
  }
}

fn skip_elements(
  b: BitArray,
  pos: Int,
  first: Bool,
  depth: Int,
) -> Result(Int, ScanError) {
  case next_element(b, pos, first) {
    Error(e) -> Error(e)
    Ok(#(False, after)) -> Ok(after)
    Ok(#(True, at)) ->
      case skip_value_at(b, at, depth + 1) {
        Ok(next) -> skip_elements(b, next, False, depth)
        Error(e) -> Error(e)
      }
  }
}

/// `word` (`true`, `false`, `null`) at `pos`, and the position after it.
pub fn literal(
  b: BitArray,
  pos: Int,
  word: BitArray,
) -> Result(Int, ScanError) {
  case bytes.starts_with(b, pos, word) {
    True -> Ok(pos + bytes.size(word))
    False -> Error(Syntax(pos, "a value"))
  }
}
