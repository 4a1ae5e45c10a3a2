//! Reading a table: open checks the footer and loads the index, filter and
//! properties; point lookups and cursors read data blocks with positioned
//! reads, through the block cache when one is given.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use lsm_core::fs::{FileSystem, RandomAccessFile};
use lsm_core::{compare_internal_keys, parse_internal_key, Lookup, SeekKey, SeqNo, ValueKind};

use crate::block::{Block, BlockCursor, BlockError};
use crate::cache::BlockCache;
use crate::error::Result;
use crate::filter::{BloomFilter, FilterInfo, FilterKey};
use crate::format::{
    block_in_window, read_block, BlockHandle, Footer, FOOTER_BYTES, FORMAT_VERSION, LZ4_MAX_RATIO,
};
use crate::index_search::IndexSearch;
use crate::iter::TableIterator;
use crate::properties::TableProperties;

/// One index entry: the last key of a data block and where the block is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The data block's last encoded internal key.
    pub last_key: Vec<u8>,
    /// The data block's location.
    pub handle: BlockHandle,
}

/// Bytes of a table file read ahead by a cursor: the file's bytes from
/// `offset` on.
#[derive(Debug)]
pub(crate) struct ReadAheadWindow {
    offset: u64,
    bytes: Bytes,
}

/// Where a table's metadata lives in its file (for `lsm inspect` and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLayout {
    /// The filter block, if the table has one.
    pub filter: Option<BlockHandle>,
    /// The properties block.
    pub properties: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
    /// Offset of the 64-byte footer.
    pub footer_offset: u64,
}

/// An open, immutable table file. `Send + Sync`; share it as `Arc<Table>`.
///
/// All fields are immutable after [`Table::open`]; the file handle is only
/// used for positioned reads, which need no lock.
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    file: Arc<dyn RandomAccessFile>,
    /// Offset of the footer: every block must end by here.
    footer_offset: u64,
    /// Where the data blocks end (the first metadata block's offset): a
    /// read-ahead window stops here.
    data_end: u64,
    footer: Footer,
    cache_id: u64,
    cache: Option<Arc<BlockCache>>,
    /// Parsed index block, sorted by `last_key`, with its key prefixes
    /// for `index_position`.
    index: IndexSearch,
    filter: Option<BloomFilter>,
    properties: TableProperties,
}

impl Table {
    /// Opens the table at `path`: reads and checks the footer, then the
    /// index, filter and properties blocks, which stay in memory.
    /// `cache_id` (e.g. the file number) keys this table's data blocks in
    /// `cache`; it must be unique among tables sharing the cache.
    pub fn open(
        fs: &dyn FileSystem,
        path: &Path,
        cache_id: u64,
        cache: Option<Arc<BlockCache>>,
    ) -> Result<Arc<Table>> {
        let file = fs
            .open_read(path)
            .map_err(|err| lsm_core::Error::io(path, err))?;
        let file_len = file.len().map_err(|err| lsm_core::Error::io(path, err))?;
        let corrupt =
            |offset: u64, detail: String| lsm_core::Error::corruption(path, offset, detail);
        let Some(footer_offset) = file_len.checked_sub(FOOTER_BYTES as u64) else {
            return Err(corrupt(
                0,
                format!("file of {file_len} bytes is shorter than the {FOOTER_BYTES}-byte footer"),
            )
            .into());
        };
        let mut footer_bytes = [0u8; FOOTER_BYTES];
        file.read_exact_at(&mut footer_bytes, footer_offset)
            .map_err(|err| lsm_core::Error::io(path, err))?;
        let footer = Footer::decode(&footer_bytes, path, footer_offset)?;
        // Before anything is read through the handles: a handle past the
        // footer, or one leaving a gap, fails here.
        let data_end = check_metadata_layout(&footer, footer_offset)
            .map_err(|(offset, detail)| corrupt(offset, detail.to_string()))?;

        let properties_raw = read_block(
            file.as_ref(),
            path,
            footer.properties,
            footer_offset,
            "properties",
        )?;
        let properties = TableProperties::decode(&properties_raw)
            .map_err(|detail| corrupt(footer.properties.offset, detail.to_string()))?;
        if properties.format_version != FORMAT_VERSION {
            return Err(corrupt(
                footer.properties.offset,
                format!(
                    "properties record format version {} but the footer {FORMAT_VERSION}",
                    properties.format_version
                ),
            )
            .into());
        }
        if properties.file_bytes != file_len {
            return Err(corrupt(
                footer.properties.offset,
                format!(
                    "properties record a file of {} bytes but the file has {file_len}",
                    properties.file_bytes
                ),
            )
            .into());
        }

        let index_raw = read_block(file.as_ref(), path, footer.index, footer_offset, "index")?;
        let index = parse_index(index_raw, data_end)
            .map_err(|detail| corrupt(footer.index.offset, detail))?;
        if index.last().map(|entry| entry.last_key.as_slice())
            != Some(properties.largest_key.as_slice())
        {
            return Err(corrupt(
                footer.index.offset,
                "the last index key is not the largest key the properties record".into(),
            )
            .into());
        }
        if index.len() as u64 != properties.data_blocks {
            return Err(corrupt(
                footer.index.offset,
                format!(
                    "index has {} entries but properties record {} data blocks",
                    index.len(),
                    properties.data_blocks
                ),
            )
            .into());
        }

        let filter = if footer.filter == BlockHandle::default() {
            None
        } else {
            let raw = read_block(file.as_ref(), path, footer.filter, footer_offset, "filter")?;
            Some(
                BloomFilter::parse(raw)
                    .map_err(|detail| corrupt(footer.filter.offset, detail.to_string()))?,
            )
        };

        Ok(Arc::new(Table {
            path: path.to_path_buf(),
            file,
            footer_offset,
            data_end,
            footer,
            cache_id,
            cache,
            index: IndexSearch::new(index),
            filter,
            properties,
        }))
    }

