//! Behaviour of `SimpleLsmStore`: layers, snapshots, limits, locking,
//! close, concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use lsm_core::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode, WriteBatch};

fn small_config(dir: &std::path::Path) -> LsmConfig {
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

fn collect(iter: lsm_store_sync::StoreIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    iter.collect::<Result<_, _>>().unwrap()
}

#[test]
fn range_merges_memtable_l0_and_deeper_levels_with_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    // Oldest layer: keys 0..100 pushed down to L1.
    for i in 0..100u32 {
        store.put(format!("k{i:03}"), format!("old{i}")).unwrap();
    }
    store.flush_memtable().unwrap();
    store.compact_level(0).unwrap();
    // L0: overwrite evens, delete multiples of 5.
    for i in (0..100u32).step_by(2) {
        store.put(format!("k{i:03}"), format!("new{i}")).unwrap();
    }
    for i in (0..100u32).step_by(5) {
        store.delete(format!("k{i:03}")).unwrap();
    }
    store.flush_memtable().unwrap();
    // Memtable: resurrect k010, delete k011.
    store.put("k010", "back").unwrap();
    store.delete("k011").unwrap();

    let stats = store.stats().unwrap();
    assert!(stats.levels[1].files > 0, "expected data in L1: {stats:?}");
    let got = collect(store.range("k000".."k020").unwrap());
    let mut want = Vec::new();
    for i in 0..20u32 {
        let k = format!("k{i:03}");
        let v = match i {
            10 => Some("back".to_string()),
            11 => None,
            _ if i % 5 == 0 => None,
            _ if i % 2 == 0 => Some(format!("new{i}")),
            _ => Some(format!("old{i}")),
        };
        if let Some(v) = v {
            want.push((k.into_bytes(), v.into_bytes()));
        }
    }
    assert_eq!(got, want);
    assert_eq!(store.get("k011").unwrap(), None);
    assert_eq!(store.get("k013").unwrap(), Some(b"old13".to_vec()));
}

#[test]
fn snapshot_is_repeatable_across_writes_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    store.put("a", "1").unwrap();
    store.put("b", "1").unwrap();
    let snapshot = store.snapshot().unwrap();
    store.put("a", "2").unwrap();
    store.delete("b").unwrap();
    store.put("c", "2").unwrap();
    store.flush_memtable().unwrap();
    store.compact_level(0).unwrap();
    store.compact_level(1).unwrap();
    assert_eq!(snapshot.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(snapshot.get("b").unwrap(), Some(b"1".to_vec()));
    assert_eq!(snapshot.get("c").unwrap(), None);
    assert_eq!(collect(snapshot.range(..).unwrap()).len(), 2);
    assert_eq!(store.get("a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get("b").unwrap(), None);
}

#[test]
fn big_and_empty_values_round_trip_through_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    let big: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    store.put("big", &big).unwrap();
    store.put("empty", b"").unwrap();
    store.put("", "empty key").unwrap();
    assert_eq!(store.get("big").unwrap().as_deref(), Some(&big[..]));
    store.flush_memtable().unwrap();
    assert_eq!(store.get("big").unwrap().as_deref(), Some(&big[..]));
    assert_eq!(store.get("empty").unwrap(), Some(Vec::new()));
    assert_eq!(store.get("").unwrap(), Some(b"empty key".to_vec()));
}

#[test]
fn size_limits_are_typed_errors_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    let err = store.put(vec![b'k'; MAX_KEY_BYTES + 1], "v").unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::KeyTooLarge { .. })),
        "{err}"
    );
    let err = store.put("k", vec![0u8; MAX_VALUE_BYTES + 1]).unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::ValueTooLarge { .. })),
        "{err}"
    );
    let err = store.write(&WriteBatch::new()).unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::EmptyBatch)),
        "{err}"
    );
    assert_eq!(store.stats().unwrap().last_seq, 0);
    store.put(vec![b'k'; MAX_KEY_BYTES], "max key ok").unwrap();
}

#[test]
fn second_open_of_same_directory_is_locked_until_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    let err = SimpleLsmStore::open(small_config(dir.path())).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.is_locked() && !err.is_poisoned() && !err.is_corruption());
    assert_eq!(err.path(), Some(dir.path()));
    assert!(err.to_string().contains("locked"));
    drop(store);
    SimpleLsmStore::open(small_config(dir.path())).unwrap();
}

#[test]
fn calls_after_close_return_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    store.put("a", "1").unwrap();
    store.close().unwrap();
    assert!(matches!(store.put("a", "2"), Err(Error::Closed)));
    assert!(matches!(store.get("a"), Err(Error::Closed)));
    assert!(matches!(store.range(..), Err(Error::Closed)));
    assert!(matches!(store.flush_memtable(), Err(Error::Closed)));
    store.close().unwrap();
}

#[test]
fn invalid_level_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    assert!(matches!(
        store.compact_level(3),
        Err(Error::InvalidLevel { level: 3, max: 2 })
    ));
    store.compact_level(2).unwrap();
}

#[test]
fn sequence_numbers_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    let mut last = 0;
    for i in 0..500u32 {
        let seq = store.put(format!("k{i}"), [0u8; 64]).unwrap();
        assert!(seq > last);
        last = seq;
    }
    drop(store);
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    assert!(store.put("after", "reopen").unwrap() > last);
    assert_eq!(store.get("k499").unwrap(), Some(vec![0u8; 64]));
}

