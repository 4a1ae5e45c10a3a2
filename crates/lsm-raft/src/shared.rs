//! What the log store and the state machine share: the one store, the
//! codec, and the helpers that turn store and codec errors into the
//! `io::Error`s openraft's storage traits return.

use std::fmt::Write as _;
use std::io;
use std::ops::Bound;

use lsm_store_sync::{SimpleLsmStore, Snapshot, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A write batch is cut once its operations reach this many bytes: well
/// under the store's 128 MiB batch limit (`lsm_core::MAX_BATCH_BYTES`).
pub(crate) const BATCH_TARGET_BYTES: usize = 32 * 1024 * 1024;

/// Keys deleted per batch by `truncate_after` and `purge`.
pub(crate) const DELETE_CHUNK: usize = 16 * 1024;

/// The one store both halves write to.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: SimpleLsmStore,
}

/// A store error as an `io::Error` (openraft's storage error currency).
pub(crate) fn store_err(err: lsm_store_sync::Error) -> io::Error {
    io::Error::other(err)
}

/// Serializes `value` with postcard.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Deserializes the postcard value stored under `key`. Bytes that do not
/// decode, or that go on past the value, are `InvalidData` naming the key.
pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> io::Result<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(invalid_data(format!(
            "the value of key {} has {} bytes past its end",
            key_name(key),
            rest.len()
        ))),
        Err(e) => Err(invalid_data(format!(
            "the value of key {} does not decode: {e}",
            key_name(key)
        ))),
    }
}

/// An `InvalidData` error: stored bytes that are not what this crate wrote.
pub(crate) fn invalid_data(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

/// A store key in errors: `0x` and its bytes in hex.
pub(crate) fn key_name(key: &[u8]) -> String {
    let mut name = String::with_capacity(2 + 2 * key.len());
    name.push_str("0x");
    for byte in key {
        // Writing to a String cannot fail.
        let _ = write!(name, "{byte:02x}");
    }
    name
}

impl Shared {
    /// The decoded value of `key`, or `None`.
    pub(crate) fn get<T: DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self.store.get(key).map_err(store_err)? {
            Some(bytes) => decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Writes `batch` unless it is empty (the store refuses empty batches).
    pub(crate) fn write(&self, batch: &WriteBatch) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.store.write(batch).map(drop).map_err(store_err)
    }

    /// One WAL fdatasync covering every write that returned so far.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.store.sync().map_err(store_err)
    }

    /// The pairs of `[start, end)`.
    pub(crate) fn scan(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.store
            .range((start, end))
            .map_err(store_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_err)
    }
}

/// The pairs of `[start, end)` as of `snapshot`.
pub(crate) fn scan_snapshot(
    snapshot: &Snapshot,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    snapshot
        .range((start, end))
        .map_err(store_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(store_err)
}

/// The first key of `[start, end)` as of `snapshot`, or `None`.
pub(crate) fn first_key(
    snapshot: &Snapshot,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
) -> io::Result<Option<Vec<u8>>> {
    match snapshot.range((start, end)).map_err(store_err)?.next() {
        Some(pair) => pair.map(|(key, _)| Some(key)).map_err(store_err),
        None => Ok(None),
    }
}

/// The decoded value of `key` as of `snapshot`, or `None`.
pub(crate) fn get_snapshot<T: DeserializeOwned>(
    snapshot: &Snapshot,
    key: &[u8],
) -> io::Result<Option<T>> {
    match snapshot.get(key).map_err(store_err)? {
        Some(bytes) => decode(key, &bytes).map(Some),
        None => Ok(None),
    }
}
