//! Snapshots: a registered sequence number that compactions must preserve
//! (every version it can see is kept until it is dropped).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use lsm_core::{KeyspaceId, SeqNo};
use parking_lot::Mutex;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::key_range::{prefix_range, KeyRange};
use crate::keyspace::PinnedRead;
use crate::read::StoreIterator;
use crate::store_trait::KvSnapshot;

/// The live snapshots of a store.
#[derive(Debug, Default)]
pub struct SnapshotList {
    /// Guarded: seq -> number of live handles at that seq.
    live: Mutex<BTreeMap<SeqNo, usize>>,
    /// The id of the store's open ([`crate::instance::Instance`]) every
    /// handle records (0, no open's, for a list made by `default`).
    instance: u64,
}

impl SnapshotList {
    /// The list of the open whose instance id is `instance`.
    pub(crate) fn for_instance(instance: u64) -> SnapshotList {
        SnapshotList {
            live: Mutex::default(),
            instance,
        }
    }

    /// Registers a snapshot at the sequence number `choose` returns,
    /// called under the list's lock: a flush or compaction reads the list
    /// under the same lock, so it either sees the snapshot or ran entirely
    /// before its number was chosen (and then holds only writes at or below
    /// it). Choosing first and registering after would let a flush in
    /// between drop a version the snapshot needs.
    pub fn acquire_with(self: &Arc<Self>, choose: impl FnOnce() -> SeqNo) -> SnapshotHandle {
        let mut live = self.live.lock();
        let seq = choose();
        *live.entry(seq).or_insert(0) += 1;
        SnapshotHandle {
            seq,
            instance: self.instance,
            list: Arc::clone(self),
        }
    }

    /// The live snapshot sequence numbers, ascending.
    pub fn sequence_numbers(&self) -> Vec<SeqNo> {
        self.live.lock().keys().copied().collect()
    }

    /// Number of live snapshot handles.
    pub fn count(&self) -> usize {
        self.live.lock().values().sum()
    }

    fn release(&self, seq: SeqNo) {
        let mut live = self.live.lock();
        if let Some(count) = live.get_mut(&seq) {
            *count -= 1;
            if *count == 0 {
                live.remove(&seq);
            }
        }
    }
}

/// A registered snapshot; released when dropped.
#[derive(Debug)]
pub struct SnapshotHandle {
    seq: SeqNo,
    /// The id of the store's open that made it.
    instance: u64,
    list: Arc<SnapshotList>,
}

impl SnapshotHandle {
    /// The snapshot's sequence number: reads see writes up to it.
    pub fn seq(&self) -> SeqNo {
        self.seq
    }

    /// The id of the store's open that made it.
    pub(crate) fn instance(&self) -> u64 {
        self.instance
    }
}

impl Drop for SnapshotHandle {
    fn drop(&mut self) {
        self.list.release(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_register_and_release() {
        let list = Arc::new(SnapshotList::default());
        let a = list.acquire_with(|| 5);
        let b = list.acquire_with(|| 5);
        let c = list.acquire_with(|| 9);
        assert_eq!(list.sequence_numbers(), [5, 9]);
        drop(a);
        assert_eq!(list.sequence_numbers(), [5, 9]);
        drop(b);
        drop(c);
        assert!(list.sequence_numbers().is_empty());
        assert_eq!(list.count(), 0);
    }

    /// `choose` runs under the list's lock: a reader of the list (a flush
    /// or compaction) that comes while a number is being chosen sees the
    /// snapshot registered.
    #[test]
    fn choose_runs_under_the_lists_lock() {
        let list = Arc::new(SnapshotList::default());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let _handle = list.acquire_with(|| {
                let reader = Arc::clone(&list);
                s.spawn(move || tx.send(reader.sequence_numbers()).unwrap());
                let early = rx.recv_timeout(std::time::Duration::from_millis(200));
                assert!(early.is_err(), "read the list while choosing: {early:?}");
                7
            });
            assert_eq!(rx.recv().unwrap(), [7]);
        });
    }
}

/// A repeatable-read view: every read through it sees the store as of the
/// sequence number it was taken at. Versions it can see are kept by
/// compactions until it is dropped.
///
/// It belongs to the open of the store that made it: its own reads go to
/// that store, and a read naming it through another store (a keyspace
/// handle's `get_at` / `range_at` / `get_pinned_at`, [`KvStore::check_snapshot`](crate::KvStore::check_snapshot))
/// fails with [`Error::ForeignSnapshot`], also when that store is a later
/// open of the same directory.
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

    /// The id of the store's open that made it.
    pub(crate) fn instance(&self) -> u64 {
        self.handle.instance()
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        self.engine.get_at(key.as_ref(), self.handle.seq())
    }

    /// The value of `key` as of the snapshot, without a copy: a [`Bytes`]
    /// slice of the cached block or memtable entry holding it, which it
    /// keeps alive (after the snapshot is dropped too).
    pub fn get_pinned(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.engine.get_pinned_at(key.as_ref(), self.handle.seq())
    }

    /// The live keys in `range` as of the snapshot, in order; any range
    /// form ([`KeyRange`]), e.g. `..`, `"a".."m"`, `b"k"..=b"p"`. The
    /// iterator is double-ended: `.rev()` yields the range backward.
    pub fn range(&self, range: impl KeyRange) -> Result<StoreIterator> {
        let (start, end) = range.into_bounds();
        self.engine
            .range(start, end, Some(Arc::clone(&self.handle)))
    }

    /// Every live key as of the snapshot, in order (double-ended).
    pub fn iter(&self) -> Result<StoreIterator> {
        self.range(..)
    }

    /// The live keys that start with `prefix` as of the snapshot, in order
    /// (double-ended); see [`prefix_range`].
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<StoreIterator> {
        self.range(prefix_range(prefix.as_ref()))
    }
}

impl KvSnapshot for Snapshot {
    type Error = Error;
    type Iter = StoreIterator;

    fn seq(&self) -> SeqNo {
        Snapshot::seq(self)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Snapshot::get(self, key)
    }

    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Result<StoreIterator> {
        Snapshot::range(self, (start, end))
    }

    fn get_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.engine.get_at_in(keyspace, key, self.handle.seq())
    }

    fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<StoreIterator> {
        self.engine
            .range_in(keyspace, start, end, Some(Arc::clone(&self.handle)))
    }
}

impl PinnedRead for Snapshot {
    type Error = Error;

    fn get_pinned_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        self.engine
            .get_pinned_at_in(keyspace, key, self.handle.seq())
    }
}
