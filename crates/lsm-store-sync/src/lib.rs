//! # lsm-store-sync: `SimpleLsmStore`, the synchronous LSM store
//!
//! A complete, crash-safe key-value store: writes go to the WAL first
//! (group-committed, synced per [`SyncMode`]), then to the memtable; a full
//! memtable is frozen, flushed to an L0 table and compacted, all on the
//! writing thread. Reads merge the memtables and tables through one
//! consistent view and never take a store lock for longer than an `Arc`
//! clone.
//!
//! Main types: [`SimpleLsmStore`] (a cloneable handle: every clone is the
//! same open store), [`LsmConfig`], [`WriteOptions`] (per-write
//! durability), [`Snapshot`], [`StoreIterator`] (with [`KeyRange`], the
//! range forms `range(..)` takes, and [`PinnedStoreIterator`]),
//! [`Keyspace`], [`StoreStats`], [`Error`];
//! [`ReadOnlyStore`] ([`SimpleLsmStore::open_read_only`]) opens a store
//! for reading only (no lock, nothing written), for tools and for a second
//! process. The internals it shares with `lsm-store-async` live in the
//! `lsm-engine` crate and are not part of this API; what the two stores
//! share is the [`KvStore`] trait (and [`KvSnapshot`], [`KvError`]), so
//! code written against it runs on either.
//!
//! Guarantees (see `docs/durability.md`): a write acknowledged under
//! `SyncMode::Always` (unless made with [`WriteOptions::NO_SYNC`]), made
//! with [`WriteOptions::SYNC`] in any mode, or covered by a later
//! [`SimpleLsmStore::sync`], survives a crash or power loss; after any
//! crash the recovered state is a prefix of the acknowledged writes; a
//! second open of the same directory fails with [`Error::Locked`]; damaged
//! or missing bytes on disk are an error for which
//! [`Error::is_corruption`] is true, naming file and offset, never a
//! silent gap or a panic.
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
//!
//! # Iteration
//!
//! [`SimpleLsmStore::iter`] reads every key, [`SimpleLsmStore::prefix`]
//! the keys that start with a prefix, and [`SimpleLsmStore::range`] any
//! range expression over byte-string keys (`..`, `"a".."m"`,
//! `b"k"..=b"p"`, `key..`, a pair of `Bound`s; see [`KeyRange`]); the
//! same three exist on [`Snapshot`] and [`ReadOnlyStore`]. Each returns a
//! [`StoreIterator`] over one consistent view, in key order. It is
//! double-ended: `.rev()` (or `next_back`) reads from the end of the range,
//! at the cost of a forward read, and `next` and `next_back` may be mixed:
//! the two ends meet in the middle without yielding a key twice. Once the
//! store is closed, an iterator's next move (from either end, pinned or
//! borrowed too) yields an error for which [`Error::is_closed`] is true,
//! and ends it.
//!
//! ```
//! use lsm_store_sync::{Error, KvItem, LsmConfig, SimpleLsmStore};
//!
//! fn keys(iter: impl Iterator<Item = KvItem<Error>>) -> Result<Vec<String>, Error> {
//!     iter.map(|item| item.map(|(key, _)| String::from_utf8_lossy(&key).into_owned()))
//!         .collect()
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
//! for (key, value) in [("apple", "red"), ("apricot", "orange"), ("banana", "yellow")] {
//!     store.put(key, value)?;
//! }
//! assert_eq!(keys(store.iter()?)?, ["apple", "apricot", "banana"]);
//! assert_eq!(keys(store.prefix("ap")?.rev())?, ["apricot", "apple"]);
//! assert_eq!(keys(store.range(..)?.rev())?, ["banana", "apricot", "apple"]);
//! assert_eq!(keys(store.range("apricot"..)?)?, ["apricot", "banana"]);
//! // The last key at or before "b", read backward: one seek, like a forward one.
//! let (last, _) = store.range(..="b")?.next_back().unwrap()?;
//! assert_eq!(last, b"apricot");
//! // Both ends at once: they meet in the middle.
//! let mut both = store.iter()?;
//! assert_eq!(both.next().unwrap()?.0, b"apple");
//! assert_eq!(both.next_back().unwrap()?.0, b"banana");
//! assert_eq!(both.next_back().unwrap()?.0, b"apricot");
//! assert!(both.next().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Values without a copy
//!
//! [`SimpleLsmStore::get_pinned`] (also on [`Snapshot`], [`ReadOnlyStore`]
//! and [`Keyspace`]) returns a value as a [`Bytes`], a slice of the cached
//! table block holding it: no allocation and no copy for the value (a
//! value still in the memtable is copied once). [`StoreIterator::pinned`] turns any iterator into one of
//! `(Bytes, Bytes)` pairs whose values are such slices. A pinned value
//! keeps its block alive while it is held (for a block an iterator read
//! ahead, the whole read it came in, up to 256 KiB).
//!
//! ```
//! use lsm_store_sync::{Bytes, LsmConfig, SimpleLsmStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
//! store.put("apple", "red")?;
//! store.put("pear", "green")?;
//! let value: Bytes = store.get_pinned("pear")?.unwrap();
//! assert_eq!(value, "green");
//! let backward: Vec<(Bytes, Bytes)> = store.iter()?.pinned().rev().collect::<Result<_, _>>()?;
//! assert_eq!(backward[0], (Bytes::from("pear"), value));
//! assert_eq!(backward[1].0, "apple");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! Every call fails with the one [`Error`] type. Whichever layer found the
//! problem (WAL, table, manifest, compaction), an I/O failure is
//! [`Error::Io`] and damaged bytes are [`Error::Corruption`]; the
//! predicates answer what a caller can do about it:
//!
//! - [`Error::is_corruption`]: bytes on disk are damaged or a file the
//!   store needs is missing. Reopening will not help; restore the file
//!   named by [`Error::path`] (the bad bytes start at [`Error::offset`]) or
//!   move the store aside.
//! - [`Error::is_poisoned`]: an earlier write-path failure (a failed WAL or
//!   manifest fsync, ENOSPC, a failed flush or compaction) made the store
//!   refuse writes until it is reopened. Reads keep working; every write
//!   acknowledged before it is durable per the sync mode.
//! - [`Error::is_locked`]: another open store, in this process or another,
//!   holds the directory ([`Error::path`] names it). Close that one first.
//! - [`Error::is_closed`]: this store (or the store of this snapshot or
//!   iterator) was closed.
//! - [`Error::path`] / [`Error::offset`]: the file of an I/O or corruption
//!   error, and where a corruption's bad bytes start.
//!
//! ```
//! use lsm_store_sync::{LsmConfig, SimpleLsmStore};
//!
//! let dir = tempfile::tempdir()?;
//! let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
//! let err = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap_err();
//! assert!(err.is_locked() && !err.is_poisoned() && !err.is_corruption());
//! assert_eq!(err.path(), Some(dir.path()));
//! store.close()?;
//! let err = store.get("apple").unwrap_err();
//! assert!(err.is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Checkpoints
//!
//! [`SimpleLsmStore::checkpoint`] writes a consistent copy of the store into
//! a new directory while writes continue: hard links to the table files
//! where the file system allows it, copies otherwise. The copy holds exactly
//! the writes up to [`CheckpointInfo::seq`] and opens as a store of its own,
//! or read-only with [`ReadOnlyStore`].
//!
//! ```
//! use lsm_store_sync::{LsmConfig, ReadOnlyStore, SimpleLsmStore};
//!
//! let (dir, backups) = (tempfile::tempdir()?, tempfile::tempdir()?);
//! let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
//! for i in 0..100 {
//!     store.put(format!("key{i:03}"), "v1")?;
//! }
//! let info = store.checkpoint(backups.path().join("cp-1"))?;
//! store.delete("key000")?;
//! assert_eq!((info.seq, info.tables), (100, 1));
//!
//! let copy = ReadOnlyStore::open(LsmConfig::new(&info.dir))?;
//! assert_eq!(copy.get("key000")?, Some(b"v1".to_vec()));
//! assert_eq!(copy.range("key".."kez")?.count(), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # One API for both stores
//!
//! [`KvStore`] is implemented by this crate's [`SimpleLsmStore`] and by
//! `lsm_store_async::AsyncLsmStore`. Its methods take byte slices and
//! owned range bounds (so it stays usable as `dyn KvStore<..>`); the
//! inherent methods keep their generic arguments. A write is visible when
//! the sync store's call returns; [`KvStore::wait_visible`] is the fence
//! that makes generic code correct for the async store too.
//!
//! ```
//! use std::ops::Bound;
//! use std::time::Duration;
//! use lsm_store_sync::{KvStore, LsmConfig, SimpleLsmStore};
//!
//! fn put_then_count<S: KvStore>(store: &S) -> Result<usize, S::Error> {
//!     let seq = store.put(b"k", b"v")?;
//!     assert!(store.wait_visible(seq, Duration::from_secs(10)));
//!     Ok(store.range(Bound::Unbounded, Bound::Unbounded)?.count())
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let store = SimpleLsmStore::open(LsmConfig::new(dir.path()))?;
//! assert_eq!(put_then_count(&store)?, 1);
//! KvStore::close(&store)?;
//! assert!(put_then_count(&store).unwrap_err().is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod keyspaces;
mod pinned;
mod store;

/// The cheap-clone byte buffer pinned reads return, re-exported so users
/// need not depend on `bytes` themselves.
pub use bytes::Bytes;

pub use keyspaces::Keyspace;
pub use lsm_core::{KeyspaceId, SeqNo, WriteBatch};
pub use lsm_engine::{
    check_store, Backlog, CheckpointInfo, Error, KeyRange, KeyspaceStats, KvError, KvItem,
    KvSnapshot, KvStore, LevelStats, LsmConfig, LsmConfigBuilder, ReadOnlyStore, Result, Snapshot,
    StoreCheck, StoreIterator, StoreStats, Truncation, WriteOptions, LOCK_FILE_NAME,
    QUARANTINE_DIR_NAME,
};
pub use lsm_engine::{PinnedRead, PinnedStoreIterator};
pub use lsm_sstable::Compression;
pub use lsm_wal::{RecoveryMode, SyncMode};
pub use store::SimpleLsmStore;

/// The README's code blocks, compiled and run as doctests so the quick
/// start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
