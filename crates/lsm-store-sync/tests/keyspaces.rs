//! Keyspaces of `SimpleLsmStore` under concurrency (the harness is
//! `lsm_testkit::keyspaces`), and the handle's reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use lsm_store_sync::{Error, KvStore, LsmConfig, SimpleLsmStore};
use lsm_testkit::keyspaces::writes_race_keyspace_drops;

#[test]
fn writes_racing_keyspace_drops_keep_only_the_current_incarnation() {
    writes_race_keyspace_drops::<SimpleLsmStore>(4, 20);
}

fn keys(iter: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), Error>>) -> Vec<String> {
    iter.map(|item| String::from_utf8(item.unwrap().0).unwrap())
        .collect()
}

#[test]
fn a_keyspace_handle_reads_forward_backward_by_prefix_and_at_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    let ks = store.keyspace("fruit").unwrap();
    assert_eq!(ks.name(), "fruit");
    let mut last = 0;
    for key in ["apple", "apricot", "banana", "cherry"] {
        last = ks.put(key, key.to_uppercase()).unwrap();
    }
    store.put("apple", "not fruit").unwrap();
    assert!(store.wait_visible(last, Duration::from_secs(10)));
    let snapshot = store.snapshot().unwrap();
    last = ks.delete_range("b"..).unwrap();
    assert!(store.wait_visible(last, Duration::from_secs(10)));
    assert_eq!(keys(ks.iter().unwrap()), ["apple", "apricot"]);
    assert_eq!(keys(ks.prefix("ap").unwrap().rev()), ["apricot", "apple"]);
    assert_eq!(keys(ks.range("apricot"..).unwrap()), ["apricot"]);
    assert_eq!(
        keys(ks.range_at(&snapshot, ..).unwrap().rev()),
        ["cherry", "banana", "apricot", "apple"],
        "the snapshot predates the range delete"
    );
    assert_eq!(
        ks.get_at(&snapshot, "banana").unwrap(),
        Some(b"BANANA".to_vec())
    );
    assert_eq!(ks.get("banana").unwrap(), None);
    assert_eq!(store.get("apple").unwrap(), Some(b"not fruit".to_vec()));
    assert_eq!(
        keys(store.iter().unwrap()),
        ["apple"],
        "the default keyspace alone"
    );
}

/// A handle on a dropped keyspace whose name was created again: its stats
/// are the "unknown keyspace" error its writes get, not the new keyspace's
/// tables (which the new handle reports).
#[test]
fn a_stale_keyspace_handle_reports_no_stats_of_the_new_keyspace() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    let old = store.keyspace("logs").unwrap();
    store.drop_keyspace("logs").unwrap();
    let new = store.keyspace("logs").unwrap();
    assert_ne!(old.id(), new.id());
    for i in 0..10 {
        new.put(format!("k{i}"), "v").unwrap();
    }
    store.flush_memtable().unwrap();
    assert!(
        old.put("x", "y").is_err(),
        "writes through the stale handle fail"
    );
    let err = old.stats().unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let stats = new.stats().unwrap();
    assert_eq!((stats.id, stats.tables), (new.id().get(), 1));
}
