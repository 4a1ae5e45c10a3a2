//! `AsyncLsmStore`: the public API. It owns the threads (applier, flusher,
//! compaction workers) and composes the pipeline, the flusher and the
//! coordinator over one shared `Engine`.
//!
//! # Shutdown (`close`, also run by `Drop`)
//! 1. Refuse new writes: set `closed`, then take the write gate exclusively
//!    once, so every write already past the check is applied or queued.
//! 2. Cancel pending compaction jobs (they report `Cancelled`); running
//!    jobs finish.
//! 3. Tell the applier to apply everything queued and exit; join it.
//! 4. Stop the flusher (it finishes the table it is writing; frozen
//!    memtables it did not reach stay in the WAL); join it.
//! 5. Join the compaction workers (each returns after its running job).
//! 6. `Engine::close`: sync the WAL, delete obsolete tables, refuse calls,
//!    release the directory lock (the directory can be reopened while
//!    snapshots of this store are alive).

use std::borrow::Cow;
use std::ops::Bound;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lsm_core::{SeqNo, WriteBatch};
use lsm_engine::{
    prefix_range, Backlog, Engine, Error as StoreError, KeyRange, KvStore, LsmConfig, StoreStats,
};
use parking_lot::Mutex;

use crate::coordinator::{CompactionJob, Coordinator, JobId, JobState};
use crate::error::{Error, Result};
use crate::flusher::run_flusher;
use crate::pipeline::{Command, Pipeline};
use crate::read::{Snapshot, StoreIterator};

/// The threads a store runs, joined by `close`.
#[derive(Debug, Default)]
struct Threads {
    applier: Option<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// The LSM store with WAL-first, non-blocking writes and background flush
/// and compaction. `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct AsyncLsmStore {
    // Immutable after open.
    engine: Arc<Engine>,
    pipeline: Arc<Pipeline>,
    coordinator: Arc<Coordinator>,
    /// Taken (emptied) by the first `close`.
    threads: Mutex<Threads>,
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
        .map_err(|e| Error::from(lsm_core::Error::io(std::path::PathBuf::from(name), e)))
}

impl AsyncLsmStore {
    /// Opens or creates the store described by `config` (replaying the WAL
    /// segments newer than the last flush) and starts its threads: the
    /// applier, the flusher and `config.compaction_workers` compaction
    /// workers.
    pub fn open(config: LsmConfig) -> Result<AsyncLsmStore> {
        let workers = config.compaction_workers;
        let engine = Arc::new(Engine::open(config)?);
        let pipeline = Pipeline::new(Arc::clone(&engine)).ok_or_else(|| StoreError::Poisoned {
            reason: "a new engine's freezer was already taken".to_string(),
        })?;
        let pipeline = Arc::new(pipeline);
        let coordinator = Arc::new(Coordinator::new(Arc::clone(&engine)));
        let store = AsyncLsmStore {
            engine,
            pipeline,
            coordinator,
            threads: Mutex::new(Threads::default()),
        };
        // On a spawn failure, `store` drops here and closes what started.
        {
            let mut threads = store.threads.lock();
            let pipeline = Arc::clone(&store.pipeline);
            threads.applier = Some(spawn("lsm-applier", move || pipeline.run_applier())?);
            let pipeline = Arc::clone(&store.pipeline);
            let coordinator = Arc::clone(&store.coordinator);
            threads.flusher = Some(spawn("lsm-flusher", move || {
                run_flusher(&pipeline.engine, &pipeline.flush, &coordinator);
            })?);
            for i in 0..workers {
                let coordinator = Arc::clone(&store.coordinator);
                threads
                    .workers
                    .push(spawn(&format!("lsm-compaction-{i}"), move || {
                        coordinator.run_worker()
                    })?);
            }
        }
        // A reopened tree may already need compaction.
        store.coordinator.schedule_automatic_if_due();
        Ok(store)
    }

