//! [`LsmStateMachine`]: openraft's `RaftStateMachine` over the store.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, Cursor};
use std::ops::Bound;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use lsm_core::batch::BATCH_HEADER_BYTES;
use lsm_core::coding::varint_len;
use lsm_core::KeyspaceId;
use lsm_store_sync::WriteBatch;
use openraft::entry::RaftEntry;
use openraft::storage::{
    ApplyResponder, EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta,
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
///
/// The writes of one entry always go to the store in one write batch
/// (with the entry's applied id, and membership for a membership entry),
/// so together they may cost at most [`StagedWrites::MAX_ENTRY_BYTES`]
/// bytes of it: a write that would pass that is refused
/// ([`StageError::EntryTooLarge`]). The writes of several entries share a
/// batch while they fit; what an entry may stage never depends on the
/// entries applied with it.
#[derive(Debug)]
pub struct StagedWrites<'a> {
    shared: &'a Shared,
    /// The writes of the earlier entries of this `apply` call, not yet
    /// written to the store.
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// What `pending` costs in a write batch.
    pending_bytes: usize,
    /// The writes of the entry being applied.
    entry: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// What `entry` costs in a write batch, plus `entry_base`.
    entry_bytes: usize,
    /// What the entry's metadata (applied id, membership) costs.
    entry_base: usize,
}

/// The bytes a delete of the state machine's `key_len`-byte key adds to
/// a write batch: kind, varint length and tree key (default keyspace
/// prefix, data prefix, key). Mirrors `lsm_core::WriteBatch`'s encoding;
/// a unit test holds the two together.
fn delete_cost(store_key_len: usize) -> usize {
    let tree_key_len = KeyspaceId::DEFAULT.encode_prefix().1 + store_key_len;
    1 + varint_len(tree_key_len as u64) + tree_key_len
}

/// The bytes a put adds to a write batch: a delete's, plus the varint
/// length and the value.
fn put_cost(store_key_len: usize, value_len: usize) -> usize {
    delete_cost(store_key_len) + varint_len(value_len as u64) + value_len
}

/// What one staged write of the application's `key` costs in a batch.
fn staged_cost(key: &[u8], value: Option<&Vec<u8>>) -> usize {
    match value {
        Some(value) => put_cost(key.len() + 1, value.len()),
        None => delete_cost(key.len() + 1),
    }
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
    /// With this write, the entry's writes would cost more than
    /// [`StagedWrites::MAX_ENTRY_BYTES`] of a write batch. The entry's
    /// earlier writes stay staged: [`StagedWrites::discard`] drops them.
    #[error("the entry's writes would take {len} bytes of a write batch, over the limit of {max}")]
    EntryTooLarge {
        /// What the entry's writes (and metadata) would cost with this one.
        len: usize,
        /// [`StagedWrites::MAX_ENTRY_BYTES`].
        max: usize,
    },
}

