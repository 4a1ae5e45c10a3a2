//! `AsyncLsmStore`: the public API. It owns the threads (applier, flusher,
//! compaction workers) and composes the pipeline, the flusher and the
//! coordinator over one shared `Engine`.
//!
//! # Handles
//! `AsyncLsmStore` is a cheap handle: the engine's `Arc` (for the read
//! path) and an `Arc<Shared>` holding the pipeline, the coordinator and the
//! thread handles. The threads hold the pipeline and the coordinator, never
//! `Shared`, so there is no cycle: dropping the last handle drops `Shared`,
//! whose `Drop` runs `close`.
//!
//! # Shutdown (`close` on any handle, also run when the last one drops)
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
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lsm_core::{SeqNo, WriteBatch};
use lsm_engine::{
    prefix_range, Backlog, CheckpointInfo, Engine, Error as StoreError, KeyRange, KvStore,
    LsmConfig, ReadOnlyStore, StoreStats, WriteOptions,
};
use parking_lot::Mutex;

use crate::coordinator::{CompactionJob, Coordinator, JobId, JobState};
use crate::error::{Error, Result};
use crate::fence::WaitForSeq;
use crate::flusher::{run_flusher, FlushWaitError};
use crate::pipeline::{Command, Pipeline};
use crate::read::{Snapshot, StoreIterator};

/// The threads a store runs, joined by `close`.
#[derive(Debug, Default)]
struct Threads {
    applier: Option<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    /// Set by the `close` that joined a thread that had panicked, so that
    /// every later `close` reports it too.
    panicked: bool,
}

/// The LSM store with WAL-first, non-blocking writes and background flush
/// and compaction.
///
/// A handle: cheap to clone (two `Arc`s), `Send + Sync`, and every clone
/// is the same open store (the same threads, queue and watermark), so give
/// each thread or task its own clone instead of wrapping the store in an
/// `Arc`. [`AsyncLsmStore::close`] on any clone closes the store for all of
/// them (their later calls fail with a `Closed` error); dropping the last
/// clone closes it too: queued writes are applied, the background threads
/// are joined and the directory lock is released before the drop returns.
///
/// ```
/// use lsm_store_async::{AsyncLsmStore, LsmConfig};
///
/// let dir = tempfile::tempdir()?;
/// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
/// let writers: Vec<_> = (0..4)
///     .map(|t| {
///         let store = store.clone();
///         std::thread::spawn(move || store.put(format!("key{t}"), "v"))
///     })
///     .collect();
/// for writer in writers {
///     let seq = writer.join().expect("writer thread")?;
///     assert!(store.wait_for_seq(seq, std::time::Duration::from_secs(10)));
/// }
/// assert_eq!(store.range(..)?.count(), 4);
/// drop(store); // the last clone: closes the store, releases the lock
/// let reopened = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
/// assert_eq!(reopened.get("key3")?, Some(b"v".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct AsyncLsmStore {
    pub(crate) engine: Arc<Engine>,
    shared: Arc<Shared>,
}

/// What the clones of one store share beyond the engine. Dropped with the
/// last clone, which closes the store.
#[derive(Debug)]
struct Shared {
    // Immutable after open.
    engine: Arc<Engine>,
    pipeline: Arc<Pipeline>,
    coordinator: Arc<Coordinator>,
    /// Taken (emptied) by the first `close`.
    threads: Mutex<Threads>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
        .map_err(|e| Error::from(lsm_core::Error::io(std::path::PathBuf::from(name), e)))
}