    /// Sets `key` to `value`; returns the write's sequence number once it
    /// is in the WAL (durable under `SyncMode::Always`), without waiting
    /// for the memtable. Use [`AsyncLsmStore::wait_for_seq`] to read it.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<SeqNo> {
        let key = key.as_ref();
        let value = value.as_ref();
        let mut batch = WriteBatch::with_capacity(key.len() + value.len() + 12);
        batch.put(key, value);
        self.pipeline.write(Cow::Owned(batch))
    }

    /// Deletes `key`; returns the write's sequence number (see
    /// [`AsyncLsmStore::put`]).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<SeqNo> {
        let key = key.as_ref();
        let mut batch = WriteBatch::with_capacity(key.len() + 8);
        batch.delete(key);
        self.pipeline.write(Cow::Owned(batch))
    }

    /// Applies `batch` atomically; returns its last sequence number once it
    /// is in the WAL. The batch becomes visible all at once.
    pub fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        self.pipeline.write(Cow::Borrowed(batch))
    }

    /// Waits until every write up to `seq` is visible to reads (a condition
    /// variable, not polling). False if `timeout` passes first; a timeout
    /// too large for an `Instant` (e.g. `Duration::MAX`) waits without a
    /// deadline.
    pub fn wait_for_seq(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.engine.wait_visible(seq, timeout)
    }

    /// The applied watermark: reads see exactly the writes up to it.
    pub fn visible_seq(&self) -> SeqNo {
        self.engine.visible_seq()
    }

    /// The last sequence number the WAL assigned.
    pub fn last_seq(&self) -> SeqNo {
        self.engine.last_seq()
    }

    /// The value of `key` at the watermark, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.engine.get(key.as_ref())?)
    }

    /// The live keys in `range` at the watermark, in order; any range
    /// form ([`KeyRange`]: `..`, `"a".."m"`, `b"k"..=b"p"`, `key..`, a pair
    /// of `Bound`s). The iterator is double-ended: `.rev()` or `next_back`
    /// reads the range from its end.
    pub fn range(&self, range: impl KeyRange) -> Result<StoreIterator> {
        let (start, end) = range.into_bounds();
        Ok(StoreIterator::new(self.engine.range(start, end, None)?))
    }

    /// Every live key at the watermark, in order (double-ended).
    pub fn iter(&self) -> Result<StoreIterator> {
        self.range(..)
    }

    /// The live keys that start with `prefix` at the watermark, in order
    /// (double-ended). The empty prefix is every key.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<StoreIterator> {
        self.range(prefix_range(prefix.as_ref()))
    }

    /// A repeatable-read snapshot at the watermark.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Ok(Snapshot::new(lsm_engine::Snapshot::new(&self.engine)?))
    }

    /// Freezes the memtable and waits until the flusher has written it
    /// (and every older frozen memtable) to L0 tables. Compactions the
    /// picker wants are scheduled in the background. Returns the flush
    /// failure if the flusher failed.
    pub fn flush_memtable(&self) -> Result<()> {
        self.engine.check_writable()?;
        if self.pipeline.is_closed() {
            return Err(StoreError::Closed.into());
        }
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        if !self.pipeline.send(Command::Flush(reply_tx)) {
            return Err(StoreError::Closed.into());
        }
        let generation = reply_rx
            .recv()
            .map_err(|_| Error::from(StoreError::Closed))??;
        self.pipeline
            .flush
            .wait_done(generation)
            .map_err(|reason| StoreError::Poisoned { reason }.into())
    }

    /// Queues a compaction of every table of `level` into `level + 1` and
    /// returns its job id at once. Errors: [`StoreError::InvalidLevel`] for
    /// a level past `Engine::max_compactable_level`, `Closed`, `Poisoned`,
    /// [`Error::QueueFull`].
    pub fn schedule_compaction(&self, level: usize) -> Result<JobId> {
        if self.pipeline.is_closed() {
            return Err(StoreError::Closed.into());
        }
        self.coordinator.schedule(level)
    }

    /// [`AsyncLsmStore::schedule_compaction`], and with `wait` also waits
    /// for the job to end, returning its failure
    /// ([`Error::CompactionFailed`]) or cancellation.
    pub fn compact_level(&self, level: usize, wait: bool) -> Result<JobId> {
        let job = self.schedule_compaction(level)?;
        if !wait {
            return Ok(job);
        }
        match self.coordinator.wait(job, None) {
            Some(JobState::Failed(reason)) => Err(Error::CompactionFailed { job, reason }),
            Some(JobState::Cancelled) => Err(Error::CompactionCancelled { job }),
            Some(_) => Ok(job),
            None => Err(Error::UnknownJob(job)),
        }
    }

    /// Waits until `job` is completed, failed or cancelled. False if the
    /// job is unknown or `timeout` passes first; a timeout too large for an
    /// `Instant` (e.g. `Duration::MAX`) waits without a deadline.
    pub fn wait_for_compaction(&self, job: JobId, timeout: Duration) -> bool {
        self.coordinator.wait_for(job, timeout)
    }

    /// The status of `job`: pending, running, or one of the last
    /// [`crate::JOB_HISTORY_LIMIT`] finished jobs. `None` otherwise.
    pub fn compaction_status(&self, job: JobId) -> Option<CompactionJob> {
        self.coordinator.status(job)
    }

    /// Number of compaction jobs waiting to run.
    pub fn pending_compactions(&self) -> usize {
        self.coordinator.pending()
    }

    /// Number of writes appended to the WAL and waiting in the apply queue.
    pub fn queued_writes(&self) -> usize {
        self.pipeline.queued()
    }

    /// Sizes, counts and counters.
    pub fn stats(&self) -> Result<StoreStats> {
        self.engine.check_open()?;
        Ok(self.engine.stats()?)
    }

    /// Test hook: holds the core lock, so writes queue up instead of being
    /// applied, until the guard drops.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn hold_core_lock(&self) -> parking_lot::MutexGuard<'_, lsm_engine::Freezer> {
        self.pipeline.core()
    }

    /// Closes the store (see the module docs for the steps): later writes
    /// fail with `Closed`, queued writes are applied, running compactions
    /// finish, pending ones are cancelled, every thread is joined, the WAL
    /// is synced and the directory lock is released (the directory can be
    /// opened again while snapshots of this store are alive; reads through
    /// them return `Closed`). Idempotent. Dropping the store closes it too.
    pub fn close(&self) -> Result<()> {
        // Held throughout, so a concurrent `close` returns only after this
        // one has joined every thread.
        let mut threads_guard = self.threads.lock();
        let threads = std::mem::take(&mut *threads_guard);
        if !self.pipeline.is_closed() {
            self.pipeline.refuse_writes();
        }
        self.coordinator.shutdown();
        let mut panicked = false;
        if let Some(applier) = threads.applier {
            self.pipeline.send(Command::Shutdown);
            panicked |= applier.join().is_err();
        }
        self.pipeline.flush.stop();
        if let Some(flusher) = threads.flusher {
            panicked |= flusher.join().is_err();
        }
        for worker in threads.workers {
            panicked |= worker.join().is_err();
        }
        self.engine.close()?;
        drop(threads_guard);
        if panicked {
            let reason = "a background thread panicked".to_string();
            return Err(StoreError::Poisoned { reason }.into());
        }
        Ok(())
    }
}

