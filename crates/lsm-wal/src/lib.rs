//! # lsm-wal: the write-ahead log
//!
//! Every write batch is appended here, with its sequence numbers, before
//! the store applies it to the memtable, so a crash loses nothing that was
//! acknowledged. The log is a series of *segment* files `NNNNNN.wal` in one
//! directory; each is a header record followed by checksummed write-batch
//! records (layout: `docs/format/wal.md`).
//!
//! Main types:
//!
//! - [`WalWriter`]: appends batches from many threads at once. It assigns
//!   sequence numbers (WAL order is sequence order) and shares `write()`
//!   and `fdatasync()` calls between concurrent appenders (group commit);
//!   rotates to a new segment when one is full; after a durable append,
//!   keeps zeros written ahead of the records so later fdatasyncs commit
//!   no size change.
//! - [`recover`]: replays the segments after a restart, cuts off a torn
//!   tail, and reports what it did in a [`RecoveryReport`].
//! - [`SegmentReader`] and [`read_segment`]: read one segment's records and
//!   how it ends, for tools.
//!
//! What it guarantees:
//!
//! - An append returns only once its [`SyncMode`]'s promise holds: written
//!   to the OS (survives a process crash) or fdatasynced (survives power
//!   loss).
//! - Recovery replays a *prefix* of what was appended: it never skips a
//!   damaged record and continues after it. Damage it drops as a torn
//!   tail is only what a crash explains; each record's durable mark lets
//!   it tell unsynced writes that reached the disk out of order from
//!   damage to durable records.
//! - After a failed write or sync the writer is poisoned: it never retries
//!   and never acknowledges another append ([`Error::Poisoned`]).
//!
//! What it never does: delete files (the store removes obsolete segments),
//! spawn threads, or touch the file system except through
//! [`lsm_core::FileSystem`].
//!
//! ```
//! use lsm_core::{OsFileSystem, WriteBatch};
//! use lsm_wal::{recover, RecoveryMode, WalOptions, WalWriter};
//!
//! let dir = tempfile::tempdir()?;
//! let wal = WalWriter::create(OsFileSystem::shared(), dir.path(), 1, 1, WalOptions::default())?;
//! let mut batch = WriteBatch::new();
//! batch.put(b"apple", b"red").delete(b"pear");
//! assert_eq!(wal.append(&batch)?, 2, "the batch got seqnos 1 and 2");
//! wal.close()?;
//!
//! let mut replayed = Vec::new();
//! let report = recover(&OsFileSystem, dir.path(), 1, RecoveryMode::TolerateTornTail, |view| {
//!     replayed.push(view.to_batch())
//! })?;
//! assert_eq!(report.last_seq, Some(2));
//! assert_eq!(report.next_segment, 2);
//! assert_eq!(replayed[0].iter().count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod format;
mod naming;
mod options;
mod reader;
mod recovery;
mod writer;

pub use error::{Error, Result};
pub use format::SegmentHeader;
pub use naming::{list_segments, parse_segment_file_name, segment_file_name, segment_path};
pub use options::{RecoveryMode, SyncMode, WalOptions, DEFAULT_SEGMENT_BYTES};
pub use reader::{
    read_segment, RecordSummary, SegmentContents, SegmentReader, SegmentTail, WalRecord,
};
pub use recovery::{recover, recover_from, repair, RecoveryReport, ReplayStart, TornTail};
pub use writer::{FailedAppend, WalWriter};
