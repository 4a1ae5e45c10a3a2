//! Data and index blocks: prefix-compressed sorted entries with restart
//! points, and a cursor that seeks by binary search over those points.
//!
//! An entry's key can only be decoded from the restart point before it, so
//! the cursor steps backward as LevelDB's `Block::Iter::Prev` does: back to
//! the last restart point before the current entry, then forward to the
//! entry just before it. That costs one restart interval of decoding, not
//! the block. Like RocksDB's block iterator, it keeps the entries of that
//! interval, so the next `prev` calls in the same interval are lookups
//! instead of scans: a backward scan decodes every entry once.
//! `seek_for_prev` binary-searches the restart points as `seek` does and
//! decodes one interval.
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

use bytes::Bytes;
use lsm_core::coding::{get_varint32, put_fixed32, put_varint32};
use lsm_core::compare_internal_keys;

use crate::format::BLOCK_TRAILER_BYTES;

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

    /// Builds the next block in `buffer` (emptied), the last block's
    /// buffer back from sealing, instead of growing a new one.
    pub fn reuse_buffer(&mut self, mut buffer: Vec<u8>) {
        if self.buf.capacity() < buffer.capacity() {
            buffer.clear();
            self.buf = buffer;
        }
    }

    /// True when no entry has been added since the last `finish`.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Appends the restart array and returns the block bytes, leaving the
    /// builder empty for the next block. The bytes have room for the block
    /// trailer, so sealing them uncompressed does not reallocate.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        out.reserve_exact(4 * self.restarts.len() + 4 + BLOCK_TRAILER_BYTES);
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
///
/// The bytes are a [`Bytes`], so a value stored in the block (values are
/// stored whole: prefix compression applies to keys only) is handed out
/// by [`BlockCursor::value_bytes`] as a slice of it: a reference-count
/// increment, no copy, and the slice keeps the bytes alive after the
/// block leaves the cache.
#[derive(Debug)]
pub(crate) struct Block {
    data: Bytes,
    restarts: Vec<u32>,
    /// End of the entry area (start of the restart array).
    entries_end: usize,
    /// What [`Block::memory_bytes`] reports, fixed at parse time.
    memory_bytes: usize,
}

/// The restart array of a block's decoded bytes and where its entries end,
/// checked: offsets increasing, the first at 0, all inside the entries.
fn parse_restarts(data: &[u8]) -> Result<(Vec<u32>, usize), BlockError> {
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
    let mut restarts: Vec<u32> = Vec::with_capacity(count);
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
    Ok((restarts, entries_end))
}

/// Heap bytes of the reference count `Bytes` keeps for a shared buffer (a
/// 24-byte header in a 32-byte allocation).
const SHARED_HEADER_BYTES: usize = 32;

impl Block {
    /// Parses and checks the restart array of a block's decoded bytes,
    /// which the block then owns (the form the block cache keeps).
    pub(crate) fn parse(data: Vec<u8>) -> Result<Block, BlockError> {
        let (restarts, entries_end) = parse_restarts(&data)?;
        let memory_bytes = std::mem::size_of::<Block>()
            + data.capacity()
            + SHARED_HEADER_BYTES
            + 4 * restarts.capacity();
        let data = Bytes::from(data);
        // A `Bytes` made from a `Vec` whose length is its capacity allocates
        // its shared reference count on its first clone. Take that
        // allocation now, once per block read from the file, so that a
        // value slice handed out from the cache never allocates.
        drop(data.clone());
        Ok(Block {
            data,
            restarts,
            entries_end,
            memory_bytes,
        })
    }

    /// [`Block::parse`] over a slice of a larger shared buffer (a table
    /// iterator's read-ahead window), which it keeps alive. Not for the
    /// block cache: the buffer around the block would be held but not
    /// charged.
    pub(crate) fn parse_shared(data: Bytes) -> Result<Block, BlockError> {
        let (restarts, entries_end) = parse_restarts(&data)?;
        let memory_bytes = std::mem::size_of::<Block>() + data.len() + 4 * restarts.capacity();
        Ok(Block {
            data,
            restarts,
            entries_end,
            memory_bytes,
        })
    }

