//! Helpers shared by the integration tests: configs and file-system
//! a file system that blocks table creation or fails syncs on demand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use lsm_core::fault::FaultyFileSystem;
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_async::{LsmConfig, LsmConfigBuilder, SyncMode};

/// Small sizes, no fsync: flushes and compactions happen after a few
/// hundred writes.
pub fn small(dir: &Path) -> LsmConfigBuilder {
    LsmConfig::builder(dir)
        .memtable_bytes(16 * 1024)
        .table_target_bytes(16 * 1024)
        .base_level_bytes(64 * 1024)
        .wal_segment_bytes(64 * 1024)
        .l0_trigger(2)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
}

/// A latch that table creation waits on while it is closed, unless a
/// permit lets it through.
#[derive(Debug, Default)]
pub struct Latch {
    state: Mutex<LatchState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct LatchState {
    closed: bool,
    permits: usize,
    /// Number of times a creation found the latch closed (and blocked).
    entered: usize,
}

impl Latch {
    pub fn close(&self) {
        self.state.lock().unwrap().closed = true;
    }
    pub fn open(&self) {
        self.state.lock().unwrap().closed = false;
        self.changed.notify_all();
    }
    /// Lets `n` more creations through while closed.
    pub fn allow(&self, n: usize) {
        self.state.lock().unwrap().permits += n;
        self.changed.notify_all();
    }
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if !state.closed {
            return;
        }
        if state.permits > 0 {
            state.permits -= 1;
            return;
        }
        state.entered += 1;
        self.changed.notify_all();
        loop {
            if !state.closed {
                return;
            }
            if state.permits > 0 {
                state.permits -= 1;
                return;
            }
            state = self.changed.wait(state).unwrap();
        }
    }
    /// Waits until creations have blocked `n` times in total.
    pub fn wait_entered(&self, n: usize) {
        let mut state = self.state.lock().unwrap();
        while state.entered < n {
            state = self.changed.wait(state).unwrap();
        }
    }
}

/// The OS file system through [`FaultyFileSystem`] (for failing syncs),
/// with table creation (`*.sst`) waiting on `tables`.
#[derive(Debug)]
pub struct TestFs {
    pub faults: Arc<FaultyFileSystem>,
    pub tables: Arc<Latch>,
}

impl TestFs {
    pub fn new() -> TestFs {
        let faults = FaultyFileSystem::new(OsFileSystem::shared());
        let tables = Arc::new(Latch::default());
        let latch = Arc::clone(&tables);
        faults.on_create(move |path| {
            if path.extension().is_some_and(|ext| ext == "sst") {
                latch.pass();
            }
        });
        TestFs { faults, tables }
    }

    /// The file system to put in a store's config.
    pub fn shared(&self) -> SharedFileSystem {
        Arc::clone(&self.faults) as SharedFileSystem
    }
}
