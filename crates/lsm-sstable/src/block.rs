//! Data and index blocks: prefix-compressed sorted entries with restart
//! points, and a cursor that seeks by binary search over those points.
//!
//! An entry's key can only be decoded from the restart point before it, so
//! the cursor steps backward as LevelDB's `Block::Iter::Prev` does: back to
//! the last restart point before the current entry, then forward to the
//! entry just before it. That costs one restart interval of decoding, not
//! the block; `seek_for_prev` binary-searches the restart points as `seek`
//! does and scans one interval.
//!
//! Layout (see `docs/format/sstable.md`, "Blocks"):
//!
//! ```text
//! entry*  restart_offset: u32 LE * n  n: u32 LE
//! entry = shared: varint32 | unshared: varint32 | value_len: varint32
//!         | key[shared..] (unshared bytes) | value (value_len bytes)
//! ```
//!
//! Invariants: a restart entry has `shared == 0`; restart offsets are
//! strictly increasing, the first is 0, and all point inside the entry
//! area. [`Block::parse`] checks these once; the cursor then checks each
//! entry's lengths against the block as it decodes, so no byte pattern can
//! make it panic or read out of bounds.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use lsm_core::coding::{get_varint32, put_fixed32, put_varint32};
use lsm_core::compare_internal_keys;

/// Builds one block from entries added in strictly increasing key order.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries added since the last restart point.
    since_restart: usize,
    last_key: Vec<u8>,
    entries: usize,
}

impl BlockBuilder {
    /// REQUIRES: `restart_interval >= 1`.
    pub fn new(restart_interval: usize) -> Self {
        debug_assert!(restart_interval >= 1);
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval: restart_interval.max(1),
            since_restart: 0,
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry. REQUIRES: `key` sorts after the previous key.
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(
            self.entries == 0 || compare_internal_keys(&self.last_key, key) == Ordering::Less,
            "block keys must strictly increase"
        );
        let shared = if self.entries == 0 || self.since_restart == self.restart_interval {
            self.restarts.push(self.buf.len() as u32);
            self.since_restart = 0;
            0
        } else {
            self.last_key
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count()
        };
        // Lengths are bounded by MAX_KEY_BYTES / MAX_VALUE_BYTES (checked by
        // the table builder), so they fit u32.
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, (key.len() - shared) as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.since_restart += 1;
        self.entries += 1;
    }

    /// Size of the block if finished now.
    pub fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// True when no entry has been added since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Appends the restart array and returns the block bytes, leaving the
    /// builder empty for the next block.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.reserve_exact(4 * self.restarts.len() + 4);
        for &restart in &self.restarts {
            put_fixed32(&mut out, restart);
        }
        put_fixed32(&mut out, self.restarts.len() as u32);
        self.restarts.clear();
        self.since_restart = 0;
        self.entries = 0;
        self.last_key.clear();
        out
    }
}

/// A block's bytes failed a structural check. The table layer turns this
/// into a corruption error naming the file and the block's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockError {
    /// Offset inside the decoded block where decoding failed.
    pub offset: usize,
    /// What check failed.
    pub detail: &'static str,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} of the decoded block",
            self.detail, self.offset
        )
    }
}

/// A decoded (decompressed, checksum-verified) block with its restart array
/// parsed. Immutable once built; shared through the block cache as
/// `Arc<Block>`.
#[derive(Debug)]
pub(crate) struct Block {
    data: Vec<u8>,
    restarts: Vec<u32>,
    /// End of the entry area (start of the restart array).
    entries_end: usize,
}

