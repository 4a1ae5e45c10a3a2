//! Iterators of a closed `AsyncLsmStore`: every move after `close` (from
//! either end, owned, pinned or borrowed, of the store, a snapshot or a
//! keyspace) yields `Closed` and ends the iterator, also once the directory
//! was reopened and the new store deleted the tables the old iterator
//! still held. The twin of `lsm-store-sync/tests/closed_iterators.rs`
//! (which also covers a move racing the close).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use lsm_store_async::{AsyncLsmStore, Error, LsmConfig, SyncMode};

/// Small tables, one open table at a time and no block cache: an iterator
/// opens each level table (again) when it reaches it.
fn small_tables_config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .table_target_bytes(4096)
        .base_level_bytes(1 << 20)
        .block_bytes(256)
        .l0_trigger(64)
        .num_levels(4)
        .max_open_tables(1)
        .block_cache_bytes(0)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn key(i: usize) -> String {
    format!("key{i:05}")
}

fn visible(store: &AsyncLsmStore, seq: u64) {
    assert!(store.wait_for_seq(seq, Duration::from_secs(30)));
}

fn table_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sst"))
        .collect()
}

/// The first item is `Closed`, and the iterator ends after it.
fn assert_closed_then_ends<T: std::fmt::Debug>(
    what: &str,
    mut next: impl FnMut() -> Option<Result<T, Error>>,
) {
    match next() {
        Some(Err(err)) if err.is_closed() => {}
        other => panic!("{what}: after close the iterator yielded {other:?}, want Closed"),
    }
    assert!(
        next().is_none(),
        "{what}: the iterator went on after Closed"
    );
}

#[test]
fn every_kind_of_iterator_made_before_close_returns_closed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(small_tables_config(dir.path())).unwrap();
    let fruit = store.keyspace("fruit").unwrap();
    let mut last = 0;
    for i in 0..300 {
        store.put(key(i), "v").unwrap();
        last = fruit.put(key(i), "f").unwrap();
    }
    visible(&store, last);
    store.flush_memtable().unwrap();
    visible(&store, store.put(key(1000), "in the memtable").unwrap());
    let snapshot = store.snapshot().unwrap();

    let mut forward = store.iter().unwrap();
    assert!(forward.next().unwrap().is_ok());
    let mut backward = store.iter().unwrap();
    assert!(backward.next_back().unwrap().is_ok());
    let mut borrowed = store.iter().unwrap();
    assert!(borrowed.next_borrowed().unwrap().is_ok());
    let mut pinned = store.iter().unwrap().pinned();
    let (_, kept_value) = pinned.next_back().unwrap().unwrap();
    let mut of_snapshot = snapshot.range(key(10)..).unwrap();
    assert!(of_snapshot.next().unwrap().is_ok());
    let mut of_keyspace = fruit.iter().unwrap();
    assert!(of_keyspace.next_back().unwrap().is_ok());
    let mut unmoved = store.prefix("key").unwrap();

    store.close().unwrap();

    assert_closed_then_ends("next", || forward.next());
    assert_closed_then_ends("next_back", || backward.next_back());
    match borrowed.next_borrowed() {
        Some(Err(err)) if err.is_closed() => {}
        other => panic!("next_borrowed: after close yielded {other:?}, want Closed"),
    }
    assert!(borrowed.next_borrowed().is_none());
    assert_closed_then_ends("pinned next", || pinned.next());
    assert_closed_then_ends("snapshot range", || of_snapshot.next());
    assert_closed_then_ends("keyspace iter", || of_keyspace.next_back());
    assert_closed_then_ends("never moved", || unmoved.next());
    assert_eq!(kept_value, "in the memtable");
}

/// The reviewer's case: an iterator over L1 tables that a rewrite and a
/// compaction made obsolete; close, reopen (whose recovery deletes them),
/// then move the old iterator. Before the fix it kept reading and failed
/// halfway with an I/O `NotFound` on a deleted table.
#[test]
fn a_live_iterator_returns_closed_after_close_and_a_reopen_that_deleted_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(small_tables_config(dir.path())).unwrap();
    let n = 2000;
    for j in 0..4 {
        let mut last = 0;
        for i in (j..n).step_by(4) {
            last = store.put(key(i), "old").unwrap();
        }
        visible(&store, last);
        store.flush_memtable().unwrap();
    }
    store.compact_level(0, true).unwrap();
    let l1 = store.stats().unwrap().levels[1].files;
    assert!(l1 >= 4, "want several L1 tables, got {l1}");
    let old_tables = table_names(dir.path());
    let mut iter = store.iter().unwrap();
    assert_eq!(
        iter.next().unwrap().unwrap(),
        (key(0).into_bytes(), b"old".to_vec())
    );
    let mut last = 0;
    for i in 0..n {
        last = store.put(key(i), "new").unwrap();
    }
    visible(&store, last);
    store.flush_memtable().unwrap();
    store.compact_level(0, true).unwrap();
    store.compact_level(1, true).unwrap();
    store.close().unwrap();

    let reopened = AsyncLsmStore::open(small_tables_config(dir.path())).unwrap();
    let left = table_names(dir.path());
    assert!(
        old_tables.is_disjoint(&left),
        "the reopen kept some of the old tables: {old_tables:?} / {left:?}"
    );
    assert_closed_then_ends("old iterator", || iter.next());
    assert_eq!(reopened.get(key(7)).unwrap(), Some(b"new".to_vec()));
    reopened.close().unwrap();
}
