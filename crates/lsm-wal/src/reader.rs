//! Reading one segment's bytes: the records in order, then how the segment
//! ends (cleanly, with a torn tail, or with corruption). Recovery and the
//! `lsm inspect wal` tool both use [`SegmentReader`]; it judges one segment
//! alone and leaves cross-segment rules (sequence order, which segment is
//! the newest) to [`crate::recover`].

use std::path::Path;

use lsm_core::record::{
    decode_record, find_next_valid_record, find_record_after_damage, RecordDecode,
};
use lsm_core::{BatchView, FileSystem, SeqNo};

use crate::format::{
    decode_segment_header, parse_sync_mark, plausible_record, plausible_segment_header,
    split_batch_payload, DurableMark, SegmentHeader, MAX_RECORD_PAYLOAD_BYTES,
    RECORD_TYPE_SEGMENT_HEADER,
};
use crate::Result;

/// One write-batch record of a segment.
#[derive(Clone, Copy, Debug)]
pub struct WalRecord<'a> {
    /// Byte offset of the record's header in the segment file.
    pub offset: u64,
    /// Bytes the record takes, header included.
    pub framed_len: u64,
    /// The batch, parsed and validated.
    pub batch: BatchView<'a>,
    /// What the writer knew when it framed the record (durable sequence
    /// numbers, zero-filling; `docs/format/wal.md`); `None` in a version-2
    /// segment.
    pub mark: Option<DurableMark>,
}

/// How a segment ends, known once [`SegmentReader`] has returned `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentTail {
    /// Records run to the end of the file, or to zeros that run to its end
    /// (space the writer zero-filled ahead of its records).
    Clean,
    /// The bytes at `offset` are not a whole, checksummed record: cut short
    /// (`Incomplete`), zeros followed by something else, or failing a
    /// check. When nothing valid follows, or only records framed while
    /// nothing at or past the damage was durable (their durable marks, see
    /// [`SegmentTail::is_torn`]), a crash during appends explains it: a
    /// *torn tail*. Otherwise it is corruption.
    Damaged {
        /// Offset of the first damaged byte.
        offset: u64,
        /// Bytes from `offset` to the end of the file.
        dropped_bytes: u64,
        /// Which check failed.
        reason: &'static str,
        /// Offset of the next valid record after the damage, if any.
        next_valid_record: Option<u64>,
        /// The highest durable mark of the valid records after the damage
        /// (a sync mark's own; `u64::MAX` if a batch among them has none,
        /// or was framed while the writer was not zero-filling, so was
        /// appended after the damaged bytes); `None` when none follows.
        later_durable_mark: Option<SeqNo>,
    },
    /// A record with a good checksum whose content is invalid (a bad batch,
    /// an unknown type, a missing or wrong header). A writer bug or a
    /// foreign file, never a torn write: always corruption.
    Invalid {
        /// Offset of the record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

impl SegmentTail {
    /// True for damage that a crash explains (a torn tail), given
    /// `lost_from`, the sequence number the first damaged record would
    /// have held (one past the last record before it): nothing valid
    /// follows the damage, or every record that follows was framed while
    /// `lost_from` was not yet durable. Writes into zero-filled space can
    /// reach the disk out of order, so a crash can leave a later record
    /// whole and an earlier one lost; none of those was ever durable.
    pub fn is_torn(&self, lost_from: SeqNo) -> bool {
        match self {
            SegmentTail::Damaged {
                later_durable_mark, ..
            } => later_durable_mark.is_none_or(|mark| mark <= lost_from),
            _ => false,
        }
    }
}

/// Iterates the write-batch records of one segment's bytes, in order.
///
/// The header record is read by [`SegmentReader::new`]; sync marks are
/// read in passing ([`SegmentReader::sync_mark`]). Iteration stops at
/// the end of the bytes or at the first record that cannot be returned;
/// [`SegmentReader::tail`] then says which. Never panics on arbitrary bytes
/// and never allocates from a length read from them.
#[derive(Debug)]
pub struct SegmentReader<'a> {
    buf: &'a [u8],
    offset: usize,
    header: Option<SegmentHeader>,
    sync_mark: Option<SeqNo>,
    tail: Option<SegmentTail>,
}

