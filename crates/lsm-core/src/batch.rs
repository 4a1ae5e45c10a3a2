//! `WriteBatch`: an atomic group of puts, deletes and range deletes,
//! possibly spanning keyspaces, kept in its encoded form so the WAL writes
//! it without re-encoding.
//!
//! Layout (see `docs/format/wal.md`, "batch payload"):
//!
//! ```text
//! +----------------+-------------+------------------------------------------+
//! | first seq: u64 | count: u32  | op * count                               |
//! | little-endian  | LE          | kind u8 | key (varint len + tree key)    |
//! |                |             |         | value (varint len + bytes)     |
//! |                |             |         |   Put: the value               |
//! |                |             |         |   RangeDelete: the end tree key|
//! +----------------+-------------+------------------------------------------+
//! ```
//!
//! Op `i` (0-based) carries sequence number `first seq + i`. Keys are *tree
//! keys*: the keyspace prefix, then the user key ([`crate::keyspace`]).

use std::ops::Bound;

use byteorder::{ByteOrder, LittleEndian};

use crate::coding::{get_length_prefixed, put_length_prefixed, put_varint32};
use crate::error::{Error, Result};
use crate::key::{SeqNo, ValueKind};
use crate::keyspace::{split_tree_key, KeyspaceId};
use crate::{MAX_BATCH_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES};

/// Bytes of the batch header (first sequence number and count).
pub const BATCH_HEADER_BYTES: usize = 12;

/// What one batch operation does. The discriminants are written to disk:
/// never change them, only append new ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpKind {
    /// Delete one key.
    Delete = 0,
    /// Set one key.
    Put = 1,
    /// Delete every key in `[key, value)` (both tree keys).
    RangeDelete = 2,
}

impl OpKind {
    /// Decodes a kind byte; `None` for an unknown value.
    pub fn from_u8(byte: u8) -> Option<OpKind> {
        match byte {
            0 => Some(OpKind::Delete),
            1 => Some(OpKind::Put),
            2 => Some(OpKind::RangeDelete),
            _ => None,
        }
    }

    /// The entry kind a point op stores; `None` for a range delete.
    pub fn value_kind(self) -> Option<ValueKind> {
        match self {
            OpKind::Delete => Some(ValueKind::Delete),
            OpKind::Put => Some(ValueKind::Put),
            OpKind::RangeDelete => None,
        }
    }
}

