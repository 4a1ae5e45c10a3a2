//! The error type of the table layer.

use std::fmt;
use std::path::PathBuf;

use lsm_core::InternalKey;

/// Result alias for [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors from building, opening and reading tables.
///
/// Bytes on disk that fail a check (checksum, magic, bounds, decoding) are
/// reported as `Error::Core(lsm_core::Error::Corruption { path, offset, .. })`
/// naming the table file and the offset of the block (or footer) at fault;
/// failed system calls as `Error::Core(lsm_core::Error::Io { path, .. })`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the shared layer: I/O, corruption, size limits.
    #[error(transparent)]
    Core(#[from] lsm_core::Error),
    /// [`crate::TableBuilder::add`] was given a key that does not sort
    /// strictly after the previous one.
    #[error("key {} added to table {} does not sort after the previous key {}", KeyDisplay(key), path.display(), KeyDisplay(previous))]
    KeyOutOfOrder {
        /// The table being built.
        path: PathBuf,
        /// The previous key added (encoded internal key).
        previous: Vec<u8>,
        /// The offending key (encoded internal key).
        key: Vec<u8>,
    },
    /// [`crate::TableBuilder::add`] was given bytes that are not an encoded
    /// internal key (shorter than the 8-byte trailer, or an unknown kind).
    #[error("key {} added to table {} is not an encoded internal key", KeyDisplay(key), path.display())]
    MalformedKey {
        /// The table being built.
        path: PathBuf,
        /// The offending bytes.
        key: Vec<u8>,
    },
    /// [`crate::TableBuilder::finish`] was called before any entry was added.
    /// The empty file has been removed.
    #[error("table {} has no entries; an empty table is never written", path.display())]
    EmptyTable {
        /// The table that was being built.
        path: PathBuf,
    },
    /// A block would exceed [`crate::MAX_BLOCK_BYTES`], so the table could
    /// not be read back; split the output into more tables.
    #[error("{what} block of table {} would be {bytes} bytes, over the limit of {max}", path.display())]
    BlockTooLarge {
        /// The table being built.
        path: PathBuf,
        /// Which block: "data", "index", "filter" or "properties".
        what: &'static str,
        /// The block's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// An earlier call on this builder failed; the partial file is in an
    /// unknown state and the builder only accepts `abandon`.
    #[error("an earlier write to table {} failed; abandon the builder", path.display())]
    BuilderFailed {
        /// The table being built.
        path: PathBuf,
    },
    /// A [`crate::TableOptions`] field is out of range.
    #[error("invalid table options: {detail}")]
    InvalidOptions {
        /// Which field and why.
        detail: String,
    },
}

impl Error {
    /// True for a corruption error (bad bytes on disk).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Core(core) if core.is_corruption())
    }
}

/// Formats an encoded internal key as `user_key@seq:kind` (lossy UTF-8).
struct KeyDisplay<'a>(&'a [u8]);

impl fmt::Display for KeyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", InternalKey::from_encoded(self.0.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsm_core::ValueKind;

    #[test]
    fn out_of_order_message_names_both_keys_and_the_file() {
        let err = Error::KeyOutOfOrder {
            path: PathBuf::from("/db/000007.sst"),
            previous: InternalKey::new(b"b", 3, ValueKind::Put).into_bytes(),
            key: InternalKey::new(b"a", 4, ValueKind::Delete).into_bytes(),
        };
        let text = err.to_string();
        assert!(text.contains("a@4:Delete"), "{text}");
        assert!(text.contains("b@3:Put"), "{text}");
        assert!(text.contains("/db/000007.sst"), "{text}");
        assert!(!err.is_corruption());
    }
}
