//! `TableCache`: the open table readers of a store, by file number.
//!
//! Every live table stays open (one file descriptor each; tables are large,
//! so there are few); an entry is evicted when its file is deleted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use lsm_compaction::{sstable_error_to_core, TableSource};
use lsm_core::{Result, SharedFileSystem};
use lsm_manifest::{table_file_name, FileMeta};
use lsm_sstable::{BlockCache, Table};
use parking_lot::RwLock;

/// Open tables, shared by reads and compactions.
#[derive(Debug)]
pub struct TableCache {
    fs: SharedFileSystem,
    dir: PathBuf,
    block_cache: Option<Arc<BlockCache>>,
    /// Guarded: file number -> open table.
    open: RwLock<HashMap<u64, Arc<Table>>>,
}

impl TableCache {
    /// A cache for tables in `dir`.
    pub fn new(fs: SharedFileSystem, dir: PathBuf, block_cache: Option<Arc<BlockCache>>) -> Self {
        TableCache {
            fs,
            dir,
            block_cache,
            open: RwLock::new(HashMap::new()),
        }
    }

    /// The shared block cache, if any.
    pub fn block_cache(&self) -> Option<&Arc<BlockCache>> {
        self.block_cache.as_ref()
    }

    /// Forgets table `number` (its file is being deleted).
    pub fn evict(&self, number: u64) {
        self.open.write().remove(&number);
    }

    fn open_table(&self, number: u64) -> Result<Arc<Table>> {
        if let Some(table) = self.open.read().get(&number) {
            return Ok(Arc::clone(table));
        }
        let path = self.dir.join(table_file_name(number));
        let table = Table::open(self.fs.as_ref(), &path, number, self.block_cache.clone())
            .map_err(|e| sstable_error_to_core(e, &path))?;
        Ok(Arc::clone(self.open.write().entry(number).or_insert(table)))
    }
}

impl TableSource for TableCache {
    fn table(&self, file: &FileMeta) -> Result<Arc<Table>> {
        self.open_table(file.number)
    }
}
