//! Writing a table: entries in, one file out.
//!
//! File order: data blocks, filter block (if any), properties block, index
//! block, footer (see `docs/format/sstable.md`).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::fs::{FileSystem, WritableFile};
use lsm_core::{
    compare_internal_keys, parse_internal_key, user_key_of, SeqNo, ValueKind, MAX_TREE_KEY_BYTES,
    MAX_VALUE_BYTES,
};

use crate::block::BlockBuilder;
use crate::error::{Error, Result};
use crate::filter::FilterBuilder;
use crate::format::{
    seal_block, BlockHandle, Footer, SealedBlock, BLOCK_TRAILER_BYTES, FOOTER_BYTES,
    FORMAT_VERSION, MAX_BLOCK_BYTES,
};
use crate::options::{Compression, TableOptions};
use crate::properties::TableProperties;

/// Index blocks store a full key per entry (no prefix compression), so a
/// lookup is a plain binary search.
const INDEX_RESTART_INTERVAL: usize = 1;

/// Writes one table file from entries added in strictly increasing
/// internal-key order.
///
/// Use: [`TableBuilder::create`], [`TableBuilder::add`] for each entry, then
/// [`TableBuilder::finish`] (which fsyncs the file but not its directory) or
/// [`TableBuilder::abandon`] (which removes the partial file). After any
/// error from `add`, only `abandon` is useful. Dropping a builder without
/// either leaves the partial file on disk.
///
/// The builder borrows the file system for `'fs` so that `abandon` and a
/// failed `finish` can remove the partial file through it.
#[derive(Debug)]
pub struct TableBuilder<'fs> {
    fs: &'fs dyn FileSystem,
    path: PathBuf,
    file: Arc<dyn WritableFile>,
    options: TableOptions,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    /// `None` when `bloom_bits_per_key == 0`.
    filter: Option<FilterBuilder>,
    /// The last key added (empty before the first).
    last_key: Vec<u8>,
    /// Bytes appended to the file so far.
    offset: u64,
    /// Set when a write failed: the file's tail is unknown.
    failed: bool,
    stats: Stats,
}

/// Running totals that become the [`TableProperties`].
#[derive(Debug, Default)]
struct Stats {
    entries: u64,
    tombstones: u64,
    smallest_key: Vec<u8>,
    min_seq: SeqNo,
    max_seq: SeqNo,
    data_blocks: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
}