    /// The restart array: each entry's offset where a key is stored whole.
    pub(crate) fn restart_offsets(&self) -> &[u32] {
        &self.restarts
    }

    /// Bytes this block holds in memory, as charged to the block cache.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes
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
#[derive(Debug, PartialEq, Eq)]
struct EntryHeader {
    shared: usize,
    unshared: usize,
    key_start: usize,
    value_len: usize,
}

/// Decodes the entry header at `offset` of `entries`. The common case
/// (every length below 128: one byte each) is decoded inline; a profile of
/// `seekrandom` had the general three-varint decode at 8.6% of its
/// samples.
#[inline(always)]
fn decode_header(entries: &[u8], offset: usize) -> Result<EntryHeader, BlockError> {
    if let Some(&[shared, unshared, value_len]) = offset
        .checked_add(3)
        .and_then(|end| entries.get(offset..end))
    {
        if (shared | unshared | value_len) < 0x80 {
            let key_start = offset + 3;
            let (unshared, value_len) = (usize::from(unshared), usize::from(value_len));
            if unshared + value_len <= entries.len() - key_start {
                return Ok(EntryHeader {
                    shared: usize::from(shared),
                    unshared,
                    key_start,
                    value_len,
                });
            }
        }
    }
    decode_header_varints(entries, offset)
}

/// [`decode_header`]'s general case: lengths of any varint size (values of
/// 128 bytes and more take this path: not cold), and every error.
#[inline(never)]
fn decode_header_varints(entries: &[u8], offset: usize) -> Result<EntryHeader, BlockError> {
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

/// Entries [`BlockCursor::interval`] makes room for up front: twice the
/// default restart interval (8).
const INTERVAL_ENTRIES_RESERVED: usize = 16;
/// Key bytes [`BlockCursor::interval_keys`] makes room for up front.
const INTERVAL_KEY_BYTES_RESERVED: usize = INTERVAL_ENTRIES_RESERVED * 32;
/// The most key bytes a restart interval decodes to in a table any valid
/// options write: [`crate::TableOptions::MAX_RESTART_INTERVAL`] keys of the
/// longest internal key. A block whose interval decodes to more (a shared
/// prefix lets each entry's key cost its full length in memory for three
/// bytes on disk) is refused rather than decoded into gigabytes.
const INTERVAL_KEY_BYTES_MAX: usize = crate::TableOptions::MAX_RESTART_INTERVAL
    * (lsm_core::MAX_TREE_KEY_BYTES + lsm_core::key::TRAILER_BYTES);

/// The most key bytes [`BlockCursor::seek`] compares after its binary
/// search in a table any valid options write: one restart interval's keys
/// and the next restart point's. A block that makes it compare more is
/// refused as corrupt.
const SEEK_KEY_BYTES_MAX: usize =
    INTERVAL_KEY_BYTES_MAX + lsm_core::MAX_TREE_KEY_BYTES + lsm_core::key::TRAILER_BYTES;

/// One decoded entry of [`BlockCursor::interval`].
#[derive(Clone, Copy, Debug)]
struct DecodedEntry {
    offset: usize,
    /// Its key in [`BlockCursor::interval_keys`].
    key_start: usize,
    key_end: usize,
    value_start: usize,
    value_end: usize,
}

/// Where [`BlockCursor::decode_interval`] stops.
#[derive(Clone, Copy)]
enum IntervalEnd<'t> {
    /// Before the entry at this offset (or the end of the entry area).
    Before(usize),
    /// After the last entry whose key is `<= target`.
    AtMost(&'t [u8]),
}

/// A cursor over one block, both directions, owning a reference to it.
///
/// Forward it decodes one entry per step into `key`. Backward it decodes
/// a whole restart interval (up to the entry it needs) into `interval`
/// and then walks that list: each backward step is a lookup, and a
/// backward scan decodes every entry once.
///
/// After an error the cursor is invalid until the next seek.
#[derive(Debug)]
pub(crate) struct BlockCursor {
    block: Arc<Block>,
    /// The current entry's full key (prefix-decompressed), unless the
    /// cursor is `in_interval`.
    key: Vec<u8>,
    /// Entries of one restart interval, from its restart point on, in
    /// block order, decoded by a backward move.
    interval: Vec<DecodedEntry>,
    /// The keys of `interval`, back to back.
    interval_keys: Vec<u8>,
    /// The restart point `interval` starts at.
    interval_restart: usize,
    /// `Some(i)`: the current entry is `interval[i]` (its key is there, not
    /// in `key`). `None`: `key` holds it and `interval` is stale.
    in_interval: Option<usize>,
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
            interval: Vec::new(),
            interval_keys: Vec::new(),
            interval_restart: 0,
            in_interval: None,
            value_start: 0,
            value_end: 0,
            entry_offset: 0,
            next_offset: 0,
            valid: false,
        }
    }