impl Block {
    /// Parses and checks the restart array of a block's decoded bytes.
    pub(crate) fn parse(data: Vec<u8>) -> Result<Block, BlockError> {
        let len = data.len();
        let bad = |offset: usize, detail| Err(BlockError { offset, detail });
        if len < 4 {
            return bad(0, "block shorter than its restart count");
        }
        let count_at = len - 4;
        let count = u32::from_le_bytes([
            data[count_at],
            data[count_at + 1],
            data[count_at + 2],
            data[count_at + 3],
        ]) as usize;
        let Some(array_bytes) = count.checked_mul(4).filter(|&b| b <= count_at) else {
            return bad(count_at, "restart count exceeds the block size");
        };
        let entries_end = count_at - array_bytes;
        if count == 0 && entries_end != 0 {
            return bad(count_at, "block has entries but no restart point");
        }
        let mut restarts = Vec::with_capacity(count);
        for i in 0..count {
            let at = entries_end + 4 * i;
            let restart = u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            let expected_first = i > 0 || restart == 0;
            let increasing = restarts.last().is_none_or(|&prev| restart > prev);
            if !expected_first || !increasing || restart as usize >= entries_end {
                return bad(at, "restart offset out of order or out of bounds");
            }
            restarts.push(restart);
        }
        Ok(Block {
            data,
            restarts,
            entries_end,
        })
    }

    /// Bytes this block holds in memory, as charged to the block cache.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Block>() + self.data.capacity() + 4 * self.restarts.capacity()
    }

    /// Bytes of the decoded block.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a block with no entries.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries_end == 0
    }

    /// The full key stored at restart point `index` (where `shared == 0`).
    fn restart_key(&self, index: usize) -> Result<&[u8], BlockError> {
        let offset = self.restarts.get(index).copied().unwrap_or(0) as usize;
        let header = decode_header(&self.data[..self.entries_end], offset)?;
        if header.shared != 0 {
            return Err(BlockError {
                offset,
                detail: "restart entry shares a prefix",
            });
        }
        Ok(&self.data[header.key_start..header.key_start + header.unshared])
    }
}

/// The three lengths at the start of an entry, checked against the block.
struct EntryHeader {
    shared: usize,
    unshared: usize,
    key_start: usize,
    value_len: usize,
}

fn decode_header(entries: &[u8], offset: usize) -> Result<EntryHeader, BlockError> {
    let bad = |detail| BlockError { offset, detail };
    let mut input = entries
        .get(offset..)
        .ok_or(bad("entry offset past the entry area"))?;
    let before = input.len();
    let shared = get_varint32(&mut input).ok_or(bad("truncated entry header"))? as usize;
    let unshared = get_varint32(&mut input).ok_or(bad("truncated entry header"))? as usize;
    let value_len = get_varint32(&mut input).ok_or(bad("truncated entry header"))? as usize;
    if unshared
        .checked_add(value_len)
        .is_none_or(|n| n > input.len())
    {
        return Err(bad("entry runs past the entry area"));
    }
    Ok(EntryHeader {
        shared,
        unshared,
        key_start: offset + (before - input.len()),
        value_len,
    })
}

/// A cursor over one block, both directions, owning a reference to it.
///
/// After an error the cursor is invalid until the next seek.
#[derive(Debug)]
pub(crate) struct BlockCursor {
    block: Arc<Block>,
    /// The current entry's full key (prefix-decompressed).
    key: Vec<u8>,
    /// Scratch for `seek_for_prev`'s look at the entry after the current
    /// one, kept to reuse its allocation.
    peeked_key: Vec<u8>,
    value_start: usize,
    value_end: usize,
    /// Offset of the current entry.
    entry_offset: usize,
    /// Offset of the entry after the current one.
    next_offset: usize,
    valid: bool,
}

impl BlockCursor {
    /// An unpositioned cursor over `block`.
    pub fn new(block: Arc<Block>) -> Self {
        BlockCursor {
            block,
            key: Vec::new(),
            peeked_key: Vec::new(),
            value_start: 0,
            value_end: 0,
            entry_offset: 0,
            next_offset: 0,
            valid: false,
        }
    }

    pub fn valid(&self) -> bool {
        self.valid
    }

    /// REQUIRES: `valid()`.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// REQUIRES: `valid()`.
    pub fn value(&self) -> &[u8] {
        self.block
            .data
            .get(self.value_start..self.value_end)
            .unwrap_or(&[])
    }

    /// Offset in the decoded block of the current entry, for error
    /// reports. REQUIRES: `valid()`.
    pub fn entry_offset(&self) -> usize {
        self.entry_offset
    }