#[test]
fn flushed_wal_segments_and_compacted_tables_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    for round in 0..20u32 {
        for i in 0..200u32 {
            store.put(format!("k{i:04}"), format!("v{round}")).unwrap();
        }
    }
    store.flush_memtable().unwrap();
    let stats = store.stats().unwrap();
    assert!(stats.compactions > 0);
    assert!(stats.wal_segments <= 2, "old WAL segments kept: {stats:?}");
    let sst_files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".sst")
        })
        .count();
    assert_eq!(
        sst_files,
        stats.total_files(),
        "obsolete tables left on disk"
    );
}

#[test]
fn many_threads_write_and_read_then_everything_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SimpleLsmStore::open(small_config(dir.path())).unwrap());
    let writers = 6;
    let per_writer = 1500u32;
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for r in 0..2 {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        let reads = Arc::clone(&reads);
        readers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // A value, once written, is never replaced by anything else
                // than its own writer's value, so a read sees it or nothing.
                let k = format!("w{r}-{:05}", reads.load(Ordering::Relaxed) % 1000);
                if let Some(v) = store.get(&k).unwrap() {
                    assert_eq!(v, k.as_bytes());
                }
                // A scan racing the writers and flushes yields only
                // writer 0's keys, in strictly increasing order, without
                // errors, each with its own key as value.
                let page: Vec<(Vec<u8>, Vec<u8>)> = store
                    .range("w0".."w1")
                    .unwrap()
                    .take(50)
                    .collect::<Result<_, _>>()
                    .unwrap();
                assert!(page.iter().all(|(k, v)| k.starts_with(b"w0-") && k == v));
                assert!(page.windows(2).all(|w| w[0].0 < w[1].0));
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut handles = Vec::new();
    for w in 0..writers {
        let store = Arc::clone(&store);
        handles.push(std::thread::spawn(move || {
            for i in 0..per_writer {
                let k = format!("w{w}-{i:05}");
                store.put(&k, &k).unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    for w in 0..writers {
        for i in 0..per_writer {
            let k = format!("w{w}-{i:05}");
            assert_eq!(
                store.get(&k).unwrap().as_deref(),
                Some(k.as_bytes()),
                "missing {k}"
            );
        }
    }
    let all = collect(store.range(..).unwrap());
    assert_eq!(all.len(), (writers * per_writer) as usize);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn reads_and_iterators_survive_concurrent_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SimpleLsmStore::open(small_config(dir.path())).unwrap());
    for i in 0..2000u32 {
        store.put(format!("k{i:05}"), format!("v{i}")).unwrap();
    }
    // An iterator opened before many compactions still reads its files.
    let early = store.range(..).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut checked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for i in (0..2000u32).step_by(97) {
                    let v = store.get(format!("k{i:05}")).unwrap();
                    assert!(v.is_some(), "k{i:05} vanished during compaction");
                    checked += 1;
                }
                let n = store
                    .range("k00100".."k00200")
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap()
                    .len();
                assert_eq!(n, 100);
            }
            checked
        })
    };
    for round in 0..6u32 {
        for i in 0..2000u32 {
            store
                .put(format!("k{i:05}"), format!("v{i}-{round}"))
                .unwrap();
        }
        store.compact_level(0).unwrap();
        store.compact_level(1).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let early: Vec<_> = early.collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(early.len(), 2000);
    assert_eq!(early[5].1, b"v5");
    assert!(store.stats().unwrap().compactions > 0);
}

#[test]
fn reopening_without_new_writes_does_not_accumulate_wal_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    store.put("a", "1").unwrap();
    store.flush_memtable().unwrap();
    drop(store);
    for _ in 0..5 {
        let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
        assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
        drop(store);
    }
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".wal")
        })
        .count();
    assert_eq!(segments, 1, "empty WAL segments piled up across opens");
    // Unflushed writes in the WAL are kept across opens.
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    store.put("b", "2").unwrap();
    drop(store);
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    drop(store);
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store.get("b").unwrap(), Some(b"2".to_vec()));
}

/// A write that fills the memtable freezes, flushes and compacts on its own
/// thread: each such write is one stall, as long as its maintenance, and
/// explicit flushes are not stalls. The dashboard ratios follow the
/// counters.
#[test]
fn inline_maintenance_counts_as_write_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    let value = "v".repeat(100);
    let mut maintenance_writes = 0u64;
    for i in 0..2000u32 {
        let before = store.stats().unwrap().flushes;
        store.put(format!("k{i:05}"), &value).unwrap();
        if store.stats().unwrap().flushes > before {
            maintenance_writes += 1;
        }
    }
    let stats = store.stats().unwrap();
    assert!(stats.flushes >= 5, "{stats:?}");
    assert_eq!(
        stats.write_stalls, maintenance_writes,
        "one per flushing write"
    );
    assert!(stats.write_stall_nanos > 0);
    store.flush_memtable().unwrap();
    assert_eq!(store.stats().unwrap().write_stalls, stats.write_stalls);

    let amplification = stats.write_amplification().unwrap();
    let expected = (stats.wal_bytes_written
        + stats.flush_bytes_written
        + stats.compaction_bytes_written) as f64
        / stats.user_bytes_written as f64;
    assert_eq!(amplification, expected);
    assert!(
        amplification > 1.0,
        "WAL and tables both count: {amplification}"
    );
    assert!(
        stats.wal_syncs >= stats.flushes,
        "a rotation syncs: {stats:?}"
    );
}
