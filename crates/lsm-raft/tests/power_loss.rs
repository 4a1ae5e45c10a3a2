//! Simulated power loss (`FaultyFileSystem::crash`: every byte not
//! fsynced vanishes) right after an operation returned (or, for `append`,
//! after its durable callback fired).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::LsmConfig;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;

fn faulty_open(dir: &Path) -> (Arc<FaultyFileSystem>, Log, Sm) {
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    // A large memtable: no flush syncs anything behind the test's back.
    let config = LsmConfig::builder(dir)
        .memtable_bytes(8 * 1024 * 1024)
        .fs(Arc::clone(&fs) as lsm_core::SharedFileSystem)
        .build()
        .unwrap();
    let (log, sm) = lsm_raft::open_with_config(config).unwrap();
    (fs, log, sm)
}

/// The process dies without closing anything, then the power goes.
fn lose_power(fs: &FaultyFileSystem, log: Log, sm: Sm) {
    std::mem::forget(log);
    std::mem::forget(sm);
    fs.crash().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_vote_survives_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, mut log, sm) = faulty_open(dir.path());
    let syncs = fs.sync_count();
    log.save_vote(&vote(3)).await.unwrap();
    assert!(fs.sync_count() > syncs, "save_vote synced");
    lose_power(&fs, log, sm);
    let (mut log, _sm) = open(dir.path());
    assert_eq!(log.read_vote().await.unwrap(), Some(vote(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_whose_callback_fired_survive_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, mut log, sm) = faulty_open(dir.path());
    // 50 appends queued before any callback is awaited: the flusher
    // covers them with as few fsyncs as it can.
    let syncs = fs.sync_count();
    let mut waiting = Vec::new();
    for i in 0..50 {
        let (tx, rx) = C::oneshot();
        log.append(vec![entry(1, i)], IOFlushed::signal(tx))
            .await
            .unwrap();
        waiting.push(rx);
    }
    for rx in waiting {
        rx.await.unwrap().unwrap();
    }
    let fsyncs = fs.sync_count() - syncs;
    assert!((1..=50).contains(&fsyncs), "{fsyncs} fsyncs for 50 appends");
    eprintln!("50 appends, {fsyncs} fsyncs");
    lose_power(&fs, log, sm);
    let (mut log, _sm) = open(dir.path());
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncation_survives_power_loss_without_resurrecting_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, mut log, sm) = faulty_open(dir.path());
    append(&mut log, (0..40).map(|i| entry(1, i)).collect()).await;
    log.truncate_after(Some(lid(1, 19))).await.unwrap();
    lose_power(&fs, log, sm);
    let (mut log, _sm) = open(dir.path());
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 20);
    assert!(log.try_get_log_entries(20..).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_survives_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, mut log, sm) = faulty_open(dir.path());
    append(&mut log, (0..40).map(|i| entry(1, i)).collect()).await;
    log.purge(lid(1, 9)).await.unwrap();
    lose_power(&fs, log, sm);
    let (mut log, _sm) = open(dir.path());
    let (purged, entries) = check_log(&mut log).await;
    assert_eq!((purged, entries.len()), (Some(9), 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_snapshot_survives_power_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, log, mut sm) = faulty_open(dir.path());
    apply(&mut sm, vec![entry(1, 0), entry(1, 1)]).await;
    // The snapshot of another store, at (2, 5), holding keys 3 and 5.
    let source = tempfile::tempdir().unwrap();
    let (_slog, mut ssm) = open(source.path());
    apply(&mut ssm, vec![entry(2, 3), entry(2, 5)]).await;
    let snapshot = openraft::storage::RaftSnapshotBuilder::build_snapshot(
        &mut ssm.get_snapshot_builder().await,
    )
    .await
    .unwrap();
    sm.install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    lose_power(&fs, log, sm);
    let (_log, mut sm) = open(dir.path());
    assert_eq!(sm.applied_state().await.unwrap().0, Some(lid(2, 5)));
    assert_eq!(
        (0..=5).map(|i| sm_term(&sm, i)).collect::<Vec<_>>(),
        [None, None, None, Some(2), None, Some(2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsynced_state_machine_writes_lost_to_power_loss_never_outrun_the_log() {
    // Applied but not synced: may be lost, but a later synced operation
    // (here a vote) makes them durable too: the WAL keeps a prefix.
    let dir = tempfile::tempdir().unwrap();
    let (fs, mut log, mut sm) = faulty_open(dir.path());
    append(&mut log, (0..10).map(|i| entry(1, i)).collect()).await;
    apply(&mut sm, (0..5).map(|i| entry(1, i)).collect()).await;
    log.save_vote(&vote(2)).await.unwrap();
    apply(&mut sm, (5..10).map(|i| entry(1, i)).collect()).await;
    lose_power(&fs, log, sm);
    let (mut log, mut sm) = open(dir.path());
    let (applied, _) = sm.applied_state().await.unwrap();
    let applied = applied.unwrap().index;
    assert!((4..=9).contains(&applied), "applied {applied}");
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 10);
    for i in 0..10 {
        assert_eq!(sm_term(&sm, i).is_some(), i <= applied, "key {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_fails_the_append_callback_and_save_vote_and_loses_no_durable_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, mut log, sm) = faulty_open(dir.path());
    append(&mut log, (0..10).map(|i| entry(1, i)).collect()).await;
    fs.fail_syncs(true);
    let (tx, rx) = C::oneshot();
    log.append((10..20).map(|i| entry(1, i)), IOFlushed::signal(tx))
        .await
        .unwrap();
    assert!(
        rx.await.unwrap().is_err(),
        "the callback reports the failed fsync"
    );
    assert!(log.save_vote(&vote(2)).await.is_err(), "save_vote too");
    lose_power(&fs, log, sm);
    let (mut log, _sm) = open(dir.path());
    let (_, entries) = check_log(&mut log).await;
    assert_eq!(entries.len(), 10, "the unsynced entries are gone, no hole");
    assert_eq!(log.read_vote().await.unwrap(), None);
}
