//! The write pipeline: the writer's side of the protocol (WAL append, then
//! apply now or enqueue) and the applier thread that drains the queue and
//! freezes full memtables. `docs/async.md` walks through it step by step.
//!
//! # Locks (lock order: top to bottom, as in docs/ARCHITECTURE.md)
//! 1. `Pipeline::core` (`Mutex<Freezer>`): the core lock, guarding the
//!    engine's one `Freezer`. The applier holds it while it drains, across
//!    a freeze and while it waits for the flusher to make room; a writer
//!    that gets it with `try_lock` applies its write inline through it.
//!    A writer that finds the queue full applies under its permit alone
//!    (`WritePermit::apply`), beside the applier, after waiting up to
//!    `apply_lock_timeout` for a slot (by default not at all), until the
//!    memtable is overfull; from there it waits for a slot, which is what
//!    turns a slow flusher into backpressure.
//! 2. The engine's write gate, through a `WritePermit`: held *shared* by a
//!    writer from before its WAL append until its batch is applied or
//!    enqueued; held *exclusive* by the applier's `Freezer::freeze` only.
//!    So once a freeze holds it, every WAL-appended write is applied or in
//!    the queue.
//! 3. `Pipeline::commands_tx` (`Mutex<Option<Sender<Command>>>`): a leaf,
//!    held to send the applier a command, or by the applier to take the
//!    sender away as it stops.
//!
//! The one inversion: writers take `core` while they hold the gate, but
//! only with `try_lock`, never blocking, and `Freezer::freeze` takes the
//! gate only with `try_write_for`, with the applier draining the queue
//! between attempts, so a writer that holds the gate while blocked on a
//! full queue cannot deadlock the applier.
//!
//! # Invariants
//! - WAL order = sequence order = visibility order: the WAL assigns
//!   sequence numbers; memtable inserts may land out of order (a direct
//!   apply can overtake a queued one), but `VisibleSeq` only advances over
//!   contiguous applied ranges, so reads see a prefix of the WAL.
//! - Only the holder of the `Freezer` (the core lock) freezes the active
//!   memtable, so applying under the core lock is safe without the gate;
//!   and a freeze needs the gate exclusively, so applying under a permit
//!   is safe without the core lock. Writers that apply hold their permit.
//! - A queued write's WAL record exists before it is queued, so a crash
//!   loses no acknowledged write: recovery replays the WAL, a superset of
//!   what was applied.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    bounded, select, unbounded, Receiver, SendTimeoutError, Sender, TrySendError,
};
use lsm_core::{SeqNo, WriteBatch};
use lsm_engine::{
    Drain, Engine, Error as StoreError, Freezer, MemtableFill, StallCause, WriteOptions,
    WritePermit,
};
use lsm_wal::SyncMode;
use parking_lot::{Mutex, MutexGuard};

use crate::background::catch_panic;
use crate::error::Result;
use crate::flusher::FlushSignal;

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
    /// Encoded bytes of the batches in the queue: counted before a send
    /// (and taken back if it fails), taken off when the applier applies
    /// one. Relaxed: a bound on memory, nothing is ordered by it.
    queued_bytes: AtomicUsize,
    /// The queue takes a write only while `queued_bytes` is below this
    /// ([`QUEUE_BYTES_FRACTION`] of `memtable_bytes`, at least
    /// [`QUEUE_BYTES_MIN`]); past it, writers apply their writes
    /// themselves, as when the queue is full.
    queue_bytes_max: usize,
    /// Capacity 1: "the memtable may be full", sent by writers that applied.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
    /// The command sender; `None` once the applier stopped taking commands
    /// (see [`Pipeline::stop_taking_commands`]). A leaf lock, held only to
    /// send or to take it.
    commands_tx: Mutex<Option<Sender<Command>>>,
    commands_rx: Receiver<Command>,
    pub(crate) flush: FlushSignal,

    /// The core lock, guarding the engine's freezer; see the module docs.
    core: Mutex<Freezer>,
    /// Set once by `close`; read by writers while they hold the gate.
    closed: AtomicBool,
    /// `last_write_nanos` counts from here.
    epoch: Instant,
    /// When the latest write reached step 4, in nanoseconds since `epoch`
    /// (Relaxed: a hint for `streaming`, nothing is ordered by it).
    last_write_nanos: AtomicU64,
    /// Set while the applier syncs the WAL outside the core lock (before a
    /// freeze or a rotation) or freezes: writers then apply inline (under
    /// the core lock if it is free, else under their permits) instead of
    /// streaming into a queue nobody drains. Relaxed: a hint.
    applier_away: AtomicBool,
    /// Set when a writer waited `apply_lock_timeout` for a queue slot in
    /// vain (the applier is descheduled, or faulting in a fresh arena
    /// chunk while it holds the core lock); cleared when the applier takes
    /// a write from the queue again. While set, a writer that finds the
    /// queue full applies at once instead of waiting again: a trace of a
    /// 1M-put random fill had runs of eight and more puts in a row waiting
    /// the full timeout, 270 us each, while the applier was away. Relaxed:
    /// a hint.
    applier_stalled: AtomicBool,
    /// Set by a writer that found the memtable overfull (an eighth past
    /// its size: its freeze is overdue); while set, writers wait before
    /// they take the write gate until the memtable has room again
    /// ([`Pipeline::wait_for_memtable_room`]), so a freeze can take the
    /// gate. Relaxed: a hint, checked again against the memtable.
    memtable_overfull: AtomicBool,
    /// What applying an operation costs, as recently measured (see
    /// [`ApplyCost`]): streaming pays only where it is dear.
    apply_cost: ApplyCost,
    /// Emptied batches for `put` and `delete` to fill again (see
    /// [`Pipeline::spare_batch`]).
    spare_tx: Sender<WriteBatch>,
    spare_rx: Receiver<WriteBatch>,
}

/// Calls [`Pipeline::stop_taking_commands`] when dropped: when the
/// applier's loop ends, by `Shutdown` or by a panic.
struct StopTakingCommands<'a>(&'a Pipeline);

impl Drop for StopTakingCommands<'_> {
    fn drop(&mut self) {
        self.0.stop_taking_commands();
    }
}

/// Writes closer together than this count as a stream (see
/// `Pipeline::streaming`).
const STREAMING_GAP_NANOS: u64 = 20_000;

/// A wait for a slot in the full apply queue shorter than this is not
/// recorded as a stall (see `Pipeline::apply_or_enqueue`).
const QUEUE_STALL_MIN: Duration = Duration::from_micros(100);

/// The queue holds at most this fraction of `memtable_bytes` of batches
/// (2 MiB for 64 MiB), whatever `apply_queue_max` allows: 4096 slots of
/// large batches would otherwise hold gigabytes. Puts of the bench's 116
/// bytes fill the 4096 slots with about 0.6 MiB.
const QUEUE_BYTES_FRACTION: usize = 32;

