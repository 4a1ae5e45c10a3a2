//! Encoding helpers every format uses: LEB128 varints and fixed-width
//! little-endian integers.
//!
//! Decoders take a `&mut &[u8]` cursor, advance it past what they read, and
//! return `None` on truncated or over-long input, never panicking. Callers
//! turn `None` into a corruption error naming their file and offset.

use byteorder::{ByteOrder, LittleEndian};

/// Most bytes a varint-encoded `u32` can take.
pub const MAX_VARINT32_BYTES: usize = 5;
/// Most bytes a varint-encoded `u64` can take.
pub const MAX_VARINT64_BYTES: usize = 10;

/// Appends `value` as a LEB128 varint.
#[inline]
pub fn put_varint64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` as a LEB128 varint.
#[inline]
pub fn put_varint32(out: &mut Vec<u8>, value: u32) {
    put_varint64(out, u64::from(value));
}

/// Bytes `value` takes as a varint.
#[inline]
pub fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Reads a varint `u64`, advancing `input`. `None` if truncated or longer
/// than ten bytes or overflowing 64 bits.
///
/// The one-byte case (most lengths in blocks and batches) is inlined into
/// every caller; longer varints take a call. As one function, LLVM kept it
/// out of line in block seeks, where it was 5.8% of a random-read profile.
#[inline(always)]
pub fn get_varint64(input: &mut &[u8]) -> Option<u64> {
    if let Some((&byte, rest)) = input.split_first() {
        if byte < 0x80 {
            *input = rest;
            return Some(u64::from(byte));
        }
    }
    get_long_varint64(input)
}

/// [`get_varint64`] for a varint longer than one byte (or empty input).
#[cold]
#[inline(never)]
fn get_long_varint64(input: &mut &[u8]) -> Option<u64> {
    let mut result: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(MAX_VARINT64_BYTES) {
        let shift = 7 * i as u32;
        let bits = u64::from(byte & 0x7F);
        if shift == 63 && bits > 1 {
            return None;
        }
        result |= bits << shift;
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(result);
        }
    }
    None
}

/// Reads a varint `u32`, advancing `input`. `None` if truncated or the
/// value does not fit 32 bits. One-byte varints inlined, as
/// [`get_varint64`].
#[inline(always)]
pub fn get_varint32(input: &mut &[u8]) -> Option<u32> {
    if let Some((&byte, rest)) = input.split_first() {
        if byte < 0x80 {
            *input = rest;
            return Some(u32::from(byte));
        }
    }
    get_long_varint32(input)
}

/// [`get_varint32`] for a varint longer than one byte (or empty input).
#[cold]
#[inline(never)]
fn get_long_varint32(input: &mut &[u8]) -> Option<u32> {
    let mut probe = *input;
    let value = get_long_varint64(&mut probe)?;
    let value = u32::try_from(value).ok()?;
    *input = probe;
    Some(value)
}

/// Appends a little-endian `u32`.
#[inline]
pub fn put_fixed32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a little-endian `u64`.
#[inline]
pub fn put_fixed64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Reads a little-endian `u32`, advancing `input`.
#[inline]
pub fn get_fixed32(input: &mut &[u8]) -> Option<u32> {
    let bytes = input.get(..4)?;
    let value = LittleEndian::read_u32(bytes);
    *input = &input[4..];
    Some(value)
}

/// Reads a little-endian `u64`, advancing `input`.
#[inline]
pub fn get_fixed64(input: &mut &[u8]) -> Option<u64> {
    let bytes = input.get(..8)?;
    let value = LittleEndian::read_u64(bytes);
    *input = &input[8..];
    Some(value)
}

/// Appends `bytes` prefixed with its varint length.
#[inline]
pub fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a varint-length-prefixed slice, advancing `input`. The length is
/// checked against what remains before anything is sliced.
#[inline]
pub fn get_length_prefixed<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut probe = *input;
    let len = usize::try_from(get_varint64(&mut probe)?).ok()?;
    if len > probe.len() {
        return None;
    }
    let (bytes, rest) = probe.split_at(len);
    *input = rest;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_edges() {
        for value in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint64(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value));
            let mut input = &buf[..];
            assert_eq!(get_varint64(&mut input), Some(value));
            assert!(input.is_empty());
        }
    }

    #[test]
    fn varint_rejects_overflow_and_truncation() {
        let mut input: &[u8] = &[0xFF; 11];
        assert_eq!(get_varint64(&mut input), None);
        let mut input: &[u8] = &[0x80, 0x80];
        assert_eq!(get_varint64(&mut input), None);
        // 2^64 exactly: ten bytes, last one carrying bit 64.
        let mut input: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02];
        assert_eq!(get_varint64(&mut input), None);
        let mut buf = Vec::new();
        put_varint64(&mut buf, u64::from(u32::MAX) + 1);
        let mut input = &buf[..];
        assert_eq!(get_varint32(&mut input), None);
        assert_eq!(input.len(), buf.len(), "failed decode must not advance");
    }

    proptest! {
        #[test]
        fn varint_roundtrip(value in any::<u64>()) {
            let mut buf = Vec::new();
            put_varint64(&mut buf, value);
            let mut input = &buf[..];
            prop_assert_eq!(get_varint64(&mut input), Some(value));
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let mut input = &bytes[..];
            let _ = get_varint64(&mut input);
            let mut input = &bytes[..];
            let _ = get_varint32(&mut input);
            let mut input = &bytes[..];
            let _ = get_fixed64(&mut input);
            let mut input = &bytes[..];
            if let Some(slice) = get_length_prefixed(&mut input) {
                prop_assert!(slice.len() <= bytes.len());
            }
        }

        #[test]
        fn length_prefixed_roundtrip(a in proptest::collection::vec(any::<u8>(), 0..300), b in proptest::collection::vec(any::<u8>(), 0..10)) {
            let mut buf = Vec::new();
            put_length_prefixed(&mut buf, &a);
            put_length_prefixed(&mut buf, &b);
            let mut input = &buf[..];
            prop_assert_eq!(get_length_prefixed(&mut input), Some(&a[..]));
            prop_assert_eq!(get_length_prefixed(&mut input), Some(&b[..]));
            prop_assert!(input.is_empty());
        }
    }
}
