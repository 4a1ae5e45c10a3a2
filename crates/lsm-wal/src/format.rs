//! The bytes of a WAL segment: a segment-header record, then write-batch
//! records, each framed by [`lsm_core::record`]. Full layout: `docs/format/wal.md`.
//!
//! ```text
//! segment = header record (type 2) , (batch record (type 5; type 3 in
//!           versions 3 and 4, type 1 in version 2) | sync mark (type 4,
//!           version 4 on)) *
//! record  = masked CRC-32 u32 LE | length u32 LE | type u8 | payload
//! header payload = magic "lsm-wal\0" (8 B) | format version u32 LE | segment number u64 LE
//! type 5 payload = varint ((first seq - durable mark) * 2 + zero-filled)
//!                  | varint first seq | varint count | ops
//! type 3 payload = varint ((first seq - durable mark) * 2 + zero-filled) | WriteBatch encoding
//! type 1 payload = WriteBatch encoding: first seq u64 LE | count u32 LE | ops
//! type 4 payload = durable mark u64 LE
//! ```
//!
//! The *durable mark* of a record is the lowest sequence number that was
//! not yet known durable when the record was framed: every operation below
//! it had been covered by a completed fdatasync. The *zero-filled* bit says
//! the writer was zero-filling its segment ahead of the data when it framed
//! the record, so the record may have been written over zeros, where
//! write-back order is not append order. Recovery uses both to tell a torn
//! region (nothing in it was durable) from damage to durable records.
//!
//! A *sync mark* is a record holding only a durable mark, written (and
//! synced) by `WalWriter::close` after its final sync: it proves every
//! record before it durable, which the last records' own marks cannot
//! (each is framed before its sync completes).
//!
//! The record type numbers and the magic are on-disk constants: never
//! change or reuse them; retire a value by leaving it here as a comment.

use lsm_core::batch::BATCH_HEADER_BYTES;
use lsm_core::checksum::mask_crc;
use lsm_core::coding::{get_fixed32, get_fixed64, get_varint64, put_varint64, MAX_VARINT64_BYTES};
use lsm_core::record::RECORD_HEADER_BYTES;
use lsm_core::SeqNo;

// Record types (the `type` byte of a record). 0 is reserved by
// lsm_core::record for unused (zeroed) space.
/// Record type of a write batch in version-2 segments (read only); the
/// payload is a `WriteBatch` encoding.
pub const RECORD_TYPE_WRITE_BATCH: u8 = 1;
/// Record type of a write batch in version-3 and version-4 segments (read
/// only): the durable mark (its distance below the batch's first sequence
/// number, times two, plus the zero-filled bit, as a varint), then a
/// `WriteBatch` encoding.
pub const RECORD_TYPE_MARKED_BATCH: u8 = 3;
/// Record type of a write batch in version-5 segments: the durable mark as
/// in type 3, then the batch's first sequence number and its count as
/// varints, then its operations (the `WriteBatch` encoding without its
/// fixed 12-byte header). 8 bytes shorter than type 3 for a batch whose
/// first sequence number is below 2^21.
pub const RECORD_TYPE_COMPACT_BATCH: u8 = 5;
/// Record type of the segment header, the first record of every segment.
pub const RECORD_TYPE_SEGMENT_HEADER: u8 = 2;
/// Record type of a sync mark (version 4 on): the durable mark as a u64 LE,
/// written once everything below it was durable.
pub const RECORD_TYPE_SYNC_MARK: u8 = 4;
/// The most a batch record's payload can exceed the batch encoding it
/// frames. A type-5 payload drops the encoding's 12-byte header and adds
/// three varints: the durable mark (the doubled distance below a sequence
/// number under 2^56, plus a bit: 57 bits, 9 bytes), the first sequence
/// number (56 bits, 8 bytes) and the count (32 bits, 5 bytes): 10 bytes. A
/// type-3 payload adds only its mark (9 bytes) to the whole encoding.
pub const BATCH_RECORD_OVERHEAD_MAX: usize = 9 + 8 + 5 - BATCH_HEADER_BYTES;

/// The longest record payload a reader accepts: that of a batch of
/// `lsm_core::MAX_BATCH_BYTES`, the longest a writer frames.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = lsm_core::MAX_BATCH_BYTES + BATCH_RECORD_OVERHEAD_MAX;

