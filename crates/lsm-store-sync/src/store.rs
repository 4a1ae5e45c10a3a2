//! `SimpleLsmStore`: the synchronous store. Every call does its work on the
//! caller's thread: a write that fills the memtable freezes it, flushes it to
//! an L0 table and runs any compaction the picker asks for before returning.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_core::{SeqNo, WriteBatch};
use parking_lot::Mutex;

use lsm_engine::{
    prefix_range, Backlog, CheckpointInfo, Engine, Error, Freezer, KeyRange, KvStore, LsmConfig,
    ReadOnlyStore, Result, Snapshot, StallCause, StoreIterator, StoreStats, WriteOptions,
};

/// The synchronous LSM store.
///
/// A handle: cheap to clone (two `Arc`s), `Send + Sync`, and every clone
/// is the same open store, so give each thread its own clone instead of
/// wrapping the store in an `Arc`. [`SimpleLsmStore::close`] on any clone
/// closes the store for all of them (their later calls fail with
/// [`Error::Closed`]); dropping the last clone closes it too, releasing the
/// directory lock at once.
///
/// ```
/// use lsm_store_sync::{LsmConfig, SimpleLsmStore};
///
/// let dir = tempfile::tempdir()?;
/// let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
/// let writers: Vec<_> = (0..4)
///     .map(|t| {
///         let store = store.clone();
///         std::thread::spawn(move || store.put(format!("key{t}"), "v").map(drop))
///     })
///     .collect();
/// for writer in writers {
///     writer.join().expect("writer thread")?;
/// }
/// assert_eq!(store.range(..)?.count(), 4);
/// drop(store); // the last clone: closes the store, releases the lock
/// let reopened = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
/// assert_eq!(reopened.get("key3")?, Some(b"v".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SimpleLsmStore {
    pub(crate) engine: Arc<Engine>,
    shared: Arc<Shared>,
}

/// What the clones of one store share beyond the engine. Dropped with the
/// last clone, which closes the store.
#[derive(Debug)]
struct Shared {
    engine: Arc<Engine>,
    /// The engine's freezer. Holding it serializes freeze + flush +
    /// compaction on the writer's thread, and `close` takes it so that no
    /// maintenance runs after the directory lock is released.
    maintenance: Mutex<Freezer>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last clone is gone, so no maintenance can be running.
        let _ = self.engine.close();
    }
}

impl SimpleLsmStore {
    /// Opens or creates the store described by `config`, recovering from
    /// the manifest and WAL.
    pub fn open(config: LsmConfig) -> Result<SimpleLsmStore> {
        let engine = Arc::new(Engine::open(config)?);
        let freezer = engine.freezer().ok_or_else(|| Error::Poisoned {
            reason: "a new engine's freezer was already taken".to_string(),
        })?;
        let shared = Arc::new(Shared {
            engine: Arc::clone(&engine),
            maintenance: Mutex::new(freezer),
        });
        Ok(SimpleLsmStore { engine, shared })
    }

