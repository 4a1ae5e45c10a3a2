//! Helpers shared by the integration tests: configs; a file system that
//! blocks table creation or fails syncs on demand; one whose WAL fsyncs
//! are slow; writer threads for a steady load; a minimal executor; a directory's contents.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use lsm_core::fault::FaultyFileSystem;
use lsm_core::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};
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

/// How long a test waits on the latch for a table creation before it
/// fails: far above any wait a healthy store causes.
pub const LATCH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// Creations blocked right now.
    waiting: usize,
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
    /// Called by a creation: blocks while closed, unless a permit lets it
    /// through.
    pub fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if !state.closed {
            return;
        }
        if state.permits > 0 {
            // A permit meant for a blocked creation taken on the way in:
            // `let_one_through` waits for the permit to be taken, so it
            // must hear of it (without this wake-up it slept on while the
            // creation it meant to free waited for another permit).
            state.permits -= 1;
            self.changed.notify_all();
            return;
        }
        state.entered += 1;
        state.waiting += 1;
        self.changed.notify_all();
        loop {
            if !state.closed {
                break;
            }
            if state.permits > 0 {
                state.permits -= 1;
                break;
            }
            state = self.changed.wait(state).unwrap();
        }
        state.waiting -= 1;
        self.changed.notify_all();
    }
    /// While closed, lets exactly one blocked creation through: waits
    /// until one is blocked, allows it, and waits until a creation took
    /// the permit.
    ///
    /// Panics after [`LATCH_PATIENCE`] without progress, so a test whose
    /// creations never come fails instead of hanging the run.
    pub fn let_one_through(&self) {
        let state = self.state.lock().unwrap();
        let mut state = self.wait_while(state, "a table creation to block", |s| s.waiting == 0);
        state.permits += 1;
        self.changed.notify_all();
        drop(self.wait_while(state, "a creation to take the permit", |s| s.permits > 0));
    }
    /// Waits until creations have blocked `n` times in total (panics after
    /// [`LATCH_PATIENCE`]).
    pub fn wait_entered(&self, n: usize) {
        let state = self.state.lock().unwrap();
        drop(self.wait_while(state, "table creations to block", |s| s.entered < n));
    }
    fn wait_while<'a>(
        &self,
        state: std::sync::MutexGuard<'a, LatchState>,
        what: &str,
        condition: impl FnMut(&mut LatchState) -> bool,
    ) -> std::sync::MutexGuard<'a, LatchState> {
        let (state, timeout) = self
            .changed
            .wait_timeout_while(state, LATCH_PATIENCE, condition)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "waited {LATCH_PATIENCE:?} for {what}: {:?}",
            *state
        );
        state
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

/// A file system whose WAL fsyncs (`*.wal` files) take `delay`, like a
/// disk's, so concurrent writers really overlap with one in flight.
#[derive(Debug)]
pub struct SlowWalSyncs {
    pub inner: SharedFileSystem,
    pub delay: std::time::Duration,
}

#[derive(Debug)]
struct SlowSyncFile {
    inner: Arc<dyn WritableFile>,
    delay: std::time::Duration,
}

impl WritableFile for SlowSyncFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.inner.append(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        std::thread::sleep(self.delay);
        self.inner.sync_data()
    }
}

impl FileSystem for SlowWalSyncs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        let file = self.inner.create(path)?;
        if path.extension().is_some_and(|ext| ext == "wal") {
            return Ok(Arc::new(SlowSyncFile {
                inner: file,
                delay: self.delay,
            }));
        }
        Ok(file)
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.inner.open_read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_size(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.inner.truncate(path, len)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
}

/// Writer threads that put values (100 bytes unless started with
/// [`Writers::start_with_values`]) under their own keys without pause
/// until [`Writers::stop`], or until the store refuses them as closed: a
/// steady write load. Any other error panics the writer, which fails the
/// test at `stop`.
pub struct Writers {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    pub fn start(store: &lsm_store_async::AsyncLsmStore, count: usize) -> Writers {
        Self::start_with_values(store, count, 100)
    }

    pub fn start_with_values(
        store: &lsm_store_async::AsyncLsmStore,
        count: usize,
        value_bytes: usize,
    ) -> Writers {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..count)
            .map(|t| {
                let (store, stop) = (store.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let value = vec![7u8; value_bytes];
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match store.put(format!("t{t}-{i:08}"), &value) {
                            Ok(_) => i += 1,
                            Err(err) if err.is_closed() => return,
                            Err(err) => panic!("writer {t}: {err}"),
                        }
                    }
                })
            })
            .collect();
        Writers { stop, threads }
    }

    /// Stops the writers and joins them (a writer's panic fails the test).
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
    }
}

/// A minimal executor for the `Future` tests: polls on the calling
/// thread and parks while pending; the waker unparks it. No runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Every file under `dir` (recursively) with its bytes: the listing and
/// the contents in one value.
pub fn dir_contents(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}