    /// The newest entry of `user_key` with sequence number `<= snapshot`
    /// in this table, or `None` if the table has none. Consults the bloom
    /// filter first, then the index, then one data block. A value comes
    /// back as a slice of that block's bytes, without a copy: from a
    /// cached block the lookup allocates nothing for it.
    pub fn get(&self, user_key: &[u8], snapshot: SeqNo) -> Result<Option<Lookup>> {
        Ok(self
            .get_with_seq(user_key, snapshot)?
            .map(|(lookup, _)| lookup))
    }

    /// [`Table::get`], with the sequence number of the version found.
    pub fn get_with_seq(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
    ) -> Result<Option<(Lookup, SeqNo)>> {
        self.get_filtered(FilterKey::new(user_key), snapshot)
    }

    /// [`Table::get_with_seq`] for a key hashed once for every table a read
    /// probes.
    pub fn get_filtered(
        &self,
        key: FilterKey<'_>,
        snapshot: SeqNo,
    ) -> Result<Option<(Lookup, SeqNo)>> {
        if !self.admits(key) {
            return Ok(None);
        }
        let user_key = key.key();
        let target = SeekKey::new(user_key, snapshot);
        let block_index = self.index_position(target.as_bytes());
        let Some(entry) = self.index().get(block_index) else {
            return Ok(None);
        };
        let mut cursor = BlockCursor::new(self.data_block(entry.handle)?);
        cursor
            .seek(target.as_bytes())
            .map_err(|err| self.block_corruption(entry.handle, err))?;
        if !cursor.valid() {
            return Ok(None);
        }
        let Some(found) = parse_internal_key(cursor.key()) else {
            return Err(self
                .block_corruption(
                    entry.handle,
                    BlockError {
                        offset: cursor.entry_offset(),
                        detail: "entry key is not an internal key",
                    },
                )
                .into());
        };
        if found.user_key != user_key {
            return Ok(None);
        }
        let lookup = match found.kind {
            ValueKind::Put => Lookup::Value(cursor.value_bytes()),
            ValueKind::Delete => Lookup::Deleted,
        };
        Ok(Some((lookup, found.seq)))
    }

