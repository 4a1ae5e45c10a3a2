//! A compaction that reads a damaged table reports the damage as a typed
//! corruption error naming the table and the offset, whichever way the
//! failure reaches the caller: `compact_level(level, true)`, the `KvStore`
//! trait's `compact_level` (as `SimpleLsmStore` reports it), and the
//! job's status. Found by a review: the job's failure was flattened into a
//! string (`CompactionFailed { reason }`), so `is_corruption()` was false
//! and `path()` / `offset()` were `None` for damage found by a compaction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::path::{Path, PathBuf};

use lsm_store_async::{AsyncLsmStore, Error, JobState, KvError, KvStore, LsmConfig};

fn config(dir: &Path) -> LsmConfig {
    common::small(dir)
        .memtable_bytes(64 * 1024)
        .table_target_bytes(64 * 1024)
        .l0_trigger(100) // no automatic compaction
        .build()
        .unwrap()
}

/// Two overlapping L0 tables; the older one gets a byte of its first data
/// block flipped. Returns the damaged table's path.
fn store_with_a_damaged_l0_table(dir: &Path) -> PathBuf {
    let store = AsyncLsmStore::open(config(dir)).unwrap();
    for round in 0..2 {
        for i in 0..200 {
            store
                .put(format!("key{i:04}"), format!("value-{round}-{i:04}"))
                .unwrap();
        }
        store.flush_memtable().unwrap();
    }
    store.close().unwrap();
    let mut tables: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    tables.sort();
    assert_eq!(tables.len(), 2, "{tables:?}");
    let damaged = tables[0].clone();
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[20] ^= 0x5a;
    std::fs::write(&damaged, bytes).unwrap();
    damaged
}

fn assert_names_damage(what: &str, err: &Error, damaged: &Path) {
    assert!(err.is_corruption(), "{what}: {err:?} is not a corruption");
    assert_eq!(err.path(), Some(damaged), "{what}: {err:?}");
    assert!(err.offset().is_some(), "{what}: no offset in {err:?}");
    // The same through the trait every store implements.
    assert!(KvError::is_corruption(err), "{what}: {err:?}");
    assert_eq!(KvError::path(err), Some(damaged), "{what}: {err:?}");
}

#[test]
fn damage_found_by_a_waited_compaction_is_typed_corruption_naming_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let damaged = store_with_a_damaged_l0_table(dir.path());

    let store = AsyncLsmStore::open(config(dir.path())).unwrap();
    let err = store.compact_level(0, true).unwrap_err();
    assert!(
        matches!(err, Error::CompactionFailed { .. }),
        "the job's own failure: {err:?}"
    );
    assert_names_damage("compact_level(0, true)", &err, &damaged);
    let Error::CompactionFailed { job, .. } = &err else {
        unreachable!()
    };
    let status = store.compaction_status(*job).unwrap();
    assert!(matches!(status.state, JobState::Failed(_)), "{status:?}");
    // The store is poisoned by it, as documented.
    assert!(store.put("after", "x").unwrap_err().is_poisoned());
    drop(store);

    // Through the `KvStore` trait, as code generic over both stores sees it.
    let dir = tempfile::tempdir().unwrap();
    let damaged = store_with_a_damaged_l0_table(dir.path());
    let store = AsyncLsmStore::open(config(dir.path())).unwrap();
    let err = KvStore::compact_level(&store, 0).unwrap_err();
    assert_names_damage("KvStore::compact_level", &err, &damaged);
    drop(store);

    // The sync store reports the same damage that way.
    let dir = tempfile::tempdir().unwrap();
    let damaged = store_with_a_damaged_l0_table(dir.path());
    let store = lsm_store_sync::SimpleLsmStore::open(config(dir.path())).unwrap();
    let err = KvStore::compact_level(&store, 0).unwrap_err();
    assert!(err.is_corruption(), "sync store: {err:?}");
    assert_eq!(err.path(), Some(damaged.as_path()), "sync store: {err:?}");
}
