//! Recovery modes at the store level for `AsyncLsmStore`, with
//! damage to real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use lsm_core::OsFileSystem;
use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode};
use lsm_store_sync::RecoveryMode;
use lsm_wal::read_segment;

fn config(dir: &Path, mode: RecoveryMode) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .table_target_bytes(8 * 1024)
        .wal_segment_bytes(4 * 1024)
        .l0_trigger(100)
        .num_levels(4)
        .wal_sync(SyncMode::Always)
        .wal_recovery(mode)
        .build()
        .unwrap()
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn wal_sizes(dir: &Path) -> Vec<(PathBuf, u64)> {
    files(dir, ".wal")
        .into_iter()
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect()
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn value(i: u32) -> String {
    format!("v{i}-{}", "x".repeat(40))
}

fn put_range(store: &AsyncLsmStore, from: u32, to: u32) {
    for i in from..to {
        store.put(key(i), value(i)).unwrap();
    }
}

/// How many of the writes `0..total` (distinct keys, in order) the store
/// holds; panics unless they are a prefix.
fn prefix_len(store: &AsyncLsmStore, total: u32) -> u32 {
    let present: Vec<bool> = (0..total)
        .map(|i| match store.get(key(i)).unwrap() {
            Some(v) => {
                assert_eq!(v, value(i).as_bytes(), "{}", key(i));
                true
            }
            None => false,
        })
        .collect();
    let n = present.iter().take_while(|&&p| p).count();
    assert!(
        present[n..].iter().all(|&p| !p),
        "not a prefix: holds 0..{n}, then a hole, then {:?}",
        present[n..].iter().position(|&p| p).map(|i| i + n)
    );
    n as u32
}

fn segments_with_records(dir: &Path) -> Vec<PathBuf> {
    files(dir, ".wal")
        .into_iter()
        .filter(|p| !read_segment(&OsFileSystem, p).unwrap().records.is_empty())
        .collect()
}

fn manifest_path(dir: &Path) -> PathBuf {
    files(dir, "")
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .unwrap()
}

#[test]
fn async_damaged_durable_manifest_edit_is_corruption_under_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RecoveryMode::PointInTime;
    let store = AsyncLsmStore::open(config(dir.path(), mode)).unwrap();
    put_range(&store, 0, 100);
    store.flush_memtable().unwrap();
    put_range(&store, 100, 130);
    store.close().unwrap();
    drop(store);
    let manifest = manifest_path(dir.path());
    let mut bytes = std::fs::read(&manifest).unwrap();
    // Records: crc (4), length (4, LE), type (1), payload.
    let mut records = Vec::new();
    let mut at = 0usize;
    while at + 9 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        records.push((at, 9 + len));
        at += 9 + len;
    }
    assert_eq!(at, bytes.len());
    assert!(records.len() >= 2, "{records:?}");
    let (offset, framed) = *records.last().unwrap();
    bytes[offset + framed / 2] ^= 0x40;
    std::fs::write(&manifest, &bytes).unwrap();
    let before = wal_sizes(dir.path());
    // The default mode refuses it, naming the manifest.
    let err = AsyncLsmStore::open(config(dir.path(), RecoveryMode::TolerateTornTail)).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    match AsyncLsmStore::open(config(dir.path(), mode)) {
        Err(err) => assert!(err.is_corruption(), "{err}"),
        Ok(store) => {
            let n = prefix_len(&store, 130);
            panic!(
                "PointInTime open succeeded after damage to a durable manifest edit: holds {n} \
                 of 130 acknowledged writes; WAL before {before:?}, after {:?}",
                wal_sizes(dir.path())
            );
        }
    }
}

#[test]
fn async_point_in_time_second_open_after_missing_segment_keeps_writes_made_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RecoveryMode::PointInTime;
    let store = AsyncLsmStore::open(config(dir.path(), mode)).unwrap();
    put_range(&store, 0, 100);
    store.flush_memtable().unwrap();
    put_range(&store, 100, 400);
    store.close().unwrap();
    drop(store);
    let segments = segments_with_records(dir.path());
    assert!(segments.len() >= 3, "{segments:?}");
    std::fs::remove_file(&segments[1]).unwrap();
    let store = AsyncLsmStore::open(config(dir.path(), mode)).unwrap();
    let n = prefix_len(&store, 400);
    assert!(n > 100, "{n}");
    store.put("after", "recovery").unwrap();
    store.close().unwrap();
    drop(store);
    let before = wal_sizes(dir.path());
    let store = AsyncLsmStore::open(config(dir.path(), mode)).unwrap();
    assert_eq!(
        store.get("after").unwrap().as_deref(),
        Some(&b"recovery"[..]),
        "acknowledged write after the first recovery lost; WAL before {before:?} after {:?}",
        wal_sizes(dir.path())
    );
}

/// AbsoluteConsistency: a cleanly closed async store (rotations, a
/// prepared next segment, zero-filled tails) reopens, round after round.
#[test]
fn async_absolute_consistency_reopens_a_cleanly_closed_store() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RecoveryMode::AbsoluteConsistency;
    let mut next = 0;
    for round in 0..5 {
        let store = AsyncLsmStore::open(config(dir.path(), mode))
            .unwrap_or_else(|e| panic!("round {round}: {e}; WAL {:?}", wal_sizes(dir.path())));
        assert_eq!(prefix_len(&store, next + 1), next);
        // Enough to pass seven eighths of a segment and prepare the next.
        put_range(&store, next, next + 70 + round * 13);
        next += 70 + round * 13;
        if round == 2 {
            store.flush_memtable().unwrap();
        }
        store.close().unwrap();
    }
}
