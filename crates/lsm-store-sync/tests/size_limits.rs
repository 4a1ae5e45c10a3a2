//! Writes inside every documented limit (key <= MAX_KEY_BYTES, batch <=
//! MAX_BATCH_BYTES, a valid config) can be flushed, and the store reopens:
//! a flush never fails on data the store accepted. (Found by a review; all
//! four failed before, the store poisoned and, in the last, unopenable.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};

/// 4200 keys of the largest size (64 KiB - 1) in one memtable: about
/// 270 MiB, within `memtable_bytes` (accepted up to 64 GiB). Each key is a
/// data block of its own, and the table's index holds every block's full
/// last key, so one table's index would pass `MAX_BLOCK_BYTES` (256 MiB):
/// the flush failed with `BlockTooLarge`, and the WAL replayed the same
/// memtable at every reopen. The flush now cuts its output in two.
#[test]
fn a_memtable_of_largest_keys_can_be_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Never)
        .memtable_bytes(320 << 20)
        .wal_segment_bytes(1 << 30)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    let mut key = vec![b'k'; lsm_core::MAX_KEY_BYTES];
    let len = key.len();
    let mut batch = WriteBatch::new();
    for i in 0u32..4200 {
        key[len - 4..].copy_from_slice(&i.to_be_bytes());
        batch.put(&key, b"");
        if batch.count() == 256 {
            store.write(&batch).unwrap();
            batch.clear();
        }
    }
    store.write(&batch).unwrap();
    let result = store.flush_memtable();
    assert!(
        result.is_ok(),
        "flushing accepted writes failed: {}",
        result.unwrap_err()
    );
    // And the store still takes writes, and reads every key back.
    store.put("after", "flush").unwrap();
    let stats = store.stats().unwrap();
    assert!(stats.levels[0].files >= 2, "{stats:?}");
    for i in [0u32, 2100, 4199] {
        key[len - 4..].copy_from_slice(&i.to_be_bytes());
        assert_eq!(store.get(&key).unwrap(), Some(Vec::new()), "key {i}");
    }
}

/// One batch of 600 range deletes whose bounds are keys of the largest
/// size: about 75 MiB, inside `MAX_BATCH_BYTES` (128 MiB), with the
/// default config. A flush moves a memtable's range tombstones into its
/// manifest edit, which is then larger than `MAX_EDIT_BYTES` (64 MiB): it
/// failed with `EditTooLarge`; it is now logged in parts.
#[test]
fn a_memtable_of_large_range_deletes_can_be_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    store.put("keep", "me").unwrap();
    let mut start = vec![b'a'; lsm_core::MAX_KEY_BYTES];
    let mut end = vec![b'b'; lsm_core::MAX_KEY_BYTES];
    let mut batch = WriteBatch::new();
    for i in 0u32..600 {
        start[..4].copy_from_slice(&i.to_be_bytes());
        end[..4].copy_from_slice(&i.to_be_bytes());
        batch.delete_range(&start, &end);
    }
    batch.check_limits().unwrap();
    // The write itself is accepted (its maintenance failure, if any,
    // poisons the store instead of failing the write).
    store.write(&batch).unwrap();
    let result = store.flush_memtable();
    assert!(
        result.is_ok(),
        "flushing accepted writes failed: {}",
        result.unwrap_err()
    );
    store.put("after", "flush").unwrap();
    assert_eq!(store.get("keep").unwrap(), Some(b"me".to_vec()));
}

/// Range tombstones live in the manifest's version until no table can hold
/// data they hide; a snapshot keeps them there. Two flushes of 300 range
/// deletes with the largest bounds (each edit about 39 MiB, under
/// `MAX_EDIT_BYTES`) leave a version whose tombstones alone are about
/// 78 MiB: the manifest snapshot that the second flush's rollover writes
/// of that version exceeds `MAX_EDIT_BYTES`; it failed, and now spans
/// several records.
#[test]
fn range_deletes_kept_by_a_snapshot_can_be_flushed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let make = |d: &std::path::Path| {
        LsmConfig::builder(d)
            .wal_sync(SyncMode::Never)
            .build()
            .unwrap()
    };
    let store = SimpleLsmStore::open(make(dir.path())).unwrap();
    // A table spanning every tombstone below, older than all of them.
    store.put([0u8], "low").unwrap();
    store.put([0xffu8], "high").unwrap();
    store.flush_memtable().unwrap();
    let snapshot = store.snapshot().unwrap();
    let mut start = vec![b'a'; lsm_core::MAX_KEY_BYTES];
    let mut end = vec![b'b'; lsm_core::MAX_KEY_BYTES];
    let mut outcome = Vec::new();
    for round in 0u32..2 {
        let mut batch = WriteBatch::new();
        for i in round * 300..(round + 1) * 300 {
            start[..4].copy_from_slice(&i.to_be_bytes());
            end[..4].copy_from_slice(&i.to_be_bytes());
            batch.delete_range(&start, &end);
        }
        store.write(&batch).unwrap();
        outcome.push(store.flush_memtable().map_err(|e| e.to_string()));
    }
    assert_eq!(snapshot.get([0u8]).unwrap(), Some(b"low".to_vec()));
    drop(snapshot);
    let closed = store.close().map_err(|e| e.to_string());
    drop(store);
    let reopened = SimpleLsmStore::open(make(dir.path())).map(|_| ());
    assert!(
        outcome.iter().all(Result::is_ok) && closed.is_ok() && reopened.is_ok(),
        "flushes: {outcome:?}, close: {closed:?}, reopen: {:?}",
        reopened.map_err(|e| e.to_string())
    );
}

/// The manifest's snapshot edit (written at every open and at each
/// rollover) records every live table with its smallest and largest key.
/// With the smallest accepted `memtable_bytes` / `table_target_bytes`
/// (4096) and keys of the largest size, each table holds one key, so 600
/// tables (about 40 MiB of data) make a snapshot of about 78 MiB, over
/// `MAX_EDIT_BYTES` (64 MiB): the rollover failed and poisoned the store,
/// and so did every open, which writes such a snapshot: the store could not
/// be opened again. The snapshot now spans several records.
#[test]
fn many_tables_with_long_keys_keep_the_store_writable_and_openable() {
    let dir = tempfile::tempdir().unwrap();
    let make = |d: &std::path::Path| {
        LsmConfig::builder(d)
            .wal_sync(SyncMode::Never)
            .memtable_bytes(4096)
            .table_target_bytes(4096)
            // Every table stays in L0 (keeps the test fast; compactions
            // with the default trigger fail the same way, slower).
            .l0_trigger(1024)
            .build()
            .unwrap()
    };
    let store = SimpleLsmStore::open(make(dir.path())).unwrap();
    let mut key = vec![b'k'; lsm_core::MAX_KEY_BYTES];
    let mut failed = None;
    for i in 0u32..600 {
        key[..4].copy_from_slice(&i.to_be_bytes());
        if let Err(err) = store.put(&key, b"v") {
            failed = Some(format!("put {i}: {err}"));
            break;
        }
    }
    let tables: usize = store.stats().unwrap().levels.iter().map(|l| l.files).sum();
    store.close().unwrap();
    drop(store);
    let reopened = SimpleLsmStore::open(make(dir.path())).map(|store| {
        key[..4].copy_from_slice(&599u32.to_be_bytes());
        store.get(&key).unwrap()
    });
    assert!(
        failed.is_none() && matches!(reopened, Ok(Some(_))),
        "{tables} tables; writes: {failed:?}; reopen: {:?}",
        reopened.map_err(|e| e.to_string())
    );
}
