//! Crash recovery of `AsyncLsmStore`: a child process (this test binary,
//! re-run with an ignored test as its entry point) writes with
//! `SyncMode::Always` from several threads and prints each acknowledged
//! write (the put returned after the WAL append, typically before the
//! memtable applied it); the parent kills it with SIGKILL mid-workload,
//! reopens the store and checks that every acknowledged write is there and
//! that each writer's writes form a prefix. The harness lives in
//! `lsm_testkit::crash`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;

use lsm_store_async::{AsyncLsmStore, LsmConfig, StoreStats};
use lsm_testkit::crash::{CrashHarness, CrashStore};

const HARNESS: CrashHarness = CrashHarness {
    child_test: "async_crash_child_writer",
    dir_env: "LSM_ASYNC_CRASH_CHILD_DIR",
};

struct Store(AsyncLsmStore);

impl CrashStore for Store {
    fn open(config: LsmConfig) -> Self {
        Store(AsyncLsmStore::open(config).unwrap())
    }
    fn put(&self, key: &[u8], value: &[u8]) {
        self.0.put(key, value).unwrap();
    }
    fn range(&self, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.0
            .range((start, end))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
    fn stats(&self) -> StoreStats {
        self.0.stats().unwrap()
    }
    fn check_after_reopen(&self) {
        assert_eq!(
            self.0.visible_seq(),
            self.0.last_seq(),
            "replayed writes are all visible"
        );
    }
}

/// The child's workload. Does nothing unless started by the parent test.
#[test]
#[ignore = "entry point of the child process of crash_recovery_keeps_every_acknowledged_async_write"]
fn async_crash_child_writer() {
    HARNESS.child_writer::<Store>();
}

#[test]
fn crash_recovery_keeps_every_acknowledged_async_write() {
    HARNESS.run_parent::<Store>();
}