/// The least the queue may hold in bytes whatever `memtable_bytes`, so
/// that a small memtable's queue still takes a few writes of a few KiB.
const QUEUE_BYTES_MIN: usize = 64 << 10;

/// How often a writer held back by an overfull memtable looks whether the
/// queue's bytes have dropped below their bound.
const QUEUE_BYTES_POLL: Duration = Duration::from_micros(100);

/// A writer streams to the applier only while applying an operation costs
/// at least this much (see [`ApplyCost`]).
const STREAM_APPLY_MIN_NANOS: u64 = 1_000;

/// One apply in this many (by the batch's first sequence number) is timed.
const APPLY_SAMPLE_EVERY: u64 = 32;

/// A timed apply counts for at most this much: a thread descheduled or
/// faulting in a fresh arena chunk in the middle of one says little about
/// what applying costs, and one such sample must not flip the choice.
const APPLY_SAMPLE_MAX_NANOS: u64 = 4 * STREAM_APPLY_MIN_NANOS;

/// The cost of applying an operation (memtable insert and publish): a
/// moving average (weight 1/8) of every [`APPLY_SAMPLE_EVERY`]th apply, by
/// whichever thread applied. Handing a write to the applier costs the
/// writer a channel send and at times a wake-up; it pays when the insert
/// it takes off the writer costs more. Measured on the development VM
/// (1M puts, the average's median over the run): a fill in key order
/// inserts where the last insert was, 534 ns inline and 704 ns streamed; a
/// random fill misses the cache at every level of the skiplist, 2455 ns
/// inline and 2468 ns streamed. Streaming made the ordered fill slower (3
/// alternating pairs: 411k/388k/460k puts/s streaming, 497k/472k/492k
/// inline) and the random one faster (318k/327k/327k against 233k/273k/
/// 227k). Relaxed: a hint, nothing is ordered by it.
#[derive(Debug)]
struct ApplyCost {
    nanos_per_op: AtomicU64,
}

impl ApplyCost {
    /// Starts at the streaming threshold's double: streaming, as before
    /// anything was measured.
    fn new() -> ApplyCost {
        ApplyCost {
            nanos_per_op: AtomicU64::new(2 * STREAM_APPLY_MIN_NANOS),
        }
    }

    /// Runs `apply` (which applies the batch starting at `first`, of `ops`
    /// operations), timing it if it is a sampled one.
    fn measure<T>(&self, first: SeqNo, ops: u64, apply: impl FnOnce() -> T) -> T {
        if !first.is_multiple_of(APPLY_SAMPLE_EVERY) {
            return apply();
        }
        let started = Instant::now();
        let result = apply();
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.record(nanos / ops.max(1));
        result
    }

    /// Folds one sample into the average (racing samples may lose one).
    fn record(&self, nanos_per_op: u64) {
        let sample = nanos_per_op.min(APPLY_SAMPLE_MAX_NANOS);
        let old = self.nanos_per_op.load(Ordering::Relaxed);
        self.nanos_per_op
            .store(old - old / 8 + sample / 8, Ordering::Relaxed);
    }

    /// True when streaming pays: an operation costs at least
    /// [`STREAM_APPLY_MIN_NANOS`] to apply.
    fn dear(&self) -> bool {
        self.nanos_per_op.load(Ordering::Relaxed) >= STREAM_APPLY_MIN_NANOS
    }
}

thread_local! {
    /// A writer's own spare batch: a writer that applied its write inline
    /// gets the emptied batch back for its next `put` or `delete` without
    /// the spare channel's send and receive (2% of an ordered fill's
    /// samples). A batch left here when a store closes is plain memory,
    /// freed with the thread.
    static OWN_SPARE: Cell<Option<WriteBatch>> = const { Cell::new(None) };
}

/// `batch` emptied for reuse as a spare, or `None` if its encoding was
/// longer than [`SPARE_BATCH_MAX_BYTES`] (a spare holds its allocation).
fn emptied_spare(mut batch: WriteBatch) -> Option<WriteBatch> {
    (batch.encoded_len() <= SPARE_BATCH_MAX_BYTES).then(|| {
        batch.clear();
        batch
    })
}

/// Emptied batches kept for reuse (the count kept when the queue held 256
/// writes): a streaming writer's batches come back from the applier in
/// runs as long as the queue was, and the ones past this many are freed,
/// so that the spares do not hold a full queue's allocations.
const SPARE_BATCHES: usize = 272;

/// Batches whose encoding was longer than this are dropped after use, not
/// kept as spares (a spare holds its allocation).
const SPARE_BATCH_MAX_BYTES: usize = 4096;

impl Pipeline {
    /// The pipeline of `engine`; `None` if its freezer was already taken.
    pub(crate) fn new(engine: Arc<Engine>) -> Option<Pipeline> {
        let freezer = engine.freezer()?;
        let config = engine.config();
        let (queue_tx, queue_rx) = bounded(config.apply_queue_max);
        let (wake_tx, wake_rx) = bounded(1);
        let (commands_tx, commands_rx) = unbounded();
        let (spare_tx, spare_rx) = bounded(SPARE_BATCHES);
        Some(Pipeline {
            lock_timeout: config.apply_lock_timeout,
            drain_limit: config.apply_queue_max,
            queued_bytes: AtomicUsize::new(0),
            queue_bytes_max: (config.memtable_bytes / QUEUE_BYTES_FRACTION).max(QUEUE_BYTES_MIN),
            engine,
            queue_tx,
            queue_rx,
            wake_tx,
            wake_rx,
            commands_tx: Mutex::new(Some(commands_tx)),
            commands_rx,
            flush: FlushSignal::default(),
            core: Mutex::new(freezer),
            closed: AtomicBool::new(false),
            epoch: Instant::now(),
            last_write_nanos: AtomicU64::new(0),
            applier_away: AtomicBool::new(false),
            applier_stalled: AtomicBool::new(false),
            memtable_overfull: AtomicBool::new(false),
            apply_cost: ApplyCost::new(),
            spare_tx,
            spare_rx,
        })
    }

