//! # lsm-raft: openraft storage over one `SimpleLsmStore`
//!
//! Targets **openraft `=0.10.0-alpha.37`** (pinned exactly: the 0.10
//! storage traits still change between alphas). [`LsmLogStore`] implements
//! `RaftLogStorage` + `RaftLogReader`, [`LsmStateMachine`] implements
//! `RaftStateMachine` (with [`LsmSnapshotBuilder`] as its
//! `RaftSnapshotBuilder`); both write to the ONE store that [`open`]
//! opens. openraft's own storage suite (`openraft::testing::log::Suite`)
//! runs against them in this crate's tests.
//!
//! openraft is used with `default-features = false` and the features
//! `tokio-rt` (the default `AsyncRuntime` of `declare_raft_types!`) and
//! `serde` (entries, votes, log ids and membership are stored serialized).
//! `type-alias` is not needed: `openraft::type_config::alias` is public
//! without it, and the `openraft::testing` suite is always compiled.
//!
//! ## Layout
//!
//! One-byte key prefixes in the default keyspace (the layout predates the
//! store's keyspaces): `0x01` + the
//! big-endian index for log entries (so they sort), `0x02` vote, `0x03`
//! committed, `0x04` last purged id, `0x05` last log id, `0x10` applied id,
//! `0x11` membership, `0x12` last snapshot meta, `0x20` + key for the state
//! machine's data. Values are [postcard](https://docs.rs/postcard): a
//! compact, documented, stable serde format (varints, no field names).
//!
//! What is read back is checked, not trusted: a value that does not decode
//! or has bytes past its end, a log entry whose index is not its key's, and
//! a hole in the log (an entry missing between the log's start, the one
//! after the last purged id or its lowest entry, and the last log id) are
//! `io::Error`s of kind `InvalidData` naming the key or the index, never
//! a log read that skips or renumbers entries.
//!
//! ## Durability
//!
//! The store is opened with `SyncMode::Never`, and this crate calls
//! `SimpleLsmStore::sync` where openraft needs durability: `save_vote`
//! syncs before returning; `append` writes its entries (readable at once)
//! and queues its `IOFlushed` callback to a flusher thread that fires every
//! queued callback after ONE fsync, so concurrent appends share fsyncs;
//! `truncate_after`, `purge` and `install_snapshot` sync before returning.
//! State machine writes and `save_committed` are not synced themselves: the
//! WAL is a single ordered log and recovery keeps a prefix of it, so they
//! become durable with the next sync and can never survive a crash that the
//! log entries they depend on do not.
//!
//! The log is cut key by key (this crate predates the store's range deletes
//! and reverse iteration, and these paths are what its crash tests cover):
//! `truncate_after` and `purge` read the doomed range (keys and values)
//! and delete key by key, in batches of 16 Ki keys: truncation from the
//! back, each batch moving the last-log-id key with it, so a crash leaves
//! no hole; purge writes the last purged id first. The last log id is kept
//! in its own key, written in the same batch as every append and
//! truncation (one extra small put per append), so finding it needs no
//! reverse seek.
//!
//! ## Performance
//!
//! `benches/proposers.rs` times `client_write` of 100-byte-payload puts
//! through a one-node `Raft` (snapshots off, tokio runtime with 2 workers).
//! Every write that returns was committed, which needs the log append's
//! `IOFlushed` callback, so it was fsynced. The ceiling is the same
//! `Raft` over openraft's in-memory store (`openraft-memstore`, no
//! persistence). One run, on a machine with 2 cores shared with other
//! work and the store in `/tmp` on a virtio disk:
//!
//! | proposers | lsm-raft | openraft-memstore | lsm / memstore |
//! |---|---|---|---|
//! | 1 | 5.5 K entries/s (181 µs each) | 60 K entries/s | 0.09 |
//! | 8 | 16.8 K entries/s | 130 K entries/s | 0.13 |
//!
//! With one proposer each write waits for its own fsync; with 8, the
//! flusher shares one fsync between the appends queued behind it, so
//! throughput triples. Rerun with
//! `cargo bench -p lsm-raft --bench proposers -- --warm-up-time 1 --measurement-time 5`.
//!
//! ## Snapshots
//!
//! A snapshot is built from a store snapshot, so the data and the applied
//! id and membership are read at one sequence number. It is not kept as a
//! second copy: once one was built or installed, `get_current_snapshot`
//! serves the current state (never older than the last built one) built the
//! same way.
//!
//! The snapshot byte stream ([`SnapshotData`]) is the pairs (postcard)
//! framed by a magic, a format version, the body length and a masked
//! CRC-32: `docs/format/raft-snapshot.md` has the layout, and the
//! `snapshot` module is the one that reads and writes it.
//! `install_snapshot` checks the whole stream before it writes anything:
//! a stream cut short, with bytes appended or left over after the pairs,
//! with a checksum that does not match, or with keys out of order or too
//! long to store fails with an `io::Error` of kind `InvalidData` holding a
//! [`SnapshotError`], and changes nothing.
//!
//! `install_snapshot` replaces the state machine in ONE write
//! batch (old keys deleted, new ones put, metadata), so it is all or
//! nothing after a crash; the store's batch limit (128 MiB) therefore caps
//! what an install can write: the new snapshot's pairs plus a delete of
//! every key the old state held.
//!
//! ## Limits
//!
//! - A log entry, serialized, is a store value: at most 32 MiB
//!   (`lsm_core::MAX_VALUE_BYTES`). A larger one fails its `append`, which
//!   openraft takes as a storage failure: the leader stops (nothing was
//!   stored, so a restart recovers). Bound requests before `client_write`.
//! - State machine keys are at most [`StagedWrites::MAX_KEY_BYTES`] (the
//!   store's limit less the data prefix) and values at most
//!   [`StagedWrites::MAX_VALUE_BYTES`]. [`StagedWrites::put`] refuses a
//!   longer one ([`StageError`]); answer such a request in the response,
//!   as [`KvConfig`] does ([`KvResponse::refused`]): an error from
//!   [`LsmApp::apply`] stops the node, and every restart would apply the
//!   same committed entry again.
//! - The writes one entry stages go to the store in one write batch, with
//!   the entry's applied id (and membership, for a membership entry), so
//!   together they may cost at most [`StagedWrites::MAX_ENTRY_BYTES`] of
//!   it: the store's batch limit (`lsm_core::MAX_BATCH_BYTES`, 128 MiB)
//!   less the 12-byte batch header, each distinct key counted once as its
//!   key and value plus a few bytes of encoding. [`StagedWrites::put`] and
//!   [`StagedWrites::delete`] refuse the write that would pass it
//!   ([`StageError::EntryTooLarge`]), the same way on every node; answer
//!   the entry in its response, after [`StagedWrites::discard`] if it
//!   should change nothing. `apply` writes the entries of one call in
//!   batches of about 32 MiB, and writes the earlier ones first when the
//!   next entry would not fit with them, so whether an entry applies never
//!   depends on how openraft grouped the entries.
//!
//! ## Bring your own request type
//!
//! Declare a type config and implement [`LsmApp`] for it: `apply` gets
//! each committed entry (blank and membership entries too) and stages its
//! writes; the crate writes them with the applied id in one batch.
//!
//! ```
//! use std::io;
//! use lsm_raft::{LsmApp, StagedWrites};
//! use openraft::EntryPayload;
//!
//! /// Adds to a named counter.
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
//! pub struct Add { name: String, by: u64 }
//! impl std::fmt::Display for Add {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "{} += {}", self.name, self.by)
//!     }
//! }
//!
//! openraft::declare_raft_types!(pub Counters: D = Add, R = u64);
//!
//! impl LsmApp for Counters {
//!     fn apply(entry: &Self::Entry, state: &mut StagedWrites<'_>) -> io::Result<u64> {
//!         let EntryPayload::Normal(add) = &entry.payload else { return Ok(0) };
//!         let old = match state.get(add.name.as_bytes())? {
//!             Some(bytes) => u64::from_be_bytes(bytes.try_into().unwrap_or_default()),
//!             None => 0,
//!         };
//!         let new = old + add.by;
//!         // A name too long to store is refused alike on every node (the
//!         // counter stays); an `Err` from `apply` would stop the node.
//!         match state.put(add.name.as_bytes(), &new.to_be_bytes()) {
//!             Ok(()) => Ok(new),
//!             Err(_refused) => Ok(old),
//!         }
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let (log_store, state_machine) = lsm_raft::open::<Counters>(dir.path())?;
//! // Hand both to `openraft::Raft::new(id, config, network, log_store, state_machine)`.
//! assert_eq!(state_machine.get(b"apples")?, None);
//! log_store.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod keys;
mod kv;
mod log_store;
mod shared;
mod snapshot;
mod state_machine;

