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
