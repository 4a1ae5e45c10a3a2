//! Recovery modes (PointInTime, AbsoluteConsistency,
//! TolerateTornTail) at the store level, with damage to real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lsm_core::OsFileSystem;
use lsm_store_sync::{Error, LsmConfig, RecoveryMode, SimpleLsmStore, SyncMode};
use lsm_wal::read_segment;

fn config(dir: &Path, mode: RecoveryMode) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .table_target_bytes(8 * 1024)
        .wal_segment_bytes(4 * 1024)
        .l0_trigger(100) // no compaction
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

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files(dir, "")
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn value(i: u32) -> String {
    format!("v{i}-{}", "x".repeat(40))
}

/// Puts keys `from..to`, one write each (write order = key order).
fn put_range(store: &SimpleLsmStore, from: u32, to: u32) {
    for i in from..to {
        store.put(key(i), value(i)).unwrap();
    }
}

fn contents(store: &SimpleLsmStore) -> BTreeMap<String, String> {
    store
        .range(..)
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
        })
        .collect()
}

/// The number of writes `n` whose effects `got` is, if it is the state
/// after a prefix of the writes `0..total` (each a distinct key); panics
/// with what is missing otherwise.
fn prefix_len(got: &BTreeMap<String, String>, total: u32) -> u32 {
    let n = got.len() as u32;
    let want: BTreeMap<String, String> = (0..n).map(|i| (key(i), value(i))).collect();
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && n <= total,
        "not a prefix: {} keys, missing {:?}.. ({} missing), beyond the prefix {:?}..",
        n,
        missing.iter().take(5).collect::<Vec<_>>(),
        missing.len(),
        extra.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(got, &want);
    n
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

fn segments_with_records(dir: &Path) -> Vec<PathBuf> {
    files(dir, ".wal")
        .into_iter()
        .filter(|p| !read_segment(&OsFileSystem, p).unwrap().records.is_empty())
        .collect()
}

fn flip_middle_record(segment: &Path) {
    let records = read_segment(&OsFileSystem, segment).unwrap().records;
    let middle = &records[records.len() / 2];
    let mut bytes = std::fs::read(segment).unwrap();
    bytes[(middle.offset + middle.framed_len / 2) as usize] ^= 0x40;
    std::fs::write(segment, &bytes).unwrap();
}

/// 100 writes flushed to a table (its flush is the manifest's last edit,
/// and it deleted the WAL segments it covered), then 30 more in the WAL.
fn store_after_flush(dir: &Path, mode: RecoveryMode) -> u32 {
    let store = SimpleLsmStore::open(config(dir, mode)).unwrap();
    put_range(&store, 0, 100);
    store.flush_memtable().unwrap();
    put_range(&store, 100, 130);
    store.close().unwrap();
    drop(store);
    130
}

/// Damage to the manifest's last record, an edit that had already taken
/// effect (the WAL segments it covered are deleted): corruption in every
/// mode. PointInTime is about the WAL: it must not take the WAL's missing
/// segments (deleted by the very edit that is damaged) for a cut point
/// and silently drop every acknowledged write since.
#[test]
fn damaged_durable_manifest_edit_is_corruption_in_every_recovery_mode() {
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let total = store_after_flush(dir.path(), mode);
        let manifest = manifest_path(dir.path());
        let dump = lsm_manifest::read_manifest(&OsFileSystem, dir.path()).unwrap();
        let last = dump.records.last().unwrap();
        assert!(last.edit.added.iter().any(|(level, _)| *level == 0));
        let mut bytes = std::fs::read(&manifest).unwrap();
        bytes[(last.offset + last.framed_bytes / 2) as usize] ^= 0x40;
        std::fs::write(&manifest, &bytes).unwrap();
        let before = snapshot(dir.path());

        match SimpleLsmStore::open(config(dir.path(), mode)) {
            Err(err) => {
                assert!(err.is_corruption(), "{mode:?}: {err:?}");
                assert_eq!(err.path(), Some(manifest.as_path()), "{mode:?}: {err}");
                assert_eq!(snapshot(dir.path()), before, "{mode:?}: open wrote");
            }
            Ok(store) => {
                let got = contents(&store);
                let wal_now: Vec<(PathBuf, u64)> = files(dir.path(), ".wal")
                    .into_iter()
                    .map(|p| {
                        let len = std::fs::metadata(&p).unwrap().len();
                        (p, len)
                    })
                    .collect();
                let n = got.len();
                panic!(
                    "{mode:?}: open succeeded after damage to a durable manifest edit; \
                     it holds {n} of {total} acknowledged writes; WAL segments before: {:?}, \
                     after: {wal_now:?}; quarantine: {:?}",
                    before
                        .iter()
                        .filter(|(p, _)| p.to_string_lossy().ends_with(".wal"))
                        .map(|(p, b)| (p.clone(), b.len()))
                        .collect::<Vec<_>>(),
                    std::fs::read_dir(dir.path().join("quarantine"))
                        .map(|d| d.map(|e| e.unwrap().file_name()).collect::<Vec<_>>())
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// PointInTime, damage in an older segment after a flush: the state is a
/// prefix holding at least the flushed writes; later writes reuse no
/// sequence number (a write after the reopen wins over every older one),
/// and a second open (any mode) gives the same state.
#[test]
fn point_in_time_damage_in_an_older_segment_gives_a_prefix_and_reopens_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path(), RecoveryMode::PointInTime)).unwrap();
    put_range(&store, 0, 100);
    store.flush_memtable().unwrap();
    put_range(&store, 100, 400);
    store.close().unwrap();
    drop(store);
    let segments = segments_with_records(dir.path());
    assert!(segments.len() >= 3, "{segments:?}");
    let older = &segments[1];
    flip_middle_record(older);

    let store = SimpleLsmStore::open(config(dir.path(), RecoveryMode::PointInTime)).unwrap();
    let got = contents(&store);
    let n = prefix_len(&got, 400);
    assert!((100..400).contains(&n), "prefix of {n}");
    // New writes after the cut: overwrite a flushed key and a replayed one,
    // and add new keys.
    store.put(key(0), "new-0").unwrap();
    store.put(key(n - 1), "new-last").unwrap();
    store.flush_memtable().unwrap();
    store.put(key(1), "new-1").unwrap();
    store.close().unwrap();
    drop(store);
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
        RecoveryMode::PointInTime,
    ] {
        let store = SimpleLsmStore::open(config(dir.path(), mode))
            .unwrap_or_else(|e| panic!("{mode:?}: second open after PointInTime: {e}"));
        assert_eq!(store.get(key(0)).unwrap().as_deref(), Some(&b"new-0"[..]));
        assert_eq!(store.get(key(1)).unwrap().as_deref(), Some(&b"new-1"[..]));
        assert_eq!(
            store.get(key(n - 1)).unwrap().as_deref(),
            Some(&b"new-last"[..])
        );
        assert_eq!(contents(&store).len() as u32, n, "{mode:?}");
        store.close().unwrap();
    }
}

/// A store whose WAL lost a middle segment (deleted), opened once with
/// PointInTime (a prefix, as the mode promises), then written to and
/// closed cleanly. Returns the prefix length.
fn point_in_time_after_missing_middle_segment(dir: &Path) -> u32 {
    let store = SimpleLsmStore::open(config(dir, RecoveryMode::PointInTime)).unwrap();
    put_range(&store, 0, 100);
    store.flush_memtable().unwrap();
    put_range(&store, 100, 400);
    store.close().unwrap();
    drop(store);
    let segments = segments_with_records(dir);
    assert!(segments.len() >= 3, "{segments:?}");
    std::fs::remove_file(&segments[1]).unwrap();
    for mode in [
        RecoveryMode::TolerateTornTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let err = SimpleLsmStore::open(config(dir, mode)).unwrap_err();
        assert!(err.is_corruption(), "{mode:?}: {err}");
    }
    let store = SimpleLsmStore::open(config(dir, RecoveryMode::PointInTime)).unwrap();
    let n = prefix_len(&contents(&store), 400);
    assert!(n > 100, "{n}");
    // Acknowledged (SyncMode::Always) writes after the recovery.
    store.put(key(0), "new").unwrap();
    store.put("after", "recovery").unwrap();
    store.close().unwrap();
    drop(store);
    n
}

/// After a PointInTime recovery, the next PointInTime open must keep the
/// writes acknowledged since: nothing in the log is damaged any more.
#[test]
fn point_in_time_second_open_after_missing_segment_keeps_writes_made_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    point_in_time_after_missing_middle_segment(dir.path());
    let wal_before: Vec<(PathBuf, u64)> = files(dir.path(), ".wal")
        .into_iter()
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect();
    let store = SimpleLsmStore::open(config(dir.path(), RecoveryMode::PointInTime)).unwrap();
    let wal_after: Vec<(PathBuf, u64)> = files(dir.path(), ".wal")
        .into_iter()
        .map(|p| {
            let len = std::fs::metadata(&p).unwrap().len();
            (p, len)
        })
        .collect();
    assert_eq!(
        store.get("after").unwrap().as_deref(),
        Some(&b"recovery"[..]),
        "acknowledged write after the first recovery lost; WAL before {wal_before:?} after {wal_after:?}"
    );
    assert_eq!(store.get(key(0)).unwrap().as_deref(), Some(&b"new"[..]));
}