impl StagedWrites<'_> {
    /// The longest application key the state machine can hold: the store's
    /// key limit less the one-byte prefix of state machine data.
    pub const MAX_KEY_BYTES: usize = lsm_core::MAX_KEY_BYTES - 1;
    /// The longest value the state machine can hold (the store's limit).
    pub const MAX_VALUE_BYTES: usize = lsm_core::MAX_VALUE_BYTES;
    /// The most the writes of one entry may cost in the store's write
    /// batch: its limit (`lsm_core::MAX_BATCH_BYTES`, 128 MiB) less the
    /// batch header. Counted: each distinct key the entry writes, once
    /// (the last write wins), a put as its key and value plus at most 10
    /// bytes of encoding, a delete as its key plus at most 6; and the
    /// entry's applied id and, for a membership entry, its membership
    /// (each a few bytes plus its postcard encoding).
    pub const MAX_ENTRY_BYTES: usize = lsm_core::MAX_BATCH_BYTES - BATCH_HEADER_BYTES;

    fn new(shared: &Shared) -> StagedWrites<'_> {
        StagedWrites {
            shared,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            entry: BTreeMap::new(),
            entry_bytes: 0,
            entry_base: 0,
        }
    }

    /// Starts staging the next entry, whose metadata costs `base` bytes.
    fn begin_entry(&mut self, base: usize) {
        self.entry.clear();
        self.entry_base = base;
        self.entry_bytes = base;
    }

    /// Moves the entry's writes to the pending ones.
    fn end_entry(&mut self) {
        for (key, value) in std::mem::take(&mut self.entry) {
            if let Some(old) = self.pending.get(&key) {
                let replaced = staged_cost(&key, old.as_ref());
                self.pending_bytes = self.pending_bytes.saturating_sub(replaced);
            }
            self.pending_bytes += staged_cost(&key, value.as_ref());
            self.pending.insert(key, value);
        }
        self.entry_bytes = 0;
        self.entry_base = 0;
    }

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
        match self.entry.get(key).or_else(|| self.pending.get(key)) {
            Some(value) => Ok(value.clone()),
            None => self.shared.store.get(data_key(key)).map_err(store_err),
        }
    }

    /// Sets `key` to `value`; refuses (staging nothing) a key or value the
    /// store could never hold, or a write that would take the entry's
    /// writes past [`StagedWrites::MAX_ENTRY_BYTES`] ([`StageError`]:
    /// answer the entry, do not fail `apply` with it).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StageError> {
        Self::check(key, value.len())?;
        self.stage(key, Some(value))
    }

    /// Deletes `key`; refuses (staging nothing) a key longer than
    /// [`StagedWrites::MAX_KEY_BYTES`], which no write can have stored, or
    /// a delete that would take the entry's writes past
    /// [`StagedWrites::MAX_ENTRY_BYTES`].
    pub fn delete(&mut self, key: &[u8]) -> Result<(), StageError> {
        Self::check(key, 0)?;
        self.stage(key, None)
    }

    /// Drops every write the entry being applied has staged (the earlier
    /// entries' stay): for an entry refused after some of its writes were
    /// staged, so that it changes nothing.
    pub fn discard(&mut self) {
        self.entry.clear();
        self.entry_bytes = self.entry_base;
    }

    /// Stages a write of the current entry within its byte limit.
    fn stage(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StageError> {
        let replaced = self
            .entry
            .get(key)
            .map_or(0, |old| staged_cost(key, old.as_ref()));
        let cost = match value {
            Some(value) => put_cost(key.len() + 1, value.len()),
            None => delete_cost(key.len() + 1),
        };
        let len = self
            .entry_bytes
            .saturating_sub(replaced)
            .saturating_add(cost);
        if len > Self::MAX_ENTRY_BYTES {
            return Err(StageError::EntryTooLarge {
                len,
                max: Self::MAX_ENTRY_BYTES,
            });
        }
        self.entry_bytes = len;
        self.entry.insert(key.to_vec(), value.map(<[u8]>::to_vec));
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

    /// Writes the pending writes (those of the entries staged up to
    /// `applied`) and the applied metadata in one batch. The membership is
    /// taken: once written it need not be written again.
    fn commit(
        &self,
        staged: &mut StagedWrites<'_>,
        applied: &Option<LogIdOf<C>>,
        membership: &mut Option<StoredMembershipOf<C>>,
    ) -> io::Result<()> {
        let mut batch = WriteBatch::new();
        for (key, value) in std::mem::take(&mut staged.pending) {
            match value {
                Some(value) => batch.put(data_key(&key), &value),
                None => batch.delete(data_key(&key)),
            };
        }
        staged.pending_bytes = 0;
        if let Some(applied) = applied {
            batch.put(SM_APPLIED, &encode(applied)?);
        }
        if let Some(membership) = membership.take() {
            batch.put(SM_MEMBERSHIP, &encode(&membership)?);
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
        let mut staged = StagedWrites::new(&shared);
        // The last entry staged, and the last membership not yet written.
        let mut applied = None;
        let mut membership = None;
        // What `membership` costs in the pending batch.
        let mut membership_bytes = 0;
        // Whether entries were staged since the last commit.
        let mut uncommitted = false;
        let mut responses: Vec<(ApplyResponder<C>, C::R)> = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id();
            let entry_membership = entry
                .get_membership()
                .map(|m| StoredMembership::new(Some(log_id.clone()), m));
            // The entry's metadata counts against its own limit, so the
            // entry alone always fits one batch.
            let applied_bytes = put_cost(SM_APPLIED.len(), encode(&log_id)?.len());
            let own_membership_bytes = match &entry_membership {
                Some(m) => put_cost(SM_MEMBERSHIP.len(), encode(m)?.len()),
                None => 0,
            };
            staged.begin_entry(applied_bytes + own_membership_bytes);
            let response = C::apply(&entry, &mut staged)?;
            // Whether this entry fits the pending batch is decided after
            // it staged its writes; if it does not, the earlier entries
            // are written first. What an entry may stage (its own limit)
            // never depends on the entries applied with it.
            let with_entry =
                BATCH_HEADER_BYTES + staged.pending_bytes + membership_bytes + staged.entry_bytes;
            if uncommitted && with_entry > lsm_core::MAX_BATCH_BYTES {
                self.commit(&mut staged, &applied, &mut membership)?;
                membership_bytes = 0;
                for (responder, response) in responses.drain(..) {
                    responder.send(response);
                }
            }
            staged.end_entry();
            applied = Some(log_id);
            uncommitted = true;
            if let Some(m) = entry_membership {
                membership = Some(m);
                membership_bytes = own_membership_bytes;
            }
            if let Some(responder) = responder {
                responses.push((responder, response));
            }
            if staged.pending_bytes >= BATCH_TARGET_BYTES {
                self.commit(&mut staged, &applied, &mut membership)?;
                membership_bytes = 0;
                uncommitted = false;
                for (responder, response) in responses.drain(..) {
                    responder.send(response);
                }
            }
        }
        if uncommitted {
            self.commit(&mut staged, &applied, &mut membership)?;
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The staged costs are what the writes add to a real batch, from the
    /// shortest keys and values to the longest.
    #[test]
    fn staged_costs_match_the_batch_encoding() {
        let lens = [0, 1, 126, 127, 128, 16_381, 16_382, 16_383, 70_000];
        for key_len in [
            0,
            1,
            125,
            126,
            127,
            16_381,
            16_382,
            StagedWrites::MAX_KEY_BYTES,
        ] {
            let key = vec![b'k'; key_len];
            let mut batch = WriteBatch::new();
            let before = batch.encoded_len();
            batch.delete(data_key(&key));
            assert_eq!(batch.encoded_len() - before, staged_cost(&key, None));
            assert!(staged_cost(&key, None) <= key_len + 6);
            for value_len in lens.iter().copied().chain([StagedWrites::MAX_VALUE_BYTES]) {
                let value = vec![0u8; value_len];
                let before = batch.encoded_len();
                batch.put(data_key(&key), &value);
                let cost = staged_cost(&key, Some(&value));
                assert_eq!(batch.encoded_len() - before, cost);
                assert!(cost <= key_len + value_len + 10);
                batch.clear();
            }
        }
    }
}
