//! An unsynced write acknowledged behind a synced write whose fsync then
//! fails becomes visible: the failed write's sequence numbers are published
//! with nothing in them. Found by a review: they were never published, so
//! the acknowledged write's fence never succeeded and reads never saw it,
//! although every acknowledged write stays readable after a poisoning.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{block_on, SlowWalSyncs};
use lsm_core::fault::FaultyFileSystem;
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_async::{AsyncLsmStore, SyncMode, WriteBatch, WriteOptions};

#[test]
fn an_acknowledged_write_behind_a_failed_fsync_never_becomes_visible() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultyFileSystem::new(OsFileSystem::shared());
    faults.target(Some(".wal"));
    let slow: SharedFileSystem = Arc::new(SlowWalSyncs {
        inner: Arc::clone(&faults) as SharedFileSystem,
        delay: Duration::from_millis(300),
    });
    let config = common::small(dir.path())
        .wal_sync(SyncMode::Never)
        .fs(slow)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let before = store.put("a", "1").unwrap();
    assert!(store.wait_for_seq(before, Duration::from_secs(10)));

    // A: a synced write; its fsync sleeps 300 ms, then fails.
    let synced = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut batch = WriteBatch::new();
            batch.put(b"synced", b"A");
            store.write_with(&batch, &WriteOptions::SYNC)
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    faults.fail_syncs(true);
    // B: an ordinary (unsynced) write while A's fsync is in flight.
    let b = store.put("b", "B");
    let a = synced.join().unwrap();
    faults.fail_syncs(false);
    let Ok(b_seq) = b else {
        panic!("setup: B was refused ({b:?}): no hole to show");
    };
    assert!(a.is_err(), "setup: A's fsync did not fail");

    // B was acknowledged (Ok(seq)); the docs: every acknowledged write
    // stays readable after a poisoning, and is visible once close returns.
    let fenced = store.wait_for_seq(b_seq, Duration::from_secs(2));
    let future = block_on(store.wait_for_seq_async(b_seq));
    let read = store.get("b").unwrap();
    let _ = store.close();
    let after_close = store.wait_for_seq(b_seq, Duration::MAX);
    // A reopen sees B (the WAL holds its record; A's may or may not be
    // there, as for any failed write).
    let reopened = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    assert!(reopened.wait_for_seq(reopened.last_seq(), Duration::from_secs(10)));
    assert_eq!(reopened.get("b").unwrap(), Some(b"B".to_vec()));
    reopened.close().unwrap();
    assert!(
        fenced && future.is_ok() && read.is_some() && after_close,
        "acknowledged write seq {b_seq} never visible: wait_for_seq(2s)={fenced}, \
         future={future:?}, get={read:?}, wait_for_seq after close={after_close}, \
         visible_seq={}",
        store.visible_seq()
    );
}