impl<'a> SegmentReader<'a> {
    /// Starts reading `buf`, the whole content of a segment file, and
    /// decodes its header record. An empty file is a segment with no
    /// records (a crash can leave one right after creation).
    pub fn new(buf: &'a [u8]) -> Self {
        let mut reader = SegmentReader {
            buf,
            offset: 0,
            header: None,
            sync_mark: None,
            tail: None,
        };
        match decode_record(buf, MAX_RECORD_PAYLOAD_BYTES) {
            RecordDecode::End => reader.tail = Some(SegmentTail::Clean),
            RecordDecode::Record {
                kind: RECORD_TYPE_SEGMENT_HEADER,
                payload,
                framed_len,
            } => match decode_segment_header(payload) {
                Ok(header) => {
                    reader.header = Some(header);
                    reader.offset = framed_len;
                }
                Err(reason) => reader.invalid(reason.to_string()),
            },
            RecordDecode::Record { .. } => {
                reader.invalid("segment does not start with a header record".to_string())
            }
            RecordDecode::Incomplete => reader.damaged("incomplete segment header"),
            RecordDecode::Zeroed => reader.damaged("zeroed segment header"),
            RecordDecode::Bad(reason) => reader.damaged(reason),
        }
        reader
    }

    /// The segment header, if the file has a valid one.
    pub fn header(&self) -> Option<&SegmentHeader> {
        self.header.as_ref()
    }

    /// The highest durable mark of the sync marks read so far (written by
    /// `WalWriter::close` once every record before it was durable).
    pub fn sync_mark(&self) -> Option<SeqNo> {
        self.sync_mark
    }

    /// How the segment ends; `None` while records remain to be read.
    pub fn tail(&self) -> Option<&SegmentTail> {
        self.tail.as_ref()
    }

    fn damaged(&mut self, reason: &'static str) {
        let mut next_valid_record = None;
        let mut later_durable_mark = None;
        let header_version = self.header.map(|header| header.version);
        let version = header_version.unwrap_or(0);
        let plausible = |kind, len| plausible_record(header_version, kind, len);
        let claim_plausible = |kind, len| match header_version {
            Some(_) => plausible(kind, len),
            None => plausible_segment_header(kind, len),
        };
        // The first valid record that is not a part of the damaged one
        // (a torn record's payload may hold whole records); then every
        // one after it.
        let mut next = find_record_after_damage(
            self.buf,
            self.offset,
            MAX_RECORD_PAYLOAD_BYTES,
            claim_plausible,
            plausible,
        );
        while let Some(at) = next {
            next_valid_record.get_or_insert(at as u64);
            let rest = self.buf.get(at..).unwrap_or_default();
            let RecordDecode::Record {
                kind,
                payload,
                framed_len,
            } = decode_record(rest, MAX_RECORD_PAYLOAD_BYTES)
            else {
                break; // unreachable: the record was just found valid
            };
            let mark = match parse_sync_mark(version, kind, payload) {
                // Written after a sync, never over zeros out of order.
                Some(Ok(mark)) => mark,
                Some(Err(_)) => SeqNo::MAX,
                None => split_batch_payload(version, kind, payload)
                    .and_then(Result::ok)
                    .and_then(|split| split.mark)
                    .filter(|mark| mark.zero_filled)
                    .map_or(SeqNo::MAX, |mark| mark.durable_below),
            };
            later_durable_mark = Some(later_durable_mark.map_or(mark, |m: SeqNo| m.max(mark)));
            if mark == SeqNo::MAX {
                break; // proof of corruption already: no later record changes it
            }
            next = find_next_valid_record(
                self.buf,
                at + framed_len,
                MAX_RECORD_PAYLOAD_BYTES,
                plausible,
            );
        }
        self.tail = Some(SegmentTail::Damaged {
            offset: self.offset as u64,
            dropped_bytes: (self.buf.len() - self.offset) as u64,
            reason,
            next_valid_record,
            later_durable_mark,
        });
    }

