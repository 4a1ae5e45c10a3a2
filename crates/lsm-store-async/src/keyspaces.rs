//! Keyspaces and range deletes on [`AsyncLsmStore`].

use std::ops::Bound;

use lsm_core::{KeyspaceId, SeqNo};
use lsm_engine::{KeyRange, KeyspaceStats};

use crate::error::Result;
use crate::read::StoreIterator;
use crate::AsyncLsmStore;

/// A handle on one keyspace of an [`AsyncLsmStore`] (see
/// [`AsyncLsmStore::keyspace`] and `lsm_engine::Keyspace`). Its writes
/// return at once with their sequence number, like the store's; they are
/// visible once [`AsyncLsmStore::wait_for_seq`] of it returned true.
pub type Keyspace = lsm_engine::Keyspace<AsyncLsmStore>;

impl AsyncLsmStore {
    /// Opens keyspace `name`, creating it if it does not exist: an
    /// independently ordered key space sharing this store's WAL, memtables
    /// and levels. Creating is one WAL record, applied and visible when
    /// this returns. Names are 1 to 255 bytes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
    /// let users = store.keyspace("users")?;
    /// let seq = users.put("42", "ada")?;
    /// assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
    /// assert_eq!(users.get("42")?, Some(b"ada".to_vec()));
    /// assert_eq!(store.get("42")?, None, "the default keyspace is another one");
    /// let seq = store.drop_keyspace("users")?;
    /// assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
    /// assert_eq!(users.get("42")?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keyspace(&self, name: &str) -> Result<Keyspace> {
        Keyspace::open(self, name)
    }

    /// The names of the keyspaces, in order (the default keyspace has no
    /// name).
    pub fn keyspace_names(&self) -> Result<Vec<String>> {
        self.engine.check_open()?;
        Ok(self.engine.keyspace_names())
    }

    /// Drops keyspace `name`: one WAL record deletes its name and every key
    /// in it (applied and visible when this returns). Its space comes back
    /// as its tables are deleted or rewritten by compaction.
    pub fn drop_keyspace(&self, name: &str) -> Result<SeqNo> {
        let seq = self.engine.drop_keyspace(name)?;
        self.after_catalog_write();
        Ok(seq)
    }

    /// Tables and bytes keyspace `name` has on disk.
    pub fn keyspace_stats(&self, name: &str) -> Result<KeyspaceStats> {
        Ok(self.engine.keyspace_stats(name)?)
    }

    /// Deletes every key in `range` of the default keyspace (any range
    /// form: `"a".."m"`, `"k"..`, `..`): one
    /// operation and one sequence number (returned at once, like any
    /// write), honoured by reads, snapshots and compaction.
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
        Ok(self.engine.get_in(keyspace, key)?)
    }

    pub(crate) fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<StoreIterator> {
        let inner = self.engine.range_in(keyspace, start, end, None)?;
        Ok(StoreIterator::new(inner))
    }
}
