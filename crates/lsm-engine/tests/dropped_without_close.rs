//! An engine dropped without `close` releases the directory lock (its
//! `FileLock` goes with it), so the directory's next owner may delete the
//! obsolete tables a live iterator of the dropped engine still wants: the
//! iterator must report `Closed`, not corruption of a table that is
//! legitimately gone (it did, until the drop marked the open closed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use lsm_core::WriteBatch;
use lsm_engine::{Engine, LsmConfig};
use lsm_wal::SyncMode;

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(1 << 20)
        .wal_sync(SyncMode::Never)
        .num_levels(4)
        .table_target_bytes(LsmConfig::MIN_SIZE_BYTES)
        .block_bytes(256)
        .base_level_bytes(1 << 20)
        .l0_trigger(64)
        .max_open_tables(1)
        .block_cache_bytes(0)
        .build()
        .unwrap()
}

fn key(i: usize) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

fn put_all(engine: &Engine, n: usize, step: usize, from: usize, value: &[u8]) {
    let mut batch = WriteBatch::new();
    for i in (from..n).step_by(step) {
        batch.put(key(i), value);
    }
    engine.write(&batch).unwrap();
}

fn compact(engine: &Engine, level: usize) {
    let reservation = engine.reserve_compaction(Some(level)).unwrap();
    engine.run_reserved_compaction(reservation).unwrap();
}

#[test]
fn an_iterator_of_an_engine_dropped_without_close_reports_closed() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2000;
    let engine = Arc::new(Engine::open(config(dir.path())).unwrap());
    let mut freezer = engine.freezer().unwrap();
    for j in 0..4 {
        put_all(&engine, n, 4, j, b"old");
        freezer.freeze_waiting(true).unwrap();
        while engine.flush_oldest_immutable().unwrap() {}
    }
    compact(&engine, 0);
    let mut iter = engine
        .range(Bound::Unbounded, Bound::Unbounded, None)
        .unwrap();
    assert_eq!(iter.next().unwrap().unwrap().1, b"old".to_vec());
    put_all(&engine, n, 1, 0, b"new");
    freezer.freeze_waiting(true).unwrap();
    while engine.flush_oldest_immutable().unwrap() {}
    compact(&engine, 0);
    compact(&engine, 1);
    // Dropped, not closed: the lock goes with it.
    drop(freezer);
    let engine = Arc::try_unwrap(engine).expect("one engine reference");
    drop(engine);
    let reopened = Engine::open(config(dir.path())).unwrap();

    let err = loop {
        match iter.next() {
            Some(Ok(_)) => {}
            Some(Err(err)) => break err,
            None => panic!("the old iterator read everything"),
        }
    };
    assert!(
        err.is_closed(),
        "the old engine's iterator, after its next owner deleted its tables: {err}"
    );
    reopened.close().unwrap();
}
