//! `LevelIterator`: one cursor over a sorted run of non-overlapping tables
//! (a level >= 1), opening each table only when the cursor reaches it, in
//! either direction.

use std::sync::Arc;

use bytes::Bytes;
use lsm_core::{compare_internal_keys, InternalIterator, Result};
use lsm_manifest::FileMeta;
use lsm_sstable::{Table, TableIterator};

/// Where cursors get open tables from: the store's table cache.
pub trait TableSource: Send + Sync {
    /// The open table for `file`. Errors are reported as core errors
    /// (corruption or I/O naming the file), as every cursor does.
    fn table(&self, file: &FileMeta) -> Result<Arc<Table>>;
}

/// Converts an sstable error into the cursor error type, keeping the file
/// and offset where there is one.
pub fn sstable_error_to_core(err: lsm_sstable::Error, file: &std::path::Path) -> lsm_core::Error {
    match err {
        lsm_sstable::Error::Core(core) => core,
        other => lsm_core::Error::corruption(file, 0, other.to_string()),
    }
}

/// Concatenates the tables of one sorted run.
pub struct LevelIterator {
    /// REQUIRES: sorted by smallest key, non-overlapping (a level >= 1).
    files: Vec<Arc<FileMeta>>,
    source: Arc<dyn TableSource>,
    /// Index into `files` of the open table, if any.
    file_index: usize,
    current: Option<TableIterator>,
    /// Whether the tables' blocks read from files go into the block cache.
    fill_cache: bool,
}

impl LevelIterator {
    /// A cursor over `files` (one level's files, in key order).
    pub fn new(files: Vec<Arc<FileMeta>>, source: Arc<dyn TableSource>) -> Self {
        debug_assert!(files.windows(2).all(|w| compare_internal_keys(
            w[0].largest.as_bytes(),
            w[1].smallest.as_bytes()
        )
        .is_lt()));
        LevelIterator {
            files,
            source,
            file_index: 0,
            current: None,
            fill_cache: true,
        }
    }

    /// A cursor for a compaction's one pass: blocks it reads from the files
    /// do not go into the block cache ([`Table::iter_without_cache_fill`]).
    pub fn without_cache_fill(mut self) -> Self {
        self.fill_cache = false;
        self
    }

    fn open(&mut self, index: usize) -> Result<()> {
        self.current = None;
        self.file_index = index;
        if let Some(file) = self.files.get(index) {
            let table = self.source.table(file)?;
            self.current = Some(if self.fill_cache {
                table.iter()
            } else {
                table.iter_without_cache_fill()
            });
        }
        Ok(())
    }

    /// Moves to the previous files, each at its last entry, while the
    /// current one is exhausted; before the first file the cursor is
    /// invalid.
    fn skip_exhausted_backward(&mut self) -> Result<()> {
        while let Some(current) = &self.current {
            if current.valid() {
                break;
            }
            let Some(previous) = self.file_index.checked_sub(1) else {
                self.current = None;
                break;
            };
            self.open(previous)?;
            if let Some(current) = &mut self.current {
                current.seek_to_last()?;
            }
        }
        Ok(())
    }

    /// Moves to the next files while the current one is exhausted.
    fn skip_exhausted(&mut self) -> Result<()> {
        while let Some(current) = &self.current {
            if current.valid() {
                break;
            }
            let next = self.file_index + 1;
            self.open(next)?;
            if let Some(current) = &mut self.current {
                current.seek_to_first()?;
            }
        }
        Ok(())
    }
}

impl InternalIterator for LevelIterator {
    fn valid(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.valid())
    }

    fn key(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.key())
    }

    fn value(&self) -> &[u8] {
        self.current.as_ref().map_or(&[], |c| c.value())
    }

    /// A slice of the open table's current block: no copy.
    fn value_bytes(&self) -> Bytes {
        self.current
            .as_ref()
            .map_or_else(Bytes::new, |c| c.value_bytes())
    }

    fn next(&mut self) -> Result<()> {
        if let Some(current) = &mut self.current {
            if let Err(err) = current.next() {
                self.current = None;
                return Err(err);
            }
        }
        self.skip_exhausted()
    }

    fn prev(&mut self) -> Result<()> {
        if let Some(current) = &mut self.current {
            if let Err(err) = current.prev() {
                self.current = None;
                return Err(err);
            }
        }
        self.skip_exhausted_backward()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // The answer is in the first file whose largest key is >= target,
        // unless its smallest key is > target too: then it is the previous
        // file's last entry (opening only that file). Past every file's
        // largest key it is the last file's last entry.
        let first_at_or_after = self
            .files
            .partition_point(|f| compare_internal_keys(f.largest.as_bytes(), target).is_lt());
        let starts_after = self
            .files
            .get(first_at_or_after)
            .is_none_or(|f| compare_internal_keys(f.smallest.as_bytes(), target).is_gt());
        if !starts_after {
            self.open(first_at_or_after)?;
            if let Some(current) = &mut self.current {
                current.seek_for_prev(target)?;
            }
            return self.skip_exhausted_backward();
        }
        match first_at_or_after.checked_sub(1) {
            Some(previous) => {
                self.open(previous)?;
                if let Some(current) = &mut self.current {
                    current.seek_to_last()?;
                }
                self.skip_exhausted_backward()
            }
            None => {
                self.current = None;
                Ok(())
            }
        }
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.current = None;
        let Some(last) = self.files.len().checked_sub(1) else {
            return Ok(());
        };
        self.open(last)?;
        if let Some(current) = &mut self.current {
            current.seek_to_last()?;
        }
        self.skip_exhausted_backward()
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // First file whose largest key is >= target.
        let index = self
            .files
            .partition_point(|f| compare_internal_keys(f.largest.as_bytes(), target).is_lt());
        self.open(index)?;
        if let Some(current) = &mut self.current {
            current.seek(target)?;
        }
        self.skip_exhausted()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.open(0)?;
        if let Some(current) = &mut self.current {
            current.seek_to_first()?;
        }
        self.skip_exhausted()
    }
}
