//! [`LsmStateMachine`]: openraft's `RaftStateMachine` over the store.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, Cursor};
use std::ops::Bound;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use lsm_store_sync::WriteBatch;
use openraft::entry::RaftEntry;
use openraft::storage::{
    EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta,
};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{OptionalSend, StoredMembership};

use crate::keys::{data_key, SM_APPLIED, SM_DATA, SM_MEMBERSHIP, SM_SNAPSHOT};
use crate::shared::{encode, get_snapshot, scan_snapshot, store_err, Shared, BATCH_TARGET_BYTES};
use crate::LsmApp;

/// The snapshot data: the state machine's `(key, value)` pairs
/// (application keys, without the store prefix), in key order, framed with
/// a magic, a version, the body length and a CRC. Layout:
/// `docs/format/raft-snapshot.md`; a stream that is not exactly one whole,
/// undamaged snapshot is refused by `install_snapshot` ([`SnapshotError`](crate::SnapshotError)).
pub type SnapshotData = Cursor<Vec<u8>>;

/// The writes of the entries being applied, not yet in the store: what
/// [`LsmApp::apply`] reads and writes through. Reads see the staged
/// writes of earlier entries of the same `apply` call.
#[derive(Debug)]
pub struct StagedWrites<'a> {
    shared: &'a Shared,
    staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

/// Why [`StagedWrites::put`] or [`StagedWrites::delete`] refused a write:
/// the store could never hold it. The entry asking for it can never be
/// applied as it is: answer it (every node refuses it alike, so the state
/// machines stay the same) rather than returning an error from
/// [`LsmApp::apply`](crate::LsmApp::apply), which openraft takes as a
/// storage failure and meets again at every restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The key is longer than [`StagedWrites::MAX_KEY_BYTES`].
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// [`StagedWrites::MAX_KEY_BYTES`].
        max: usize,
    },
    /// The value is longer than [`StagedWrites::MAX_VALUE_BYTES`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// [`StagedWrites::MAX_VALUE_BYTES`].
        max: usize,
    },
}

impl StagedWrites<'_> {
    /// The longest application key the state machine can hold: the store's
    /// key limit less the one-byte prefix of state machine data.
    pub const MAX_KEY_BYTES: usize = lsm_core::MAX_KEY_BYTES - 1;
    /// The longest value the state machine can hold (the store's limit).
    pub const MAX_VALUE_BYTES: usize = lsm_core::MAX_VALUE_BYTES;

    /// Checks that the state machine can hold `key` with a `value_len`-byte
    /// value, as [`StagedWrites::put`] does (a delete has `value_len` 0).
    pub fn check(key: &[u8], value_len: usize) -> Result<(), StageError> {
        if key.len() > Self::MAX_KEY_BYTES {
            return Err(StageError::KeyTooLarge {
                len: key.len(),
                max: Self::MAX_KEY_BYTES,
            });
        }
        if value_len > Self::MAX_VALUE_BYTES {
            return Err(StageError::ValueTooLarge {
                len: value_len,
                max: Self::MAX_VALUE_BYTES,
            });
        }
        Ok(())
    }

    /// The value of the state machine's `key`, staged writes included.
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        match self.staged.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.shared.store.get(data_key(key)).map_err(store_err),
        }
    }

    /// Sets `key` to `value`; refuses (staging nothing) a key or value the
    /// store could never hold ([`StageError`]: answer the entry, do not
    /// fail `apply` with it).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StageError> {
        Self::check(key, value.len())?;
        self.bytes += key.len() + value.len() + 12;
        self.staged.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Deletes `key`; refuses (staging nothing) a key longer than
    /// [`StagedWrites::MAX_KEY_BYTES`], which no write can have stored.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), StageError> {
        Self::check(key, 0)?;
        self.bytes += key.len() + 8;
        self.staged.insert(key.to_vec(), None);
        Ok(())
    }
}

/// Reads the state machine's data (what has been applied on this node).
#[derive(Debug, Clone)]
pub struct StateReader {
    shared: Arc<Shared>,
}

impl StateReader {
    /// The value of the state machine's `key`.
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.shared.store.get(data_key(key)).map_err(store_err)
    }
}

/// The state machine half: application data under its own prefix, plus
/// the last applied log id and membership, written in the same batch as
/// the data they describe.
pub struct LsmStateMachine<C: LsmApp> {
    shared: Arc<Shared>,
    _config: std::marker::PhantomData<fn() -> C>,
}

impl<C: LsmApp> Debug for LsmStateMachine<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmStateMachine").finish_non_exhaustive()
    }
}

/// Builds a snapshot from a store snapshot: data and metadata at one
/// sequence number.
pub struct LsmSnapshotBuilder<C: LsmApp> {
    shared: Arc<Shared>,
    _config: std::marker::PhantomData<fn() -> C>,
}

impl<C: LsmApp> Debug for LsmSnapshotBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmSnapshotBuilder").finish_non_exhaustive()
    }
}

fn data_bounds() -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    (
        Bound::Included(vec![SM_DATA]),
        Bound::Excluded(vec![SM_DATA + 1]),
    )
}

