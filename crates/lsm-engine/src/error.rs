//! The store's error type.

use std::path::PathBuf;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Corruption, I/O, or a key/value/batch over its size limit.
    #[error(transparent)]
    Core(#[from] lsm_core::Error),
    /// The write-ahead log failed or refused the write.
    #[error(transparent)]
    Wal(#[from] lsm_wal::Error),
    /// A table could not be written or read.
    #[error(transparent)]
    Sstable(#[from] lsm_sstable::Error),
    /// The manifest could not be read or written.
    #[error(transparent)]
    Manifest(#[from] lsm_manifest::Error),
    /// A flush or compaction failed.
    #[error(transparent)]
    Compaction(#[from] lsm_compaction::Error),
    /// Another open store (in this process or another) holds the directory.
    #[error("store directory {dir} is locked by another open store")]
    Locked {
        /// The store directory.
        dir: PathBuf,
    },
    /// The store was closed; no more calls are accepted.
    #[error("the store is closed")]
    Closed,
    /// An earlier write-path failure (WAL or manifest sync, ENOSPC, a failed
    /// flush) made the store refuse writes until it is reopened. Reads work.
    #[error("the store refuses writes until reopened: {reason}")]
    Poisoned {
        /// The failure that poisoned the store.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {option} = {value} is out of range (accepted: {accepted})")]
    InvalidConfig {
        /// The option (the `LsmConfig` field).
        option: &'static str,
        /// The value given.
        value: String,
        /// The accepted range.
        accepted: String,
    },
    /// A level argument is out of range for the operation.
    #[error("level {level} is not valid here: levels 0..={max} can be compacted")]
    InvalidLevel {
        /// The level asked for.
        level: usize,
        /// The deepest level the operation accepts.
        max: usize,
    },
    /// The configuration does not fit the store's files: an option the
    /// files depend on (see `docs/format/options.md`) differs from the value
    /// the store was created with (recorded in its `OPTIONS` file), or the
    /// manifest lists tables at a level the configuration does not have.
    /// Nothing was changed on disk; the message says what to set.
    #[error(
        "incompatible configuration: {option} is {requested}, but the store needs {stored} \
         ({reason}); set {option} to {stored}"
    )]
    IncompatibleOptions {
        /// The option (the `LsmConfig` field).
        option: &'static str,
        /// What the store's files need (say `4`, or `at least 6`).
        stored: String,
        /// The value the configuration asked for.
        requested: String,
        /// Why the store needs it, naming the file that says so.
        reason: String,
    },
}

impl Error {
    /// True when the error reports damaged or missing bytes on disk, from
    /// any layer: a bad table block, WAL record or manifest edit, a hole in
    /// the WAL, a table the manifest lists but the directory lacks. The
    /// error's text names the file and the offset.
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Core(err) => err.is_corruption(),
            Error::Wal(err) => err.is_corruption(),
            Error::Sstable(err) => err.is_corruption(),
            Error::Manifest(err) => err.is_corruption(),
            Error::Compaction(lsm_compaction::Error::Core(err)) => err.is_corruption(),
            Error::Compaction(lsm_compaction::Error::Sstable(err)) => err.is_corruption(),
            _ => false,
        }
    }

    /// True when the store refuses writes until it is reopened, after a
    /// write-path failure (WAL or manifest sync, ENOSPC) or a failed flush
    /// or compaction. Reads still work.
    pub fn is_poisoned(&self) -> bool {
        matches!(
            self,
            Error::Poisoned { .. }
                | Error::Wal(lsm_wal::Error::Poisoned { .. })
                | Error::Manifest(lsm_manifest::Error::Poisoned { .. })
        )
    }

    /// True when the error is the store being closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
    }
}
