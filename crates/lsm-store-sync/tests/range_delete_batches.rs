//! A batch of many range deletes, well inside `MAX_BATCH_BYTES`, is
//! added to the memtable's range-tombstone set at once, and a `get` asks
//! each layer's set rather than merging them all. (Found by a review, when
//! the set was fragmented: each range delete of a batch rebuilt the whole
//! set, and every
//! `get` merged every range delete of the store once two layers held any.)
//! The time limits catch complexity, not speed: each is far above what
//! the fixed code takes and below what the old code took.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};

/// Runs `f` on a thread; fails the test if it takes longer than `limit`.
fn within(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic)
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {limit:?} (hang)")
        }
    }
}

fn store(dir: &std::path::Path) -> SimpleLsmStore {
    let config = LsmConfig::builder(dir)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    SimpleLsmStore::open(config).unwrap()
}

/// The baseline: 20,000 point deletes in one batch take well under a second.
#[test]
fn a_batch_of_20k_point_deletes_is_fast() {
    within(Duration::from_secs(30), || {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut batch = WriteBatch::new();
        for i in 0..20_000u32 {
            batch.delete(format!("k{i:06}"));
        }
        let started = Instant::now();
        store.write(&batch).unwrap();
        eprintln!("20k point deletes: {:?}", started.elapsed());
    });
}

/// 20,000 disjoint range deletes in one batch (about 0.5 MiB, far below
/// the batch limit): each one rebuilt the memtable's whole fragmented set
/// (a sort of every tombstone so far), so the write was quadratic (2,000:
/// 1.4 s; 20,000 did not finish in 30 s) and held the write gate for all
/// of it, and WAL replay paid it again at every open. Now the batch is
/// added as one run of the set.
#[test]
fn a_batch_of_20k_range_deletes_is_not_quadratic() {
    within(Duration::from_secs(30), || {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut batch = WriteBatch::new();
        for i in 0..20_000u32 {
            batch.delete_range(format!("k{i:06}a"), format!("k{i:06}b"));
        }
        let started = Instant::now();
        store.write(&batch).unwrap();
        eprintln!("20k range deletes: {:?}", started.elapsed());
    });
}

/// 2,000 nested range deletes (`[k_i, z)` for each i): a fragmented set
/// holds, per fragment, the sequence numbers of every tombstone covering
/// it (as RocksDB's does), so it was quadratic in them (2 M sequence
/// numbers here), and rebuilt once per tombstone, cubic (1,000 took
/// 5.2 s). The segment tree is `O(n log n)` for any overlaps.
#[test]
fn a_batch_of_2k_nested_range_deletes_builds_the_set_once() {
    within(Duration::from_secs(30), || {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let mut batch = WriteBatch::new();
        for i in 0..2_000u32 {
            batch.delete_range(format!("k{i:06}"), "z");
        }
        let started = Instant::now();
        store.write(&batch).unwrap();
        eprintln!("2k nested range deletes: {:?}", started.elapsed());
        assert_eq!(store.get("k000500").unwrap(), None);
    });
}

/// README ("Range deletes"): a `get` pays one lookup in each layer's
/// set, not a scan of all range deletes. Once two layers held
/// range deletes (the tables' and the active memtable's), every `get`
/// merged and re-fragmented all of them: 200 gets went from 0.43 ms to
/// 325-720 ms with 2,000 flushed range deletes.
#[test]
fn a_get_does_not_rebuild_every_range_delete() {
    within(Duration::from_secs(120), || {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.put([0u8], "low").unwrap();
        store.put([0xffu8], "high").unwrap();
        store.flush_memtable().unwrap();
        // Keeps the flushed range deletes in the version.
        let _snapshot = store.snapshot().unwrap();
        let mut batch = WriteBatch::new();
        for i in 0..2_000u32 {
            batch.delete_range(format!("k{i:06}a"), format!("k{i:06}b"));
        }
        store.write(&batch).unwrap();
        store.flush_memtable().unwrap();
        let gets = |store: &SimpleLsmStore| {
            let started = Instant::now();
            for i in 0..200u32 {
                assert_eq!(store.get(format!("k{i:06}a")).unwrap(), None);
            }
            started.elapsed()
        };
        let one_layer = gets(&store);
        // One more range delete, in the memtable: now two layers hold some.
        store.delete_range("x".."y").unwrap();
        let two_layers = gets(&store);
        eprintln!(
            "200 gets: {one_layer:?} with one layer of range deletes, {two_layers:?} with two"
        );
        assert!(
            two_layers < one_layer * 10 + Duration::from_millis(50),
            "200 gets took {two_layers:?} once the memtable held one range delete, \
             {one_layer:?} before"
        );
    });
}
