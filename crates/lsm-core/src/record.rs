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

/// The offset of the first valid record at or after `from` in `buf` whose
/// header `plausible(type, payload length)` accepts, if any. Recovery uses
/// it to tell a torn tail (nothing valid follows the damage) from
/// corruption in the middle of a log (a valid record follows).
///
/// `plausible` says which headers the log's writer can have written (its
/// record types, and the lengths those can have). It is checked before
/// the checksum, which is what keeps the scan affordable: in high-entropy
/// bytes (random values in a log) about one offset in 64 has a length that
/// fits the rest of a 64 MiB buffer, and each of those costs a checksum
/// over up to the whole rest, so the cost grows with the cube of the
/// damaged file's size. A scan of random bytes accepting every header
/// took 0.71 s for 8 MiB, 6.8 s for 16 MiB and 50 s for 32 MiB (a 64 MiB
/// WAL segment: minutes); accepting only the WAL's (type 5, or type 4 with
/// an 8-byte payload), 0.006 s, 0.014 s, and 2.2 s for 64 MiB (a scratch
/// program, release build, development VM).
pub fn find_next_valid_record(
    buf: &[u8],
    from: usize,
    max_payload: usize,
    plausible: impl Fn(u8, usize) -> bool,
) -> Option<usize> {
    (from..buf.len()).find(|&offset| {
        let rest = &buf[offset..];
        if let Some(header) = rest.get(..RECORD_HEADER_BYTES) {
            let len = LittleEndian::read_u32(&header[4..8]) as usize;
            if !plausible(header[8], len) {
                return false;
            }
        }
        matches!(
            decode_record(rest, max_payload),
            RecordDecode::Record { .. }
        )
    })
}

/// The offset of the first valid record after the damaged record at
/// `offset` in `buf` that is not a part of it, if any. Recovery uses it to
/// tell a torn tail from damage in the middle of a log, as
/// [`find_next_valid_record`] from `offset + 1` (with `plausible`), with
/// one difference: when the damaged record's header is plausible (one
/// `plausible` accepts, with a length from 1 to `max_payload`), a valid
/// record that starts inside the extent that header claims counts only if
/// the damaged record, cut to end where it starts, matches its own
/// checksum. (A log whose damaged record and the records after it have
/// different kinds, such as the WAL's segment header, gives
/// `claim_plausible` for the damaged one.)
///
/// Why: a torn record keeps its header and loses the rest of its payload,
/// and its payload is user data, which can hold whole valid records (a
/// value that is itself a log record); those must not make a torn tail
/// look like damage in the middle of the log. Damage to a record's length
/// field alone, which could make it claim the records after it, leaves
/// its checksum right for its true length, where the next record starts:
/// that is still found. What this cannot find: damage that turns a record
/// header into another plausible header claiming the records after it
/// (for random bytes, one header in thousands) and alters its checksum
/// field too.
pub fn find_record_after_damage(
    buf: &[u8],
    offset: usize,
    max_payload: usize,
    claim_plausible: impl Fn(u8, usize) -> bool,
    plausible: impl Fn(u8, usize) -> bool,
) -> Option<usize> {
    let damaged = buf.get(offset..)?;
    let claimed = ClaimedRecord::read(damaged, max_payload, claim_plausible);
    let mut from = offset + 1;
    while let Some(at) = find_next_valid_record(buf, from, max_payload, &plausible) {
        let inside = at - offset;
        match &claimed {
            Some(claimed) if inside < claimed.framed_len && !claimed.ends_at(damaged, inside) => {
                from = at + 1;
            }
            _ => return Some(at),
        }
    }
    None
}

/// What a damaged record's header claims (see
/// [`find_record_after_damage`]).
struct ClaimedRecord {
    crc: u32,
    kind: u8,
    framed_len: usize,
}

impl ClaimedRecord {
    /// The claim of the header at the start of `buf`, if the header is
    /// whole and plausible.
    fn read(buf: &[u8], max_payload: usize, plausible: impl Fn(u8, usize) -> bool) -> Option<Self> {
        let header = buf.get(..RECORD_HEADER_BYTES)?;
        let len = LittleEndian::read_u32(&header[4..8]) as usize;
        let kind = header[8];
        if kind == 0 || !plausible(kind, len) || len == 0 || len > max_payload {
            return None;
        }
        Some(ClaimedRecord {
            crc: unmask_crc(LittleEndian::read_u32(&header[0..4])),
            kind,
            framed_len: RECORD_HEADER_BYTES + len,
        })
    }

