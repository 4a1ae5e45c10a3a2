//! `close` releases the directory lock at once, even while snapshots and
//! iterators of the closed store are alive: another open of the directory,
//! in this process or in a child process, succeeds right after `close`.
//! Reads through the old handles return `Closed` (or still-valid data),
//! never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};

const CHILD_DIR_ENV: &str = "LSM_CLOSE_CHILD_DIR";
/// Makes 600 values span several 16 KiB memtables (tables, compactions).
const PAD: &str = "................................................................";

fn config(dir: &std::path::Path) -> LsmConfig {
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

fn fill(store: &SimpleLsmStore, prefix: &str, n: u32) {
    for i in 0..n {
        store
            .put(
                format!("{prefix}{i:04}"),
                format!("{prefix}-value-{i}-{PAD}"),
            )
            .unwrap();
    }
}

#[test]
fn close_releases_the_lock_while_a_snapshot_and_an_iterator_are_alive() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    fill(&store, "a", 600);
    assert!(store.stats().unwrap().flushes >= 2, "no tables to read");
    let snapshot = store.snapshot().unwrap();
    let mut iter = store.range(..).unwrap();
    assert!(iter.next().unwrap().is_ok());
    store.close().unwrap();

    // The old handles are alive; the directory is free anyway.
    let second = SimpleLsmStore::open(config(dir.path())).unwrap();
    assert_eq!(
        second.get("a0599").unwrap(),
        Some(format!("a-value-599-{PAD}").into_bytes()),
        "the reopened store lost a write"
    );
    // The new owner rewrites and compacts the tree (deleting old tables)
    // while the old iterator and snapshot still exist.
    fill(&second, "a", 600);
    second.compact_level(0).unwrap();
    second.compact_level(1).unwrap();
    assert!(second.stats().unwrap().compactions > 0);

    assert!(matches!(store.put("x", "y"), Err(Error::Closed)));
    assert!(matches!(snapshot.get("a0001"), Err(Error::Closed)));
    assert!(matches!(snapshot.range(..), Err(Error::Closed)));
    // The iterator made before close holds its own view: it yields items
    // or errors, but never panics.
    let rest: Vec<_> = iter.by_ref().collect();
    assert!(rest.len() <= 600);
    drop((snapshot, iter));
    second.close().unwrap();
    drop(store);
}

#[test]
fn closing_the_old_handle_again_leaves_the_new_owners_lock_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    store.put("k", "v").unwrap();
    store.close().unwrap();
    let second = SimpleLsmStore::open(config(dir.path())).unwrap();
    // Closing (or dropping) the old handle again must not release or
    // disturb the new owner's lock.
    store.close().unwrap();
    drop(store);
    let err = SimpleLsmStore::open(config(dir.path())).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert_eq!(second.get("k").unwrap(), Some(b"v".to_vec()));
}

/// Entry point of the child process: opens the directory the parent
/// names and exits. Does nothing unless started by the parent test.
#[test]
#[ignore = "entry point of the child process of close_releases_the_lock_for_another_process"]
fn close_child_opens_the_store() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let store = SimpleLsmStore::open(config(std::path::Path::new(&dir))).unwrap();
    assert_eq!(store.get("k").unwrap(), Some(b"v".to_vec()));
    store.put("child", "was here").unwrap();
    store.close().unwrap();
}

#[test]
fn close_releases_the_lock_for_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    store.put("k", "v").unwrap();
    let snapshot = store.snapshot().unwrap();
    store.close().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "close_child_opens_the_store", "--ignored"])
        .env(CHILD_DIR_ENV, dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the child could not open the closed store: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    drop(snapshot);
    drop(store);
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    assert_eq!(store.get("child").unwrap(), Some(b"was here".to_vec()));
}
