//! `TableCache`: the open table readers of a store, by file number.
//!
//! Each open table holds one file descriptor (and its index, filter and
//! properties blocks in memory). At most `capacity` tables stay open: past
//! it, opening one more closes the least recently used (an approximation:
//! recency is counted in table opens, not in reads, so a read that finds
//! its table open writes nothing shared unless its entry is stale). A
//! reader or compaction still holding an evicted table keeps it open
//! until it is done; the next read of it opens it again (its data blocks
//! stay in the block cache, which is keyed by file number). An entry is
//! also dropped when its file is deleted.
//!
//! The cache belongs to one open of the store (its [`Instance`]), and
//! hands that instance to the iterators it serves, so that they see the
//! store close.
//!
//! A table that cannot be opened because its file is missing is
//! corruption naming the file (offset 0), as open reports a listed table
//! the directory lacks: while the store is open it holds the directory
//! lock and deletes a table only once no version references it, so a
//! table a reader asks for is one the store needs. Two exceptions stay
//! I/O errors (`NotFound`): once the store is closed (the directory's next
//! owner may have deleted the obsolete tables a live iterator still
//! wanted; readers report that as `Closed`), and for a read-only store,
//! which holds no lock (the owner may have compacted the table away).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lsm_compaction::{sstable_error_to_core, TableSource};
use lsm_core::{Error as CoreError, Result, SharedFileSystem};
use lsm_manifest::{table_file_name, FileMeta};
use lsm_sstable::{BlockCache, Table};
use parking_lot::RwLock;

use crate::instance::Instance;

/// Open tables, shared by reads and compactions.
#[derive(Debug)]
pub struct TableCache {
    fs: SharedFileSystem,
    dir: PathBuf,
    block_cache: Option<Arc<BlockCache>>,
    /// The most tables kept open (at least 1).
    capacity: usize,
    /// Moves on at every table open; an entry records the value it last
    /// saw (its recency).
    opens: AtomicU64,
    /// Guarded: file number -> open table.
    open: RwLock<HashMap<u64, OpenTable>>,
    /// The open of the store this cache serves.
    instance: Arc<Instance>,
}

#[derive(Debug)]
struct OpenTable {
    table: Arc<Table>,
    /// `TableCache::opens` when this table was last used.
    last_used: AtomicU64,
}

impl TableCache {
    /// A cache for tables in `dir` keeping at most `capacity` open (at
    /// least one), serving the open `instance` of the store.
    pub(crate) fn new(
        fs: SharedFileSystem,
        dir: PathBuf,
        block_cache: Option<Arc<BlockCache>>,
        capacity: usize,
        instance: Arc<Instance>,
    ) -> Self {
        TableCache {
            fs,
            dir,
            block_cache,
            capacity: capacity.max(1),
            opens: AtomicU64::new(0),
            open: RwLock::new(HashMap::new()),
            instance,
        }
    }

    /// The open of the store this cache serves.
    pub(crate) fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }

    /// The shared block cache, if any.
    pub fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.block_cache.as_ref()
    }

    /// Forgets table `number` (its file is being deleted).
    pub fn evict(&self, number: u64) {
        self.open.write().remove(&number);
    }

    /// Number of tables open now.
    pub fn open_tables(&self) -> usize {
        self.open.read().len()
    }

    fn open_table(&self, number: u64) -> Result<Arc<Table>> {
        if let Some(entry) = self.open.read().get(&number) {
            let now = self.opens.load(Ordering::Relaxed);
            // Written only when stale: the common read shares the line.
            if entry.last_used.load(Ordering::Relaxed) != now {
                entry.last_used.store(now, Ordering::Relaxed);
            }
            return Ok(Arc::clone(&entry.table));
        }
        let path = self.dir.join(table_file_name(number));
        let table = Table::open(self.fs.as_ref(), &path, number, self.block_cache.clone())
            .map_err(|e| self.missing_is_corruption(sstable_error_to_core(e, &path), number))?;
        let now = self.opens.fetch_add(1, Ordering::Relaxed) + 1;
        let mut open = self.open.write();
        let table = Arc::clone(
            &open
                .entry(number)
                .or_insert(OpenTable {
                    table,
                    last_used: AtomicU64::new(now),
                })
                .table,
        );
        while open.len() > self.capacity {
            let oldest = open
                .iter()
                .filter(|(&n, _)| n != number)
                .min_by_key(|(_, entry)| entry.last_used.load(Ordering::Relaxed))
                .map(|(&n, _)| n);
            match oldest {
                Some(n) => drop(open.remove(&n)),
                None => break,
            }
        }
        Ok(table)
    }
}

