//! A keyspace handle of one `AsyncLsmStore` given another store's snapshot
//! is refused with a foreign-snapshot error instead of reading the other
//! store's data. The twin of `lsm-store-sync/tests/foreign_snapshot.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use lsm_store_async::{AsyncLsmStore, Error, LsmConfig};

fn assert_foreign<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(Error::Store(lsm_engine::Error::ForeignSnapshot)) => {}
        other => panic!("{what}: got {other:?}, want ForeignSnapshot"),
    }
}

#[test]
fn a_keyspace_refuses_another_stores_snapshot() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = AsyncLsmStore::open(LsmConfig::new(dir_a.path())).unwrap();
    let b = AsyncLsmStore::open(LsmConfig::new(dir_b.path())).unwrap();
    let users_a = a.keyspace("users").unwrap();
    let users_b = b.keyspace("users").unwrap();
    let seq = users_a.put("42", "ada").unwrap();
    assert!(a.wait_for_seq(seq, Duration::from_secs(30)));
    let seq = users_b.put("42", "bob").unwrap();
    assert!(b.wait_for_seq(seq, Duration::from_secs(30)));
    let snap_a = a.snapshot().unwrap();
    let snap_b = b.snapshot().unwrap();

    assert_eq!(
        users_a.get_at(&snap_a, "42").unwrap(),
        Some(b"ada".to_vec())
    );
    assert_foreign("get_at", users_a.get_at(&snap_b, "42"));
    assert_foreign("range_at", users_a.range_at(&snap_b, ..).map(|_| ()));
    assert_foreign("get_pinned_at", users_a.get_pinned_at(&snap_b, "42"));

    a.close().unwrap();
    let reopened = AsyncLsmStore::open(LsmConfig::new(dir_a.path())).unwrap();
    let users = reopened.keyspace("users").unwrap();
    assert_foreign("get_at after reopen", users.get_at(&snap_a, "42"));
}
