//! Keyspaces and range deletes on [`SimpleLsmStore`].

use std::ops::Bound;

use lsm_core::{KeyspaceId, SeqNo};
use lsm_engine::{KeyRange, KeyspaceStats, Result, StoreIterator};

use crate::SimpleLsmStore;

/// A handle on one keyspace of a [`SimpleLsmStore`] (see
/// [`SimpleLsmStore::keyspace`] and `lsm_engine::Keyspace`).
pub type Keyspace = lsm_engine::Keyspace<SimpleLsmStore>;

impl SimpleLsmStore {
    /// Opens keyspace `name`, creating it (one WAL record, durable per the
    /// sync mode) if it does not exist: an independently ordered key space
    /// sharing this store's WAL, memtables and levels. Names are 1 to 255
    /// bytes.
    ///
    /// ```
    /// use lsm_store_sync::{LsmConfig, SimpleLsmStore, WriteBatch};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
    /// let users = store.keyspace("users")?;
    /// let orders = store.keyspace("orders")?;
    /// users.put("42", "ada")?;
    /// orders.put("42", "one teapot")?;
    /// store.put("42", "the default keyspace")?;
    /// assert_eq!(users.get("42")?, Some(b"ada".to_vec()));
    /// assert_eq!(orders.iter()?.count(), 1);
    ///
    /// // One batch, one WAL record, across keyspaces: atomic.
    /// let mut batch = WriteBatch::new();
    /// batch.put_in(users.id(), "7", "grace").put_in(orders.id(), "7", "a kettle");
    /// store.write(&batch)?;
    ///
    /// assert_eq!(store.keyspace_names()?, ["orders", "users"]);
    /// store.drop_keyspace("orders")?; // every key in it goes, in one record
    /// assert_eq!(orders.get("42")?, None);
    /// assert!(orders.put("1", "x").is_err(), "the handle's keyspace is gone");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        Keyspace::open(self, name)
    }

    /// The names of the keyspaces, in order (the default keyspace, which
    /// the plain `put`/`get` use, has no name).
    pub fn keyspace_names(&self) -> Result<Vec<String>> {
        self.engine.check_open()?;
        Ok(self.engine.keyspace_names())
    }

    /// Drops keyspace `name`: one WAL record deletes its name and every key
    /// in it. Its space comes back as its tables are deleted (those holding
    /// only its keys, at the next flush) or rewritten by compaction.
    pub fn drop_keyspace(&self, name: &str) -> Result<SeqNo> {
        let seq = self.engine.drop_keyspace(name)?;
        // Its record went into the memtable like any write's.
        self.after_write(self.engine.memtable_full());
        Ok(seq)
    }

    /// Tables and bytes keyspace `name` has on disk.
    pub fn keyspace_stats(&self, name: &str) -> Result<KeyspaceStats> {
        self.engine.keyspace_stats(name)
    }

    /// Deletes every key in `range` (default keyspace; any range form:
    /// `"a".."m"`, `"k"..`, `..="z"`, `..`): one
    /// operation and one sequence number whatever the number of keys, honoured by
    /// reads, snapshots and compaction (which drops the deleted data).
    ///
    /// ```
    /// use lsm_store_sync::{LsmConfig, SimpleLsmStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
    /// for i in 0..100 {
    ///     store.put(format!("log{i:03}"), "line")?;
    /// }
    /// let before = store.snapshot()?;
    /// store.delete_range("log010".."log090")?;
    /// assert_eq!(store.get("log050")?, None);
    /// assert_eq!(store.range("log".."loh")?.count(), 20);
    /// assert_eq!(before.get("log050")?, Some(b"line".to_vec()), "snapshots keep their view");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_range(&self, range: impl KeyRange) -> Result<SeqNo> {
        let (start, end) = range.into_bounds();
        let mut batch = lsm_core::WriteBatch::new();
        batch.delete_range_in(
            KeyspaceId::DEFAULT,
            start.as_ref().map(Vec::as_slice),
            end.as_ref().map(Vec::as_slice),
        );
        self.write(&batch)
    }

    pub(crate) fn get_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.engine.get_in(keyspace, key)
    }

    pub(crate) fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<StoreIterator> {
        self.engine.range_in(keyspace, start, end, None)
    }
}
