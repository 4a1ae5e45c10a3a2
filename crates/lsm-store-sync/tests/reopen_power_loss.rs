//! A power cut after a reopen (`FaultyFileSystem::crash` with
//! `tear_overwrites`): the open that replays a WAL segment holding
//! unsynced records (a process killed under `SyncMode::Never`) and then
//! appends synced writes to a new segment must not leave those records
//! where a power cut can tear them into an older segment's damage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, OsFileSystem, SharedFileSystem};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode, WriteBatch, WriteOptions};

/// `FaultyFileSystem` without the directory lock, so a store leaked with
/// `mem::forget` (a killed process) can be reopened in this process
/// without a power loss (`crash` is what releases the wrapper's locks).
#[derive(Debug)]
struct NoLock(Arc<FaultyFileSystem>);

#[derive(Debug)]
struct NoFileLock;

impl FileLock for NoFileLock {
    fn release(&self) -> io::Result<()> {
        Ok(())
    }
}

impl FileSystem for NoLock {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.0.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        self.0.create(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.0.open_read(path)
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.read_all(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.sync_dir(dir)
    }
    fn file_size(&self, path: &Path) -> io::Result<u64> {
        self.0.file_size(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.0.truncate(path, len)
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.exists(path)
    }
    fn lock(&self, _path: &Path) -> io::Result<Box<dyn FileLock>> {
        Ok(Box::new(NoFileLock))
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.hard_link(from, to)
    }
}

fn config(dir: &Path, fs: &Arc<FaultyFileSystem>) -> LsmConfig {
    config_on(dir, Arc::clone(fs) as SharedFileSystem)
}

fn unlocked(dir: &Path, fs: &Arc<FaultyFileSystem>) -> LsmConfig {
    config_on(dir, Arc::new(NoLock(Arc::clone(fs))))
}

fn config_on(dir: &Path, fs: SharedFileSystem) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 * 1024)
        .wal_segment_bytes(256 * 1024)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .fs(fs)
        .build()
        .unwrap()
}

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// Under `Never`: a synced write (zero-filling starts), then about 6 KiB
/// of unsynced writes over those zeros, then the process dies (no close).
/// The next open replays them from the page cache and writes a synced
/// write to a new segment, then the power goes and the disk kept a later
/// block of the old segment but not the first (`tear_overwrites`). The
/// old segment now ends in damage while a newer one holds records: unless
/// the open made the replayed segment durable before appending past it,
/// the store no longer opens, and the synced write made after the reopen
/// (acknowledged durable) is lost with it.
#[test]
fn a_power_cut_after_reopening_a_killed_store_keeps_it_openable() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    fs.tear_overwrites(true);
    let store = SimpleLsmStore::open(unlocked(dir.path(), &fs)).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(key(0).as_bytes(), b"synced");
    store.write_with(&batch, &WriteOptions::SYNC).unwrap();
    let written = 150;
    for i in 1..written {
        store.put(key(i), format!("v{i}")).unwrap();
    }
    // The process dies: no close, no sync; the page cache keeps the file.
    std::mem::forget(store);

    let store = SimpleLsmStore::open(unlocked(dir.path(), &fs)).unwrap();
    assert!(store.get(key(written - 1)).unwrap().is_some());
    let mut batch = WriteBatch::new();
    batch.put(b"after-reopen", b"synced");
    store.write_with(&batch, &WriteOptions::SYNC).unwrap();
    std::mem::forget(store);
    fs.crash().unwrap();

    let fresh = FaultyFileSystem::new(OsFileSystem::shared());
    let store = SimpleLsmStore::open(config(dir.path(), &fresh)).unwrap_or_else(|err| {
        panic!("a power cut after a reopen left a store that does not open: {err}")
    });
    assert!(
        store.get(key(0)).unwrap().is_some(),
        "the first synced write was lost"
    );
    assert!(
        store.get(b"after-reopen").unwrap().is_some(),
        "the synced write after the reopen was lost"
    );
    store.close().unwrap();
}
