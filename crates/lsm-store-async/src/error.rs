//! The async store's error type: every engine error, plus the compaction
//! coordinator's own failures.

use std::path::Path;
use std::sync::Arc;

use lsm_engine::KvError;

use crate::coordinator::JobId;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an `AsyncLsmStore` call (and its snapshots and iterators)
/// can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure of the shared engine: I/O, corruption, a size limit, a
    /// closed, locked or poisoned store, an invalid level, a snapshot of
    /// another store (`lsm_engine::Error::ForeignSnapshot`). The engine
    /// flattens I/O into `lsm_engine::Error::Io` and damaged bytes into
    /// `lsm_engine::Error::Corruption`, whichever layer found them.
    #[error(transparent)]
    Store(#[from] lsm_engine::Error),
    /// The compaction job queue holds its maximum number of pending jobs.
    #[error("the compaction queue is full: {capacity} jobs are already pending")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The job id was never issued, or the job left the bounded history.
    #[error("compaction job {0} is unknown (never scheduled, or dropped from the history)")]
    UnknownJob(JobId),
    /// A compaction job the caller waited for failed. The failure also
    /// poisoned the store: later writes fail with a poisoned error.
    /// [`Error::is_corruption`], [`Error::path`] and [`Error::offset`] see
    /// through to `cause`: damage the compaction read is reported as it is
    /// on every other path (the file and the offset), not only in `reason`.
    #[error("compaction job {job} failed: {reason}")]
    CompactionFailed {
        /// The job.
        job: JobId,
        /// The error it failed with.
        reason: String,
        /// That error itself (`None` for a job that failed before it
        /// ran, e.g. on a poisoned store).
        #[source]
        cause: Option<Arc<lsm_engine::Error>>,
    },
    /// The memtable flush `flush_memtable` waited for failed (or one
    /// before it had). The failure also poisoned the store: later writes
    /// fail with a poisoned error. [`Error::is_corruption`],
    /// [`Error::path`] and [`Error::offset`] see through to `cause`, so the
    /// caller learns the file as the sync store's `flush_memtable` says it.
    #[error("memtable flush failed: {cause}")]
    FlushFailed {
        /// The error it failed with.
        #[source]
        cause: Arc<lsm_engine::Error>,
    },
    /// A compaction job the caller waited for was cancelled by `close`.
    #[error("compaction job {job} was cancelled because the store closed")]
    CompactionCancelled {
        /// The job.
        job: JobId,
    },
}

impl From<lsm_core::Error> for Error {
    /// Core errors (size limits, I/O, corruption) are reported the way the
    /// sync store reports them, so there is one way to match each.
    fn from(err: lsm_core::Error) -> Self {
        Error::Store(err.into())
    }
}

impl Error {
    fn engine(&self) -> Option<&lsm_engine::Error> {
        match self {
            Error::Store(err) => Some(err),
            _ => None,
        }
    }

    /// The engine error that says where on disk the failure is: the
    /// store's, or the one a failed flush or compaction job ran into.
    fn on_disk(&self) -> Option<&lsm_engine::Error> {
        match self {
            Error::CompactionFailed {
                cause: Some(cause), ..
            }
            | Error::FlushFailed { cause } => Some(cause),
            _ => self.engine(),
        }
    }

    /// True when the error reports damaged or missing bytes on disk, from
    /// any layer (a compaction job's failure included); [`Error::path`]
    /// and [`Error::offset`] say where.
    pub fn is_corruption(&self) -> bool {
        self.on_disk().is_some_and(lsm_engine::Error::is_corruption)
    }

    /// True when the store refuses writes until it is reopened, after a
    /// background (flush, compaction) or write-path (WAL or manifest sync,
    /// ENOSPC) failure. Reads keep working.
    pub fn is_poisoned(&self) -> bool {
        self.engine().is_some_and(lsm_engine::Error::is_poisoned)
    }

    /// True when another open store holds the directory's lock.
    pub fn is_locked(&self) -> bool {
        self.engine().is_some_and(lsm_engine::Error::is_locked)
    }

    /// True when the error is the store being closed, including a
    /// compaction job the close cancelled before it ran.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::CompactionCancelled { .. })
            || self.engine().is_some_and(lsm_engine::Error::is_closed)
    }

    /// The file an I/O or corruption error names (also one a failed
    /// compaction job ran into; the directory of a locked-store error);
    /// `None` otherwise.
    pub fn path(&self) -> Option<&Path> {
        self.on_disk().and_then(lsm_engine::Error::path)
    }

    /// Where a corruption error's bad bytes start in [`Error::path`].
    pub fn offset(&self) -> Option<u64> {
        self.on_disk().and_then(lsm_engine::Error::offset)
    }
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

    #[test]
    fn predicates_see_through_the_store_variant() {
        let corrupt: Error =
            lsm_core::Error::corruption("/s/000004.wal", 77, "bad record checksum").into();
        assert!(corrupt.is_corruption());
        assert!(matches!(
            &corrupt,
            Error::Store(lsm_engine::Error::Corruption { offset: 77, .. })
        ));
        assert_eq!(corrupt.path(), Some(Path::new("/s/000004.wal")));
        assert_eq!(corrupt.offset(), Some(77));
        let poisoned = Error::Store(lsm_engine::Error::Wal(lsm_wal::Error::Poisoned {
            reason: "EIO".into(),
        }));
        assert!(poisoned.is_poisoned() && !poisoned.is_corruption());
        assert!(Error::Store(lsm_engine::Error::Closed).is_closed());
        let locked = Error::Store(lsm_engine::Error::Locked { dir: "/s".into() });
        assert!(locked.is_locked());
        let cancelled = Error::CompactionCancelled { job: JobId(3) };
        assert!(cancelled.is_closed() && !cancelled.is_poisoned());
        let full = Error::QueueFull { capacity: 1 };
        assert!(!full.is_poisoned() && !full.is_closed() && full.path().is_none());
    }
}
