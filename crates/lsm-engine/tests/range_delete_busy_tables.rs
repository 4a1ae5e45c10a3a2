//! Range deletes over tables a compaction has reserved.
//!
//! After every flush and compaction the engine collects range deletes
//! (`Engine::collect_range_tombstones`): it deletes the tables a tombstone
//! empties and then drops the tombstones no remaining table can hold older
//! data for. A table reserved by a compaction (busy) is never deleted
//! there, so it still holds data the tombstone hides, and the tombstone
//! must stay in the catalog with it. The second pass must therefore see
//! exactly the tables the first pass really deleted: a busy table counted
//! as deleted (for instance by testing "busy" after recording the table as
//! deleted, a reordering of the collection's conditions no other test
//! caught) drops the tombstone while the table is still live, and the
//! deleted keys come back, at once and after the reserved compaction
//! installs the table again.
//!
//! Checked for both kinds of reserved compaction: a trivial move (the busy
//! table moves to L1 unchanged) and a merge (its output, written from a
//! version that predates the tombstone, still holds the keys); and for the
//! other table the first pass must keep, one inside the range that also
//! holds versions newer than the tombstone (a compaction output that kept
//! the hidden versions for a snapshot).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use lsm_core::WriteBatch;
use lsm_engine::{Engine, Freezer, LsmConfig};
use lsm_wal::SyncMode;

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 << 10)
        .wal_sync(SyncMode::Never)
        .num_levels(4)
        .base_level_bytes(4096)
        .table_target_bytes(1 << 20)
        .l0_trigger(64)
        .build()
        .unwrap()
}

fn put(engine: &Engine, key: &str, value: &str) {
    let mut batch = WriteBatch::new();
    batch.put(key.as_bytes(), value.as_bytes());
    engine.write(&batch).unwrap();
}

fn delete_range(engine: &Engine, start: &str, end: &str) {
    let mut batch = WriteBatch::new();
    batch.delete_range(start, end);
    engine.write(&batch).unwrap();
}

/// Freezes the active memtable and flushes every frozen one.
fn flush(engine: &Engine, freezer: &mut Freezer) {
    freezer.freeze(true, |_, _| {}).unwrap();
    while engine.flush_oldest_immutable().unwrap() {}
}

fn keys(engine: &Engine) -> Vec<String> {
    engine
        .range(Bound::Unbounded, Bound::Unbounded, None)
        .unwrap()
        .map(|item| String::from_utf8(item.unwrap().0).unwrap())
        .collect()
}

/// Writes `m0..m9` into one L0 table, reserves a compaction of L0 (the
/// table is busy), deletes `[m, n)` and flushes the range delete: the busy
/// table is inside it and older, but must stay, and so must the tombstone.
/// Then runs the reservation and reopens; `m*` must stay deleted throughout.
fn check(merge: bool) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
    let mut freezer = engine.freezer().unwrap();
    if merge {
        // An L1 table the L0 table overlaps: the reserved compaction merges.
        put(&engine, "m5", "older");
        flush(&engine, &mut freezer);
        let moved = engine.reserve_compaction(Some(0)).unwrap();
        assert!(engine.run_reserved_compaction(moved).unwrap().trivial_move);
    }
    for i in 0..10 {
        put(&engine, &format!("m{i}"), "v");
    }
    flush(&engine, &mut freezer);

    let reservation = engine.reserve_compaction(Some(0)).unwrap();
    delete_range(&engine, "m", "n");
    put(&engine, "z", "kept");
    flush(&engine, &mut freezer);
    assert_eq!(
        keys(&engine),
        ["z"],
        "a range delete stopped hiding a table reserved by a compaction"
    );
    assert_eq!(engine.get(b"m3").unwrap(), None);

    let report = engine.run_reserved_compaction(reservation).unwrap();
    assert_eq!(report.trivial_move, !merge);
    assert_eq!(keys(&engine), ["z"], "after the reserved compaction");
    assert_eq!(engine.get(b"m7").unwrap(), None);

    drop(freezer);
    engine.close().unwrap();
    drop(engine);
    let engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(keys(&engine), ["z"], "after a reopen");
    engine.close().unwrap();
}

#[test]
fn a_busy_table_inside_a_range_delete_keeps_the_tombstone_trivial_move() {
    check(false);
}

#[test]
fn a_busy_table_inside_a_range_delete_keeps_the_tombstone_merge() {
    check(true);
}

/// A table inside a range delete that holds versions both older and newer
/// than it (written by a compaction while a snapshot from before the range
/// delete was live) is not deleted once the snapshot goes, so the
/// tombstone must stay to hide its older versions.
#[test]
fn a_table_inside_a_range_delete_with_newer_versions_keeps_the_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
    let mut freezer = engine.freezer().unwrap();
    for i in 0..10 {
        put(&engine, &format!("m{i}"), "old");
    }
    flush(&engine, &mut freezer);
    let snapshot = engine.snapshot().unwrap();
    delete_range(&engine, "m", "n");
    put(&engine, "m4", "new");
    flush(&engine, &mut freezer);
    // One L1 table over m0..m9: the old versions (the snapshot reads them)
    // and m4's new one.
    let merge = engine.reserve_compaction(Some(0)).unwrap();
    assert!(!engine.run_reserved_compaction(merge).unwrap().trivial_move);
    assert_eq!(
        engine.get_at(b"m3", snapshot.seq()).unwrap(),
        Some(b"old".to_vec())
    );
    drop(snapshot);
    // A flush collects range deletes again, now with no snapshot.
    put(&engine, "z", "kept");
    flush(&engine, &mut freezer);
    assert_eq!(
        keys(&engine),
        ["m4", "z"],
        "a range delete was dropped while a table still held what it hides"
    );
    drop(freezer);
    engine.close().unwrap();
    drop(engine);
    let engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(keys(&engine), ["m4", "z"], "after a reopen");
    engine.close().unwrap();
}
