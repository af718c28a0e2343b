//// Exact non-negative rationals for quantities and money, in Gleam: the
//// twin of `native/core/src/ratio.rs`. Gleam's integers have no limit, so
//// each operation the Rust engine checks against 128 bits is checked here
//// at the same step (`Error(Nil)` is its `Overflow`), and the results are
//// kept reduced as Rust keeps them.

import tally/billing
import tally/pure/bytes
import tally/pure/chain

const u128_max = 340_282_366_920_938_463_463_374_607_431_768_211_455

pub const zero = billing.Fraction(0, 1)

fn gcd(a: Int, b: Int) -> Int {
  case b {
    0 -> a
    _ -> gcd(b, a % b)
  }
}

fn at_least_one(n: Int) -> Int {
  case n < 1 {
    True -> 1
    False -> n
  }
}

/// `num / den`, reduced (`den` above 0).
pub fn new(num: Int, den: Int) -> billing.Fraction {
  let g = at_least_one(gcd(num, den))
  billing.Fraction(num / g, den / g)
}

pub fn int(n: Int) -> billing.Fraction {
  billing.Fraction(n, 1)
}

pub fn is_zero(a: billing.Fraction) -> Bool {
  a.numerator == 0
}

// A product or sum the Rust engine computes with checked 128-bit arithmetic.
fn fits(n: Int) -> Result(Int, Nil) {
  case n > u128_max {
    True -> Error(Nil)
    False -> Ok(n)
  }
}

pub fn add(
  a: billing.Fraction,
  b: billing.Fraction,
) -> Result(billing.Fraction, Nil) {
  let g = gcd(a.denominator, b.denominator)
  use den <- chain.then(fits(a.denominator / g * b.denominator))
  use x <- chain.then(fits(a.numerator * { b.denominator / g }))
  use y <- chain.then(fits(b.numerator * { a.denominator / g }))
  use sum <- chain.then(fits(x + y))
  Ok(new(sum, den))
}

/// `a - b`, or zero when `b` is larger.
pub fn saturating_sub(
  a: billing.Fraction,
  b: billing.Fraction,
) -> Result(billing.Fraction, Nil) {
  case compare(a, b) <= 0 {
    True -> Ok(zero)
    False -> {
      let g = gcd(a.denominator, b.denominator)
      use den <- chain.then(fits(a.denominator / g * b.denominator))
      use x <- chain.then(fits(a.numerator * { b.denominator / g }))
      use y <- chain.then(fits(b.numerator * { a.denominator / g }))
      Ok(new(x - y, den))
    }
  }
}

pub fn mul(
  a: billing.Fraction,
  b: billing.Fraction,
) -> Result(billing.Fraction, Nil) {
  // Cross-reduced first, as the Rust engine does, so the same products are checked.
  let g1 = at_least_one(gcd(a.numerator, b.denominator))
  let g2 = at_least_one(gcd(b.numerator, a.denominator))
  use num <- chain.then(fits(a.numerator / g1 * { b.numerator / g2 }))
  use den <- chain.then(fits(a.denominator / g2 * { b.denominator / g1 }))
  Ok(new(num, den))
}

/// -1, 0 or 1 as `a` is below, equal to or above `b`.
pub fn compare(a: billing.Fraction, b: billing.Fraction) -> Int {
  let x = a.numerator * b.denominator
  let y = b.numerator * a.denominator
  case x < y, x == y {
    True, _ -> -1
    _, True -> 0
    _, _ -> 1
  }
}

pub fn min(a: billing.Fraction, b: billing.Fraction) -> billing.Fraction {
  case compare(a, b) <= 0 {
    True -> a
    False -> b
  }
}

/// The smallest integer not below `a`.
pub fn ceil(a: billing.Fraction) -> Int {
  { a.numerator + a.denominator - 1 } / a.denominator
}

/// Rounds halves up: the rounding rule of every amount tally bills.
pub fn round_half_up(a: billing.Fraction) -> Int {
  let q = a.numerator / a.denominator
  let r = a.numerator % a.denominator
  case r >= a.denominator - r {
    True -> q + 1
    False -> q
  }
}

/// A non-negative decimal such as `12`, `0.023` or `.5`: plain digits with
/// at most one point and 30 decimals, white space around allowed.
pub fn parse_decimal(text: String) -> Result(billing.Fraction, Nil) {
  let s = bytes.trim(<<text:utf8>>)
  let n = bytes.size(s)
  let point = bytes.find_byte(s, 0, 46)
  let int_part = bytes.slice(s, 0, point)
  let frac_part = case point < n {
    True -> bytes.slice(s, point + 1, n - point - 1)
    False -> <<>>
  }
  let frac_len = bytes.size(frac_part)
  let digits = bytes.append(int_part, frac_part)
  case point == 0 && frac_len == 0 || frac_len > 30 {
    True -> Error(Nil)
    False ->
      case bytes.size(digits) == 0, only_digits(digits) {
        True, _ -> Ok(new(0, pow10(frac_len, 1)))
        False, True -> {
          use num <- chain.then(fits(bytes.parse_digits(digits)))
          Ok(new(num, pow10(frac_len, 1)))
        }
        False, False -> Error(Nil)
      }
  }
}

fn only_digits(b: BitArray) -> Bool {
  bytes.all_digits(b)
}

fn pow10(n: Int, acc: Int) -> Int {
  case n {
    0 -> acc
    _ -> pow10(n - 1, acc * 10)
  }
}
