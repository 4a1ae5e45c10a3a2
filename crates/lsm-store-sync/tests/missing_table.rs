//! A table file deleted behind an open store's back: a get or a scan that
//! needs it fails with an error for which `is_corruption()` is true,
//! naming the file at offset 0 (as open reports a listed table that is
//! missing), not a plain I/O `NotFound`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};

/// One open table at a time and no block cache: a read opens the table it
/// needs unless it is the one open.
fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .table_target_bytes(4096)
        .block_bytes(256)
        .num_levels(4)
        .max_open_tables(1)
        .block_cache_bytes(0)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn key(i: usize) -> String {
    format!("key{i:05}")
}

fn table_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "sst"))
        .collect();
    paths.sort();
    paths
}

fn assert_missing_table(what: &str, err: &Error, deleted: &[PathBuf]) {
    assert!(
        err.is_corruption() && !err.is_closed(),
        "{what}: a deleted table was reported as {err:?}, want corruption"
    );
    let path = err.path().map(Path::to_path_buf);
    assert!(
        path.as_ref().is_some_and(|p| deleted.contains(p)),
        "{what}: the error names {path:?}, not a deleted table: {err}"
    );
    assert_eq!(err.offset(), Some(0), "{what}: {err}");
    assert!(err.to_string().contains("missing"), "{what}: {err}");
}

#[test]
fn a_table_deleted_while_the_store_is_open_is_corruption_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1000;
    {
        let store = SimpleLsmStore::open(config(dir.path())).unwrap();
        // Four overlapping L0 tables, merged into many small L1 ones.
        for j in 0..4 {
            for i in (j..n).step_by(4) {
                store.put(key(i), "v").unwrap();
            }
            store.flush_memtable().unwrap();
        }
        store.compact_level(0).unwrap();
        store.close().unwrap();
    }
    // Reopened: no table is open yet but perhaps the one the keyspace
    // catalog's read touched; with `max_open_tables(1)` every read of
    // another table opens it.
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let snapshot = store.snapshot().unwrap();
    let deleted = table_paths(dir.path());
    assert!(deleted.len() >= 4, "want several tables: {deleted:?}");
    for path in &deleted {
        std::fs::remove_file(path).unwrap();
    }

    let err = (0..n)
        .find_map(|i| store.get(key(i)).err())
        .expect("every get succeeded with every table deleted");
    assert_missing_table("get", &err, &deleted);
    let err = (0..n)
        .find_map(|i| snapshot.get(key(i)).err())
        .expect("every snapshot get succeeded");
    assert_missing_table("snapshot get", &err, &deleted);
    let err = match store.iter() {
        Err(err) => err,
        Ok(iter) => iter
            .filter_map(Result::err)
            .next()
            .expect("a scan over deleted tables succeeded"),
    };
    assert_missing_table("scan", &err, &deleted);
    let err = store
        .iter()
        .and_then(|iter| iter.rev().find_map(Result::err).map_or(Ok(()), Err))
        .unwrap_err();
    assert_missing_table("backward scan", &err, &deleted);

    // Once closed, a read reports the close, not the damage.
    store.close().unwrap();
    assert!(store.get(key(0)).unwrap_err().is_closed());
    assert!(snapshot.get(key(0)).unwrap_err().is_closed());
}