/// The current state as a snapshot, read through one store snapshot.
fn snapshot_now<C: LsmApp>(shared: &Shared) -> io::Result<SnapshotOf<C, SnapshotData>> {
    let snap = shared.store.snapshot().map_err(store_err)?;
    let last_log_id: Option<LogIdOf<C>> = get_snapshot(&snap, SM_APPLIED)?;
    let last_membership: StoredMembershipOf<C> =
        get_snapshot(&snap, SM_MEMBERSHIP)?.unwrap_or_default();
    let (start, end) = data_bounds();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = scan_snapshot(&snap, start, end)?
        .into_iter()
        .map(|(mut key, value)| {
            key.remove(0);
            (key, value)
        })
        .collect();
    Ok(Snapshot {
        meta: SnapshotMeta {
            last_log_id,
            last_membership,
        },
        snapshot: Cursor::new(crate::snapshot::encode(&pairs)?),
    })
}

impl<C: LsmApp> LsmStateMachine<C> {
    pub(crate) fn new(shared: Arc<Shared>) -> LsmStateMachine<C> {
        LsmStateMachine {
            shared,
            _config: std::marker::PhantomData,
        }
    }

    /// The value of the state machine's `key` (reads the store directly,
    /// outside openraft: what has been applied on this node).
    pub fn get(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.shared.store.get(data_key(key)).map_err(store_err)
    }

    /// A read-only handle on the state machine's data, for reads outside
    /// openraft while the state machine itself belongs to a `Raft`.
    pub fn reader(&self) -> StateReader {
        StateReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Writes the staged data and the applied metadata in one batch.
    fn commit(
        &self,
        staged: &mut StagedWrites<'_>,
        applied: &Option<LogIdOf<C>>,
        membership: &Option<StoredMembershipOf<C>>,
    ) -> io::Result<()> {
        let mut batch = WriteBatch::new();
        for (key, value) in std::mem::take(&mut staged.staged) {
            match value {
                Some(value) => batch.put(data_key(&key), &value),
                None => batch.delete(data_key(&key)),
            };
        }
        staged.bytes = 0;
        if let Some(applied) = applied {
            batch.put(SM_APPLIED, &encode(applied)?);
        }
        if let Some(membership) = membership {
            batch.put(SM_MEMBERSHIP, &encode(membership)?);
        }
        self.shared.write(&batch)
    }
}

impl<C: LsmApp> RaftSnapshotBuilder<C> for LsmSnapshotBuilder<C> {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<C, SnapshotData>, io::Error> {
        let snapshot = snapshot_now::<C>(&self.shared)?;
        // Marks that a snapshot exists (for `get_current_snapshot`). Not
        // synced: a `purge` that relies on it syncs after it.
        let mut batch = WriteBatch::new();
        batch.put(SM_SNAPSHOT, &encode(&snapshot.meta)?);
        self.shared.write(&batch)?;
        Ok(snapshot)
    }
}

impl<C: LsmApp> RaftStateMachine<C> for LsmStateMachine<C> {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = LsmSnapshotBuilder<C>;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>), io::Error> {
        let applied = self.shared.get(SM_APPLIED)?;
        let membership = self.shared.get(SM_MEMBERSHIP)?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<C>, io::Error>> + Unpin + OptionalSend,
    {
        let shared = Arc::clone(&self.shared);
        let mut staged = StagedWrites {
            shared: &shared,
            staged: BTreeMap::new(),
            bytes: 0,
        };
        let mut applied = None;
        let mut membership = None;
        let mut responses = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id();
            if let Some(m) = entry.get_membership() {
                membership = Some(StoredMembership::new(Some(log_id.clone()), m));
            }
            let response = C::apply(&entry, &mut staged)?;
            applied = Some(log_id);
            if let Some(responder) = responder {
                responses.push((responder, response));
            }
            if staged.bytes >= BATCH_TARGET_BYTES {
                self.commit(&mut staged, &applied, &membership)?;
                for (responder, response) in responses.drain(..) {
                    responder.send(response);
                }
            }
        }
        self.commit(&mut staged, &applied, &membership)?;
        for (responder, response) in responses {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        LsmSnapshotBuilder {
            shared: Arc::clone(&self.shared),
            _config: std::marker::PhantomData,
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        // Checked whole (length, CRC, no leftover bytes, keys in order and
        // storable) before anything is written: a damaged stream changes
        // nothing.
        let pairs = crate::snapshot::decode(snapshot.get_ref())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // One batch: the old data out, the snapshot's in, the metadata
        // with it. All or nothing after a crash; limited to the store's
        // 128 MiB batch (a bigger snapshot fails here, changing nothing).
        let mut batch = WriteBatch::new();
        let (start, end) = data_bounds();
        for (key, _) in self.shared.scan(start, end)? {
            batch.delete(&key);
        }
        for (key, value) in &pairs {
            batch.put(data_key(key), value);
        }
        match &meta.last_log_id {
            Some(id) => batch.put(SM_APPLIED, &encode(id)?),
            None => batch.delete(SM_APPLIED),
        };
        batch.put(SM_MEMBERSHIP, &encode(&meta.last_membership)?);
        batch.put(SM_SNAPSHOT, &encode(meta)?);
        self.shared.write(&batch)?;
        self.shared.sync()
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<C, SnapshotData>>, io::Error> {
        // The snapshot is not kept as a copy: once one was built or
        // installed, the current state (at least as new) is served instead.
        if self
            .shared
            .store
            .get(SM_SNAPSHOT)
            .map_err(store_err)?
            .is_none()
        {
            return Ok(None);
        }
        snapshot_now::<C>(&self.shared).map(Some)
    }
}