/// The record types a segment of format `version` holds after its header
/// record (a version this crate reads: 2 to 5).
fn record_types_of(version: u32) -> &'static [u8] {
    match version {
        2 => &[RECORD_TYPE_WRITE_BATCH],
        3 => &[RECORD_TYPE_MARKED_BATCH],
        4 => &[RECORD_TYPE_MARKED_BATCH, RECORD_TYPE_SYNC_MARK],
        _ => &[RECORD_TYPE_COMPACT_BATCH, RECORD_TYPE_SYNC_MARK],
    }
}

/// True when a writer can have framed a record of type `kind` with a
/// `len`-byte payload after the header of a segment of format `version`
/// (`None`: the header is unreadable, so of any version this crate
/// reads). What recovery's search for a valid record after damage looks
/// at before it computes a checksum (`lsm_core::record`).
pub(crate) fn plausible_record(version: Option<u32>, kind: u8, len: usize) -> bool {
    let fits = |version: u32| {
        record_types_of(version).contains(&kind)
            && (kind != RECORD_TYPE_SYNC_MARK || len == SYNC_MARK_PAYLOAD_BYTES)
    };
    match version {
        Some(version) => fits(version),
        None => (2..=5).any(fits),
    }
}

/// True for the header of a segment header record.
pub(crate) fn plausible_segment_header(kind: u8, len: usize) -> bool {
    kind == RECORD_TYPE_SEGMENT_HEADER && len == SEGMENT_HEADER_PAYLOAD_BYTES
}

/// Bytes of a sync-mark payload.
pub const SYNC_MARK_PAYLOAD_BYTES: usize = 8;

/// The first eight payload bytes of a segment header.
pub const SEGMENT_MAGIC: [u8; 8] = *b"lsm-wal\0";
/// The format version this crate writes (5: version 4 with compact batch
/// records).
pub const FORMAT_VERSION: u32 = 5;
/// The oldest format version this crate reads (version 2: batch records
/// without durable marks).
pub const OLDEST_READ_VERSION: u32 = 2;
/// Bytes of a segment-header payload: magic, version, segment number.
pub const SEGMENT_HEADER_PAYLOAD_BYTES: usize = 8 + 4 + 8;
/// Bytes the framed segment header takes at the start of every segment.
pub const SEGMENT_HEADER_BYTES: usize = RECORD_HEADER_BYTES + SEGMENT_HEADER_PAYLOAD_BYTES;

/// The decoded payload of a segment-header record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format version the segment was written with.
    pub version: u32,
    /// The segment number the writer gave the file (must match its name).
    pub segment: u64,
}

/// Appends the framed segment header for `segment` to `out`.
pub fn encode_segment_header(out: &mut Vec<u8>, segment: u64) {
    let mut payload = [0u8; SEGMENT_HEADER_PAYLOAD_BYTES];
    payload[..8].copy_from_slice(&SEGMENT_MAGIC);
    payload[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    payload[12..20].copy_from_slice(&segment.to_le_bytes());
    lsm_core::record::encode_record(out, RECORD_TYPE_SEGMENT_HEADER, &payload);
}

/// Decodes a segment-header payload; the error is a reason for a
/// corruption report. Never panics.
pub fn decode_segment_header(payload: &[u8]) -> Result<SegmentHeader, &'static str> {
    if payload.len() != SEGMENT_HEADER_PAYLOAD_BYTES {
        return Err("segment header payload has the wrong length");
    }
    if payload[..8] != SEGMENT_MAGIC {
        return Err("segment header has the wrong magic");
    }
    let mut version = [0u8; 4];
    version.copy_from_slice(&payload[8..12]);
    let version = u32::from_le_bytes(version);
    if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err("segment header has an unsupported format version");
    }
    let mut segment = [0u8; 8];
    segment.copy_from_slice(&payload[12..20]);
    Ok(SegmentHeader {
        version,
        segment: u64::from_le_bytes(segment),
    })
}

/// Batches whose operations are at least this long have their CRC computed
/// before the WAL lock is taken ([`OpsCrc::of`]). Below it, checksumming the
/// bytes under the lock is cheaper than `crc32fast::Hasher::combine`, whose
/// cost grows with the log of the length but starts high: a profile of one
/// writer putting 116-byte entries had `combine` at 9% of all samples.
pub const PRECOMPUTED_CRC_MIN_BYTES: usize = 4096;