    /// True when the record, taken to end `framed_len` bytes into `buf`,
    /// matches its checksum: its length field alone was damaged.
    fn ends_at(&self, buf: &[u8], framed_len: usize) -> bool {
        let Some(payload) = buf.get(RECORD_HEADER_BYTES..framed_len) else {
            return false;
        };
        let Ok(len) = u32::try_from(payload.len()) else {
            return false;
        };
        !payload.is_empty() && crc32_parts(&[&len.to_le_bytes(), &[self.kind], payload]) == self.crc
    }
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
        assert_eq!(
            find_next_valid_record(&buf, 0, 100, any_header),
            Some(second)
        );
        assert_eq!(
            find_next_valid_record(&buf, second + 1, 100, any_header),
            None
        );
    }

    /// A record whose payload holds a whole valid record (a value that is
    /// itself a log record), and `(start, embedded_at)` of it in `buf`.
    fn record_holding_a_record(buf: &mut Vec<u8>) -> (usize, usize) {
        let mut inner = Vec::new();
        encode_record(&mut inner, 1, b"inner");
        let mut payload = b"value: ".to_vec();
        payload.extend_from_slice(&inner);
        payload.extend_from_slice(b" and more of the value");
        let start = buf.len();
        encode_record(buf, 1, &payload);
        (start, start + RECORD_HEADER_BYTES + b"value: ".len())
    }

    fn kind_1(kind: u8, _len: usize) -> bool {
        kind == 1
    }

    fn any_header(_kind: u8, _len: usize) -> bool {
        true
    }

    #[test]
    fn an_implausible_header_is_skipped_before_its_checksum() {
        let mut buf = vec![0xAB];
        encode_record(&mut buf, 2, b"of another type");
        let second = buf.len();
        encode_record(&mut buf, 1, b"of the log's type");
        assert_eq!(find_next_valid_record(&buf, 0, 100, any_header), Some(1));
        assert_eq!(find_next_valid_record(&buf, 0, 100, kind_1), Some(second));
        let short = |kind: u8, len: usize| kind == 1 && len < 5;
        assert_eq!(find_next_valid_record(&buf, 0, 100, short), None);
    }

    #[test]
    fn a_record_inside_a_torn_record_is_part_of_it() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"first");
        let (torn, embedded) = record_holding_a_record(&mut buf);
        buf.truncate(buf.len() - 3); // cut by a crash
        assert_eq!(
            find_next_valid_record(&buf, torn + 1, 100, any_header),
            Some(embedded)
        );
        assert_eq!(
            find_record_after_damage(&buf, torn, 100, kind_1, kind_1),
            None
        );
        // The same record torn by zeros (unwritten space after it).
        let mut zeroed = Vec::new();
        let (torn, _) = record_holding_a_record(&mut zeroed);
        let len = zeroed.len();
        zeroed[len - 3..].fill(0);
        zeroed.extend_from_slice(&[0; 64]);
        assert_eq!(
            find_record_after_damage(&zeroed, torn, 100, kind_1, kind_1),
            None
        );
    }

    #[test]
    fn a_record_after_the_damaged_one_is_found() {
        // The payload damaged: the next record starts where the damaged
        // one claims to end.
        let mut buf = Vec::new();
        let (damaged, _) = record_holding_a_record(&mut buf);
        let next = buf.len();
        encode_record(&mut buf, 1, b"next");
        buf[damaged + RECORD_HEADER_BYTES] ^= 0x01;
        assert_eq!(
            find_record_after_damage(&buf, damaged, 100, kind_1, kind_1),
            Some(next)
        );
    }

    #[test]
    fn a_damaged_length_claiming_the_next_records_does_not_hide_them() {
        let mut buf = Vec::new();
        let (damaged, _) = record_holding_a_record(&mut buf);
        let next = buf.len();
        encode_record(&mut buf, 1, b"next");
        encode_record(&mut buf, 1, b"and the one after");
        // The length field now claims past the end of the buffer.
        buf[damaged + 4] = 90;
        assert!(matches!(
            decode_record(&buf[damaged..], 100),
            RecordDecode::Incomplete
        ));
        assert_eq!(
            find_record_after_damage(&buf, damaged, 100, kind_1, kind_1),
            Some(next)
        );
    }

    #[test]
    fn an_implausible_header_claims_nothing() {
        for damage in [
            |h: &mut [u8]| h[8] = 7, // a type the log does not use
            |h: &mut [u8]| h[4..8].copy_from_slice(&1000u32.to_le_bytes()), // over the maximum
            |h: &mut [u8]| h.fill(0xFF),
        ] {
            let mut buf = Vec::new();
            let (damaged, embedded) = record_holding_a_record(&mut buf);
            damage(&mut buf[damaged..damaged + RECORD_HEADER_BYTES]);
            assert_eq!(
                find_record_after_damage(&buf, damaged, 100, kind_1, kind_1),
                Some(embedded),
                "a header that claims nothing cannot own the record inside it"
            );
        }
    }

    #[test]
    fn damage_too_short_for_a_header() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 1, b"first");
        let end = buf.len();
        buf.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            find_record_after_damage(&buf, end, 100, kind_1, kind_1),
            None
        );
        assert_eq!(
            find_record_after_damage(&buf, buf.len() + 5, 100, kind_1, kind_1),
            None
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let RecordDecode::Record { framed_len, payload, .. } = decode_record(&bytes, 32) {
                prop_assert!(framed_len <= bytes.len());
                prop_assert!(!payload.is_empty());
            }
            let _ = find_next_valid_record(&bytes, 0, 32, any_header);
            for offset in 0..bytes.len() {
                let _ = find_record_after_damage(&bytes, offset, 32, any_header, |kind, _| kind < 4);
            }
        }

        /// Whatever cut a crash makes in a record holding a record, nothing
        /// valid follows the damage.
        #[test]
        fn every_cut_of_a_record_holding_a_record_is_a_torn_tail(
            cut in 1usize..40,
            zeros in 0usize..16,
        ) {
            let mut buf = Vec::new();
            encode_record(&mut buf, 1, b"before");
            let (torn, _) = record_holding_a_record(&mut buf);
            let cut = cut.min(buf.len() - torn - 1);
            buf.truncate(buf.len() - cut);
            buf.extend(std::iter::repeat_n(0, zeros));
            prop_assert_eq!(find_record_after_damage(&buf, torn, 100, kind_1, kind_1), None);
        }
    }
}
