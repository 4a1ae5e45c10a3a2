//! Freezing the active memtable: sealing it (it becomes the newest frozen
//! memtable, waiting for a flush) and starting a new one with a new WAL
//! segment.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_core::{SeqNo, WriteBatch};
use lsm_memtable::Memtable;
use parking_lot::RwLockWriteGuard;

use super::Engine;
use crate::error::{Error, Result};
use crate::read::{ImmutableMemtable, ReadView};

/// The first wait for the write gate in [`Freezer::freeze`]; it doubles up
/// to [`GATE_WAIT_MAX`] between drains. Short: the wait times out when a
/// writer holding the gate is blocked on the caller (a full apply queue),
/// and every microsecond of it is a microsecond that writer waits; the
/// drain between attempts is what frees it. (Starting at 1 ms and
/// doubling to 32 ms cost 23-41 ms per freeze in a 1M-key async fill.)
const GATE_WAIT_START: Duration = Duration::from_micros(50);
const GATE_WAIT_MAX: Duration = Duration::from_millis(1);

/// [`Engine::prepare_freeze`] syncs the WAL while more than this is
/// unsynced...
const PRESYNC_TAIL_BYTES: u64 = 64 << 10;
/// ...at most this many times (the tail shrinks with each pass unless the
/// disk is slower than the writers, and then more passes do not help).
const PRESYNC_PASSES: usize = 4;
/// The active memtable's memory prepared ahead is at most this fraction
/// of its budget ([`Engine::memory_ahead`]). In `put_latency_trace` fills
/// (session 27) a flush wrote a 64 MiB memtable in 0.2-0.3 s while
/// writers put 14-17 MiB into the next.
const MEMORY_AHEAD_FRACTION: usize = 4;
/// ...and otherwise what the next memtable took in during the last flush,
/// plus this fraction of it (flushes vary: 120-190 ms for the same
/// 64 MiB in one fill).
const MEMORY_AHEAD_MARGIN_FRACTION: usize = 4;

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
    /// since; call `drain(Drain::Some)`; take the write gate exclusively,
    /// calling `drain(Drain::Some)` between attempts; call `drain(Drain::All)`; then, if every appended
    /// write is published (an append that failed after taking sequence
    /// numbers poisons the engine, and then nothing freezes), rotate the
    /// WAL and swap in a new memtable. A failure poisons the engine.
    pub fn freeze(&mut self, force: bool, mut drain: impl FnMut(&Freezer, Drain)) -> Result<bool> {
        let engine = Arc::clone(&self.engine);
        engine.check_writable()?;
        let started = Instant::now();
        self.prepare_outside_the_gate()?;
        // Apply what the caller holds before stopping writers: whatever is
        // still held once the gate is taken is applied under it, while
        // every writer waits.
        drain(self, Drain::Some);
        let prepared = Instant::now();
        let mut wait = GATE_WAIT_START;
        let gate = loop {
            if let Some(gate) = engine.write_gate.0.try_write_for(wait) {
                break gate;
            }
            drain(self, Drain::Some);
            wait = (wait * 2).min(GATE_WAIT_MAX);
        };
        let gated = Instant::now();
        drain(self, Drain::All);
        let froze = self.freeze_under(&gate, force);
        drop(gate);
        if matches!(froze, Ok(true)) {
            engine.record_freeze(started, prepared, gated);
        }
        froze
    }

    /// [`Freezer::freeze`] for a caller that holds no appended write of its
    /// own to apply (every writer applies under its own permit, as in
    /// `SimpleLsmStore`): it waits for the write gate without timeouts, as
    /// the sync store did before the freezer existed. (A timed wait gives
    /// the gate back to new writers at every timeout, which only a caller
    /// with queued writes to apply in between needs.)
    pub fn freeze_waiting(&mut self, force: bool) -> Result<bool> {
        let engine = Arc::clone(&self.engine);
        engine.check_writable()?;
        let started = Instant::now();
        self.prepare_outside_the_gate()?;
        let prepared = Instant::now();
        let gate = engine.write_gate.0.write();
        let gated = Instant::now();
        let froze = self.freeze_under(&gate, force);
        drop(gate);
        if matches!(froze, Ok(true)) {
            engine.record_freeze(started, prepared, gated);
        }
        froze
    }

    /// Syncs the WAL and creates the next segment before writers are
    /// stopped, so the rotation under the gate only syncs the tail written
    /// since.
    fn prepare_outside_the_gate(&self) -> Result<()> {
        self.engine.prepare_freeze()
    }

    /// The freeze itself, with the gate held exclusively and every
    /// appended write applied by the caller.
    fn freeze_under(&self, gate: &RwLockWriteGuard<'_, ()>, force: bool) -> Result<bool> {
        let engine = &self.engine;
        if engine.visible.get() != engine.wal.last_seq() {
            return Ok(false);
        }
        if !force && !engine.memtable_full() {
            return Ok(false);
        }
        engine.freeze_with_gate(gate)
    }
}

