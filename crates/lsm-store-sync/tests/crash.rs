//! Crash recovery: a child process (this test binary, re-run with an
//! ignored test as its entry point) writes with `SyncMode::Always` from
//! several threads and prints each acknowledged write; the parent kills it
//! with SIGKILL mid-workload, reopens the store and checks that every
//! acknowledged write is there and that each writer's writes form a prefix.
//! The harness lives in `lsm_testkit::crash`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;

use lsm_store_sync::{LsmConfig, SimpleLsmStore, StoreStats};
use lsm_testkit::crash::{CrashHarness, CrashStore};

const HARNESS: CrashHarness = CrashHarness {
    child_test: "crash_child_writer",
    dir_env: "LSM_CRASH_CHILD_DIR",
};

struct Store(SimpleLsmStore);

impl CrashStore for Store {
    fn open(config: LsmConfig) -> Self {
        Store(SimpleLsmStore::open(config).unwrap())
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
}

/// The child's workload. Does nothing unless started by the parent test.
#[test]
#[ignore = "entry point of the child process of crash_recovery_keeps_every_acknowledged_write"]
fn crash_child_writer() {
    HARNESS.child_writer::<Store>();
}

#[test]
fn crash_recovery_keeps_every_acknowledged_write() {
    HARNESS.run_parent::<Store>();
}
