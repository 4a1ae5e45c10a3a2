//! An open cut short at each of its file operations in turn
//! (`FaultyFileSystem::fail_after`), then a power loss
//! (`FaultyFileSystem::crash`): the next open must work and hold every
//! acknowledged write. Checks the order of open's repair steps
//! (`docs/durability.md`, "File operation order", rows "Open" and "New
//! manifest"): the new WAL segment is durable before the manifest names
//! it, `CURRENT` moves to the new manifest before the old one is deleted,
//! and old WAL segments are deleted only once the new manifest no longer
//! needs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn config(dir: &Path, fs: Option<&Arc<FaultyFileSystem>>) -> LsmConfig {
    let builder = LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .num_levels(4)
        .wal_sync(SyncMode::Always);
    match fs {
        Some(fs) => builder.fs(Arc::clone(fs) as lsm_core::SharedFileSystem),
        None => builder,
    }
    .build()
    .unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:04}")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A closed store holding keys 0..40: the first 20 in a table, the rest
/// only in the WAL (`flushed_all`: all 40 in tables, the WAL holding no
/// write the tables lack, so the open moves `wal_segment` and deletes
/// the old segments).
fn template(flushed_all: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path(), None)).unwrap();
    for i in 0..20 {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    store.flush_memtable().unwrap();
    for i in 20..40 {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    if flushed_all {
        store.flush_memtable().unwrap();
    }
    store.close().unwrap();
    dir
}

fn cut_open_at_every_operation(flushed_all: bool) {
    let template = template(flushed_all);
    let mut completed = false;
    for n in 0..200 {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let fs = FaultyFileSystem::new(OsFileSystem::shared());
        fs.fail_after(Some(n));
        // An open cut short fails; the one past the last operation does.
        if let Ok(store) = SimpleLsmStore::open(config(dir.path(), Some(&fs))) {
            completed = true;
            std::mem::forget(store);
        }
        fs.crash().unwrap();
        fs.fail_after(None);
        let store = SimpleLsmStore::open(config(dir.path(), None)).unwrap_or_else(|err| {
            panic!(
                "open cut short after {n} operations (flushed_all {flushed_all}), then a power \
                 loss: the store does not open: {err}"
            )
        });
        for i in 0..40 {
            assert_eq!(
                store.get(key(i)).unwrap(),
                Some(format!("v{i}").into_bytes()),
                "key {i} after the open was cut short at operation {n} (flushed_all {flushed_all})"
            );
        }
        store.close().unwrap();
        if completed {
            return;
        }
    }
    panic!("the open never completed");
}

#[test]
fn an_open_cut_short_at_every_operation_then_a_power_loss_keeps_every_write() {
    cut_open_at_every_operation(false);
}

#[test]
fn an_open_that_moves_wal_segment_cut_short_then_a_power_loss_keeps_every_write() {
    cut_open_at_every_operation(true);
}
