//! # lsm-store-async: `AsyncLsmStore`, WAL-first non-blocking writes
//!
//! The same engine as `lsm-store-sync` (the `lsm-engine` crate, shared, not
//! copied), with a
//! different policy: a write returns as soon as its WAL record is appended
//! (and synced, under `SyncMode::Always`); applying it to the memtable,
//! freezing full memtables, flushing them and compacting all happen off the
//! writer's path.
//!
//! - **Write path** (`pipeline`): WAL append, then apply at once if the
//!   core lock is free, else enqueue on a bounded queue that an applier
//!   thread drains many writes at a time (a write that waited for an
//!   fdatasync is applied by its writer either way while the memtable has
//!   room). The applier freezes full memtables; a flusher thread writes
//!   them to L0 tables.
//! - **Visibility**: reads see exactly the writes up to the applied
//!   watermark, a prefix of WAL order.
//!   [`AsyncLsmStore::wait_for_seq`] is the read-your-writes fence, and
//!   [`AsyncLsmStore::wait_for_seq_async`] the same fence as a
//!   runtime-agnostic `Future` ([`WaitForSeq`]) for async code.
//! - **Durability on demand**: [`AsyncLsmStore::write_with`] with
//!   [`WriteOptions`] syncs (or skips the sync of) one write whatever the
//!   sync mode; [`AsyncLsmStore::sync`] makes every returned write durable.
//! - **Compaction coordinator** (`coordinator`): a bounded job queue,
//!   worker threads, per-level gating, job status and history. Flushes
//!   schedule compactions automatically; the manual API is
//!   [`AsyncLsmStore::schedule_compaction`] and
//!   [`AsyncLsmStore::compact_level`].
//!
//! Main types: [`AsyncLsmStore`] (a cloneable handle: every clone is the
//! same open store), [`Snapshot`], [`StoreIterator`] (with [`KeyRange`],
//! the range forms `range(..)` takes, and [`PinnedStoreIterator`], its
//! values as [`Bytes`] slices of cached blocks: see
//! [`AsyncLsmStore::get_pinned`]), [`Keyspace`], [`WaitForSeq`],
//! [`WriteOptions`], [`CompactionJob`], [`JobId`], [`JobState`], [`Error`];
//! [`ReadOnlyStore`] ([`AsyncLsmStore::open_read_only`]) opens a store for
//! reading only (no lock, no thread, nothing written). It implements
//! [`KvStore`], the API it shares with `lsm_store_sync::SimpleLsmStore`
//! (there `flush` is [`AsyncLsmStore::flush_memtable`], `compact_level`
//! waits for its job, and `wait_visible` is
//! [`AsyncLsmStore::wait_for_seq`]). `docs/async.md` describes the
//! protocol step by step, with its lock order and the alternatives
//! rejected.
//!
//! Guarantees: a returned sequence number under `SyncMode::Always` (unless
//! written with [`WriteOptions::NO_SYNC`]), or of a write made with
//! [`WriteOptions::SYNC`] in any mode, survives a crash; after a crash the
//! recovered state is a prefix of the WAL; a read never sees a write while
//! missing an earlier one; table I/O never runs under the core lock or the
//! write gate. A background failure
//! poisons the store: writes then fail with a `Poisoned` error, reads keep
//! working, and the store does not resume until it is reopened.
//!
//! What it never does: a writer never flushes or compacts, and never waits
//! for table I/O (except as backpressure when
//! [`MAX_IMMUTABLE_MEMTABLES`] frozen memtables wait for the flusher, which
//! waits for compaction while L0 holds [`L0_STOP_FACTOR`] x `l0_trigger`
//! tables; before that, from [`L0_SLOWDOWN_FACTOR`] x `l0_trigger` L0
//! tables on, each write sleeps for its share of a falling byte rate, so
//! writers slow down instead of running into the stop);
//! a read never takes the core lock.
//!
//! ```
//! use std::time::Duration;
//! use lsm_store_async::{AsyncLsmStore, JobState, LsmConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
//! store.put("apple", "red")?;
//! let seq = store.put("banana", "yellow")?;
//! // The put returned after the WAL append; fence before reading it.
//! assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
//! assert_eq!(store.get("banana")?, Some(b"yellow".to_vec()));
//!
//! store.flush_memtable()?; // to an L0 table, by the flusher thread
//! let job = store.compact_level(0, true)?; // L0 into L1, waited for
//! assert_eq!(store.compaction_status(job).map(|j| j.state), Some(JobState::Completed));
//! assert_eq!(store.get("apple")?, Some(b"red".to_vec()));
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Iteration
//!
//! As on the sync store: [`AsyncLsmStore::iter`], [`AsyncLsmStore::prefix`]
//! and [`AsyncLsmStore::range`] (any range expression, see [`KeyRange`]),
//! and the same on [`Snapshot`], read the visible writes in key order; the
//! [`StoreIterator`] is double-ended (`.rev()`, `next_back`, both ends
//! mixed).
//!
//! ```
//! use std::time::Duration;
//! use lsm_store_async::{AsyncLsmStore, Error, KvItem, LsmConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
//! store.put("apple", "red")?;
//! store.put("apricot", "orange")?;
//! let seq = store.put("banana", "yellow")?;
//! assert!(store.wait_for_seq(seq, Duration::from_secs(10)));
//! fn keys(iter: impl Iterator<Item = KvItem<Error>>) -> Result<Vec<Vec<u8>>, Error> {
//!     iter.map(|item| item.map(|(key, _)| key)).collect()
//! }
//! assert_eq!(keys(store.iter()?)?, [&b"apple"[..], b"apricot", b"banana"]);
//! assert_eq!(keys(store.prefix("ap")?.rev())?, [&b"apricot"[..], b"apple"]);
//! assert_eq!(keys(store.range(.."b")?.rev())?, [&b"apricot"[..], b"apple"]);
//! assert_eq!(keys(store.snapshot()?.range("apricot"..)?)?, [&b"apricot"[..], b"banana"]);
//! store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! Every call, and every read through a [`Snapshot`] or a
//! [`StoreIterator`], fails with this crate's one [`Error`]: the engine's
//! failures in [`Error::Store`] (one shape each for I/O and corruption,
//! whichever layer found it), plus the compaction coordinator's own. The
//! predicates see through the nesting:
//!
//! - [`Error::is_corruption`]: bytes on disk are damaged or a file the
//!   store needs is missing; reopening will not help. [`Error::path`] names
//!   the file, [`Error::offset`] where the bad bytes start.
//! - [`Error::is_poisoned`]: a background flush or compaction, or a WAL
//!   write or fsync, failed; the store refuses writes until it is
//!   reopened. Reads keep working; every acknowledged write is in the WAL.
//!   (A compaction job waited for reports its own failure as
//!   [`Error::CompactionFailed`], and `flush_memtable` its flush's as
//!   [`Error::FlushFailed`]; the writes after it are poisoned.
//!   `is_corruption`, `path` and `offset` see through to the error the
//!   job or flush ran into.)
//! - [`Error::is_locked`]: another open store holds the directory
//!   ([`Error::path`] names it).
//! - [`Error::is_closed`]: the store (of this snapshot or iterator) was
//!   closed.
//!
//! ```
//! use lsm_store_async::{AsyncLsmStore, LsmConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let store = AsyncLsmStore::open(LsmConfig::new(dir.path()))?;
//! let err = AsyncLsmStore::open(LsmConfig::new(dir.path())).unwrap_err();
//! assert!(err.is_locked() && err.path() == Some(dir.path()));
//! store.put("apple", "red")?;
//! let snapshot = store.snapshot()?;
//! store.close()?;
//! // The snapshot reports the async crate's error type too.
//! let err: lsm_store_async::Error = snapshot.get("apple").unwrap_err();
//! assert!(err.is_closed() && !err.is_poisoned());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod background;
mod coordinator;
mod error;
mod fence;
mod flusher;
mod keyspaces;
mod pinned;
mod pipeline;
mod read;
mod store;