/// After a PointInTime recovery the files hold exactly what was replayed
/// (docs/format/wal.md): the default mode opens them, no false alarm.
#[test]
fn point_in_time_recovery_leaves_a_log_the_default_mode_opens() {
    let dir = tempfile::tempdir().unwrap();
    let n = point_in_time_after_missing_middle_segment(dir.path());
    let store = SimpleLsmStore::open(config(dir.path(), RecoveryMode::TolerateTornTail))
        .unwrap_or_else(|e| panic!("reopen after a PointInTime recovery: {e}"));
    assert_eq!(store.get(key(0)).unwrap().as_deref(), Some(&b"new"[..]));
    assert_eq!(contents(&store).len() as u32, n + 1);
}

/// AbsoluteConsistency: a cleanly closed store reopens, again and again,
/// with writes, rotations and flushes between.
#[test]
fn absolute_consistency_reopens_a_cleanly_closed_store() {
    let dir = tempfile::tempdir().unwrap();
    let mode = RecoveryMode::AbsoluteConsistency;
    let mut next = 0;
    for round in 0..4 {
        let store = SimpleLsmStore::open(config(dir.path(), mode))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(prefix_len(&contents(&store), next), next);
        put_range(&store, next, next + 150);
        next += 150;
        if round % 2 == 1 {
            store.flush_memtable().unwrap();
        }
        store.close().unwrap();
    }
    // Sync mode Never (no zero-fill ahead) too.
    let cfg = |dir: &Path| {
        LsmConfig::builder(dir)
            .memtable_bytes(64 * 1024)
            .wal_segment_bytes(4 * 1024)
            .num_levels(4)
            .wal_sync(SyncMode::Never)
            .wal_recovery(mode)
            .build()
            .unwrap()
    };
    for round in 0..3 {
        let store =
            SimpleLsmStore::open(cfg(dir.path())).unwrap_or_else(|e| panic!("never {round}: {e}"));
        put_range(&store, next, next + 100);
        next += 100;
        store.close().unwrap();
    }
    let store = SimpleLsmStore::open(cfg(dir.path())).unwrap();
    assert_eq!(prefix_len(&contents(&store), next), next);
}

