//! `{packet,4}` framing: each message is preceded by its length as a 4-byte
//! big-endian integer, as `open_port(..., [{packet, 4}])` reads and writes it.

use crate::InteropError;

/// Prefixes `payload` with its 4-byte length.
pub fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a byte stream that arrives in arbitrary pieces into frames, refusing
/// any frame over `max_frame` bytes before buffering it.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_frame: usize,
}

impl FrameDecoder {
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max_frame,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, InteropError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let size = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if size > self.max_frame {
            return Err(InteropError::FrameTooLarge {
                size,
                limit: self.max_frame,
            });
        }
        if self.buf.len() < 4 + size {
            return Ok(None);
        }
        let frame = self.buf[4..4 + size].to_vec();
        self.buf.drain(..4 + size);
        Ok(Some(frame))
    }

    /// Bytes held that do not yet make a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split() {
        let mut stream = encode_frame(b"hello");
        stream.extend(encode_frame(b""));
        stream.extend(encode_frame(&[7u8; 300]));
        for cut in 0..stream.len() {
            let mut d = FrameDecoder::new(1024);
            let mut frames = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            assert_eq!(frames, vec![b"hello".to_vec(), vec![], vec![7u8; 300]]);
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn refuses_oversized_frames_early() {
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 0, 11]);
        assert_eq!(
            d.next_frame(),
            Err(InteropError::FrameTooLarge { size: 11, limit: 10 })
        );
    }
}
