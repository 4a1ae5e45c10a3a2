//! The one cursor trait for every sorted stream of `(internal key, value)`
//! entries: a memtable, a table block, a table, a merge, a compaction input.
//!
//! Postconditions every implementation keeps:
//! - A new cursor is *not* positioned: call [`InternalIterator::seek_to_first`]
//!   or [`InternalIterator::seek`] first.
//! - `key()` and `value()` may be called only while `valid()` is true; they
//!   return the entry at the current position and stay stable until the
//!   next call that moves the cursor.
//! - `seek(target)` positions at the first entry whose key is `>= target`
//!   under [`crate::compare_internal_keys`]; `valid()` is false if none.
//! - `seek_for_prev(target)` positions at the last entry whose key is
//!   `<= target`; `valid()` is false if none.
//! - `seek_to_first()` / `seek_to_last()` position at the first / last
//!   entry; `valid()` is false if there is none.
//! - `next()` moves to the entry with the smallest key `>` the current
//!   one, `prev()` to the entry with the largest key `<` the current one;
//!   either leaves the cursor invalid when there is no such entry. So
//!   entries come out in strictly increasing internal-key order going
//!   forward, strictly decreasing going backward, and the two may be mixed
//!   freely: `next()` then `prev()` returns to the same entry.
//! - An error from a moving call leaves the cursor invalid; the error is
//!   returned, never swallowed, and later calls may return it again.
//!
//! ```
//! use lsm_core::{InternalIterator, InternalKey, ValueKind, VecCursor};
//!
//! let entry = |key: &[u8], seq| (InternalKey::new(key, seq, ValueKind::Put).into_bytes(), vec![]);
//! let mut cursor = VecCursor::new(vec![entry(b"a", 1), entry(b"b", 9), entry(b"b", 4), entry(b"c", 2)]);
//! let user_key = |c: &VecCursor| c.key()[..1].to_vec();
//!
//! // Backward from the end: a user key's versions come oldest first.
//! cursor.seek_to_last()?;
//! let mut seen = Vec::new();
//! while cursor.valid() {
//!     seen.push((user_key(&cursor), InternalKey::from_encoded(cursor.key().to_vec()).seq()));
//!     cursor.prev()?;
//! }
//! assert_eq!(seen, [(b"c".to_vec(), 2), (b"b".to_vec(), 4), (b"b".to_vec(), 9), (b"a".to_vec(), 1)]);
//!
//! // The last entry at or before every version of "b": a@1.
//! cursor.seek_for_prev(InternalKey::for_seek(b"b", u64::MAX >> 8).as_bytes())?;
//! assert_eq!(user_key(&cursor), b"a");
//! cursor.next()?; // directions mix: the next entry is b@9
//! assert_eq!(cursor.key(), InternalKey::new(b"b", 9, ValueKind::Put).as_bytes());
//! # Ok::<(), lsm_core::Error>(())
//! ```

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::key::compare_internal_keys;

/// A seekable cursor over sorted `(encoded internal key, value)` entries.
#[doc(alias = "iterator")]
pub trait InternalIterator {
    /// True when the cursor is at an entry.
    fn valid(&self) -> bool;
    /// The current entry's encoded internal key. REQUIRES: `valid()`.
    fn key(&self) -> &[u8];
    /// The current entry's value. REQUIRES: `valid()`.
    fn value(&self) -> &[u8];
    /// The current entry's value as an owned [`Bytes`] that outlives the
    /// cursor. A cursor over shared buffers (a table's cached blocks, a
    /// memtable cursor made with `MemtableIterator::pin_values`) returns
    /// a slice of that buffer: a reference-count increment, no copy, no
    /// allocation. The default copies [`value`](Self::value).
    /// REQUIRES: `valid()`.
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }
    /// Moves to the next entry (invalid past the last). REQUIRES: `valid()`.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry (invalid before the first). REQUIRES:
    /// `valid()`.
    fn prev(&mut self) -> Result<()>;
    /// Positions at the first entry with key `>= target` (an encoded
    /// internal key, e.g. from [`crate::InternalKey::for_seek`]).
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Positions at the last entry with key `<= target` (an encoded
    /// internal key).
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()>;
    /// Positions at the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions at the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn value_bytes(&self) -> Bytes {
        (**self).value_bytes()
    }
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    fn prev(&mut self) -> Result<()> {
        (**self).prev()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek(target)
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek_for_prev(target)
    }
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        (**self).seek_to_last()
    }
}

/// An in-memory cursor over entries sorted by internal key.
///
/// Used for small merges and as the mock in tests: [`VecCursor::fail_after`]
/// makes it return a corruption error after a number of moves, so callers
/// can check that errors surface.
#[derive(Clone, Debug, Default)]
pub struct VecCursor {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Index of the current entry; `entries.len()` when past either end.
    pos: usize,
    positioned: bool,
    moves_before_failure: Option<usize>,
    failed: bool,
}

impl VecCursor {
    /// A cursor over `entries`, which are sorted here by internal key.
    pub fn new(mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        entries.sort_by(|a, b| compare_internal_keys(&a.0, &b.0));
        VecCursor {
            entries,
            ..VecCursor::default()
        }
    }

    /// Makes the cursor fail with a corruption error on the move after
    /// `moves` successful ones.
    pub fn fail_after(mut self, moves: usize) -> Self {
        self.moves_before_failure = Some(moves);
        self
    }