/// An ordered group of puts, deletes and range deletes applied atomically.
///
/// Building never fails; [`WriteBatch::check_limits`] reports a key, value
/// or batch over its limit before the batch is written. The plain methods
/// write to the default keyspace; the `_in` methods take a keyspace id (a
/// store's `Keyspace` handle gives it; the store rejects a batch naming a
/// keyspace that does not exist).
///
/// ```
/// use lsm_core::keyspace::KeyspaceId;
/// use lsm_core::{OpKind, WriteBatch};
///
/// let mut batch = WriteBatch::new();
/// batch.put("apple", "red").delete(b"pear");
/// batch.put_in(KeyspaceId::new(7), "apple", "green");
/// batch.delete_range("k0", "k5");
/// assert_eq!(batch.count(), 4);
/// assert_eq!(batch.keyspaces(), [KeyspaceId::new(7)]);
/// let kinds: Vec<OpKind> = batch.iter().map(|op| op.kind).collect();
/// assert_eq!(kinds, [OpKind::Put, OpKind::Delete, OpKind::Put, OpKind::RangeDelete]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
    max_key_len: usize,
    max_value_len: usize,
    /// Keyspaces other than the default one the batch writes to, sorted,
    /// without duplicates.
    keyspaces: Vec<KeyspaceId>,
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
            keyspaces: Vec::new(),
        }
    }

    /// Adds a put of `key` → `value` in the default keyspace.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.put_in(KeyspaceId::DEFAULT, key, value)
    }

    /// Adds a delete of `key` in the default keyspace.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        self.delete_in(KeyspaceId::DEFAULT, key)
    }

    /// Adds a delete of every key in `[start, end)` of the default
    /// keyspace: one operation, one sequence number, whatever the number of
    /// keys. An empty range (`start >= end`) deletes nothing.
    pub fn delete_range(&mut self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> &mut Self {
        self.delete_range_in(
            KeyspaceId::DEFAULT,
            Bound::Included(start.as_ref()),
            Bound::Excluded(end.as_ref()),
        )
    }

    /// Adds a put of `key` → `value` in `keyspace`.
    pub fn put_in(
        &mut self,
        keyspace: KeyspaceId,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> &mut Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.push_key(OpKind::Put, keyspace, key);
        put_length_prefixed(&mut self.rep, value);
        self.max_value_len = self.max_value_len.max(value.len());
        self.count_op();
        self
    }

    /// Adds a delete of `key` in `keyspace`.
    pub fn delete_in(&mut self, keyspace: KeyspaceId, key: impl AsRef<[u8]>) -> &mut Self {
        self.push_key(OpKind::Delete, keyspace, key.as_ref());
        self.count_op();
        self
    }

    /// Adds a delete of every key of `keyspace` between `start` and `end`
    /// (any bounds; `(Unbounded, Unbounded)` is the whole keyspace).
    pub fn delete_range_in(
        &mut self,
        keyspace: KeyspaceId,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> &mut Self {
        let (prefix_start, prefix_end) = keyspace.tree_range();
        let tree = |user: &[u8]| {
            let mut key = Vec::with_capacity(prefix_start.len() + user.len() + 1);
            key.extend_from_slice(&prefix_start);
            key.extend_from_slice(user);
            key
        };
        // An inclusive end and an exclusive start are stored as the first
        // key after the bound.
        let successor = |user: &[u8]| key_successor(user).map(|next| tree(&next));
        let end_key = match end {
            // After the last possible key comes the keyspace's end.
            Bound::Included(k) => successor(k).unwrap_or_else(|| prefix_end.clone()),
            Bound::Excluded(k) => tree(k),
            Bound::Unbounded => prefix_end,
        };
        let (start_key, end_key) = match start {
            Bound::Included(k) => (tree(k), end_key),
            Bound::Excluded(k) => match successor(k) {
                Some(start_key) => (start_key, end_key),
                // Nothing lies after the last possible key: an empty
                // range, stored as one (start = end, both in the keyspace).
                None => (tree(k), tree(k)),
            },
            Bound::Unbounded => (prefix_start.clone(), end_key),
        };
        let user_len = |b: Bound<&[u8]>| match b {
            Bound::Included(k) | Bound::Excluded(k) => k.len(),
            Bound::Unbounded => 0,
        };
        self.max_key_len = self.max_key_len.max(user_len(start)).max(user_len(end));
        self.note_keyspace(keyspace);
        self.rep.push(OpKind::RangeDelete as u8);
        put_length_prefixed(&mut self.rep, &start_key);
        put_length_prefixed(&mut self.rep, &end_key);
        self.count_op();
        self
    }

    /// Appends kind and tree key (prefix + user key) of one op.
    fn push_key(&mut self, kind: OpKind, keyspace: KeyspaceId, key: &[u8]) {
        self.rep.push(kind as u8);
        let (prefix, prefix_len) = keyspace.encode_prefix();
        let prefix = &prefix[..prefix_len];
        let tree_len = prefix.len() + key.len();
        put_varint32(&mut self.rep, u32::try_from(tree_len).unwrap_or(u32::MAX));
        self.rep.extend_from_slice(prefix);
        self.rep.extend_from_slice(key);
        self.max_key_len = self.max_key_len.max(key.len());
        self.note_keyspace(keyspace);
    }

    fn note_keyspace(&mut self, keyspace: KeyspaceId) {
        if keyspace != KeyspaceId::DEFAULT {
            if let Err(at) = self.keyspaces.binary_search(&keyspace) {
                self.keyspaces.insert(at, keyspace);
            }
        }
    }

    fn count_op(&mut self) {
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

    /// The keyspaces other than the default one this batch writes to,
    /// sorted.
    pub fn keyspaces(&self) -> &[KeyspaceId] {
        &self.keyspaces
    }

    /// Removes every operation, keeping the allocation.
    pub fn clear(&mut self) {
        self.rep.truncate(BATCH_HEADER_BYTES);
        self.rep.fill(0);
        self.max_key_len = 0;
        self.max_value_len = 0;
        self.keyspaces.clear();
    }

    /// Checks the batch against [`MAX_KEY_BYTES`] (for user keys, without
    /// the keyspace prefix), [`MAX_VALUE_BYTES`] and [`MAX_BATCH_BYTES`],
    /// and that it is not empty.
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
    /// Put, delete or range delete.
    pub kind: OpKind,
    /// The tree key (keyspace prefix + user key); a range delete's first
    /// tree key.
    pub key: &'a [u8],
    /// A put's value; a range delete's end tree key (exclusive); empty for
    /// a delete.
    pub value: &'a [u8],
    /// The sequence number this op carries.
    pub seq: SeqNo,
}

impl<'a> BatchOp<'a> {
    /// The keyspace and user key of [`BatchOp::key`] (`None` only for a
    /// malformed prefix, which [`BatchView::parse`] rejects).
    pub fn keyspace_and_user_key(&self) -> Option<(KeyspaceId, &'a [u8])> {
        split_tree_key(self.key)
    }
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
    let kind = OpKind::from_u8(kind)?;
    let mut rest = rest;
    let key = get_length_prefixed(&mut rest)?;
    let value = match kind {
        OpKind::Put | OpKind::RangeDelete => get_length_prefixed(&mut rest)?,
        OpKind::Delete => &[],
    };
    *input = rest;
    Some(BatchOp {
        kind,
        key,
        value,
        seq,
    })
}

/// A validated, borrowed view of a batch read back from disk: its first
/// sequence number, its count and its operations' bytes, which the WAL
/// stores after a header of its own ([`BatchView::from_parts`]) or in the
/// `WriteBatch` encoding ([`BatchView::parse`]).
#[derive(Clone, Copy, Debug)]
pub struct BatchView<'a> {
    ops: &'a [u8],
    first_seq: SeqNo,
    count: u32,
}

impl<'a> BatchView<'a> {
    /// Checks that `encoded` is a whole, well-formed `WriteBatch`
    /// encoding: header present, then operations as
    /// [`BatchView::from_parts`] checks them. The error is a reason for a
    /// corruption report.
    pub fn parse(encoded: &'a [u8]) -> std::result::Result<Self, &'static str> {
        if encoded.len() < BATCH_HEADER_BYTES {
            return Err("batch shorter than its header");
        }
        let first_seq = LittleEndian::read_u64(&encoded[0..8]);
        let count = LittleEndian::read_u32(&encoded[8..12]);
        Self::from_parts(first_seq, count, &encoded[BATCH_HEADER_BYTES..])
    }

    /// Checks that `ops` holds exactly `count` well-formed operations
    /// numbered from `first_seq`: at least one, every length in bounds,
    /// known kinds, every key (and a range delete's end) a tree key with a
    /// valid keyspace prefix, user keys and values within
    /// [`MAX_KEY_BYTES`] and [`MAX_VALUE_BYTES`], no trailing bytes, and the last sequence
    /// number within 56 bits. The error is a reason for a corruption
    /// report.
    pub fn from_parts(
        first_seq: SeqNo,
        count: u32,
        ops: &'a [u8],
    ) -> std::result::Result<Self, &'static str> {
        if count == 0 {
            return Err("batch holds no operations");
        }
        if first_seq
            .checked_add(u64::from(count) - 1)
            .is_none_or(|last| last > crate::MAX_SEQNO)
        {
            return Err("batch sequence numbers overflow 56 bits");
        }
        let mut rest = ops;
        for i in 0..count {
            let Some(op) = decode_op(&mut rest, first_seq + u64::from(i)) else {
                return Err("batch operation is truncated or has an unknown kind");
            };
            let Some((keyspace, user_key)) = split_tree_key(op.key) else {
                return Err("batch operation key has no valid keyspace prefix");
            };
            // Limits every writer enforces (`WriteBatch::check_limits`): a
            // batch past them was never written by one.
            if user_key.len() > MAX_KEY_BYTES {
                return Err("batch operation key is longer than MAX_KEY_BYTES");
            }
            if op.kind == OpKind::Put && op.value.len() > MAX_VALUE_BYTES {
                return Err("batch operation value is longer than MAX_VALUE_BYTES");
            }
            if op.kind == OpKind::RangeDelete
                && split_tree_key(op.value).is_some_and(|(_, end)| end.len() > MAX_KEY_BYTES)
            {
                return Err("range delete end is longer than MAX_KEY_BYTES");
            }
            // A range delete's end is a tree key, or the end of its
            // keyspace's range (for id 127 that is the byte 0x80, which is
            // no prefix at all).
            if op.kind == OpKind::RangeDelete
                && split_tree_key(op.value).is_none()
                && op.value != keyspace.tree_range().1.as_slice()
            {
                return Err("range delete end is neither a tree key nor its keyspace's end");
            }
        }
        if !rest.is_empty() {
            return Err("batch has bytes after its last operation");
        }
        Ok(BatchView {
            ops,
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

    /// The operations' bytes (a `WriteBatch` encoding without its
    /// header).
    pub fn ops_bytes(&self) -> &'a [u8] {
        self.ops
    }

    /// The operations in order.
    pub fn iter(&self) -> BatchIter<'a> {
        BatchIter {
            rest: self.ops,
            remaining: self.count,
            seq: self.first_seq,
        }
    }

    /// Copies the view into an owned [`WriteBatch`].
    pub fn to_batch(&self) -> WriteBatch {
        let mut batch = WriteBatch::with_capacity(self.ops.len());
        batch.rep.clear();
        batch.rep.extend_from_slice(&self.first_seq.to_le_bytes());
        batch.rep.extend_from_slice(&self.count.to_le_bytes());
        batch.rep.extend_from_slice(self.ops);
        for op in self.iter() {
            let Some((keyspace, user_key)) = op.keyspace_and_user_key() else {
                continue; // `parse` checked every prefix
            };
            batch.note_keyspace(keyspace);
            batch.max_key_len = batch.max_key_len.max(user_key.len());
            match op.kind {
                OpKind::Put => batch.max_value_len = batch.max_value_len.max(op.value.len()),
                OpKind::RangeDelete => {
                    let end = split_tree_key(op.value).map_or(0, |(_, k)| k.len());
                    batch.max_key_len = batch.max_key_len.max(end);
                }
                OpKind::Delete => {}
            }
        }
        batch
    }
}

/// The first user key after `key` among keys no longer than
/// [`MAX_KEY_BYTES`], or `None` if `key` is the last of them.
///
/// For a shorter key that is `key` + `0x00`. For a key of the largest size
/// no longer key exists, so the next one is shorter: `key` without its
/// trailing `0xFF` bytes, with its last byte incremented (`ab\xFF` →
/// `ac`). A key of only `0xFF` bytes at the largest size has no successor.
fn key_successor(key: &[u8]) -> Option<Vec<u8>> {
    if key.len() < MAX_KEY_BYTES {
        let mut next = Vec::with_capacity(key.len() + 1);
        next.extend_from_slice(key);
        next.push(0);
        return Some(next);
    }
    let last = key.iter().rposition(|&byte| byte != 0xFF)?;
    let mut next = key[..=last].to_vec();
    next[last] += 1;
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::tree_key;
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
            (&b"\0a"[..], &b"1"[..], 10)
        );
        assert_eq!((ops[1].kind, ops[1].seq), (OpKind::Delete, 11));
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
        batch.put(vec![0; MAX_KEY_BYTES + 1], b"");
        assert!(matches!(
            batch.check_limits(),
            Err(Error::KeyTooLarge { .. })
        ));
        let mut batch = WriteBatch::new();
        batch.put(b"k", vec![0; MAX_VALUE_BYTES + 1]);
        assert!(matches!(
            batch.check_limits(),
            Err(Error::ValueTooLarge { .. })
        ));
        let mut batch = WriteBatch::new();
        batch.put(vec![0; MAX_KEY_BYTES], vec![0; MAX_VALUE_BYTES]);
        assert!(batch.check_limits().is_ok());
    }

    /// A batch past the writers' limits does not parse (a WAL record
    /// holding one is corruption, not a key a flush then cannot write).
    #[test]
    fn parse_refuses_keys_and_values_past_the_limits() {
        let encoded = |batch: &mut WriteBatch| {
            batch.set_first_seq(1);
            batch.encoded().to_vec()
        };
        let at_limit = encoded(WriteBatch::new().put(vec![1; MAX_KEY_BYTES], b"v"));
        assert!(BatchView::parse(&at_limit).is_ok());
        let long_key = encoded(WriteBatch::new().put(vec![1; MAX_KEY_BYTES + 1], b"v"));
        assert!(BatchView::parse(&long_key).is_err());
        let long_delete = encoded(WriteBatch::new().delete(vec![1; MAX_KEY_BYTES + 1]));
        assert!(BatchView::parse(&long_delete).is_err());
        let long_end = encoded(WriteBatch::new().delete_range(b"a", vec![1; MAX_KEY_BYTES + 1]));
        assert!(BatchView::parse(&long_end).is_err());
        let long_value = encoded(WriteBatch::new().put(b"k", vec![0; MAX_VALUE_BYTES + 1]));
        assert!(BatchView::parse(&long_value).is_err());
        let value_at_limit = encoded(WriteBatch::new().put(b"k", vec![0; MAX_VALUE_BYTES]));
        assert!(BatchView::parse(&value_at_limit).is_ok());
    }

    /// A range delete to the end of a keyspace whose prefix ends in 0x7F
    /// (id 127, id 255, ...) ends at a key that is no prefix (0x80): it
    /// must read back (a drop of keyspace 127 once made a store unopenable).
    #[test]
    fn range_deletes_to_the_end_of_any_keyspace_parse() {
        for id in [0, 1, 126, 127, 128, 255, 16_383, 16_384, u32::MAX] {
            let mut batch = WriteBatch::new();
            batch.delete_range_in(KeyspaceId::new(id), Bound::Unbounded, Bound::Unbounded);
            batch.delete_range_in(KeyspaceId::new(id), Bound::Included(b"k"), Bound::Unbounded);
            batch.set_first_seq(1);
            let view =
                BatchView::parse(batch.encoded()).unwrap_or_else(|e| panic!("keyspace {id}: {e}"));
            assert_eq!(view.count(), 2);
        }
        // An end from another keyspace's range end is still refused.
        let mut bytes = WriteBatch::new();
        bytes.delete_range_in(KeyspaceId::new(3), Bound::Unbounded, Bound::Unbounded);
        bytes.set_first_seq(1);
        let mut raw = bytes.encoded().to_vec();
        let last = raw.len() - 1;
        raw[last] = 0x80; // end [0x80] with start keyspace 3
        assert!(BatchView::parse(&raw).is_err());
    }

    /// An inclusive end or an exclusive start is stored as the next key;
    /// for a key of the largest size that key must itself be within
    /// `MAX_KEY_BYTES`, or the WAL record does not parse back (a store took
    /// such a range delete and then refused to reopen). The stored range
    /// covers exactly the keys the bounds name.
    #[test]
    fn range_delete_bounds_past_a_largest_key_parse_and_cover_the_same_keys() {
        let largest = |fill: u8| vec![fill; MAX_KEY_BYTES];
        let mut ending_in_ff = largest(0xFF);
        ending_in_ff[..2].copy_from_slice(b"ab");
        let bounds = [
            b"k".to_vec(),
            largest(b'a'),
            ending_in_ff.clone(),
            largest(0xFF),
            largest(0),
        ];
        let mut probes: Vec<Vec<u8>> = vec![Vec::new(), b"a".to_vec(), b"ac".to_vec(), vec![0xFF]];
        for bound in &bounds {
            probes.push(bound.clone());
            probes.push(bound[..bound.len() - 1].to_vec());
            if let Some(next) = key_successor(bound) {
                probes.push(next);
            }
        }
        for id in [0, 127] {
            let keyspace = KeyspaceId::new(id);
            for bound in &bounds {
                let mut batch = WriteBatch::new();
                batch.delete_range_in(keyspace, Bound::Unbounded, Bound::Included(bound));
                batch.delete_range_in(keyspace, Bound::Excluded(bound), Bound::Unbounded);
                batch.check_limits().unwrap();
                batch.set_first_seq(1);
                let view = BatchView::parse(batch.encoded())
                    .unwrap_or_else(|e| panic!("keyspace {id}, bound of {}: {e}", bound.len()));
                let ops: Vec<_> = view.iter().collect();
                let covers = |op: &BatchOp<'_>, user: &[u8]| {
                    let key = tree_key(keyspace, user);
                    op.key <= key.as_slice() && key.as_slice() < op.value
                };
                for probe in &probes {
                    assert_eq!(
                        covers(&ops[0], probe),
                        probe <= bound,
                        "..={bound:?} at {probe:?}"
                    );
                    assert_eq!(
                        covers(&ops[1], probe),
                        probe > bound,
                        "{bound:?}.. at {probe:?}"
                    );
                }
            }
        }
        assert_eq!(key_successor(&ending_in_ff), Some(b"ac".to_vec()));
        assert_eq!(key_successor(&largest(0xFF)), None);
        assert_eq!(key_successor(b"k"), Some(b"k\0".to_vec()));
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
                prop_assert_eq!(op.kind == OpKind::Put, *put);
                prop_assert_eq!(op.keyspace_and_user_key().map(|(_, k)| k), Some(&k[..]));
                if *put { prop_assert_eq!(op.value, &v[..]); }
            }
        }
    }
}
