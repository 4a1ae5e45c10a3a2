//! The write step: WAL append, memtable insert, publish.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use lsm_core::{BatchOp, SeqNo, WriteBatch};
use parking_lot::RwLockReadGuard;

use super::Engine;
use crate::error::{Error, Result};

/// What [`Engine::write`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The batch's last sequence number.
    pub last_seq: SeqNo,
    /// The active memtable reached its size limit with this write.
    pub memtable_full: bool,
}

/// A writer's pass through the write gate: while it lives the active
/// memtable cannot be frozen, so a batch appended to the WAL through it
/// ([`WritePermit::append`]) is in the memtable a freeze seals once it is
/// applied ([`WritePermit::apply`]) or handed to the [`super::Freezer`]'s
/// holder, who applies it before freezing.
#[derive(Debug)]
pub struct WritePermit<'a> {
    engine: &'a Engine,
    _gate: RwLockReadGuard<'a, ()>,
}

impl Engine {
    /// Waits until every [`WritePermit`] handed out before this call is
    /// released (takes the write gate exclusively once).
    pub fn wait_for_write_permits(&self) {
        drop(self.write_gate.0.write());
    }

    /// A permit to append and apply; fails if the store is closed or
    /// poisoned.
    pub fn begin_write(&self) -> Result<WritePermit<'_>> {
        self.check_writable()?;
        Ok(WritePermit {
            engine: self,
            _gate: self.write_gate.0.read(),
        })
    }

    /// Inserts `batch`'s ops into the active memtable with sequence numbers
    /// starting at `first`, and counts the user bytes. Returns true when the
    /// memtable has reached its size limit (the caller arranges a freeze),
    /// so the write path reads the view once.
    /// REQUIRES: the memtable cannot be frozen underneath: the caller
    /// holds a [`WritePermit`] or the [`super::Freezer`].
    pub(super) fn apply_to_memtable(&self, batch: &WriteBatch, first: SeqNo) -> bool {
        let mem = Arc::clone(&self.view.read().mem);
        debug_assert!(!mem.is_frozen());
        let mut bytes = 0u64;
        mem.apply(batch.iter().enumerate().map(|(i, op)| {
            bytes += (op.key.len() + op.value.len()) as u64;
            BatchOp {
                seq: first + i as u64,
                ..op
            }
        }));
        self.counters
            .user_bytes_written
            .fetch_add(bytes, Ordering::Relaxed);
        mem.approximate_bytes() >= self.config.memtable_bytes
    }

    /// The synchronous write path: WAL append (durable per the sync mode),
    /// memtable insert, publish, then wait until the watermark covers the
    /// batch, so the caller's next read sees it (read-your-writes). Returns
    /// the batch's last sequence number and whether the memtable is now
    /// full.
    ///
    /// The watermark advances only over contiguous published ranges, so a
    /// writer that publishes while an earlier writer is still between its
    /// append and its publish waits for it (`VisibleSeq::wait_visible`:
    /// one atomic load when there is nothing to wait for). An append that
    /// fails after taking sequence numbers leaves a range that is never
    /// published; it poisons the engine, and a writer waiting behind it
    /// returns `Poisoned` (its write is in the WAL but cannot become
    /// visible before a reopen).
    pub fn write(&self, batch: &WriteBatch) -> Result<Written> {
        let permit = self.begin_write()?;
        let (first, last) = permit.append(batch)?;
        let memtable_full = permit.apply(batch, first, last);
        drop(permit);
        if !self
            .visible
            .wait_visible(last, || self.poisoned.load(Ordering::Acquire))
        {
            // `wait_visible` gives up only once the engine is poisoned.
            let reason = self.poison.lock().clone().unwrap_or_default();
            return Err(Error::Poisoned { reason });
        }
        Ok(Written {
            last_seq: last,
            memtable_full,
        })
    }

    /// True when the active memtable has reached its size limit.
    pub fn memtable_full(&self) -> bool {
        self.view.read().mem.approximate_bytes() >= self.config.memtable_bytes
    }

    /// Number of frozen memtables waiting for flush.
    pub fn immutable_count(&self) -> usize {
        self.view.read().imm.len()
    }
}

impl WritePermit<'_> {
    /// Appends `batch` to the WAL (durable per the sync mode when this
    /// returns) and returns its first and last sequence numbers. An I/O
    /// failure poisons the engine: the sequence numbers it took are never
    /// published, so later writes could never become visible.
    pub fn append(&self, batch: &WriteBatch) -> Result<(SeqNo, SeqNo)> {
        batch.check_limits()?;
        let engine = self.engine;
        match engine.wal.append(batch) {
            Ok(last) => Ok((last + 1 - u64::from(batch.count()), last)),
            Err(err) => {
                // I/O failures (and waiters failed by them) may have taken
                // sequence numbers that will never be published.
                if matches!(
                    err,
                    lsm_wal::Error::Core(_) | lsm_wal::Error::Poisoned { .. }
                ) {
                    engine.poison(format!("WAL append failed: {err}"));
                }
                Err(err.into())
            }
        }
    }

    /// Inserts an appended batch into the active memtable and publishes
    /// `first..=last`; true when the memtable is now full.
    pub fn apply(&self, batch: &WriteBatch, first: SeqNo, last: SeqNo) -> bool {
        let full = self.engine.apply_to_memtable(batch, first);
        self.engine.visible.publish(first, last);
        full
    }
}