    /// Makes this an unpositioned cursor over `block`, keeping its buffers'
    /// allocations.
    pub fn reset(&mut self, block: Arc<Block>) {
        self.block = block;
        self.in_interval = None;
        self.valid = false;
    }

    pub fn valid(&self) -> bool {
        self.valid
    }

    /// REQUIRES: `valid()`.
    pub fn key(&self) -> &[u8] {
        match self.in_interval.and_then(|i| self.interval.get(i)) {
            Some(entry) => &self.interval_keys[entry.key_start..entry.key_end],
            None => &self.key,
        }
    }

    /// REQUIRES: `valid()`.
    pub fn value(&self) -> &[u8] {
        self.block
            .data
            .get(self.value_start..self.value_end)
            .unwrap_or(&[])
    }

    /// The value as a slice of the block's bytes: no copy, no allocation
    /// (a reference-count increment); it keeps the block's bytes alive.
    /// REQUIRES: `valid()`.
    pub fn value_bytes(&self) -> Bytes {
        // Always in bounds (checked when the entry was decoded); an empty
        // value is not a slice, as `Bytes::slice` of an empty range is not.
        if self.value_start < self.value_end && self.value_end <= self.block.data.len() {
            self.block.data.slice(self.value_start..self.value_end)
        } else {
            Bytes::new()
        }
    }

    /// Offset in the decoded block of the current entry, for error
    /// reports. REQUIRES: `valid()`.
    pub fn entry_offset(&self) -> usize {
        self.entry_offset
    }

    /// Decodes the entry at `next_offset` into the cursor, or becomes
    /// invalid at the end of the entry area. REQUIRES: not `in_interval`.
    fn step(&mut self) -> Result<(), BlockError> {
        if self.next_offset >= self.block.entries_end {
            self.valid = false;
            return Ok(());
        }
        let decoded = decode_header(&self.block.data[..self.block.entries_end], self.next_offset);
        let header = match decoded {
            Ok(header) if header.shared <= self.key.len() => header,
            Ok(_) => {
                self.valid = false;
                return Err(BlockError {
                    offset: self.next_offset,
                    detail: "entry shares more bytes than the previous key has",
                });
            }
            Err(err) => {
                self.valid = false;
                return Err(err);
            }
        };
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
        self.in_interval = None;
        self.key.clear();
        self.next_offset = self
            .block
            .restarts
            .get(index)
            .map_or(self.block.entries_end, |&r| r as usize);
        self.step()
    }

    /// Makes `interval[index]` the current entry.
    fn select(&mut self, index: usize) {
        let Some(entry) = self.interval.get(index).copied() else {
            self.in_interval = None;
            self.valid = false;
            return;
        };
        self.in_interval = Some(index);
        self.entry_offset = entry.offset;
        self.value_start = entry.value_start;
        self.value_end = entry.value_end;
        self.next_offset = entry.value_end;
        self.valid = true;
    }