/// The CRC-32 of a batch's operations (its bytes after the 12-byte header)
/// when the batch is long enough for it to pay to compute it outside the WAL
/// lock; [`frame_batch_record`] combines it with the header's CRC, or
/// checksums short batches itself.
#[derive(Debug, Clone)]
pub struct OpsCrc(Option<crc32fast::Hasher>);

impl OpsCrc {
    /// The CRC state for `encoded`, computed now if its operations are at
    /// least [`PRECOMPUTED_CRC_MIN_BYTES`] long.
    ///
    /// REQUIRES: `encoded` is a whole batch encoding (at least the header).
    pub fn of(encoded: &[u8]) -> Self {
        let ops = encoded.get(BATCH_HEADER_BYTES..).unwrap_or_default();
        if ops.len() < PRECOMPUTED_CRC_MIN_BYTES {
            return Self(None);
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(ops);
        Self(Some(hasher))
    }
}

/// Appends a compact write-batch record (type 5) for `encoded` (a
/// `WriteBatch` encoding, whose own first sequence number is ignored) with
/// `first_seq` and `mark`, and returns the framed length. The bytes equal
/// `encode_record(out, RECORD_TYPE_COMPACT_BATCH,
/// varint((first_seq - mark.durable_below) * 2 + mark.zero_filled) ++
/// varint(first_seq) ++ varint(count) ++ ops)`, built in place (one copy of
/// the operations), with the CRC combined from `ops_crc` when it was
/// precomputed.
///
/// REQUIRES: `encoded` is a whole batch encoding no longer than
/// `lsm_core::MAX_BATCH_BYTES` (checked by `WriteBatch::check_limits`),
/// `ops_crc` is `OpsCrc::of(encoded)`, and `mark.durable_below <=
/// first_seq`.
pub fn frame_batch_record(
    out: &mut Vec<u8>,
    encoded: &[u8],
    first_seq: SeqNo,
    mark: DurableMark,
    ops_crc: &OpsCrc,
) -> usize {
    debug_assert!(encoded.len() >= BATCH_HEADER_BYTES);
    debug_assert!(encoded.len() <= lsm_core::MAX_BATCH_BYTES);
    debug_assert!(mark.durable_below <= first_seq);
    let (count, ops) = match split_batch_encoding(encoded, None) {
        Ok(split) => (split.count, split.ops),
        Err(_) => (0, &[][..]),
    };
    let start = out.len();
    out.reserve(RECORD_HEADER_BYTES + 3 * MAX_VARINT64_BYTES + ops.len());
    out.extend_from_slice(&[0; 8]); // CRC and length, filled in below
    out.push(RECORD_TYPE_COMPACT_BATCH);
    // Sequence numbers stay below 2^56, so the doubled distance fits.
    let distance = first_seq.saturating_sub(mark.durable_below);
    put_varint64(out, (distance << 1) | u64::from(mark.zero_filled));
    put_varint64(out, first_seq);
    put_varint64(out, u64::from(count));
    let header_end = out.len();
    out.extend_from_slice(ops);
    let framed_len = out.len() - start;
    let len = u32::try_from(framed_len - RECORD_HEADER_BYTES).unwrap_or(u32::MAX);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    match &ops_crc.0 {
        Some(ops) => {
            crc.update(&out[start + 4..header_end]);
            crc.combine(ops);
        }
        // The header and the operations in one pass.
        None => crc.update(&out[start + 4..]),
    }
    let crc = mask_crc(crc.finalize());
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
    framed_len
}

/// Appends a sync mark (type 4) saying every sequence number below
/// `durable_below` is durable, and returns the framed length.
pub fn frame_sync_mark(out: &mut Vec<u8>, durable_below: SeqNo) -> usize {
    let start = out.len();
    lsm_core::record::encode_record(out, RECORD_TYPE_SYNC_MARK, &durable_below.to_le_bytes());
    out.len() - start
}

/// The durable mark of a sync-mark record of type `kind` in a segment of
/// format `version`; `None` when the type is not a sync mark in that
/// version, `Err` when the payload has the wrong length. Never panics.
pub fn parse_sync_mark(
    version: u32,
    kind: u8,
    payload: &[u8],
) -> Option<Result<SeqNo, &'static str>> {
    if version < 4 || kind != RECORD_TYPE_SYNC_MARK {
        return None;
    }
    Some(match <[u8; SYNC_MARK_PAYLOAD_BYTES]>::try_from(payload) {
        Ok(bytes) => Ok(u64::from_le_bytes(bytes)),
        Err(_) => Err("sync mark payload has the wrong length"),
    })
}

