//! [`LsmLogStore`]: openraft's `RaftLogStorage` over the store.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use lsm_store_sync::WriteBatch;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::{LogIdOf, VoteOf};
use openraft::{OptionalSend, RaftTypeConfig};

use crate::keys::{log_index, log_key, COMMITTED, LAST_LOG, LAST_PURGED, LOG, VOTE};
use crate::shared::{
    decode, encode, first_key, get_snapshot, invalid_data, key_name, scan_snapshot, store_err,
    Shared, BATCH_TARGET_BYTES, DELETE_CHUNK,
};

/// The log half: log entries, vote, committed and purged ids.
///
/// Durability: every write goes to the store's WAL without a sync (the
/// store is opened with `SyncMode::Never`); the points openraft needs
/// durable then sync explicitly:
///
/// - `save_vote` syncs before it returns;
/// - `append` returns once the entries are written (readable), and hands
///   its `IOFlushed` callback to a flusher thread, which drains every
///   callback queued, runs ONE `SimpleLsmStore::sync` and then fires them
///   all: appends arriving while an fsync runs share the next one;
/// - `truncate_after` and `purge` sync before they return.
///
/// The WAL is one ordered log and recovery keeps a prefix of it, so a sync
/// also makes every earlier write durable (the state machine's included),
/// and whatever a crash keeps is a prefix of the writes.
pub struct LsmLogStore<C: RaftTypeConfig> {
    shared: Arc<Shared>,
    flusher: Flusher<C>,
}

impl<C: RaftTypeConfig> Debug for LsmLogStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmLogStore")
            .field("store", &self.shared.store)
            .finish_non_exhaustive()
    }
}

/// The log reader handed to openraft's replication tasks: reads only.
pub struct LsmLogReader<C: RaftTypeConfig> {
    shared: Arc<Shared>,
    _config: std::marker::PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Debug for LsmLogReader<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LsmLogReader").finish_non_exhaustive()
    }
}

/// The group-sync thread of the log store.
struct Flusher<C: RaftTypeConfig> {
    tx: Option<mpsc::Sender<IOFlushed<C>>>,
    thread: Option<JoinHandle<()>>,
}

