//! The write pipeline: the writer's side of the protocol (WAL append, then
//! apply now or enqueue) and the applier thread that drains the queue and
//! freezes full memtables. `docs/async.md` walks through it step by step.
//!
//! # Locks (lock order: top to bottom)
//! 1. `Engine::write_gate` (RwLock): held *shared* by a writer from before
//!    its WAL append until its batch is applied or enqueued; held
//!    *exclusive* by the applier only to freeze. So once the applier holds
//!    it, every WAL-appended write is applied or in the queue.
//! 2. `Pipeline::core` (Mutex<()>): the core lock. Whoever applies to the
//!    memtable holds it: a writer that got it with `try_lock` (or
//!    `try_lock_for` when the queue is full) or the applier draining. The
//!    applier also holds it across a freeze and while it waits for the
//!    flusher to make room, which is what turns a slow flusher into
//!    backpressure.
//!
//! Writers take `core` only with `try_lock`/`try_lock_for`, never blocking,
//! and the applier takes the gate only with `try_write_for` and drains the
//! queue between attempts, so a writer that holds the gate while blocked on
//! a full queue cannot deadlock the applier.
//!
//! # Invariants
//! - WAL order = sequence order = visibility order: the WAL assigns
//!   sequence numbers; memtable inserts may land out of order (a direct
//!   apply can overtake a queued one), but `VisibleSeq` only advances over
//!   contiguous applied ranges, so reads see a prefix of the WAL.
//! - Only the applier thread freezes the active memtable (or `close`, after
//!   the applier has exited). `Engine::apply_to_memtable` REQUIRES the gate
//!   or that the memtable cannot be frozen underneath: writers hold the
//!   gate; the applier applies only between its own freezes.
//! - A queued write's WAL record exists before it is queued, so a crash
//!   loses no acknowledged write: recovery replays the WAL, a superset of
//!   what was applied.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender, TrySendError};
use lsm_core::{SeqNo, WriteBatch};
use lsm_store_sync::{Engine, Error as StoreError};
use parking_lot::{Mutex, MutexGuard, RwLockWriteGuard};

use crate::error::Result;
use crate::flusher::FlushSignal;

/// The first wait for the write gate when freezing; it doubles up to
/// [`GATE_WAIT_MAX`] between queue drains.
const GATE_WAIT_START: Duration = Duration::from_millis(1);
const GATE_WAIT_MAX: Duration = Duration::from_millis(32);

/// A write whose WAL record is appended and which waits to be applied.
#[derive(Debug)]
pub(crate) struct QueuedWrite {
    batch: WriteBatch,
    first: SeqNo,
    last: SeqNo,
}

/// Requests to the applier thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Freeze the active memtable now and request a flush; replies with
    /// the flush generation to wait for.
    Flush(Sender<Result<u64>>),
    /// Apply everything queued and exit.
    Shutdown,
}

/// The write path's shared state.
#[derive(Debug)]
pub(crate) struct Pipeline {
    // Immutable after open.
    pub(crate) engine: Arc<Engine>,
    lock_timeout: Duration,
    drain_limit: usize,
    queue_tx: Sender<QueuedWrite>,
    queue_rx: Receiver<QueuedWrite>,
    /// Capacity 1: "the memtable may be full", sent by writers that applied.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    commands_tx: Sender<Command>,
    commands_rx: Receiver<Command>,
    pub(crate) flush: FlushSignal,

    /// The core lock; see the module docs.
    core: Mutex<()>,
    /// Set once by `close`; read by writers while they hold the gate.
    closed: AtomicBool,
}

impl Pipeline {
    pub(crate) fn new(engine: Arc<Engine>) -> Pipeline {
        let config = engine.config();
        let (queue_tx, queue_rx) = bounded(config.apply_queue_max);
        let (wake_tx, wake_rx) = bounded(1);
        let (commands_tx, commands_rx) = unbounded();
        Pipeline {
            lock_timeout: config.apply_lock_timeout,
            drain_limit: config.apply_queue_max,
            engine,
            queue_tx,
            queue_rx,
            wake_tx,
            wake_rx,
            commands_tx,
            commands_rx,
            flush: FlushSignal::default(),
            core: Mutex::new(()),
            closed: AtomicBool::new(false),
        }
    }

