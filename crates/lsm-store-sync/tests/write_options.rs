//! Durability on demand: `write_with(batch, &WriteOptions)` overrides the
//! sync mode for one write and `sync()` makes every returned write durable,
//! checked with a simulated power loss (`FaultyFileSystem::crash` drops
//! every byte no fsync covered); concurrent synced and unsynced writers
//! still share fsyncs (group commit).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch, WriteOptions};

/// A big memtable: no freeze (and so no rotation fsync) in these tests.
fn config(dir: &Path, fs: SharedFileSystem, sync: SyncMode) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(8 << 20)
        .wal_sync(sync)
        .fs(fs)
        .build()
        .unwrap()
}

fn batch(key: &str, value: &str) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(key.as_bytes(), value.as_bytes());
    batch
}

/// The store "dies" without closing (no final sync), the power goes, and
/// the directory is reopened on the plain file system.
fn lose_power(store: SimpleLsmStore, fs: &FaultyFileSystem, dir: &Path) -> SimpleLsmStore {
    std::mem::forget(store);
    fs.crash().unwrap();
    SimpleLsmStore::open(config(dir, OsFileSystem::shared(), SyncMode::Never)).unwrap()
}

/// Under `SyncMode::Never` a write made with `sync: Some(true)` survives a
/// power loss, and so does the unsynced write before it (the fsync covers
/// the whole WAL up to it); the unsynced write after it does not.
#[test]
fn a_synced_write_under_never_survives_power_loss_and_a_later_unsynced_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir.path(), fs.clone(), SyncMode::Never)).unwrap();
    let syncs = store.stats().unwrap().wal_syncs;
    store.put("before", "1").unwrap();
    let seq = store
        .write_with(&batch("synced", "2"), &WriteOptions::SYNC)
        .unwrap();
    assert_eq!(seq, 2);
    store.put("after", "3").unwrap();
    assert_eq!(store.stats().unwrap().wal_syncs, syncs + 1, "one fsync");

    let reopened = lose_power(store, &fs, dir.path());
    assert_eq!(reopened.get("before").unwrap(), Some(b"1".to_vec()));
    assert_eq!(reopened.get("synced").unwrap(), Some(b"2".to_vec()));
    assert_eq!(reopened.get("after").unwrap(), None, "nothing synced it");
    reopened.close().unwrap();
}

/// Under `SyncMode::Always` a write made with `sync: Some(false)` skips the
/// fsync and is lost to a power loss (the synced one before it is not);
/// `sync()` then makes such writes durable.
#[test]
fn an_unsynced_write_under_always_is_lost_to_power_loss_unless_sync_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir.path(), fs.clone(), SyncMode::Always)).unwrap();
    let syncs = store.stats().unwrap().wal_syncs;
    store.put("durable", "1").unwrap();
    store
        .write_with(&batch("bulk", "2"), &WriteOptions::NO_SYNC)
        .unwrap();
    assert_eq!(store.get("bulk").unwrap(), Some(b"2".to_vec()), "visible");
    assert_eq!(
        store.stats().unwrap().wal_syncs,
        syncs + 1,
        "only `durable`"
    );
    let reopened = lose_power(store, &fs, dir.path());
    assert_eq!(reopened.get("durable").unwrap(), Some(b"1".to_vec()));
    assert_eq!(reopened.get("bulk").unwrap(), None, "the unsynced write");
    reopened.close().unwrap();

    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir.path(), fs.clone(), SyncMode::Always)).unwrap();
    for i in 0..20 {
        store
            .write_with(&batch(&format!("bulk{i}"), "v"), &WriteOptions::NO_SYNC)
            .unwrap();
    }
    store.sync().unwrap();
    let reopened = lose_power(store, &fs, dir.path());
    for i in 0..20 {
        assert_eq!(
            reopened.get(format!("bulk{i}")).unwrap(),
            Some(b"v".to_vec())
        );
    }
    reopened.close().unwrap();
}

/// `WriteOptions::default()` is the store's mode, under `Never` as under
/// `Always`, and `sync()` after `close` is a `Closed` error.
#[test]
fn default_options_follow_the_sync_mode() {
    for (mode, fsyncs) in [(SyncMode::Never, 0), (SyncMode::Always, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let store = SimpleLsmStore::open(config(dir.path(), OsFileSystem::shared(), mode)).unwrap();
        let syncs = store.stats().unwrap().wal_syncs;
        for i in 0..3 {
            let options = WriteOptions::default();
            store
                .write_with(&batch(&format!("k{i}"), "v"), &options)
                .unwrap();
        }
        assert_eq!(store.stats().unwrap().wal_syncs, syncs + fsyncs, "{mode:?}");
        store.close().unwrap();
        assert!(store.sync().unwrap_err().is_closed());
    }
}

/// A file system whose WAL fsyncs take a few milliseconds, like a disk's,
/// so concurrent writers really overlap with one in flight.
#[derive(Debug)]
struct SlowWalSyncs {
    inner: SharedFileSystem,
    delay: Duration,
}

#[derive(Debug)]
struct SlowSyncFile {
    inner: Arc<dyn WritableFile>,
    delay: Duration,
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

const SYNCED_WRITERS: usize = 4;
const UNSYNCED_WRITERS: usize = 4;
const WRITES: usize = 25;

/// Group commit across mixed writes, under `SyncMode::Never`: four threads
/// make synced writes while four make unsynced ones, at once. The 100
/// synced writes share fsyncs (fewer WAL fsyncs than synced writes), and
/// every one of them survives a power loss right after the last returned:
/// each was covered by an fsync before it returned. (The unsynced ones may
/// or may not survive; none is required to.)
#[test]
fn concurrent_synced_and_unsynced_writers_share_fsyncs_and_synced_writes_survive() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyFileSystem::new(OsFileSystem::shared());
    let fs: SharedFileSystem = Arc::new(SlowWalSyncs {
        inner: faulty.clone(),
        delay: Duration::from_millis(2),
    });
    let store = SimpleLsmStore::open(config(dir.path(), fs, SyncMode::Never)).unwrap();
    let syncs = store.stats().unwrap().wal_syncs;
    let start = Arc::new(Barrier::new(SYNCED_WRITERS + UNSYNCED_WRITERS));
    let writers: Vec<_> = (0..SYNCED_WRITERS + UNSYNCED_WRITERS)
        .map(|t| {
            let store = store.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let synced = t < SYNCED_WRITERS;
                let options = WriteOptions::new().sync(synced);
                start.wait();
                for i in 0..WRITES {
                    let key = format!("{}{t}-{i:02}", if synced { "s" } else { "u" });
                    store.write_with(&batch(&key, "v"), &options).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let fsyncs = store.stats().unwrap().wal_syncs - syncs;
    let synced_writes = (SYNCED_WRITERS * WRITES) as u64;
    assert!(fsyncs >= 1, "a synced write made no fsync");
    assert!(
        fsyncs < synced_writes,
        "{fsyncs} fsyncs for {synced_writes} synced writes: none shared"
    );
    println!("{fsyncs} WAL fsyncs for {synced_writes} synced writes");

    let reopened = lose_power(store, &faulty, dir.path());
    for t in 0..SYNCED_WRITERS {
        for i in 0..WRITES {
            let key = format!("s{t}-{i:02}");
            assert_eq!(
                reopened.get(&key).unwrap(),
                Some(b"v".to_vec()),
                "{key} was acknowledged as synced"
            );
        }
    }
    let unsynced = reopened.range("u".."v").unwrap().count();
    assert!(unsynced <= UNSYNCED_WRITERS * WRITES);
    reopened.close().unwrap();
}
