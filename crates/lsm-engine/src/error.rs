//! The store's error type, and [`KvError`], the questions a user asks of
//! either store's error.
//!
//! The layers below (core, WAL, sstable, manifest, compaction) each have
//! their own error enum. Converting one into [`Error`] flattens it: any
//! I/O failure becomes [`Error::Io`], any damaged bytes become
//! [`Error::Corruption`], and a poisoned or closed WAL or manifest becomes
//! [`Error::Poisoned`] / [`Error::Closed`], whichever layer noticed. The
//! layer variants ([`Error::Core`], [`Error::Wal`], ...) keep only the
//! failures that are specific to that layer (a size limit, an invalid
//! manifest edit, a table builder misuse).

use std::path::{Path, PathBuf};

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed on the named file or directory (from any layer).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk failed a check, or a file the store needs is missing
    /// (from any layer: a table block, a WAL record, a manifest edit, a hole
    /// in the WAL, a listed table the directory lacks).
    #[error("corruption in {} at offset {offset}: {detail}", path.display())]
    Corruption {
        /// The damaged (or missing) file.
        path: PathBuf,
        /// Byte offset in that file where the bad data starts.
        offset: u64,
        /// What check failed.
        detail: String,
    },
    /// A key, value or batch over its size limit, or an empty batch. (I/O
    /// and corruption are never in this variant: see [`Error::Io`] and
    /// [`Error::Corruption`].)
    #[error(transparent)]
    Core(lsm_core::Error),
    /// The write-ahead log refused the write for a reason of its own
    /// (sequence numbers exhausted). Its I/O, corruption, poisoned and
    /// closed errors are flattened into the store's variants.
    #[error(transparent)]
    Wal(lsm_wal::Error),
    /// A table could not be built (a builder misuse or a block over its
    /// size limit). Table I/O and corruption are flattened.
    #[error(transparent)]
    Sstable(lsm_sstable::Error),
    /// The manifest refused an edit or found no `CURRENT` file over
    /// existing data. Manifest I/O, corruption and poisoning are flattened.
    #[error(transparent)]
    Manifest(lsm_manifest::Error),
    /// A flush or compaction failure of a kind the store does not flatten
    /// (none today; the compaction crate's error may grow).
    #[error(transparent)]
    Compaction(lsm_compaction::Error),
    /// Another open store (in this process or another) holds the directory.
    #[error("store directory {} is locked by another open store", dir.display())]
    Locked {
        /// The store directory.
        dir: PathBuf,
    },
    /// The store was closed; no more calls are accepted.
    #[error("the store is closed")]
    Closed,
    /// A read through a snapshot made by another store, or by another
    /// open of this store's directory (a snapshot belongs to the open that
    /// made it), e.g. one store's keyspace handle given another store's
    /// snapshot. Nothing was read.
    #[error(
        "the snapshot belongs to another store (or to another open of this directory): \
         read it through the store that made it"
    )]
    ForeignSnapshot,
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
    /// A batch names a keyspace that does not exist (never created, or
    /// dropped), or writes to the store's own keyspace catalog.
    #[error("keyspace {id} does not exist (never created, or dropped)")]
    UnknownKeyspace {
        /// The keyspace id the batch named.
        id: u32,
    },
    /// A keyspace name is empty, longer than 255 bytes, or names a
    /// keyspace that does not exist where one must.
    #[error("keyspace {name:?}: {reason}")]
    InvalidKeyspace {
        /// The name given (for a name over the limit, its first 64 bytes
        /// and its length: the error does not copy a huge name whole).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A level argument is out of range for the operation.
    #[error("level {level} is not valid here: levels 0..={max} can be compacted")]
    InvalidLevel {
        /// The level asked for.
        level: usize,
        /// The deepest level the operation accepts.
        max: usize,
    },
    /// A checkpoint's directory already holds something: a checkpoint is
    /// written only into a missing or empty directory. Nothing was written.
    #[error(
        "checkpoint directory {} is not empty ({entries} entries): choose a new or empty directory",
        dir.display()
    )]
    CheckpointDirNotEmpty {
        /// The directory asked for.
        dir: PathBuf,
        /// How many entries it holds.
        entries: usize,
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

impl From<lsm_core::Error> for Error {
    /// I/O and corruption become [`Error::Io`] / [`Error::Corruption`];
    /// the rest (size limits) stay in [`Error::Core`].
    fn from(err: lsm_core::Error) -> Self {
        match err {
            lsm_core::Error::Io { path, source } => Error::Io { path, source },
            lsm_core::Error::Corruption {
                path,
                offset,
                detail,
            } => Error::Corruption {
                path,
                offset,
                detail,
            },
            other => Error::Core(other),
        }
    }
}

impl From<lsm_wal::Error> for Error {
    /// I/O and corruption are flattened; a poisoned WAL is
    /// [`Error::Poisoned`], a closed one [`Error::Closed`].
    fn from(err: lsm_wal::Error) -> Self {
        match err {
            lsm_wal::Error::Core(core) => core.into(),
            err @ lsm_wal::Error::Poisoned { .. } => Error::Poisoned {
                reason: err.to_string(),
            },
            lsm_wal::Error::Closed => Error::Closed,
            other => Error::Wal(other),
        }
    }
}

impl From<lsm_sstable::Error> for Error {
    /// I/O and corruption are flattened.
    fn from(err: lsm_sstable::Error) -> Self {
        match err {
            lsm_sstable::Error::Core(core) => core.into(),
            other => Error::Sstable(other),
        }
    }
}

impl From<lsm_manifest::Error> for Error {
    /// I/O and corruption are flattened; a poisoned manifest is
    /// [`Error::Poisoned`].
    fn from(err: lsm_manifest::Error) -> Self {
        match err {
            lsm_manifest::Error::Core(core) => core.into(),
            err @ lsm_manifest::Error::Poisoned { .. } => Error::Poisoned {
                reason: err.to_string(),
            },
            other => Error::Manifest(other),
        }
    }
}

impl From<lsm_compaction::Error> for Error {
    /// Flattened through the core and sstable conversions.
    fn from(err: lsm_compaction::Error) -> Self {
        match err {
            lsm_compaction::Error::Core(core) => core.into(),
            lsm_compaction::Error::Sstable(table) => table.into(),
            other => Error::Compaction(other),
        }
    }
}

impl Error {
    /// The core error inside a layer variant, for errors built by hand
    /// (conversions never leave I/O or corruption nested).
    fn nested_core(&self) -> Option<&lsm_core::Error> {
        match self {
            Error::Core(core)
            | Error::Wal(lsm_wal::Error::Core(core))
            | Error::Sstable(lsm_sstable::Error::Core(core))
            | Error::Manifest(lsm_manifest::Error::Core(core))
            | Error::Compaction(lsm_compaction::Error::Core(core))
            | Error::Compaction(lsm_compaction::Error::Sstable(lsm_sstable::Error::Core(core))) => {
                Some(core)
            }
            _ => None,
        }
    }

    /// True when the error reports damaged or missing bytes on disk, from
    /// any layer: a bad table block, WAL record or manifest edit, a hole in
    /// the WAL, a table the manifest lists but the directory lacks.
    /// [`Error::path`] and [`Error::offset`] say where. Reopening does not
    /// help; restore the file or move the store aside.
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Corruption { .. } => true,
            _ => self
                .nested_core()
                .is_some_and(lsm_core::Error::is_corruption),
        }
    }

    /// True when the store refuses writes until it is reopened, after a
    /// write-path failure (WAL or manifest sync, ENOSPC) or a failed flush
    /// or compaction. Reads still work; writes acknowledged before it are
    /// durable per the sync mode.
    pub fn is_poisoned(&self) -> bool {
        matches!(
            self,
            Error::Poisoned { .. }
                | Error::Wal(lsm_wal::Error::Poisoned { .. })
                | Error::Manifest(lsm_manifest::Error::Poisoned { .. })
        )
    }

    /// True when another open store (in this or another process) holds the
    /// directory's lock. [`Error::path`] names the directory.
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Locked { .. })
    }

    /// True when the store (or its WAL) was closed: no more calls are
    /// accepted, also through its snapshots and iterators.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed | Error::Wal(lsm_wal::Error::Closed))
    }

    /// The file (or directory) an I/O or corruption error names, the
    /// locked directory of a [`Error::Locked`] error, or the directory of
    /// a [`Error::CheckpointDirNotEmpty`] error; `None` otherwise.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } | Error::Corruption { path, .. } => Some(path),
            Error::Locked { dir } | Error::CheckpointDirNotEmpty { dir, .. } => Some(dir),
            _ => match self.nested_core() {
                Some(
                    lsm_core::Error::Io { path, .. } | lsm_core::Error::Corruption { path, .. },
                ) => Some(path),
                _ => None,
            },
        }
    }

    /// The byte offset in [`Error::path`] where a corruption error's bad
    /// data starts; `None` for every other error.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Corruption { offset, .. } => Some(*offset),
            _ => match self.nested_core() {
                Some(lsm_core::Error::Corruption { offset, .. }) => Some(*offset),
                _ => None,
            },
        }
    }
}

