//! Checksummed record framing shared by the WAL and the manifest log.
//! Byte layout and recovery rules: `docs/format/wal.md` ("Record framing").
//!
//! ```text
//! +--------------------+-----------------+-----------+--------------------+
//! | masked CRC-32: u32 | length: u32 LE  | type: u8  | payload (length B) |
//! +--------------------+-----------------+-----------+--------------------+
//!   CRC-32 (IEEE), masked, over the length bytes, the type byte and the payload.
//! ```
//!
//! Type 0 is never written: a header of zeros is unused (preallocated or
//! never-written) space. A payload is never empty.

use byteorder::{ByteOrder, LittleEndian};

use crate::checksum::{crc32_parts, mask_crc, unmask_crc};

/// Bytes of a record header: CRC, length, type.
pub const RECORD_HEADER_BYTES: usize = 9;

/// Appends one framed record to `out`. REQUIRES: `kind != 0`, payload not
/// empty and shorter than `u32::MAX` (callers bound it far lower).
pub fn encode_record(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    debug_assert_ne!(kind, 0, "record type 0 is reserved for unused space");
    debug_assert!(!payload.is_empty());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let len_bytes = len.to_le_bytes();
    let crc = mask_crc(crc32_parts(&[&len_bytes, &[kind], payload]));
    out.reserve(RECORD_HEADER_BYTES + payload.len());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&len_bytes);
    out.push(kind);
    out.extend_from_slice(payload);
}

/// What [`decode_record`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordDecode<'a> {
    /// A whole record whose checksum matches.
    Record {
        /// The record type (never 0).
        kind: u8,
        /// The payload.
        payload: &'a [u8],
        /// Bytes the record takes, header included.
        framed_len: usize,
    },
    /// The buffer is empty: a clean end.
    End,
    /// The header or payload runs past the end of the buffer: a torn write
    /// if this is the end of the newest file.
    Incomplete,
    /// The header is all zeros: unused space after the last record.
    Zeroed,
    /// The bytes are not a valid record; the text says which check failed.
    Bad(&'static str),
}

/// Decodes the record at the start of `buf`. `max_payload` bounds the length
/// field before anything is sliced or allocated from it. Never panics.
pub fn decode_record(buf: &[u8], max_payload: usize) -> RecordDecode<'_> {
    if buf.is_empty() {
        return RecordDecode::End;
    }
    if buf.len() < RECORD_HEADER_BYTES {
        if buf.iter().all(|&b| b == 0) {
            return RecordDecode::Zeroed;
        }
        return RecordDecode::Incomplete;
    }
    let header = &buf[..RECORD_HEADER_BYTES];
    if header.iter().all(|&b| b == 0) {
        return RecordDecode::Zeroed;
    }
    let stored_crc = unmask_crc(LittleEndian::read_u32(&header[0..4]));
    let len_bytes = &header[4..8];
    let len = LittleEndian::read_u32(len_bytes) as usize;
    let kind = header[8];
    if kind == 0 {
        return RecordDecode::Bad("record type 0 with a non-zero header");
    }
    if len == 0 {
        return RecordDecode::Bad("record with an empty payload");
    }
    if len > max_payload {
        return RecordDecode::Bad("record length exceeds the maximum");
    }
    let Some(payload) = buf.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len) else {
        return RecordDecode::Incomplete;
    };
    if crc32_parts(&[len_bytes, &[kind], payload]) != stored_crc {
        return RecordDecode::Bad("record checksum mismatch");
    }
    RecordDecode::Record {
        kind,
        payload,
        framed_len: RECORD_HEADER_BYTES + len,
    }
}

/// The offset of the first valid record at or after `from` in `buf`, if
/// any. Recovery uses it to tell a torn tail (nothing valid follows the
/// damage) from corruption in the middle of a log (a valid record follows).
/// Cost is linear in practice: a candidate must pass the type, length and
/// bound checks before its checksum is computed.
pub fn find_next_valid_record(buf: &[u8], from: usize, max_payload: usize) -> Option<usize> {
    (from..buf.len()).find(|&offset| {
        matches!(
            decode_record(&buf[offset..], max_payload),
            RecordDecode::Record { .. }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_two_records() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"hello");
        encode_record(&mut buf, 2, b"world!");
        let RecordDecode::Record {
            kind,
            payload,
            framed_len,
        } = decode_record(&buf, 100)
        else {
            panic!("first record did not decode");
        };
        assert_eq!((kind, payload, framed_len), (1, &b"hello"[..], 14));
        let RecordDecode::Record { kind, payload, .. } = decode_record(&buf[framed_len..], 100)
        else {
            panic!("second record did not decode");
        };
        assert_eq!((kind, payload), (2, &b"world!"[..]));
        assert_eq!(decode_record(&buf[buf.len()..], 100), RecordDecode::End);
    }

    #[test]
    fn every_truncation_is_incomplete_and_every_flip_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"some payload bytes");
        for cut in 1..buf.len() {
            assert_eq!(
                decode_record(&buf[..cut], 100),
                RecordDecode::Incomplete,
                "cut at {cut}"
            );
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(
                !matches!(decode_record(&bad, 100), RecordDecode::Record { .. }),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn zeros_and_oversize_lengths() {
        assert_eq!(decode_record(&[0; 20], 100), RecordDecode::Zeroed);
        assert_eq!(decode_record(&[0; 3], 100), RecordDecode::Zeroed);
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, &[7; 200]);
        assert_eq!(
            decode_record(&buf, 100),
            RecordDecode::Bad("record length exceeds the maximum")
        );
    }

    #[test]
    fn finds_valid_record_after_damage() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"first");
        let second = buf.len();
        encode_record(&mut buf, 1, b"second");
        buf[2] ^= 0xFF;
        assert_eq!(find_next_valid_record(&buf, 0, 100), Some(second));
        assert_eq!(find_next_valid_record(&buf, second + 1, 100), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let RecordDecode::Record { framed_len, payload, .. } = decode_record(&bytes, 32) {
                prop_assert!(framed_len <= bytes.len());
                prop_assert!(!payload.is_empty());
            }
            let _ = find_next_valid_record(&bytes, 0, 32);
        }
    }
}
