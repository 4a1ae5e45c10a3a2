//! A store of more tables than the process may open files reads and
//! compacts: the table cache keeps at most `max_open_tables` open (by
//! default half the soft `RLIMIT_NOFILE`). Found by a review: every live
//! table held a descriptor for the store's life, so with 4 KiB tables a
//! store of a few MiB held thousands, and under the usual soft limit of
//! 1024 its reads and compactions failed with EMFILE ("Too many open
//! files") and the store was poisoned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

const CHILD: &str = "LSM_OPEN_TABLES_TEST_CHILD";

fn workload() {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Never)
        .memtable_bytes(4096)
        .table_target_bytes(4096)
        .base_level_bytes(4096)
        .level_ratio(2)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    // About 6 MiB of values: more than 1000 tables of 4 KiB.
    for i in 0..60_000u32 {
        store.put(format!("key{i:08}"), [7u8; 100]).unwrap();
    }
    let tables: usize = store.stats().unwrap().levels.iter().map(|l| l.files).sum();
    eprintln!("{tables} tables");
    for i in (0..60_000u32).step_by(7) {
        assert_eq!(
            store.get(format!("key{i:08}")).unwrap(),
            Some(vec![7u8; 100]),
            "key{i:08} with {tables} tables"
        );
    }
    assert_eq!(store.iter().unwrap().count(), 60_000);
    store.put("still", "writable").unwrap();
}

#[test]
fn thousands_of_small_tables_under_the_default_descriptor_limit() {
    if std::env::var_os(CHILD).is_some() {
        workload();
        return;
    }
    // Rerun this test in a child whose soft descriptor limit is 1024, the
    // usual Linux default.
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 1024 && exec '{}' --exact thousands_of_small_tables_under_the_default_descriptor_limit --nocapture",
            exe.display()
        ))
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
}
