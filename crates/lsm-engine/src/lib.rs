//! # lsm-engine: what both lsm stores share
//!
//! `lsm-store-sync` (`SimpleLsmStore`) and `lsm-store-async`
//! (`AsyncLsmStore`) are two policies over one set of internals: the WAL,
//! the active and frozen memtables, the manifest and table cache, the
//! applied watermark, the read view, recovery at open, and the flush and
//! compaction steps. This crate is those internals. It is a layer of the
//! workspace, not a store: depend on one of the two store crates, which
//! re-export what a user touches ([`LsmConfig`], [`WriteOptions`],
//! [`Error`], [`KvError`], [`KvStore`], [`KvSnapshot`], [`StoreIterator`],
//! [`KeyRange`],
//! [`StoreStats`], [`check_store`], [`ReadOnlyStore`]).
//!
//! Feature `serde`: `Serialize` for [`StoreStats`] and [`LevelStats`].
//!
//! Its public items are exactly these:
//! - what the stores re-export to users: [`LsmConfig`] / [`LsmConfigBuilder`],
//!   [`WriteOptions`] (per-write durability),
//!   [`Error`] / [`Result`] / [`KvError`], the store trait [`KvStore`] with
//!   [`KvSnapshot`], [`KvItem`] and [`Backlog`], [`Snapshot`],
//!   [`CheckpointInfo`] (what a checkpoint wrote),
//!   [`StoreIterator`] (double-ended) with [`KeyRange`], the range forms
//!   `range(..)` takes, [`PinnedStoreIterator`] and [`PinnedRead`] (values
//!   as `bytes::Bytes` slices of cached blocks, without a copy), [`StoreStats`] / [`LevelStats`], and the read-only
//!   inspection: [`check_store`] with [`StoreCheck`] / [`Truncation`], and
//!   [`ReadOnlyStore`] (open for reading, writing nothing, taking no lock);
//! - the interface the two stores use, and nothing else does: [`Engine`]
//!   (open, `write` / `write_with`, `begin_write` → [`WritePermit`],
//!   `sync_wal`, `wait_visible_async` → [`WaitVisible`], the one [`Freezer`]
//!   with its [`Drain`] step, `flush_oldest_immutable`, `checkpoint` (and `check_checkpoint_dir`, which
//!   the stores call before they flush for one),
//!   `reserve_compaction` → [`CompactionReservation`] →
//!   [`CompactionReport`], reads, `stats`, `record_stall` with
//!   [`StallCause`] and [`STALL_WARN_THRESHOLD`], `close`), [`Written`],
//!   [`MemtableFill`],
//!   [`prefix_range`] (the bounds of a store's `prefix(p)`);
//! - keyspaces and batches: [`Keyspace`] (each store's `Keyspace` is it,
//!   for that store), [`KeyspaceStats`], the name limit
//!   [`MAX_KEYSPACE_NAME_BYTES`], and from `lsm-core` [`KeyspaceId`] and
//!   [`WriteBatch`];
//! - the names of the files it keeps in a store directory:
//!   [`LOCK_FILE_NAME`], [`OPTIONS_FILE_NAME`], [`OPTIONS_TEMP_FILE_NAME`],
//!   [`QUARANTINE_DIR_NAME`].
//!
//! What it guarantees (see `docs/durability.md`): a write acknowledged
//! under `SyncMode::Always` survives a crash or power loss; after any crash
//! the recovered state is a prefix of the acknowledged writes; open checks
//! that the durable state is complete before it changes anything, and a
//! hole is an [`Error`] with [`Error::is_corruption`], naming file and
//! offset, never a silent gap or a panic.
//!
//! What it tells (see `docs/observability.md`): structured events through
//! `tracing` (open and recovery, flush, compaction, stalls, poisoning,
//! close; nothing per read or write), the counters and gauges of
//! [`StoreStats`], and with the cargo feature `metrics`,
//! `StoreStats::record_metrics`, which publishes them through the
//! `metrics` facade.
//!
//! What it never does: start threads (the stores decide where work runs),
//! or decide when to flush or compact (the stores' policies do).
//!
//! ```
//! use lsm_engine::{Engine, LsmConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(LsmConfig::new(dir.path()))?;
//! let mut batch = lsm_core::WriteBatch::new();
//! batch.put(b"apple", b"red");
//! let written = engine.write(&batch)?;
//! assert_eq!(engine.get(b"apple")?, Some(b"red".to_vec()));
//! // The same value as `Bytes` (copied once from the memtable; a value
//! // in a cached table block would be a slice of it, not a copy).
//! assert_eq!(engine.get_pinned(b"apple")?.as_deref(), Some(&b"red"[..]));
//! assert_eq!(written.last_seq, 1);
//! engine.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod engine;
mod error;
mod instance;
mod key_range;
mod keyspace;
#[cfg(feature = "metrics")]
mod metrics_export;
mod options_file;
mod read;
mod read_only;
mod recovery;
mod snapshot;
mod stats;
mod store_trait;
mod table_cache;
mod watermark;

pub use config::{LsmConfig, LsmConfigBuilder};
pub use engine::{
    CheckpointInfo, CompactionReport, CompactionReservation, Drain, Engine, Freezer, KeyspaceStats,
    MemtableFill, StallCause, WriteOptions, WritePermit, Written, DELAY_STEP, L0_SLOWDOWN_FACTOR,
    LOCK_FILE_NAME, MAX_KEYSPACE_NAME_BYTES, MAX_WRITE_DELAY, SLOWDOWN_MIN_RATE,
    SLOWDOWN_START_RATE, STALL_WARN_THRESHOLD,
};
pub use error::{Error, KvError, Result};
pub use key_range::{prefix_range, KeyRange};
pub use keyspace::{Keyspace, PinnedRead};
pub use lsm_core::{KeyspaceId, WriteBatch};
pub use options_file::{OPTIONS_FILE_NAME, OPTIONS_TEMP_FILE_NAME};
pub use read::{PinnedStoreIterator, StoreIterator};
pub use read_only::ReadOnlyStore;
pub use recovery::{check_store, StoreCheck, Truncation, QUARANTINE_DIR_NAME};
pub use snapshot::Snapshot;
pub use stats::{LevelStats, StoreStats};
pub use store_trait::{Backlog, KvItem, KvSnapshot, KvStore};
pub use watermark::WaitVisible;
