//! The error type shared by every layer that reads bytes from disk.

use std::io;
use std::path::PathBuf;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from the shared vocabulary and from any cursor.
///
/// Higher crates wrap this with `#[from]`; [`Error::Corruption`] is the one
/// variant every decoder uses for bytes that fail a check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed on the named file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Bytes read from a file failed a check (checksum, length, magic, order).
    #[error("corruption in {path} at offset {offset}: {detail}")]
    Corruption {
        /// The file the bytes came from (or a description of the buffer).
        path: PathBuf,
        /// Byte offset in that file where the bad data starts.
        offset: u64,
        /// What check failed, as a sentence fragment.
        detail: String,
    },
    /// A key is longer than [`crate::MAX_KEY_BYTES`].
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value is longer than [`crate::MAX_VALUE_BYTES`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An encoded write batch is larger than [`crate::MAX_BATCH_BYTES`].
    #[error("write batch of {len} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge {
        /// The batch's encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A write batch holds no operations.
    #[error("write batch is empty")]
    EmptyBatch,
}

impl Error {
    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Corruption`] for `path` at `offset`.
    pub fn corruption(path: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            detail: detail.into(),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}