impl Engine {
    /// The slow part of a freeze, which needs no lock: syncs the WAL (under
    /// `SyncMode::Never` up to a memtable's worth of dirty pages) and
    /// creates the next segment. [`Freezer::freeze`] does it first anyway;
    /// a caller that holds something writers wait for while it freezes (the
    /// async store's applier holds its core lock) calls this beforehand,
    /// without that lock, so the freeze's own pass only syncs the short tail
    /// written since. The same prepares the rotation the WAL makes on its
    /// own when a segment fills ([`Engine::wal_rotation_is_near`]). A
    /// failed sync poisons the engine.
    pub fn prepare_freeze(&self) -> Result<()> {
        // Writers keep appending while a sync runs, so one pass leaves the
        // bytes appended during it; a few passes shrink that tail
        // geometrically to what a sync does in well under a millisecond.
        // A tail that short is left to the rotation's own sync.
        for _ in 0..PRESYNC_PASSES {
            if self.wal.unsynced_bytes() <= PRESYNC_TAIL_BYTES {
                break;
            }
            self.poison_on_err(
                "WAL sync before a freeze",
                self.wal.sync().map_err(Error::from),
            )?;
        }
        // Best effort: a failure here loses no write (the rotation creates
        // the segment itself, and poisons the engine if that fails), so it
        // is no reason to refuse writes.
        let _ = self.wal.prepare_next_segment();
        Ok(())
    }

    /// True when the active memtable has less memory faulted in ahead of
    /// its next inserts than it should: an insert took what
    /// [`Engine::prepare_memtable_memory`] prepared (or none was), or the
    /// memtable came within its reserve of full, when it keeps that
    /// reserve prepared for the next memtable (`Engine::memory_ahead`).
    /// A hint for the thread that prepares it; a relaxed load.
    pub fn memtable_wants_memory(&self) -> bool {
        self.memtable_wants_memory.load(Ordering::Relaxed)
    }

    /// Faults in one more 2 MiB chunk of the active memtable's memory
    /// ([`Memtable::prepare_memory`]) on the calling thread, so that the
    /// insert that first needs it does not pay for fresh pages. For a
    /// background thread (the async store's applier), never under a lock
    /// writers wait for. Leaves [`Engine::memtable_wants_memory`] set while
    /// the memtable wants more.
    pub fn prepare_memtable_memory(&self) {
        // Cleared first: an insert that takes the memory prepared here
        // sets it again.
        self.memtable_wants_memory.store(false, Ordering::Relaxed);
        let mem = Arc::clone(&self.view.read().mem);
        let ahead = self.memory_ahead(mem.approximate_bytes());
        mem.prepare_memory(ahead);
        if mem.wants_memory(ahead) {
            self.memtable_wants_memory.store(true, Ordering::Relaxed);
        }
    }