/// Spawns a background thread (flusher, compaction worker) that first
/// lowers its own priority to `nice` (`LsmConfig::background_nice`).
fn spawn_background(
    name: &str,
    nice: i32,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>> {
    spawn(name, move || {
        lower_this_thread_priority(nice);
        body();
    })
}

/// Sets the calling thread's nice value (on Linux `setpriority` with a
/// thread id applies to that thread alone). Best effort: a failure only
/// leaves the thread at its priority, so it is ignored.
#[cfg(target_os = "linux")]
fn lower_this_thread_priority(nice: i32) {
    if nice > 0 {
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread_priority(_nice: i32) {}

impl AsyncLsmStore {
    /// After a keyspace's creation or drop, whose record went into the
    /// memtable outside the pipeline: has the applier freeze the memtable
    /// if that filled it.
    pub(crate) fn after_catalog_write(&self) {
        self.shared.pipeline.wake_if_memtable_full();
    }

    /// Opens or creates the store described by `config` (replaying the WAL
    /// segments newer than the last flush) and starts its threads: the
    /// applier, the flusher and `config.compaction_workers` compaction
    /// workers.
    pub fn open(config: LsmConfig) -> Result<AsyncLsmStore> {
        let workers = config.compaction_workers;
        let nice = config.background_nice;
        let engine = Arc::new(Engine::open(config)?);
        let pipeline = Pipeline::new(Arc::clone(&engine)).ok_or_else(|| StoreError::Poisoned {
            reason: "a new engine's freezer was already taken".to_string(),
        })?;
        let pipeline = Arc::new(pipeline);
        let coordinator = Arc::new(Coordinator::new(Arc::clone(&engine)));
        let shared = Shared {
            engine: Arc::clone(&engine),
            pipeline,
            coordinator,
            threads: Mutex::new(Threads::default()),
        };
        // On a spawn failure, `shared` drops here and closes what started.
        {
            let mut threads = shared.threads.lock();
            let pipeline = Arc::clone(&shared.pipeline);
            threads.applier = Some(spawn("lsm-applier", move || pipeline.run_applier())?);
            let pipeline = Arc::clone(&shared.pipeline);
            let coordinator = Arc::clone(&shared.coordinator);
            threads.flusher = Some(spawn_background("lsm-flusher", nice, move || {
                run_flusher(&pipeline.engine, &pipeline.flush, &coordinator);
            })?);
            for i in 0..workers {
                let coordinator = Arc::clone(&shared.coordinator);
                threads.workers.push(spawn_background(
                    &format!("lsm-compaction-{i}"),
                    nice,
                    move || coordinator.run_worker(),
                )?);
            }
        }
        // A reopened tree may already need compaction.
        shared.coordinator.schedule_automatic_if_due();
        Ok(AsyncLsmStore {
            engine,
            shared: Arc::new(shared),
        })
    }

    /// Opens the store in `config.dir` for reading only: no directory lock
    /// is taken, no thread is started and nothing is written (no WAL
    /// segment, no manifest, no repair, no deletion), so it also opens a
    /// store another process, or an `AsyncLsmStore` in this one, holds
    /// open. It reads the manifest and replays the WAL into memory (every
    /// write whose WAL record was complete at that moment, applied or
    /// still queued), and then holds the state of that moment.
    /// [`ReadOnlyStore`] says exactly what it does and does not do; its
    /// reads report the engine's error type, which converts into this
    /// crate's [`Error`] with `?`.
    ///
    /// ```
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
    /// let seq = store.put("apple", "red")?; // in the WAL when it returns
    /// // The writer still holds the store; the reader takes no lock.
    /// let reader = AsyncLsmStore::open_read_only(LsmConfig::new(dir.path()))?;
    /// assert_eq!(reader.last_seq(), seq);
    /// assert_eq!(reader.get("apple")?, Some(b"red".to_vec()));
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(config: LsmConfig) -> Result<ReadOnlyStore> {
        Ok(ReadOnlyStore::open(config)?)
    }

    /// Sets `key` to `value`; returns the write's sequence number once it
    /// is in the WAL (durable under `SyncMode::Always`), without waiting
    /// for the memtable. Use [`AsyncLsmStore::wait_for_seq`] to read it.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<SeqNo> {
        let key = key.as_ref();
        let value = value.as_ref();
        let mut batch = self
            .shared
            .pipeline
            .spare_batch(key.len() + value.len() + 12);
        batch.put(key, value);
        self.shared
            .pipeline
            .write(Cow::Owned(batch), &WriteOptions::DEFAULT)
    }

    /// Deletes `key`; returns the write's sequence number (see
    /// [`AsyncLsmStore::put`]).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<SeqNo> {
        let key = key.as_ref();
        let mut batch = self.shared.pipeline.spare_batch(key.len() + 8);
        batch.delete(key);
        self.shared
            .pipeline
            .write(Cow::Owned(batch), &WriteOptions::DEFAULT)
    }

    /// Applies `batch` atomically; returns its last sequence number once it
    /// is in the WAL. The batch becomes visible all at once.
    pub fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        self.write_with(batch, &WriteOptions::DEFAULT)
    }

    /// [`AsyncLsmStore::write`] with per-write options. `options.sync`
    /// overrides the sync mode for this write's WAL append: `Some(true)`
    /// makes it durable (fdatasynced, group-committed with concurrent
    /// writers) before it returns, even under `SyncMode::Never`;
    /// `Some(false)` skips the fsync even under `SyncMode::Always` (the
    /// write then survives a process crash but not a power loss, until a
    /// later fsync covers it); `None` is the store's mode. Either way it
    /// returns after the WAL append, before the memtable applies it (fence
    /// with [`AsyncLsmStore::wait_for_seq`]). See [`WriteOptions`].
    ///
    /// ```
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode, WriteBatch, WriteOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let config = LsmConfig::builder(dir.path()).wal_sync(SyncMode::Never).build()?;
    /// let store = AsyncLsmStore::open(config)?;
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"order-17", b"paid");
    /// // Durable when this returns, although the store never fsyncs on its own.
    /// let seq = store.write_with(&batch, &WriteOptions::SYNC)?;
    /// assert!(store.wait_for_seq(seq, std::time::Duration::from_secs(10)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_with(&self, batch: &WriteBatch, options: &WriteOptions) -> Result<SeqNo> {
        self.shared.pipeline.write(Cow::Borrowed(batch), options)
    }

    /// Makes every write that returned so far durable: one WAL fdatasync,
    /// shared with concurrent callers and synced writes (a write returns
    /// after its WAL append, so every returned write is covered, applied
    /// to the memtable yet or not). The same contract as
    /// `SimpleLsmStore::sync`: with `SyncMode::Always` writes are durable
    /// already and this costs one cheap check; with `Never` or
    /// `EveryBytes`, or after writes with `WriteOptions { sync:
    /// Some(false) }`, it is how a caller puts many writes under one fsync.
    /// A failed sync poisons the store, like a failed synced write. Fails
    /// with a `Closed` error after `close`.
    ///
    /// ```
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let config = LsmConfig::builder(dir.path()).wal_sync(SyncMode::Never).build()?;
    /// let store = AsyncLsmStore::open(config)?;
    /// for i in 0..100 {
    ///     store.put(format!("key{i}"), "v")?; // no fsync each
    /// }
    /// store.sync()?; // one fsync: all 100 are durable now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync(&self) -> Result<()> {
        if self.shared.pipeline.is_closed() {
            return Err(StoreError::Closed.into());
        }
        Ok(self.engine.sync_wal()?)
    }

    /// Waits until every write up to `seq` is visible to reads (a condition
    /// variable, not polling). False if `timeout` passes first, or if the
    /// store closes first (every write acknowledged before `close` is
    /// visible once it returns, so `seq` was never acknowledged); a timeout
    /// too large for an `Instant` (e.g. `Duration::MAX`) waits without a
    /// deadline.
    pub fn wait_for_seq(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.engine.wait_visible(seq, timeout)
    }

    /// [`AsyncLsmStore::wait_for_seq`] as a `Future`, for async code: it
    /// resolves with `Ok(())` once every write up to `seq` is visible to
    /// reads, without blocking a thread. It needs no runtime (the applier
    /// wakes it when the watermark passes `seq`), so it works under tokio,
    /// async-std, smol or a hand-written executor, and it owns what it
    /// needs (`'static`), so it can be spawned. It resolves with a
    /// `Closed` error if the store closes first, or a poisoned error if
    /// the store is poisoned first ([`WaitForSeq`] has the details): it
    /// never waits forever for a write that cannot become visible. For a
    /// timeout, race it against the runtime's timer.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Wake, Waker};
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig};
    ///
    /// // Any executor works; this one parks the thread until woken.
    /// fn block_on<F: Future>(future: F) -> F::Output {
    ///     struct Unpark(std::thread::Thread);
    ///     impl Wake for Unpark {
    ///         fn wake(self: Arc<Self>) {
    ///             self.0.unpark();
    ///         }
    ///     }
    ///     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    ///     let mut future = std::pin::pin!(future);
    ///     loop {
    ///         match future.as_mut().poll(&mut Context::from_waker(&waker)) {
    ///             Poll::Ready(output) => return output,
    ///             Poll::Pending => std::thread::park(),
    ///         }
    ///     }
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
    /// let seq = store.put("apple", "red")?;
    /// block_on(store.wait_for_seq_async(seq))?;
    /// assert_eq!(store.get("apple")?, Some(b"red".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_seq_async(&self, seq: SeqNo) -> WaitForSeq {
        WaitForSeq::new(self.engine.wait_visible_async(seq))
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
    /// failure if the flusher failed, `Closed` if the store closed before
    /// the flush was done (what was frozen is in the WAL, and replayed on
    /// reopen).
    pub fn flush_memtable(&self) -> Result<()> {
        self.engine.check_writable()?;
        if self.shared.pipeline.is_closed() {
            return Err(StoreError::Closed.into());
        }
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        if !self.shared.pipeline.send(Command::Flush(reply_tx)) {
            return Err(StoreError::Closed.into());
        }
        let generation = reply_rx
            .recv()
            .map_err(|_| Error::from(StoreError::Closed))??;
        self.shared
            .pipeline
            .flush
            .wait_done(generation)
            .map_err(|err| match err {
                FlushWaitError::Failed(cause) => Error::FlushFailed { cause },
                FlushWaitError::Stopped => StoreError::Closed.into(),
            })
    }

    /// Queues a compaction of every table of `level` into `level + 1` and
    /// returns its job id at once. Errors: [`StoreError::InvalidLevel`] for
    /// a level past `Engine::max_compactable_level`, `Closed`, `Poisoned`,
    /// [`Error::QueueFull`].
    pub fn schedule_compaction(&self, level: usize) -> Result<JobId> {
        if self.shared.pipeline.is_closed() {
            return Err(StoreError::Closed.into());
        }
        self.shared.coordinator.schedule(level)
    }

    /// [`AsyncLsmStore::schedule_compaction`], and with `wait` also waits
    /// for the job to end, returning its failure
    /// ([`Error::CompactionFailed`]) or cancellation.
    pub fn compact_level(&self, level: usize, wait: bool) -> Result<JobId> {
        if !wait {
            return self.schedule_compaction(level);
        }
        if self.shared.pipeline.is_closed() {
            return Err(StoreError::Closed.into());
        }
        match self.shared.coordinator.schedule_and_wait(level)? {
            (job, JobState::Failed(reason), cause) => {
                Err(Error::CompactionFailed { job, reason, cause })
            }
            (job, JobState::Cancelled, _) => Err(Error::CompactionCancelled { job }),
            (job, _, _) => Ok(job),
        }
    }

    /// Waits until `job` is completed, failed or cancelled. False if the
    /// job is unknown or `timeout` passes first; a timeout too large for an
    /// `Instant` (e.g. `Duration::MAX`) waits without a deadline.
    pub fn wait_for_compaction(&self, job: JobId, timeout: Duration) -> bool {
        self.shared.coordinator.wait_for(job, timeout)
    }

    /// The status of `job`: pending, running, or one of the last
    /// [`crate::JOB_HISTORY_LIMIT`] finished jobs. `None` otherwise.
    pub fn compaction_status(&self, job: JobId) -> Option<CompactionJob> {
        self.shared.coordinator.status(job)
    }

    /// Number of compaction jobs waiting to run.
    pub fn pending_compactions(&self) -> usize {
        self.shared.coordinator.pending()
    }

    /// Number of writes appended to the WAL and waiting in the apply queue.
    pub fn queued_writes(&self) -> usize {
        self.shared.pipeline.queued()
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
        self.shared.pipeline.core()
    }

    /// Closes the store (see the module docs for the steps): later writes
    /// fail with `Closed`, queued writes are applied, running compactions
    /// finish, pending ones are cancelled, every thread is joined, the WAL
    /// is synced and the directory lock is released (the directory can be
    /// opened again while snapshots of this store are alive; reads through
    /// them return `Closed`). Closes it for every clone of this handle: their
    /// later calls fail with `Closed` too, and a pending
    /// [`AsyncLsmStore::wait_for_seq_async`] future resolves. Idempotent.
    /// Dropping the last clone closes the store too.
    pub fn close(&self) -> Result<()> {
        self.shared.close()
    }

    /// Writes a checkpoint of the store into `dir`, which must be missing
    /// or empty: a store directory of its own (open it with either store,
    /// or `ReadOnlyStore`) holding exactly the writes with a sequence
    /// number up to [`CheckpointInfo::seq`], which covers every sequence
    /// number returned before this call. Table files are hard-linked where
    /// the file system allows it and copied otherwise; no WAL is copied.
    ///
    /// Runs [`AsyncLsmStore::flush_memtable`] (the applier freezes, the
    /// flusher writes; writers wait only for the freeze), then links or
    /// copies on the caller's thread while writes continue. Durable when
    /// it returns; a checkpoint cut short never opens with a hole
    /// (`docs/durability.md`, "Checkpoint"). Errors: the engine's
    /// `CheckpointDirNotEmpty`, `Closed`, `Poisoned` (the memtable cannot
    /// be flushed), I/O errors naming the file; a failure in `dir` does
    /// not poison the store.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig};
    ///
    /// let (dir, backups) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
    /// let seq = store.put("apple", "red")?;
    /// let info = store.checkpoint(backups.path().join("monday"))?;
    /// assert!(info.seq >= seq, "every returned write is in it");
    ///
    /// let copy = AsyncLsmStore::open(LsmConfig::new(&info.dir))?;
    /// assert!(copy.wait_for_seq(info.seq, Duration::from_secs(10)));
    /// assert_eq!(copy.get("apple")?, Some(b"red".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<CheckpointInfo> {
        self.engine.check_checkpoint_dir(dir.as_ref())?;
        self.flush_memtable()?;
        Ok(self.engine.checkpoint(dir.as_ref())?)
    }
}