/// The cheap-clone byte buffer pinned reads return, re-exported so users
/// need not depend on `bytes` themselves.
pub use bytes::Bytes;

pub use coordinator::{
    CompactionJob, JobId, JobKind, JobState, JOB_HISTORY_LIMIT, MAX_PENDING_JOBS,
};
pub use error::{Error, Result};
pub use fence::WaitForSeq;
pub use flusher::{L0_STOP_FACTOR, MAX_IMMUTABLE_MEMTABLES};
pub use keyspaces::Keyspace;
pub use lsm_core::{KeyspaceId, SeqNo, WriteBatch};
pub use lsm_engine::PinnedRead;
pub use lsm_engine::{
    Backlog, CheckpointInfo, KeyRange, KeyspaceStats, KvError, KvItem, KvSnapshot, KvStore,
    LevelStats, LsmConfig, LsmConfigBuilder, ReadOnlyStore, StoreStats, WriteOptions,
};
/// The write slowdown's settings (`docs/async.md`, "The write slowdown").
pub use lsm_engine::{
    DELAY_STEP, L0_SLOWDOWN_FACTOR, MAX_WRITE_DELAY, SLOWDOWN_MIN_RATE, SLOWDOWN_START_RATE,
};
pub use lsm_wal::SyncMode;
pub use pinned::PinnedStoreIterator;
pub use read::{Snapshot, StoreIterator};
pub use store::AsyncLsmStore;