    /// Decodes the entries of restart interval `restart` into `interval`,
    /// from its restart point up to `end`, and positions at the last one
    /// (invalid if there is none).
    fn decode_interval(&mut self, restart: usize, end: IntervalEnd<'_>) -> Result<(), BlockError> {
        self.interval.clear();
        self.interval_keys.clear();
        // Room for a default interval of short keys at once, not by doubling.
        self.interval.reserve(INTERVAL_ENTRIES_RESERVED);
        self.interval_keys.reserve(INTERVAL_KEY_BYTES_RESERVED);
        self.interval_restart = restart;
        self.in_interval = None;
        self.valid = false;
        let entries = &self.block.data[..self.block.entries_end];
        let stop = match end {
            IntervalEnd::Before(offset) => offset.min(entries.len()),
            IntervalEnd::AtMost(_) => entries.len(),
        };
        let mut offset = self
            .block
            .restarts
            .get(restart)
            .map_or(entries.len(), |&r| r as usize);
        let mut previous_key = 0..0;
        while offset < stop {
            let header = decode_header(entries, offset)?;
            if header.shared > previous_key.len() {
                return Err(BlockError {
                    offset,
                    detail: "entry shares more bytes than the previous key has",
                });
            }
            let key_start = self.interval_keys.len();
            if key_start + header.shared + header.unshared > INTERVAL_KEY_BYTES_MAX {
                return Err(BlockError {
                    offset,
                    detail: "restart interval decodes to more key bytes than any table holds",
                });
            }
            self.interval_keys
                .extend_from_within(previous_key.start..previous_key.start + header.shared);
            let unshared_end = header.key_start + header.unshared;
            self.interval_keys
                .extend_from_slice(&entries[header.key_start..unshared_end]);
            if let IntervalEnd::AtMost(target) = end {
                if compare_internal_keys(&self.interval_keys[key_start..], target)
                    == Ordering::Greater
                {
                    self.interval_keys.truncate(key_start);
                    break;
                }
            }
            let value_end = unshared_end + header.value_len;
            self.interval.push(DecodedEntry {
                offset,
                key_start,
                key_end: self.interval_keys.len(),
                value_start: unshared_end,
                value_end,
            });
            previous_key = key_start..self.interval_keys.len();
            offset = value_end;
        }
        if let Some(last) = self.interval.len().checked_sub(1) {
            self.select(last);
        }
        Ok(())
    }

    /// Decodes the interval that ends just before the entry at `current`
    /// (which starts interval `restart + 1` or lies inside `restart`), and
    /// positions at its last entry, which must end where `current` starts.
    fn decode_up_to(&mut self, restart: usize, current: usize) -> Result<(), BlockError> {
        self.decode_interval(restart, IntervalEnd::Before(current))?;
        if !self.valid || self.next_offset != current {
            self.valid = false;
            self.in_interval = None;
            return Err(BlockError {
                offset: current,
                detail: "entry does not follow the entries before it",
            });
        }
        Ok(())
    }

    /// Positions at the first entry.
    pub fn seek_to_first(&mut self) -> Result<(), BlockError> {
        self.start_at_restart(0)
    }

    /// Moves to the next entry. REQUIRES: `valid()`.
    pub fn next(&mut self) -> Result<(), BlockError> {
        debug_assert!(self.valid);
        if let Some(i) = self.in_interval {
            if i + 1 < self.interval.len() {
                self.select(i + 1);
                return Ok(());
            }
            // Leave the interval: `step` decodes relative to `key`.
            self.key.clear();
            if let Some(entry) = self.interval.get(i) {
                self.key
                    .extend_from_slice(&self.interval_keys[entry.key_start..entry.key_end]);
            }
            self.in_interval = None;
        }
        self.step()
    }

    /// Positions at the last entry.
    pub fn seek_to_last(&mut self) -> Result<(), BlockError> {
        self.valid = false;
        let Some(last) = self.block.restarts.len().checked_sub(1) else {
            self.in_interval = None;
            return Ok(());
        };
        self.decode_interval(last, IntervalEnd::Before(self.block.entries_end))
    }

    /// Moves to the previous entry, or becomes invalid at the first: the
    /// previous one of the decoded interval, or else the last entry of the
    /// interval before the current entry, decoded (one restart interval at
    /// most). REQUIRES: `valid()`.
    pub fn prev(&mut self) -> Result<(), BlockError> {
        debug_assert!(self.valid);
        let current = self.entry_offset;
        let restart = match self.in_interval {
            Some(i) if i > 0 => {
                self.select(i - 1);
                return Ok(());
            }
            // At the interval's restart point: the interval before it.
            Some(_) => self.interval_restart.checked_sub(1),
            // The last restart point strictly before the current entry.
            None => self
                .block
                .restarts
                .partition_point(|&restart| (restart as usize) < current)
                .checked_sub(1),
        };
        match restart {
            Some(restart) => self.decode_up_to(restart, current),
            None => {
                self.valid = false;
                self.in_interval = None;
                Ok(())
            }
        }
    }

