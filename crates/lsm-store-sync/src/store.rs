//! `SimpleLsmStore`: the synchronous store. Every call does its work on the
//! caller's thread: a write that fills the memtable freezes it, flushes it to
//! an L0 table and runs any compaction the picker asks for before returning.

use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_core::{SeqNo, WriteBatch};
use parking_lot::Mutex;

use lsm_engine::{
    prefix_range, Backlog, Engine, Error, Freezer, KeyRange, KvStore, LsmConfig, Result, Snapshot,
    StallCause, StoreIterator, StoreStats,
};

/// The synchronous LSM store. `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct SimpleLsmStore {
    engine: Arc<Engine>,
    /// The engine's freezer. Holding it serializes freeze + flush +
    /// compaction on the writer's thread, and `close` takes it so that no
    /// maintenance runs after the directory lock is released.
    maintenance: Mutex<Freezer>,
}

impl SimpleLsmStore {
    /// Opens or creates the store described by `config`, recovering from
    /// the manifest and WAL.
    pub fn open(config: LsmConfig) -> Result<SimpleLsmStore> {
        let engine = Arc::new(Engine::open(config)?);
        let freezer = engine.freezer().ok_or_else(|| Error::Poisoned {
            reason: "a new engine's freezer was already taken".to_string(),
        })?;
        Ok(SimpleLsmStore {
            engine,
            maintenance: Mutex::new(freezer),
        })
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
        let written = self.engine.write(batch)?;
        if written.memtable_full {
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
        Ok(written.last_seq)
    }

    /// Freezes a full memtable, flushes it and compacts as the picker asks.
    fn make_room(&self) -> Result<()> {
        let mut freezer = self.maintenance.lock();
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
    /// `SyncMode::Never` or `EveryBytes` it is how a caller batches many
    /// writes under one fsync. A failed sync poisons the store
    /// ([`Error::Poisoned`] for later writes), like a failed synced write.
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
        let mut freezer = self.maintenance.lock();
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
        let _maintenance = self.maintenance.lock();
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
    /// alive. Later calls, also through those snapshots, fail with
    /// [`Error::Closed`]. Idempotent; dropping the store closes it too.
    pub fn close(&self) -> Result<()> {
        // No maintenance may touch the directory once its lock is released.
        let _maintenance = self.maintenance.lock();
        self.engine.close()
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
    /// The engine's watermark wait: every write this store acknowledged is
    /// already below the watermark, so this returns true at once for it
    /// (and waits only for a sequence number no write has returned yet).
    fn wait_visible(&self, seq: SeqNo, timeout: Duration) -> bool {
        self.engine.wait_visible(seq, timeout)
    }
}

impl Drop for SimpleLsmStore {
    fn drop(&mut self) {
        let _ = self.engine.close();
    }
}
