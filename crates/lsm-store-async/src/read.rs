//! The async store's read handles: the engine's snapshot and range
//! iterator, reporting this crate's [`Error`] so an async user matches one
//! error type everywhere.

use std::ops::Bound;

use lsm_core::{KeyspaceId, SeqNo};
use lsm_engine::{prefix_range, KeyRange, KvSnapshot};

use crate::error::{Error, Result};

/// Iterator over the live keys of a range, in key order, as of one
/// sequence number. Yields `Result<(key, value), Error>`; after an error it
/// ends. Double-ended, like the engine's `StoreIterator` it wraps: `.rev()`
/// reads the range backward, and `next` and `next_back` may be mixed (the
/// ends meet in the middle, no key comes twice). Once the store is closed,
/// its next move (either end, pinned or borrowed too) yields a `Closed`
/// error and ends it; what it yielded before stays valid.
#[derive(Debug)]
pub struct StoreIterator(pub(crate) lsm_engine::StoreIterator);

impl StoreIterator {
    pub(crate) fn new(inner: lsm_engine::StoreIterator) -> Self {
        StoreIterator(inner)
    }

    /// The next live pair from the front, borrowed from the iterator: no
    /// allocation and no copy, valid until the iterator moves again. The
    /// same pairs in the same order as [`Iterator::next`] (the two may be
    /// mixed, and with `next_back`); `None` at the end and after the error
    /// that ends the iterator.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lsm_store_async::{AsyncLsmStore, LsmConfig};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
    /// store.put("apple", "red")?;
    /// let seq = store.put("pear", "green")?;
    /// assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
    /// let mut iter = store.iter()?;
    /// let mut bytes = 0;
    /// while let Some(item) = iter.next_borrowed() {
    ///     let (key, value) = item?;
    ///     bytes += key.len() + value.len();
    /// }
    /// assert_eq!(bytes, "applered".len() + "peargreen".len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_borrowed(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        self.0.next_borrowed().map(|item| item.map_err(Error::from))
    }
}

impl Iterator for StoreIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|item| item.map_err(Error::from))
    }
}

impl DoubleEndedIterator for StoreIterator {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|item| item.map_err(Error::from))
    }
}

/// A repeatable-read snapshot of an [`crate::AsyncLsmStore`]: every read
/// through it sees the store as of [`Snapshot::seq`], the watermark when it
/// was taken. Versions it can see are kept by compactions until it is
/// dropped. Reads after the store closed fail with a `Closed` error.
#[derive(Clone, Debug)]
pub struct Snapshot(pub(crate) lsm_engine::Snapshot);

impl Snapshot {
    pub(crate) fn new(inner: lsm_engine::Snapshot) -> Self {
        Snapshot(inner)
    }

    /// The sequence number the snapshot reads at.
    pub fn seq(&self) -> SeqNo {
        self.0.seq()
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get(key)?)
    }

    /// The live keys in `range` as of the snapshot, in order; any range
    /// form ([`KeyRange`]). The iterator is double-ended.
    pub fn range(&self, range: impl KeyRange) -> Result<StoreIterator> {
        Ok(StoreIterator::new(self.0.range(range)?))
    }

    /// Every live key as of the snapshot, in order (double-ended).
    pub fn iter(&self) -> Result<StoreIterator> {
        self.range(..)
    }

    /// The live keys that start with `prefix` as of the snapshot, in order
    /// (double-ended). The empty prefix is every key.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Result<StoreIterator> {
        self.range(prefix_range(prefix.as_ref()))
    }
}

impl KvSnapshot for Snapshot {
    type Error = Error;
    type Iter = StoreIterator;

    fn seq(&self) -> SeqNo {
        self.0.seq()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Snapshot::get(self, key)
    }

    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Result<StoreIterator> {
        Snapshot::range(self, (start, end))
    }

    fn get_in(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(KvSnapshot::get_in(&self.0, keyspace, key)?)
    }

    fn range_in(
        &self,
        keyspace: KeyspaceId,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Result<StoreIterator> {
        let inner = KvSnapshot::range_in(&self.0, keyspace, start, end)?;
        Ok(StoreIterator::new(inner))
    }
}