/// AbsoluteConsistency: a torn last record is a corruption error naming
/// the segment and offset, and open changes nothing.
#[test]
fn absolute_consistency_refuses_a_torn_tail_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SimpleLsmStore::open(config(dir.path(), RecoveryMode::AbsoluteConsistency)).unwrap();
    put_range(&store, 0, 50);
    drop(store); // no close: no sync mark
    let newest = segments_with_records(dir.path()).pop().unwrap();
    let records = read_segment(&OsFileSystem, &newest).unwrap().records;
    let last = records.last().unwrap();
    // Cut inside the last record (and so before the sync mark `drop`'s
    // close wrote after it): what a crash during that append leaves.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    file.set_len(last.offset + last.framed_len - 3).unwrap();
    drop(file);
    let before = snapshot(dir.path());
    let err =
        SimpleLsmStore::open(config(dir.path(), RecoveryMode::AbsoluteConsistency)).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert_eq!(err.path(), Some(newest.as_path()), "{err}");
    assert_eq!(err.offset(), Some(last.offset), "{err}");
    assert_eq!(snapshot(dir.path()), before);
    let store = SimpleLsmStore::open(config(dir.path(), RecoveryMode::TolerateTornTail)).unwrap();
    assert_eq!(prefix_len(&contents(&store), 50), 49);
}

/// Keep `Error` used (the match above names it through methods only).
#[allow(dead_code)]
fn _is_error(_: &Error) {}
