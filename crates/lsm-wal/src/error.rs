//! The crate's error type.

use lsm_core::SeqNo;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from writing or recovering the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O failure, a corrupt segment (`lsm_core::Error::Corruption`,
    /// naming the segment file and offset) or a batch over a size limit.
    #[error(transparent)]
    Core(#[from] lsm_core::Error),
    /// An earlier write or sync failed, so the WAL accepts nothing more:
    /// after a failed `fdatasync` the kernel may have dropped the dirty
    /// pages, so retrying and acknowledging would be a lie.
    #[error("the WAL refuses appends because an earlier write or sync failed: {reason}")]
    Poisoned {
        /// The failure that poisoned the WAL.
        reason: String,
    },
    /// The writer was closed.
    #[error("the WAL is closed")]
    Closed,
    /// Assigning the batch its sequence numbers would pass
    /// `lsm_core::MAX_SEQNO`.
    #[error(
        "sequence numbers are exhausted: a batch of {count} operations cannot start at {next}"
    )]
    SeqNoExhausted {
        /// The next sequence number the writer would assign.
        next: SeqNo,
        /// The batch's operation count.
        count: u32,
    },
}

impl Error {
    /// True when the error reports corrupt bytes on disk.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Core(err) if err.is_corruption())
    }
}