impl TableCache {
    /// `err` (opening table `number`), or corruption naming the file if
    /// the file is missing while the store owns its files (see the module
    /// docs). The flag is read after the failure: a close that let the
    /// next owner delete the file came before it.
    fn missing_is_corruption(&self, err: CoreError, number: u64) -> CoreError {
        match err {
            CoreError::Io { path, source }
                if source.kind() == std::io::ErrorKind::NotFound && self.instance.owns_files() =>
            {
                CoreError::corruption(
                    path,
                    0,
                    format!("table {number} is missing: a version the store reads lists it"),
                )
            }
            other => other,
        }
    }
}

impl TableSource for TableCache {
    fn table(&self, file: &FileMeta) -> Result<Arc<Table>> {
        self.open_table(file.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::{InternalKey, OsFileSystem, ValueKind};
    use lsm_sstable::{TableBuilder, TableOptions};

    fn write_table(dir: &std::path::Path, number: u64) {
        let path = dir.join(table_file_name(number));
        let mut builder =
            TableBuilder::create(&OsFileSystem, &path, TableOptions::default()).unwrap();
        let key = InternalKey::new(format!("k{number}").as_bytes(), 1, ValueKind::Put);
        builder.add(key.as_bytes(), b"v").unwrap();
        builder.finish().unwrap();
    }

    #[test]
    fn at_most_capacity_tables_stay_open_and_the_least_recently_used_goes() {
        let dir = tempfile::tempdir().unwrap();
        for number in 1..=5 {
            write_table(dir.path(), number);
        }
        let cache = TableCache::new(
            OsFileSystem::shared(),
            dir.path().to_path_buf(),
            None,
            3,
            Arc::new(Instance::locked()),
        );
        let held = cache.open_table(1).unwrap();
        cache.open_table(2).unwrap();
        cache.open_table(3).unwrap();
        assert_eq!(cache.open_tables(), 3);
        cache.open_table(1).unwrap(); // 1 is now newer than 2
        cache.open_table(4).unwrap();
        assert_eq!(cache.open_tables(), 3);
        let open: Vec<u64> = {
            let mut numbers: Vec<u64> = cache.open.read().keys().copied().collect();
            numbers.sort_unstable();
            numbers
        };
        assert_eq!(open, [1, 3, 4], "2 was the least recently used");
        // An evicted table still held by a reader stays usable, and comes
        // back on its next use.
        cache.open_table(5).unwrap();
        cache.open_table(4).unwrap();
        cache.open_table(3).unwrap();
        assert!(!cache.open.read().contains_key(&1));
        assert_eq!(held.properties().entries, 1);
        assert_eq!(cache.open_table(1).unwrap().properties().entries, 1);
        assert_eq!(cache.open_tables(), 3);
        cache.evict(1);
        assert_eq!(cache.open_tables(), 2);
    }

    /// A missing table is corruption naming it while the store is open and
    /// holds the lock; an I/O `NotFound` once it is closed, or for a
    /// read-only store.
    #[test]
    fn a_missing_table_is_corruption_only_while_the_store_owns_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = |instance: &Arc<Instance>| {
            TableCache::new(
                OsFileSystem::shared(),
                dir.path().to_path_buf(),
                None,
                3,
                Arc::clone(instance),
            )
        };
        let path = dir.path().join(table_file_name(9));

        let open = Arc::new(Instance::locked());
        let err = cache(&open).open_table(9).unwrap_err();
        assert!(err.is_corruption(), "{err:?}");
        match &err {
            lsm_core::Error::Corruption {
                path: p, offset, ..
            } => {
                assert_eq!((p, *offset), (&path, 0));
            }
            other => panic!("{other:?}"),
        }

        assert!(!open.close());
        let err = cache(&open).open_table(9).unwrap_err();
        assert!(
            matches!(&err, lsm_core::Error::Io { path: p, source } if *p == path && source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );

        let read_only = Arc::new(Instance::unlocked());
        let err = cache(&read_only).open_table(9).unwrap_err();
        assert!(matches!(&err, lsm_core::Error::Io { .. }), "{err:?}");
    }
}
