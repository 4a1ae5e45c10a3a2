//! Close and reopen after every operation kind; openraft's rules must
//! hold on what comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;

use common::*;
use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};

fn reopen(dir: &Path, log: Log, sm: Sm) -> (Log, Sm) {
    drop(sm);
    log.close().unwrap();
    open(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_survives_a_reopen_with_openraft_rules_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, mut sm) = open(dir.path());

    // save_vote
    log.save_vote(&vote(1)).await.unwrap();
    let (mut log, sm_) = reopen(dir.path(), log, sm);
    sm = sm_;
    assert_eq!(log.read_vote().await.unwrap(), Some(vote(1)));

    // append (index 0..=300: several memtable flushes)
    append(&mut log, (0..=300).map(|i| entry(1, i)).collect()).await;
    let (mut log, sm_) = reopen(dir.path(), log, sm);
    sm = sm_;
    let (purged, entries) = check_log(&mut log).await;
    assert_eq!((purged, entries.len()), (None, 301));

    // truncate_after: nothing after 250 comes back
    log.truncate_after(Some(lid(1, 250))).await.unwrap();
    let (mut log, sm_) = reopen(dir.path(), log, sm);
    sm = sm_;
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.last().unwrap().log_id(), lid(1, 250));
    assert!(log.try_get_log_entries(251..).await.unwrap().is_empty());

    // append under a new term after the truncation
    append(&mut log, (251..=260).map(|i| entry(2, i)).collect()).await;
    let (mut log, sm_) = reopen(dir.path(), log, sm);
    sm = sm_;
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 261);
    assert!(entries[251..].iter().all(|e| entry_term(e) == 2));

    // apply 0..=200
    let to_apply = log.try_get_log_entries(0..=200).await.unwrap();
    apply(&mut sm, to_apply).await;
    let (mut log, mut sm) = reopen(dir.path(), log, sm);
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(lid(1, 200)));
    assert_eq!(sm_term(&sm, 200), Some(1));
    assert_eq!(sm_term(&sm, 201), None, "applied no further than asked");

    // purge up to 100: last_purged persisted, nothing at or below it
    log.purge(lid(1, 100)).await.unwrap();
    let (mut log, sm) = reopen(dir.path(), log, sm);
    let (purged, entries) = check_log(&mut log).await;
    assert_eq!(purged, Some(100));
    assert_eq!(entries.first().unwrap().log_id(), lid(1, 101));
    assert!(log.try_get_log_entries(0..=100).await.unwrap().is_empty());

    // purge everything: the last log id is the purged one
    log.purge(lid(2, 260)).await.unwrap();
    let (mut log, sm) = reopen(dir.path(), log, sm);
    let (purged, entries) = check_log(&mut log).await;
    assert_eq!((purged, entries.len()), (Some(260), 0));
    assert_eq!(
        log.get_log_state().await.unwrap().last_log_id,
        Some(lid(2, 260))
    );

    // save_committed
    log.save_committed(Some(lid(1, 200))).await.unwrap();
    let (mut log, mut sm) = reopen(dir.path(), log, sm);
    assert_eq!(log.read_committed().await.unwrap(), Some(lid(1, 200)));

    // build a snapshot; install it on another store that has other data
    let snapshot = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.meta.last_log_id, Some(lid(1, 200)));
    let dir2 = tempfile::tempdir().unwrap();
    let (log2, mut sm2) = open(dir2.path());
    apply(&mut sm2, vec![entry(1, 0), entry(7, 999)]).await;
    sm2.install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    let (_log2, mut sm2) = reopen(dir2.path(), log2, sm2);
    let (applied, membership) = sm2.applied_state().await.unwrap();
    assert_eq!(applied, Some(lid(1, 200)));
    assert_eq!(membership, snapshot.meta.last_membership);
    for i in 0..=200 {
        assert_eq!(sm_term(&sm2, i), Some(1), "key {i}");
    }
    assert_eq!(sm_term(&sm2, 999), None, "install replaced the old state");
    let current = sm2.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);

    // the first store still serves its snapshot after a reopen
    let (_log, mut sm) = reopen(dir.path(), log, sm);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snapshot.meta);
}

/// Truncations and purges larger than one delete batch (16 Ki keys) are
/// several batches; after a reopen the log is exactly what was asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_and_purge_spanning_several_delete_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, sm) = open(dir.path());
    let n = 40_000u64;
    append(&mut log, (0..n).map(|i| entry(1, i)).collect()).await;
    // Truncate the last 5_000 (1 batch), purge the first 34_000 (3
    // batches); later append 25_000 under term 2 and truncate 20_000 of
    // them (2 batches).
    log.truncate_after(Some(lid(1, 35_000 - 1))).await.unwrap();
    log.purge(lid(1, 34_000 - 1)).await.unwrap();
    let (mut log, sm) = reopen(dir.path(), log, sm);
    let (purged, entries) = check_log(&mut log).await;
    assert_eq!((purged, entries.len()), (Some(33_999), 1_000));
    append(&mut log, (35_000..60_000).map(|i| entry(2, i)).collect()).await;
    log.truncate_after(Some(lid(2, 40_000 - 1))).await.unwrap();
    let (mut log, _sm) = reopen(dir.path(), log, sm);
    let (purged, entries) = check_log(&mut log).await;
    assert_eq!((purged, entries.len()), (Some(33_999), 6_000));
    assert_eq!(entries.last().unwrap().log_id, lid(2, 39_999));
    assert!(log.try_get_log_entries(40_000..).await.unwrap().is_empty());
}