    /// Positions at the last entry with key `<= target`: binary search for
    /// the last restart point whose key is `<= target`, then that interval
    /// decoded up to the last such entry.
    pub fn seek_for_prev(&mut self, target: &[u8]) -> Result<(), BlockError> {
        self.valid = false;
        self.in_interval = None;
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
        self.decode_interval(left, IntervalEnd::AtMost(target))
    }

    /// Positions at the first entry with key `>= target`: binary search for
    /// the last restart point whose key is `< target`, then a linear scan.
    pub fn seek(&mut self, target: &[u8]) -> Result<(), BlockError> {
        self.valid = false;
        self.in_interval = None;
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
        // Each key is compared in full, and prefix compression lets a
        // damaged block repeat a long key for a few bytes an entry: bound
        // the bytes compared by what one interval and the next restart
        // point hold in a table valid options write.
        let mut compared = 0usize;
        while self.valid {
            compared = compared.saturating_add(self.key.len());
            if compared > SEEK_KEY_BYTES_MAX {
                self.valid = false;
                return Err(BlockError {
                    offset: self.entry_offset,
                    detail: "restart interval holds more key bytes than any table holds",
                });
            }
            if compare_internal_keys(&self.key, target) != Ordering::Less {
                break;
            }
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

    /// Lengths either side of one varint byte decode alike on the inline
    /// path and the general one, and so do entries running past the end.
    #[test]
    fn entry_headers_decode_alike_on_both_paths() {
        for (shared, unshared, value_len) in [(0, 5, 3), (127, 127, 127), (3, 128, 2), (1, 2, 300)]
        {
            let mut entry = Vec::new();
            for n in [shared, unshared, value_len] {
                lsm_core::coding::put_varint32(&mut entry, n);
            }
            let whole = entry.len() + (unshared + value_len) as usize;
            entry.resize(whole, b'x');
            for len in [whole, whole - 1, 3, 2] {
                let bytes = &entry[..len];
                assert_eq!(
                    decode_header(bytes, 0),
                    decode_header_varints(bytes, 0),
                    "{len}"
                );
            }
            assert!(decode_header(&entry, 0).is_ok());
            assert!(decode_header(&entry[..whole - 1], 0).is_err());
        }
    }

    proptest! {
        #[test]
        fn entry_header_fast_path_matches_the_general_decode(
            bytes in proptest::collection::vec(any::<u8>(), 0..12),
            offset in 0usize..14,
        ) {
            prop_assert_eq!(decode_header(&bytes, offset), decode_header_varints(&bytes, offset));
        }

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

        /// Random walks of `next` and `prev` from a random start land on the
        /// entry an index into the sorted entries names, at every step, in
        /// and out of the decoded interval a backward move keeps.
        #[test]
        fn random_walks_match_the_sorted_entries(
            count in 1usize..60,
            interval in 1usize..8,
            start in 0usize..60,
            backward_start in any::<bool>(),
            moves in proptest::collection::vec(any::<bool>(), 0..80),
        ) {
            let entries = numbered(count);
            let block = build(&entries, interval);
            let mut cursor = BlockCursor::new(block);
            let mut at = Some(start % count);
            if backward_start {
                cursor.seek_for_prev(&entries[start % count].0).unwrap();
            } else {
                cursor.seek(&entries[start % count].0).unwrap();
            }
            for forward in moves {
                let Some(i) = at else { break };
                prop_assert_eq!(cursor.key(), &entries[i].0[..]);
                prop_assert_eq!(cursor.value(), &entries[i].1[..]);
                if forward {
                    cursor.next().unwrap();
                    at = (i + 1 < count).then_some(i + 1);
                } else {
                    cursor.prev().unwrap();
                    at = i.checked_sub(1);
                }
                prop_assert_eq!(cursor.valid(), at.is_some());
                if at.is_none() {
                    // Start again somewhere else, leaving a stale interval behind.
                    let restart = count / 2;
                    cursor.seek(&entries[restart].0).unwrap();
                    at = Some(restart);
                }
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
