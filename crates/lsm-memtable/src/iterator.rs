//! [`MemtableIterator`]: a `'static` cursor over a shared memtable.
//!
//! A skiplist `Entry` borrows the map, so a cursor that owns its
//! `Arc<Memtable>` cannot keep one between calls. Instead it copies a *run*
//! of consecutive entries into reusable buffers and serves `key`/`value`
//! from there; when the run is used up it re-finds its place with one
//! `lower_bound(Excluded(last key of the run))` and copies the next run.
//! Runs start short after a seek (a point lookup reads one or two entries)
//! and double up to [`MAX_RUN_ENTRIES`], so a long scan pays one skiplist
//! search per 64 entries and no allocation once the buffers have grown.
//!
//! Going backward is the mirror image: `prev` off the start of a run
//! re-finds its place with one `upper_bound(Excluded(first key of the
//! run))` and copies the run of entries *before* it, walking the skiplist
//! backward, then puts the copies in increasing order, so `key`/`value`
//! and a later `next` work on it unchanged. `seek_to_last` starts at the
//! map's `back()`, `seek_for_prev` at `upper_bound(Included(target))`.
//!
//! A cursor made with [`MemtableIterator::pin_values`] keeps, instead of
//! copies, a `Bytes` handle on each entry's own buffer (a reference-count
//! increment per entry), so that `value_bytes` hands out a slice of the
//! entry itself; runs and re-finding work the same way.
//!
//! Invariants:
//! - `run.spans` index `run.bytes` (or, pinned, each `run.shared[i]`) in
//!   strictly increasing internal-key order; a run copied going forward starts after the previous run's
//!   last key, one copied going backward ends before the previous run's
//!   first key.
//! - The cursor is valid iff `pos < run.spans.len()`.
//! - `more` is false only when the last copy went forward and reached the
//!   end of the map; `more_before` is false only when the last copy went
//!   backward and reached its start (or started at the front).
//!
//! Concurrent inserts: an entry inserted after the cursor was positioned
//! may or may not be seen (entries are never removed, so nothing seen can
//! vanish). A snapshot read is still complete as long as the store makes a
//! sequence number readable only after its insert returned: every entry the
//! snapshot can see was then inserted before the cursor was positioned.

use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_skiplist::map::Entry;
use lsm_core::{InternalIterator, Result};

use crate::entry::{KeyProbe, MemtableEntry};
use crate::memtable::Memtable;

/// Entries copied by the first run after a seek.
const FIRST_RUN_ENTRIES: usize = 4;
/// Most entries copied by one run.
const MAX_RUN_ENTRIES: usize = 64;
/// A run stops after the entry that takes its buffer past this many bytes
/// (so one huge value is still copied, alone).
const MAX_RUN_BYTES: usize = 32 * 1024;

/// Where one copied entry lies in [`EntryRun::bytes`].
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    key_end: usize,
    end: usize,
}

/// Copies of consecutive memtable entries, in one reused byte buffer; or,
/// when `pinned`, shared handles on their buffers.
#[derive(Default)]
struct EntryRun {
    /// Each entry's internal key followed by its value (not `pinned`).
    bytes: Vec<u8>,
    /// Where each entry lies: in `bytes`, or (`pinned`) in `shared[i]`.
    spans: Vec<Span>,
    /// `pinned`: each entry's own buffer, a reference and not a copy.
    shared: Vec<Bytes>,
    /// Hold references to the entries' buffers instead of copying them.
    pinned: bool,
}

