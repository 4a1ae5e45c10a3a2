//! A checkpoint is durable when it returns (`docs/durability.md`,
//! "Checkpoint"), also where hard links fail and its tables are copied:
//! each copy's data is fdatasynced before the checkpoint's manifest and
//! `CURRENT` name it, so a power loss right after `checkpoint` returns
//! leaves a checkpoint that opens with every write up to its sequence
//! number.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

fn config(dir: &Path, fs: &Arc<FaultyFileSystem>) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .wal_segment_bytes(32 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Always)
        .fs(Arc::clone(fs) as lsm_core::SharedFileSystem)
        .build()
        .unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

#[test]
fn a_copied_checkpoint_survives_a_power_loss_right_after_it_returns() {
    let root = tempfile::tempdir().unwrap();
    let source = root.path().join("store");
    let target = root.path().join("checkpoint");
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    // As across file systems: every table is copied, not linked.
    fs.fail_hard_links(true);
    let store = SimpleLsmStore::open(config(&source, &fs)).unwrap();
    let n = 2000;
    for i in 0..n {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    let info = store.checkpoint(&target).unwrap();
    assert!(info.copied > 0 && info.linked == 0, "{info:?}");
    // The power goes right after the checkpoint returned.
    std::mem::forget(store);
    fs.crash().unwrap();

    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let checkpoint = SimpleLsmStore::open(config(&target, &fs))
        .unwrap_or_else(|err| panic!("the checkpoint did not open after the power loss: {err}"));
    for i in 0..n {
        assert_eq!(
            checkpoint.get(key(i)).unwrap(),
            Some(format!("v{i}").into_bytes()),
            "{} missing from the checkpoint",
            key(i)
        );
    }
    checkpoint.close().unwrap();
}
