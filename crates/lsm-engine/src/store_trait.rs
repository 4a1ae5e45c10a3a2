//! [`KvStore`] and [`KvSnapshot`]: the API both stores share, as traits,
//! so the compiler checks that `SimpleLsmStore` and `AsyncLsmStore` keep
//! the same read, write, flush and compaction calls, and so tests, the
//! benchmark and the demo drive either store through one generic path.
//!
//! The traits take byte slices and owned range bounds rather than the
//! stores' `impl AsRef<[u8]>` / `impl KeyRange` generics: a trait method
//! with type parameters would make the trait unusable as `dyn KvStore`,
//! and callers with a concrete store keep the generic inherent methods
//! (an inherent method wins over a trait method of the same name). The
//! range iterators are double-ended, so generic code can read a range
//! backward too.

use std::ops::Bound;
use std::path::Path;
use std::time::Duration;

use lsm_core::{KeyspaceId, SeqNo, WriteBatch};

use crate::config::LsmConfig;
use crate::engine::CheckpointInfo;
use crate::engine::KeyspaceStats;
use crate::error::KvError;
use crate::stats::StoreStats;

/// One `(key, value)` pair of a range read, or the error that ended it.
pub type KvItem<E> = Result<(Vec<u8>, Vec<u8>), E>;

/// A repeatable-read view of a store: every read through it sees the store
/// as of [`KvSnapshot::seq`].
pub trait KvSnapshot: Send + Sync {
    /// The store's error type.
    type Error: KvError;
    /// The range iterator (the store's), double-ended.
    type Iter: DoubleEndedIterator<Item = KvItem<Self::Error>> + Send;

    /// The sequence number the snapshot reads at.
    fn seq(&self) -> SeqNo;
    /// The value of `key` as of the snapshot, or `None`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// The live pairs between `start` and `end` as of the snapshot, in key
    /// order.
    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Result<Self::Iter, Self::Error>;
    /// The value of `key` in `keyspace` as of the snapshot, or `None`.
    fn get_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// The live pairs of `keyspace` between `start` and `end` as of the
    /// snapshot, in key order.
    fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<Self::Iter, Self::Error>;
}

/// What `SimpleLsmStore` and `AsyncLsmStore` share. Object-safe: with the
/// associated types named, `dyn KvStore<Error = .., Snapshot = .., Iter =
/// ..>` works (all but [`KvStore::open`]).
///
/// The one difference the trait exposes is visibility: a sync store's
/// write is visible to reads when the call returns; an async store's write
/// is visible once [`KvStore::wait_visible`] of its sequence number
/// returned true.
pub trait KvStore: Send + Sync {
    /// The store's one error type.
    type Error: KvError;
    /// The store's snapshot.
    type Snapshot: KvSnapshot<Error = Self::Error, Iter = Self::Iter>;
    /// The store's range iterator, double-ended.
    type Iter: DoubleEndedIterator<Item = KvItem<Self::Error>> + Send;