impl EntryRun {
    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.shared.clear();
    }

    /// Adds `entry` at the end of the run: a copy, or (`pinned`) a
    /// reference to its buffer.
    fn push(&mut self, entry: &MemtableEntry) {
        if self.pinned {
            let shared = entry.shared_bytes();
            self.spans.push(Span {
                start: 0,
                key_end: entry.key_len(),
                end: shared.len(),
            });
            self.shared.push(shared);
            return;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(entry.key_and_value());
        self.spans.push(Span {
            start,
            key_end: start + entry.key_len(),
            end: self.bytes.len(),
        });
    }

    /// True once the run holds as much as one run may.
    fn full(&self, max_entries: usize) -> bool {
        self.spans.len() >= max_entries || self.bytes.len() >= MAX_RUN_BYTES
    }

    /// Entry `index`'s internal key and value, as one slice.
    fn entry(&self, index: usize) -> Option<(&[u8], Span)> {
        let span = *self.spans.get(index)?;
        let buffer: &[u8] = if self.pinned {
            self.shared.get(index)?
        } else {
            &self.bytes[..]
        };
        Some((buffer, span))
    }

    /// Replaces the run with copies of `first` and the entries after it,
    /// at most `max_entries` of them (and about [`MAX_RUN_BYTES`]). Returns
    /// true if it stopped at a limit, i.e. the map may hold more entries.
    fn fill(&mut self, first: Option<Entry<'_, MemtableEntry, ()>>, max_entries: usize) -> bool {
        self.clear();
        let Some(mut cursor) = first else {
            return false;
        };
        loop {
            self.push(cursor.key());
            if self.full(max_entries) {
                return true;
            }
            if !cursor.move_next() {
                return false;
            }
        }
    }

    /// Replaces the run with copies of `last` and the entries before it, at
    /// most `max_entries` of them (and about [`MAX_RUN_BYTES`]), in
    /// increasing order. Returns true if it stopped at a limit, i.e. the
    /// map may hold more entries before the run.
    fn fill_backward(
        &mut self,
        last: Option<Entry<'_, MemtableEntry, ()>>,
        max_entries: usize,
    ) -> bool {
        self.clear();
        let Some(mut cursor) = last else {
            return false;
        };
        let more = loop {
            self.push(cursor.key());
            if self.full(max_entries) {
                break true;
            }
            if !cursor.move_prev() {
                break false;
            }
        };
        // Copied newest-position first; spans may index `bytes` in any order.
        self.spans.reverse();
        self.shared.reverse();
        more
    }

    fn key(&self, index: usize) -> &[u8] {
        self.entry(index)
            .and_then(|(buffer, s)| buffer.get(s.start..s.key_end))
            .unwrap_or_default()
    }

    fn value(&self, index: usize) -> &[u8] {
        self.entry(index)
            .and_then(|(buffer, s)| buffer.get(s.key_end..s.end))
            .unwrap_or_default()
    }

    /// Entry `index`'s value: a slice of the entry's buffer when `pinned`,
    /// else a copy.
    fn value_bytes(&self, index: usize) -> Bytes {
        match (self.pinned, self.shared.get(index), self.spans.get(index)) {
            (true, Some(shared), Some(s)) if s.key_end < s.end && s.end <= shared.len() => {
                shared.slice(s.key_end..s.end)
            }
            (true, _, _) => Bytes::new(),
            (false, _, _) => Bytes::copy_from_slice(self.value(index)),
        }
    }

    /// Checks the run's keys strictly increase (debug builds only).
    fn debug_check_order(&self) {
        if cfg!(debug_assertions) {
            for i in 1..self.spans.len() {
                debug_assert!(
                    lsm_core::compare_internal_keys(self.key(i - 1), self.key(i)).is_lt(),
                    "memtable run out of order at {i}"
                );
            }
        }
    }
}

/// A cursor over a memtable's entries in internal-key order; implements
/// [`InternalIterator`] with all of its postconditions. It never fails:
/// every moving call returns `Ok`.
///
/// Owns an `Arc<Memtable>`, so it is `'static` and `Send`.
pub struct MemtableIterator {
    // Owned by this cursor; no shared mutable state.
    memtable: Arc<Memtable>,
    /// The copied run the cursor is in.
    run: EntryRun,
    /// Index of the current entry in `run`; valid iff `< run.spans.len()`.
    pos: usize,
    /// False when `run` ends at the end of the map.
    more: bool,
    /// False when `run` starts at the start of the map.
    more_before: bool,
    /// How many entries the next run copies.
    next_run_entries: usize,
}

impl MemtableIterator {
    pub(crate) fn new(memtable: Arc<Memtable>) -> Self {
        MemtableIterator {
            memtable,
            run: EntryRun::default(),
            pos: 0,
            more: false,
            more_before: false,
            next_run_entries: FIRST_RUN_ENTRIES,
        }
    }

    /// The same cursor, made to hold references to the entries it visits
    /// instead of copying them, so that [`InternalIterator::value_bytes`]
    /// returns the value from the entry it holds. Entries are boxed
    /// slices (sharing them would cost every entry 16 bytes), so the
    /// value is copied once there, as a copying cursor copies it. Unpositioned, as a new cursor.
    pub fn pin_values(mut self) -> Self {
        self.run.clear();
        self.run.pinned = true;
        self.pos = 0;
        self.more = false;
        self.more_before = false;
        self
    }

