//! The flusher: a thread that turns frozen memtables into L0 tables, so
//! neither writers nor the applier ever wait for table I/O, and then asks
//! the compaction coordinator for any compaction the picker wants.
//!
//! The applier *requests* a flush after every freeze (a generation number);
//! the flusher flushes the memtables frozen by then, oldest first, then
//! marks that generation done, and after every flushed memtable schedules
//! any compaction the picker wants. `AsyncLsmStore::flush_memtable` waits
//! for its generation. Under a steady write load the flusher never runs
//! out of frozen memtables; neither a generation nor compaction waits for
//! it to.
//!
//! Memory bound: the applier does not freeze again while
//! [`MAX_IMMUTABLE_MEMTABLES`] frozen memtables wait (`wait_for_room`).
//! That wait is the store's one stall on flush progress, and it is
//! backpressure: it ends as soon as the flusher finishes one table. The
//! flusher in turn waits for compaction before each flush while L0 holds
//! [`L0_STOP_FACTOR`] x `l0_trigger` tables, so L0 stays bounded however
//! far compaction lags; from `L0_SLOWDOWN_FACTOR` x `l0_trigger` tables on
//! writers are slowed first (the engine's `slowdown` module). (Writers
//! also wait out each freeze's short exclusive hold of the write gate: the
//! WAL rotation's fdatasync of the old segment's tail.)
//!
//! A failed flush is recorded in `FlushState::failed` (the engine has
//! already poisoned itself, so writes are refused); the flusher then stops
//! flushing, and every waiter is released with the failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_engine::Engine;
use parking_lot::{Condvar, Mutex};

use crate::background::catch_panic;
use crate::coordinator::Coordinator;

/// Frozen memtables allowed to wait for the flusher before the applier
/// stops freezing (and so, once its queue fills, writers block).
pub const MAX_IMMUTABLE_MEMTABLES: usize = 2;

/// L0 tables, as a multiple of `LsmConfig::l0_trigger`, at which the
/// flusher waits for compaction before it flushes another memtable (so,
/// once the frozen-memtable slots fill, writers wait too): L0 holds at
/// most this many tables plus one memtable's, however far compaction lags.
/// With the default trigger of 4: 32 tables (RocksDB stops writes at 36).
pub const L0_STOP_FACTOR: usize = 8;

// Writes are slowed before they are stopped.
const _: () = assert!(lsm_engine::L0_SLOWDOWN_FACTOR < L0_STOP_FACTOR);

/// Why [`FlushSignal::wait_done`] returned before its generation was done.
#[derive(Debug)]
pub(crate) enum FlushWaitError {
    /// A flush failed with this error (the engine is poisoned).
    Failed(Arc<lsm_engine::Error>),
    /// The store closed first (the frozen memtables left are in the WAL).
    Stopped,
}

/// Guarded by `FlushSignal::state`.
#[derive(Debug, Default)]
struct FlushState {
    /// Flush generation last requested by the applier.
    requested: u64,
    /// Every frozen memtable that existed when `done` was requested is
    /// flushed.
    done: u64,
    /// The first flush failure; no flush runs after it.
    failed: Option<Arc<lsm_engine::Error>>,
    /// Set by close: the flusher exits (unflushed memtables stay in the
    /// WAL and are replayed on reopen).
    stop: bool,
}

/// The applier/flusher hand-off and the flusher's progress.
#[derive(Debug, Default)]
pub(crate) struct FlushSignal {
    state: Mutex<FlushState>,
    /// Notified on every request, every flushed table, every generation
    /// done, a failure and stop.
    changed: Condvar,
}

impl FlushSignal {
    /// Asks for every frozen memtable to be flushed; the generation to wait
    /// for.
    pub(crate) fn request(&self) -> u64 {
        let mut state = self.state.lock();
        state.requested += 1;
        let generation = state.requested;
        drop(state);
        self.changed.notify_all();
        generation
    }

    /// Waits until `generation` is flushed; the failure if a flush failed,
    /// `Stopped` if the store closed first.
    pub(crate) fn wait_done(&self, generation: u64) -> Result<(), FlushWaitError> {
        let mut state = self.state.lock();
        loop {
            if let Some(cause) = &state.failed {
                return Err(FlushWaitError::Failed(Arc::clone(cause)));
            }
            if state.done >= generation {
                return Ok(());
            }
            if state.stop {
                return Err(FlushWaitError::Stopped);
            }
            self.changed.wait(&mut state);
        }
    }

    /// Blocks while `MAX_IMMUTABLE_MEMTABLES` frozen memtables wait, unless
    /// flushing failed or stopped. The immutable count only drops in the
    /// flusher, which takes `state` after each table before notifying, so
    /// checking it under `state` loses no wake-up. How long it waited, if
    /// it had to (the caller records the stall); no clock is read when
    /// there is room.
    pub(crate) fn wait_for_room(&self, engine: &Engine) -> Option<Duration> {
        let mut state = self.state.lock();
        let mut started = None;
        while engine.immutable_count() >= MAX_IMMUTABLE_MEMTABLES
            && state.failed.is_none()
            && !state.stop
        {
            started.get_or_insert_with(Instant::now);
            self.changed.wait(&mut state);
        }
        started.map(|started| started.elapsed())
    }

