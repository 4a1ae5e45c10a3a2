//! # lsm-core: the shared vocabulary of the lsm engine
//!
//! Every other crate speaks in these types:
//!
//! - [`SeqNo`] and [`ValueKind`]: each operation gets a strictly increasing
//!   sequence number; an entry is a put or a tombstone.
//! - The internal key ([`InternalKey`], [`compare_internal_keys`]): user key
//!   ascending, then sequence number descending, so the newest entry of a
//!   key sorts first.
//! - [`WriteBatch`]: puts, deletes and range deletes applied atomically,
//!   kept encoded so the WAL writes it as is; keys in it are *tree keys*
//!   ([`keyspace`]: a keyspace prefix, then the user key).
//! - [`RangeTombstones`]: range deletes, indexed for lookups.
//! - [`coding`] and [`checksum`]: varints, fixed-width little-endian integers
//!   and masked CRC-32, used by every on-disk format; [`record`] frames the
//!   checksummed records of the WAL and the manifest log.
//! - [`InternalIterator`]: the one cursor trait for sorted streams.
//! - [`FileSystem`]: the seam through which all file I/O goes, and
//!   [`fault::FaultyFileSystem`], which injects I/O errors and simulated
//!   power losses through it in tests.
//! - The size limits ([`MAX_KEY_BYTES`], [`MAX_VALUE_BYTES`],
//!   [`MAX_BATCH_BYTES`]) and their typed [`Error`]s.
//!
//! What it guarantees: decoders never panic on arbitrary bytes; they return
//! `None` or an [`Error::Corruption`]. What it never does: it owns no files,
//! threads or global state.
//!
//! ```
//! use lsm_core::{InternalKey, ValueKind, WriteBatch};
//!
//! let newer = InternalKey::new(b"apple", 7, ValueKind::Put);
//! let older = InternalKey::new(b"apple", 3, ValueKind::Delete);
//! assert!(newer < older, "the newest entry sorts first");
//!
//! let mut batch = WriteBatch::new();
//! batch.put(b"apple", b"red").delete(b"pear");
//! batch.check_limits()?;
//! batch.set_first_seq(10);
//! let seqs: Vec<u64> = batch.iter().map(|op| op.seq).collect();
//! assert_eq!(seqs, [10, 11]);
//! # Ok::<(), lsm_core::Error>(())
//! ```

pub mod batch;
pub mod checksum;
pub mod coding;
pub mod cursor;
mod error;
pub mod fault;
pub mod fs;
pub mod key;
pub mod keyspace;
pub mod range_tombstone;
pub mod record;

pub use batch::{BatchOp, BatchView, OpKind, WriteBatch};
pub use cursor::{InternalIterator, VecCursor};
pub use error::{Error, Result};
pub use fs::{FileSystem, OsFileSystem, SharedFileSystem};
pub use key::{
    compare_internal_keys, compare_user_keys, parse_internal_key, user_key_of, InternalKey, Lookup,
    ParsedInternalKey, SeekKey, SeqNo, ValueKind, MAX_SEQNO,
};
pub use keyspace::KeyspaceId;
pub use range_tombstone::{RangeTombstone, RangeTombstones, ScanHint};

/// Longest user key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 64 * 1024 - 1;
/// Longest tree key (keyspace prefix + user key) a table, the memtable or
/// the manifest holds.
pub const MAX_TREE_KEY_BYTES: usize = MAX_KEY_BYTES + keyspace::MAX_PREFIX_BYTES;
/// Longest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024 * 1024;
/// Largest encoded write batch accepted, in bytes. Also bounds a WAL record,
/// so a reader never allocates more than this from a length read off disk.
pub const MAX_BATCH_BYTES: usize = 128 * 1024 * 1024;
