//! [`MemtableIterator`]: a `'static` cursor over a shared memtable.
//!
//! The cursor holds the memtable's `Arc` and a position in its skiplist (a
//! node of the arena, which the `Arc` keeps alive), so `key` and `value`
//! borrow the entry where it is stored, without a copy, and `next` follows
//! one link (or, in a scan from the first entry, takes the next node of a
//! batch gathered with many loads in flight). The skiplist has no back
//! links: `prev` searches for the last
//! entry before the current one, and `seek_to_last` / `seek_for_prev`
//! search from the top, each `O(log n)` (as RocksDB's memtable cursor does).
//!
//! Invariant: the cursor is valid iff it is on a node; it moves only to
//! nodes that are published, in internal-key order.
//!
//! Concurrent inserts: an entry inserted after the cursor was positioned
//! may or may not be seen (entries are never removed, so nothing seen can
//! vanish, and what is seen is in order). A snapshot read is still complete
//! as long as the store makes a sequence number readable only after its
//! insert returned: every entry the snapshot can see was then inserted
//! before the cursor was positioned.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use lsm_core::{InternalIterator, Result};

use crate::arena_skiplist::Cursor;
use crate::entry::KeyProbe;
use crate::memtable::Memtable;

/// A cursor over a memtable's entries in internal-key order; implements
/// [`InternalIterator`] with all of its postconditions. It never fails:
/// every moving call returns `Ok`.
///
/// Owns an `Arc<Memtable>`, so it is `'static` and `Send`.
pub struct MemtableIterator {
    /// Keeps the memtable (and so the skiplist `cursor` walks) alive.
    memtable: Arc<Memtable>,
    cursor: Cursor,
}

impl MemtableIterator {
    pub(crate) fn new(memtable: Arc<Memtable>) -> Self {
        let cursor = Cursor::new(Arc::clone(&memtable.entries));
        MemtableIterator { memtable, cursor }
    }

    /// The same cursor, for callers that want [`InternalIterator::value_bytes`]
    /// to return values without a copy where it can. Memtable entries live
    /// inline in the memtable's arena, so a memtable value is copied into
    /// its own [`Bytes`] either way, as a plain cursor copies it.
    /// Unpositioned, as a new cursor.
    pub fn pin_values(mut self) -> Self {
        self.cursor = Cursor::new(Arc::clone(&self.memtable.entries));
        self
    }
}

impl InternalIterator for MemtableIterator {
    fn valid(&self) -> bool {
        self.cursor.valid()
    }

    fn key(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.cursor.entry().map_or(&[], |e| e.internal_key)
    }

    fn value(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.cursor.entry().map_or(&[], |e| e.value)
    }

    /// The current value as [`Bytes`] (a copy: memtable entries live in the
    /// memtable's arena).
    fn value_bytes(&self) -> Bytes {
        debug_assert!(self.valid());
        Bytes::copy_from_slice(self.value())
    }

    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        self.cursor.next();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        self.cursor.prev();
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.cursor.seek(&KeyProbe::from_encoded(target));
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.cursor.seek_for_prev(&KeyProbe::from_encoded(target));
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.cursor.seek_to_first();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.cursor.seek_to_last();
        Ok(())
    }
}

impl fmt::Debug for MemtableIterator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemtableIterator")
            .field("valid", &self.valid())
            .field("memtable_len", &self.cursor.list().len())
            .finish_non_exhaustive()
    }
}
