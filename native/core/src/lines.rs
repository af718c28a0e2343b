//! Splitting a byte stream that arrives in arbitrary chunks into lines.
//!
//! A line ends at `\n` (a `\r` before it is dropped). The splitter keeps only
//! the unfinished tail of the last chunk, so memory is bounded by the
//! longest line, and by `max_line` even for input with no newlines at all:
//! a longer line is not buffered but skipped and reported as too long.

/// Where a line sits in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePos {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte from the start of the stream.
    pub offset: u64,
}

/// What the splitter hands to its caller for each line.
#[derive(Debug, PartialEq, Eq)]
pub enum LineItem<'a> {
    Line(LinePos, &'a [u8]),
    /// A line over the limit: its full length and its first bytes.
    TooLong(LinePos, u64, &'a [u8]),
}

/// Default line length limit: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LineSplitter {
    max_line: usize,
    /// The unfinished line carried over from earlier chunks.
    carry: Vec<u8>,
    /// Set while skipping an over-long line: its total length so far.
    skipping: Option<u64>,
    next_line: u64,
    /// Offset of the start of the line being assembled.
    line_start: u64,
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        LineSplitter {
            max_line,
            carry: Vec::new(),
            skipping: None,
            next_line: 1,
            line_start: 0,
        }
    }

    /// Lines started so far (the number the next line will get, minus one).
    pub fn lines_seen(&self) -> u64 {
        self.next_line - 1
    }

    fn strip_cr(line: &[u8]) -> &[u8] {
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// Feeds a chunk; calls `each` for every line it completes.
    pub fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(LineItem)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    let piece = &rest[..nl];
                    self.complete(piece, &mut each);
                    self.line_start += nl as u64 + 1;
                    rest = &rest[nl + 1..];
                }
                None => {
                    self.extend_partial(rest);
                    // line_start counts what was consumed; `complete` subtracts the
                    // carried length to find where the line really began.
                    self.line_start += rest.len() as u64;
                    rest = &[];
                }
            }
        }
    }

    /// Signals the end of the input: a last line without `\n` is completed.
    pub fn finish(&mut self, mut each: impl FnMut(LineItem)) {
        if !self.carry.is_empty() || self.skipping.is_some() {
            self.complete(&[], &mut each);
        }
    }

    fn extend_partial(&mut self, piece: &[u8]) {
        match self.skipping.as_mut() {
            Some(len) => {
                *len += piece.len() as u64;
                let room = crate::reject::KEPT_TEXT_LIMIT.saturating_sub(self.carry.len());
                self.carry.extend_from_slice(&piece[..room.min(piece.len())]);
            }
            None if self.carry.len() + piece.len() > self.max_line => {
                let len = (self.carry.len() + piece.len()) as u64;
                // Keep only the head, for the reject's text.
                let keep = crate::reject::KEPT_TEXT_LIMIT
                    .saturating_sub(self.carry.len())
                    .min(piece.len());
                self.carry.extend_from_slice(&piece[..keep]);
                self.carry.truncate(crate::reject::KEPT_TEXT_LIMIT);
                self.skipping = Some(len);
            }
            None => self.carry.extend_from_slice(piece),
        }
    }

    fn complete(&mut self, piece: &[u8], each: &mut impl FnMut(LineItem)) {
        // The line began before the carried bytes, which `feed` already counted.
        let carried = match self.skipping {
            Some(len) => len,
            None => self.carry.len() as u64,
        };
        let start = self.line_start - carried;
        let pos = LinePos {
            line: self.next_line,
            offset: start,
        };
        if let Some(len) = self.skipping.take() {
            let total = len + piece.len() as u64;
            let room = crate::reject::KEPT_TEXT_LIMIT.saturating_sub(self.carry.len());
            self.carry.extend_from_slice(&piece[..room.min(piece.len())]);
            each(LineItem::TooLong(pos, total, &self.carry));
            self.carry.clear();
        } else if self.carry.is_empty() {
            if piece.len() > self.max_line {
                let head = &piece[..piece.len().min(crate::reject::KEPT_TEXT_LIMIT)];
                each(LineItem::TooLong(pos, piece.len() as u64, head));
            } else {
                each(LineItem::Line(pos, Self::strip_cr(piece)));
            }
        } else {
            let total = self.carry.len() + piece.len();
            if total > self.max_line {
                self.carry
                    .extend_from_slice(&piece[..piece.len().min(crate::reject::KEPT_TEXT_LIMIT)]);
                self.carry.truncate(crate::reject::KEPT_TEXT_LIMIT);
                each(LineItem::TooLong(pos, total as u64, &self.carry));
            } else {
                self.carry.extend_from_slice(piece);
                each(LineItem::Line(pos, Self::strip_cr(&self.carry)));
            }
            self.carry.clear();
        }
        self.next_line += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<(u64, u64, Result<Vec<u8>, u64>)> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut push = |item: LineItem| match item {
            LineItem::Line(p, l) => out.push((p.line, p.offset, Ok(l.to_vec()))),
            LineItem::TooLong(p, len, _) => out.push((p.line, p.offset, Err(len))),
        };
        for c in chunks {
            s.feed(c, &mut push);
        }
        s.finish(&mut push);
        out
    }

    #[test]
    fn positions_and_crlf() {
        let got = split(&[b"ab\r\ncd\n\nef"], 100);
        assert_eq!(
            got,
            vec![
                (1, 0, Ok(b"ab".to_vec())),
                (2, 4, Ok(b"cd".to_vec())),
                (3, 7, Ok(vec![])),
                (4, 8, Ok(b"ef".to_vec()))
            ]
        );
    }

    #[test]
    fn any_split_gives_the_same_lines() {
        let input = b"first line\nsecond\r\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nlast";
        let whole = split(&[input], 16);
        assert_eq!(whole[3], (4, 20, Err(30)));
        for a in 0..input.len() {
            for b in a..input.len() {
                assert_eq!(
                    split(&[&input[..a], &input[a..b], &input[b..]], 16),
                    whole,
                    "cuts at {a}, {b}"
                );
            }
        }
    }

    #[test]
    fn endless_line_is_bounded() {
        let mut s = LineSplitter::new(10);
        for _ in 0..1000 {
            s.feed(&[b'x'; 1000], |_| panic!("no line yet"));
        }
        assert!(s.carry.len() <= crate::reject::KEPT_TEXT_LIMIT);
        let mut got = None;
        s.feed(b"\n", |item| {
            if let LineItem::TooLong(p, len, _) = item {
                got = Some((p.offset, len));
            }
        });
        assert_eq!(got, Some((0, 1_000_000)));
    }
}
