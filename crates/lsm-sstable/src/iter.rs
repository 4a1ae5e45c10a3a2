//! The table cursor: a two-level iterator (index position + data block
//! cursor) that owns its table and current block, so it is `'static`.
//! Going backward it moves to the previous data block's last entry when
//! the block cursor runs off the block's start.
//!
//! Going forward it reads ahead: a data block it has to read from the file
//! (not in the block cache) is read together with the blocks after it, in
//! one positioned read of [`FIRST_READ_AHEAD_BLOCKS`] blocks, twice as
//! many with each further such read up to [`MAX_READ_AHEAD_BYTES`]. The
//! following blocks are then served from that window: no system call, no
//! copy, and no trip through the shared cache (they are not inserted into
//! it either, so a long scan does not push the point reads' blocks out of
//! the cache; the block a window starts at is inserted, as any block read
//! alone is).

use std::sync::Arc;

use bytes::Bytes;
use lsm_core::{InternalIterator, Result};

use crate::block::BlockCursor;
use crate::table::{ReadAheadWindow, Table};

/// Blocks a cursor's first read-ahead reads: the one it needs and the
/// three after it, about the 100 entries of a short range scan of 100-byte
/// values in the default 4 KiB blocks.
const FIRST_READ_AHEAD_BLOCKS: usize = 4;

/// The most a single read-ahead reads (reached after a few reads in one
/// pass): long scans and compaction inputs read the file in pieces of
/// about this size.
const MAX_READ_AHEAD_BYTES: u64 = 256 << 10;

/// A cursor over every entry of a table, in internal-key order.
///
/// Implements [`InternalIterator`] with its postconditions: unpositioned
/// until a seek; an error from a moving call (a data block failing its
/// checksum or decoding) is returned as `lsm_core::Error::Corruption`
/// naming the file and block offset (or `Io`), and leaves the cursor
/// invalid.
#[derive(Debug)]
pub struct TableIterator {
    table: Arc<Table>,
    /// Index position of the block `block` is over; `table.index().len()`
    /// when exhausted going forward.
    block_index: usize,
    /// Cursor over the current data block; `None` when not positioned or
    /// after an error.
    block: Option<BlockCursor>,
    /// Whether blocks read from the file go into the block cache.
    fill_cache: bool,
    /// The bytes of the last read-ahead, serving the blocks after the one
    /// it was read for.
    window: Option<ReadAheadWindow>,
    /// Blocks the next read-ahead reads (fewer if they pass
    /// [`MAX_READ_AHEAD_BYTES`]).
    next_window_blocks: usize,
}

/// Which way a block load is going: forward loads read ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

impl TableIterator {
    pub(crate) fn new(table: Arc<Table>, fill_cache: bool) -> Self {
        let end = table.index().len();
        TableIterator {
            table,
            block_index: end,
            block: None,
            fill_cache,
            window: None,
            next_window_blocks: FIRST_READ_AHEAD_BLOCKS,
        }
    }

    /// The table this cursor reads.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    /// Points the block cursor at the data block at `index` (unpositioned),
    /// reusing the cursor's buffers.
    fn load_block(&mut self, index: usize, direction: Direction) -> Result<()> {
        self.block_index = index;
        let Some(entry) = self.table.index().get(index) else {
            self.block = None;
            return Ok(());
        };
        let handle = entry.handle;
        let loaded = match self
            .window
            .as_ref()
            .and_then(|window| self.table.data_block_in_window(window, handle))
        {
            Some(found) => found,
            None if direction == Direction::Forward => {
                let window_end = self.window_end(index);
                self.table
                    .data_block_reading_ahead(handle, self.fill_cache, window_end)
                    .map(|(block, window)| {
                        if window.is_some() {
                            self.window = window;
                            self.next_window_blocks = self.next_window_blocks.saturating_mul(2);
                        }
                        block
                    })
            }
            None => self.table.data_block_filling(handle, self.fill_cache),
        };
        let block = match loaded {
            Ok(block) => block,
            Err(err) => {
                self.block = None;
                return Err(err);
            }
        };
        match &mut self.block {
            Some(cursor) => cursor.reset(block),
            None => self.block = Some(BlockCursor::new(block)),
        }
        Ok(())
    }

