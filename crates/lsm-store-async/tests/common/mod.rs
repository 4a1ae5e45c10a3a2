//! Helpers shared by the integration tests: configs and file-system
//! wrappers that block or fail table and manifest I/O on demand.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, OsFileSystem};
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

/// The OS file system, except that creating a table file (`*.sst`) waits
/// on `tables` and syncing a file whose name contains `fail_sync_of`
/// fails with EIO while `fail_sync` is set.
#[derive(Debug, Default)]
pub struct TestFs {
    pub tables: Arc<Latch>,
    pub fail_sync: Arc<AtomicBool>,
    pub fail_sync_of: Mutex<String>,
}

#[derive(Debug)]
struct TestFile {
    inner: Arc<dyn WritableFile>,
    fail_sync: Option<Arc<AtomicBool>>,
}

impl WritableFile for TestFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.inner.append(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self
            .fail_sync
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        self.inner.sync_data()
    }
}

impl FileSystem for TestFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".sst") {
            self.tables.pass();
        }
        let target = self.fail_sync_of.lock().unwrap().clone();
        let fail_sync =
            (!target.is_empty() && name.contains(&target)).then(|| Arc::clone(&self.fail_sync));
        Ok(Arc::new(TestFile {
            inner: OsFileSystem.create(path)?,
            fail_sync,
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        OsFileSystem.open_read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFileSystem.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        OsFileSystem.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        OsFileSystem.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.sync_dir(dir)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        OsFileSystem.file_size(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        OsFileSystem.truncate(path, len)
    }
    fn exists(&self, path: &Path) -> bool {
        OsFileSystem.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        OsFileSystem.lock(path)
    }
}
