//! # lsm-sstable: immutable sorted table files and the block cache
//!
//! A *table* is an immutable file of `(internal key, value)` entries in
//! [`lsm_core::compare_internal_keys`] order, written once by a
//! [`TableBuilder`] (memtable flush, compaction output) and then read by
//! many threads through a shared [`Table`]:
//!
//! - [`TableBuilder`]: prefix-compressed data blocks with restart points,
//!   a blocked bloom filter over user keys, a properties block, an index
//!   block and a fixed footer. [`TableBuilder::finish`] fsyncs the file.
//! - [`Table`]: opens and checks a file, keeps its index, filter and
//!   [`TableProperties`] in memory; [`Table::get`] answers a point lookup at
//!   a snapshot with at most one data-block read; [`Table::iter`] returns a
//!   [`TableIterator`], an [`lsm_core::InternalIterator`], which reads
//!   ahead going forward (a block missing from the cache is read with the
//!   blocks after it, 4 then twice as many each time, at most 256 KiB; only
//!   the block it needed enters the cache). Both hand out values as
//!   `bytes::Bytes` slices of the decoded block (`Lookup::Value`,
//!   `value_bytes`): no copy, and from a cached block no allocation.
//! - [`BlockCache`]: decoded data blocks shared by all tables, bounded in
//!   bytes.
//!
//! The byte format is specified in `docs/format/sstable.md`.
//!
//! ## Guarantees
//!
//! - Every block read from disk has its CRC-32 checked, every time (cached
//!   blocks were checked when read); any failed check is an
//!   [`lsm_core::Error::Corruption`] naming the file and the offset of the
//!   block or footer at fault. No byte pattern makes a reader panic, and
//!   every length read from disk is bounded (by the file size and
//!   [`MAX_BLOCK_BYTES`]) before anything is allocated.
//! - Reads are *positioned reads* (`pread`, via
//!   [`lsm_core::fs::RandomAccessFile::read_exact_at`]), not `mmap`: if a
//!   mapped file is truncated underneath a reader, touching the lost pages
//!   raises `SIGBUS` and kills the process, whereas `pread` returns an error
//!   that becomes a corruption report. It also keeps all I/O behind the
//!   [`lsm_core::FileSystem`] seam, so tests can inject faults.
//! - A finished table is durable (the file is fsynced); its directory entry
//!   is not: the caller syncs the directory once after creating its tables.
//!
//! ## What it never does
//!
//! It never deletes a file, except the partial file of a builder that is
//! abandoned or fails to finish. It never calls `std::fs`, spawns threads,
//! or decides which tables exist: that is the manifest's job.
//!
//! ## Example
//!
//! ```
//! use bytes::Bytes;
//! use lsm_core::{InternalKey, InternalIterator, Lookup, OsFileSystem, ValueKind};
//! use lsm_sstable::{BlockCache, Table, TableBuilder, TableOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("000001.sst");
//! let fs = OsFileSystem;
//!
//! let mut builder = TableBuilder::create(&fs, &path, TableOptions::default())?;
//! builder.add(InternalKey::new(b"apple", 7, ValueKind::Put).as_bytes(), b"red")?;
//! builder.add(InternalKey::new(b"apple", 3, ValueKind::Put).as_bytes(), b"green")?;
//! builder.add(InternalKey::new(b"pear", 5, ValueKind::Delete).as_bytes(), b"")?;
//! let properties = builder.finish()?;
//! assert_eq!((properties.entries, properties.tombstones), (3, 1));
//!
//! let cache = BlockCache::new(1 << 20);
//! let table = Table::open(&fs, &path, 1, Some(cache))?;
//! assert_eq!(table.get(b"apple", 10)?, Some(Lookup::Value(Bytes::from_static(b"red"))));
//! assert_eq!(table.get(b"apple", 5)?, Some(Lookup::Value(Bytes::from_static(b"green"))));
//! assert_eq!(table.get(b"apple", 2)?, None);
//! assert_eq!(table.get(b"pear", 10)?, Some(Lookup::Deleted));
//!
//! let mut cursor = table.iter();
//! cursor.seek_to_first()?;
//! let mut count = 0;
//! while cursor.valid() {
//!     count += 1;
//!     cursor.next()?;
//! }
//! assert_eq!(count, 3);
//!
//! // Backward: the last entry at or before a target, then the ones before.
//! cursor.seek_for_prev(InternalKey::for_seek(b"apple", 5).as_bytes())?;
//! assert_eq!(cursor.value(), b"red");
//! cursor.prev()?;
//! assert!(!cursor.valid(), "apple@7 is the first entry");
//! cursor.seek_to_last()?;
//! assert_eq!(cursor.key(), InternalKey::new(b"pear", 5, ValueKind::Delete).as_bytes());
//!
//! // Values without a copy: slices of the one cached decoded block.
//! let Some(Lookup::Value(red)) = table.get(b"apple", 10)? else { unreachable!() };
//! cursor.seek_to_first()?;
//! assert_eq!(cursor.value_bytes().as_ptr(), red.as_ptr());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod block;
mod builder;
mod cache;
mod error;
mod filter;
pub mod format;
mod index_search;
mod iter;
mod options;
mod properties;
mod table;

pub use builder::TableBuilder;
pub use cache::BlockCache;
pub use error::{Error, Result};
pub use filter::{filter_hash, FilterInfo, FilterKey};
pub use format::{
    BlockHandle, BLOCK_TRAILER_BYTES, FOOTER_BYTES, FORMAT_VERSION, MAX_BLOCK_BYTES, TABLE_MAGIC,
};
pub use iter::TableIterator;
pub use options::{Compression, TableOptions};
pub use properties::TableProperties;
pub use table::{IndexEntry, Table, TableLayout};
