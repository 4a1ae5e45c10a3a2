//! Reading one segment's bytes: the records in order, then how the segment
//! ends (cleanly, with a torn tail, or with corruption). Recovery and the
//! `lsm inspect wal` tool both use [`SegmentReader`]; it judges one segment
//! alone and leaves cross-segment rules (sequence order, which segment is
//! the newest) to [`crate::recover`].

use std::path::Path;

use lsm_core::record::{decode_record, find_next_valid_record, RecordDecode};
use lsm_core::{BatchView, FileSystem, SeqNo, MAX_BATCH_BYTES};

use crate::format::{
    decode_segment_header, SegmentHeader, RECORD_TYPE_SEGMENT_HEADER, RECORD_TYPE_WRITE_BATCH,
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
}

/// How a segment ends, known once [`SegmentReader`] has returned `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentTail {
    /// Records run exactly to the end of the file.
    Clean,
    /// The bytes at `offset` are not a whole, checksummed record: cut short
    /// (`Incomplete`), zeros, or failing a check. When `next_valid_record`
    /// is `None` nothing valid follows, which is what a crash during an
    /// append leaves: a *torn tail*. When it is `Some`, a valid record
    /// follows the damage, which no crash explains: corruption.
    Damaged {
        /// Offset of the first damaged byte.
        offset: u64,
        /// Bytes from `offset` to the end of the file.
        dropped_bytes: u64,
        /// Which check failed.
        reason: &'static str,
        /// Offset of the next valid record after the damage, if any.
        next_valid_record: Option<u64>,
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
    /// True for damage with no valid record after it (a torn tail).
    pub fn is_torn(&self) -> bool {
        matches!(
            self,
            SegmentTail::Damaged {
                next_valid_record: None,
                ..
            }
        )
    }
}

/// Iterates the write-batch records of one segment's bytes, in order.
///
/// The header record is read by [`SegmentReader::new`]. Iteration stops at
/// the end of the bytes or at the first record that cannot be returned;
/// [`SegmentReader::tail`] then says which. Never panics on arbitrary bytes
/// and never allocates from a length read from them.
#[derive(Debug)]
pub struct SegmentReader<'a> {
    buf: &'a [u8],
    offset: usize,
    header: Option<SegmentHeader>,
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
            tail: None,
        };
        match decode_record(buf, MAX_BATCH_BYTES) {
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

    /// How the segment ends; `None` while records remain to be read.
    pub fn tail(&self) -> Option<&SegmentTail> {
        self.tail.as_ref()
    }

    fn damaged(&mut self, reason: &'static str) {
        let next_valid_record = find_next_valid_record(self.buf, self.offset + 1, MAX_BATCH_BYTES)
            .map(|offset| offset as u64);
        self.tail = Some(SegmentTail::Damaged {
            offset: self.offset as u64,
            dropped_bytes: (self.buf.len() - self.offset) as u64,
            reason,
            next_valid_record,
        });
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
        if self.tail.is_some() {
            return None;
        }
        let rest = self.buf.get(self.offset..).unwrap_or_default();
        match decode_record(rest, MAX_BATCH_BYTES) {
            RecordDecode::End => self.tail = Some(SegmentTail::Clean),
            RecordDecode::Record {
                kind: RECORD_TYPE_WRITE_BATCH,
                payload,
                framed_len,
            } => match BatchView::parse(payload) {
                Ok(batch) => {
                    let record = WalRecord {
                        offset: self.offset as u64,
                        framed_len: framed_len as u64,
                        batch,
                    };
                    self.offset += framed_len;
                    return Some(record);
                }
                Err(reason) => self.invalid(format!("invalid write batch: {reason}")),
            },
            RecordDecode::Record { kind, .. } => {
                self.invalid(format!("unexpected record type {kind}"))
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
        tail: reader.tail().cloned().unwrap_or(SegmentTail::Clean),
        file_len: buf.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_segment_header, frame_batch_record, OpsCrc};
    use lsm_core::WriteBatch;
    use proptest::prelude::*;

    fn segment_with(seqs: &[u64]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_segment_header(&mut buf, 3);
        for &seq in seqs {
            let mut batch = WriteBatch::new();
            batch.put(b"key", b"value");
            frame_batch_record(&mut buf, batch.encoded(), seq, &OpsCrc::of(batch.encoded()));
        }
        buf
    }

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
        assert!(reader.tail().is_some_and(SegmentTail::is_torn));

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
