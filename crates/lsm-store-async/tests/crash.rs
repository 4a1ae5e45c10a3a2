//! Crash recovery of `AsyncLsmStore`: a child process (this test binary,
//! re-run with an ignored test as its entry point) writes with
//! `SyncMode::Always` from several threads and prints each acknowledged
//! write (the put returned after the WAL append, typically before the
//! memtable applied it); the parent kills it with SIGKILL mid-workload,
//! reopens the store and checks that every acknowledged write is there and
//! that each writer's writes form a prefix. The harness lives in
//! `lsm_testkit::crash`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_store_async::AsyncLsmStore;
use lsm_testkit::crash::CrashHarness;

const HARNESS: CrashHarness = CrashHarness {
    child_test: "async_crash_child_writer",
    dir_env: "LSM_ASYNC_CRASH_CHILD_DIR",
};

/// The child's workload. Does nothing unless started by the parent test.
#[test]
#[ignore = "entry point of the child process of crash_recovery_keeps_every_acknowledged_async_write"]
fn async_crash_child_writer() {
    HARNESS.child_writer::<AsyncLsmStore>();
}

#[test]
fn crash_recovery_keeps_every_acknowledged_async_write() {
    HARNESS.run_parent::<AsyncLsmStore>();
}
