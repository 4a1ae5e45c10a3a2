//! `WriteBatch`: an atomic group of puts and deletes, kept in its encoded
//! form so the WAL writes it without re-encoding.
//!
//! Layout (see `docs/format/wal.md`, "batch payload"):
//!
//! ```text
//! +----------------+-------------+--------------------------------------+
//! | first seq: u64 | count: u32  | op * count                           |
//! | little-endian  | LE          | kind u8 | key (varint len + bytes)   |
//! |                |             |         | value (varint len + bytes) |
//! |                |             |         |   (Put only)               |
//! +----------------+-------------+--------------------------------------+
//! ```
//!
//! Op `i` (0-based) carries sequence number `first seq + i`.

use byteorder::{ByteOrder, LittleEndian};

use crate::coding::{get_length_prefixed, put_length_prefixed};
use crate::error::{Error, Result};
use crate::key::{SeqNo, ValueKind};
use crate::{MAX_BATCH_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES};

/// Bytes of the batch header (first sequence number and count).
pub const BATCH_HEADER_BYTES: usize = 12;

/// An ordered group of puts and deletes applied atomically.
///
/// Building never fails; [`WriteBatch::check_limits`] reports a key, value
/// or batch over its limit before the batch is written.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
    max_key_len: usize,
    max_value_len: usize,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("count", &self.count())
            .field("encoded_len", &self.rep.len())
            .finish()
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty batch with room for `bytes` of operations.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut rep = Vec::with_capacity(BATCH_HEADER_BYTES + bytes);
        rep.resize(BATCH_HEADER_BYTES, 0);
        WriteBatch {
            rep,
            max_key_len: 0,
            max_value_len: 0,
        }
    }

    /// Adds a put of `key` → `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> &mut Self {
        self.push(ValueKind::Put, key, Some(value));
        self
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.push(ValueKind::Delete, key, None);
        self
    }

    fn push(&mut self, kind: ValueKind, key: &[u8], value: Option<&[u8]>) {
        self.rep.push(kind as u8);
        put_length_prefixed(&mut self.rep, key);
        self.max_key_len = self.max_key_len.max(key.len());
        if let Some(value) = value {
            put_length_prefixed(&mut self.rep, value);
            self.max_value_len = self.max_value_len.max(value.len());
        }
        let count = self.count() + 1;
        LittleEndian::write_u32(&mut self.rep[8..12], count);
    }

    /// Number of operations.
    pub fn count(&self) -> u32 {
        LittleEndian::read_u32(&self.rep[8..12])
    }

    /// True when the batch holds no operations.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Removes every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.rep.truncate(BATCH_HEADER_BYTES);
        self.rep.fill(0);
        self.max_key_len = 0;
        self.max_value_len = 0;
    }

    /// Checks the batch against [`MAX_KEY_BYTES`], [`MAX_VALUE_BYTES`] and
    /// [`MAX_BATCH_BYTES`], and that it is not empty.
    pub fn check_limits(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::EmptyBatch);
        }
        if self.max_key_len > MAX_KEY_BYTES {
            return Err(Error::KeyTooLarge {
                len: self.max_key_len,
                max: MAX_KEY_BYTES,
            });
        }
        if self.max_value_len > MAX_VALUE_BYTES {
            return Err(Error::ValueTooLarge {
                len: self.max_value_len,
                max: MAX_VALUE_BYTES,
            });
        }
        if self.rep.len() > MAX_BATCH_BYTES {
            return Err(Error::BatchTooLarge {
                len: self.rep.len(),
                max: MAX_BATCH_BYTES,
            });
        }
        Ok(())
    }

    /// The first sequence number (0 until one is assigned).
    pub fn first_seq(&self) -> SeqNo {
        LittleEndian::read_u64(&self.rep[0..8])
    }

    /// Assigns sequence numbers `first..first + count`.
    pub fn set_first_seq(&mut self, first: SeqNo) {
        LittleEndian::write_u64(&mut self.rep[0..8], first);
    }

    /// The encoded batch, header included.
    pub fn encoded(&self) -> &[u8] {
        &self.rep
    }

    /// Bytes of the encoded batch.
    pub fn encoded_len(&self) -> usize {
        self.rep.len()
    }

    /// The operations in order. The batch was built by this type, so its
    /// encoding is valid by construction.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter {
            rest: &self.rep[BATCH_HEADER_BYTES..],
            remaining: self.count(),
            seq: self.first_seq(),
        }
    }
}

/// One operation of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOp<'a> {
    /// Put or delete.
    pub kind: ValueKind,
    /// The user key.
    pub key: &'a [u8],
    /// The value (empty for a delete).
    pub value: &'a [u8],
    /// The sequence number this op carries.
    pub seq: SeqNo,
}

/// Iterator over a batch's operations; see [`WriteBatch::iter`] and
/// [`BatchView::iter`].
#[derive(Clone, Debug)]
pub struct BatchIter<'a> {
    rest: &'a [u8],
    remaining: u32,
    seq: SeqNo,
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = BatchOp<'a>;

    fn next(&mut self) -> Option<BatchOp<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let op = decode_op(&mut self.rest, self.seq)?;
        self.remaining -= 1;
        self.seq += 1;
        Some(op)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
}

fn decode_op<'a>(input: &mut &'a [u8], seq: SeqNo) -> Option<BatchOp<'a>> {
    let (&kind, rest) = input.split_first()?;
    let kind = ValueKind::from_u8(kind)?;
    let mut rest = rest;
    let key = get_length_prefixed(&mut rest)?;
    let value = match kind {
        ValueKind::Put => get_length_prefixed(&mut rest)?,
        ValueKind::Delete => &[],
    };
    *input = rest;
    Some(BatchOp {
        kind,
        key,
        value,
        seq,
    })
}