    /// Steps 1-5 of the write protocol. Returns the batch's last sequence
    /// number as soon as the WAL append returned (durable under
    /// `SyncMode::Always`, or with `options.sync == Some(true)`) and the
    /// batch is applied or queued.
    pub(crate) fn write(
        &self,
        batch: Cow<'_, WriteBatch>,
        options: &WriteOptions,
    ) -> Result<SeqNo> {
        // 1. Cheap refusals first.
        batch.check_limits()?;
        // Backpressure, before the gate: a writer that waited holding it
        // would keep the overdue freeze from taking it.
        if self.memtable_overfull.load(Ordering::Relaxed) {
            self.wait_for_memtable_room();
        }
        // The slowdown while L0 is deep (one relaxed load otherwise), also
        // before the gate.
        if let Some(delay) = self.engine.write_delay(batch.encoded_len()) {
            self.sleep_for_slowdown(delay);
        }
        // 2. The gate, shared, until the batch is applied or queued (the
        //    permit refuses a closed or poisoned engine).
        let permit = self.engine.begin_write()?;
        // Checked under the gate: `close` sets the flag, then takes the gate
        // exclusively once, so every write that gets the gate after that
        // sees the flag.
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed.into());
        }
        // 3. WAL append: assigns the sequence numbers; synced per the sync
        //    mode or `options.sync` (group-committed either way).
        let (first, last) = permit.append_with(&batch, options)?;
        // 4. Apply now or enqueue.
        let synced = self.waited_for_sync(options);
        self.apply_or_enqueue(&permit, batch, first, last, synced);
        // 5. Done: visibility follows when the watermark passes `last`.
        drop(permit);
        Ok(last)
    }

    /// True when a write with `options` waited for an fdatasync: it asked
    /// for one, or the store syncs every write (`SyncMode::Always`). Under
    /// `EveryBytes` only some writes wait; they count as not waiting.
    fn waited_for_sync(&self, options: &WriteOptions) -> bool {
        options
            .sync
            .unwrap_or(self.engine.config().wal_sync == SyncMode::Always)
    }

    /// Step 4. The permit (the gate shared) is the proof that no freeze can
    /// start before the batch is applied or queued. `synced`: the write
    /// waited for an fdatasync ([`Pipeline::waited_for_sync`]).
    fn apply_or_enqueue(
        &self,
        permit: &WritePermit<'_>,
        batch: Cow<'_, WriteBatch>,
        first: SeqNo,
        last: SeqNo,
        synced: bool,
    ) {
        // Inline apply, unless writes stream (the applier inserts while this
        // writer appends its next record) or the memtable is an eighth past
        // its limit (a freeze is overdue: queueing lets the bounded queue
        // bound the memtable). A write that waited for an fdatasync never
        // streams and is never queued while the memtable has room: its
        // writer applies it, beside the applier under its permit if the
        // core lock is taken. The write already took a sync's time, so its
        // insert's microseconds do not show, while queueing it wakes the
        // applier, which then takes a core the durable writers need for
        // their next appends as the next sync gathers its group.
        let fill = self.engine.memtable_fill();
        let overfull = fill == MemtableFill::Overfull;
        if overfull {
            // The freeze is overdue: later writers wait for room before
            // they take the gate (`wait_for_memtable_room`), whether or not
            // the queue takes this write.
            self.memtable_overfull.store(true, Ordering::Relaxed);
        }
        if !overfull && (synced || !self.stream_to_applier(fill)) {
            let applied = if let Some(core) = self.core.try_lock() {
                self.apply_and_wake(&core, &batch, first, last);
                true
            } else if synced || self.applier_away.load(Ordering::Relaxed) {
                // A write that waited for a sync (above). Or the applier is
                // freezing (it holds the core lock) or syncing the WAL:
                // nobody drains the queue, and whatever is queued when the
                // freeze takes the gate is applied under it while every
                // writer waits. Apply beside it instead.
                self.apply_with_permit(permit, &batch, first, last);
                true
            } else {
                false
            };
            if applied {
                if let Cow::Owned(batch) = batch {
                    self.keep_own_spare(batch);
                }
                return;
            }
        }
        let item = QueuedWrite {
            batch: batch.into_owned(),
            first,
            last,
        };
        let item = if self.queue_bytes_have_room() {
            let bytes = self.count_queued(&item);
            match self.queue_tx.try_send(item) {
                Ok(()) => return,
                Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => {
                    self.uncount_queued(bytes);
                    item
                }
            }
        } else {
            item
        };
        // A wait for a slot is a stall; applying the write itself is not.
        // A streaming writer that outruns the applier and waits for slots
        // (a nonzero `apply_lock_timeout`) gets one within microseconds:
        // that is the applier's pace, not a stall, so only waits from
        // `QUEUE_STALL_MIN` count.
        let waited = self.apply_or_enqueue_blocking(permit, item);
        if waited >= QUEUE_STALL_MIN {
            self.engine.record_stall(StallCause::ApplyQueueFull, waited);
        }
    }

    /// Step 4 with the queue full: a slot if one frees up within
    /// `apply_lock_timeout` (default zero: no wait); else the writer
    /// applies its write itself under its permit, beside the applier (the
    /// memtable takes concurrent inserts, and the permit holds off a
    /// freeze), and if the memtable is overfull makes later writers wait
    /// for room before the gate. Returns how long the writer waited for a
    /// slot.
    ///
    /// The applier can be away for milliseconds: descheduled on a machine
    /// whose cores also run the flusher, or in a freeze's WAL sync. Waiting
    /// for it (for a slot, or for the core lock it holds) was what the
    /// slowest puts of a traced fill waited for.
    fn apply_or_enqueue_blocking(&self, permit: &WritePermit<'_>, item: QueuedWrite) -> Duration {
        let mut waited = Duration::ZERO;
        let item = if self.lock_timeout.is_zero() || !self.queue_bytes_have_room() {
            // No wait (the default): `try_send` just found the queue full.
            // Or the queue holds its most bytes: a slot would not do.
            item
        } else if self.applier_stalled.load(Ordering::Relaxed) {
            // An earlier writer already waited in vain: the applier has
            // taken nothing since.
            item
        } else {
            let started = Instant::now();
            let bytes = self.count_queued(&item);
            let sent = self.queue_tx.send_timeout(item, self.lock_timeout);
            waited = started.elapsed();
            match sent {
                Ok(()) => return waited,
                Err(SendTimeoutError::Timeout(item) | SendTimeoutError::Disconnected(item)) => {
                    self.uncount_queued(bytes);
                    self.applier_stalled.store(true, Ordering::Relaxed);
                    item
                }
            }
        };
        if self.engine.memtable_fill() == MemtableFill::Overfull {
            // The memtable is an eighth past its size (its freeze is
            // overdue): later writes wait for room before they take the
            // gate (`wait_for_memtable_room`). This one, appended already,
            // is applied now: waiting for a queue slot holding the gate
            // kept the freeze from taking it, and the memtable grew without
            // bound (16 writers of 64 KiB values: 179 MB in a 1 MiB
            // memtable, never frozen in 3 s).
            self.memtable_overfull.store(true, Ordering::Relaxed);
        }
        self.apply_with_permit(permit, &item.batch, item.first, item.last);
        waited
    }

    /// Waits, holding no lock or permit, until the active memtable is no
    /// longer overfull (the applier froze it), the store is closed or
    /// poisoned (the permit then refuses the write), and records the wait
    /// as a stall. Every writer that got past this before the memtable
    /// became overfull adds at most its one write: the memtable stays
    /// within about an eighth past its size, plus one write per writer
    /// thread and what the apply queue holds (`docs/async.md`, step 4).
    fn wait_for_memtable_room(&self) {
        let mut started = None;
        loop {
            if self.engine.memtable_fill() != MemtableFill::Overfull {
                self.memtable_overfull.store(false, Ordering::Relaxed);
                break;
            }
            if self.closed.load(Ordering::Acquire) || self.engine.check_writable().is_err() {
                break;
            }
            started.get_or_insert_with(Instant::now);
            // The applier freezes once it sees the memtable full; a writer
            // applying inline wakes it.
            let _ = self.wake_tx.try_send(());
            std::thread::sleep(QUEUE_BYTES_POLL);
        }
        if let Some(started) = started {
            let waited = started.elapsed();
            if waited >= QUEUE_STALL_MIN {
                self.engine
                    .record_stall(StallCause::MemtableOverfull, waited);
            }
        }
    }

    /// Sleeps out a write's share of the slowdown (`Engine::write_delay`),
    /// holding no lock or permit, and records it as a stall.
    fn sleep_for_slowdown(&self, delay: Duration) {
        let started = Instant::now();
        std::thread::sleep(delay);
        self.engine
            .record_stall(StallCause::L0Slowdown, started.elapsed());
    }

    /// Applies a write under its writer's permit (no core lock: the permit
    /// holds the gate shared, so no freeze can start until it is dropped)
    /// and wakes the applier if the memtable is now full.
    fn apply_with_permit(
        &self,
        permit: &WritePermit<'_>,
        batch: &WriteBatch,
        first: SeqNo,
        last: SeqNo,
    ) {
        debug_assert_eq!(last + 1 - first, u64::from(batch.count()));
        let full = self
            .apply_cost
            .measure(first, last + 1 - first, || permit.apply(batch, first, last));
        self.wake_if_due(full);
    }

    /// True when the writer should hand its batch to the applier instead
    /// of inserting it itself: writes arrive back to back (see
    /// `streaming`), so the WAL appends and the memtable inserts run on two
    /// cores at once; inserts cost more than the hand-off ([`ApplyCost`]);
    /// the memtable has room; the queue is not full (in writes or bytes);
    /// no frozen memtable waits for the flusher. When writes are spaced
    /// out, applying inline makes them visible sooner and costs no thread
    /// hand-off.
    ///
    /// While a flush is due the writer applies inline, so the applier
    /// sleeps and the flusher gets its core: on two cores, writer, applier
    /// and flusher otherwise share them, the flush takes longer and the
    /// next memtable grows meanwhile. Measured (`lsm bench --benchmarks
    /// fillrandom,overwrite --engine lsm-async`, 10 alternating pairs):
    /// peak RSS 89.9-119.0 MiB -> 91.6-101.2 MiB, median overwrite
    /// throughput 328k -> 354k puts/s and p99.9 26.6 -> 24.8 us, fillrandom
    /// throughput and p99.9 unchanged (medians 350k / 353k, 25.0 / 24.8
    /// us).
    fn stream_to_applier(&self, fill: MemtableFill) -> bool {
        // Near a freeze the queue is kept short: everything queued when the
        // freeze takes the write gate is applied under it, while every
        // writer waits.
        // Cheap inserts first: they never stream, and then the clock read
        // `streaming` takes (2% of an ordered fill's samples) is skipped.
        // The poll of `wait_actively` ends on cheap inserts before it looks
        // at the time of the last write, so leaving it stale is harmless.
        self.apply_cost.dear()
            && self.streaming()
            && fill == MemtableFill::Room
            && !self.queue_tx.is_full()
            && self.queue_bytes_have_room()
            && !self.applier_away.load(Ordering::Relaxed)
            && self.engine.immutable_count() == 0
    }

    /// True when writes arrive back to back (this one less than
    /// [`STREAMING_GAP_NANOS`] after the previous one).
    fn streaming(&self) -> bool {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.note_write_at(now)
    }

    /// Records a write at `now` (nanoseconds since `epoch`); true when the
    /// previous one was less than [`STREAMING_GAP_NANOS`] before it. The
    /// first write has no previous one (0), even within the gap of the
    /// pipeline's start.
    fn note_write_at(&self, now: u64) -> bool {
        let previous = self.last_write_nanos.swap(now, Ordering::Relaxed);
        previous != 0 && now.saturating_sub(previous) < STREAMING_GAP_NANOS
    }

    fn apply_and_wake(
        &self,
        core: &MutexGuard<'_, Freezer>,
        batch: &WriteBatch,
        first: SeqNo,
        last: SeqNo,
    ) {
        let full = self.apply(core, batch, first, last);
        self.wake_if_due(full);
    }

    /// Wakes the applier if the memtable is full, after a write that did
    /// not go through the pipeline (a keyspace's creation or drop): the
    /// applier freezes it, as after any write that filled it.
    pub(crate) fn wake_if_memtable_full(&self) {
        self.wake_if_due(self.engine.memtable_full());
    }

    /// Wakes the applier after an inline apply if the memtable is now
    /// `full`, the WAL's rotation is near or the memtable wants memory
    /// faulted in (the applier prepares both; a writer applying inline
    /// would otherwise leave it asleep).
    fn wake_if_due(&self, full: bool) {
        if full || self.engine.wal_rotation_is_near() || self.engine.memtable_wants_memory() {
            // A full wake channel means a wake-up is already pending.
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Inserts and publishes one write; true when the memtable is now full.
    /// The freezer (the core lock) is the proof that the memtable cannot be
    /// frozen underneath.
    fn apply(&self, freezer: &Freezer, batch: &WriteBatch, first: SeqNo, last: SeqNo) -> bool {
        debug_assert_eq!(last + 1 - first, u64::from(batch.count()));
        self.apply_cost.measure(first, last + 1 - first, || {
            freezer.apply(batch, first, last)
        })
    }

    /// Applies a queued write (see [`Pipeline::apply`]) and keeps its batch
    /// as a spare.
    fn apply_queued(&self, freezer: &Freezer, item: QueuedWrite) -> bool {
        self.uncount_queued(item.batch.encoded_len());
        // Read first: the line stays shared with the writers that read it.
        if self.applier_stalled.load(Ordering::Relaxed) {
            self.applier_stalled.store(false, Ordering::Relaxed);
        }
        let full = self.apply(freezer, &item.batch, item.first, item.last);
        self.keep_spare(item.batch);
        full
    }

    /// An empty batch for `put` or `delete`: a spare if one is kept, else a
    /// new one with room for `bytes` of operations. Reusing the applier's
    /// emptied batches takes an allocation off every streamed write, and
    /// a free of memory allocated on another thread off the applier: a
    /// profile of a one-thread fill had malloc and free at 10% of the
    /// writer's and applier's samples.
    pub(crate) fn spare_batch(&self, bytes: usize) -> WriteBatch {
        if let Some(batch) = OWN_SPARE.take() {
            return batch;
        }
        self.spare_rx
            .try_recv()
            .unwrap_or_else(|_| WriteBatch::with_capacity(bytes))
    }

    /// [`Pipeline::keep_spare`] for a batch its own writer applied: kept
    /// in the calling thread's slot ([`OWN_SPARE`]) when that is empty.
    fn keep_own_spare(&self, batch: WriteBatch) {
        let Some(batch) = emptied_spare(batch) else {
            return;
        };
        if let Some(batch) = OWN_SPARE.replace(Some(batch)) {
            // The slot already held one (this thread also writes to
            // another store, or its batch came from the channel while the
            // slot was full): the older one goes to the channel.
            let _ = self.spare_tx.try_send(batch);
        }
    }

    /// Empties `batch` and keeps it for [`Pipeline::spare_batch`], unless
    /// it is large or enough spares are kept.
    fn keep_spare(&self, batch: WriteBatch) {
        if let Some(batch) = emptied_spare(batch) {
            let _ = self.spare_tx.try_send(batch);
        }
    }

    /// True while the queue's batches take fewer than `queue_bytes_max`
    /// bytes.
    fn queue_bytes_have_room(&self) -> bool {
        self.queued_bytes.load(Ordering::Relaxed) < self.queue_bytes_max
    }

    /// Counts `item`'s batch into `queued_bytes` before it is sent (so the
    /// applier never takes off bytes not yet counted); returns its bytes
    /// for [`Pipeline::uncount_queued`] if the send fails.
    fn count_queued(&self, item: &QueuedWrite) -> usize {
        let bytes = item.batch.encoded_len();
        self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        bytes
    }

    /// Takes `bytes` of a batch off `queued_bytes` (applied, or not sent).
    fn uncount_queued(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Applies queued writes until the memtable is full or `limit` were
    /// applied, so that a stream of queued writes is frozen into
    /// memtables of about the configured size.
    fn drain_until_full(&self, core: &Freezer, limit: usize) {
        for _ in 0..limit {
            let Ok(item) = self.queue_rx.try_recv() else {
                break;
            };
            if self.apply_queued(core, item) {
                break;
            }
        }
    }

    /// Applies up to `limit` queued writes; how many it applied.
    fn drain(&self, core: &Freezer, limit: usize) -> usize {
        let mut applied = 0;
        while applied < limit {
            let Ok(item) = self.queue_rx.try_recv() else {
                break;
            };
            self.apply_queued(core, item);
            applied += 1;
        }
        applied
    }

    /// Sends a command to the applier; false once the applier stopped
    /// taking commands (after `Shutdown`, or a panic).
    pub(crate) fn send(&self, command: Command) -> bool {
        match &*self.commands_tx.lock() {
            Some(commands_tx) => commands_tx.send(command).is_ok(),
            None => false,
        }
    }

    /// Takes the command sender away, so that `send` fails from now on,
    /// then answers every command sent before that (a `flush_memtable`
    /// racing `close`) with `Closed` instead of leaving its caller waiting
    /// for a reply nobody sends.
    fn stop_taking_commands(&self) {
        drop(self.commands_tx.lock().take());
        while let Ok(command) = self.commands_rx.try_recv() {
            if let Command::Flush(reply) = command {
                let _ = reply.send(Err(StoreError::Closed.into()));
            }
        }
    }

    /// Stops new writes: sets the flag, then waits for every write already
    /// past the flag check (holding a permit) to be applied or queued.
    pub(crate) fn refuse_writes(&self) {
        self.closed.store(true, Ordering::Release);
        self.engine.wait_for_write_permits();
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
    pub(crate) fn core(&self) -> MutexGuard<'_, Freezer> {
        self.core.lock()
    }

    /// The applier thread's body.
    pub(crate) fn run_applier(&self) {
        // However the loop ends, no command is left waiting for a reply.
        let _stop = StopTakingCommands(self);
        loop {
            // A panic poisons the store (see `background`) and the applier
            // goes on draining the queue, so no writer waits for it in
            // vain. A write it was applying may never publish, which would
            // hold the watermark below every later write: waits on the
            // watermark are released, as at close.
            match catch_panic(&self.engine, "the applier", || Ok(self.apply_step())) {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => {
                    self.applier_away.store(false, Ordering::Relaxed);
                    self.engine.release_visibility_waits();
                }
            }
        }
    }

    /// One turn of the applier's loop: apply queued writes or serve a
    /// command, then freeze or prepare what is due. False after
    /// `Shutdown`.
    fn apply_step(&self) -> bool {
        if let Some(item) = self.wait_actively() {
            self.apply_and_drain(item);
        } else if !self.wait_and_serve() {
            return false;
        }
        if self.engine.memtable_full() && self.engine.check_writable().is_ok() {
            // A failure poisons the engine; writers see it.
            let _ = self.freeze(false);
        } else if self.engine.wal_rotation_is_near() && self.engine.check_writable().is_ok() {
            // The WAL will rotate on a writer's thread when its segment
            // fills: sync it and create the next segment now, so that
            // rotation only syncs a short tail. A failure poisons the
            // engine.
            let _ = self.away(|| self.engine.prepare_freeze());
        } else if self.engine.memtable_wants_memory() && self.engine.check_writable().is_ok() {
            // The memtable's next chunk, faulted in here rather than
            // inside the insert that first needs it (a fresh huge page
            // took 0.5-3.5 ms to touch). Not away: the core lock is
            // free, so writers apply inline, and streaming writers
            // queue until the queue is full before they do.
            self.engine.prepare_memtable_memory();
        }
        true
    }

    /// Runs `work` (a WAL sync, outside the core lock) with
    /// `applier_away` set.
    fn away<T>(&self, work: impl FnOnce() -> T) -> T {
        self.applier_away.store(true, Ordering::Relaxed);
        let result = work();
        self.applier_away.store(false, Ordering::Relaxed);
        result
    }

    /// While writes stream (see [`Pipeline::streaming`]), the next queued
    /// write, polled for without sleeping until the stream pauses: a writer
    /// queueing a write every few microseconds would otherwise wake a
    /// parked applier (a futex wake and a context switch, 8% of the samples
    /// of a profiled one-thread fill) for most of them. `None` once the
    /// stream pauses, a command waits, a writer woke the applier (the
    /// memtable is full, or wants memory prepared, or the WAL's rotation is
    /// near: the caller sees to it) or inserts are cheap (writers then
    /// apply inline and queue nothing: an ordered fill had the applier
    /// spin on a core for the whole fill and see a full memtable only at
    /// the next pause). `None` at once while a frozen memtable waits for
    /// the flusher: polling would take a core from it (the flusher runs at
    /// `background_nice`), the frozen memtable would stay in memory longer
    /// (peak RSS of a 1M-key fill 112-118 MiB → up to 147 MiB in runs that
    /// polled), and the applier sleeping costs no more than it did before
    /// polling.
    fn wait_actively(&self) -> Option<QueuedWrite> {
        if self.engine.immutable_count() > 0 {
            return self.queue_rx.try_recv().ok();
        }
        loop {
            if let Ok(item) = self.queue_rx.try_recv() {
                return Some(item);
            }
            if !self.commands_rx.is_empty() || !self.wake_rx.is_empty() || !self.apply_cost.dear() {
                return None;
            }
            let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let last = self.last_write_nanos.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= STREAMING_GAP_NANOS {
                return None;
            }
            std::hint::spin_loop();
        }
    }

    /// Applies `item` and the writes queued behind it, up to a full
    /// memtable.
    fn apply_and_drain(&self, item: QueuedWrite) {
        let core = self.core.lock();
        if !self.apply_queued(&core, item) {
            self.drain_until_full(&core, self.drain_limit);
        }
    }

    /// Sleeps until a write is queued, a writer wakes the applier or a
    /// command arrives, and serves it; false after `Shutdown` (the queue
    /// applied: the thread exits).
    fn wait_and_serve(&self) -> bool {
        select! {
            recv(self.queue_rx) -> item => {
                if let Ok(item) = item {
                    self.apply_and_drain(item);
                }
            }
            recv(self.wake_rx) -> _ => {}
            recv(self.commands_rx) -> command => match command {
                Ok(Command::Flush(reply)) => {
                    let _ = reply.send(self.freeze(true));
                }
                Ok(Command::Shutdown) | Err(_) => {
                    // Stops even if the last drain panics (which poisons
                    // the store): `close` sends `Shutdown` once.
                    let _ = catch_panic(&self.engine, "the applier", || {
                        let core = self.core.lock();
                        while self.drain(&core, usize::MAX) > 0 {}
                        Ok(())
                    });
                    return false;
                }
            },
        }
        true
    }

    /// Freezes the active memtable (if `force`, or if it is full) and
    /// requests a flush; the flush generation. See `docs/async.md`,
    /// "Freezing".
    fn freeze(&self, force: bool) -> Result<u64> {
        // a'. The WAL sync (up to a memtable's worth of unsynced bytes under
        //    `SyncMode::Never`) and the next segment's creation, before the
        //    core lock: writers keep applying inline meanwhile instead of
        //    filling the queue and blocking on it. The freezer repeats both
        //    under the core lock, for the short tail appended since.
        self.away(|| self.engine.prepare_freeze())?;
        // a. Room: wait (holding `core`, so writers queue and then block)
        //    while too many frozen memtables wait for the flusher.
        let mut core = self.core.lock();
        self.drain(&core, self.drain_limit);
        if let Some(waited) = self.flush.wait_for_room(&self.engine) {
            self.engine.record_stall(StallCause::FlushBacklog, waited);
        }
        if let Some(reason) = self.flush.failure() {
            return Err(StoreError::Poisoned { reason }.into());
        }
        // b-d. The freezer syncs the WAL and creates the next segment
        //    outside the gate, takes the gate exclusively (draining between
        //    attempts, so that a writer blocked on a full queue while
        //    holding its permit can finish), has every queued write
        //    applied, and freezes.
        //    Away meanwhile: writers apply under their permits instead of
        //    queueing, so the queue drains instead of filling (a traced 1M-put
        //    fill had the freezer take 3-4 ms to get the gate, draining a
        //    queue writers refilled, then apply 256 writes under it).
        let drain_limit = self.drain_limit;
        self.away(|| {
            core.freeze(force, |freezer, drain| match drain {
                Drain::Some => {
                    self.drain(freezer, drain_limit);
                }
                Drain::All => while self.drain(freezer, usize::MAX) > 0 {},
            })
        })?;
        drop(core);
        // e. Hand the frozen memtable to the flusher.
        Ok(self.flush.request())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lsm_engine::LsmConfig;

    use super::*;

    #[test]
    fn spare_batches_come_back_empty_and_large_ones_are_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(engine).unwrap();
        let mut used = WriteBatch::new();
        used.put(b"key", b"value").delete(b"other");
        pipeline.keep_spare(used);
        let spare = pipeline.spare_batch(10);
        assert!(spare.is_empty(), "a spare holds no operations");
        assert_eq!(spare.encoded_len(), WriteBatch::new().encoded_len());
        assert!(pipeline.spare_rx.is_empty(), "the one spare was taken");

        let mut large = WriteBatch::new();
        large.put(b"key", vec![0u8; SPARE_BATCH_MAX_BYTES]);
        pipeline.keep_spare(large);
        assert!(pipeline.spare_rx.is_empty(), "a large batch is dropped");

        for _ in 0..SPARE_BATCHES + 5 {
            pipeline.keep_spare(WriteBatch::new());
        }
        assert_eq!(pipeline.spare_rx.len(), SPARE_BATCHES, "spares are bounded");
    }

    #[test]
    fn a_writer_gets_its_own_applied_batch_back_without_the_channel() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(engine).unwrap();
        let mut mine = WriteBatch::with_capacity(1000);
        mine.put(b"key", b"value");
        let allocation = mine.encoded().as_ptr();
        pipeline.keep_own_spare(mine);
        assert!(pipeline.spare_rx.is_empty(), "kept in the thread's slot");

        // A second one while the slot is full: the older goes to the channel.
        let mut second = WriteBatch::new();
        second.delete(b"key");
        pipeline.keep_own_spare(second);
        assert_eq!(pipeline.spare_rx.len(), 1);

        let spare = pipeline.spare_batch(10);
        assert!(spare.is_empty(), "a spare holds no operations");
        assert_eq!(pipeline.spare_rx.len(), 1, "the thread's slot came first");
        let from_channel = pipeline.spare_batch(10);
        assert!(from_channel.is_empty());
        assert!(pipeline.spare_rx.is_empty());
        assert_eq!(
            from_channel.encoded().as_ptr(),
            allocation,
            "the first batch, displaced from the slot, was reused through the channel"
        );

        let mut large = WriteBatch::new();
        large.put(b"key", vec![0u8; SPARE_BATCH_MAX_BYTES]);
        pipeline.keep_own_spare(large);
        assert!(pipeline.spare_rx.is_empty());
        assert!(
            OWN_SPARE.take().is_none(),
            "a large batch is dropped, not kept in the slot"
        );
    }

    /// While the applier is away (freezing with the core lock held, or
    /// syncing the WAL), a write that cannot take the core lock is applied
    /// under its permit, not queued for an applier that drains nothing.
    #[test]
    fn a_write_while_the_applier_is_away_applies_under_its_permit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(Arc::clone(&engine)).unwrap();
        let core = pipeline.core();
        let first = write_put(&pipeline, b"k1");
        assert_eq!(pipeline.queued(), 1, "present applier, lock held: queued");
        assert_eq!(engine.stats().unwrap().memtable_bytes, 0);
        pipeline.applier_away.store(true, Ordering::Relaxed);
        let second = write_put(&pipeline, b"k2");
        assert_eq!(pipeline.queued(), 1, "applier away: not queued");
        assert!(
            engine.stats().unwrap().memtable_bytes > 0,
            "applied beside the held lock"
        );
        // Visible once the queued first write is applied too.
        pipeline.drain(&core, usize::MAX);
        drop(core);
        assert!(second > first);
        assert!(engine.wait_visible(second, Duration::from_secs(10)));
    }

    /// A write that leaves the memtable without memory prepared ahead wakes
    /// the applier, which prepares it (off the writer's thread).
    #[test]
    fn the_applier_prepares_the_memory_an_inline_write_took() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Arc::new(Pipeline::new(Arc::clone(&engine)).unwrap());
        write_put(&pipeline, b"k");
        assert_eq!(pipeline.queued(), 0, "applied inline");
        assert!(engine.memtable_wants_memory());
        assert!(!pipeline.wake_rx.is_empty(), "the write woke the applier");
        // Only the applier clears the flag now.
        let applier = {
            let pipeline = Arc::clone(&pipeline);
            std::thread::spawn(move || pipeline.run_applier())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine.memtable_wants_memory() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            !engine.memtable_wants_memory(),
            "the applier prepared the memtable's next memory"
        );
        assert!(pipeline.send(Command::Shutdown));
        applier.join().unwrap();
    }

    /// A `Flush` sent after `Shutdown` (a `flush_memtable` racing `close`)
    /// is answered with `Closed` as the applier stops, and a command sent
    /// after that is refused: nobody waits for a reply that never comes.
    #[test]
    fn commands_left_when_the_applier_stops_are_answered_closed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(Arc::clone(&engine)).unwrap();
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        assert!(pipeline.send(Command::Shutdown));
        assert!(pipeline.send(Command::Flush(reply_tx)));
        pipeline.run_applier(); // takes Shutdown and returns
        let reply = reply_rx
            .try_recv()
            .expect("answered as the applier stopped");
        assert!(reply.unwrap_err().is_closed());
        let (late_tx, late_rx) = crossbeam_channel::bounded(1);
        assert!(
            !pipeline.send(Command::Flush(late_tx)),
            "refused after the stop"
        );
        assert!(late_rx.try_recv().is_err());
    }

    /// A panic in the applier's work (here a queued write whose sequence
    /// numbers do not match its batch, which trips a debug assertion)
    /// poisons the store and releases waits on the watermark; the applier
    /// lives on, applies the next queued write and still stops on
    /// `Shutdown`.
    #[cfg(debug_assertions)]
    #[test]
    fn a_panic_in_the_applier_poisons_the_store_and_the_applier_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(Arc::clone(&engine)).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(b"bad", b"v");
        pipeline
            .queue_tx
            .try_send(QueuedWrite {
                batch,
                first: 5,
                last: 1,
            })
            .unwrap();
        let mut batch = WriteBatch::new();
        batch.put(b"good", b"v");
        pipeline
            .queue_tx
            .try_send(QueuedWrite {
                batch,
                first: 1,
                last: 1,
            })
            .unwrap();
        assert!(pipeline.send(Command::Shutdown));
        pipeline.run_applier(); // the panic is caught; Shutdown ends it
        let err = engine.check_writable().unwrap_err();
        assert!(err.is_poisoned(), "{err}");
        assert!(err.to_string().contains("the applier panicked"), "{err}");
        assert!(pipeline.queue_rx.is_empty(), "the applier went on draining");
        assert_eq!(engine.visible_seq(), 1, "the write after the panic applied");
        // Released: a wait for a write that will never publish returns.
        assert!(!engine.wait_visible(9, Duration::MAX));
    }

    /// A write that finds the memtable overfull makes later writers wait
    /// for room, even when the queue takes it. Found by a flaky
    /// `memory_bounds` run: overfull writes the queue took set nothing,
    /// the applier drained them between its attempts to take the gate
    /// for the freeze, and 8 writers of 100 B values grew a 1 MiB
    /// memtable to 1.7 MB (in 40 runs each, 5 past 1.3 MB before, none after).
    #[test]
    fn an_overfull_write_the_queue_takes_still_holds_later_writers_back() {
        let dir = tempfile::tempdir().unwrap();
        let config = LsmConfig::builder(dir.path())
            .memtable_bytes(64 << 10)
            .build()
            .unwrap();
        let engine = Arc::new(Engine::open(config).unwrap());
        let pipeline = Pipeline::new(Arc::clone(&engine)).unwrap();
        // Filled inline (a write that waits for a sync is never queued
        // while the memtable has room) until the freeze is overdue; no
        // applier runs, so nothing freezes it.
        let mut batch = WriteBatch::new();
        batch.put(b"fill", vec![7u8; 4 << 10]);
        while engine.memtable_fill() != MemtableFill::Overfull {
            pipeline
                .write(Cow::Borrowed(&batch), &WriteOptions::SYNC)
                .unwrap();
        }
        assert_eq!(pipeline.queued(), 0, "the fill was applied inline");
        assert!(!pipeline.memtable_overfull.load(Ordering::Relaxed));

        write_put(&pipeline, b"late");
        assert_eq!(pipeline.queued(), 1, "the queue had room and took it");
        assert!(
            pipeline.memtable_overfull.load(Ordering::Relaxed),
            "later writers must wait for room before they take the gate"
        );
    }

    /// Writes `key -> "v"` through the pipeline, as `put` does, without
    /// waiting for a sync (a write that waits is never queued, and these
    /// tests' engines sync every write by default); its sequence number.
    fn write_put(pipeline: &Pipeline, key: &[u8]) -> SeqNo {
        let mut batch = WriteBatch::new();
        batch.put(key, b"v");
        pipeline
            .write(Cow::Borrowed(&batch), &WriteOptions::NO_SYNC)
            .unwrap()
    }

    /// Queues a one-put write with sequence number 1, as a streaming
    /// writer would.
    fn queue_one_put(pipeline: &Pipeline) {
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        pipeline
            .queue_tx
            .try_send(QueuedWrite {
                batch,
                first: 1,
                last: 1,
            })
            .unwrap();
    }

    #[test]
    fn the_applier_polls_only_while_writes_stream_and_no_command_waits() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(engine).unwrap();
        // No write for longer than the gap: no polling.
        pipeline.last_write_nanos.store(0, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(STREAMING_GAP_NANOS / 1000 + 1));
        assert!(pipeline.wait_actively().is_none());
        // A queued write is taken at once.
        queue_one_put(&pipeline);
        let item = pipeline.wait_actively().expect("the queued write");
        assert_eq!((item.first, item.last), (1, 1));
        // A waiting command ends the poll even while writes stream (a
        // last write stamped in the future keeps the stream going) and
        // inserts are dear.
        pipeline.last_write_nanos.store(u64::MAX, Ordering::Relaxed);
        pipeline.apply_cost.record(APPLY_SAMPLE_MAX_NANOS);
        assert!(pipeline.apply_cost.dear());
        assert!(pipeline.send(Command::Shutdown));
        assert!(pipeline.wait_actively().is_none());
    }

    /// A pending wake-up, or cheap inserts (writers apply inline then),
    /// end the poll even while writes stream; with neither, a write that
    /// arrives while it polls is taken.
    #[test]
    fn a_wake_up_or_cheap_inserts_end_the_poll() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Arc::new(Pipeline::new(engine).unwrap());
        pipeline.last_write_nanos.store(u64::MAX, Ordering::Relaxed);
        for _ in 0..64 {
            pipeline.apply_cost.record(APPLY_SAMPLE_MAX_NANOS);
        }
        assert!(pipeline.apply_cost.dear());
        pipeline.wake_tx.try_send(()).unwrap();
        assert!(pipeline.wait_actively().is_none(), "a wake-up ends it");
        pipeline.wake_rx.try_recv().unwrap();

        // Dear inserts, no wake-up: it polls until a write comes.
        let writer = {
            let pipeline = Arc::clone(&pipeline);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                queue_one_put(&pipeline);
            })
        };
        let item = pipeline
            .wait_actively()
            .expect("polled until the write came");
        assert_eq!((item.first, item.last), (1, 1));
        writer.join().unwrap();

        for _ in 0..64 {
            pipeline.apply_cost.record(0);
        }
        assert!(!pipeline.apply_cost.dear());
        assert!(pipeline.wait_actively().is_none(), "cheap inserts end it");
    }

    #[test]
    fn the_applier_sleeps_while_a_frozen_memtable_waits_for_the_flusher() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(Arc::clone(&engine)).unwrap();
        let mut batch = WriteBatch::new();
        batch.put(b"k", b"v");
        engine.write(&batch).unwrap();
        assert!(pipeline.core().freeze(true, |_, _| {}).unwrap());
        assert_eq!(engine.immutable_count(), 1);
        // Writes stream (a last write stamped in the future) and no command
        // waits: only the frozen memtable ends the poll.
        pipeline.last_write_nanos.store(u64::MAX, Ordering::Relaxed);
        assert!(pipeline.wait_actively().is_none());
    }

    /// A streaming writer with dear inserts queues its write, unless a
    /// frozen memtable waits for the flusher: then it applies it itself,
    /// so the applier sleeps and leaves its core to the flusher.
    #[test]
    fn a_streaming_write_applies_inline_while_a_flush_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(Arc::clone(&engine)).unwrap();
        for _ in 0..64 {
            pipeline.apply_cost.record(APPLY_SAMPLE_MAX_NANOS);
        }
        assert!(pipeline.apply_cost.dear());
        // A last write stamped in the future: the next one streams.
        pipeline.last_write_nanos.store(u64::MAX, Ordering::Relaxed);
        let queued = write_put(&pipeline, b"k1");
        assert_eq!(pipeline.queued(), 1, "streamed to the applier");
        {
            let mut core = pipeline.core();
            assert_eq!(pipeline.drain(&core, usize::MAX), 1);
            assert!(core.freeze(true, |_, _| {}).unwrap());
        }
        assert_eq!(engine.immutable_count(), 1);
        pipeline.last_write_nanos.store(u64::MAX, Ordering::Relaxed);
        let inline = write_put(&pipeline, b"k2");
        assert_eq!(pipeline.queued(), 0, "applied by the writer");
        assert!(inline > queued);
        assert!(
            engine.wait_visible(inline, Duration::from_secs(10)),
            "visible without an applier"
        );
    }

    /// The rule on explicit times (a test of `streaming` with the clock
    /// could be descheduled between two calls and see a gap).
    #[test]
    fn apply_cost_follows_what_it_measures_and_one_outlier_does_not_flip_it() {
        let cost = ApplyCost::new();
        assert!(cost.dear(), "streams until something was measured");
        for _ in 0..40 {
            cost.record(300);
        }
        assert!(!cost.dear(), "cheap inserts: apply inline");
        cost.record(u64::MAX);
        assert!(!cost.dear(), "one descheduled sample is clamped");
        for _ in 0..40 {
            cost.record(2_500);
        }
        assert!(cost.dear(), "dear inserts: stream");
    }

    #[test]
    fn apply_cost_runs_the_apply_once_whether_or_not_it_times_it() {
        let cost = ApplyCost::new();
        for first in [APPLY_SAMPLE_EVERY, APPLY_SAMPLE_EVERY + 1] {
            let mut runs = 0;
            let result = cost.measure(first, 1, || {
                runs += 1;
                first
            });
            assert_eq!((runs, result), (1, first));
        }
    }

    #[test]
    fn writes_closer_than_the_gap_stream_and_spaced_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(LsmConfig::new(dir.path())).unwrap());
        let pipeline = Pipeline::new(engine).unwrap();
        assert!(
            !pipeline.note_write_at(1_000),
            "the first write, 1 µs after the start, has no previous one"
        );
        let ms = 1_000_000;
        assert!(!pipeline.note_write_at(ms), "the first write after a pause");
        assert!(
            pipeline.note_write_at(ms + 5_000),
            "5 µs after the previous one"
        );
        assert!(pipeline.note_write_at(ms + 5_000 + STREAMING_GAP_NANOS - 1));
        assert!(
            !pipeline.note_write_at(ms + 5_000 + 2 * STREAMING_GAP_NANOS - 1),
            "exactly the gap after the previous one"
        );
        assert!(
            !pipeline.note_write_at(2 * ms),
            "far after the previous one"
        );
        // The clock-reading form: a pause of a millisecond is always seen.
        pipeline.streaming();
        std::thread::sleep(Duration::from_millis(1));
        assert!(
            !pipeline.streaming(),
            "a millisecond after the previous write"
        );
    }
}
