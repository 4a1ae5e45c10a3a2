//! `SimpleLsmStore` is a cloneable handle: many threads share clones of one
//! open store; `close` on any clone closes it for all; dropping the last
//! clone closes it and releases the directory lock at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::{Arc, Barrier};

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

const THREADS: u32 = 8;
const PER_THREAD: u32 = 300;

/// Eight threads, each with its own clone, write (puts, deletes, batches),
/// read their own writes back, take snapshots and flush, through enough
/// data for several memtable flushes and compactions. Every clone then
/// sees every thread's writes: one store, not eight.
#[test]
fn clones_share_one_store_across_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let start = Arc::new(Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    let key = format!("t{t}-{i:04}");
                    if i % 50 == 0 {
                        let mut batch = WriteBatch::new();
                        batch.put(key.as_bytes(), b"batched");
                        batch.put(format!("{key}-b").as_bytes(), b"batched");
                        store.write(&batch).unwrap();
                    } else {
                        store
                            .put(&key, format!("value-{t}-{i}-{}", "x".repeat(40)))
                            .unwrap();
                    }
                    assert!(store.get(&key).unwrap().is_some(), "read-your-writes");
                    if i % 7 == 0 {
                        store.delete(&key).unwrap();
                        assert_eq!(store.get(&key).unwrap(), None);
                    }
                    if i % 100 == 99 {
                        let snapshot = store.snapshot().unwrap();
                        let seen = snapshot.range(format!("t{t}-")..format!("t{t}."));
                        assert!(seen.unwrap().count() > 0);
                    }
                    if t == 0 && i == PER_THREAD / 2 {
                        store.flush_memtable().unwrap();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    // Per thread: every key not deleted (i % 7 != 0), plus the second key
    // of each batch (i % 50 == 0).
    let expected: usize = (0..PER_THREAD)
        .map(|i| usize::from(i % 7 != 0) + usize::from(i % 50 == 0))
        .sum();
    let other = store.clone();
    for t in 0..THREADS {
        let seen = other
            .range(format!("t{t}-")..format!("t{t}."))
            .unwrap()
            .count();
        assert_eq!(seen, expected, "thread {t}'s keys");
    }
    let stats = other.stats().unwrap();
    assert!(
        stats.flushes > 0,
        "several memtables were flushed: {stats:?}"
    );
    assert_eq!(stats.poisoned, None);
    drop(store);
    // `other` is still open: dropping one clone closes nothing.
    assert!(other.get("t0-0001").unwrap().is_some());
    other.close().unwrap();
}

/// `close` through one clone closes the store for every clone: their
/// reads, writes, syncs and snapshots fail with `Closed`, and a second
/// `close` through another clone is a no-op.
#[test]
fn close_on_any_clone_closes_every_clone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    store.put("a", "1").unwrap();
    let clones: Vec<SimpleLsmStore> = (0..3).map(|_| store.clone()).collect();
    let snapshot = clones[2].snapshot().unwrap();
    clones[1].close().unwrap();
    for clone in clones.iter().chain([&store]) {
        assert!(clone.get("a").unwrap_err().is_closed());
        assert!(clone.put("b", "2").unwrap_err().is_closed());
        assert!(clone.sync().unwrap_err().is_closed());
        assert!(clone.snapshot().unwrap_err().is_closed());
        assert!(clone.stats().unwrap_err().is_closed());
        clone.close().unwrap();
    }
    assert!(snapshot.get("a").unwrap_err().is_closed());
    // Closed means closed: the directory is free although clones live.
    let reopened = SimpleLsmStore::open(config(dir.path())).unwrap();
    assert_eq!(reopened.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(reopened.get("b").unwrap(), None);
    reopened.close().unwrap();
}

/// The lock is held while any clone lives (also one moved to another
/// thread) and released as soon as the last one is dropped, wherever that
/// happens: the directory reopens at once, with every write, which the
/// drop made durable (the store runs under `SyncMode::Never`).
#[test]
fn dropping_the_last_clone_releases_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let clones: Vec<SimpleLsmStore> = (0..4).map(|_| store.clone()).collect();
    drop(store);
    for (i, clone) in clones.iter().enumerate() {
        clone.put(format!("k{i}"), "v").unwrap();
    }
    let mut clones = clones.into_iter();
    let last = clones.next().unwrap();
    let droppers: Vec<_> = clones
        .map(|clone| std::thread::spawn(move || drop(clone)))
        .collect();
    for dropper in droppers {
        dropper.join().unwrap();
    }
    let err = SimpleLsmStore::open(config(dir.path())).unwrap_err();
    assert!(err.is_locked(), "one clone still holds the store: {err}");

    std::thread::spawn(move || drop(last)).join().unwrap();
    let reopened = SimpleLsmStore::open(config(dir.path())).unwrap();
    for i in 0..4 {
        assert_eq!(reopened.get(format!("k{i}")).unwrap(), Some(b"v".to_vec()));
    }
    reopened.close().unwrap();
}
