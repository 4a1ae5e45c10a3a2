//! Group commit: concurrent appenders share fsyncs, every acknowledged
//! append is recovered, and no-sync appends never wait for an fsync.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{owned, owned_batch, tagged_batch, FaultFs, Replayed};
use lsm_core::SeqNo;
use lsm_wal::{recover, RecoveryMode, SyncMode, WalOptions, WalWriter};

const THREADS: u64 = 8;
const APPENDS_PER_THREAD: u64 = 50;

fn replay_all(fs: &FaultFs, dir: &std::path::Path) -> BTreeMap<SeqNo, Replayed> {
    let mut replayed = BTreeMap::new();
    recover(fs, dir, 0, RecoveryMode::AbsoluteConsistency, |view| {
        replayed.insert(view.last_seq(), owned(view));
    })
    .unwrap();
    replayed
}

#[test]
fn concurrent_synced_appends_share_fsyncs_and_all_are_recovered() {
    // A flush that takes a millisecond, like a real device: the test must
    // not depend on how fast this machine's fsync happens to be. Waiters
    // sleep on the condition variables (the sync is past SPIN_WAIT_MAX).
    synced_appends_from_many_threads(1000);
}

/// Syncs short enough that waiters watch for the syncer's release without
/// sleeping (and the syncer for its group): the same guarantees.
#[test]
fn concurrent_synced_appends_with_fast_fsyncs_share_them_and_all_are_recovered() {
    synced_appends_from_many_threads(50);
    synced_appends_from_many_threads(0);
}

/// `THREADS` threads append `APPENDS_PER_THREAD` synced batches each, every
/// fdatasync taking `sync_delay_micros`; checks that syncs were shared and
/// that recovery finds every acknowledged batch, in dense seqno order.
fn synced_appends_from_many_threads(sync_delay_micros: u64) {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = Arc::new(
        WalWriter::create(
            Arc::new(fs.clone()),
            dir.path(),
            1,
            1,
            WalOptions::default(),
        )
        .unwrap(),
    );
    fs.faults
        .sync_delay_micros
        .store(sync_delay_micros, Ordering::SeqCst);
    let syncs_before = fs.faults.syncs.load(Ordering::SeqCst);

    let acknowledged: Vec<(SeqNo, Replayed)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = Arc::clone(&wal);
                scope.spawn(move || {
                    (0..APPENDS_PER_THREAD)
                        .map(|i| {
                            let mut batch = tagged_batch(t * 1000 + i);
                            if i % 3 == 0 {
                                batch.delete(format!("gone-{t}-{i}").as_bytes());
                            }
                            let last = wal.append(&batch).unwrap();
                            let first = last + 1 - u64::from(batch.count());
                            (last, owned_batch(&batch, first))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let appends = THREADS * APPENDS_PER_THREAD;
    let syncs = fs.faults.syncs.load(Ordering::SeqCst) - syncs_before;
    eprintln!("{appends} synced appends from {THREADS} threads used {syncs} fdatasyncs");
    assert!(syncs >= 1);
    assert!(
        syncs < appends,
        "group commit should share fsyncs: {syncs} fsyncs for {appends} appends"
    );

    let replayed = replay_all(&fs, dir.path());
    assert_eq!(replayed.len() as u64, appends);
    for (last, batch) in &acknowledged {
        assert_eq!(
            replayed.get(last),
            Some(batch),
            "batch ending at seq {last}"
        );
    }
    // WAL order is seqno order and seqnos are dense.
    let mut expected_first = 1;
    for (first, ops) in replayed.values() {
        assert_eq!(*first, expected_first);
        expected_first += ops.len() as u64;
    }
}

#[test]
fn no_sync_append_completes_while_a_synced_append_is_stuck_in_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = Arc::new(
        WalWriter::create(
            Arc::new(fs.clone()),
            dir.path(),
            1,
            1,
            WalOptions::default(),
        )
        .unwrap(),
    );
    fs.faults.block_syncs();

    let (synced_tx, synced_rx) = mpsc::channel();
    let syncing = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            let result = wal.append_with(&tagged_batch(1), true);
            synced_tx.send(()).unwrap();
            result
        })
    };
    fs.faults.wait_blocked(1);

    let (tx, rx) = mpsc::channel();
    let fast = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || {
            let result = wal.append_with(&tagged_batch(2), false);
            tx.send(()).unwrap();
            result
        })
    };
    // Completion, not timing: the generous timeout only stops a broken
    // implementation from hanging the suite.
    let completed = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    let synced_still_blocked = synced_rx.try_recv().is_err();
    fs.faults.release_syncs();
    assert!(completed, "the no-sync append waited for the blocked fsync");
    assert!(
        synced_still_blocked,
        "the synced append returned before its fsync"
    );
    assert_eq!(fast.join().unwrap().unwrap(), 2);
    assert_eq!(syncing.join().unwrap().unwrap(), 1);
    wal.close().unwrap();
    assert_eq!(replay_all(&fs, dir.path()).len(), 2);
}

#[test]
fn every_bytes_mode_syncs_once_per_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let options = WalOptions {
        sync_mode: SyncMode::EveryBytes(1000),
        ..WalOptions::default()
    };
    let wal = WalWriter::create(Arc::new(fs.clone()), dir.path(), 1, 1, options).unwrap();
    let before = fs.faults.syncs.load(Ordering::SeqCst);
    let start = wal.bytes_written();
    // Model: the append whose end is >= 1000 bytes past the last synced
    // end syncs; the others do not.
    let mut claimed = 0;
    let mut expected = 0;
    for i in 0..100 {
        wal.append(&tagged_batch(i)).unwrap();
        let end = wal.bytes_written() - start;
        if end - claimed >= 1000 {
            claimed = end;
            expected += 1;
        }
        assert_eq!(
            fs.faults.syncs.load(Ordering::SeqCst) - before,
            expected,
            "after append {i}"
        );
    }
    assert!(expected >= 2);
}

#[test]
fn never_mode_does_not_sync_until_asked() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let options = WalOptions {
        sync_mode: SyncMode::Never,
        ..WalOptions::default()
    };
    let wal = WalWriter::create(Arc::new(fs.clone()), dir.path(), 1, 1, options).unwrap();
    let before = fs.faults.syncs.load(Ordering::SeqCst);
    for i in 0..20 {
        wal.append(&tagged_batch(i)).unwrap();
    }
    assert_eq!(fs.faults.syncs.load(Ordering::SeqCst), before);
    wal.sync().unwrap();
    assert_eq!(fs.faults.syncs.load(Ordering::SeqCst), before + 1);
    wal.sync().unwrap();
    assert_eq!(
        fs.faults.syncs.load(Ordering::SeqCst),
        before + 1,
        "nothing new to sync"
    );
}