    /// Bytes of memory the active memtable, holding `approximate_bytes`,
    /// keeps prepared ahead of its inserts: one chunk (0 asks for that),
    /// and once it is within the reserve of its budget of full, the
    /// reserve: what the next memtable took in during the last flush
    /// (from its freeze to the flushed memtable's release), plus a
    /// quarter, at most `1 / MEMORY_AHEAD_FRACTION` of the budget (that
    /// much before the first flush). A freeze hands what is left to the
    /// next memtable ([`Memtable::adopt_prepared_memory`]), whose inserts
    /// during the flush then find memory faulted in. Without it, the
    /// applier faulted a fresh huge page in (0.25-6 ms on this project's
    /// machines) about every 2 MiB of the flush while the flusher held the
    /// other core, so the writer waited for the applier on its own core:
    /// 10 of the 14 puts of 1.5 ms or more in one traced fill
    /// (docs/async.md, "Memory prepared ahead"). Sized by the last flush
    /// rather than fixed, the frozen memtable and the reserve together
    /// hold no more than the flush needs.
    pub(super) fn memory_ahead(&self, approximate_bytes: usize) -> usize {
        let budget = self.config.memtable_bytes;
        let most = budget / MEMORY_AHEAD_FRACTION;
        let reserve = match self.flush_intake_bytes.load(Ordering::Relaxed) {
            0 => most,
            intake => intake
                .saturating_add(intake / MEMORY_AHEAD_MARGIN_FRACTION)
                .min(most),
        };
        if approximate_bytes.saturating_add(reserve) >= budget {
            reserve
        } else {
            0
        }
    }

    /// True when the WAL segment is seven eighths full and its successor is
    /// not prepared: the rotation the WAL makes when the segment fills (not
    /// a freeze: a memtable can outlive a segment) is near, and it would
    /// sync the whole unsynced segment and create the next one on a
    /// writer's thread (one traced 1M-put ascending fill: a 72 ms put).
    /// [`Engine::prepare_freeze`] off the write path makes it cheap.
    pub fn wal_rotation_is_near(&self) -> bool {
        self.wal.rotation_is_near()
    }

    /// Emits `lsm.freeze` (debug) for a freeze that began at `started`:
    /// how long the WAL pre-sync took, how long the write gate took to get,
    /// and how long it was held (writers wait that long at most).
    fn record_freeze(&self, started: Instant, prepared: Instant, gated: Instant) {
        let now = Instant::now();
        tracing::debug!(
            name: "lsm.freeze",
            dir = %self.dir.display(),
            presync_us = super::stall::micros(prepared - started),
            gate_wait_us = super::stall::micros(gated - prepared),
            gate_held_us = super::stall::micros(now - gated),
            "memtable frozen"
        );
    }

    /// Seals the active memtable and starts a new one with a new WAL
    /// segment; false if it is empty. The new memtable takes the memory the
    /// sealed one had prepared and not used. The guard is the proof that
    /// no write is between its append and its publish.
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
        let next_mem = Memtable::with_point_filter(self.config.memtable_bytes);
        next_mem.adopt_prepared_memory(&imm[0].mem);
        let next = ReadView::new(Arc::new(next_mem), imm, Arc::clone(&view.version));
        view.seal(sealed);
        *view = Arc::new(next);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use lsm_core::Lookup;

    use super::super::test_support::{get, open_small, put};
    use super::*;

    fn batch(key: &str, value: &str) -> WriteBatch {
        let mut batch = WriteBatch::new();
        batch.put(key.as_bytes(), value.as_bytes());
        batch
    }

    #[test]
    fn an_engine_hands_out_one_freezer() {
        let (_dir, engine) = open_small();
        let freezer = engine.freezer();
        assert!(freezer.is_some());
        assert!(engine.freezer().is_none());
        drop(freezer);
        assert!(
            engine.freezer().is_none(),
            "not handed out again once dropped"
        );
    }

    /// A freeze hands the memory the sealed memtable prepared and did not
    /// use to the new one; an insert that takes prepared memory raises
    /// `memtable_wants_memory`, and preparing clears it.
    #[test]
    fn a_freeze_swaps_in_a_memtable_with_memory_prepared() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        engine.write(&batch).unwrap();
        assert!(engine.memtable_wants_memory(), "nothing prepared at open");
        engine.prepare_memtable_memory();
        assert!(!engine.memtable_wants_memory());
        assert!(!engine.view().mem.wants_memory(0));

