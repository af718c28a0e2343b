//! Input cut into chunks ending at a line's end, as a collector reads a
//! file. Include with `#[path = "support/chunks.rs"] mod chunks;`.

/// `data` in chunks of about `size` bytes, each ending after a newline
/// (the last one with whatever is left).
pub fn chunks(data: &[u8], size: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() > size {
        let cut = memchr::memchr(b'\n', &rest[size..]).map_or(rest.len(), |i| size + i + 1);
        let (chunk, tail) = rest.split_at(cut);
        out.push(chunk);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}
