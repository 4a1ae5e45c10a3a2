//! The bytes of a WAL segment: a segment-header record, then write-batch
//! records, each framed by [`lsm_core::record`]. Full layout: `docs/format/wal.md`.
//!
//! ```text
//! segment = header record (type 2) , batch record (type 1) *
//! record  = masked CRC-32 u32 LE | length u32 LE | type u8 | payload
//! header payload = magic "lsm-wal\0" (8 B) | format version u32 LE | segment number u64 LE
//! batch payload  = WriteBatch encoding: first seq u64 LE | count u32 LE | ops
//! ```
//!
//! The record type numbers and the magic are on-disk constants: never
//! change or reuse them; retire a value by leaving it here as a comment.

use lsm_core::batch::BATCH_HEADER_BYTES;
use lsm_core::checksum::mask_crc;
use lsm_core::record::RECORD_HEADER_BYTES;
use lsm_core::SeqNo;

// Record types (the `type` byte of a record). 0 is reserved by
// lsm_core::record for unused (zeroed) space.
/// Record type of a write batch; the payload is a `WriteBatch` encoding.
pub const RECORD_TYPE_WRITE_BATCH: u8 = 1;
/// Record type of the segment header, the first record of every segment.
pub const RECORD_TYPE_SEGMENT_HEADER: u8 = 2;

/// The first eight payload bytes of a segment header.
pub const SEGMENT_MAGIC: [u8; 8] = *b"lsm-wal\0";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 2;
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
    if version != FORMAT_VERSION {
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

/// Appends a write-batch record for `encoded` to `out`, with `first_seq`
/// written into the copy's header (the caller's batch is not touched), and
/// returns the framed length. The bytes equal
/// `encode_record(out, RECORD_TYPE_WRITE_BATCH, batch_with_first_seq)`.
///
/// REQUIRES: `encoded` is a whole batch encoding no longer than
/// `lsm_core::MAX_BATCH_BYTES`, and `ops_crc` is `OpsCrc::of(encoded)`.
pub fn frame_batch_record(
    out: &mut Vec<u8>,
    encoded: &[u8],
    first_seq: SeqNo,
    ops_crc: &OpsCrc,
) -> usize {
    debug_assert!(encoded.len() >= BATCH_HEADER_BYTES);
    debug_assert!(encoded.len() <= lsm_core::MAX_BATCH_BYTES);
    let len = u32::try_from(encoded.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let seq = first_seq.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&[RECORD_TYPE_WRITE_BATCH]);
    crc.update(&seq);
    match &ops_crc.0 {
        Some(ops) => {
            crc.update(encoded.get(8..BATCH_HEADER_BYTES).unwrap_or_default());
            crc.combine(ops);
        }
        // The count and the operations in one pass.
        None => crc.update(encoded.get(8..).unwrap_or_default()),
    }
    let crc = mask_crc(crc.finalize());

    out.reserve(RECORD_HEADER_BYTES + encoded.len());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&len);
    out.push(RECORD_TYPE_WRITE_BATCH);
    out.extend_from_slice(&seq);
    out.extend_from_slice(encoded.get(8..).unwrap_or_default());
    RECORD_HEADER_BYTES + encoded.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::record::{decode_record, encode_record, RecordDecode};
    use lsm_core::WriteBatch;
    use proptest::prelude::*;

    #[test]
    fn framed_batch_equals_core_record_encoding_with_seq_patched() {
        let mut batch = WriteBatch::new();
        batch.put(b"apple", b"red").delete(b"pear");
        let mut ours = Vec::new();
        let len = frame_batch_record(&mut ours, batch.encoded(), 42, &OpsCrc::of(batch.encoded()));
        assert_eq!(batch.first_seq(), 0, "the caller's batch is untouched");
        let mut patched = batch.clone();
        patched.set_first_seq(42);
        let mut expected = Vec::new();
        encode_record(&mut expected, RECORD_TYPE_WRITE_BATCH, patched.encoded());
        assert_eq!(ours, expected);
        assert_eq!(len, expected.len());
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
            frame_batch_record(&mut ours, batch.encoded(), 9, &OpsCrc::of(batch.encoded()));
            batch.set_first_seq(9);
            let mut expected = Vec::new();
            encode_record(&mut expected, RECORD_TYPE_WRITE_BATCH, batch.encoded());
            assert_eq!(ours, expected, "value of {value_len} bytes");
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
        payload[8] = 2;
        payload[0] = b'L';
        assert!(decode_segment_header(&payload).is_err());
        assert!(decode_segment_header(&payload[..19]).is_err());
    }

    proptest! {
        #[test]
        fn framing_matches_core_for_any_batch(
            ops in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..40)), 1..10),
            seq in 0u64..(1 << 56) - 20,
        ) {
            let mut batch = WriteBatch::new();
            for (put, k, v) in &ops {
                if *put { batch.put(k, v); } else { batch.delete(k); }
            }
            let mut ours = Vec::new();
            frame_batch_record(&mut ours, batch.encoded(), seq, &OpsCrc::of(batch.encoded()));
            batch.set_first_seq(seq);
            let mut expected = Vec::new();
            encode_record(&mut expected, RECORD_TYPE_WRITE_BATCH, batch.encoded());
            prop_assert_eq!(ours, expected);
        }

        #[test]
        fn decoding_arbitrary_header_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(header) = decode_segment_header(&bytes) {
                prop_assert_eq!(header.version, FORMAT_VERSION);
            }
        }
    }
}