    /// Opens or creates the store described by `config`, recovering from
    /// the manifest and WAL.
    fn open(config: LsmConfig) -> Result<Self, Self::Error>
    where
        Self: Sized;
    /// Sets `key` to `value`; returns the write's sequence number.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<SeqNo, Self::Error>;
    /// Deletes `key`; returns the write's sequence number.
    fn delete(&self, key: &[u8]) -> Result<SeqNo, Self::Error>;
    /// Applies `batch` atomically; returns its last sequence number.
    fn write(&self, batch: &WriteBatch) -> Result<SeqNo, Self::Error>;
    /// The value of `key` among the visible writes, or `None`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// The live pairs between `start` and `end` among the visible writes,
    /// in key order.
    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Result<Self::Iter, Self::Error>;
    /// A repeatable-read snapshot of the visible writes.
    fn snapshot(&self) -> Result<Self::Snapshot, Self::Error>;
    /// Fails with the store's foreign-snapshot error
    /// ([`crate::Error::ForeignSnapshot`]) unless `snapshot` was made by
    /// this store, in this open of its directory (not another store's, nor
    /// one from before a close and reopen). Code that reads one store's
    /// data through a snapshot it was handed (a keyspace handle's `get_at`)
    /// calls it first. One comparison, no lock.
    fn check_snapshot(&self, snapshot: &Self::Snapshot) -> Result<(), Self::Error>;
    /// Flushes the memtable to an L0 table and returns once it is written.
    fn flush(&self) -> Result<(), Self::Error>;
    /// Compacts every table of `level` into `level + 1`, returning once
    /// the compaction is done.
    fn compact_level(&self, level: usize) -> Result<(), Self::Error>;
    /// Sizes, counts and counters.
    fn stats(&self) -> Result<StoreStats, Self::Error>;
    /// Background work accepted but not finished: `None` for a store that
    /// runs none (every call finishes its work before returning).
    fn backlog(&self) -> Option<Backlog>;
    /// Closes the store and releases its directory. Idempotent.
    fn close(&self) -> Result<(), Self::Error>;
    /// Writes a checkpoint into `dir` (missing or empty; if inside the store's
    /// directory, not named like one of the store's own files): a store of its
    /// own holding every write up to [`CheckpointInfo::seq`] and none
    /// after, at least every write acknowledged before the call. See
    /// `docs/durability.md`, "Checkpoint".
    fn checkpoint(&self, dir: &Path) -> Result<CheckpointInfo, Self::Error>;
    /// The visibility fence: waits until every write up to `seq` is
    /// visible to reads; false if `timeout` passed first. True at once for
    /// any write a sync store acknowledged.
    fn wait_visible(&self, seq: SeqNo, timeout: Duration) -> bool;
    /// Deletes every key in `[start, end)` of the default keyspace: one
    /// operation, one sequence number (returned).
    fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<SeqNo, Self::Error> {
        let mut batch = WriteBatch::new();
        batch.delete_range(start, end);
        self.write(&batch)
    }
    /// The id of keyspace `name`, creating it (one WAL record) if missing.
    fn open_keyspace(&self, name: &str) -> Result<KeyspaceId, Self::Error>;
    /// Drops keyspace `name` and every key in it (one WAL record); returns
    /// its sequence number.
    fn drop_keyspace(&self, name: &str) -> Result<SeqNo, Self::Error>;
    /// The names of the keyspaces, in order (the default one has none).
    fn keyspace_names(&self) -> Result<Vec<String>, Self::Error>;
    /// What the keyspace with id `keyspace` holds on disk; the store's
    /// "unknown keyspace" error once it was dropped.
    fn keyspace_stats_of(&self, keyspace: KeyspaceId) -> Result<KeyspaceStats, Self::Error>;
    /// The value of `key` in `keyspace` among the visible writes, or `None`
    /// (the store's "unknown keyspace" error for the internal catalog's
    /// id, whose writes are refused too).
    fn get_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// The live pairs of `keyspace` between `start` and `end` among the
    /// visible writes, in key order.
    fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<Self::Iter, Self::Error>;
}

/// Work an async store has accepted but not finished ([`KvStore::backlog`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Writes appended to the WAL and waiting to be applied.
    pub queued_writes: usize,
    /// Compaction jobs waiting to run.
    pub pending_compactions: usize,
}

impl Backlog {
    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queued_writes == 0 && self.pending_compactions == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Snapshot, StoreIterator};

    /// Compiles only while both traits stay dyn-compatible.
    #[allow(dead_code)]
    fn takes_dyn_store(
        store: &dyn KvStore<Error = Error, Snapshot = Snapshot, Iter = StoreIterator>,
        snapshot: &dyn KvSnapshot<Error = Error, Iter = StoreIterator>,
    ) -> (Option<Backlog>, SeqNo) {
        (store.backlog(), snapshot.seq())
    }

    #[test]
    fn backlog_is_empty_only_when_nothing_waits() {
        assert!(Backlog::default().is_empty());
        let queued = Backlog {
            queued_writes: 1,
            pending_compactions: 0,
        };
        assert!(!queued.is_empty());
    }
}
