//! The manifest crate's error type.

use std::path::PathBuf;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from the catalog: I/O and corrupt bytes (through [`Error::Core`]),
/// edits that do not apply, and a manifest made unusable by an earlier
/// failure.
///
/// Corrupt bytes read from a manifest or `CURRENT` file are always
/// [`lsm_core::Error::Corruption`] naming the file and offset; I/O failures
/// are [`lsm_core::Error::Io`] naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O failure or corrupt bytes, from the shared vocabulary.
    #[error(transparent)]
    Core(#[from] lsm_core::Error),
    /// A version edit does not apply to the version it was given: it removes
    /// a file that is not there, adds a duplicate file number, makes a level
    /// of 1 or more overlap, names a level out of range, or carries a
    /// malformed file entry. Nothing was written.
    #[error("version edit does not apply: {detail}")]
    InvalidEdit {
        /// Which check failed, as a sentence fragment.
        detail: String,
    },
    /// A version breaks one of its invariants (found by
    /// [`crate::Version::check_invariants`]).
    #[error("version invariant broken at level {level}: {detail}")]
    BrokenInvariant {
        /// The level where the problem is.
        level: usize,
        /// What is wrong.
        detail: String,
    },
    /// An earlier write or sync of the manifest failed, so its on-disk state
    /// is unknown; every later call fails with this. Reopen the store.
    #[error("the manifest is unusable after an earlier failure: {cause}")]
    Poisoned {
        /// The first failure, as text.
        cause: String,
    },
    /// The directory has table or manifest files but no `CURRENT` file, so
    /// creating a fresh catalog would orphan (and let the store delete)
    /// existing data.
    #[error("{} has no CURRENT file but holds {found}; refusing to create a fresh catalog over existing data", dir.display())]
    MissingCurrent {
        /// The store directory.
        dir: PathBuf,
        /// The first file found that suggests a store lives here.
        found: String,
    },
    /// The requested number of levels is out of range.
    #[error("{num_levels} levels requested; the catalog supports 1 to {max}")]
    InvalidNumLevels {
        /// What was asked for.
        num_levels: usize,
        /// The largest supported value ([`crate::MAX_LEVELS`]).
        max: usize,
    },
    /// An encoded version edit would be larger than a reader accepts.
    #[error("encoded version edit of {len} bytes exceeds the limit of {max} bytes")]
    EditTooLarge {
        /// The encoded length.
        len: usize,
        /// The limit ([`crate::MAX_EDIT_BYTES`]).
        max: usize,
    },
    /// After the edit, the catalog's snapshot would take more than half of
    /// the manifest size a reader accepts ([`crate::MAX_MANIFEST_BYTES`]):
    /// the manifest could then no longer be rolled over and read back.
    /// Nothing is written. Reachable only with keys near the key limit in
    /// huge numbers (millions of tables, or of range deletes the catalog
    /// still holds).
    #[error(
        "after this edit the catalog would need about {bytes} bytes, over the limit of {max} bytes"
    )]
    CatalogTooLarge {
        /// About how many bytes the catalog's snapshot would take.
        bytes: u64,
        /// The limit (half of [`crate::MAX_MANIFEST_BYTES`]).
        max: u64,
    },
}

impl Error {
    /// True for corrupt bytes on disk ([`lsm_core::Error::Corruption`]).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Core(core) if core.is_corruption())
    }

    pub(crate) fn invalid_edit(detail: impl Into<String>) -> Self {
        Error::InvalidEdit {
            detail: detail.into(),
        }
    }
}