    /// Copies the run that starts at `from` and positions at its start.
    fn start_run(&mut self, from: RunStart<'_>) {
        let max_entries = self.next_run_entries;
        self.next_run_entries = (max_entries * 2).min(MAX_RUN_ENTRIES);
        let entries = &self.memtable.entries;
        // `first` borrows the map, not the run it is about to overwrite.
        let first = match from {
            RunStart::First => entries.front(),
            RunStart::AtOrAfter(target) => {
                let probe = KeyProbe::from_encoded(target);
                entries.lower_bound(Bound::Included(probe.as_ordered()))
            }
            RunStart::AfterRun => {
                let last = self.run.spans.len().saturating_sub(1);
                let probe = KeyProbe::from_encoded(self.run.key(last));
                entries.lower_bound(Bound::Excluded(probe.as_ordered()))
            }
        };
        self.more = self.run.fill(first, max_entries);
        // Unknown (true) unless the run starts at the front: a backward
        // copy that finds nothing just ends the cursor.
        self.more_before = !matches!(from, RunStart::First);
        self.pos = 0;
        self.run.debug_check_order();
    }

    /// Copies the run that ends at `to` and positions at its end.
    fn start_run_backward(&mut self, to: RunEnd<'_>) {
        let max_entries = self.next_run_entries;
        self.next_run_entries = (max_entries * 2).min(MAX_RUN_ENTRIES);
        let entries = &self.memtable.entries;
        // `last` borrows the map, not the run it is about to overwrite.
        let last = match to {
            RunEnd::Last => entries.back(),
            RunEnd::AtOrBefore(target) => {
                let probe = KeyProbe::from_encoded(target);
                entries.upper_bound(Bound::Included(probe.as_ordered()))
            }
            RunEnd::BeforeRun => {
                let probe = KeyProbe::from_encoded(self.run.key(0));
                entries.upper_bound(Bound::Excluded(probe.as_ordered()))
            }
        };
        self.more_before = self.run.fill_backward(last, max_entries);
        // Unknown (true) unless the run ends at the back.
        self.more = !matches!(to, RunEnd::Last);
        // `len - 1`, or 0 = invalid for an empty run.
        self.pos = self.run.spans.len().saturating_sub(1);
        self.run.debug_check_order();
    }
}

/// Where [`MemtableIterator::start_run`] starts copying.
enum RunStart<'t> {
    /// At the first entry of the map.
    First,
    /// At the first entry `>=` this encoded internal key.
    AtOrAfter(&'t [u8]),
    /// Just after the last entry of the current (non-empty) run.
    AfterRun,
}

/// Where [`MemtableIterator::start_run_backward`] ends its copy.
enum RunEnd<'t> {
    /// At the last entry of the map.
    Last,
    /// At the last entry `<=` this encoded internal key.
    AtOrBefore(&'t [u8]),
    /// Just before the first entry of the current (non-empty) run.
    BeforeRun,
}

impl InternalIterator for MemtableIterator {
    fn valid(&self) -> bool {
        self.pos < self.run.spans.len()
    }

    fn key(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.run.key(self.pos)
    }

    fn value(&self) -> &[u8] {
        debug_assert!(self.valid());
        self.run.value(self.pos)
    }

    /// The current value as [`Bytes`] (a copy: memtable entries are not
    /// shared).
    fn value_bytes(&self) -> Bytes {
        debug_assert!(self.valid());
        self.run.value_bytes(self.pos)
    }

    fn next(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        self.pos += 1;
        if self.pos >= self.run.spans.len() && self.more {
            self.start_run(RunStart::AfterRun);
        }
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        debug_assert!(self.valid());
        if self.pos > 0 {
            self.pos -= 1;
        } else if self.more_before && !self.run.spans.is_empty() {
            self.start_run_backward(RunEnd::BeforeRun);
        } else {
            self.pos = self.run.spans.len();
        }
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.next_run_entries = FIRST_RUN_ENTRIES;
        self.start_run(RunStart::AtOrAfter(target));
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.next_run_entries = FIRST_RUN_ENTRIES;
        self.start_run_backward(RunEnd::AtOrBefore(target));
        Ok(())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.next_run_entries = FIRST_RUN_ENTRIES;
        self.start_run(RunStart::First);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.next_run_entries = FIRST_RUN_ENTRIES;
        self.start_run_backward(RunEnd::Last);
        Ok(())
    }
}

impl fmt::Debug for MemtableIterator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemtableIterator")
            .field("valid", &self.valid())
            .field("memtable_len", &self.memtable.len())
            .finish_non_exhaustive()
    }
}
