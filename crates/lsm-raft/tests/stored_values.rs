//! What the log store reads back is checked, not trusted: a log entry
//! stored under another index, a hole inside the log, and a stored value
//! with bytes appended are `InvalidData` errors naming the key, never a
//! log that silently skips or renumbers entries. Entries removed by
//! `purge` may be missing at the start of a range, and entries not yet
//! appended at its end (openraft's `try_get_log_entries` contract).
//! The damage is planted through the store itself, between two opens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::io;
use std::path::Path;

use common::*;
use lsm_store_sync::SimpleLsmStore;
use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogReader, RaftLogStorage};

/// The store key of log entry `index` (docs: lsm-raft `keys` module).
fn log_key(index: u64) -> Vec<u8> {
    let mut key = vec![0x01];
    key.extend_from_slice(&index.to_be_bytes());
    key
}

const VOTE_KEY: &[u8] = &[0x02];

/// A log of entries 0..5 at term 1, then closed.
async fn log_of_five(dir: &Path) {
    let (mut log, sm) = open(dir);
    append(&mut log, (0..5).map(|i| entry(1, i)).collect()).await;
    log.save_vote(&vote(1)).await.unwrap();
    drop(sm);
    log.close().unwrap();
}

/// Changes the store behind the raft layer with `damage`.
fn damage_store(dir: &Path, damage: impl FnOnce(&SimpleLsmStore)) {
    let store = SimpleLsmStore::open(config(dir)).unwrap();
    damage(&store);
    store.close().unwrap();
}

fn assert_invalid_data<T: std::fmt::Debug>(result: io::Result<T>, what: &str) -> String {
    match result {
        Ok(value) => panic!("{what}: read back {value:?}"),
        Err(err) => {
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{what}: {err:?}");
            err.to_string()
        }
    }
}

fn indexes(entries: &[EntryOf]) -> Vec<u64> {
    entries.iter().map(|e| e.log_id().index).collect()
}

type EntryOf = openraft::type_config::alias::EntryOf<C>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_entry_stored_under_another_index_is_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    log_of_five(dir.path()).await;
    damage_store(dir.path(), |store| {
        let fourth = store.get(log_key(4)).unwrap().unwrap();
        store.put(log_key(2), fourth).unwrap();
    });
    let (mut log, _sm) = open(dir.path());
    let err = assert_invalid_data(log.try_get_log_entries(0..5).await, "whole log");
    assert!(err.contains("key 0x010000000000000002"), "{err}");
    assert_invalid_data(log.try_get_log_entries(2..=2).await, "the entry alone");
    // The entries around it still read.
    assert_eq!(
        indexes(&log.try_get_log_entries(3..5).await.unwrap()),
        [3, 4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_inside_the_log_is_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    log_of_five(dir.path()).await;
    damage_store(dir.path(), |store| {
        store.delete(log_key(2)).unwrap();
    });
    let (mut log, _sm) = open(dir.path());
    assert_invalid_data(log.try_get_log_entries(0..5).await, "across the hole");
    assert_invalid_data(log.try_get_log_entries(..).await, "the whole log");
    // Missing at the start of a range but never purged: also a hole.
    assert_invalid_data(log.try_get_log_entries(2..5).await, "from the hole");
    // Missing at the end of a range but appended (the last log id is 4).
    assert_invalid_data(log.try_get_log_entries(0..3).await, "up to the hole");
    assert_eq!(
        indexes(&log.try_get_log_entries(0..2).await.unwrap()),
        [0, 1]
    );
    assert_eq!(
        indexes(&log.try_get_log_entries(3..).await.unwrap()),
        [3, 4]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_entries_may_be_missing_at_the_start_of_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, sm) = open(dir.path());
    append(&mut log, (0..5).map(|i| entry(1, i)).collect()).await;
    log.purge(lid(1, 2)).await.unwrap();
    for reopen in [false, true] {
        assert_eq!(
            indexes(&log.try_get_log_entries(0..5).await.unwrap()),
            [3, 4],
            "reopened: {reopen}"
        );
        assert_eq!(indexes(&log.try_get_log_entries(..).await.unwrap()), [3, 4]);
        // Not yet appended at the end: a short read, not an error.
        assert_eq!(indexes(&log.try_get_log_entries(4..9).await.unwrap()), [4]);
        assert!(log.try_get_log_entries(5..9).await.unwrap().is_empty());
        assert!(log.try_get_log_entries(0..=2).await.unwrap().is_empty());
        if !reopen {
            log.close().unwrap();
            let (reopened, _) = open(dir.path());
            log = reopened;
        }
    }
    drop(sm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_value_with_bytes_appended_is_invalid_data() {
    let dir = tempfile::tempdir().unwrap();
    log_of_five(dir.path()).await;
    damage_store(dir.path(), |store| {
        for key in [VOTE_KEY.to_vec(), log_key(3)] {
            let mut value = store.get(&key).unwrap().unwrap();
            value.push(0);
            store.put(&key, value).unwrap();
        }
    });
    let (mut log, _sm) = open(dir.path());
    let err = assert_invalid_data(log.read_vote().await, "vote");
    assert!(err.contains("key 0x02"), "{err}");
    assert_invalid_data(log.try_get_log_entries(0..5).await, "log entry 3");
    assert_eq!(
        indexes(&log.try_get_log_entries(0..3).await.unwrap()),
        [0, 1, 2]
    );
}
