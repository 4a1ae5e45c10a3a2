//! `SimpleLsmStore`: the synchronous store. Every call does its work on the
//! caller's thread: a write that fills the memtable freezes it, flushes it to
//! an L0 table and runs any compaction the picker asks for before returning.

use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use lsm_core::{SeqNo, WriteBatch};
use parking_lot::Mutex;

use crate::config::LsmConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::read::StoreIterator;
use crate::snapshot::SnapshotHandle;
use crate::stats::StoreStats;

/// Converts any `RangeBounds` over byte-like keys into owned bounds.
pub fn owned_bounds<K: AsRef<[u8]> + ?Sized, R: RangeBounds<K>>(
    range: &R,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let own = |bound: Bound<&K>| match bound {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// A repeatable-read view: every read through it sees the store as of the
/// sequence number it was taken at. Versions it can see are kept by
/// compactions until it is dropped.
#[derive(Clone, Debug)]
pub struct Snapshot {
    engine: Arc<Engine>,
    handle: Arc<SnapshotHandle>,
}

impl Snapshot {
    /// Registers a snapshot of `engine` at its current watermark.
    pub fn new(engine: &Arc<Engine>) -> Result<Snapshot> {
        Ok(Snapshot {
            handle: engine.snapshot()?,
            engine: Arc::clone(engine),
        })
    }

    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> SeqNo {
        self.handle.seq()
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.engine.get_at(key.as_ref(), self.handle.seq())
    }

    /// The live keys in `range` as of the snapshot, in order.
    pub fn range<K: AsRef<[u8]> + ?Sized, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<StoreIterator> {
        let (start, end) = owned_bounds(&range);
        self.engine
            .range(start, end, Some(Arc::clone(&self.handle)))
    }
}

/// The synchronous LSM store. `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct SimpleLsmStore {
    engine: Arc<Engine>,
    /// Serializes freeze + flush + compaction on the writer's thread.
    maintenance: Mutex<()>,
}

impl SimpleLsmStore {
    /// Opens or creates the store described by `config`, recovering from
    /// the manifest and WAL.
    pub fn open(config: LsmConfig) -> Result<SimpleLsmStore> {
        Ok(SimpleLsmStore {
            engine: Arc::new(Engine::open(config)?),
            maintenance: Mutex::new(()),
        })
    }

    /// The shared internals (for tools and the async store's tests).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
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
    pub fn write(&self, batch: &WriteBatch) -> Result<SeqNo> {
        let written = self.engine.write(batch)?;
        if written.memtable_full {
            if let Err(err) = self.make_room() {
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
        let _maintenance = self.maintenance.lock();
        if self.engine.check_writable().is_err() || !self.engine.memtable_full() {
            // Closed: `close` waited for `maintenance` and released the
            // directory; the write is in the synced WAL. Poisoned: the
            // store does no more maintenance until it is reopened. Not
            // full: another writer made room while we waited.
            return Ok(());
        }
        self.flush_and_compact()
    }

    fn flush_and_compact(&self) -> Result<()> {
        self.engine.freeze_memtable()?;
        while self.engine.flush_oldest_immutable()? {}
        while let Some((choice, version)) = self.engine.reserve_compaction(None) {
            self.engine.run_reserved_compaction(choice, version)?;
        }
        Ok(())
    }

    /// The value of `key`, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.engine.get(key.as_ref())
    }

    /// The live keys in `range`, in order, as of now.
    pub fn range<K: AsRef<[u8]> + ?Sized, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> Result<StoreIterator> {
        let (start, end) = owned_bounds(&range);
        self.engine.range(start, end, None)
    }

    /// A repeatable-read snapshot.
    pub fn snapshot(&self) -> Result<Snapshot> {
        Snapshot::new(&self.engine)
    }

    /// Flushes the memtable to an L0 table now (and runs any compaction
    /// that makes due).
    pub fn flush_memtable(&self) -> Result<()> {
        self.engine.check_writable()?;
        let _maintenance = self.maintenance.lock();
        self.engine.check_writable()?; // `close` may have run meanwhile
        self.flush_and_compact()
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
        if let Some((choice, version)) = self.engine.reserve_compaction(Some(level)) {
            self.engine.run_reserved_compaction(choice, version)?;
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

impl Drop for SimpleLsmStore {
    fn drop(&mut self) {
        let _ = self.engine.close();
    }
}
