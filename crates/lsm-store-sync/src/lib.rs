//! # lsm-store-sync: `SimpleLsmStore`, the synchronous LSM store
//!
//! A complete, crash-safe key-value store: writes go to the WAL first
//! (group-committed, synced per [`SyncMode`]), then to the memtable; a full
//! memtable is frozen, flushed to an L0 table and compacted, all on the
//! writing thread. Reads merge the memtables and tables through one
//! consistent view and never take a store lock for longer than an `Arc`
//! clone.
//!
//! Main types: [`SimpleLsmStore`], [`LsmConfig`], [`Snapshot`],
//! [`StoreIterator`], [`StoreStats`], [`Error`]. The internals it shares with
//! `lsm-store-async` live in the `lsm-engine` crate and are not part of
//! this API.
//!
//! Guarantees (see `docs/durability.md`): a write acknowledged under
//! `SyncMode::Always` survives a crash or power loss; after any crash the
//! recovered state is a prefix of the acknowledged writes; a second open of
//! the same directory fails with [`Error::Locked`]; damaged or missing bytes
//! on disk are an error for which [`Error::is_corruption`] is true, naming
//! file and offset, never a silent gap or a panic.
//! It never runs background threads: all work happens inside calls.
//!
//! ```
//! use lsm_store_sync::{LsmConfig, SimpleLsmStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
//! store.put("apple", "red")?;
//! store.put("banana", "yellow")?;
//! store.put("cherry", "dark red")?;
//! store.delete("banana")?;
//! assert_eq!(store.get("apple")?, Some(b"red".to_vec()));
//! assert_eq!(store.get("banana")?, None);
//! let keys: Vec<Vec<u8>> = store
//!     .range("a".."z")?
//!     .map(|item| item.map(|(key, _value)| key))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(keys, [b"apple".to_vec(), b"cherry".to_vec()]);
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod store;

pub use lsm_core::{SeqNo, WriteBatch};
pub use lsm_engine::{
    check_store, Backlog, Error, KvError, KvItem, KvSnapshot, KvStore, LevelStats, LsmConfig,
    LsmConfigBuilder, Result, Snapshot, StoreCheck, StoreIterator, StoreStats, Truncation,
    QUARANTINE_DIR_NAME,
};
pub use lsm_sstable::Compression;
pub use lsm_wal::{RecoveryMode, SyncMode};
pub use store::SimpleLsmStore;

/// The README's code blocks, compiled and run as doctests so the quick
/// start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
