//! # lsm-compaction: merging, version garbage collection and leveled compaction
//!
//! - [`MergingIterator`]: a k-way merge of sorted cursors (memtables, L0
//!   tables, one [`LevelIterator`] per deeper level); the newest child wins
//!   ties. Both merge in either direction, and switch direction at any
//!   entry.
//! - [`EntryFilter`]: drops versions no live snapshot can read, and
//!   tombstones where no older data for the key can exist below.
//! - [`pick_compaction`]: the leveled picker, a pure function of a
//!   [`lsm_manifest::Version`] and a [`LevelShape`].
//! - [`run_compaction`] and [`flush_to_tables`]: the jobs. Inputs and options
//!   in, new table files (written, fsynced, directory fsynced) and a
//!   [`lsm_manifest::VersionEdit`] out.
//!
//! Guarantees: output tables of a level never split one user key's versions
//! across two tables; a job never deletes an input file (the store does,
//! once no live version references it); a failed job removes its partial
//! outputs. Never: this crate takes no locks and never writes the manifest.
//!
//! ```
//! use std::collections::BTreeSet;
//! use lsm_compaction::{pick_compaction, LevelShape};
//! use lsm_manifest::Version;
//!
//! // An empty tree needs no compaction.
//! let version = Version::new(7);
//! assert!(pick_compaction(&version, &LevelShape::default(), &BTreeSet::new()).is_none());
//! ```
//!
//! ```
//! use lsm_compaction::MergingIterator;
//! use lsm_core::{InternalIterator, InternalKey, ValueKind, VecCursor};
//!
//! let entry = |key: &[u8]| (InternalKey::new(key, 1, ValueKind::Put).into_bytes(), key.to_vec());
//! let odd = VecCursor::new(vec![entry(b"a"), entry(b"c")]);
//! let even = VecCursor::new(vec![entry(b"b"), entry(b"d")]);
//! let mut merged = MergingIterator::new(vec![Box::new(odd), Box::new(even)]);
//! merged.seek_to_last()?;
//! assert_eq!(merged.value(), b"d");
//! merged.prev()?;
//! merged.prev()?;
//! assert_eq!(merged.value(), b"b");
//! merged.next()?; // a change of direction steps to the neighbour
//! assert_eq!(merged.value(), b"c");
//! # Ok::<(), lsm_core::Error>(())
//! ```

mod filter;
mod job;
mod level;
mod merge;
mod picker;

pub use filter::EntryFilter;
pub use job::{
    file_meta_from_properties, flush_to_tables, run_compaction, CompactionOutcome, OutputContext,
};
pub use level::{sstable_error_to_core, LevelIterator, TableSource};
pub use merge::{BoxedIterator, MergingIterator};
pub use picker::{
    choose_level_compaction, level_scores, pending_compaction_bytes, pick_compaction,
    pick_range_delete_compaction, CompactionChoice, LevelShape,
};

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from a flush or compaction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Corruption or I/O while reading inputs.
    #[error(transparent)]
    Core(#[from] lsm_core::Error),
    /// Failure while writing or reading a table.
    #[error(transparent)]
    Sstable(#[from] lsm_sstable::Error),
}