/// What a writer knew when it framed a record (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurableMark {
    /// Every sequence number below this was durable.
    pub durable_below: SeqNo,
    /// The writer was zero-filling the segment ahead of its data, so the
    /// record may have been written over zeros.
    pub zero_filled: bool,
}

/// The batch of a write-batch record, split into its durable mark, its
/// numbering and its operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPayload<'a> {
    /// The record's durable mark; `None` for a version-2 record, which has
    /// none.
    pub mark: Option<DurableMark>,
    /// The sequence number of the first operation.
    pub first_seq: SeqNo,
    /// The number of operations.
    pub count: u32,
    /// The operations' bytes (not checked yet: `BatchView::from_parts`
    /// does that).
    pub ops: &'a [u8],
}

/// Splits the payload of a record of type `kind` in a segment of format
/// `version` into its durable mark, numbering and operations. `None` when
/// the type does not hold a batch in that version; `Err` when a header
/// field is malformed or the mark lies above the batch's first sequence
/// number. Never panics.
pub fn split_batch_payload(
    version: u32,
    kind: u8,
    payload: &[u8],
) -> Option<Result<BatchPayload<'_>, &'static str>> {
    match (version, kind) {
        (2, RECORD_TYPE_WRITE_BATCH) => Some(split_batch_encoding(payload, None)),
        (3 | 4, RECORD_TYPE_MARKED_BATCH) => {
            let mut input = payload;
            let Some(encoded_mark) = get_varint64(&mut input) else {
                return Some(Err("malformed durable mark"));
            };
            let mut first = input;
            let Some(first_seq) = get_fixed64(&mut first) else {
                return Some(Err("batch shorter than its header"));
            };
            Some(
                decode_mark(encoded_mark, first_seq)
                    .and_then(|mark| split_batch_encoding(input, Some(mark))),
            )
        }
        (5, RECORD_TYPE_COMPACT_BATCH) => {
            let mut input = payload;
            let Some(encoded_mark) = get_varint64(&mut input) else {
                return Some(Err("malformed durable mark"));
            };
            let (Some(first_seq), Some(count)) =
                (get_varint64(&mut input), get_varint64(&mut input))
            else {
                return Some(Err("batch shorter than its header"));
            };
            let Ok(count) = u32::try_from(count) else {
                return Some(Err("batch count does not fit in 32 bits"));
            };
            Some(
                decode_mark(encoded_mark, first_seq).map(|mark| BatchPayload {
                    mark: Some(mark),
                    first_seq,
                    count,
                    ops: input,
                }),
            )
        }
        _ => None,
    }
}

/// The durable mark `encoded_mark` encodes for a batch starting at
/// `first_seq`.
fn decode_mark(encoded_mark: u64, first_seq: SeqNo) -> Result<DurableMark, &'static str> {
    match first_seq.checked_sub(encoded_mark >> 1) {
        Some(durable_below) => Ok(DurableMark {
            durable_below,
            zero_filled: encoded_mark & 1 == 1,
        }),
        None => Err("durable mark below sequence number 0"),
    }
}