    /// Where a read-ahead from the block at `index` ends: after the
    /// `next_window_blocks` blocks from it, or fewer to stay within
    /// [`MAX_READ_AHEAD_BYTES`] (but at least the block itself).
    fn window_end(&self, index: usize) -> u64 {
        let blocks = self.table.index().get(index..).unwrap_or_default();
        let Some(start) = blocks.first().map(|entry| entry.handle.offset) else {
            return 0;
        };
        let ends = blocks
            .iter()
            .take(self.next_window_blocks)
            .filter_map(|entry| entry.handle.end_with_trailer());
        let mut window_end = 0;
        for end in ends {
            if window_end != 0 && end.saturating_sub(start) > MAX_READ_AHEAD_BYTES {
                break;
            }
            window_end = end;
        }
        window_end
    }

    /// While the block cursor is exhausted, moves to the first entry of the
    /// next block.
    fn skip_exhausted_blocks(&mut self) -> Result<()> {
        while self.block.as_ref().is_some_and(|cursor| !cursor.valid()) {
            self.load_block(self.block_index + 1, Direction::Forward)?;
            self.position_block(|cursor| cursor.seek_to_first())?;
        }
        Ok(())
    }

    /// While the block cursor is exhausted, moves to the last entry of the
    /// previous block; before the first block the cursor is invalid.
    fn skip_exhausted_blocks_backward(&mut self) -> Result<()> {
        while self.block.as_ref().is_some_and(|cursor| !cursor.valid()) {
            let Some(previous) = self.block_index.checked_sub(1) else {
                self.block = None;
                return Ok(());
            };
            self.load_block(previous, Direction::Backward)?;
            self.position_block(|cursor| cursor.seek_to_last())?;
        }
        Ok(())
    }

    /// Runs a positioning call on the current block cursor, mapping a
    /// decode failure to a corruption error and invalidating the cursor.
    fn position_block(
        &mut self,
        op: impl FnOnce(&mut BlockCursor) -> std::result::Result<(), crate::block::BlockError>,
    ) -> Result<()> {
        let Some(cursor) = self.block.as_mut() else {
            return Ok(());
        };
        if let Err(err) = op(cursor) {
            let handle = self
                .table
                .index()
                .get(self.block_index)
                .map(|entry| entry.handle)
                .unwrap_or_default();
            self.block = None;
            return Err(self.table.block_corruption(handle, err));
        }
        Ok(())
    }

    fn fail_on_error(&mut self, result: Result<()>) -> Result<()> {
        if result.is_err() {
            self.block = None;
        }
        result
    }
}

impl InternalIterator for TableIterator {
    fn valid(&self) -> bool {
        self.block.as_ref().is_some_and(BlockCursor::valid)
    }

    fn key(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.block.as_ref().map_or(&[], BlockCursor::key)
    }

    fn value(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.block.as_ref().map_or(&[], BlockCursor::value)
    }

    /// A slice of the current data block's bytes: no copy, no allocation.
    fn value_bytes(&self) -> Bytes {
        debug_assert!(self.valid());
        self.block
            .as_ref()
            .map_or_else(Bytes::new, BlockCursor::value_bytes)
    }

    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        let result = self
            .position_block(|cursor| cursor.next())
            .and_then(|()| self.skip_exhausted_blocks());
        self.fail_on_error(result)
    }

    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        let result = self
            .position_block(|cursor| cursor.prev())
            .and_then(|()| self.skip_exhausted_blocks_backward());
        self.fail_on_error(result)
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let index = self.table.index_position(target);
        let result = self
            .load_block(index, Direction::Forward)
            .and_then(|()| self.position_block(|cursor| cursor.seek(target)))
            .and_then(|()| self.skip_exhausted_blocks());
        self.fail_on_error(result)
    }

    /// The first block whose last key is `>= target` holds the answer, or
    /// (if all its entries are `> target`) the block before it does; past
    /// the last block's last key, the answer is the table's last entry.
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let last_block = self.table.index().len().saturating_sub(1);
        let index = self.table.index_position(target).min(last_block);
        let result = self
            .load_block(index, Direction::Backward)
            .and_then(|()| self.position_block(|cursor| cursor.seek_for_prev(target)))
            .and_then(|()| self.skip_exhausted_blocks_backward());
        self.fail_on_error(result)
    }

    fn seek_to_first(&mut self) -> Result<()> {
        let result = self
            .load_block(0, Direction::Forward)
            .and_then(|()| self.position_block(|cursor| cursor.seek_to_first()))
            .and_then(|()| self.skip_exhausted_blocks());
        self.fail_on_error(result)
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let last_block = self.table.index().len().saturating_sub(1);
        let result = self
            .load_block(last_block, Direction::Backward)
            .and_then(|()| self.position_block(|cursor| cursor.seek_to_last()))
            .and_then(|()| self.skip_exhausted_blocks_backward());
        self.fail_on_error(result)
    }
}
