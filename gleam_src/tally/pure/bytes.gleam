//// Byte access for the pure Gleam engine, through `tally_pure_ffi`.

/// The byte at `pos`, or -1 past the end.
@external(erlang, "tally_pure_ffi", "byte_at")
pub fn at(bytes: BitArray, pos: Int) -> Int

@external(erlang, "tally_pure_ffi", "slice")
pub fn slice(bytes: BitArray, pos: Int, len: Int) -> BitArray

/// The same bytes as a String: only for bytes known to be UTF-8.
@external(erlang, "tally_pure_ffi", "slice")
pub fn slice_text(bytes: BitArray, pos: Int, len: Int) -> String

@external(erlang, "tally_pure_ffi", "size")
pub fn size(bytes: BitArray) -> Int

/// -1 when the bytes are UTF-8, else where the first bad sequence starts.
@external(erlang, "tally_pure_ffi", "utf8_error_at")
pub fn utf8_error_at(bytes: BitArray) -> Int

@external(erlang, "tally_pure_ffi", "split_lines")
pub fn split_lines(bytes: BitArray) -> List(BitArray)

@external(erlang, "tally_pure_ffi", "append_byte")
pub fn append_byte(bytes: BitArray, byte: Int) -> BitArray

@external(erlang, "tally_pure_ffi", "append")
pub fn append(a: BitArray, b: BitArray) -> BitArray

@external(erlang, "tally_pure_ffi", "codepoint_utf8")
pub fn codepoint_utf8(code: Int) -> Result(BitArray, Nil)

@external(erlang, "tally_pure_ffi", "starts_with")
pub fn starts_with(bytes: BitArray, pos: Int, word: BitArray) -> Bool

@external(erlang, "tally_pure_ffi", "is_blank")
pub fn is_blank(bytes: BitArray) -> Bool

@external(erlang, "tally_pure_ffi", "strip_cr")
pub fn strip_cr(bytes: BitArray) -> BitArray

@external(erlang, "tally_pure_ffi", "head")
pub fn head(bytes: BitArray, n: Int) -> BitArray

/// Bytes known to be UTF-8, as a String (the same binary on Erlang).
@external(erlang, "tally_pure_ffi", "to_text")
pub fn to_text(bytes: BitArray) -> String

@external(erlang, "tally_pure_ffi", "reverse")
pub fn reverse(list: List(a)) -> List(a)

/// A list in Erlang term order (records field by field, strings bytewise:
/// the order of Rust's derived `Ord` on the same fields).
@external(erlang, "tally_pure_ffi", "sort")
pub fn sort(list: List(a)) -> List(a)

@external(erlang, "tally_pure_ffi", "length")
pub fn length(list: List(a)) -> Int

/// Decimal digits (checked by the caller) as an integer.
@external(erlang, "tally_pure_ffi", "parse_int")
pub fn parse_digits(digits: BitArray) -> Int

pub fn is_digit(c: Int) -> Bool {
  c >= 48 && c <= 57
}

/// Trims Unicode white space as Rust's `str::trim` does (UTF-8 input).
@external(erlang, "tally_pure_ffi", "trim")
pub fn trim(text: BitArray) -> BitArray

@external(erlang, "tally_pure_ffi", "ascii_lowercase")
pub fn ascii_lowercase(text: BitArray) -> BitArray

@external(erlang, "tally_pure_ffi", "int_to_text")
pub fn int_to_text(n: Int) -> String

/// Not empty, and only ASCII digits.
@external(erlang, "tally_pure_ffi", "all_digits")
pub fn all_digits(bytes: BitArray) -> Bool

/// Where `byte` is at or after `from`, or the size when it is not.
@external(erlang, "tally_pure_ffi", "find_byte")
pub fn find_byte(bytes: BitArray, from: Int, byte: Int) -> Int

/// FNV-1a (64 bits) of the bytes, as 16 lowercase hex digits.
@external(erlang, "tally_pure_ffi", "fnv1a64_hex")
pub fn fnv1a64_hex(bytes: BitArray) -> String
