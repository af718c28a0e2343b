//! One pass over a line that finds every `"` at once, so that a scanner
//! can jump from a string's opening quote to its closing one instead of
//! searching byte by byte (the simdjson idea, for one line, with SSE2:
//! 16 bytes per step, part of every x86-64 CPU).
//!
//! The index is only made for lines where a quote always ends a string:
//! lines with no `\` (no escapes) and no control bytes (which are errors
//! inside strings). Lines with either go the byte-by-byte way, which finds
//! and explains every error. The same pass says whether the line is all
//! ASCII, which makes a separate UTF-8 check needless.

/// Longest line the index covers, in bytes (longer lines are scanned
/// without it).
pub(crate) const MAX_INDEXED: usize = 1024;

/// Where the quotes of a clean line are: bit `i % 64` of word `i / 64`.
pub(crate) struct QuoteIndex {
    bits: [u64; MAX_INDEXED / 64],
    len: usize,
    /// The line is clean and short enough: the bits may be used.
    usable: bool,
}

impl QuoteIndex {
    /// The position of the first quote at or after `from`, or `None` when
    /// there is none. Only meaningful when [`Self::usable`].
    #[inline]
    pub fn next_quote(&self, from: usize) -> Option<usize> {
        if from >= self.len {
            return None;
        }
        let mut word = from / 64;
        let mut bits = self.bits[word] & (u64::MAX << (from % 64));
        while bits == 0 {
            word += 1;
            if word * 64 >= self.len {
                return None;
            }
            bits = self.bits[word];
        }
        Some(word * 64 + bits.trailing_zeros() as usize)
    }

    #[inline]
    pub fn usable(&self) -> bool {
        self.usable
    }

    /// An index that is not usable.
    pub const NONE: QuoteIndex = QuoteIndex {
        bits: [0; MAX_INDEXED / 64],
        len: 0,
        usable: false,
    };
}

/// Per 16 bytes: bits of the quotes, and whether any byte was a
/// backslash, a control byte, or not ASCII.
#[derive(Default, Clone, Copy)]
struct Block {
    quotes: u16,
    special: bool,
    high: bool,
}

/// Examines one line (without its terminator): fills `index` with its
/// quotes (usable when the line is clean) and says whether every byte is
/// ASCII (so the line is valid UTF-8).
#[inline(always)]
pub(crate) fn examine(line: &[u8], index: &mut QuoteIndex) -> bool {
    let indexable = line.len() <= MAX_INDEXED;
    let (mut special, mut high) = (false, false);
    // 64 bytes (one word of bits) at a time.
    let mut words = line.chunks_exact(64);
    for (w, chunk) in words.by_ref().enumerate() {
        let (quotes, sp, hi) = word(chunk);
        (special, high) = (special | sp, high | hi);
        if indexable {
            index.bits[w] = quotes;
        }
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // The last 64 bytes of the line (overlapping what was seen, when
        // the line is that long), or the line padded with spaces.
        let mut padded = [b' '; 64];
        let (last, skip) = if line.len() >= 64 {
            (&line[line.len() - 64..], 64 - tail.len())
        } else {
            padded[..tail.len()].copy_from_slice(tail);
            (&padded[..], 0)
        };
        let (quotes, sp, hi) = word(last);
        (special, high) = (special | sp, high | hi);
        if indexable {
            index.bits[line.len() / 64] = quotes >> skip;
        }
    }
    index.len = line.len();
    index.usable = indexable && !special;
    !high
}

/// Of 64 bytes: the bits of their quotes, whether any is a backslash or a
/// control byte, whether any is not ASCII.
#[inline(always)]
fn word(chunk: &[u8]) -> (u64, bool, bool) {
    let (mut quotes, mut special, mut high) = (0u64, false, false);
    for (k, part) in chunk.chunks_exact(16).enumerate() {
        let b = block(part.try_into().unwrap());
        quotes |= (b.quotes as u64) << (16 * k);
        special |= b.special;
        high |= b.high;
    }
    (quotes, special, high)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block(chunk: &[u8; 16]) -> Block {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86-64 baseline; the load reads exactly
    // the 16 bytes of `chunk`, unaligned.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr() as *const __m128i);
        let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // c <= 0x1f (unsigned) exactly when max(c, 0x1f) == 0x1f.
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
        let special = _mm_movemask_epi8(_mm_or_si128(backslash, control));
        Block {
            quotes: quotes as u16,
            special: special != 0,
            high: _mm_movemask_epi8(v) != 0,
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block(chunk: &[u8; 16]) -> Block {
    block_scalar(chunk)
}

/// The same as `block`, a byte at a time (the reference the SSE2 form is
/// tested against, and the form used elsewhere).
#[allow(dead_code)]
fn block_scalar(chunk: &[u8; 16]) -> Block {
    let mut b = Block::default();
    for (i, &c) in chunk.iter().enumerate() {
        b.quotes |= ((c == b'"') as u16) << i;
        b.special |= c == b'\\' || c < 0x20;
        b.high |= c >= 0x80;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_block_agrees_with_the_scalar_one_on_every_byte() {
        for c in 0..=255u8 {
            for at in [0usize, 7, 15] {
                let mut chunk = [b'a'; 16];
                chunk[at] = c;
                let (v, s) = (block(&chunk), block_scalar(&chunk));
                assert_eq!(
                    (v.quotes, v.special, v.high),
                    (s.quotes, s.special, s.high),
                    "byte {c:#x} at {at}"
                );
            }
        }
    }

    fn index(line: &[u8]) -> (QuoteIndex, bool) {
        let mut index = QuoteIndex::NONE;
        let ascii = examine(line, &mut index);
        (index, ascii)
    }

    #[test]
    fn finds_every_quote_of_a_clean_line() {
        for len in [
            0usize,
            1,
            15,
            16,
            17,
            63,
            64,
            65,
            200,
            MAX_INDEXED - 1,
            MAX_INDEXED,
        ] {
            let line: Vec<u8> = (0..len)
                .map(|i| {
                    if i % 7 == 3 || i % 64 == 63 || i + 1 == len {
                        b'"'
                    } else {
                        b'x'
                    }
                })
                .collect();
            let (index, ascii) = index(&line);
            assert!(ascii);
            assert!(index.usable(), "clean line");
            let mut from = 0;
            let mut found = Vec::new();
            while let Some(q) = index.next_quote(from) {
                found.push(q);
                from = q + 1;
            }
            let expected: Vec<usize> = (0..len).filter(|&i| line[i] == b'"').collect();
            assert_eq!(found, expected, "line of {len}");
        }
    }

    #[test]
    fn lines_with_escapes_control_bytes_or_too_long_get_no_index() {
        assert!(!index(br#"{"a":"b\"c"}"#).0.usable());
        assert!(!index(b"{\"a\":\"b\tc\"}").0.usable());
        for at in [0usize, 20, 39] {
            let mut line = vec![b' '; 40];
            line[at] = 0x01;
            assert!(!index(&line).0.usable(), "control byte at {at}");
            line[at] = 0xc3;
            assert!(!index(&line).1, "high byte at {at} is not ASCII");
        }
        assert!(!index(&vec![b'x'; MAX_INDEXED + 1]).0.usable());
        let (ix, ascii) = index("{\"a\":\"é\"}".as_bytes());
        assert!(!ascii && ix.usable());
    }
}
