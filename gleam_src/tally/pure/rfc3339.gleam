//// RFC 3339 timestamps to milliseconds since the epoch, in Gleam: the twin
//// of `parse_rfc3339` in `native/core/src/time.rs` (`t`, `z` and a space
//// accepted as RFC 3339 section 5.6 allows; a leap second, :60, is taken as
//// :59.999; sub-millisecond digits are truncated).

import tally/pure/bytes

/// Milliseconds since 1970-01-01T00:00:00Z, or `Error(Nil)`.
///
/// ```gleam
/// rfc3339.parse(<<"1996-12-19T16:39:57-08:00":utf8>>)
/// // -> Ok(851_042_397_000)
/// ```
pub fn parse(s: BitArray) -> Result(Int, Nil) {
  let at = fn(i) { bytes.at(s, i) }
  case
    bytes.size(s) < 20
    || at(4) != 45
    || at(7) != 45
    || at(13) != 58
    || at(16) != 58
  {
    True -> Error(Nil)
    False ->
      case at(10) {
        84 | 116 | 32 -> {
          let year = digits(s, 0, 4)
          let month = digits(s, 5, 2)
          let day = digits(s, 8, 2)
          let hour = digits(s, 11, 2)
          let minute = digits(s, 14, 2)
          let second = digits(s, 17, 2)
          case year, month, day, hour, minute, second {
            Ok(y), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(sec) ->
              case fraction_ms(s) {
                Error(Nil) -> Error(Nil)
                Ok(#(ms, rest)) ->
                  case offset_minutes(s, rest) {
                    Error(Nil) -> Error(Nil)
                    Ok(offset) ->
                      case to_epoch_ms(y, mo, d, h, mi, sec, ms) {
                        Ok(t) -> Ok(t - offset * 60_000)
                        Error(Nil) -> Error(Nil)
                      }
                  }
              }
            _, _, _, _, _, _ -> Error(Nil)
          }
        }
        _ -> Error(Nil)
      }
  }
}

fn digits(s: BitArray, from: Int, count: Int) -> Result(Int, Nil) {
  digits_loop(s, from, from + count, 0)
}

fn digits_loop(s: BitArray, i: Int, stop: Int, value: Int) -> Result(Int, Nil) {
  case i == stop {
    True -> Ok(value)
    False -> {
      let c = bytes.at(s, i)
      case bytes.is_digit(c) {
        True -> digits_loop(s, i + 1, stop, value * 10 + c - 48)
        False -> Error(Nil)
      }
    }
  }
}

// Milliseconds from an optional `.digits` at 19, and where the rest starts.
fn fraction_ms(s: BitArray) -> Result(#(Int, Int), Nil) {
  case bytes.at(s, 19) {
    46 -> {
      let end = fraction_end(s, 20)
      case end == 20 {
        True -> Error(Nil)
        False -> Ok(#(first_three(s, 20, end), end))
      }
    }
    _ -> Ok(#(0, 19))
  }
}

fn fraction_end(s: BitArray, i: Int) -> Int {
  case bytes.is_digit(bytes.at(s, i)) {
    True -> fraction_end(s, i + 1)
    False -> i
  }
}

fn first_three(s: BitArray, start: Int, end: Int) -> Int {
  let digit = fn(k) {
    case start + k < end {
      True -> bytes.at(s, start + k) - 48
      False -> 0
    }
  }
  digit(0) * 100 + digit(1) * 10 + digit(2)
}

// `Z` or `z` exactly, or `+HH:MM` / `-HH:MM` exactly, from `rest`.
fn offset_minutes(s: BitArray, rest: Int) -> Result(Int, Nil) {
  let left = bytes.size(s) - rest
  case left, bytes.at(s, rest) {
    1, 90 | 1, 122 -> Ok(0)
    6, sign if sign == 43 || sign == 45 ->
      case
        bytes.at(s, rest + 3) == 58,
        digits(s, rest + 1, 2),
        digits(s, rest + 4, 2)
      {
        True, Ok(h), Ok(m) if h <= 23 && m <= 59 ->
          case sign {
            43 -> Ok(h * 60 + m)
            _ -> Ok(0 - { h * 60 + m })
          }
        _, _, _ -> Error(Nil)
      }
    _, _ -> Error(Nil)
  }
}

fn is_leap_year(year: Int) -> Bool {
  year % 4 == 0 && year % 100 != 0 || year % 400 == 0
}

fn days_in_month(year: Int, month: Int) -> Int {
  case month {
    1 | 3 | 5 | 7 | 8 | 10 | 12 -> 31
    4 | 6 | 9 | 11 -> 30
    2 ->
      case is_leap_year(year) {
        True -> 29
        False -> 28
      }
    _ -> 0
  }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: Int, month: Int, day: Int) -> Int {
  let y = case month <= 2 {
    True -> year - 1
    False -> year
  }
  let era =
    case y >= 0 {
      True -> y
      False -> y - 399
    }
    / 400
  let yoe = y - era * 400
  let mp = case month > 2 {
    True -> month - 3
    False -> month + 9
  }
  let doy = { 153 * mp + 2 } / 5 + day - 1
  let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
  era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch, after checking every field is in range.
pub fn to_epoch_ms(
  year: Int,
  month: Int,
  day: Int,
  hour: Int,
  minute: Int,
  second: Int,
  ms: Int,
) -> Result(Int, Nil) {
  case
    month < 1
    || month > 12
    || day == 0
    || day > days_in_month(year, month)
    || hour > 23
    || minute > 59
    || second > 60
  {
    True -> Error(Nil)
    False -> {
      let #(sec, milli) = case second {
        60 -> #(59, 999)
        _ -> #(second, ms)
      }
      let days = days_from_civil(year, month, day)
      Ok({ { days * 24 + hour } * 60 + minute } * 60_000 + sec * 1000 + milli)
    }
  }
}
