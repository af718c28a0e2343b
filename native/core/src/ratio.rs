//! Exact non-negative rationals over u128, for quantities and money: every
//! intermediate value is exact and only the final amount is rounded.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "gleam", derive(tally_interop::IntoGleam), gleam(tag = "fraction"))]
pub struct Ratio {
    num: u128,
    den: u128,
}

/// An arithmetic result that does not fit 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("arithmetic overflow")]
pub struct Overflow;

/// Binary GCD (Stein): shifts and subtractions, no 128-bit division,
/// which is a slow library call; on 64-bit values it runs in u64.
fn gcd(a: u128, b: u128) -> u128 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    if a <= u64::MAX as u128 && b <= u64::MAX as u128 {
        return gcd64(a as u64, b as u64) as u128;
    }
    let shift = (a | b).trailing_zeros();
    let (mut a, mut b) = (a >> a.trailing_zeros(), b);
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
        if b <= u64::MAX as u128 && a <= u64::MAX as u128 {
            return (gcd64(a as u64, b as u64) as u128) << shift;
        }
    }
}

fn gcd64(a: u64, b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    let (mut a, mut b) = (a >> a.trailing_zeros(), b);
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

impl Ratio {
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub fn new(num: u128, den: u128) -> Ratio {
        assert!(den != 0, "zero denominator");
        let g = gcd(num, den).max(1);
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    pub fn int(n: u128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    pub fn num(&self) -> u128 {
        self.num
    }

    pub fn den(&self) -> u128 {
        self.den
    }

    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// Parses a non-negative decimal such as `12`, `0.023` or `1e3` is not
    /// accepted: plain digits with at most one point, at most 30 decimals.
    pub fn parse_decimal(s: &str) -> Option<Ratio> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty() || frac.len() > 30 {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let num: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        Some(Ratio::new(num, 10u128.checked_pow(frac.len() as u32)?))
    }

    /// `self + o`, or `Overflow` when the result does not fit.
    pub fn checked_add(self, o: Ratio) -> Result<Ratio, Overflow> {
        let g = gcd(self.den, o.den);
        let den = (self.den / g).checked_mul(o.den).ok_or(Overflow)?;
        let a = self.num.checked_mul(o.den / g).ok_or(Overflow)?;
        let b = o.num.checked_mul(self.den / g).ok_or(Overflow)?;
        Ok(Ratio::new(a.checked_add(b).ok_or(Overflow)?, den))
    }

    /// `self - o`, or zero when `o` is larger.
    pub fn saturating_sub(self, o: Ratio) -> Result<Ratio, Overflow> {
        if self <= o {
            return Ok(Ratio::ZERO);
        }
        let g = gcd(self.den, o.den);
        let den = (self.den / g).checked_mul(o.den).ok_or(Overflow)?;
        let a = self.num.checked_mul(o.den / g).ok_or(Overflow)?;
        let b = o.num.checked_mul(self.den / g).ok_or(Overflow)?;
        Ok(Ratio::new(a - b, den))
    }

    /// `self * o`, or `Overflow` when the result does not fit.
    pub fn checked_mul(self, o: Ratio) -> Result<Ratio, Overflow> {
        // Cross-reduce first to keep the products small.
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        let num = (self.num / g1).checked_mul(o.num / g2).ok_or(Overflow)?;
        let den = (self.den / g2).checked_mul(o.den / g1).ok_or(Overflow)?;
        Ok(Ratio::new(num, den))
    }

    pub fn min(self, o: Ratio) -> Ratio {
        if self <= o {
            self
        } else {
            o
        }
    }

    /// The smallest integer not below `self`.
    pub fn ceil(self) -> u128 {
        self.num.div_ceil(self.den)
    }

    /// Rounds to an integer, halves away from zero (up, as all values are
    /// non-negative): the rounding rule for every amount tally bills.
    pub fn round_half_up(self) -> u128 {
        let q = self.num / self.den;
        let r = self.num % self.den;
        if r >= self.den - r {
            q + 1
        } else {
            q
        }
    }

    /// The exact written form of a quantity: decimal digits when the value
    /// has a finite decimal expansion (its reduced denominator has no prime
    /// factor but 2 and 5: `"12"`, `"0.00000049"`, `"2.3"`), else the
    /// fraction `"N/D"` (`"1/3"`). No exponent, no trailing zeros, no
    /// leading zeros but the one before the point. The Erlang twin is
    /// `tally_invoice:quantity/1`.
    pub fn to_exact(self) -> String {
        let mut out = String::new();
        self.push_exact(&mut out);
        out
    }

    /// Appends [`Ratio::to_exact`]'s text to `out`. The digits of a
    /// denominator below 2^59 (every unit's: 2^30 bytes a GB, 3*10^8 a
    /// Mbps interval) are worked out in 64 bits: a close writes four
    /// quantities a line, millions of lines, and 128-bit division is a
    /// slow library call.
    pub fn push_exact(self, out: &mut String) {
        use std::fmt::Write as _;
        // A finite decimal expansion: the denominator is 2^a 5^b.
        let mut rest = self.den >> self.den.trailing_zeros();
        while rest.is_multiple_of(5) {
            rest /= 5;
        }
        if rest != 1 {
            let _ = write!(out, "{}/{}", self.num, self.den);
            return;
        }
        let int = self.num / self.den;
        match u64::try_from(int) {
            Ok(i) => {
                let _ = write!(out, "{i}");
            }
            Err(_) => {
                let _ = write!(out, "{int}");
            }
        }
        let r = self.num % self.den;
        if r != 0 {
            out.push('.');
        }
        if self.den < 1 << 59 {
            // 10r < 10 * 2^59 < 2^63: no overflow.
            let (den, mut r) = (self.den as u64, r as u64);
            while r != 0 {
                let ten = r * 10;
                out.push(char::from(b'0' + (ten / den) as u8));
                r = ten % den;
            }
            return;
        }
        let mut r = r;
        while r != 0 {
            // The next digit is floor(10r / den) and the new remainder
            // 10r mod den, by ten additions modulo den (10r may not fit).
            let mut digit = 0u8;
            let mut acc = 0u128;
            for _ in 0..10 {
                if acc >= self.den - r {
                    acc -= self.den - r;
                    digit += 1;
                } else {
                    acc += r;
                }
            }
            out.push(char::from(b'0' + digit));
            r = acc;
        }
    }

    /// Decimal text with `places` decimals, rounded half up (for display).
    pub fn to_decimal(self, places: u32) -> String {
        let scale = 10u128.pow(places);
        let scaled = match self.checked_mul(Ratio::int(scale)) {
            Ok(r) => r.round_half_up(),
            Err(_) => return format!("{}/{}", self.num, self.den),
        };
        if places == 0 {
            return scaled.to_string();
        }
        format!(
            "{}.{:0width$}",
            scaled / scale,
            scaled % scale,
            width = places as usize
        )
    }
}

impl PartialEq for Ratio {
    fn eq(&self, o: &Ratio) -> bool {
        self.num == o.num && self.den == o.den // always kept reduced
    }
}
impl Eq for Ratio {}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, o: &Ratio) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Ratio {
    fn cmp(&self, o: &Ratio) -> Ordering {
        // a/b vs c/d by continued-fraction comparison: no overflow.
        let (mut a, mut b, mut c, mut d) = (self.num, self.den, o.num, o.den);
        let mut flip = false;
        loop {
            let (qa, qc) = (a / b, c / d);
            if qa != qc {
                let ord = qa.cmp(&qc);
                return if flip { ord.reverse() } else { ord };
            }
            let (ra, rc) = (a % b, c % d);
            match (ra == 0, rc == 0) {
                (true, true) => return Ordering::Equal,
                (true, false) => return if flip { Ordering::Greater } else { Ordering::Less },
                (false, true) => return if flip { Ordering::Less } else { Ordering::Greater },
                (false, false) => {
                    // a/b - qa = ra/b; compare b/ra with d/rc, reversed.
                    (a, b, c, d) = (b, ra, d, rc);
                    flip = !flip;
                }
            }
        }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_rounding() {
        assert_eq!(Ratio::parse_decimal("0.023"), Some(Ratio::new(23, 1000)));
        assert_eq!(Ratio::parse_decimal("12"), Some(Ratio::int(12)));
        assert_eq!(Ratio::parse_decimal("-1"), None);
        assert_eq!(Ratio::parse_decimal("1e3"), None);
        assert_eq!(Ratio::new(5, 2).round_half_up(), 3);
        assert_eq!(Ratio::new(7, 3).round_half_up(), 2);
        assert_eq!(Ratio::new(1, 3).to_decimal(6), "0.333333");
        assert_eq!(Ratio::new(2, 3).to_decimal(2), "0.67");
        assert!(Ratio::new(1, 3) < Ratio::new(1, 2));
        assert!(Ratio::new(u128::MAX, 3) > Ratio::new(u128::MAX - 1, 3));
        assert_eq!(Ratio::new(10, 4).cmp(&Ratio::new(5, 2)), Ordering::Equal);
        assert_eq!(Ratio::new(7, 2).saturating_sub(Ratio::int(5)), Ok(Ratio::ZERO));
    }

    #[test]
    fn gcd_agrees_with_euclid() {
        fn euclid(mut a: u128, mut b: u128) -> u128 {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        }
        let mut x = 0x9E37_79B9_7F4A_7C15_u128 << 64 | 0x2545_F491_4F6C_DD1D;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let shift = i % 128;
            let (a, b) = (
                x >> shift,
                (x.rotate_left(i) >> (i % 90)).wrapping_mul(u128::from(i % 7 + 1)),
            );
            let common = u128::from(i % 13) << (i % 11);
            let (a, b) = (a.saturating_mul(common.max(1)), b.saturating_mul(common.max(1)));
            assert_eq!(gcd(a, b), euclid(a, b), "gcd({a}, {b})");
        }
        assert_eq!(gcd(0, 0), 0);
        assert_eq!(gcd(0, 7), 7);
        assert_eq!(gcd(u128::MAX, u128::MAX - 1), 1);
        assert_eq!(gcd(1 << 100, 1 << 70), 1 << 70);
    }

    #[test]
    fn exact_form() {
        assert_eq!(Ratio::int(12).to_exact(), "12");
        assert_eq!(Ratio::ZERO.to_exact(), "0");
        assert_eq!(
            Ratio::parse_decimal("0.00000049").unwrap().to_exact(),
            "0.00000049"
        );
        assert_eq!(Ratio::new(23, 10).to_exact(), "2.3");
        assert_eq!(Ratio::new(1, 3).to_exact(), "1/3");
        assert_eq!(Ratio::new(7, 6).to_exact(), "7/6");
        assert_eq!(
            Ratio::new(1, 1 << 30).to_exact(),
            format!("0.{:0>30}", 931322574615478515625u128)
        );
        assert_eq!(Ratio::new(u128::MAX, 1).to_exact(), u128::MAX.to_string());
        // A denominator near 2^127, where 10 times the remainder overflows.
        let big = Ratio::new(1u128 << 126 | 1, 1u128 << 127).to_exact();
        assert_eq!(
            big,
            "0.5000000000000000000000000000000000000058774717541114375398436826861112283890933277838604376075437585313920862972736358642578125"
        );
        // Denominators on both sides of 2^59 (digits in 64 bits below, in
        // 128 bits from there) give the digits long division gives.
        fn long_division(num: u128, den: u128) -> String {
            let mut out = format!("{}", num / den);
            let mut r = num % den;
            if r != 0 {
                out.push('.');
            }
            while r != 0 {
                // den < 2^100 here: 10r fits.
                out.push(char::from(b'0' + (r * 10 / den) as u8));
                r = r * 10 % den;
            }
            out
        }
        let dens = [
            1u128 << 30,
            (1 << 59) - 1,
            1 << 58,
            1 << 59,
            1 << 60,
            1 << 90,
            5u128.pow(27),
            3 * 100_000_000,
        ];
        for den in dens {
            for num in [1u128, 7, 999_999_937, u64::MAX as u128 + 12_345, 1 << 100] {
                let r = Ratio::new(num, den);
                let mut out = String::from("x=");
                r.push_exact(&mut out);
                let mut rest = r.den >> r.den.trailing_zeros();
                while rest.is_multiple_of(5) {
                    rest /= 5;
                }
                let want = if rest == 1 {
                    long_division(r.num, r.den)
                } else {
                    format!("{}/{}", r.num, r.den)
                };
                assert_eq!(out, format!("x={want}"), "{num}/{den}");
            }
        }
        // Every digit string read back is the same value.
        for (n, d) in [(1u128, 8u128), (3, 40), (999, 1000), (5, 2), (123456789, 1 << 20)] {
            let text = Ratio::new(n, d).to_exact();
            assert_eq!(Ratio::parse_decimal(&text), Some(Ratio::new(n, d)), "{text}");
        }
    }
}