    /// Opens the store in `config.dir` for reading only: no directory lock
    /// is taken and nothing is written (no WAL segment, no manifest, no
    /// repair, no deletion), so it also opens a store another process or
    /// another handle in this one holds open. It reads the manifest and
    /// replays the WAL into memory, and then holds the state of that
    /// moment. [`ReadOnlyStore`] says exactly what it does and does not do.
    ///
    /// ```
    /// use lsm_store_sync::{LsmConfig, SimpleLsmStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
    /// store.put("apple", "red")?;
    /// // The writer still holds the store; the reader takes no lock.
    /// let reader = SimpleLsmStore::open_read_only(LsmConfig::new(dir.path()))?;
    /// assert_eq!(reader.get("apple")?, Some(b"red".to_vec()));
    /// store.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(config: LsmConfig) -> Result<ReadOnlyStore> {
        ReadOnlyStore::open(config)
    }

    /// Sets `key` to `value`; returns the write's sequence number.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<SeqNo> {
        let key = key.as_ref();
        let value = value.as_ref();
        let mut batch = WriteBatch::with_capacity(key.len() + value.len() + 12);
        batch.put(key, value);
        self.write(&batch)
    }

    /// Deletes `key`; returns the write's sequence number.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<SeqNo> {
        let key = key.as_ref();
        let mut batch = WriteBatch::with_capacity(key.len() + 8);
        batch.delete(key);
        self.write(&batch)
    }

    /// Applies `batch` atomically; returns its last sequence number. Durable
    /// per the configured WAL sync mode, and visible to the caller's next
    /// read (read-your-writes, also with many writer threads), when this
    /// returns.
    ///
    /// A write that fills the memtable then freezes it, flushes it and runs
    /// the compactions the picker asks for, inline. If that maintenance
    /// fails, the write still returns `Ok`: it is in the WAL and visible,
    /// so it was made. The failure poisons the store instead, and the next
    /// write (or flush, or compaction) fails with [`Error::Poisoned`] naming
    /// it. See `docs/durability.md`, promise 5.
    ///
    /// That inline maintenance is a write stall (`StallCause::InlineMaintenance`
    /// in the stats and the `lsm.stall` event), as long as it keeps the
    /// writer, waiting for another writer's maintenance included.
    pub fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        self.write_with(batch, &WriteOptions::DEFAULT)
    }

    /// [`SimpleLsmStore::write`] with per-write options. `options.sync`
    /// overrides the sync mode for this write only: `Some(true)` makes it
    /// durable (fdatasynced, group-committed with concurrent writers)
    /// before it returns, even under `SyncMode::Never`; `Some(false)` skips
    /// the fsync even under `SyncMode::Always` (the write then survives a
    /// process crash but not a power loss, until a later fsync covers it);
    /// `None` is the store's mode. See [`WriteOptions`].
    ///
    /// ```
    /// use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch, WriteOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let config = LsmConfig::builder(dir.path()).wal_sync(SyncMode::Never).build()?;
    /// let store = SimpleLsmStore::open(config)?;
    /// let mut batch = WriteBatch::new();
    /// batch.put(b"order-17", b"paid");
    /// // Durable when this returns, although the store never fsyncs on its own.
    /// store.write_with(&batch, &WriteOptions::SYNC)?;
    /// assert_eq!(store.get("order-17")?, Some(b"paid".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_with(&self, batch: &WriteBatch, options: &WriteOptions) -> Result<SeqNo> {
        let written = self.engine.write_with(batch, options)?;
        self.after_write(written.memtable_full);
        Ok(written.last_seq)
    }

    /// What a writer does after its write when it filled the memtable:
    /// the maintenance a full memtable needs, inline.
    pub(crate) fn after_write(&self, memtable_full: bool) {
        if memtable_full {
            let stalled = Instant::now();
            let made_room = self.make_room();
            self.engine
                .record_stall(StallCause::InlineMaintenance, stalled.elapsed());
            if let Err(err) = made_room {
                // Flush and compaction failures have poisoned the engine
                // already (with their own reason, which `poison` keeps);
                // this covers the rest, e.g. deleting obsolete tables.
                self.engine
                    .poison(format!("maintenance after a write failed: {err}"));
            }
        }
    }

    /// Freezes a full memtable, flushes it and compacts as the picker asks.
    fn make_room(&self) -> Result<()> {
        let mut freezer = self.shared.maintenance.lock();
        if self.engine.check_writable().is_err() || !self.engine.memtable_full() {
            // Closed: `close` waited for `maintenance` and released the
            // directory; the write is in the synced WAL. Poisoned: the
            // store does no more maintenance until it is reopened. Not
            // full: another writer made room while we waited.
            return Ok(());
        }
        self.flush_and_compact(&mut freezer)
    }

    /// The guard's freezer is the proof of holding `maintenance`.
    fn flush_and_compact(&self, freezer: &mut Freezer) -> Result<()> {
        // Nothing to drain: every writer applies its own batch under its
        // write permit before releasing it, so wait for the gate plainly.
        freezer.freeze_waiting(true)?;
        while self.engine.flush_oldest_immutable()? {}
        while let Some(reservation) = self.engine.reserve_compaction(None) {
            self.engine.run_reserved_compaction(reservation)?;
        }
        Ok(())
    }

    /// Makes every write that returned so far durable (one WAL fdatasync,
    /// shared with concurrent callers). With `SyncMode::Always` writes are
    /// durable already and this costs one cheap check; with
    /// `SyncMode::Never` or `EveryBytes`, or after writes made with
    /// `WriteOptions { sync: Some(false) }`, it is how a caller batches many
    /// writes under one fsync. A failed sync poisons the store
    /// ([`Error::Poisoned`] for later writes), like a failed synced write.
    /// Fails with [`Error::Closed`] after `close`.
    ///
    /// ```
    /// use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let config = LsmConfig::builder(dir.path()).wal_sync(SyncMode::Never).build()?;
    /// let store = SimpleLsmStore::open(config)?;
    /// for i in 0..100 {
    ///     store.put(format!("key{i}"), "v")?; // no fsync each
    /// }
    /// store.sync()?; // one fsync: all 100 are durable now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync(&self) -> Result<()> {
        self.engine.sync_wal()
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.engine.get(key.as_ref())
    }

    /// The live keys in `range`, in order, as of now; any range form
    /// ([`KeyRange`]: `..`, `"a".."m"`, `b"k"..=b"p"`, `key..`, a pair of
    /// `Bound`s). The iterator is double-ended: `.rev()` or `next_back`
    /// reads the range from its end.
    pub fn range(&self, range: impl KeyRange) -> Result<StoreIterator> {
        let (start, end) = range.into_bounds();
        self.engine.range(start, end, None)
    }

    /// Every live key, in order, as of now (double-ended).
    pub fn iter(&self) -> Result<StoreIterator> {
        self.range(..)
    }

    /// The live keys that start with `prefix`, in order, as of now
    /// (double-ended). The empty prefix is every key.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<StoreIterator> {
        self.range(prefix_range(prefix.as_ref()))
    }

    /// A repeatable-read snapshot.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Snapshot::new(&self.engine)
    }

    /// Flushes the memtable to an L0 table now (and runs any compaction
    /// that makes due).
    pub fn flush_memtable(&self) -> Result<()> {
        self.engine.check_writable()?;
        let mut freezer = self.shared.maintenance.lock();
        self.engine.check_writable()?; // `close` may have run meanwhile
        self.flush_and_compact(&mut freezer)
    }

    /// Compacts every table of `level` into `level + 1`. Levels
    /// `0..num_levels - 1` are valid.
    pub fn compact_level(&self, level: usize) -> Result<()> {
        self.engine.check_writable()?;
        let max = self.engine.max_compactable_level();
        if level > max {
            return Err(Error::InvalidLevel { level, max });
        }
        let _maintenance = self.shared.maintenance.lock();
        self.engine.check_writable()?; // `close` may have run meanwhile
        if let Some(reservation) = self.engine.reserve_compaction(Some(level)) {
            self.engine.run_reserved_compaction(reservation)?;
        }
        Ok(())
    }

    /// Sizes, counts and counters.
    pub fn stats(&self) -> Result<StoreStats> {
        self.engine.check_open()?;
        self.engine.stats()
    }

    /// Waits for a running flush or compaction, syncs the WAL, closes the
    /// store and releases the directory lock: the directory can be opened
    /// again at once, even while snapshots or iterators of this store are
    /// alive. Closes it for every clone of this handle: later calls, through
    /// any clone and through those snapshots, fail with [`Error::Closed`].
    /// Idempotent; dropping the last clone closes the store too.
    pub fn close(&self) -> Result<()> {
        // No maintenance may touch the directory once its lock is released.
        let _maintenance = self.shared.maintenance.lock();
        self.engine.close()
    }

    /// Writes a checkpoint of the store into `dir`, which must be missing
    /// or empty: a store directory of its own (open it with either store,
    /// or `ReadOnlyStore`) holding exactly the writes with a sequence
    /// number up to [`CheckpointInfo::seq`], which covers every write that
    /// returned before this call. Table files are hard-linked where the
    /// file system allows it and copied otherwise; no WAL is copied.
    ///
    /// Freezes the memtable and flushes it under the maintenance lock
    /// (writers wait only for the freeze), then links or copies with no
    /// store lock held while writes continue. Durable when it returns; a
    /// checkpoint cut short never opens with a hole (`docs/durability.md`,
    /// "Checkpoint"). Errors: [`Error::CheckpointDirNotEmpty`], `Closed`,
    /// `Poisoned` (the memtable cannot be flushed), I/O errors naming the
    /// file; a failed flush poisons the store, a failure in `dir` does not.
    ///
    /// ```
    /// use lsm_store_sync::{LsmConfig, SimpleLsmStore};
    ///
    /// let (dir, backups) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
    /// store.put("apple", "red")?;
    /// let info = store.checkpoint(backups.path().join("monday"))?;
    /// store.put("apple", "green")?; // not in the checkpoint
    /// assert_eq!(info.seq, 1);
    ///
    /// let copy = SimpleLsmStore::open(LsmConfig::new(&info.dir))?;
    /// assert_eq!(copy.get("apple")?, Some(b"red".to_vec()));
    /// assert_eq!(store.get("apple")?, Some(b"green".to_vec()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<CheckpointInfo> {
        self.engine.check_writable()?;
        self.engine.check_checkpoint_dir(dir.as_ref())?;
        {
            let mut freezer = self.shared.maintenance.lock();
            self.engine.check_writable()?; // `close` may have run meanwhile
            freezer.freeze_waiting(true)?;
            while self.engine.flush_oldest_immutable()? {}
        }
        self.engine.checkpoint(dir.as_ref())
    }
}