    /// Zeros from the current offset to the end of the file: the rest of
    /// what the writer zero-filled ahead of its records.
    fn only_zeros_remain(&self) -> bool {
        let rest = self.buf.get(self.offset..).unwrap_or_default();
        rest.iter().all(|&b| b == 0)
    }

    fn invalid(&mut self, reason: String) {
        self.tail = Some(SegmentTail::Invalid {
            offset: self.offset as u64,
            reason,
        });
    }
}

impl<'a> Iterator for SegmentReader<'a> {
    type Item = WalRecord<'a>;

    fn next(&mut self) -> Option<WalRecord<'a>> {
        while self.tail.is_none() {
            if let Some(record) = self.next_record() {
                return Some(record);
            }
        }
        None
    }
}

impl<'a> SegmentReader<'a> {
    /// Reads the record at the current offset: a batch is returned; a sync
    /// mark is noted and skipped (`None` with no tail set); anything else
    /// sets the tail.
    fn next_record(&mut self) -> Option<WalRecord<'a>> {
        let rest = self.buf.get(self.offset..).unwrap_or_default();
        let version = self.header.map_or(0, |header| header.version);
        match decode_record(rest, MAX_RECORD_PAYLOAD_BYTES) {
            RecordDecode::End => self.tail = Some(SegmentTail::Clean),
            RecordDecode::Record {
                kind,
                payload,
                framed_len,
            } => {
                if let Some(sync_mark) = parse_sync_mark(version, kind, payload) {
                    match sync_mark {
                        Ok(mark) => {
                            self.sync_mark = Some(self.sync_mark.map_or(mark, |m| m.max(mark)));
                            self.offset += framed_len;
                        }
                        Err(reason) => self.invalid(reason.to_string()),
                    }
                    return None;
                }
                let batch = split_batch_payload(version, kind, payload).map(|split| {
                    split.and_then(|split| {
                        BatchView::from_parts(split.first_seq, split.count, split.ops)
                            .map(|batch| (batch, split.mark))
                    })
                });
                match batch {
                    None => self.invalid(format!(
                        "unexpected record type {kind} in a version-{version} segment"
                    )),
                    Some(Err(reason)) => self.invalid(format!("invalid write batch: {reason}")),
                    Some(Ok((batch, mark))) => {
                        let record = WalRecord {
                            offset: self.offset as u64,
                            framed_len: framed_len as u64,
                            batch,
                            mark,
                        };
                        self.offset += framed_len;
                        return Some(record);
                    }
                }
            }
            RecordDecode::Zeroed | RecordDecode::Incomplete if self.only_zeros_remain() => {
                self.tail = Some(SegmentTail::Clean);
            }
            RecordDecode::Incomplete => self.damaged("incomplete record"),
            RecordDecode::Zeroed => self.damaged("zeroed bytes where a record should be"),
            RecordDecode::Bad(reason) => self.damaged(reason),
        }
        None
    }
}

/// A summary of one record, for tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSummary {
    /// Byte offset of the record's header in the file.
    pub offset: u64,
    /// Bytes the record takes, header included.
    pub framed_len: u64,
    /// Sequence number of the batch's first operation.
    pub first_seq: SeqNo,
    /// Sequence number of the batch's last operation.
    pub last_seq: SeqNo,
    /// Number of operations.
    pub count: u32,
}

/// Everything [`read_segment`] found in one segment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentContents {
    /// The segment header, if valid.
    pub header: Option<SegmentHeader>,
    /// Every readable write-batch record, in file order.
    pub records: Vec<RecordSummary>,
    /// The highest sync mark read before the tail: every sequence number
    /// below it was durable when it was written.
    pub sync_mark: Option<SeqNo>,
    /// Where the last whole record (batch, sync mark or header) ends: the
    /// tail, clean or damaged, starts here.
    pub records_end: u64,
    /// How the file ends.
    pub tail: SegmentTail,
    /// The file's length in bytes.
    pub file_len: u64,
}