impl Shared {
    /// [`AsyncLsmStore::close`].
    fn close(&self) -> Result<()> {
        // Held throughout, so a concurrent `close` returns only after this
        // one has joined every thread.
        let mut threads_guard = self.threads.lock();
        let threads = Threads {
            panicked: threads_guard.panicked,
            ..std::mem::take(&mut *threads_guard)
        };
        if !self.pipeline.is_closed() {
            self.pipeline.refuse_writes();
        }
        self.coordinator.shutdown();
        let mut panicked = threads.panicked;
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
        threads_guard.panicked = panicked;
        // After the first close, this returns the first one's failure
        // (`Engine::close`), so no later call reports a durability the
        // first could not give.
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
    fn check_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        Ok(self.engine.check_snapshot(&snapshot.0)?)
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
    fn checkpoint(&self, dir: &Path) -> Result<CheckpointInfo> {
        AsyncLsmStore::checkpoint(self, dir)
    }
    fn wait_visible(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.wait_for_seq(seq, timeout)
    }
    fn open_keyspace(&self, name: &str) -> Result<lsm_core::KeyspaceId> {
        let (id, created) = self.engine.open_keyspace(name)?;
        if created.is_some() {
            self.after_catalog_write();
        }
        Ok(id)
    }
    fn drop_keyspace(&self, name: &str) -> Result<SeqNo> {
        AsyncLsmStore::drop_keyspace(self, name)
    }
    fn keyspace_names(&self) -> Result<Vec<String>> {
        AsyncLsmStore::keyspace_names(self)
    }
    fn keyspace_stats_of(
        &self,
        keyspace: lsm_core::KeyspaceId,
    ) -> Result<lsm_engine::KeyspaceStats> {
        Ok(self.engine.keyspace_stats_of(keyspace)?)
    }
    fn get_in(&self, keyspace: lsm_core::KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        AsyncLsmStore::get_in(self, keyspace, key)
    }
    fn range_in(
        &self,
        keyspace: lsm_core::KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<StoreIterator> {
        AsyncLsmStore::range_in(self, keyspace, start, end)
    }
}
