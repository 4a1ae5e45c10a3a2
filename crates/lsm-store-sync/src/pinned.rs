//! Values without a copy on [`SimpleLsmStore`]: [`SimpleLsmStore::get_pinned`]
//! and the [`PinnedRead`] implementation behind
//! [`Keyspace::get_pinned`](crate::Keyspace). Pinned scans are
//! [`StoreIterator::pinned`](crate::StoreIterator::pinned).

use bytes::Bytes;
use lsm_core::KeyspaceId;
use lsm_engine::{Error, PinnedRead, Result};

use crate::SimpleLsmStore;

impl SimpleLsmStore {
    /// The value of `key`, or `None`, without a copy: a [`Bytes`] slice of
    /// the cached table block that holds it (a value still in the memtable
    /// is copied once). From a
    /// cached block that costs a reference-count increment where
    /// [`get`](Self::get) allocates and copies the value; the slice keeps
    /// its block alive while it is held, even after the block is evicted,
    /// its table compacted away or the store closed.
    ///
    /// ```
    /// use lsm_store_sync::{Bytes, LsmConfig, SimpleLsmStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
    /// store.put("apple", "red")?;
    /// store.flush_memtable()?; // now in a table; reads go through the block cache
    ///
    /// let first: Bytes = store.get_pinned("apple")?.expect("written above");
    /// let second = store.get_pinned("apple")?.expect("written above");
    /// assert_eq!(first, "red");
    /// // Both are views of the one cached block: no copy was made.
    /// assert_eq!(first.as_ptr(), second.as_ptr());
    /// assert_eq!(store.get("apple")?, Some(first.to_vec())); // `get` copies it once
    ///
    /// // Pinned scans: `(key, value)` as `Bytes`, values not copied.
    /// let pairs: Vec<(Bytes, Bytes)> = store.iter()?.pinned().collect::<Result<_, _>>()?;
    /// assert_eq!(pairs, [(Bytes::from("apple"), Bytes::from("red"))]);
    ///
    /// store.close()?;
    /// assert_eq!(first, "red", "a pinned value outlives the store");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_pinned(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.engine.get_pinned(key.as_ref())
    }
}

impl PinnedRead for SimpleLsmStore {
    type Error = Error;

    fn get_pinned_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Bytes>> {
        self.engine.get_pinned_in(keyspace, key)
    }
}