impl<C: RaftTypeConfig> Flusher<C> {
    fn start(shared: &Arc<Shared>) -> io::Result<Flusher<C>> {
        let (tx, rx) = mpsc::channel::<IOFlushed<C>>();
        let shared = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name("lsm-raft-flush".to_string())
            .spawn(move || {
                // Ends when the log store drops the sender.
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    // Every callback here was queued after its entries were
                    // written, so this one sync covers all of them.
                    let result = shared.sync();
                    for callback in waiting {
                        callback.io_completed(match &result {
                            Ok(()) => Ok(()),
                            Err(err) => Err(io::Error::new(err.kind(), err.to_string())),
                        });
                    }
                }
            })?;
        Ok(Flusher {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread once it has fired every queued callback.
    fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<C: RaftTypeConfig> Drop for Flusher<C> {
    fn drop(&mut self) {
        // Without joining: a drop may run on an async runtime thread. The
        // thread ends by itself once the sender is gone.
        self.tx = None;
    }
}

impl<C: RaftTypeConfig> LsmLogStore<C> {
    pub(crate) fn new(shared: Arc<Shared>) -> io::Result<LsmLogStore<C>> {
        let flusher = Flusher::start(&shared)?;
        Ok(LsmLogStore { shared, flusher })
    }

    /// Fires every pending append callback (after their sync), then
    /// closes the store (also for the state machine sharing it) and
    /// releases its directory, so it can be opened again at once.
    pub fn close(mut self) -> io::Result<()> {
        self.flusher.stop();
        self.shared.store.close().map_err(crate::shared::store_err)
    }

    fn reader(&self) -> LsmLogReader<C> {
        LsmLogReader {
            shared: Arc::clone(&self.shared),
            _config: std::marker::PhantomData,
        }
    }
}

/// The end of the log's keys (exclusive).
fn log_end() -> Bound<Vec<u8>> {
    Bound::Excluded(vec![LOG + 1])
}

/// The log entry stored under `key`; an entry whose index is not its
/// key's is `InvalidData`.
fn decode_entry<C: RaftTypeConfig>(key: &[u8], value: &[u8]) -> io::Result<C::Entry> {
    let entry: C::Entry = decode(key, value)?;
    let index = entry.log_id().index;
    if log_index(key) == Some(index) {
        Ok(entry)
    } else {
        Err(invalid_data(format!(
            "log key {} holds the entry of index {index}",
            key_name(key)
        )))
    }
}

/// The first and last index of `range`, or `None` if it holds none.
fn index_bounds(range: &impl RangeBounds<u64>) -> Option<(u64, u64)> {
    let first = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let last = match range.end_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (first <= last).then_some((first, last))
}

/// The entries of `range`, read at one store snapshot (openraft asks for
/// an atomic read). Every entry the log holds in the range is returned:
/// entries may be missing only at the start (purged, or never written:
/// a log that was never purged starts at its lowest entry, as openraft's
/// own storage suite expects) or at the end (not yet appended). A hole,
/// or an absent entry the log holds (from its start up to the last log
/// id), is `InvalidData`.
fn entries_in<C: RaftTypeConfig>(
    shared: &Shared,
    range: &impl RangeBounds<u64>,
) -> io::Result<Vec<C::Entry>> {
    let Some((first, last)) = index_bounds(range) else {
        return Ok(Vec::new());
    };
    let snapshot = shared.store.snapshot().map_err(store_err)?;
    let pairs = scan_snapshot(
        &snapshot,
        Bound::Included(log_key(first).to_vec()),
        Bound::Included(log_key(last).to_vec()),
    )?;
    let mut entries: Vec<C::Entry> = Vec::with_capacity(pairs.len());
    for (key, value) in &pairs {
        let entry = decode_entry::<C>(key, value)?;
        if let Some(previous) = entries.last() {
            let expected = previous.log_id().index.saturating_add(1);
            if entry.log_id().index != expected {
                return Err(invalid_data(format!(
                    "the log has a hole: entries {expected} to {} are missing",
                    entry.log_id().index - 1
                )));
            }
        }
        entries.push(entry);
    }
    // What the range lacks at its start and its end must lie outside the
    // log: at or below the last purged id, or after the last log id.
    let missing = match (entries.first(), entries.last()) {
        (Some(head), Some(tail)) => [
            (first < head.log_id().index).then(|| (first, head.log_id().index - 1)),
            (tail.log_id().index < last).then(|| (tail.log_id().index + 1, last)),
        ],
        _ => [Some((first, last)), None],
    };
    if missing.iter().any(Option::is_some) {
        // The indexes the log holds: from the one after the last purged
        // (or its lowest entry if it was never purged) up to the last.
        let last_log: Option<LogIdOf<C>> = get_snapshot(&snapshot, LAST_LOG)?;
        let purged: Option<LogIdOf<C>> = get_snapshot(&snapshot, LAST_PURGED)?;
        let held_from = match purged {
            Some(purged) => purged.index.checked_add(1),
            None => first_key(&snapshot, Bound::Included(log_key(0).to_vec()), log_end())?
                .and_then(|key| log_index(&key)),
        };
        if let (Some(held_from), Some(held_to)) = (held_from, last_log.map(|id| id.index)) {
            for (from, to) in missing.into_iter().flatten() {
                if held_from <= held_to && from <= held_to && to >= held_from {
                    return Err(invalid_data(format!(
                        "log entry {} is missing (the log holds {held_from} to {held_to})",
                        from.max(held_from)
                    )));
                }
            }
        }
    }
    Ok(entries)
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LsmLogReader<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, io::Error> {
        entries_in::<C>(&self.shared, &range)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.shared.get(VOTE)
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LsmLogStore<C> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, io::Error> {
        entries_in::<C>(&self.shared, &range)
    }

    async fn read_vote(&mut self) -> Result<Option<VoteOf<C>>, io::Error> {
        self.shared.get(VOTE)
    }
}

/// Puts `LAST_LOG` to `last`, or deletes it for `None`.
fn set_last_log<C: RaftTypeConfig>(
    batch: &mut WriteBatch,
    last: Option<&LogIdOf<C>>,
) -> io::Result<()> {
    match last {
        Some(id) => {
            batch.put(LAST_LOG, &encode(id)?);
        }
        None => {
            batch.delete(LAST_LOG);
        }
    }
    Ok(())
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LsmLogStore<C> {
    type LogReader = LsmLogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, io::Error> {
        let last_purged: Option<LogIdOf<C>> = self.shared.get(LAST_PURGED)?;
        let last_log: Option<LogIdOf<C>> = self.shared.get(LAST_LOG)?;
        // After a purge past the last entry, the purged id is the last.
        let last_log_id = match (&last_log, &last_purged) {
            (Some(log), Some(purged)) if log.index <= purged.index => last_purged.clone(),
            (None, _) => last_purged.clone(),
            (Some(_), _) => last_log,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> Result<(), io::Error> {
        let mut batch = WriteBatch::new();
        batch.put(VOTE, &encode(vote)?);
        self.shared.write(&batch)?;
        self.shared.sync()
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        // Not synced: it becomes durable with the next sync. A crash may
        // bring back an older value, which openraft allows; never one
        // ahead of the durable log, since recovery keeps a WAL prefix.
        let mut batch = WriteBatch::new();
        match committed {
            Some(id) => batch.put(COMMITTED, &encode(&id)?),
            None => batch.delete(COMMITTED),
        };
        self.shared.write(&batch)
    }

    async fn read_committed(&mut self) -> Result<Option<LogIdOf<C>>, io::Error> {
        self.shared.get(COMMITTED)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Entries in index order; each batch also moves LAST_LOG to its
        // last entry, so any prefix of the batches is a log without holes.
        let mut batch = WriteBatch::new();
        let mut bytes = 0usize;
        let mut last = None;
        for entry in entries {
            let value = encode(&entry)?;
            let id = entry.log_id();
            bytes += value.len() + 9;
            batch.put(log_key(id.index), &value);
            last = Some(id);
            if bytes >= BATCH_TARGET_BYTES {
                set_last_log::<C>(&mut batch, last.as_ref())?;
                self.shared.write(&batch)?;
                batch.clear();
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            set_last_log::<C>(&mut batch, last.as_ref())?;
            self.shared.write(&batch)?;
        }
        match &self.flusher.tx {
            Some(tx) => match tx.send(callback) {
                Ok(()) => {}
                // The flusher is gone (it cannot panic, but be safe): sync here.
                Err(mpsc::SendError(callback)) => callback.io_completed(self.shared.sync()),
            },
            None => callback.io_completed(self.shared.sync()),
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> Result<(), io::Error> {
        // The first index to delete. Nothing lies after `u64::MAX`: an
        // unchecked `+ 1` would panic in debug and, in release, wrap to 0
        // and delete the whole log.
        let from = match &last_log_id {
            None => 0,
            Some(id) => match id.index.checked_add(1) {
                Some(from) => from,
                None => return Ok(()),
            },
        };
        let doomed = self
            .shared
            .scan(Bound::Included(log_key(from).to_vec()), log_end())?;
        // From the back, a chunk per batch, each moving LAST_LOG to the
        // entry just below it: a crash between batches leaves a shorter log
        // that still ends where LAST_LOG says, never a hole.
        let mut end = doomed.len();
        while end > 0 {
            let start = end.saturating_sub(DELETE_CHUNK);
            let mut batch = WriteBatch::new();
            for (key, _) in doomed[start..end].iter().rev() {
                batch.delete(key);
            }
            let new_last = if start == 0 {
                last_log_id.clone()
            } else {
                let (key, value) = &doomed[start - 1];
                let entry = decode_entry::<C>(key, value)?;
                Some(entry.log_id())
            };
            set_last_log::<C>(&mut batch, new_last.as_ref())?;
            self.shared.write(&batch)?;
            end = start;
        }
        if doomed.is_empty() {
            return Ok(());
        }
        self.shared.sync()
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> Result<(), io::Error> {
        // LAST_PURGED first, in its own batch: from then on openraft sees
        // every entry up to it as purged, whatever a crash leaves of the
        // deletions below.
        let mut batch = WriteBatch::new();
        batch.put(LAST_PURGED, &encode(&log_id)?);
        self.shared.write(&batch)?;
        let doomed = self.shared.scan(
            Bound::Included(vec![LOG]),
            Bound::Included(log_key(log_id.index).to_vec()),
        )?;
        for chunk in doomed.chunks(DELETE_CHUNK) {
            let mut batch = WriteBatch::new();
            for (key, _) in chunk {
                debug_assert!(log_index(key).is_some_and(|i| i <= log_id.index));
                batch.delete(key);
            }
            self.shared.write(&batch)?;
        }
        self.shared.sync()
    }
}
