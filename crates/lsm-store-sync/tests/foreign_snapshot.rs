//! A snapshot belongs to the open of the store that made it: a keyspace
//! handle of one store given another store's snapshot (or one from before
//! a close and reopen of its own directory) is refused with
//! `Error::ForeignSnapshot`, instead of reading the other store's data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_sync::{Error, KvStore, LsmConfig, SimpleLsmStore};

fn assert_foreign<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(Error::ForeignSnapshot) => {}
        other => panic!("{what}: got {other:?}, want ForeignSnapshot"),
    }
}

#[test]
fn a_keyspace_refuses_another_stores_snapshot() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = SimpleLsmStore::open(LsmConfig::new(dir_a.path())).unwrap();
    let b = SimpleLsmStore::open(LsmConfig::new(dir_b.path())).unwrap();
    let users_a = a.keyspace("users").unwrap();
    let users_b = b.keyspace("users").unwrap();
    users_a.put("42", "ada").unwrap();
    users_b.put("42", "bob").unwrap();
    let snap_a = a.snapshot().unwrap();
    let snap_b = b.snapshot().unwrap();

    assert_eq!(
        users_a.get_at(&snap_a, "42").unwrap(),
        Some(b"ada".to_vec())
    );
    assert_eq!(
        users_b.get_at(&snap_b, "42").unwrap(),
        Some(b"bob".to_vec())
    );
    assert_eq!(users_a.range_at(&snap_a, ..).unwrap().count(), 1);
    assert_eq!(
        users_a.get_pinned_at(&snap_a, "42").unwrap().unwrap(),
        "ada"
    );

    assert_foreign("get_at", users_a.get_at(&snap_b, "42"));
    assert_foreign("range_at", users_a.range_at(&snap_b, ..).map(|_| ()));
    assert_foreign("get_pinned_at", users_a.get_pinned_at(&snap_b, "42"));
    assert_foreign("check_snapshot", KvStore::check_snapshot(&a, &snap_b));
    KvStore::check_snapshot(&a, &snap_a).unwrap();
    let err = users_b.get_at(&snap_a, "42").unwrap_err();
    assert!(!err.is_closed() && !err.is_corruption(), "{err:?}");
    assert!(err.to_string().contains("another store"), "{err}");
}

#[test]
fn a_snapshot_from_before_a_reopen_is_foreign_to_the_reopened_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    let users = store.keyspace("users").unwrap();
    users.put("42", "ada").unwrap();
    let old = store.snapshot().unwrap();
    store.close().unwrap();

    let reopened = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    let users = reopened.keyspace("users").unwrap();
    assert_foreign("get_at", users.get_at(&old, "42"));
    assert_foreign("range_at", users.range_at(&old, ..).map(|_| ()));
    assert_foreign("get_pinned_at", users.get_pinned_at(&old, "42"));
    // The old snapshot's own reads report its store's close.
    assert!(old.get("42").unwrap_err().is_closed());
    let now = reopened.snapshot().unwrap();
    assert_eq!(users.get_at(&now, "42").unwrap(), Some(b"ada".to_vec()));
}

/// No false refusals: a snapshot of one clone of a store, read through
/// keyspace handles made from another clone and on another thread, is the
/// store's own (both stores).
fn snapshots_of_clones_are_the_stores_own<S>()
where
    S: KvStore + Clone + Send + 'static,
    S::Snapshot: Clone + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(LsmConfig::new(dir.path())).unwrap();
    let clone = store.clone();
    let users = lsm_engine::Keyspace::open(&clone, "users").unwrap();
    let users_again = lsm_engine::Keyspace::open(&store, "users").unwrap();
    let seq = users.put("k", "v").unwrap();
    assert!(store.wait_visible(seq, std::time::Duration::from_secs(10)));
    let snapshots = [store.snapshot().unwrap(), clone.snapshot().unwrap()];
    for snapshot in &snapshots {
        assert_eq!(users.get_at(snapshot, "k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(
            users_again.get_at(snapshot, "k").unwrap(),
            Some(b"v".to_vec())
        );
        assert_eq!(users.range_at(snapshot, ..).unwrap().count(), 1);
        store.check_snapshot(snapshot).unwrap();
        clone.check_snapshot(snapshot).unwrap();
    }
    let snapshot = snapshots[0].clone();
    let on_another_thread = std::thread::spawn(move || users_again.get_at(&snapshot, "k").unwrap());
    assert_eq!(on_another_thread.join().unwrap(), Some(b"v".to_vec()));
    store.close().unwrap();
}

#[test]
fn snapshots_of_clones_are_the_stores_own_sync() {
    snapshots_of_clones_are_the_stores_own::<SimpleLsmStore>();
}

#[test]
fn snapshots_of_clones_are_the_stores_own_async() {
    snapshots_of_clones_are_the_stores_own::<lsm_store_async::AsyncLsmStore>();
}
