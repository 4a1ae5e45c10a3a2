//! The async store's error type: every store error, plus the compaction
//! coordinator's own failures.

use crate::coordinator::JobId;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an `AsyncLsmStore` call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure of the shared engine: I/O, corruption, a size limit, a
    /// closed or poisoned store, an invalid level.
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
    /// A compaction job the caller waited for failed.
    #[error("compaction job {job} failed: {reason}")]
    CompactionFailed {
        /// The job.
        job: JobId,
        /// The error it failed with.
        reason: String,
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
        Error::Store(lsm_engine::Error::Core(err))
    }
}

impl Error {
    /// True when the error is the store refusing writes after a background
    /// (or write-path) failure.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Store(lsm_engine::Error::Poisoned { .. }))
    }

    /// True when the error is the store being closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Store(lsm_engine::Error::Closed))
    }
}
