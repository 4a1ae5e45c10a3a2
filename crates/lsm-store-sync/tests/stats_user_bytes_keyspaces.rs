//! `StoreStats::user_bytes_written` is the "key + value bytes accepted"
//! (docs/observability.md; the field's rustdoc: "Key and value bytes
//! accepted by writes since open"), the denominator of
//! `write_amplification()`. Creating or dropping a keyspace writes no key
//! and no value of the caller's: it is one record of the store's internal
//! catalog (the name and an id). A put into a keyspace counts its key and
//! value without the keyspace's prefix. Both stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use lsm_engine::KvStore;
use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn check<S: KvStore>(dir: &Path) {
    let config = LsmConfig::builder(dir)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    let store = S::open(config).unwrap();
    let users = store.open_keyspace("users").unwrap();
    assert_eq!(
        store.stats().unwrap().user_bytes_written,
        0,
        "creating keyspace \"users\" wrote no user key or value"
    );

    let mut batch = lsm_store_sync::WriteBatch::new();
    batch.put_in(users, "ada", "lovelace");
    store.write(&batch).unwrap();
    assert_eq!(store.stats().unwrap().user_bytes_written, 3 + 8);

    store.drop_keyspace("users").unwrap();
    assert_eq!(
        store.stats().unwrap().user_bytes_written,
        3 + 8,
        "dropping keyspace \"users\" wrote no user key or value"
    );
    store.close().unwrap();
}

#[test]
fn keyspace_catalog_writes_are_not_user_bytes_sync_store() {
    let dir = tempfile::tempdir().unwrap();
    check::<SimpleLsmStore>(dir.path());
}

#[test]
fn keyspace_catalog_writes_are_not_user_bytes_async_store() {
    let dir = tempfile::tempdir().unwrap();
    check::<AsyncLsmStore>(dir.path());
}
