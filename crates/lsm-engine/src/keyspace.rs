//! [`Keyspace`]: a handle on one named keyspace of a store.
//!
//! A keyspace is an independently ordered key space inside one store
//! (RocksDB's column families, fjall's keyspaces, sled's trees): the same
//! key can hold a different value in each, a scan of one never sees
//! another's keys, and dropping one deletes all its keys at once. All
//! keyspaces share the store's WAL, memtables and levels (see
//! `docs/ARCHITECTURE.md`, "Keyspaces and range deletes"), so a
//! [`WriteBatch`] spanning keyspaces ([`WriteBatch::put_in`] with
//! [`Keyspace::id`]) is atomic and one fsync covers it.
//!
//! The handle is generic over the store (`lsm_store_sync::Keyspace` and
//! `lsm_store_async::Keyspace` name it for each) and holds a clone of the
//! store handle: cheap to clone, `Send + Sync`, usable after the call that
//! opened it returned. After the keyspace is dropped, writes and `stats`
//! through an old handle fail with the store's "unknown keyspace" error
//! and reads find nothing.

use std::sync::Arc;

use bytes::Bytes;
use lsm_core::{KeyspaceId, SeqNo, WriteBatch};

use crate::engine::KeyspaceStats;
use crate::key_range::{prefix_range, KeyRange};
use crate::store_trait::{KvSnapshot, KvStore};

/// A handle on one keyspace of store `S`. See the module docs.
#[derive(Clone, Debug)]
pub struct Keyspace<S> {
    store: S,
    id: KeyspaceId,
    name: Arc<str>,
}

impl<S: KvStore + Clone> Keyspace<S> {
    /// Opens keyspace `name` of `store`, creating it (one WAL record) if it
    /// does not exist. The stores' `keyspace(name)` calls this.
    pub fn open(store: &S, name: &str) -> Result<Keyspace<S>, S::Error> {
        let id = store.open_keyspace(name)?;
        Ok(Keyspace {
            store: store.clone(),
            id,
            name: Arc::from(name),
        })
    }

    /// The keyspace's id, for [`WriteBatch::put_in`] and friends.
    pub fn id(&self) -> KeyspaceId {
        self.id
    }

    /// The keyspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets `key` to `value` in this keyspace; returns the sequence number.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<SeqNo, S::Error> {
        let mut batch = WriteBatch::new();
        batch.put_in(self.id, key, value);
        self.store.write(&batch)
    }

    /// Deletes `key` in this keyspace; returns the sequence number.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<SeqNo, S::Error> {
        let mut batch = WriteBatch::new();
        batch.delete_in(self.id, key);
        self.store.write(&batch)
    }

    /// Deletes every key of this keyspace in `range` (any range form:
    /// `"a".."m"`, `"k"..`, `..`, ...): one operation, one sequence number
    /// (returned), whatever the number of keys.
    pub fn delete_range(&self, range: impl KeyRange) -> Result<SeqNo, S::Error> {
        let (start, end) = range.into_bounds();
        let mut batch = WriteBatch::new();
        batch.delete_range_in(
            self.id,
            start.as_ref().map(Vec::as_slice),
            end.as_ref().map(Vec::as_slice),
        );
        self.store.write(&batch)
    }

    /// The value of `key` in this keyspace, or `None`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, S::Error> {
        self.store.get_in(self.id, key.as_ref())
    }

    /// The value of `key` in this keyspace as of `snapshot`, or `None`.
    /// A snapshot of another store (or open) is refused
    /// ([`KvStore::check_snapshot`]), here and in `range_at` and
    /// `get_pinned_at`.
    pub fn get_at(
        &self,
        snapshot: &S::Snapshot,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Vec<u8>>, S::Error> {
        self.store.check_snapshot(snapshot)?;
        snapshot.get_in(self.id, key.as_ref())
    }

    /// The live pairs of this keyspace in `range` (any range form), in key
    /// order; the iterator is double-ended (`.rev()`).
    pub fn range(&self, range: impl KeyRange) -> Result<S::Iter, S::Error> {
        let (start, end) = range.into_bounds();
        self.store.range_in(self.id, start, end)
    }

    /// The live pairs of this keyspace in `range` as of `snapshot`.
    pub fn range_at(
        &self,
        snapshot: &S::Snapshot,
        range: impl KeyRange,
    ) -> Result<S::Iter, S::Error> {
        self.store.check_snapshot(snapshot)?;
        let (start, end) = range.into_bounds();
        snapshot.range_in(self.id, start, end)
    }

    /// Every live pair of this keyspace, in key order (double-ended).
    pub fn iter(&self) -> Result<S::Iter, S::Error> {
        self.range(..)
    }

    /// The live pairs of this keyspace whose keys start with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<S::Iter, S::Error> {
        self.range(prefix_range(prefix.as_ref()))
    }

    /// Tables and bytes this keyspace has on disk; the store's "unknown
    /// keyspace" error once it was dropped (even if one of the same name
    /// was created since).
    pub fn stats(&self) -> Result<KeyspaceStats, S::Error> {
        self.store.keyspace_stats_of(self.id)
    }
}

/// Point reads that return the value without a copy, as a [`Bytes`] slice
/// of the cached table block that holds it (memtable values are copied
/// once). Implemented
/// by both stores and both snapshot types; [`Keyspace::get_pinned`] uses
/// it. (Not part of [`KvStore`], so that trait stays as it was.)
pub trait PinnedRead {
    /// The error reads fail with.
    type Error;

    /// The value of `key` in `keyspace`, or `None`; without a copy.
    fn get_pinned_in(&self, keyspace: KeyspaceId, key: &[u8])
        -> Result<Option<Bytes>, Self::Error>;
}

impl<S> Keyspace<S>
where
    S: KvStore + PinnedRead<Error = <S as KvStore>::Error> + Clone,
{
    /// [`Keyspace::get`] without a copy: the value as a [`Bytes`] slice of
    /// the cached block holding it, which it keeps alive (a memtable value
    /// is copied once).
    /// For a pinned scan, call `.pinned()` on [`Keyspace::iter`]'s or
    /// [`Keyspace::range`]'s iterator.
    pub fn get_pinned(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>, <S as KvStore>::Error> {
        self.store.get_pinned_in(self.id, key.as_ref())
    }

    /// [`Keyspace::get_at`] without a copy.
    pub fn get_pinned_at(
        &self,
        snapshot: &S::Snapshot,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>, <S as KvStore>::Error>
    where
        S::Snapshot: PinnedRead<Error = <S as KvStore>::Error>,
    {
        self.store.check_snapshot(snapshot)?;
        snapshot.get_pinned_in(self.id, key.as_ref())
    }
}
