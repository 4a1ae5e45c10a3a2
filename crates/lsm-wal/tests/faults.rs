//! A failed write or fsync poisons the writer: the failing call errors,
//! later calls get `Error::Poisoned`, and acknowledged appends survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{owned, owned_batch, tagged_batch, FaultFs};
use lsm_wal::{recover, Error, RecoveryMode, SyncMode, WalOptions, WalWriter};

fn writer(fs: &FaultFs, dir: &std::path::Path, sync_mode: SyncMode) -> WalWriter {
    let options = WalOptions {
        sync_mode,
        ..WalOptions::default()
    };
    WalWriter::create(Arc::new(fs.clone()), dir, 1, 1, options).unwrap()
}

fn recovered(fs: &FaultFs, dir: &std::path::Path) -> Vec<common::Replayed> {
    let mut out = Vec::new();
    recover(fs, dir, 0, RecoveryMode::TolerateTornTail, |view| {
        out.push(owned(view))
    })
    .unwrap();
    out
}

#[test]
fn failed_fsync_poisons_and_acknowledged_appends_survive() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = writer(&fs, dir.path(), SyncMode::Always);
    let first = tagged_batch(1);
    let second = tagged_batch(2);
    assert_eq!(wal.append(&first).unwrap(), 1);
    assert_eq!(wal.append(&second).unwrap(), 2);

    fs.faults.fail_sync.store(true, Ordering::SeqCst);
    let err = wal.append(&tagged_batch(3)).unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::Io { .. })),
        "{err}"
    );
    fs.faults.fail_sync.store(false, Ordering::SeqCst);

    // Never retry and acknowledge: every later call is refused.
    for result in [
        wal.append(&tagged_batch(4)),
        wal.append_with(&tagged_batch(5), false),
    ] {
        match result {
            Err(Error::Poisoned { reason }) => {
                assert!(reason.contains("injected fdatasync"), "{reason}")
            }
            other => panic!("expected Poisoned, got {other:?}"),
        }
    }
    assert!(matches!(wal.sync(), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.rotate(), Err(Error::Poisoned { .. })));
    drop(wal);

    let replayed = recovered(&fs, dir.path());
    assert!(replayed.len() >= 2);
    assert_eq!(replayed[0], owned_batch(&first, 1));
    assert_eq!(replayed[1], owned_batch(&second, 2));
}

#[test]
fn failed_write_poisons_and_acknowledged_appends_survive() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = writer(&fs, dir.path(), SyncMode::Never);
    let first = tagged_batch(1);
    assert_eq!(wal.append(&first).unwrap(), 1);

    fs.faults.fail_append.store(true, Ordering::SeqCst);
    let err = wal.append(&tagged_batch(2)).unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::Io { .. })),
        "{err}"
    );
    fs.faults.fail_append.store(false, Ordering::SeqCst);
    assert!(matches!(
        wal.append(&tagged_batch(3)),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
    assert!(matches!(wal.append(&tagged_batch(4)), Err(Error::Closed)));
    drop(wal);

    assert_eq!(recovered(&fs, dir.path()), vec![owned_batch(&first, 1)]);
}

/// Another thread's write fails while an appender waits in its (already
/// written) record's fdatasync: the waiter gets its sync's result, not a
/// panic (in debug builds the writer's accounting check fired on the
/// failed write's lost chunk before it looked at the poison).
#[test]
fn a_failed_write_leaves_a_waiter_for_an_earlier_sync_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = Arc::new(writer(&fs, dir.path(), SyncMode::Always));
    fs.faults.block_syncs();
    // The first append writes its record and blocks in its fdatasync.
    let durable = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || wal.append(&tagged_batch(1)))
    };
    fs.faults.wait_blocked(1);
    // An unsynced append whose write fails poisons the log.
    fs.faults.fail_append.store(true, Ordering::SeqCst);
    let failed = wal.append_with(&tagged_batch(2), false);
    assert!(
        matches!(failed, Err(Error::Core(lsm_core::Error::Io { .. }))),
        "{failed:?}"
    );
    fs.faults.fail_append.store(false, Ordering::SeqCst);
    fs.faults.release_syncs();
    let synced = durable.join().expect("the waiting appender did not panic");
    assert_eq!(synced.unwrap(), 1, "its record was synced");
    assert!(matches!(
        wal.append(&tagged_batch(3)),
        Err(Error::Poisoned { .. })
    ));
}

#[test]
fn waiters_sharing_a_failed_fsync_all_get_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = Arc::new(writer(&fs, dir.path(), SyncMode::Always));
    fs.faults.fail_sync.store(true, Ordering::SeqCst);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let wal = Arc::clone(&wal);
                scope.spawn(move || wal.append(&tagged_batch(t)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in results {
        assert!(
            result.is_err(),
            "an append was acknowledged after a failed fsync"
        );
    }
}

#[test]
fn failed_rotation_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let wal = writer(&fs, dir.path(), SyncMode::Never);
    wal.append(&tagged_batch(1)).unwrap();
    fs.faults.fail_sync.store(true, Ordering::SeqCst);
    assert!(matches!(wal.rotate(), Err(Error::Core(_))));
    fs.faults.fail_sync.store(false, Ordering::SeqCst);
    assert!(matches!(
        wal.append(&tagged_batch(2)),
        Err(Error::Poisoned { .. })
    ));
}
