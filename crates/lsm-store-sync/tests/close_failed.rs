//! A `close` whose final WAL fdatasync failed: the writes it had to make
//! durable may be lost, so no later `close` may answer `Ok` (a second call
//! used to, because the first had already marked the store closed), and a
//! power loss after it may lose only writes that were never acknowledged
//! as durable. Both stores. Found by the cut-short review.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{KvError, KvStore, LsmConfig, SimpleLsmStore, SyncMode};

fn config(dir: &Path, fs: &Arc<FaultyFileSystem>) -> LsmConfig {
    LsmConfig::builder(dir)
        .wal_sync(SyncMode::Never)
        .fs(Arc::clone(fs) as lsm_core::SharedFileSystem)
        .build()
        .unwrap()
}

fn a_failed_close_is_never_answered_ok_later<S: KvStore + Clone>() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = S::open(config(dir.path(), &fs)).unwrap();
    let mut last = 0;
    for i in 0..20 {
        last = store
            .put(format!("k{i:02}").as_bytes(), b"unsynced")
            .unwrap();
    }
    assert!(store.wait_visible(last, std::time::Duration::from_secs(10)));
    fs.fail_syncs(true);
    let first = store.close().unwrap_err();
    fs.fail_syncs(false);
    let second = store.close();
    let err = match second {
        Ok(()) => panic!("close failed ({first}), then a second close answered Ok"),
        Err(err) => err,
    };
    assert!(err.is_poisoned(), "second close: {err}");
    assert!(
        err.to_string().contains("close failed"),
        "second close: {err}"
    );
    // The writes were never made durable: a power loss may drop them, and
    // the store opens whatever it kept.
    fs.crash().unwrap();
    let reopened = S::open(config(dir.path(), &fs)).unwrap();
    reopened.close().unwrap();
    reopened.close().unwrap();
}

#[test]
fn a_failed_close_is_never_answered_ok_later_sync() {
    a_failed_close_is_never_answered_ok_later::<SimpleLsmStore>();
}

#[test]
fn a_failed_close_is_never_answered_ok_later_async() {
    a_failed_close_is_never_answered_ok_later::<AsyncLsmStore>();
}