impl<'fs> TableBuilder<'fs> {
    /// Creates (truncating) the file at `path` and returns a builder for it.
    pub fn create(
        fs: &'fs dyn FileSystem,
        path: &Path,
        options: TableOptions,
    ) -> Result<TableBuilder<'fs>> {
        options.validate()?;
        let file = fs
            .create(path)
            .map_err(|err| lsm_core::Error::io(path, err))?;
        Ok(TableBuilder {
            fs,
            path: path.to_path_buf(),
            file,
            data_block: BlockBuilder::new(options.restart_interval),
            index_block: BlockBuilder::new(INDEX_RESTART_INTERVAL),
            filter: (options.bloom_bits_per_key > 0)
                .then(|| FilterBuilder::new(options.bloom_bits_per_key, options.filter_capacity)),
            options,
            last_key: Vec::new(),
            offset: 0,
            failed: false,
            stats: Stats::default(),
        })
    }

    /// Adds an entry. `key` is an encoded internal key; keys must strictly
    /// increase under [`compare_internal_keys`], or this returns
    /// [`Error::KeyOutOfOrder`] (and nothing is added).
    pub fn add(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self.failed {
            return Err(Error::BuilderFailed {
                path: self.path.clone(),
            });
        }
        let Some(parsed) = parse_internal_key(key) else {
            return Err(Error::MalformedKey {
                path: self.path.clone(),
                key: key.to_vec(),
            });
        };
        if parsed.user_key.len() > MAX_TREE_KEY_BYTES {
            return Err(lsm_core::Error::KeyTooLarge {
                len: parsed.user_key.len(),
                max: MAX_TREE_KEY_BYTES,
            }
            .into());
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(lsm_core::Error::ValueTooLarge {
                len: value.len(),
                max: MAX_VALUE_BYTES,
            }
            .into());
        }
        let first = self.stats.entries == 0;
        if !first && compare_internal_keys(&self.last_key, key) != Ordering::Less {
            return Err(Error::KeyOutOfOrder {
                path: self.path.clone(),
                previous: self.last_key.clone(),
                key: key.to_vec(),
            });
        }
        if let Some(filter) = &mut self.filter {
            // Versions of one user key are adjacent: hash each user key once.
            if first || user_key_of(&self.last_key) != parsed.user_key {
                filter.add(parsed.user_key);
            }
        }

        let stats = &mut self.stats;
        if first {
            stats.smallest_key = key.to_vec();
            stats.min_seq = parsed.seq;
            stats.max_seq = parsed.seq;
        }
        stats.entries += 1;
        stats.tombstones += u64::from(parsed.kind == ValueKind::Delete);
        stats.min_seq = stats.min_seq.min(parsed.seq);
        stats.max_seq = stats.max_seq.max(parsed.seq);
        stats.raw_key_bytes += key.len() as u64;
        stats.raw_value_bytes += value.len() as u64;

        self.data_block.add(key, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        if self.data_block.estimated_size() >= self.options.block_bytes {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.stats.entries
    }

    /// Bytes written so far plus the pending data block: what the file
    /// would be, give or take the index, filter and footer, if finished now.
    /// Compaction uses it to cut output tables.
    pub fn estimated_file_bytes(&self) -> u64 {
        self.offset + self.data_block.estimated_size() as u64
    }

    /// Bytes of the index block so far (one entry per data block: its last
    /// key and handle). Near [`MAX_BLOCK_BYTES`] only for tables of keys
    /// near the key limit, whose every entry is a block of its own: a
    /// writer of many such keys cuts the table before it (compaction and
    /// flush outputs do), as [`TableBuilder::finish`] refuses an index over
    /// it.
    pub fn estimated_index_bytes(&self) -> usize {
        self.index_block.estimated_size() + self.last_key.len() + 32
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the remaining data block, the filter, properties and index
    /// blocks and the footer, then fsyncs the file. Does NOT fsync the
    /// directory: callers creating several tables sync it once afterwards.
    ///
    /// On any error (including [`Error::EmptyTable`] when nothing was
    /// added) the partial file is removed before the error is returned.
    pub fn finish(mut self) -> Result<TableProperties> {
        match self.write_tail() {
            Ok(properties) => Ok(properties),
            Err(err) => {
                // Best effort: the original error matters more than a
                // failure to clean up after it.
                let _ = self.fs.remove_file(&self.path);
                Err(err)
            }
        }
    }

    /// Stops building and removes the partial file.
    pub fn abandon(self) -> Result<()> {
        drop(self.file);
        self.fs
            .remove_file(&self.path)
            .map_err(|err| lsm_core::Error::io(&self.path, err))?;
        Ok(())
    }

    fn write_tail(&mut self) -> Result<TableProperties> {
        if self.failed {
            return Err(Error::BuilderFailed {
                path: self.path.clone(),
            });
        }
        if self.stats.entries == 0 {
            return Err(Error::EmptyTable {
                path: self.path.clone(),
            });
        }
        if !self.data_block.is_empty() {
            self.flush_data_block()?;
        }

        // The filter's hashes (8 bytes a key) are freed before the index
        // block is sealed: both are large at the end of a flush, while the
        // memtable it came from is still held.
        let filter = match self.filter.take() {
            Some(filter) => {
                let raw = filter.finish();
                self.write_block(raw, Compression::None, "filter")?
            }
            None => BlockHandle::default(),
        };

        // The index is sealed before the properties are written so the
        // properties can record the final file size.
        let index_raw = self.index_block.finish();
        let index = self.seal_checked(index_raw, self.options.compression, "index")?;
        let mut properties = TableProperties {
            format_version: FORMAT_VERSION,
            entries: self.stats.entries,
            tombstones: self.stats.tombstones,
            smallest_key: std::mem::take(&mut self.stats.smallest_key),
            largest_key: self.last_key.clone(),
            min_seq: self.stats.min_seq,
            max_seq: self.stats.max_seq,
            data_blocks: self.stats.data_blocks,
            raw_key_bytes: self.stats.raw_key_bytes,
            raw_value_bytes: self.stats.raw_value_bytes,
            file_bytes: 0,
        };
        // file_bytes is fixed-width, so the block's size does not depend on it.
        let properties_len = properties.encode().len() + BLOCK_TRAILER_BYTES;
        properties.file_bytes =
            self.offset + (properties_len + index.bytes.len() + FOOTER_BYTES) as u64;
        let properties_handle =
            self.write_block(properties.encode(), Compression::None, "properties")?;
        let index_handle = self.append_sealed(&index)?;
        let footer = Footer {
            filter,
            properties: properties_handle,
            index: index_handle,
        };
        self.append(&footer.encode())?;
        debug_assert_eq!(self.offset, properties.file_bytes);
        self.file.sync_data().map_err(|err| {
            self.failed = true;
            lsm_core::Error::io(&self.path, err)
        })?;
        Ok(properties)
    }

    fn flush_data_block(&mut self) -> Result<()> {
        debug_assert!(!self.data_block.is_empty());
        let raw = self.data_block.finish();
        let sealed = self.seal_checked(raw, self.options.compression, "data")?;
        let handle = self.append_sealed(&sealed)?;
        // The next block is built in this one's buffer.
        self.data_block.reuse_buffer(sealed.into_buffer());
        let mut handle_bytes = Vec::with_capacity(20);
        handle.put_varints(&mut handle_bytes);
        // The index key is the block's last key: the first index entry whose
        // key is >= a seek target names the only block that can hold it.
        self.index_block.add(&self.last_key, &handle_bytes);
        self.stats.data_blocks += 1;
        Ok(())
    }

    fn seal_checked(
        &self,
        raw: Vec<u8>,
        compression: Compression,
        what: &'static str,
    ) -> Result<SealedBlock> {
        if raw.len() > MAX_BLOCK_BYTES {
            return Err(Error::BlockTooLarge {
                path: self.path.clone(),
                what,
                bytes: raw.len(),
                max: MAX_BLOCK_BYTES,
            });
        }
        Ok(seal_block(raw, compression))
    }

    fn write_block(
        &mut self,
        raw: Vec<u8>,
        compression: Compression,
        what: &'static str,
    ) -> Result<BlockHandle> {
        let sealed = self.seal_checked(raw, compression, what)?;
        self.append_sealed(&sealed)
    }

    fn append_sealed(&mut self, sealed: &SealedBlock) -> Result<BlockHandle> {
        let handle = BlockHandle {
            offset: self.offset,
            size: sealed.stored_size(),
        };
        self.append(&sealed.bytes)?;
        Ok(handle)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if let Err(err) = self.file.append(bytes) {
            self.failed = true;
            return Err(lsm_core::Error::io(&self.path, err).into());
        }
        self.offset += bytes.len() as u64;
        Ok(())
    }
}