/// What a user asks of either store's error type: implemented by
/// [`Error`] (the sync store's) and by `lsm_store_async::Error`, so code
/// generic over [`crate::KvStore`] can tell the kinds apart. Each method
/// has the meaning documented on [`Error`]'s inherent method of the same
/// name.
pub trait KvError: std::error::Error + Send + Sync + 'static {
    /// Damaged or missing bytes on disk ([`Error::is_corruption`]).
    fn is_corruption(&self) -> bool;
    /// The store refuses writes until reopened ([`Error::is_poisoned`]).
    fn is_poisoned(&self) -> bool;
    /// Another open store holds the directory ([`Error::is_locked`]).
    fn is_locked(&self) -> bool;
    /// The store is closed ([`Error::is_closed`]).
    fn is_closed(&self) -> bool;
    /// The file an I/O or corruption error names ([`Error::path`]).
    fn path(&self) -> Option<&Path>;
    /// Where a corruption error's bad bytes start ([`Error::offset`]).
    fn offset(&self) -> Option<u64>;
}

impl KvError for Error {
    fn is_corruption(&self) -> bool {
        Error::is_corruption(self)
    }
    fn is_poisoned(&self) -> bool {
        Error::is_poisoned(self)
    }
    fn is_locked(&self) -> bool {
        Error::is_locked(self)
    }
    fn is_closed(&self) -> bool {
        Error::is_closed(self)
    }
    fn path(&self) -> Option<&Path> {
        Error::path(self)
    }
    fn offset(&self) -> Option<u64> {
        Error::offset(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corruption() -> lsm_core::Error {
        lsm_core::Error::corruption("/s/000007.sst", 4096, "bad checksum")
    }

    fn io() -> lsm_core::Error {
        lsm_core::Error::io("/s/000003.wal", std::io::Error::from_raw_os_error(5))
    }

    #[test]
    fn every_nested_corruption_converts_to_one_shape() {
        let all: Vec<Error> = vec![
            corruption().into(),
            lsm_wal::Error::Core(corruption()).into(),
            lsm_sstable::Error::Core(corruption()).into(),
            lsm_manifest::Error::Core(corruption()).into(),
            lsm_compaction::Error::Core(corruption()).into(),
            lsm_compaction::Error::Sstable(lsm_sstable::Error::Core(corruption())).into(),
        ];
        for err in all {
            assert!(
                matches!(&err, Error::Corruption { offset: 4096, .. }),
                "{err:?}"
            );
            assert!(err.is_corruption());
            assert!(!err.is_poisoned() && !err.is_closed() && !err.is_locked());
            assert_eq!(err.path(), Some(Path::new("/s/000007.sst")));
            assert_eq!(err.offset(), Some(4096));
            let text = err.to_string();
            assert!(
                text.contains("/s/000007.sst") && text.contains("4096"),
                "{text}"
            );
        }
    }

    #[test]
    fn every_nested_io_error_converts_to_one_shape() {
        let all: Vec<Error> = vec![
            io().into(),
            lsm_wal::Error::Core(io()).into(),
            lsm_sstable::Error::Core(io()).into(),
            lsm_manifest::Error::Core(io()).into(),
            lsm_compaction::Error::Core(io()).into(),
        ];
        for err in all {
            assert!(matches!(&err, Error::Io { .. }), "{err:?}");
            assert!(!err.is_corruption());
            assert_eq!(err.path(), Some(Path::new("/s/000003.wal")));
            assert_eq!(err.offset(), None);
            assert!(err.to_string().contains("/s/000003.wal"), "{err}");
        }
    }

    #[test]
    fn poisoned_and_closed_layers_convert_to_the_store_variants() {
        let wal: Error = lsm_wal::Error::Poisoned {
            reason: "fdatasync: EIO".into(),
        }
        .into();
        assert!(matches!(&wal, Error::Poisoned { reason } if reason.contains("EIO")));
        assert!(wal.is_poisoned());
        let manifest: Error = lsm_manifest::Error::Poisoned {
            cause: "sync: EIO".into(),
        }
        .into();
        assert!(matches!(&manifest, Error::Poisoned { .. }) && manifest.is_poisoned());
        let closed: Error = lsm_wal::Error::Closed.into();
        assert!(matches!(closed, Error::Closed) && closed.is_closed());
    }

    #[test]
    fn predicates_also_see_errors_built_nested_by_hand() {
        let nested = Error::Wal(lsm_wal::Error::Core(corruption()));
        assert!(nested.is_corruption());
        assert_eq!(nested.offset(), Some(4096));
        assert_eq!(nested.path(), Some(Path::new("/s/000007.sst")));
        assert!(Error::Wal(lsm_wal::Error::Poisoned { reason: "x".into() }).is_poisoned());
        assert!(Error::Manifest(lsm_manifest::Error::Poisoned { cause: "x".into() }).is_poisoned());
        assert!(Error::Wal(lsm_wal::Error::Closed).is_closed());
        let locked = Error::Locked {
            dir: PathBuf::from("/s"),
        };
        assert!(locked.is_locked() && !locked.is_corruption());
        assert_eq!(locked.path(), Some(Path::new("/s")));
        assert_eq!(locked.offset(), None);
    }

    #[test]
    fn size_limits_stay_core_errors() {
        let err: Error = lsm_core::Error::EmptyBatch.into();
        assert!(matches!(err, Error::Core(lsm_core::Error::EmptyBatch)));
        assert_eq!(err.path(), None);
    }
}
