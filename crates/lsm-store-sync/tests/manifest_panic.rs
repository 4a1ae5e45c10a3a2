//! A file system that panics inside a manifest append (after writing part
//! of the record) poisons the manifest like an I/O error. Found by a
//! review: the panic left the manifest writable, the next edit was
//! appended after the torn bytes, and the store no longer opened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lsm_core::fs::{FileLock, FileSystem, RandomAccessFile, WritableFile};
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

/// Delegates to `inner`; once `armed`, the next append to a `MANIFEST-*`
/// file writes the first half of its bytes and then panics (a buggy or
/// failing `FileSystem` implementation).
#[derive(Debug)]
struct TornManifestFs {
    inner: SharedFileSystem,
    armed: Arc<AtomicBool>,
}

#[derive(Debug)]
struct TornFile {
    inner: Arc<dyn WritableFile>,
    armed: Option<Arc<AtomicBool>>,
}

impl WritableFile for TornFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        if let Some(armed) = &self.armed {
            if armed.swap(false, Ordering::SeqCst) {
                self.inner.append(&data[..data.len() / 2])?;
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

impl FileSystem for TornManifestFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        let file = self.inner.create(path)?;
        let manifest = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("MANIFEST-"));
        Ok(Arc::new(TornFile {
            inner: file,
            armed: manifest.then(|| Arc::clone(&self.armed)),
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

fn key(i: u32) -> String {
    format!("key{i:06}")
}

/// A flush whose manifest append panics halfway fails with an I/O error
/// and poisons the store; before, the panic reached the caller, the store
/// stayed writable, and the next flush appended its edit after the torn
/// bytes, so the store refused to open (the torn record swallowed the later
/// edits, and the state without them missed the WAL segments the second
/// flush deleted).
#[test]
fn a_panic_inside_a_manifest_append_does_not_break_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let fs: SharedFileSystem = Arc::new(TornManifestFs {
        inner: OsFileSystem::shared(),
        armed: Arc::clone(&armed),
    });
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::Always)
        .fs(fs)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    for i in 0..100 {
        store.put(key(i), "first").unwrap();
    }
    armed.store(true, Ordering::SeqCst);
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.flush_memtable()));
    let flushed = panicked.expect("the manifest's panic reached the caller");
    let err = flushed.expect_err("a flush whose manifest append panicked succeeded");
    assert!(err.to_string().contains("panicked"), "{err}");
    assert!(!armed.load(Ordering::SeqCst), "the append ran");
    let refused = store.put("after", "panic").unwrap_err();
    assert!(refused.is_poisoned(), "{refused}");

    // The store carries on: it was not poisoned by the panic.
    let retried = store.flush_memtable();
    println!("flush after the caught panic: {retried:?}");
    for i in 100..200 {
        match store.put(key(i), "second") {
            Ok(_) => {}
            Err(err) => {
                println!("put after the panic refused: {err}");
                break;
            }
        }
    }
    let _ = store.flush_memtable();
    store.close().unwrap();
    drop(store);

    let reopened = SimpleLsmStore::open(LsmConfig::new(dir.path()));
    let store = match reopened {
        Ok(store) => store,
        Err(err) => panic!(
            "the store no longer opens after a panic in a manifest append \
             (every write was acknowledged; nothing durable was damaged): {err}"
        ),
    };
    for i in 0..100 {
        assert_eq!(
            store.get(key(i)).unwrap().as_deref(),
            Some(&b"first"[..]),
            "{}",
            key(i)
        );
    }
    store.close().unwrap();
}
