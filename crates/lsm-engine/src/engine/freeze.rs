//! Freezing the active memtable: sealing it (it becomes the newest frozen
//! memtable, waiting for a flush) and starting a new one with a new WAL
//! segment.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use lsm_core::{SeqNo, WriteBatch};
use lsm_memtable::Memtable;
use parking_lot::RwLockWriteGuard;

use super::Engine;
use crate::error::{Error, Result};
use crate::read::{ImmutableMemtable, SuperVersion};

/// The first wait for the write gate in [`Freezer::freeze`]; it doubles up
/// to [`GATE_WAIT_MAX`] between drains.
const GATE_WAIT_START: Duration = Duration::from_millis(1);
const GATE_WAIT_MAX: Duration = Duration::from_millis(32);

/// What [`Freezer::freeze`] asks its caller to do with the writes it holds
/// (appended to the WAL through a [`super::WritePermit`] that was then
/// released, e.g. queued for an applier thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// The freeze is waiting for the write gate: apply some, so that a
    /// writer blocked on the caller (still holding its permit) can finish.
    Some,
    /// The freeze holds the write gate, so no write can be appended: apply
    /// every write held, now.
    All,
}

/// The right to freeze the active memtable. An engine hands out one
/// ([`Engine::freezer`]): whoever holds it is the only one who can freeze,
/// which is what lets [`Freezer::apply`] insert into the active memtable
/// without the write gate.
#[derive(Debug)]
pub struct Freezer {
    engine: Arc<Engine>,
}

impl Engine {
    /// The engine's one [`Freezer`]; `None` once it was taken.
    pub fn freezer(self: &Arc<Self>) -> Option<Freezer> {
        if self.freezer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Freezer {
            engine: Arc::clone(self),
        })
    }
}

impl Freezer {
    /// Inserts a batch appended through a [`super::WritePermit`] that was
    /// since released, and publishes `first..=last`; true when the memtable
    /// is now full. The memtable cannot be frozen underneath: only this
    /// freezer freezes it, and not during this `&self` call.
    pub fn apply(&self, batch: &WriteBatch, first: SeqNo, last: SeqNo) -> bool {
        let full = self.engine.apply_to_memtable(batch, first);
        self.engine.visible.publish(first, last);
        full
    }

    /// Freezes the active memtable if `force` (and it is not empty) or if it
    /// is full; true if it froze one. The frozen memtable waits for
    /// [`Engine::flush_oldest_immutable`].
    ///
    /// Steps: sync the WAL and create the next segment *before* stopping
    /// writers, so the rotation under the gate only syncs the tail written
    /// since; take the write gate exclusively, calling `drain(Drain::Some)`
    /// between attempts; call `drain(Drain::All)`; then, if every appended
    /// write is published (an append that failed after taking sequence
    /// numbers poisons the engine, and then nothing freezes), rotate the
    /// WAL and swap in a new memtable. A failure poisons the engine.
    pub fn freeze(&mut self, force: bool, mut drain: impl FnMut(&Freezer, Drain)) -> Result<bool> {
        let engine = Arc::clone(&self.engine);
        engine.check_writable()?;
        engine.poison_on_err(
            "WAL sync before a freeze",
            engine.wal.sync().map_err(Error::from),
        )?;
        engine.poison_on_err(
            "WAL segment creation",
            engine.wal.prepare_next_segment().map_err(Error::from),
        )?;
        let mut wait = GATE_WAIT_START;
        let gate = loop {
            if let Some(gate) = engine.write_gate.0.try_write_for(wait) {
                break gate;
            }
            drain(self, Drain::Some);
            wait = (wait * 2).min(GATE_WAIT_MAX);
        };
        drain(self, Drain::All);
        if engine.visible.get() != engine.wal.last_seq() {
            return Ok(false);
        }
        if !force && !engine.memtable_full() {
            return Ok(false);
        }
        engine.freeze_with_gate(&gate)
    }
}

impl Engine {
    /// Seals the active memtable and starts a new one with a new WAL
    /// segment; false if it is empty. The guard is the proof that no write
    /// is between its append and its publish.
    fn freeze_with_gate(&self, _gate: &RwLockWriteGuard<'_, ()>) -> Result<bool> {
        let mem = Arc::clone(&self.view.read().mem);
        if mem.is_empty() {
            return Ok(false);
        }
        let next_segment =
            self.poison_on_err("WAL rotation", self.wal.rotate().map_err(Error::from))?;
        mem.freeze();
        let sealed = self.visible.get();
        // Equal unless a failed append consumed sequence numbers it never
        // published (the WAL is then poisoned and refuses writes).
        debug_assert!(sealed <= self.wal.last_seq(), "watermark ahead of the WAL");
        // Build the next view from the view current *now*, under its lock: a
        // flush may have installed a new version (and dropped a flushed
        // memtable) while the WAL rotated.
        let mut view = self.view.write();
        debug_assert!(
            Arc::ptr_eq(&view.mem, &mem),
            "only a freeze replaces the active memtable"
        );
        let mut imm = Vec::with_capacity(view.imm.len() + 1);
        imm.push(ImmutableMemtable {
            mem,
            next_wal_segment: next_segment,
        });
        imm.extend(view.imm.iter().cloned());
        let next = SuperVersion::new(Arc::new(Memtable::new()), imm, Arc::clone(&view.version));
        view.seal(sealed);
        *view = Arc::new(next);
        Ok(true)
    }
}