    /// Steps 1-5 of the write protocol. Returns the batch's last sequence
    /// number as soon as the WAL append returned (durable under
    /// `SyncMode::Always`) and the batch is applied or queued.
    pub(crate) fn write(&self, batch: Cow<'_, WriteBatch>) -> Result<SeqNo> {
        // 1. Cheap refusals first.
        self.engine.check_writable()?;
        batch.check_limits()?;
        // 2. The gate, shared, until the batch is applied or queued.
        let gate = self.engine.write_gate().read();
        // Checked under the gate: `close` sets the flag, then takes the gate
        // exclusively once, so every write that gets the gate after that
        // sees the flag.
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed.into());
        }
        // 3. WAL append: assigns the sequence numbers.
        let last = self.engine.wal().append(&batch).map_err(StoreError::from)?;
        let first = last + 1 - u64::from(batch.count());
        // 4. Apply now or enqueue.
        self.apply_or_enqueue(batch, first, last);
        // 5. Done: visibility follows when the watermark passes `last`.
        drop(gate);
        Ok(last)
    }

    /// Step 4. REQUIRES: the caller holds the write gate shared.
    fn apply_or_enqueue(&self, batch: Cow<'_, WriteBatch>, first: SeqNo, last: SeqNo) {
        if let Some(core) = self.core.try_lock() {
            self.apply_and_wake(&core, &batch, first, last);
            return;
        }
        let item = QueuedWrite {
            batch: batch.into_owned(),
            first,
            last,
        };
        let item = match self.queue_tx.try_send(item) {
            Ok(()) => return,
            Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => item,
        };
        if let Some(core) = self.core.try_lock_for(self.lock_timeout) {
            self.apply_and_wake(&core, &item.batch, item.first, item.last);
            return;
        }
        // Backpressure: wait for the applier to make room. Keeps order in
        // the queue; the watermark keeps visibility in WAL order anyway.
        if let Err(err) = self.queue_tx.send(item) {
            // Unreachable (the pipeline owns the receiver); apply inline
            // rather than lose an acknowledged write.
            let item = err.into_inner();
            let core = self.core.lock();
            self.apply(&core, &item.batch, item.first, item.last);
        }
    }

    fn apply_and_wake(
        &self,
        core: &MutexGuard<'_, ()>,
        batch: &WriteBatch,
        first: SeqNo,
        last: SeqNo,
    ) {
        if self.apply(core, batch, first, last) {
            // A full wake channel means a wake-up is already pending.
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Inserts and publishes one write; true when the memtable is now full.
    /// REQUIRES: `core` held (the guard is the proof), and the memtable
    /// cannot be frozen underneath (see the module invariants).
    fn apply(
        &self,
        _core: &MutexGuard<'_, ()>,
        batch: &WriteBatch,
        first: SeqNo,
        last: SeqNo,
    ) -> bool {
        debug_assert_eq!(last + 1 - first, u64::from(batch.count()));
        let full = self.engine.apply_to_memtable(batch, first);
        self.engine.visible().publish(first, last);
        full
    }

    /// Applies up to `limit` queued writes; how many it applied.
    fn drain(&self, core: &MutexGuard<'_, ()>, limit: usize) -> usize {
        let mut applied = 0;
        while applied < limit {
            let Ok(item) = self.queue_rx.try_recv() else {
                break;
            };
            self.apply(core, &item.batch, item.first, item.last);
            applied += 1;
        }
        applied
    }

    /// Sends a command to the applier.
    pub(crate) fn send(&self, command: Command) -> bool {
        self.commands_tx.send(command).is_ok()
    }

    /// Stops new writes: sets the flag, then waits (by taking the gate
    /// exclusively once) for every write already past the flag check to be
    /// applied or queued.
    pub(crate) fn refuse_writes(&self) {
        self.closed.store(true, Ordering::Release);
        drop(self.engine.write_gate().write());
    }

    /// True once `refuse_writes` ran.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Number of writes waiting in the apply queue.
    pub(crate) fn queued(&self) -> usize {
        self.queue_rx.len()
    }

    /// The test hook's lock.
    #[cfg(any(test, feature = "test-hooks"))]
    pub(crate) fn core(&self) -> MutexGuard<'_, ()> {
        self.core.lock()
    }

    /// The applier thread's body.
    pub(crate) fn run_applier(&self) {
        loop {
            select! {
                recv(self.queue_rx) -> item => {
                    if let Ok(item) = item {
                        let core = self.core.lock();
                        self.apply(&core, &item.batch, item.first, item.last);
                        self.drain(&core, self.drain_limit);
                    }
                }
                recv(self.wake_rx) -> _ => {}
                recv(self.commands_rx) -> command => match command {
                    Ok(Command::Flush(reply)) => {
                        let _ = reply.send(self.freeze(true));
                    }
                    Ok(Command::Shutdown) | Err(_) => {
                        let core = self.core.lock();
                        while self.drain(&core, usize::MAX) > 0 {}
                        return;
                    }
                },
            }
            if self.engine.memtable_full() && self.engine.check_writable().is_ok() {
                // A failure poisons the engine; writers see it.
                let _ = self.freeze(false);
            }
        }
    }

    /// Freezes the active memtable (if `force`, or if it is full) and
    /// requests a flush; the flush generation. See `docs/async.md`,
    /// "Freezing".
    fn freeze(&self, force: bool) -> Result<u64> {
        // a. Room: wait (holding `core`, so writers queue and then block)
        //    while too many frozen memtables wait for the flusher.
        {
            let core = self.core.lock();
            self.drain(&core, self.drain_limit);
            self.flush.wait_for_room(&self.engine);
        }
        if let Some(reason) = self.flush.failure() {
            return Err(StoreError::Poisoned { reason }.into());
        }
        // a'. Sync the WAL now, outside the gate: the rotation in step d
        //     fdatasyncs the old segment under the gate, and this leaves it
        //     only the tail appended since, instead of up to a memtable's
        //     worth of dirty pages (under `SyncMode::Never`).
        self.engine.wal().sync().map_err(StoreError::from)?;
        //     Likewise create the next segment now (file, header, directory
        //     fsync), so the rotation under the gate does not.
        self.engine
            .wal()
            .prepare_next_segment()
            .map_err(StoreError::from)?;
        // b. The gate, exclusively, draining between attempts so that a
        //    writer blocked on a full queue (holding the gate shared) can
        //    finish.
        let gate = self.lock_gate_exclusive();
        // c. Nothing new can be appended now: apply every queued write,
        //    so the WAL's last sequence number is published.
        let core = self.core.lock();
        while self.drain(&core, usize::MAX) > 0 {}
        // The watermark now equals the WAL's last sequence number, unless
        // an append took sequence numbers and then failed, which poisons
        // the WAL: then do not freeze (the rotation would fail anyway).
        let all_published = self.engine.visible().get() == self.engine.wal().last_seq();
        // d. Freeze (rotates the WAL segment) and release both locks.
        let frozen = if all_published && (force || self.engine.memtable_full()) {
            self.engine.freeze_memtable_with_gate(&gate)
        } else {
            Ok(false)
        };
        drop(core);
        drop(gate);
        frozen?;
        // e. Hand the frozen memtable to the flusher.
        Ok(self.flush.request())
    }

    fn lock_gate_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        let mut wait = GATE_WAIT_START;
        loop {
            if let Some(gate) = self.engine.write_gate().try_write_for(wait) {
                return gate;
            }
            if !self.queue_rx.is_empty() {
                let core = self.core.lock();
                self.drain(&core, self.drain_limit);
            }
            wait = (wait * 2).min(GATE_WAIT_MAX);
        }
    }
}