use std::io;
use std::path::Path;
use std::sync::Arc;

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};
use openraft::RaftTypeConfig;

pub use kv::{KvConfig, KvOp, KvRequest, KvResponse};
pub use log_store::{LsmLogReader, LsmLogStore};
pub use snapshot::SnapshotError;
pub use state_machine::{
    LsmSnapshotBuilder, LsmStateMachine, SnapshotData, StageError, StagedWrites, StateReader,
};

/// What an application adds to its type config: how a committed entry
/// changes the state machine.
pub trait LsmApp: RaftTypeConfig {
    /// Applies one committed entry (normal, blank or membership) by staging
    /// writes in `state`, and returns its response. Reads through `state`
    /// see the writes staged by the earlier entries of the same call. Must
    /// be deterministic: every node applies the same entries.
    ///
    /// An `Err` is a storage failure to openraft: the node stops, and a
    /// restart applies the same entry again. So a request that cannot be
    /// applied (a key or value `state` refuses, or writes past the entry's
    /// limit, [`StageError`]) is answered in the response, not returned as
    /// an error; [`StagedWrites::discard`] drops what it staged before the
    /// refusal.
    fn apply(entry: &Self::Entry, state: &mut StagedWrites<'_>) -> io::Result<Self::R>;
}

/// Why [`open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] lsm_store_sync::Error),
    /// The flusher thread could not be started.
    #[error("starting the flusher thread: {0}")]
    Io(#[from] io::Error),
}

/// Opens (or creates) the store in `dir` with the default configuration
/// and returns its log store and state machine.
pub fn open<C: LsmApp>(
    dir: impl AsRef<Path>,
) -> Result<(LsmLogStore<C>, LsmStateMachine<C>), Error> {
    open_with_config(LsmConfig::new(dir))
}

/// Like [`open`] with a store configuration of your own. Its `wal_sync`
/// is replaced by `SyncMode::Never`: this crate syncs where openraft
/// needs it (see the crate docs).
pub fn open_with_config<C: LsmApp>(
    mut config: LsmConfig,
) -> Result<(LsmLogStore<C>, LsmStateMachine<C>), Error> {
    config.wal_sync = SyncMode::Never;
    let shared = Arc::new(shared::Shared {
        store: SimpleLsmStore::open(config)?,
    });
    let log_store = LsmLogStore::new(Arc::clone(&shared))?;
    Ok((log_store, LsmStateMachine::new(shared)))
}