    fn count_move(&mut self) -> Result<()> {
        if let Some(left) = self.moves_before_failure.as_mut() {
            if *left == 0 || self.failed {
                self.failed = true;
                self.positioned = false;
                return Err(Error::corruption("<vec cursor>", 0, "injected failure"));
            }
            *left -= 1;
        }
        Ok(())
    }
}

impl InternalIterator for VecCursor {
    fn valid(&self) -> bool {
        self.positioned && !self.failed && self.pos < self.entries.len()
    }
    fn key(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.entries.get(self.pos).map_or(&[], |e| &e.0)
    }
    fn value(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.entries.get(self.pos).map_or(&[], |e| &e.1)
    }
    fn next(&mut self) -> Result<()> {
        self.count_move()?;
        debug_assert!(self.valid());
        self.pos += 1;
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.count_move()?;
        debug_assert!(self.valid());
        // Before the first entry is "past an end" too.
        self.pos = self.pos.checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.count_move()?;
        self.positioned = true;
        self.pos = self
            .entries
            .partition_point(|(k, _)| compare_internal_keys(k, target).is_lt());
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.count_move()?;
        self.positioned = true;
        let at_or_before = self
            .entries
            .partition_point(|(k, _)| compare_internal_keys(k, target).is_le());
        self.pos = at_or_before.checked_sub(1).unwrap_or(self.entries.len());
        Ok(())
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.count_move()?;
        self.positioned = true;
        self.pos = 0;
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.count_move()?;
        self.positioned = true;
        self.pos = self.entries.len().saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{InternalKey, ValueKind};

    fn entry(k: &[u8], seq: u64) -> (Vec<u8>, Vec<u8>) {
        (
            InternalKey::new(k, seq, ValueKind::Put).into_bytes(),
            seq.to_string().into_bytes(),
        )
    }

    #[test]
    fn seek_finds_newest_visible_version() {
        let mut c = VecCursor::new(vec![
            entry(b"a", 1),
            entry(b"b", 3),
            entry(b"b", 7),
            entry(b"c", 2),
        ]);
        assert!(!c.valid());
        c.seek(InternalKey::for_seek(b"b", 5).as_bytes()).unwrap();
        assert!(c.valid());
        assert_eq!(c.value(), b"3");
        c.seek(InternalKey::for_seek(b"b", 100).as_bytes()).unwrap();
        assert_eq!(c.value(), b"7");
        c.seek(InternalKey::for_seek(b"d", 100).as_bytes()).unwrap();
        assert!(!c.valid());
    }

    #[test]
    fn seek_for_prev_finds_the_last_entry_at_or_before_the_target() {
        let mut c = VecCursor::new(vec![
            entry(b"a", 1),
            entry(b"b", 3),
            entry(b"b", 7),
            entry(b"c", 2),
        ]);
        // Between b@7 and b@3: the last entry <= the target is b@7.
        c.seek_for_prev(InternalKey::for_seek(b"b", 5).as_bytes())
            .unwrap();
        assert_eq!(c.value(), b"7");
        // An exact hit lands on the entry itself.
        c.seek_for_prev(&entry(b"b", 3).0).unwrap();
        assert_eq!(c.value(), b"3");
        c.seek_for_prev(InternalKey::for_seek(b"z", 1).as_bytes())
            .unwrap();
        assert_eq!(c.value(), b"2", "past the end: the last entry");
        // a@1 sorts before a seek key at snapshot 0 (older sorts later).
        c.seek_for_prev(InternalKey::for_seek(b"a", 0).as_bytes())
            .unwrap();
        assert_eq!(c.value(), b"1");
        c.seek_for_prev(InternalKey::for_seek(b"a", 5).as_bytes())
            .unwrap();
        assert!(!c.valid(), "before the first entry: nothing");
    }

    #[test]
    fn prev_and_next_mix_and_stop_at_either_end() {
        let mut c = VecCursor::new(vec![entry(b"a", 1), entry(b"b", 2), entry(b"c", 3)]);
        c.seek_to_last().unwrap();
        assert_eq!(c.value(), b"3");
        c.prev().unwrap();
        assert_eq!(c.value(), b"2");
        c.next().unwrap();
        assert_eq!(c.value(), b"3");
        c.prev().unwrap();
        c.prev().unwrap();
        assert_eq!(c.value(), b"1");
        c.prev().unwrap();
        assert!(!c.valid());
        let mut empty = VecCursor::new(Vec::new());
        empty.seek_to_last().unwrap();
        assert!(!empty.valid());
    }

    #[test]
    fn injected_failure_surfaces_going_backward() {
        let mut c = VecCursor::new(vec![entry(b"a", 1), entry(b"b", 1)]).fail_after(2);
        c.seek_to_last().unwrap();
        c.prev().unwrap();
        assert!(c.prev().unwrap_err().is_corruption());
        assert!(!c.valid());
    }

    #[test]
    fn injected_failure_surfaces() {
        let mut c = VecCursor::new(vec![entry(b"a", 1), entry(b"b", 1)]).fail_after(2);
        c.seek_to_first().unwrap();
        c.next().unwrap();
        assert!(c.next().unwrap_err().is_corruption());
        assert!(!c.valid());
    }
}