/// Splits a `WriteBatch` encoding into its header fields and operations.
fn split_batch_encoding(
    encoded: &[u8],
    mark: Option<DurableMark>,
) -> Result<BatchPayload<'_>, &'static str> {
    let mut ops = encoded;
    let (Some(first_seq), Some(count)) = (get_fixed64(&mut ops), get_fixed32(&mut ops)) else {
        return Err("batch shorter than its header");
    };
    Ok(BatchPayload {
        mark,
        first_seq,
        count,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::record::{decode_record, encode_record, RecordDecode};
    use lsm_core::WriteBatch;
    use proptest::prelude::*;

    /// The record `frame_batch_record` must produce, built with the core
    /// framing: the mark's distance, the first sequence number and the
    /// count as varints, then the batch's operations.
    fn expected_record(batch: &WriteBatch, first_seq: SeqNo, mark: DurableMark) -> Vec<u8> {
        let mut payload = Vec::new();
        put_varint64(
            &mut payload,
            (first_seq - mark.durable_below) * 2 + u64::from(mark.zero_filled),
        );
        put_varint64(&mut payload, first_seq);
        put_varint64(&mut payload, u64::from(batch.count()));
        payload.extend_from_slice(&batch.encoded()[BATCH_HEADER_BYTES..]);
        let mut expected = Vec::new();
        encode_record(&mut expected, RECORD_TYPE_COMPACT_BATCH, &payload);
        expected
    }

    /// The same batch as the type-3 record versions 3 and 4 wrote.
    fn marked_record_payload(batch: &WriteBatch, first_seq: SeqNo, mark: DurableMark) -> Vec<u8> {
        let mut patched = batch.clone();
        patched.set_first_seq(first_seq);
        let mut payload = Vec::new();
        put_varint64(
            &mut payload,
            (first_seq - mark.durable_below) * 2 + u64::from(mark.zero_filled),
        );
        payload.extend_from_slice(patched.encoded());
        payload
    }

    #[test]
    fn framed_batch_equals_core_record_encoding_with_seq_and_mark() {
        let mut batch = WriteBatch::new();
        batch.put(b"apple", b"red").delete(b"pear");
        let mut ours = b"earlier".to_vec();
        let mark = DurableMark {
            durable_below: 4000,
            zero_filled: true,
        };
        let len = frame_batch_record(
            &mut ours,
            batch.encoded(),
            4242,
            mark,
            &OpsCrc::of(batch.encoded()),
        );
        assert_eq!(batch.first_seq(), 0, "the caller's batch is untouched");
        let expected = expected_record(&batch, 4242, mark);
        assert_eq!(&ours[..7], b"earlier");
        assert_eq!(ours[7..], expected);
        assert_eq!(len, expected.len());
        let RecordDecode::Record { kind, payload, .. } = decode_record(&ours[7..], 1000) else {
            panic!("record did not decode");
        };
        let split = split_batch_payload(FORMAT_VERSION, kind, payload)
            .unwrap()
            .unwrap();
        assert_eq!(split.mark, Some(mark));
        let view =
            lsm_core::BatchView::from_parts(split.first_seq, split.count, split.ops).unwrap();
        assert_eq!((view.first_seq(), view.count()), (4242, 2));
        let ops: Vec<_> = view.iter().map(|op| (op.kind, op.key, op.seq)).collect();
        let expected_ops: Vec<_> = batch
            .iter()
            .map(|op| (op.kind, op.key, op.seq + 4242))
            .collect();
        assert_eq!(ops, expected_ops);
        // 2 bytes of sequence number and 1 of count where type 3 (versions
        // 3 and 4) had 8 and 4: 9 fewer for the same batch and mark.
        let marked = marked_record_payload(&batch, 4242, mark);
        assert_eq!(payload.len() + 9, marked.len());
    }

    /// A version-4 segment's type-3 record splits into the same mark,
    /// numbering and operations as a version-5 record of the same batch.
    #[test]
    fn marked_records_of_version_4_split_like_compact_ones() {
        let mut batch = WriteBatch::new();
        batch.put(b"apple", b"red").delete(b"pear");
        let mark = DurableMark {
            durable_below: 90,
            zero_filled: false,
        };
        let marked = marked_record_payload(&batch, 100, mark);
        let old = split_batch_payload(4, RECORD_TYPE_MARKED_BATCH, &marked)
            .unwrap()
            .unwrap();
        let mut framed = Vec::new();
        frame_batch_record(
            &mut framed,
            batch.encoded(),
            100,
            mark,
            &OpsCrc::of(batch.encoded()),
        );
        let RecordDecode::Record { kind, payload, .. } = decode_record(&framed, 1000) else {
            panic!("record did not decode");
        };
        let new = split_batch_payload(5, kind, payload).unwrap().unwrap();
        assert_eq!(old, new);
        assert_eq!((old.first_seq, old.count, old.mark), (100, 2, Some(mark)));
        assert_eq!(
            split_batch_payload(4, kind, payload),
            None,
            "type 5 in a version-4 segment"
        );
        assert_eq!(
            split_batch_payload(5, RECORD_TYPE_MARKED_BATCH, &marked),
            None,
            "type 3 in version 5"
        );
    }

    /// The widest varints a batch record can carry (a first sequence
    /// number just under 2^56, a durable mark at 0, a count of `u32::MAX`)
    /// grow its payload past the encoding by exactly
    /// `BATCH_RECORD_OVERHEAD_MAX`, so a batch of `MAX_BATCH_BYTES` frames
    /// to a payload the reader accepts.
    #[test]
    fn the_widest_batch_record_header_is_the_overhead_the_reader_allows() {
        let mut encoded = vec![0; BATCH_HEADER_BYTES];
        encoded[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        encoded.extend_from_slice(b"operations");
        let mark = DurableMark {
            durable_below: 0,
            zero_filled: true,
        };
        let mut out = Vec::new();
        let framed = frame_batch_record(
            &mut out,
            &encoded,
            lsm_core::MAX_SEQNO,
            mark,
            &OpsCrc::of(&encoded),
        );
        let payload = framed - RECORD_HEADER_BYTES;
        assert_eq!(payload - encoded.len(), BATCH_RECORD_OVERHEAD_MAX);
        // And the reader's limit is the longest batch plus that.
        let longest = lsm_core::MAX_BATCH_BYTES + BATCH_RECORD_OVERHEAD_MAX;
        assert_eq!(MAX_RECORD_PAYLOAD_BYTES, longest);
        let RecordDecode::Record { payload, .. } = decode_record(&out, MAX_RECORD_PAYLOAD_BYTES)
        else {
            panic!("the record reads back");
        };
        let split = split_batch_payload(5, RECORD_TYPE_COMPACT_BATCH, payload)
            .unwrap()
            .unwrap();
        assert_eq!(
            (split.first_seq, split.count, split.mark),
            (lsm_core::MAX_SEQNO, u32::MAX, Some(mark))
        );
    }

    /// A sync mark round-trips in version 4, is not a batch, and means
    /// nothing in older versions or with a payload of the wrong length.
    #[test]
    fn sync_marks_frame_and_parse_only_from_version_4() {
        let mut out = Vec::new();
        let framed = frame_sync_mark(&mut out, 1234);
        assert_eq!(framed, RECORD_HEADER_BYTES + SYNC_MARK_PAYLOAD_BYTES);
        assert_eq!(framed, out.len());
        let RecordDecode::Record { kind, payload, .. } = decode_record(&out, 1 << 20) else {
            panic!("a sync mark is a valid record");
        };
        assert_eq!(parse_sync_mark(4, kind, payload), Some(Ok(1234)));
        assert_eq!(parse_sync_mark(3, kind, payload), None);
        assert_eq!(split_batch_payload(4, kind, payload), None);
        assert!(parse_sync_mark(4, kind, &payload[..7]).unwrap().is_err());
        assert_eq!(parse_sync_mark(4, RECORD_TYPE_MARKED_BATCH, payload), None);
    }

    /// Each record type holds a batch only in its own format version, and
    /// a mark above the first sequence number is refused.
    #[test]
    fn batch_payloads_split_by_version_and_type() {
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        batch.set_first_seq(7);
        let v2 = split_batch_payload(2, RECORD_TYPE_WRITE_BATCH, batch.encoded());
        assert_eq!(
            v2,
            Some(Ok(BatchPayload {
                mark: None,
                first_seq: 7,
                count: 1,
                ops: &batch.encoded()[BATCH_HEADER_BYTES..],
            }))
        );
        assert_eq!(
            split_batch_payload(3, RECORD_TYPE_WRITE_BATCH, batch.encoded()),
            None
        );
        assert_eq!(
            split_batch_payload(2, RECORD_TYPE_MARKED_BATCH, batch.encoded()),
            None
        );
        let mut marked = vec![16u8]; // mark 7 - 8 < 0
        marked.extend_from_slice(batch.encoded());
        assert!(split_batch_payload(3, RECORD_TYPE_MARKED_BATCH, &marked)
            .unwrap()
            .is_err());
        assert!(split_batch_payload(3, RECORD_TYPE_MARKED_BATCH, &[0x80])
            .unwrap()
            .is_err());
        assert!(split_batch_payload(3, RECORD_TYPE_MARKED_BATCH, &[0, 1, 2])
            .unwrap()
            .is_err());
        // Version 5: mark 16 (durable below 7 - 8) refused; a truncated
        // varint, a missing count and a count past u32 too.
        let ops = &batch.encoded()[BATCH_HEADER_BYTES..];
        let compact = |mark: u8, count: &[u8]| [&[mark, 7][..], count, ops].concat();
        let valid_payload = compact(2, &[1]);
        let valid = split_batch_payload(5, RECORD_TYPE_COMPACT_BATCH, &valid_payload);
        assert_eq!(
            valid.map(|r| r.map(|p| (p.mark, p.first_seq, p.count, p.ops))),
            Some(Ok((
                Some(DurableMark {
                    durable_below: 6,
                    zero_filled: false
                }),
                7,
                1,
                ops
            )))
        );
        for bad in [
            compact(16, &[1]),
            vec![0x80],
            vec![0, 7],
            compact(0, &[0xff, 0xff, 0xff, 0xff, 0x10]),
        ] {
            assert!(
                split_batch_payload(5, RECORD_TYPE_COMPACT_BATCH, &bad)
                    .unwrap()
                    .is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn long_and_short_batches_frame_alike_on_both_crc_paths() {
        for value_len in [
            0,
            PRECOMPUTED_CRC_MIN_BYTES - 40,
            PRECOMPUTED_CRC_MIN_BYTES,
            3 * PRECOMPUTED_CRC_MIN_BYTES,
        ] {
            let mut batch = WriteBatch::new();
            batch.put(b"k", vec![7u8; value_len]).delete(b"gone");
            let precomputed = OpsCrc::of(batch.encoded()).0.is_some();
            assert_eq!(
                precomputed,
                batch.encoded().len() - BATCH_HEADER_BYTES >= PRECOMPUTED_CRC_MIN_BYTES,
                "value of {value_len} bytes"
            );
            let mut ours = Vec::new();
            let mark = DurableMark {
                durable_below: 9,
                zero_filled: false,
            };
            frame_batch_record(
                &mut ours,
                batch.encoded(),
                900,
                mark,
                &OpsCrc::of(batch.encoded()),
            );
            assert_eq!(
                ours,
                expected_record(&batch, 900, mark),
                "value of {value_len} bytes"
            );
        }
    }

    #[test]
    fn header_roundtrips_and_has_the_documented_size() {
        let mut buf = Vec::new();
        encode_segment_header(&mut buf, 7);
        assert_eq!(buf.len(), SEGMENT_HEADER_BYTES);
        let RecordDecode::Record { kind, payload, .. } = decode_record(&buf, 100) else {
            panic!("header did not decode");
        };
        assert_eq!(kind, RECORD_TYPE_SEGMENT_HEADER);
        assert_eq!(
            decode_segment_header(payload),
            Ok(SegmentHeader {
                version: FORMAT_VERSION,
                segment: 7
            })
        );
    }

    #[test]
    fn header_with_wrong_magic_or_version_is_rejected() {
        let mut payload = [0u8; SEGMENT_HEADER_PAYLOAD_BYTES];
        payload[..8].copy_from_slice(&SEGMENT_MAGIC);
        payload[8] = 1; // written before keyspaces
        assert!(decode_segment_header(&payload).is_err());
        payload[8] = 6; // from a future version
        assert!(decode_segment_header(&payload).is_err());
        for version in 2..=5 {
            payload[8] = version;
            let read = decode_segment_header(&payload).map(|h| h.version);
            assert_eq!(read, Ok(u32::from(version)));
        }
        payload[0] = b'L';
        assert!(decode_segment_header(&payload).is_err());
        assert!(decode_segment_header(&payload[..19]).is_err());
    }

    proptest! {
        #[test]
        fn framing_matches_core_for_any_batch(
            ops in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..40)), 1..10),
            seq in 0u64..(1 << 56) - 20,
            behind in 0u64..(1 << 56),
            zero_filled in any::<bool>(),
        ) {
            let mut batch = WriteBatch::new();
            for (put, k, v) in &ops {
                if *put { batch.put(k, v); } else { batch.delete(k); }
            }
            let mark = DurableMark { durable_below: seq.saturating_sub(behind), zero_filled };
            let mut ours = Vec::new();
            frame_batch_record(&mut ours, batch.encoded(), seq, mark, &OpsCrc::of(batch.encoded()));
            prop_assert_eq!(ours, expected_record(&batch, seq, mark));
        }

        #[test]
        fn decoding_arbitrary_header_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(header) = decode_segment_header(&bytes) {
                prop_assert!((OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&header.version));
            }
        }

        #[test]
        fn splitting_arbitrary_payloads_never_panics(
            version in 2u32..=5,
            kind in 0u8..6,
            payload in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            if let Some(Ok(split)) = split_batch_payload(version, kind, &payload) {
                prop_assert!(split.ops.len() < payload.len());
                prop_assert!(split.mark.is_none_or(|mark| mark.durable_below <= split.first_seq));
            }
        }
    }
}
