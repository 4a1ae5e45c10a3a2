//! Durability promise 5: after a failed WAL fsync, a failed append (ENOSPC)
//! or a failed manifest sync, the write is not acknowledged, the store
//! refuses writes but keeps serving reads, and earlier acknowledged data is
//! intact after reopening.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, OsFileSystem};
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};

/// Wraps the OS file system; flags make syncs or appends fail.
#[derive(Debug, Default)]
struct FaultyFs {
    fail_sync: Arc<AtomicBool>,
    fail_append: Arc<AtomicBool>,
    /// Only files whose name contains this fail (empty = all).
    only: std::sync::Mutex<String>,
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn WritableFile>,
    fail_sync: Arc<AtomicBool>,
    fail_append: Arc<AtomicBool>,
    targeted: bool,
}

impl WritableFile for FaultyFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        if self.targeted && self.fail_append.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        self.inner.append(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.targeted && self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        self.inner.sync_data()
    }
}

impl FileSystem for FaultyFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        let only = self.only.lock().unwrap().clone();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        Ok(Arc::new(FaultyFile {
            inner: OsFileSystem.create(path)?,
            fail_sync: Arc::clone(&self.fail_sync),
            fail_append: Arc::clone(&self.fail_append),
            targeted: only.is_empty() || name.contains(&only),
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

fn open(dir: &Path, fs: Arc<FaultyFs>) -> SimpleLsmStore {
    let config = LsmConfig::builder(dir)
        .wal_sync(SyncMode::Always)
        .memtable_bytes(64 * 1024)
        .fs(fs)
        .build()
        .unwrap();
    SimpleLsmStore::open(config).unwrap()
}

fn reopen_plain(dir: &Path) -> SimpleLsmStore {
    SimpleLsmStore::open(LsmConfig::new(dir)).unwrap()
}

#[test]
fn failed_wal_fsync_refuses_writes_keeps_reads_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::default());
    let store = open(dir.path(), Arc::clone(&fs));
    store.put("a", "1").unwrap();
    store.put("b", "2").unwrap();
    fs.fail_sync.store(true, Ordering::SeqCst);
    assert!(
        store.put("c", "3").is_err(),
        "a write whose fsync failed was acknowledged"
    );
    fs.fail_sync.store(false, Ordering::SeqCst);
    assert!(
        store.put("d", "4").is_err(),
        "writes must stay refused after a failed fsync"
    );
    assert_eq!(
        store.get("a").unwrap(),
        Some(b"1".to_vec()),
        "reads keep working"
    );
    drop(store);
    let store = reopen_plain(dir.path());
    assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get("d").unwrap(), None);
    store.put("e", "5").unwrap();
}

#[test]
fn enospc_on_wal_append_is_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::default());
    let store = open(dir.path(), Arc::clone(&fs));
    store.put("a", "1").unwrap();
    fs.fail_append.store(true, Ordering::SeqCst);
    let err = store.put("b", "2").unwrap_err();
    assert!(
        err.to_string().contains("28") || err.to_string().to_lowercase().contains("space"),
        "{err}"
    );
    fs.fail_append.store(false, Ordering::SeqCst);
    assert!(store.put("c", "3").is_err());
    drop(store);
    let store = reopen_plain(dir.path());
    assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("c").unwrap(), None);
}

#[test]
fn failed_manifest_sync_during_flush_poisons_writes_but_not_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(FaultyFs::default());
    *fs.only.lock().unwrap() = "MANIFEST".to_string();
    let store = open(dir.path(), Arc::clone(&fs));
    for i in 0..100u32 {
        store.put(format!("k{i:03}"), "v").unwrap();
    }
    fs.fail_sync.store(true, Ordering::SeqCst);
    assert!(store.flush_memtable().is_err());
    fs.fail_sync.store(false, Ordering::SeqCst);
    let err = store.put("after", "x").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert_eq!(store.get("k050").unwrap(), Some(b"v".to_vec()));
    drop(store);
    let store = reopen_plain(dir.path());
    for i in 0..100u32 {
        assert_eq!(store.get(format!("k{i:03}")).unwrap(), Some(b"v".to_vec()));
    }
}