    /// The bloom filter's answer for `user_key`: false means certainly
    /// absent; true (always, for a table without a filter) means maybe.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.admits(FilterKey::new(user_key))
    }

    /// [`Table::may_contain`] for a key already hashed.
    fn admits(&self, key: FilterKey<'_>) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|filter| filter.may_contain_hash(key.hash()))
    }

    /// A cursor over every entry; it holds its own reference to the table.
    pub fn iter(self: &Arc<Self>) -> TableIterator {
        TableIterator::new(Arc::clone(self), true)
    }

    /// [`Table::iter`] for a one-pass read (a compaction): it uses blocks
    /// already cached but does not insert the ones it reads, so a pass over
    /// tables that are about to be replaced neither evicts the blocks reads
    /// keep using nor grows the cache while only writes run (RocksDB's
    /// `fill_cache = false`).
    pub fn iter_without_cache_fill(self: &Arc<Self>) -> TableIterator {
        TableIterator::new(Arc::clone(self), false)
    }

    /// The properties recorded when the table was written.
    pub fn properties(&self) -> &TableProperties {
        &self.properties
    }

    /// The file this table was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One entry per data block, in key order (for `lsm inspect`).
    pub fn index_entries(&self) -> &[IndexEntry] {
        self.index()
    }

    /// The bloom filter's shape, or `None` for a table written without one.
    pub fn filter_info(&self) -> Option<FilterInfo> {
        self.filter.as_ref().map(BloomFilter::info)
    }

    /// Where the filter, properties, index and footer are in the file.
    pub fn layout(&self) -> TableLayout {
        TableLayout {
            filter: self.filter.is_some().then_some(self.footer.filter),
            properties: self.footer.properties,
            index: self.footer.index,
            footer_offset: self.footer_offset,
        }
    }

    /// Re-reads every block from disk (each data block, the filter,
    /// properties and index blocks), bypassing the cache, and checks its
    /// checksum; data blocks are also decoded entry by entry, checking what
    /// reads trust a checksummed block for: every restart offset starts an
    /// entry, every key is an internal key above the one before it (across
    /// blocks too), and each block's last key is its index key. Returns the
    /// first problem found.
    pub fn verify_checksums(&self) -> Result<()> {
        let mut handles = vec![
            (self.footer.properties, "properties"),
            (self.footer.index, "index"),
        ];
        if self.filter.is_some() {
            handles.push((self.footer.filter, "filter"));
        }
        for (handle, what) in handles {
            read_block(
                self.file.as_ref(),
                &self.path,
                handle,
                self.footer_offset,
                what,
            )?;
        }
        let mut last = Vec::new();
        for entry in self.index() {
            let block = self.read_data_block(entry.handle)?;
            self.verify_data_block(&block, entry, &mut last)?;
        }
        Ok(())
    }

    /// Decodes every entry of `block` (the data block of `entry`) in order,
    /// checking what reads trust a checksummed block for (they would return
    /// wrong data, not an error, if it did not hold): each restart offset
    /// starts an entry, each key is an internal key greater than the one
    /// before it (`last`: the previous block's last key, empty before the
    /// first block; left holding this block's), and the last key is the
    /// one the index records.
    fn verify_data_block(
        &self,
        block: &Arc<Block>,
        entry: &IndexEntry,
        last: &mut Vec<u8>,
    ) -> Result<()> {
        let bad = |offset: usize, detail: &'static str| {
            self.block_corruption(entry.handle, BlockError { offset, detail })
        };
        let restarts = block.restart_offsets();
        let mut next_restart = 0;
        let mut cursor = BlockCursor::new(Arc::clone(block));
        let mut step = cursor.seek_to_first();
        while step.is_ok() && cursor.valid() {
            let offset = cursor.entry_offset();
            match restarts.get(next_restart).map(|&restart| restart as usize) {
                Some(restart) if restart == offset => next_restart += 1,
                Some(restart) if restart < offset => {
                    return Err(bad(restart, "restart offset inside an entry").into());
                }
                _ => {}
            }
            if parse_internal_key(cursor.key()).is_none() {
                return Err(bad(offset, "entry key is not an internal key").into());
            }
            if !last.is_empty() && compare_internal_keys(last, cursor.key()) != Ordering::Less {
                return Err(bad(offset, "entry key not above the key before it").into());
            }
            last.clear();
            last.extend_from_slice(cursor.key());
            step = cursor.next();
        }
        step.map_err(|err| self.block_corruption(entry.handle, err))?;
        if let Some(&restart) = restarts.get(next_restart) {
            return Err(bad(restart as usize, "restart offset inside an entry").into());
        }
        if *last != entry.last_key {
            return Err(lsm_core::Error::corruption(
                &self.path,
                entry.handle.offset,
                "data block's last key differs from its index entry",
            )
            .into());
        }
        Ok(())
    }

    /// Position in the index of the first data block whose last key is
    /// `>= target` (`index.len()` if none).
    pub(crate) fn index_position(&self, target: &[u8]) -> usize {
        self.index.position(target)
    }

    pub(crate) fn index(&self) -> &[IndexEntry] {
        self.index.entries()
    }

    /// The decoded data block at `handle`, from the cache or the file.
    pub(crate) fn data_block(&self, handle: BlockHandle) -> Result<Arc<Block>, lsm_core::Error> {
        self.data_block_filling(handle, true)
    }

    /// The data block at `handle`, from the cache if it is there; a block
    /// read from the file is inserted only if `fill_cache`.
    pub(crate) fn data_block_filling(
        &self,
        handle: BlockHandle,
        fill_cache: bool,
    ) -> Result<Arc<Block>, lsm_core::Error> {
        // A read-ahead that ends at the block's start reads it alone.
        self.data_block_reading_ahead(handle, fill_cache, handle.offset)
            .map(|(block, _)| block)
    }

    /// The data block at `handle` for a cursor moving forward: from the
    /// cache if it is there; otherwise read with one positioned read
    /// together with the blocks after it, up to `window_end` (the end of a
    /// later data block; a window smaller than the block is not read). If
    /// `fill_cache`, the block is copied out of the window and inserted
    /// into the cache; otherwise it is a slice of the window. The window
    /// comes back (if it holds more than the block) for
    /// [`Table::data_block_in_window`] to serve the following blocks from,
    /// without the cache.
    pub(crate) fn data_block_reading_ahead(
        &self,
        handle: BlockHandle,
        fill_cache: bool,
        window_end: u64,
    ) -> Result<(Arc<Block>, Option<ReadAheadWindow>), lsm_core::Error> {
        if let Some(block) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.get(self.cache_id, handle.offset))
        {
            return Ok((block, None));
        }
        let block_end = handle.end_with_trailer().unwrap_or(u64::MAX);
        let window_end = window_end.min(self.data_end);
        let window_len = window_end.saturating_sub(handle.offset);
        let window = match usize::try_from(window_len) {
            Ok(len) if window_end > block_end => {
                let mut buf = vec![0u8; len];
                // A failed window read (a file cut short under the reader)
                // falls back to reading the block alone, whose error then
                // names the block at fault.
                self.file
                    .read_exact_at(&mut buf, handle.offset)
                    .ok()
                    .map(|()| ReadAheadWindow {
                        offset: handle.offset,
                        bytes: Bytes::from(buf),
                    })
            }
            _ => None,
        };
        let stored = window
            .as_ref()
            .and_then(|window| self.stored_in_window(window, handle));
        let cache = self.cache.as_ref().filter(|_| fill_cache);
        let block = match stored {
            Some(stored) => {
                let stored = stored?;
                // A cached block owns its bytes: a slice of the window in
                // the cache would keep all of it, uncharged.
                let parsed = match cache {
                    Some(_) => Block::parse(Vec::from(stored)),
                    None => Block::parse_shared(stored),
                };
                Arc::new(parsed.map_err(|err| self.block_corruption(handle, err))?)
            }
            None => self.read_data_block(handle)?,
        };
        if let Some(cache) = cache {
            cache.insert(self.cache_id, handle.offset, Arc::clone(&block));
        }
        Ok((block, window))
    }

    /// The data block at `handle` out of a window read by
    /// [`Table::data_block_reading_ahead`] (its bytes shared, not copied;
    /// not inserted into the cache), or `None` if the window does not hold
    /// all of it.
    pub(crate) fn data_block_in_window(
        &self,
        window: &ReadAheadWindow,
        handle: BlockHandle,
    ) -> Option<Result<Arc<Block>, lsm_core::Error>> {
        let stored = self.stored_in_window(window, handle)?;
        Some(stored.and_then(|stored| {
            Block::parse_shared(stored)
                .map(Arc::new)
                .map_err(|err| self.block_corruption(handle, err))
        }))
    }

    /// The data block at `handle` as stored in `window`, checked
    /// ([`block_in_window`]).
    fn stored_in_window(
        &self,
        window: &ReadAheadWindow,
        handle: BlockHandle,
    ) -> Option<Result<Bytes, lsm_core::Error>> {
        block_in_window(
            &window.bytes,
            window.offset,
            &self.path,
            handle,
            self.footer_offset,
            "data",
        )
    }

    fn read_data_block(&self, handle: BlockHandle) -> Result<Arc<Block>, lsm_core::Error> {
        let raw = read_block(
            self.file.as_ref(),
            &self.path,
            handle,
            self.footer_offset,
            "data",
        )?;
        let block = Block::parse(raw).map_err(|err| self.block_corruption(handle, err))?;
        Ok(Arc::new(block))
    }

    /// A corruption error naming this file and the data block's offset.
    pub(crate) fn block_corruption(&self, handle: BlockHandle, err: BlockError) -> lsm_core::Error {
        lsm_core::Error::corruption(&self.path, handle.offset, format!("data block: {err}"))
    }
}