    /// The checked header of the entry at `next_offset` (which shares no
    /// more bytes than the current key has); an error invalidates the
    /// cursor. REQUIRES: `next_offset < entries_end`.
    fn next_header(&mut self) -> Result<EntryHeader, BlockError> {
        let decoded = decode_header(&self.block.data[..self.block.entries_end], self.next_offset);
        match decoded {
            Ok(header) if header.shared <= self.key.len() => Ok(header),
            Ok(_) => {
                self.valid = false;
                Err(BlockError {
                    offset: self.next_offset,
                    detail: "entry shares more bytes than the previous key has",
                })
            }
            Err(err) => {
                self.valid = false;
                Err(err)
            }
        }
    }

    /// Decodes the entry at `next_offset` into the cursor, or becomes
    /// invalid at the end of the entry area.
    fn step(&mut self) -> Result<(), BlockError> {
        if self.next_offset >= self.block.entries_end {
            self.valid = false;
            return Ok(());
        }
        let header = self.next_header()?;
        self.key.truncate(header.shared);
        let key_end = header.key_start + header.unshared;
        self.key
            .extend_from_slice(&self.block.data[header.key_start..key_end]);
        self.value_start = key_end;
        self.value_end = key_end + header.value_len;
        self.entry_offset = self.next_offset;
        self.next_offset = self.value_end;
        self.valid = true;
        Ok(())
    }

    fn start_at_restart(&mut self, index: usize) -> Result<(), BlockError> {
        self.key.clear();
        self.next_offset = self
            .block
            .restarts
            .get(index)
            .map_or(self.block.entries_end, |&r| r as usize);
        self.step()
    }

    /// Positions at the first entry.
    pub fn seek_to_first(&mut self) -> Result<(), BlockError> {
        self.start_at_restart(0)
    }

    /// Moves to the next entry. REQUIRES: `valid()`.
    pub fn next(&mut self) -> Result<(), BlockError> {
        debug_assert!(self.valid);
        self.step()
    }

    /// Positions at the last entry.
    pub fn seek_to_last(&mut self) -> Result<(), BlockError> {
        self.valid = false;
        let Some(last) = self.block.restarts.len().checked_sub(1) else {
            return Ok(());
        };
        self.start_at_restart(last)?;
        while self.valid && self.next_offset < self.block.entries_end {
            self.step()?;
        }
        Ok(())
    }

    /// Moves to the previous entry, or becomes invalid at the first. Decodes
    /// from the last restart point before the current entry up to it: one
    /// restart interval at most. REQUIRES: `valid()`.
    pub fn prev(&mut self) -> Result<(), BlockError> {
        debug_assert!(self.valid);
        let current = self.entry_offset;
        // Restart points strictly before the current entry.
        let before = self
            .block
            .restarts
            .partition_point(|&restart| (restart as usize) < current);
        let Some(restart) = before.checked_sub(1) else {
            self.valid = false;
            return Ok(());
        };
        self.start_at_restart(restart)?;
        while self.valid && self.next_offset < current {
            self.step()?;
        }
        if self.next_offset != current {
            self.valid = false;
            return Err(BlockError {
                offset: current,
                detail: "entry does not follow the entries before it",
            });
        }
        Ok(())
    }

