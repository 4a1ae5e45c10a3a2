//! A panic inside a manifest append on the flusher's thread (after part of
//! the record was written) poisons the manifest itself, not only the
//! store: a compaction already running then fails to log its edit. Found by
//! a review: the compaction logged its edit after the torn bytes, deleted
//! its inputs, and the store no longer opened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lsm_core::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_async::{AsyncLsmStore, LsmConfig};

const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Flags {
    /// The flusher's next manifest append tears and panics.
    armed: AtomicBool,
    /// A compaction worker's next table creation waits for the panic.
    hold_compaction: AtomicBool,
    compaction_waiting: AtomicBool,
    flusher_panicked: AtomicBool,
}

fn wait_until(flag: &AtomicBool, what: &str) {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_string()
}

#[derive(Debug)]
struct Fs {
    inner: SharedFileSystem,
    flags: Arc<Flags>,
}

#[derive(Debug)]
struct File {
    inner: Arc<dyn WritableFile>,
    flags: Option<Arc<Flags>>,
}

impl WritableFile for File {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        if let Some(flags) = &self.flags {
            if thread_name().starts_with("lsm-flusher") && flags.armed.swap(false, Ordering::SeqCst)
            {
                self.inner.append(&data[..data.len() / 2])?;
                wait_until(&flags.compaction_waiting, "the compaction to start");
                flags.flusher_panicked.store(true, Ordering::SeqCst);
                panic!("test file system: panicked halfway through a manifest append");
            }
        }
        self.inner.append(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn preallocate(&self, len: u64) -> io::Result<()> {
        self.inner.preallocate(len)
    }
    fn write_zeros(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.write_zeros(offset, len)
    }
    fn release_reservation(&self) -> io::Result<()> {
        self.inner.release_reservation()
    }
}

impl FileSystem for Fs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if name.ends_with(".sst")
            && thread_name().starts_with("lsm-compaction")
            && self.flags.hold_compaction.swap(false, Ordering::SeqCst)
        {
            self.flags.compaction_waiting.store(true, Ordering::SeqCst);
            wait_until(&self.flags.flusher_panicked, "the flusher's panic");
            // Let the flusher's unwinding release the catalog lock.
            std::thread::sleep(Duration::from_millis(100));
        }
        let file = self.inner.create(path)?;
        Ok(Arc::new(File {
            inner: file,
            flags: name
                .starts_with("MANIFEST-")
                .then(|| Arc::clone(&self.flags)),
        }))
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
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.hard_link(from, to)
    }
}

fn within<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(_) => panic!("{what}: did not finish within {LIMIT:?} (hang)"),
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

#[test]
fn a_flusher_panic_inside_a_manifest_append_leaves_a_store_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let flags = Arc::new(Flags::default());
    let fs: SharedFileSystem = Arc::new(Fs {
        inner: OsFileSystem::shared(),
        flags: Arc::clone(&flags),
    });
    let config = LsmConfig::builder(dir.path())
        .fs(fs)
        .compaction_workers(1)
        .l0_trigger(8)
        .num_levels(4)
        .build()
        .unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let mut acknowledged = Vec::new();
    for round in 0..3u64 {
        for i in 0..40 {
            // Overlapping rounds: the compaction rewrites, not moves.
            let i = i * 3 + round;
            store.put(key(i), key(i)).unwrap();
            acknowledged.push(i);
        }
        if round < 2 {
            store.flush_memtable().unwrap();
        }
    }
    // A compaction of L0 starts and waits in its first table creation...
    flags.hold_compaction.store(true, Ordering::SeqCst);
    let job = store.compact_level(0, false).unwrap();
    wait_until(&flags.compaction_waiting, "the compaction to start");
    // ...while the flusher's manifest append panics halfway.
    flags.armed.store(true, Ordering::SeqCst);
    let flushing = Arc::clone(&store);
    let flushed = within("flush_memtable", move || flushing.flush_memtable());
    println!("flush_memtable with the panicking append: {flushed:?}");
    assert!(flushed.is_err());
    assert!(flags.flusher_panicked.load(Ordering::SeqCst));
    assert!(store.wait_for_compaction(job, LIMIT), "compaction hung");
    println!("compaction job: {:?}", store.compaction_status(job));
    let closing = Arc::clone(&store);
    let closed = within("close", move || closing.close());
    println!("close: {closed:?}");
    drop(store);

    let reopened = AsyncLsmStore::open(LsmConfig::new(dir.path()));
    let store = match reopened {
        Ok(store) => store,
        Err(err) => panic!(
            "the store no longer opens after the flusher panicked in a manifest append \
             (the panic was caught and poisoned the store; nothing durable was damaged): {err}"
        ),
    };
    assert!(store.wait_for_seq(store.last_seq(), LIMIT));
    for &i in &acknowledged {
        assert_eq!(store.get(key(i)).unwrap(), Some(key(i)), "key {i}");
    }
    store.close().unwrap();
}
