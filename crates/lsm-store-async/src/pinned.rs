//! Values without a copy on [`AsyncLsmStore`] and its [`Snapshot`]:
//! `get_pinned`, [`StoreIterator::pinned`] and the [`PinnedRead`]
//! implementations behind [`Keyspace::get_pinned`](crate::Keyspace).

use bytes::Bytes;
use lsm_core::KeyspaceId;
use lsm_engine::PinnedRead;

use crate::error::{Error, Result};
use crate::read::{Snapshot, StoreIterator};
use crate::AsyncLsmStore;

impl AsyncLsmStore {
    /// The value of `key` at the watermark, or `None`, without a copy: a
    /// [`Bytes`] slice of the cached table block that holds it (a value
    /// still in the memtable is copied once). From a cached block that costs a reference-count increment
    /// where [`get`](Self::get) allocates and copies the value; the slice
    /// keeps its block alive while it is held, even after the block is
    /// evicted, its table compacted away or the store closed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lsm_store_async::{AsyncLsmStore, Bytes, LsmConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
    /// let seq = store.put("apple", "red")?;
    /// assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
    /// store.flush_memtable()?; // now in a table; reads go through the block cache
    ///
    /// let first: Bytes = store.get_pinned("apple")?.expect("written above");
    /// let second = store.get_pinned("apple")?.expect("written above");
    /// assert_eq!(first, "red");
    /// assert_eq!(first.as_ptr(), second.as_ptr(), "one cached block, no copy");
    ///
    /// let snapshot = store.snapshot()?;
    /// assert_eq!(snapshot.get_pinned("apple")?, Some(first.clone()));
    /// let pairs: Vec<(Bytes, Bytes)> = snapshot.iter()?.pinned().collect::<Result<_, _>>()?;
    /// assert_eq!(pairs, [(Bytes::from("apple"), Bytes::from("red"))]);
    ///
    /// let fruit = store.keyspace("fruit")?;
    /// let seq = fruit.put("pear", "green")?;
    /// assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
    /// assert_eq!(fruit.get_pinned("pear")?.unwrap(), "green");
    /// assert_eq!(fruit.get_pinned_at(&snapshot, "pear")?, None, "written after it");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_pinned(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        Ok(self.engine.get_pinned(key.as_ref())?)
    }
}

impl PinnedRead for AsyncLsmStore {
    type Error = Error;

    fn get_pinned_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(self.engine.get_pinned_in(keyspace, key)?)
    }
}

impl Snapshot {
    /// The value of `key` as of the snapshot, without a copy (see
    /// [`AsyncLsmStore::get_pinned`]).
    pub fn get_pinned(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        Ok(self.0.get_pinned(key)?)
    }
}

impl PinnedRead for Snapshot {
    type Error = Error;

    fn get_pinned_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        Ok(PinnedRead::get_pinned_in(&self.0, keyspace, key)?)
    }
}

impl StoreIterator {
    /// The same iterator, yielding `(key, value)` as [`Bytes`], each value
    /// a slice of the cached table block it is stored in, not a copy
    /// (values still in a memtable are copied once); the key costs one
    /// allocation, as a `Vec` key does. See
    /// `lsm_engine::StoreIterator::pinned`.
    pub fn pinned(self) -> PinnedStoreIterator {
        PinnedStoreIterator(self.0.pinned())
    }
}

/// A [`StoreIterator`] yielding `(key, value)` as [`Bytes`], values not
/// copied; made by [`StoreIterator::pinned`]. Double-ended like the
/// iterator it was made from; yields `Result<_, Error>` and ends after an
/// error.
#[derive(Debug)]
pub struct PinnedStoreIterator(lsm_engine::PinnedStoreIterator);

impl Iterator for PinnedStoreIterator {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|item| item.map_err(Error::from))
    }
}

impl DoubleEndedIterator for PinnedStoreIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|item| item.map_err(Error::from))
    }
}