/// The shared API; each method is the inherent one of the same name
/// (`flush` is [`SimpleLsmStore::flush_memtable`]). A write is visible
/// when it returns, so `wait_visible` is true at once for any acknowledged
/// sequence number, and there is never a backlog.
impl KvStore for SimpleLsmStore {
    type Error = Error;
    type Snapshot = Snapshot;
    type Iter = StoreIterator;

    fn open(config: LsmConfig) -> Result<Self> {
        SimpleLsmStore::open(config)
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<SeqNo> {
        SimpleLsmStore::put(self, key, value)
    }
    fn delete(&self, key: &[u8]) -> Result<SeqNo> {
        SimpleLsmStore::delete(self, key)
    }
    fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        SimpleLsmStore::write(self, batch)
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        SimpleLsmStore::get(self, key)
    }
    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Result<StoreIterator> {
        SimpleLsmStore::range(self, (start, end))
    }
    fn snapshot(&self) -> Result<Snapshot> {
        SimpleLsmStore::snapshot(self)
    }
    fn check_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        self.engine.check_snapshot(snapshot)
    }
    fn flush(&self) -> Result<()> {
        self.flush_memtable()
    }
    fn compact_level(&self, level: usize) -> Result<()> {
        SimpleLsmStore::compact_level(self, level)
    }
    fn stats(&self) -> Result<StoreStats> {
        SimpleLsmStore::stats(self)
    }
    fn backlog(&self) -> Option<Backlog> {
        None
    }
    fn close(&self) -> Result<()> {
        SimpleLsmStore::close(self)
    }
    fn checkpoint(&self, dir: &Path) -> Result<CheckpointInfo> {
        SimpleLsmStore::checkpoint(self, dir)
    }
    /// The engine's watermark wait: every write this store acknowledged is
    /// already below the watermark, so this returns true at once for it
    /// (and waits only for a sequence number no write has returned yet).
    fn wait_visible(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.engine.wait_visible(seq, timeout)
    }
    fn open_keyspace(&self, name: &str) -> Result<lsm_core::KeyspaceId> {
        let (id, created) = self.engine.open_keyspace(name)?;
        if created.is_some() {
            self.after_write(self.engine.memtable_full());
        }
        Ok(id)
    }
    fn drop_keyspace(&self, name: &str) -> Result<SeqNo> {
        SimpleLsmStore::drop_keyspace(self, name)
    }
    fn keyspace_names(&self) -> Result<Vec<String>> {
        SimpleLsmStore::keyspace_names(self)
    }
    fn keyspace_stats_of(
        &self,
        keyspace: lsm_core::KeyspaceId,
    ) -> Result<lsm_engine::KeyspaceStats> {
        self.engine.keyspace_stats_of(keyspace)
    }
    fn get_in(&self, keyspace: lsm_core::KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        SimpleLsmStore::get_in(self, keyspace, key)
    }
    fn range_in(
        &self,
        keyspace: lsm_core::KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<StoreIterator> {
        SimpleLsmStore::range_in(self, keyspace, start, end)
    }
}
