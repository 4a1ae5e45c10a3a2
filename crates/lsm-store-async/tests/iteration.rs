//! `iter`, `prefix` and `range(..)` on `AsyncLsmStore` and its snapshots:
//! every range form without a turbofish, forward, backward and mixed, over
//! keys in tables and the memtable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::ops::Bound;
use std::time::Duration;

use lsm_store_async::{AsyncLsmStore, StoreIterator};

const LONG: Duration = Duration::from_secs(30);

fn keys(iter: StoreIterator) -> Vec<Vec<u8>> {
    iter.map(|item| item.unwrap().0).collect()
}

fn keys_rev(iter: StoreIterator) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = iter.rev().map(|item| item.unwrap().0).collect();
    keys.reverse();
    keys
}

fn bytes(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|k| k.to_vec()).collect()
}

const KEYS: &[&[u8]] = &[b"a", b"app", b"apple", b"b", b"\xff", b"\xff\xff"];

/// [`KEYS`], half in a table, half in the memtable, plus a deleted key;
/// every write visible.
fn store(dir: &std::path::Path) -> AsyncLsmStore {
    let store = AsyncLsmStore::open(common::small(dir).build().unwrap()).unwrap();
    for key in &KEYS[..3] {
        store.put(key, b"old").unwrap();
    }
    store.put(b"deleted", b"gone").unwrap();
    store.flush_memtable().unwrap();
    for key in KEYS {
        store.put(key, key).unwrap();
    }
    let last = store.delete(b"deleted").unwrap();
    assert!(store.wait_for_seq(last, LONG));
    store
}

#[test]
fn iter_prefix_and_range_read_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    assert_eq!(keys(store.iter().unwrap()), bytes(KEYS));
    assert_eq!(keys_rev(store.iter().unwrap()), bytes(KEYS));
    let values: Vec<_> = store.iter().unwrap().rev().map(|i| i.unwrap().1).collect();
    assert_eq!(values.last().unwrap(), b"a", "the newest version");

    assert_eq!(
        keys_rev(store.prefix("ap").unwrap()),
        bytes(&[b"app", b"apple"])
    );
    assert_eq!(
        keys_rev(store.prefix([0xFF]).unwrap()),
        bytes(&[b"\xff", b"\xff\xff"])
    );
    assert_eq!(keys(store.prefix("").unwrap()), bytes(KEYS));

    assert_eq!(keys(store.range(..).unwrap()), bytes(KEYS));
    assert_eq!(
        keys_rev(store.range("app".."b").unwrap()),
        bytes(&[b"app", b"apple"])
    );
    assert_eq!(
        keys_rev(store.range(b"app"..=b"b\0\0").unwrap()),
        bytes(&[b"app", b"apple", b"b"])
    );
    assert_eq!(
        keys(store.range(b"b".to_vec()..).unwrap()),
        bytes(&KEYS[3..])
    );
    assert_eq!(keys_rev(store.range(.."app").unwrap()), bytes(&[b"a"]));
    assert_eq!(
        keys_rev(store.range(..=&b"app"[..]).unwrap()),
        bytes(&[b"a", b"app"])
    );
    assert_eq!(
        keys_rev(
            store
                .range((Bound::Excluded("a"), Bound::Excluded("b")))
                .unwrap()
        ),
        bytes(&[b"app", b"apple"])
    );
    store.close().unwrap();
}

#[test]
fn mixed_ends_meet_and_a_snapshot_reads_backward() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut iter = store.iter().unwrap();
    assert_eq!(iter.next_back().unwrap().unwrap().0, b"\xff\xff");
    assert_eq!(iter.next().unwrap().unwrap().0, b"a");
    let middle: Vec<Vec<u8>> = iter.rev().map(|i| i.unwrap().0).collect();
    assert_eq!(middle, bytes(&[b"\xff", b"b", b"apple", b"app"]));

    let snapshot = store.snapshot().unwrap();
    store.delete(b"app").unwrap();
    let last = store.put(b"apz", b"new").unwrap();
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(
        keys_rev(snapshot.prefix("ap").unwrap()),
        bytes(&[b"app", b"apple"])
    );
    assert_eq!(keys_rev(snapshot.iter().unwrap()), bytes(KEYS));
    assert_eq!(
        keys_rev(snapshot.range("a"..="app").unwrap()),
        bytes(&[b"a", b"app"])
    );
    assert_eq!(
        keys_rev(store.prefix("ap").unwrap()),
        bytes(&[b"apple", b"apz"])
    );
    store.close().unwrap();
}
