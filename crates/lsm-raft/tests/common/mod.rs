//! Helpers shared by the crash tests.
#![allow(dead_code)]

use std::path::Path;

use futures_util::stream;
use lsm_raft::{KvConfig, KvRequest, LsmLogStore, LsmStateMachine};
use lsm_store_sync::LsmConfig;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage, RaftStateMachine};
use openraft::type_config::alias::{EntryOf, LogIdOf, VoteOf};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use openraft::{EntryPayload, LogId, RaftTypeConfig};

pub type C = KvConfig;
pub type Log = LsmLogStore<C>;
pub type Sm = LsmStateMachine<C>;

/// Log id `(term, node 0, index)`.
pub fn lid(term: u64, index: u64) -> LogIdOf<C> {
    LogId::new(
        <C as RaftTypeConfig>::LeaderId::new_committed(term, 0),
        index,
    )
}

pub fn vote(term: u64) -> VoteOf<C> {
    openraft::impls::Vote::new(term, 0)
}

/// The state machine key an entry writes: its index.
pub fn sm_key(index: u64) -> Vec<u8> {
    format!("k{index:08}").into_bytes()
}

/// A normal entry that puts `sm_key(index)` = term.
pub fn entry(term: u64, index: u64) -> EntryOf<C> {
    EntryOf::<C>::new_normal(
        lid(term, index),
        KvRequest::Put {
            key: sm_key(index),
            value: term.to_be_bytes().to_vec(),
        },
    )
}

/// The term an entry's payload carries (and its log id).
pub fn entry_term(entry: &EntryOf<C>) -> u64 {
    let term = entry.log_id().leader_id.term;
    if let EntryPayload::Normal(KvRequest::Put { value, .. }) = &entry.payload {
        assert_eq!(value.as_slice(), term.to_be_bytes(), "payload term");
    }
    term
}

pub fn open(dir: &Path) -> (Log, Sm) {
    lsm_raft::open_with_config(config(dir)).unwrap()
}

/// Small memtable, so flushes happen.
pub fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(32 * 1024)
        .build()
        .unwrap()
}

/// Appends and waits for the durable callback.
pub async fn append(log: &mut Log, entries: Vec<EntryOf<C>>) {
    let (tx, rx) = C::oneshot();
    log.append(entries, IOFlushed::signal(tx)).await.unwrap();
    rx.await.unwrap().unwrap();
}

pub async fn apply(sm: &mut Sm, entries: Vec<EntryOf<C>>) {
    let items = entries.into_iter().map(|e| Ok((e, None)));
    sm.apply(stream::iter(items)).await.unwrap();
}

/// openraft's log rules on what is stored: the entries above the last
/// purged id are consecutive, end exactly at `last_log_id`, and nothing
/// lies beyond it. Returns `(last purged index, entries above it)`.
pub async fn check_log(log: &mut Log) -> (Option<u64>, Vec<EntryOf<C>>) {
    let state = log.get_log_state().await.unwrap();
    let purged = state.last_purged_log_id.as_ref().map(|id| id.index);
    let from = purged.map_or(0, |p| p + 1);
    let entries = log.try_get_log_entries(from..).await.unwrap();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index(), from + i as u64, "hole in the log");
    }
    match entries.last() {
        Some(last) => assert_eq!(Some(last.log_id()), state.last_log_id, "last log id"),
        None => assert_eq!(
            state.last_log_id, state.last_purged_log_id,
            "empty log: the last log id is the purged one"
        ),
    }
    // Terms never decrease along a Raft log.
    assert!(entries
        .windows(2)
        .all(|w| entry_term(&w[0]) <= entry_term(&w[1])));
    (purged, entries)
}

/// The state machine's value for `index`'s key, as a term.
pub fn sm_term(sm: &Sm, index: u64) -> Option<u64> {
    sm.get(&sm_key(index))
        .unwrap()
        .map(|v| u64::from_be_bytes(v.try_into().unwrap()))
}