/// The shared API; each method is the inherent one of the same name, but
/// `flush` is [`AsyncLsmStore::flush_memtable`], `compact_level` waits for
/// its job (`compact_level(level, true)`), and `wait_visible` is
/// [`AsyncLsmStore::wait_for_seq`]: a write is visible once that returns
/// true.
impl KvStore for AsyncLsmStore {
    type Error = Error;
    type Snapshot = Snapshot;
    type Iter = StoreIterator;

    fn open(config: LsmConfig) -> Result<Self> {
        AsyncLsmStore::open(config)
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<SeqNo> {
        AsyncLsmStore::put(self, key, value)
    }
    fn delete(&self, key: &[u8]) -> Result<SeqNo> {
        AsyncLsmStore::delete(self, key)
    }
    fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        AsyncLsmStore::write(self, batch)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        AsyncLsmStore::get(self, key)
    }
    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Result<StoreIterator> {
        AsyncLsmStore::range(self, (start, end))
    }
    fn snapshot(&self) -> Result<Snapshot> {
        AsyncLsmStore::snapshot(self)
    }
    fn flush(&self) -> Result<()> {
        self.flush_memtable()
    }
    fn compact_level(&self, level: usize) -> Result<()> {
        AsyncLsmStore::compact_level(self, level, true).map(drop)
    }
    fn stats(&self) -> Result<StoreStats> {
        AsyncLsmStore::stats(self)
    }
    fn backlog(&self) -> Option<Backlog> {
        Some(Backlog {
            queued_writes: self.queued_writes(),
            pending_compactions: self.pending_compactions(),
        })
    }
    fn close(&self) -> Result<()> {
        AsyncLsmStore::close(self)
    }
    fn wait_visible(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.wait_for_seq(seq, timeout)
    }
}

impl Drop for AsyncLsmStore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