    /// Positions at the last entry with key `<= target`: binary search for
    /// the last restart point whose key is `<= target`, then a linear scan
    /// that looks at each next entry before moving to it.
    pub fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), BlockError> {
        self.valid = false;
        let count = self.block.restarts.len();
        if count == 0
            || compare_internal_keys(self.block.restart_key(0)?, target) == Ordering::Greater
        {
            return Ok(());
        }
        let (mut left, mut right) = (0usize, count - 1);
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            if compare_internal_keys(self.block.restart_key(mid)?, target) != Ordering::Greater {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.start_at_restart(left)?;
        while self.valid && self.next_offset < self.block.entries_end {
            let header = self.peek_next()?;
            if compare_internal_keys(&self.peeked_key, target) == Ordering::Greater {
                break;
            }
            // Move to the peeked entry without decoding it again.
            std::mem::swap(&mut self.key, &mut self.peeked_key);
            let key_end = header.key_start + header.unshared;
            self.value_start = key_end;
            self.value_end = key_end + header.value_len;
            self.entry_offset = self.next_offset;
            self.next_offset = self.value_end;
        }
        Ok(())
    }

    /// Decodes the key of the entry after the current one into
    /// `peeked_key`, without moving. REQUIRES: `valid()` and a next entry.
    fn peek_next(&mut self) -> Result<EntryHeader, BlockError> {
        let header = self.next_header()?;
        self.peeked_key.clear();
        self.peeked_key
            .extend_from_slice(&self.key[..header.shared]);
        self.peeked_key.extend_from_slice(
            &self.block.data[header.key_start..header.key_start + header.unshared],
        );
        Ok(header)
    }

    /// Positions at the first entry with key `>= target`: binary search for
    /// the last restart point whose key is `< target`, then a linear scan.
    pub fn seek(&mut self, target: &[u8]) -> Result<(), BlockError> {
        self.valid = false;
        let count = self.block.restarts.len();
        if count == 0 {
            return Ok(());
        }
        let (mut left, mut right) = (0usize, count - 1);
        while left < right {
            let mid = left + (right - left).div_ceil(2);
            if compare_internal_keys(self.block.restart_key(mid)?, target) == Ordering::Less {
                left = mid;
            } else {
                right = mid - 1;
            }
        }
        self.start_at_restart(left)?;
        while self.valid && compare_internal_keys(&self.key, target) == Ordering::Less {
            self.step()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, ValueKind};
    use proptest::prelude::*;

    fn ikey(user: &[u8], seq: u64) -> Vec<u8> {
        InternalKey::new(user, seq, ValueKind::Put).into_bytes()
    }

    fn build(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Arc<Block> {
        let mut builder = BlockBuilder::new(interval);
        for (k, v) in entries {
            builder.add(k, v);
        }
        Arc::new(Block::parse(builder.finish()).unwrap())
    }

    fn collect(block: &Arc<Block>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut cursor = BlockCursor::new(block.clone());
        cursor.seek_to_first().unwrap();
        let mut out = Vec::new();
        while cursor.valid() {
            out.push((cursor.key().to_vec(), cursor.value().to_vec()));
            cursor.next().unwrap();
        }
        out
    }

    fn numbered(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    ikey(format!("key{i:05}").as_bytes(), 1),
                    format!("v{i}").into_bytes(),
                )
            })
            .collect()
    }

    #[test]
    fn entry_offset_is_where_the_current_entry_starts() {
        let block = build(&numbered(3), 16);
        let mut cursor = BlockCursor::new(block.clone());
        cursor.seek_to_first().unwrap();
        assert_eq!(cursor.entry_offset(), 0);
        let mut offsets = vec![cursor.entry_offset()];
        while cursor.valid() {
            cursor.next().unwrap();
            if cursor.valid() {
                offsets.push(cursor.entry_offset());
            }
        }
        assert_eq!(offsets.len(), 3);
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
        // Each entry starts where the previous one's value ended.
        cursor.seek_to_first().unwrap();
        let first_end = cursor.value_end;
        cursor.next().unwrap();
        assert_eq!(cursor.entry_offset(), first_end);
    }

    #[test]
    fn restart_points_every_interval_and_prefix_compression_shrinks_the_block() {
        let entries = numbered(33);
        let block = build(&entries, 16);
        assert_eq!(
            block.restarts.len(),
            3,
            "entries 0, 16 and 32 are restart points"
        );
        let uncompressed: usize = entries.iter().map(|(k, v)| 3 + k.len() + v.len()).sum();
        assert!(
            block.entries_end < uncompressed,
            "{} >= {uncompressed}",
            block.entries_end
        );
        for i in 0..3 {
            assert_eq!(block.restart_key(i).unwrap(), &entries[16 * i].0[..]);
        }
        assert_eq!(collect(&block), entries);
    }

    #[test]
    fn seek_lands_on_each_restart_boundary_and_between_them() {
        let entries = numbered(50);
        for interval in [1, 2, 16, 100] {
            let block = build(&entries, interval);
            let mut cursor = BlockCursor::new(block);
            for (i, (key, value)) in entries.iter().enumerate() {
                cursor.seek(key).unwrap();
                assert!(cursor.valid());
                assert_eq!(cursor.value(), &value[..], "interval {interval}, entry {i}");
                // A target between entry i-1 and i lands on i.
                let between = InternalKey::for_seek(&key[..key.len() - 8], u64::MAX >> 8);
                cursor.seek(between.as_bytes()).unwrap();
                assert_eq!(cursor.key(), &key[..]);
            }
            cursor.seek(&ikey(b"zzz", 1)).unwrap();
            assert!(!cursor.valid());
            cursor.seek(&ikey(b"", 1)).unwrap();
            assert_eq!(cursor.key(), &entries[0].0[..]);
        }
    }

    fn collect_backward(block: &Arc<Block>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut cursor = BlockCursor::new(block.clone());
        cursor.seek_to_last().unwrap();
        let mut out = Vec::new();
        while cursor.valid() {
            out.push((cursor.key().to_vec(), cursor.value().to_vec()));
            cursor.prev().unwrap();
        }
        out
    }

    #[test]
    fn prev_steps_back_across_restart_intervals() {
        let entries = numbered(50);
        for interval in [1, 2, 3, 16, 100] {
            let block = build(&entries, interval);
            let mut reversed = entries.clone();
            reversed.reverse();
            assert_eq!(collect_backward(&block), reversed, "interval {interval}");
        }
    }

    #[test]
    fn next_and_prev_mix_at_restart_boundaries() {
        let entries = numbered(40);
        let block = build(&entries, 4);
        let mut cursor = BlockCursor::new(block);
        // Entry 8 is a restart point, 7 ends the interval before it.
        cursor.seek(&entries[8].0).unwrap();
        cursor.prev().unwrap();
        assert_eq!(cursor.key(), &entries[7].0[..]);
        cursor.next().unwrap();
        assert_eq!(cursor.key(), &entries[8].0[..]);
        cursor.next().unwrap();
        cursor.prev().unwrap();
        assert_eq!(cursor.key(), &entries[8].0[..]);
        cursor.seek_to_first().unwrap();
        cursor.prev().unwrap();
        assert!(!cursor.valid(), "before the first entry");
        cursor.seek_to_last().unwrap();
        assert_eq!(cursor.key(), &entries[39].0[..]);
        cursor.next().unwrap();
        assert!(!cursor.valid(), "past the last entry");
    }

    #[test]
    fn seek_for_prev_lands_on_the_last_entry_at_or_before_the_target() {
        let entries = numbered(50);
        for interval in [1, 2, 16, 100] {
            let block = build(&entries, interval);
            let mut cursor = BlockCursor::new(block);
            for (i, (key, value)) in entries.iter().enumerate() {
                cursor.seek_for_prev(key).unwrap();
                assert_eq!(cursor.value(), &value[..], "interval {interval}, entry {i}");
                // A target between entry i and i+1 lands on i.
                let user = format!("key{i:05}~");
                let between = InternalKey::for_seek(user.as_bytes(), 1);
                cursor.seek_for_prev(between.as_bytes()).unwrap();
                assert_eq!(cursor.key(), &key[..], "interval {interval}, after {i}");
            }
            cursor.seek_for_prev(&ikey(b"a", 1)).unwrap();
            assert!(!cursor.valid(), "before the first entry");
            cursor.seek_for_prev(&ikey(b"zzz", 1)).unwrap();
            assert_eq!(cursor.key(), &entries[49].0[..]);
        }
    }

    #[test]
    fn empty_block_has_no_last_entry() {
        let block = Arc::new(Block::parse(vec![0, 0, 0, 0]).unwrap());
        let mut cursor = BlockCursor::new(block);
        cursor.seek_to_last().unwrap();
        assert!(!cursor.valid());
        cursor.seek_for_prev(&ikey(b"k", 1)).unwrap();
        assert!(!cursor.valid());
    }

    #[test]
    fn empty_values_and_a_one_mebibyte_value_roundtrip() {
        let big = vec![0xAB; 1 << 20];
        let entries = vec![
            (ikey(b"a", 3), Vec::new()),
            (ikey(b"b", 2), big.clone()),
            (ikey(b"c", 1), Vec::new()),
        ];
        let block = build(&entries, 2);
        assert_eq!(collect(&block), entries);
        let mut cursor = BlockCursor::new(block);
        cursor.seek(&ikey(b"b", 9)).unwrap();
        assert_eq!(cursor.value().len(), big.len());
    }

    #[test]
    fn versions_of_one_user_key_seek_by_snapshot() {
        let entries: Vec<_> = [9u64, 7, 3]
            .iter()
            .map(|&s| (ikey(b"k", s), s.to_string().into_bytes()))
            .collect();
        let block = build(&entries, 16);
        let mut cursor = BlockCursor::new(block);
        for (snapshot, expected) in [(100, "9"), (8, "7"), (7, "7"), (5, "3"), (3, "3")] {
            cursor
                .seek(InternalKey::for_seek(b"k", snapshot).as_bytes())
                .unwrap();
            assert_eq!(cursor.value(), expected.as_bytes(), "snapshot {snapshot}");
        }
        cursor
            .seek(InternalKey::for_seek(b"k", 2).as_bytes())
            .unwrap();
        assert!(!cursor.valid());
    }

    #[test]
    fn restart_count_larger_than_block_is_rejected() {
        let err = Block::parse(vec![0xFF, 0xFF, 0xFF, 0x7F]).unwrap_err();
        assert_eq!(err.detail, "restart count exceeds the block size");
        assert!(Block::parse(vec![1, 2]).is_err());
        let empty = Block::parse(vec![0, 0, 0, 0]).unwrap();
        assert!(empty.is_empty());
    }

    proptest! {
        #[test]
        fn built_block_iterates_and_seeks_like_a_sorted_vec(
            keys in proptest::collection::btree_set(proptest::collection::vec(0u8..4, 0..6), 1..80),
            interval in 1usize..20,
            probe in proptest::collection::vec(0u8..4, 0..6),
        ) {
            let entries: Vec<_> = keys.iter().map(|k| (ikey(k, 5), k.repeat(3))).collect();
            let block = build(&entries, interval);
            prop_assert_eq!(collect(&block), entries.clone());
            let target = ikey(&probe, 5);
            let expected = entries.iter().find(|(k, _)| compare_internal_keys(k, &target) != Ordering::Less);
            let mut cursor = BlockCursor::new(block.clone());
            cursor.seek(&target).unwrap();
            prop_assert_eq!(cursor.valid(), expected.is_some());
            if let Some((k, _)) = expected {
                prop_assert_eq!(cursor.key(), &k[..]);
            }
            let mut reversed = entries.clone();
            reversed.reverse();
            prop_assert_eq!(collect_backward(&block), reversed);
            let expected = entries.iter().rfind(|(k, _)| compare_internal_keys(k, &target) != Ordering::Greater);
            cursor.seek_for_prev(&target).unwrap();
            prop_assert_eq!(cursor.valid(), expected.is_some());
            if let Some((k, _)) = expected {
                prop_assert_eq!(cursor.key(), &k[..]);
            }
        }

        #[test]
        fn arbitrary_block_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), target in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok(block) = Block::parse(bytes) {
                let block = Arc::new(block);
                let mut cursor = BlockCursor::new(block.clone());
                let mut steps = 0;
                if cursor.seek_to_first().is_ok() {
                    while cursor.valid() && cursor.next().is_ok() {
                        steps += 1;
                        prop_assert!(steps <= block.len(), "each entry takes at least 3 bytes");
                    }
                }
                let _ = cursor.seek(&target);
                let mut steps = 0;
                if cursor.seek_to_last().is_ok() {
                    while cursor.valid() && cursor.prev().is_ok() {
                        steps += 1;
                        prop_assert!(steps <= block.len(), "each entry takes at least 3 bytes");
                    }
                }
                let _ = cursor.seek_for_prev(&target);
            }
        }
    }
}