/// A validated, borrowed view of an encoded batch read back from disk.
#[derive(Clone, Copy, Debug)]
pub struct BatchView<'a> {
    encoded: &'a [u8],
    first_seq: SeqNo,
    count: u32,
}

impl<'a> BatchView<'a> {
    /// Checks that `encoded` is a whole, well-formed batch: header present,
    /// exactly `count` ops, every length in bounds, known kinds, no trailing
    /// bytes, at least one op. The error is a reason for a corruption report.
    pub fn parse(encoded: &'a [u8]) -> std::result::Result<Self, &'static str> {
        if encoded.len() < BATCH_HEADER_BYTES {
            return Err("batch shorter than its header");
        }
        let first_seq = LittleEndian::read_u64(&encoded[0..8]);
        let count = LittleEndian::read_u32(&encoded[8..12]);
        if count == 0 {
            return Err("batch holds no operations");
        }
        if first_seq
            .checked_add(u64::from(count) - 1)
            .is_none_or(|last| last > crate::MAX_SEQNO)
        {
            return Err("batch sequence numbers overflow 56 bits");
        }
        let mut rest = &encoded[BATCH_HEADER_BYTES..];
        for i in 0..count {
            if decode_op(&mut rest, first_seq + u64::from(i)).is_none() {
                return Err("batch operation is truncated or has an unknown kind");
            }
        }
        if !rest.is_empty() {
            return Err("batch has bytes after its last operation");
        }
        Ok(BatchView {
            encoded,
            first_seq,
            count,
        })
    }

    /// First sequence number.
    pub fn first_seq(&self) -> SeqNo {
        self.first_seq
    }

    /// Last sequence number (`first + count - 1`).
    pub fn last_seq(&self) -> SeqNo {
        self.first_seq + u64::from(self.count) - 1
    }

    /// Number of operations.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The encoded bytes.
    pub fn encoded(&self) -> &'a [u8] {
        self.encoded
    }

    /// The operations in order.
    pub fn iter(&self) -> BatchIter<'a> {
        BatchIter {
            rest: &self.encoded[BATCH_HEADER_BYTES..],
            remaining: self.count,
            seq: self.first_seq,
        }
    }

    /// Copies the view into an owned [`WriteBatch`].
    pub fn to_batch(&self) -> WriteBatch {
        let mut batch = WriteBatch::with_capacity(self.encoded.len());
        for op in self.iter() {
            match op.kind {
                ValueKind::Put => batch.put(op.key, op.value),
                ValueKind::Delete => batch.delete(op.key),
            };
        }
        batch.set_first_seq(self.first_seq);
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ops_carry_consecutive_seqnos() {
        let mut batch = WriteBatch::new();
        batch.put(b"a", b"1").delete(b"b").put(b"c", b"");
        batch.set_first_seq(10);
        let ops: Vec<_> = batch.iter().collect();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            (ops[0].key, ops[0].value, ops[0].seq),
            (&b"a"[..], &b"1"[..], 10)
        );
        assert_eq!((ops[1].kind, ops[1].seq), (ValueKind::Delete, 11));
        assert_eq!(ops[2].seq, 12);
        let view = BatchView::parse(batch.encoded()).unwrap();
        assert_eq!(view.last_seq(), 12);
        assert_eq!(view.to_batch(), batch);
    }

    #[test]
    fn limits_are_typed_errors() {
        assert!(matches!(
            WriteBatch::new().check_limits(),
            Err(Error::EmptyBatch)
        ));
        let mut batch = WriteBatch::new();
        batch.put(&vec![0; MAX_KEY_BYTES + 1], b"");
        assert!(matches!(
            batch.check_limits(),
            Err(Error::KeyTooLarge { .. })
        ));
        let mut batch = WriteBatch::new();
        batch.put(b"k", &vec![0; MAX_VALUE_BYTES + 1]);
        assert!(matches!(
            batch.check_limits(),
            Err(Error::ValueTooLarge { .. })
        ));
        let mut batch = WriteBatch::new();
        batch.put(&vec![0; MAX_KEY_BYTES], &vec![0; MAX_VALUE_BYTES]);
        assert!(batch.check_limits().is_ok());
    }

    #[test]
    fn parse_rejects_trailing_bytes_and_empty() {
        let mut batch = WriteBatch::new();
        batch.put(b"a", b"1");
        let mut bytes = batch.encoded().to_vec();
        bytes.push(0);
        assert!(BatchView::parse(&bytes).is_err());
        assert!(BatchView::parse(WriteBatch::new().encoded()).is_err());
    }

    proptest! {
        #[test]
        fn parse_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(view) = BatchView::parse(&bytes) {
                prop_assert_eq!(view.iter().count(), view.count() as usize);
            }
        }

        #[test]
        fn roundtrip(ops in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..8), proptest::collection::vec(any::<u8>(), 0..8)), 1..20), seq in 0u64..1_000_000) {
            let mut batch = WriteBatch::new();
            for (put, k, v) in &ops {
                if *put { batch.put(k, v); } else { batch.delete(k); }
            }
            batch.set_first_seq(seq);
            let view = BatchView::parse(batch.encoded()).unwrap();
            prop_assert_eq!(view.count() as usize, ops.len());
            for (op, (put, k, v)) in view.iter().zip(&ops) {
                prop_assert_eq!(op.kind == ValueKind::Put, *put);
                prop_assert_eq!(op.key, &k[..]);
                if *put { prop_assert_eq!(op.value, &v[..]); }
            }
        }
    }
}
