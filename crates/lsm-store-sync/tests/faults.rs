//! Durability promise 5: after a failed WAL fsync, a failed append (ENOSPC)
//! or a failed manifest sync, the write is not acknowledged, the store
//! refuses writes but keeps serving reads, and earlier acknowledged data is
//! intact after reopening.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};

fn faulty() -> Arc<FaultyFileSystem> {
    FaultyFileSystem::new(OsFileSystem::shared())
}

fn open(dir: &Path, fs: Arc<FaultyFileSystem>) -> SimpleLsmStore {
    let config = LsmConfig::builder(dir)
        .wal_sync(SyncMode::Always)
        .memtable_bytes(64 * 1024)
        .fs(fs)
        .build()
        .unwrap();
    SimpleLsmStore::open(config).unwrap()
}

fn reopen_plain(dir: &Path) -> SimpleLsmStore {
    SimpleLsmStore::open(LsmConfig::new(dir)).unwrap()
}

#[test]
fn failed_wal_fsync_refuses_writes_keeps_reads_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let store = open(dir.path(), Arc::clone(&fs));
    store.put("a", "1").unwrap();
    store.put("b", "2").unwrap();
    fs.fail_syncs(true);
    assert!(
        store.put("c", "3").is_err(),
        "a write whose fsync failed was acknowledged"
    );
    fs.fail_syncs(false);
    assert!(
        store.put("d", "4").is_err(),
        "writes must stay refused after a failed fsync"
    );
    assert_eq!(
        store.get("a").unwrap(),
        Some(b"1".to_vec()),
        "reads keep working"
    );
    drop(store);
    let store = reopen_plain(dir.path());
    assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get("d").unwrap(), None);
    store.put("e", "5").unwrap();
}

#[test]
fn enospc_on_wal_append_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let store = open(dir.path(), Arc::clone(&fs));
    store.put("a", "1").unwrap();
    fs.fail_appends(true);
    let err = store.put("b", "2").unwrap_err();
    assert!(
        err.to_string().contains("28") || err.to_string().to_lowercase().contains("space"),
        "{err}"
    );
    fs.fail_appends(false);
    assert!(store.put("c", "3").is_err());
    drop(store);
    let store = reopen_plain(dir.path());
    assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("c").unwrap(), None);
}

#[test]
fn failed_manifest_sync_during_flush_poisons_writes_but_not_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    fs.target(Some("MANIFEST"));
    let store = open(dir.path(), Arc::clone(&fs));
    for i in 0..100u32 {
        store.put(format!("k{i:03}"), "v").unwrap();
    }
    fs.fail_syncs(true);
    assert!(store.flush_memtable().is_err());
    fs.fail_syncs(false);
    let err = store.put("after", "x").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert_eq!(store.get("k050").unwrap(), Some(b"v".to_vec()));
    drop(store);
    let store = reopen_plain(dir.path());
    for i in 0..100u32 {
        assert_eq!(store.get(format!("k{i:03}")).unwrap(), Some(b"v".to_vec()));
    }
}