        let sealed = Arc::clone(&engine.view().mem);
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        let mem = Arc::clone(&engine.view().mem);
        assert!(mem.is_empty());
        assert!(
            !mem.wants_memory(0),
            "the new memtable got the prepared memory"
        );
        assert!(sealed.wants_memory(0), "moved, not copied");
        engine.write(&batch).unwrap();
        assert!(mem.wants_memory(0), "its first insert took the memory");
        assert!(engine.memtable_wants_memory());
        engine.prepare_memtable_memory();
        assert!(!engine.memtable_wants_memory());
        assert!(!mem.wants_memory(0));
    }

    const MIB: usize = 1 << 20;

    /// An engine with 16 MiB memtables, in a new directory.
    fn open_16_mib() -> (tempfile::TempDir, Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::LsmConfig::builder(dir.path())
            .memtable_bytes(16 * MIB)
            .wal_sync(lsm_wal::SyncMode::Never)
            .block_cache_bytes(0)
            .build()
            .unwrap();
        let engine = Arc::new(Engine::open(config).unwrap());
        (dir, engine)
    }

    /// Puts 1000-byte values under keys `key{next_key}..` until the
    /// active memtable holds at least `bytes`.
    fn fill_to(engine: &Engine, next_key: &mut u64, bytes: usize) {
        let value = "v".repeat(1000);
        while engine.view().mem.approximate_bytes() < bytes {
            put(engine, &format!("key{next_key:08}"), &value);
            *next_key += 1;
        }
    }

    /// Before any flush, once the active memtable is within a quarter of
    /// its budget of full, it wants a quarter of its budget prepared ahead
    /// (one 2 MiB chunk before), and a freeze hands all of it to the next
    /// memtable.
    #[test]
    fn a_nearly_full_memtable_prepares_memory_for_the_next_one() {
        let (_dir, engine) = open_16_mib();
        let mut freezer = engine.freezer().unwrap();
        let mut i = 0u64;
        let mut fill_to = |bytes: usize| fill_to(&engine, &mut i, bytes);
        let mem = Arc::clone(&engine.view().mem);
        fill_to(8 * MIB);
        engine.prepare_memtable_memory();
        assert!(!engine.memtable_wants_memory(), "one chunk is enough");
        assert_eq!(mem.prepared_bytes(), 2 * MIB);
        assert_eq!(engine.memory_ahead(8 * MIB), 0);

        fill_to(12 * MIB + 1);
        assert_eq!(engine.memory_ahead(mem.approximate_bytes()), 4 * MIB);
        assert!(engine.memtable_wants_memory(), "nearly full, it wants more");
        for _ in 0..10 {
            if !engine.memtable_wants_memory() {
                break;
            }
            engine.prepare_memtable_memory();
        }
        assert!(!engine.memtable_wants_memory());
        assert_eq!(mem.prepared_bytes(), 4 * MIB, "a quarter of 16 MiB");

        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        let next = Arc::clone(&engine.view().mem);
        assert_eq!(next.prepared_bytes(), 4 * MIB, "all of it moved");
        assert_eq!(mem.prepared_bytes(), 0);
    }

    /// After a flush, the reserve is what the active memtable took in
    /// while it ran, plus a quarter: at most a quarter of the budget, and
    /// that much when the flush left another memtable frozen.
    #[test]
    fn the_memory_prepared_ahead_is_what_the_last_flush_needed() {
        let (_dir, engine) = open_16_mib();
        let mut freezer = engine.freezer().unwrap();
        let mut i = 0u64;
        let mut put_bytes = |bytes: usize| {
            let until = engine.view().mem.approximate_bytes() + bytes;
            fill_to(&engine, &mut i, until);
        };
        let nearly_full = 16 * MIB - 1;
        assert_eq!(engine.memory_ahead(nearly_full), 4 * MIB, "no flush yet");

        // Frozen, then 2 MiB into its successor before the flush ends.
        put_bytes(MIB);
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        put_bytes(2 * MIB);
        let intake = engine.view().mem.approximate_bytes();
        assert!(engine.flush_oldest_immutable().unwrap());
        let reserve = intake + intake / 4;
        assert_eq!(engine.memory_ahead(nearly_full), reserve);
        assert_eq!(engine.memory_ahead(16 * MIB - reserve), reserve);
        assert_eq!(engine.memory_ahead(16 * MIB - reserve - 1), 0);

        // A flush that leaves a memtable frozen: flushes fall behind.
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        put_bytes(MIB);
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        assert!(engine.flush_oldest_immutable().unwrap());
        assert_eq!(engine.memory_ahead(nearly_full), 4 * MIB);
        // Caught up: the next flush measures again.
        put_bytes(MIB / 2);
        assert!(engine.flush_oldest_immutable().unwrap());
        let intake = engine.view().mem.approximate_bytes();
        assert_eq!(engine.memory_ahead(nearly_full), intake + intake / 4);
    }

    #[test]
    fn freezing_an_empty_memtable_does_nothing() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let mem = Arc::clone(&engine.view().mem);
        assert!(!freezer.freeze(true, |_, _| {}).unwrap());
        assert_eq!(engine.immutable_count(), 0);
        assert!(Arc::ptr_eq(&engine.view().mem, &mem));
        assert!(!mem.is_frozen());
    }

    #[test]
    fn an_unforced_freeze_waits_for_a_full_memtable() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        assert!(!freezer.freeze(false, |_, _| {}).unwrap());
        assert_eq!(engine.immutable_count(), 0);
        assert_eq!(engine.view().mem.len(), 1, "still the active memtable");
        let value = "x".repeat(1000);
        let mut i = 0;
        while !engine.memtable_full() {
            put(&engine, &format!("k{i:04}"), &value);
            i += 1;
        }
        assert!(freezer.freeze(false, |_, _| {}).unwrap());
        assert_eq!(engine.immutable_count(), 1);
        assert!(engine.view().mem.is_empty());
    }

    /// A freeze seals the memtable at the watermark and starts the next WAL
    /// segment; reads keep seeing the frozen writes.
    #[test]
    fn a_freeze_seals_the_memtable_and_rotates_the_wal() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        let segment = engine.wal.current_segment();
        let before = engine.view();
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        let view = engine.view();
        assert_eq!(view.imm.len(), 1);
        assert!(Arc::ptr_eq(&view.imm[0].mem, &before.mem));
        assert!(before.mem.is_frozen());
        assert!(engine.wal.current_segment() > segment);
        assert_eq!(view.imm[0].next_wal_segment, engine.wal.current_segment());
        assert_eq!(before.read_seq(u64::MAX), 1, "the old view is sealed");
        assert_eq!(view.read_seq(u64::MAX), u64::MAX);
        assert_eq!(get(&engine, "a").as_deref(), Some("1"));
        assert_eq!(put(&engine, "b", "2"), 2);
        assert_eq!(engine.view().mem.len(), 1, "the new memtable takes writes");
    }

    /// `freeze_waiting` waits for a writer holding its permit (no timeout
    /// hands the gate back), then freezes with that write in the memtable.
    #[test]
    fn freeze_waiting_waits_for_a_held_permit_then_freezes() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let writer = {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                let permit = engine.begin_write().unwrap();
                let b = batch("b", "2");
                let (first, last) = permit.append(&b).unwrap();
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                permit.apply(&b, first, last);
            })
        };
        held_rx.recv().unwrap();
        let freezing = std::thread::spawn(move || {
            let frozen = freezer.freeze_waiting(true).unwrap();
            (frozen, freezer)
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!freezing.is_finished(), "froze while a permit was held");
        release_tx.send(()).unwrap();
        writer.join().unwrap();
        let (frozen, _freezer) = freezing.join().unwrap();
        assert!(frozen);
        let view = engine.view();
        assert_eq!(view.imm.len(), 1);
        assert_eq!(
            view.imm[0].mem.len(),
            2,
            "the held write is in the frozen memtable"
        );
        assert!(view.mem.is_empty());
    }

    /// Writes appended through a permit that was released before they were
    /// applied (an applier's queue) are applied by `Drain::All`, called once
    /// with the write gate held, and end up in the frozen memtable. One
    /// `Drain::Some` comes first, without the gate (the queue emptied
    /// before writers are stopped); this caller keeps its writes for the
    /// `Drain::All`.
    #[test]
    fn drain_all_runs_once_under_the_gate_and_applies_queued_writes() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        let mut queue = Vec::new();
        for (key, value) in [("q1", "x"), ("q2", "y")] {
            let permit = engine.begin_write().unwrap();
            let b = batch(key, value);
            let (first, last) = permit.append(&b).unwrap();
            queue.push((b, first, last));
        }
        assert_eq!((engine.last_seq(), engine.visible_seq()), (3, 1));
        assert_eq!(get(&engine, "q1"), None, "queued, not applied");

        let mut calls = Vec::new();
        let froze = freezer
            .freeze(true, |freezer, drain| {
                let gate_held = engine.write_gate.0.try_read().is_none();
                calls.push((drain, gate_held));
                if drain == Drain::All {
                    for (b, first, last) in queue.drain(..) {
                        freezer.apply(&b, first, last);
                    }
                }
            })
            .unwrap();
        assert!(froze);
        assert_eq!(calls, [(Drain::Some, false), (Drain::All, true)]);
        assert_eq!(engine.visible_seq(), 3);
        let view = engine.view();
        assert_eq!(view.imm.len(), 1);
        assert!(view.mem.is_empty());
        let frozen = &view.imm[0].mem;
        assert_eq!(frozen.len(), 3);
        assert!(matches!(frozen.get(b"\0q2", 3), Some(Lookup::Value(v)) if v == b"y"[..]));
    }

    /// While a writer still holds its permit (blocked on the freezer's
    /// holder, e.g. a full apply queue), the freeze asks for `Drain::Some`
    /// until the writer can finish, then `Drain::All` once.
    #[test]
    fn drain_some_lets_a_writer_holding_a_permit_finish() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (queue_tx, queue_rx) = mpsc::channel::<(WriteBatch, SeqNo, SeqNo)>();
        let (appended_tx, appended_rx) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let engine = &engine;
            s.spawn(move || {
                let permit = engine.begin_write().unwrap();
                let b = batch("w", "1");
                let (first, last) = permit.append(&b).unwrap();
                appended_tx.send(()).unwrap();
                // Blocked until the freezer's holder makes room.
                release_rx.recv().unwrap();
                queue_tx.send((b, first, last)).unwrap();
                drop(permit);
            });
            appended_rx.recv().unwrap();
            let mut calls = Vec::new();
            let froze = freezer
                .freeze(true, |freezer, drain| {
                    calls.push(drain);
                    match drain {
                        Drain::Some => {
                            let _ = release_tx.send(());
                        }
                        Drain::All => {
                            for (b, first, last) in queue_rx.try_iter() {
                                freezer.apply(&b, first, last);
                            }
                        }
                    }
                })
                .unwrap();
            assert!(froze);
            assert!(calls.len() >= 2 && calls[..calls.len() - 1].iter().all(|d| *d == Drain::Some));
            assert_eq!(calls.last(), Some(&Drain::All));
        });
        assert_eq!(engine.visible_seq(), 1);
        assert_eq!(engine.view().imm[0].mem.len(), 1);
        assert_eq!(get(&engine, "w").as_deref(), Some("1"));
    }

    /// A write appended but never applied leaves a gap below the WAL's last
    /// sequence number: the freeze refuses, since the frozen memtable would
    /// miss a record of the segments it covers.
    #[test]
    fn a_freeze_refuses_while_an_appended_write_is_unpublished() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        let b = batch("late", "1");
        let (first, last) = {
            let permit = engine.begin_write().unwrap();
            permit.append(&b).unwrap()
        };
        assert!(!freezer.freeze(true, |_, _| {}).unwrap());
        assert_eq!(engine.immutable_count(), 0);
        freezer.apply(&b, first, last);
        assert!(freezer.freeze(true, |_, _| {}).unwrap());
        assert_eq!(engine.view().imm[0].mem.len(), 2);
    }

    #[test]
    fn a_poisoned_engine_does_not_freeze() {
        let (_dir, engine) = open_small();
        let mut freezer = engine.freezer().unwrap();
        put(&engine, "a", "1");
        engine.poison("test".to_string());
        assert!(freezer.freeze(true, |_, _| {}).unwrap_err().is_poisoned());
        assert_eq!(engine.immutable_count(), 0);
    }
}