/// Reads a segment file and lists its records and how it ends, without
/// changing it. Errors only on I/O; damage is reported in
/// [`SegmentContents::tail`].
pub fn read_segment(fs: &dyn FileSystem, path: &Path) -> Result<SegmentContents> {
    let buf = fs
        .read_all(path)
        .map_err(|source| lsm_core::Error::io(path, source))?;
    let mut reader = SegmentReader::new(&buf);
    let records = reader
        .by_ref()
        .map(|record| RecordSummary {
            offset: record.offset,
            framed_len: record.framed_len,
            first_seq: record.batch.first_seq(),
            last_seq: record.batch.last_seq(),
            count: record.batch.count(),
        })
        .collect();
    Ok(SegmentContents {
        header: reader.header().copied(),
        records,
        sync_mark: reader.sync_mark(),
        records_end: reader.offset as u64,
        tail: reader.tail().cloned().unwrap_or(SegmentTail::Clean),
        file_len: buf.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_segment_header, frame_batch_record, OpsCrc, SEGMENT_HEADER_BYTES};
    use lsm_core::WriteBatch;
    use proptest::prelude::*;

    /// A segment holding one single-put record per sequence number, each
    /// with durable mark 1, framed while not zero-filling.
    fn segment_with(seqs: &[u64]) -> Vec<u8> {
        let marked: Vec<(u64, u64)> = seqs.iter().map(|&seq| (seq, 1)).collect();
        segment_with_marks(&marked, false)
    }

    /// A segment holding one single-put record per (sequence number,
    /// durable mark), each 512 bytes long framed.
    fn segment_with_marks(records: &[(u64, u64)], zero_filled: bool) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_segment_header(&mut buf, 3);
        for &(seq, mark) in records {
            let mark = DurableMark {
                durable_below: mark,
                zero_filled,
            };
            // The varints make the length depend on `seq` and `mark`: frame
            // once to measure, then pad the value to the record size.
            let frame = |buf: &mut Vec<u8>, value_len: usize| {
                let mut batch = WriteBatch::new();
                batch.put(b"key", vec![b'v'; value_len]);
                frame_batch_record(
                    buf,
                    batch.encoded(),
                    seq,
                    mark,
                    &OpsCrc::of(batch.encoded()),
                )
            };
            let short = frame(&mut Vec::new(), 400);
            let framed = frame(&mut buf, 400 + RECORD_BYTES - short);
            assert_eq!(framed, RECORD_BYTES);
        }
        buf
    }

    const RECORD_BYTES: usize = 512;

    #[test]
    fn reads_records_then_clean_end() {
        let buf = segment_with(&[1, 2, 3]);
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.header().map(|h| h.segment), Some(3));
        let seqs: Vec<u64> = reader.by_ref().map(|r| r.batch.first_seq()).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(reader.tail(), Some(&SegmentTail::Clean));
    }

    #[test]
    fn empty_file_is_a_clean_segment_without_header() {
        let mut reader = SegmentReader::new(&[]);
        assert!(reader.header().is_none());
        assert!(reader.next().is_none());
        assert_eq!(reader.tail(), Some(&SegmentTail::Clean));
    }

    #[test]
    fn batch_record_at_offset_zero_is_invalid() {
        let full = segment_with(&[1]);
        let buf = &full[crate::format::SEGMENT_HEADER_BYTES..];
        let mut reader = SegmentReader::new(buf);
        assert!(reader.next().is_none());
        assert!(matches!(
            reader.tail(),
            Some(SegmentTail::Invalid { offset: 0, .. })
        ));
    }

    #[test]
    fn cut_record_is_a_torn_tail_and_flipped_middle_record_is_not() {
        let buf = segment_with(&[1, 2, 3]);
        let cut = &buf[..buf.len() - 3];
        let mut reader = SegmentReader::new(cut);
        assert_eq!(reader.by_ref().count(), 2);
        assert!(reader.tail().is_some_and(|tail| tail.is_torn(3)));

        let mut flipped = buf.clone();
        let record_len = (buf.len() - crate::format::SEGMENT_HEADER_BYTES) / 3;
        let inside_second = crate::format::SEGMENT_HEADER_BYTES + record_len + 20;
        flipped[inside_second] ^= 1;
        let mut reader = SegmentReader::new(&flipped);
        assert_eq!(reader.by_ref().count(), 1);
        assert!(matches!(
            reader.tail(),
            Some(SegmentTail::Damaged {
                next_valid_record: Some(_),
                ..
            })
        ));
    }

    /// Zeros written ahead of the records end the segment cleanly; zeros
    /// followed by anything else are damage.
    #[test]
    fn zeros_to_the_end_of_the_file_are_a_clean_end() {
        let mut buf = segment_with(&[1, 2]);
        buf.resize(buf.len() + 10_000, 0);
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 2);
        assert_eq!(reader.tail(), Some(&SegmentTail::Clean));
        let mut short = segment_with(&[1]);
        short.extend_from_slice(&[0; 5]); // shorter than a record header
        let mut reader = SegmentReader::new(&short);
        assert_eq!(reader.by_ref().count(), 1);
        assert_eq!(reader.tail(), Some(&SegmentTail::Clean));

        let len = buf.len();
        buf[len - 1] = 1;
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 2);
        assert!(matches!(reader.tail(), Some(SegmentTail::Damaged { .. })));
    }

    /// A lost block followed by whole records is torn only if every later
    /// record was framed while the lost sequence numbers were not durable.
    #[test]
    fn damage_followed_by_records_is_torn_only_if_their_marks_say_nothing_was_durable() {
        // Records 1..=4; record 2 lost (zeros, as unsynced write-back
        // leaves it), 3 and 4 whole.
        let marks = [(1, 1), (2, 2), (3, 2), (4, 2)];
        let mut buf = segment_with_marks(&marks, true);
        let second = SEGMENT_HEADER_BYTES + RECORD_BYTES;
        buf[second..second + RECORD_BYTES].fill(0);
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 1);
        let tail = reader.tail().unwrap().clone();
        let SegmentTail::Damaged {
            offset,
            next_valid_record,
            later_durable_mark,
            ..
        } = tail
        else {
            panic!("not damaged: {tail:?}");
        };
        assert_eq!(offset, second as u64);
        assert_eq!(next_valid_record, Some((second + RECORD_BYTES) as u64));
        assert_eq!(later_durable_mark, Some(2));
        assert!(tail.is_torn(2), "record 2 was never durable");

        // The same records framed while not zero-filling were appended
        // after record 2's bytes: no crash loses 2 and keeps them.
        let mut buf = segment_with_marks(&marks, false);
        buf[second..second + RECORD_BYTES].fill(0);
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 1);
        assert!(!reader.tail().unwrap().is_torn(2));

        // Record 4 was framed after record 2 was durable: damage to it is
        // not a crash's doing.
        let marks = [(1, 1), (2, 2), (3, 2), (4, 3)];
        let mut buf = segment_with_marks(&marks, true);
        buf[second..second + RECORD_BYTES].fill(0);
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 1);
        let tail = reader.tail().unwrap();
        assert!(!tail.is_torn(2));
        assert!(matches!(
            tail,
            SegmentTail::Damaged {
                later_durable_mark: Some(3),
                ..
            }
        ));
    }

    /// The framed header of segment 3 written by format `version` (this
    /// crate writes only the newest).
    fn segment_header_of_version(version: u32) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut header = [0u8; crate::format::SEGMENT_HEADER_PAYLOAD_BYTES];
        header[..8].copy_from_slice(&crate::format::SEGMENT_MAGIC);
        header[8..12].copy_from_slice(&version.to_le_bytes());
        header[12..].copy_from_slice(&3u64.to_le_bytes());
        lsm_core::record::encode_record(&mut buf, RECORD_TYPE_SEGMENT_HEADER, &header);
        buf
    }

    /// Version-2 segments (records without marks) still read; a record
    /// after damage without a mark makes the damage corruption.
    #[test]
    fn version_2_segments_read_and_unmarked_records_prove_corruption() {
        let mut buf = segment_header_of_version(2);
        for seq in 1..=3 {
            let mut batch = WriteBatch::new();
            batch.put(b"key", b"value");
            batch.set_first_seq(seq);
            lsm_core::record::encode_record(
                &mut buf,
                crate::format::RECORD_TYPE_WRITE_BATCH,
                batch.encoded(),
            );
        }
        let mut reader = SegmentReader::new(&buf);
        let read: Vec<(u64, Option<DurableMark>)> = reader
            .by_ref()
            .map(|r| (r.batch.first_seq(), r.mark))
            .collect();
        assert_eq!(read, [(1, None), (2, None), (3, None)]);
        assert_eq!(reader.header().map(|h| h.version), Some(2));

        let record_len = (buf.len() - SEGMENT_HEADER_BYTES) / 3;
        buf[SEGMENT_HEADER_BYTES + record_len + 12] ^= 1;
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 1);
        let tail = reader.tail().unwrap();
        assert!(matches!(
            tail,
            SegmentTail::Damaged {
                later_durable_mark: Some(SeqNo::MAX),
                ..
            }
        ));
        assert!(!tail.is_torn(2));
    }

    /// Version-4 segments (type-3 records: a mark, then the batch with its
    /// fixed header) still read, with their marks and operations; a type-5
    /// record in one is invalid.
    #[test]
    fn version_4_segments_read_their_marked_records() {
        let mut buf = segment_header_of_version(4);
        for seq in 1..=3u64 {
            let mut batch = WriteBatch::new();
            batch.put(b"key", b"value").delete(b"gone");
            batch.set_first_seq(seq * 2);
            // The mark: durable below 1, zero-filled.
            let mut payload = vec![u8::try_from((seq * 2 - 1) * 2 + 1).unwrap()];
            payload.extend_from_slice(batch.encoded());
            lsm_core::record::encode_record(
                &mut buf,
                crate::format::RECORD_TYPE_MARKED_BATCH,
                &payload,
            );
        }
        let mut reader = SegmentReader::new(&buf);
        let read: Vec<_> = reader
            .by_ref()
            .map(|r| {
                let ops: Vec<_> = r
                    .batch
                    .iter()
                    .map(|op| (op.kind, op.key.to_vec(), op.seq))
                    .collect();
                (r.batch.first_seq(), r.mark, ops)
            })
            .collect();
        let mark = Some(DurableMark {
            durable_below: 1,
            zero_filled: true,
        });
        let ops = |first: u64| {
            vec![
                (lsm_core::OpKind::Put, b"\0key".to_vec(), first),
                (lsm_core::OpKind::Delete, b"\0gone".to_vec(), first + 1),
            ]
        };
        assert_eq!(
            read,
            [(2, mark, ops(2)), (4, mark, ops(4)), (6, mark, ops(6))]
        );
        assert_eq!(reader.header().map(|h| h.version), Some(4));
        assert_eq!(reader.tail(), Some(&SegmentTail::Clean));

        // A version-5 record appended to the version-4 segment is refused.
        let mut batch = WriteBatch::new();
        batch.put(b"key", b"value");
        frame_batch_record(
            &mut buf,
            batch.encoded(),
            8,
            DurableMark {
                durable_below: 1,
                zero_filled: true,
            },
            &OpsCrc::of(batch.encoded()),
        );
        let mut reader = SegmentReader::new(&buf);
        assert_eq!(reader.by_ref().count(), 3);
        assert!(
            matches!(reader.tail(), Some(SegmentTail::Invalid { .. })),
            "{:?}",
            reader.tail()
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut reader = SegmentReader::new(&bytes);
            let mut end = 0u64;
            for record in reader.by_ref() {
                prop_assert!(record.offset >= end);
                end = record.offset + record.framed_len;
                prop_assert!(end <= bytes.len() as u64);
            }
            prop_assert!(reader.tail().is_some());
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_header_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = segment_with(&[5]);
            buf.extend_from_slice(&bytes);
            let mut reader = SegmentReader::new(&buf);
            prop_assert!(reader.by_ref().count() >= 1);
            prop_assert!(reader.tail().is_some());
        }
    }
}
