//! `ReadOnlyStore::stats` reports the tree's shape as a store opened on
//! the same files with the same configuration does: per-level tables,
//! bytes and scores, and `pending_compaction_bytes`, the picker's estimate
//! of the bytes compactions must still rewrite. That estimate is a gauge of
//! the shape on disk, not a counter of work since open, so a read-only
//! open has no reason to report 0 for it; `lsm stats --json` prints this
//! struct ("every field of `StoreStats`", docs/cli.md), and a 0 there says
//! "the tree is in shape" next to a level scoring 3.0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use lsm_store_sync::{LsmConfig, ReadOnlyStore, SimpleLsmStore, SyncMode};

fn config(dir: &Path, l0_trigger: usize) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .l0_trigger(l0_trigger)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

#[test]
fn read_only_stats_report_the_pending_compaction_bytes_of_the_shape_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    // Six L0 tables, written with a trigger high enough that none is
    // compacted.
    let store = SimpleLsmStore::open(config(dir.path(), 64)).unwrap();
    for round in 0..6 {
        for i in 0..50 {
            store.put(format!("k{round}{i:03}"), "value").unwrap();
        }
        store.flush_memtable().unwrap();
    }
    store.close().unwrap();
    drop(store);

    // Under a trigger of 2, L0 is due (score 3).
    let read_only = ReadOnlyStore::open(config(dir.path(), 2))
        .unwrap()
        .stats()
        .unwrap();
    let store = SimpleLsmStore::open(config(dir.path(), 2)).unwrap();
    let opened = store.stats().unwrap();
    store.close().unwrap();

    assert_eq!(opened.levels[0].files, 6, "{opened:?}");
    assert!(opened.levels[0].score >= 1.0, "{opened:?}");
    assert!(opened.pending_compaction_bytes > 0, "{opened:?}");
    assert_eq!(read_only.levels, opened.levels, "the same shape");
    assert_eq!(
        read_only.pending_compaction_bytes, opened.pending_compaction_bytes,
        "read-only stats: {read_only:?}"
    );
}