/// Checks the metadata blocks follow each other up to the footer, as the
/// builder writes them (filter if any, properties, index); returns where
/// the data blocks end (the first metadata block's offset), or the offset
/// and description of the gap or overlap.
fn check_metadata_layout(footer: &Footer, footer_offset: u64) -> Result<u64, (u64, &'static str)> {
    let mut blocks = Vec::with_capacity(3);
    if footer.filter != BlockHandle::default() {
        blocks.push(footer.filter);
    }
    blocks.extend([footer.properties, footer.index]);
    let follows =
        |block: &BlockHandle, next_offset: u64| block.end_with_trailer() == Some(next_offset);
    for pair in blocks.windows(2) {
        if !follows(&pair[0], pair[1].offset) {
            return Err((pair[0].offset, "metadata blocks do not follow each other"));
        }
    }
    if !follows(&footer.index, footer_offset) {
        return Err((
            footer.index.offset,
            "the index block does not end at the footer",
        ));
    }
    Ok(blocks[0].offset)
}

/// Decodes the index block into entries, checking the handles cover the
/// data area `0..data_end` exactly, one block after another (a gap would
/// hide a block's keys, an overlap with the metadata would read it as
/// data), and keys strictly increase.
fn parse_index(raw: Vec<u8>, data_end: u64) -> Result<Vec<IndexEntry>, String> {
    let block = Arc::new(Block::parse(raw).map_err(|err| format!("index block: {err}"))?);
    let mut cursor = BlockCursor::new(Arc::clone(&block));
    let mut entries: Vec<IndexEntry> = Vec::new();
    cursor
        .seek_to_first()
        .map_err(|err| format!("index block: {err}"))?;
    while cursor.valid() {
        let handle = BlockHandle::from_varints(cursor.value())
            .ok_or("index entry value is not a block handle")?;
        let end = handle
            .end_with_trailer()
            .filter(|&end| end <= data_end)
            .ok_or("index entry points outside the data area")?;
        debug_assert!(end > handle.offset);
        let expected_offset = entries
            .last()
            .map_or(Some(0), |prev| prev.handle.end_with_trailer());
        if Some(handle.offset) != expected_offset {
            return Err("index entries leave a gap, overlap or are out of order".into());
        }
        if let Some(prev) = entries.last() {
            if compare_internal_keys(&prev.last_key, cursor.key()) != Ordering::Less {
                return Err("index keys do not strictly increase".into());
            }
        }
        if parse_internal_key(cursor.key()).is_none() {
            return Err("index key is not an internal key".into());
        }
        // The key is copied into memory, while on disk it may cost a few
        // bytes (prefix compression). A block's last key is made of its
        // bytes, so it is no longer than the block decodes to (at most
        // `LZ4_MAX_RATIO` times its stored size), nor than any internal
        // key: this bounds the index in memory by the data on disk.
        let key_len = cursor.key().len();
        let block_holds = usize::try_from(handle.size)
            .map_or(usize::MAX, |size| size.saturating_mul(LZ4_MAX_RATIO));
        if key_len > lsm_core::MAX_TREE_KEY_BYTES + lsm_core::key::TRAILER_BYTES
            || key_len > block_holds
        {
            return Err(format!(
                "index key of {key_len} bytes is longer than any key its data block \
                 (offset {}, {} bytes stored) can hold",
                handle.offset, handle.size
            ));
        }
        entries.push(IndexEntry {
            last_key: cursor.key().to_vec(),
            handle,
        });
        cursor.next().map_err(|err| format!("index block: {err}"))?;
    }
    match entries.last() {
        None => Err("index block is empty".into()),
        Some(last) if last.handle.end_with_trailer() != Some(data_end) => {
            Err("the data blocks do not end where the metadata begins".into())
        }
        Some(_) => Ok(entries),
    }
}