    /// The first flush failure, if any.
    pub(crate) fn failure(&self) -> Option<String> {
        self.state.lock().failed.as_deref().map(failure_reason)
    }

    /// Makes the flusher exit after its current table.
    pub(crate) fn stop(&self) {
        self.state.lock().stop = true;
        self.changed.notify_all();
    }

    fn notify(&self) {
        let _state = self.state.lock();
        self.changed.notify_all();
    }
}

/// How a flush failure reads in errors.
fn failure_reason(cause: &lsm_engine::Error) -> String {
    format!("memtable flush failed: {cause}")
}

/// The flusher thread's body.
pub(crate) fn run_flusher(engine: &Engine, signal: &FlushSignal, coordinator: &Arc<Coordinator>) {
    loop {
        let generation = {
            let mut state = signal.state.lock();
            while !state.stop && (state.requested == state.done || state.failed.is_some()) {
                signal.changed.wait(&mut state);
            }
            if state.stop {
                return;
            }
            state.requested
        };
        // Every memtable frozen before `generation` was requested is
        // frozen by now and, frozen memtables being flushed oldest first,
        // among the oldest `owed`: flushing those finishes the generation,
        // however many more writers freeze meanwhile (they requested later
        // generations). Draining until none was left never ended under a
        // steady write load, and with it neither `flush_memtable` nor the
        // compaction scheduling that followed.
        let owed = engine.immutable_count();
        let mut result = Ok(());
        for _ in 0..owed {
            if !wait_for_l0_room(engine, signal, coordinator) {
                return;
            }
            // A panic is a failed flush that poisons the store (see
            // `background`).
            match catch_panic(engine, "a memtable flush", || {
                engine.flush_oldest_immutable()
            }) {
                Ok(true) => signal.notify(),
                Ok(false) => break,
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
            // After every memtable, so L0 is compacted while flushes go on.
            coordinator.schedule_automatic_if_due();
            // `stop` is honoured between tables: the memtables left frozen
            // are in the WAL and replayed on reopen.
            if signal.state.lock().stop {
                return;
            }
        }
        let mut state = signal.state.lock();
        match result {
            Ok(()) => state.done = state.done.max(generation),
            Err(err) => state.failed = Some(Arc::new(err)),
        }
        drop(state);
        signal.changed.notify_all();
    }
}

/// How often the flusher looks at L0 again while it waits for compaction.
const L0_POLL: Duration = Duration::from_millis(2);

/// Waits, before a flush, while L0 holds `L0_STOP_FACTOR` x `l0_trigger`
/// tables or more, for compaction to take some (asking the coordinator for
/// a job each time it looks, in case none is queued). Returns false if the
/// flusher is told to stop: it exits, its frozen memtables are in the
/// WAL. A poisoned engine ends the wait (the flush then fails as it would
/// have), and so does a coordinator shut down by `close`: no compaction
/// will come, and the applier, which close waits for before it stops the
/// flusher, may be waiting for the room this flush makes (close hung
/// there: flusher, applier and close each waiting for the next). The
/// frozen memtables wait meanwhile, so the applier stops freezing and
/// writers wait for room: the stall writers see is
/// `StallCause::FlushBacklog`.
fn wait_for_l0_room(engine: &Engine, signal: &FlushSignal, coordinator: &Coordinator) -> bool {
    let stop_at = engine.config().l0_trigger.saturating_mul(L0_STOP_FACTOR);
    while engine.l0_tables() >= stop_at
        && engine.check_writable().is_ok()
        && !coordinator.is_shut_down()
    {
        if signal.state.lock().stop {
            return false;
        }
        coordinator.schedule_automatic_if_due();
        std::thread::sleep(L0_POLL);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_failure_releases_waiters_with_the_reason() {
        let signal = Arc::new(FlushSignal::default());
        let generation = signal.request();
        let waiter = {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || signal.wait_done(generation))
        };
        let fire = lsm_engine::Error::Poisoned {
            reason: "disk on fire".to_string(),
        };
        signal.state.lock().failed = Some(Arc::new(fire));
        signal.notify();
        match waiter.join().unwrap() {
            Err(FlushWaitError::Failed(cause)) => {
                assert!(cause.to_string().contains("disk on fire"), "{cause}");
                assert!(cause.is_poisoned(), "{cause}");
            }
            other => panic!("released with {other:?}"),
        }
        let reason = signal.failure().unwrap();
        assert!(reason.contains("memtable flush failed: "), "{reason}");
    }

    #[test]
    fn done_generations_satisfy_waiters_and_stop_releases_the_rest() {
        let signal = FlushSignal::default();
        let first = signal.request();
        signal.state.lock().done = first;
        assert!(signal.wait_done(first).is_ok());
        let second = signal.request();
        signal.stop();
        assert!(matches!(
            signal.wait_done(second),
            Err(FlushWaitError::Stopped)
        ));
    }
}
