//! Checkpoint paths: an empty one is refused before anything is written,
//! and the parents a checkpoint creates are synced in their own parents;
//! one named like a store file inside the store is refused.
//! (The first test changes the process's working directory: keep every
//! path in this file absolute.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, OsFileSystem};
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore};
use lsm_testkit::checkpoint::checkpoint_named_like_a_store_file_is_refused;

/// `checkpoint("")` must not write into the current directory: an empty
/// path names no directory, and the current directory is not empty, so the
/// call must be refused before anything is written (as for any non-empty
/// directory).
#[test]
fn a_checkpoint_to_an_empty_path_writes_nothing_into_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("notes.txt"), b"mine").unwrap();
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    store.put("a", "1").unwrap();
    store.flush_memtable().unwrap();

    std::env::set_current_dir(cwd.path()).unwrap();
    let result = store.checkpoint("");
    let mut names: Vec<String> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(result.is_err(), "an empty path was accepted: {result:?}");
    assert_eq!(
        names,
        ["notes.txt"],
        "checkpoint(\"\") wrote into the (non-empty) current directory; it returned {result:?}"
    );
}

/// Records every `sync_dir`.
#[derive(Debug, Default)]
struct SyncRecorder {
    synced_dirs: Mutex<Vec<PathBuf>>,
}

impl FileSystem for SyncRecorder {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        OsFileSystem.create(path)
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
        self.synced_dirs.lock().unwrap().push(dir.to_path_buf());
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
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFileSystem.hard_link(from, to)
    }
}

/// `checkpoint` creates missing parents of `dir` and promises "durable when
/// it returns: every directory entry (the checkpoint's own in its parent
/// included) was synced". The entries of the parents it created must then
/// be synced in their own parents too, or a power loss can take the whole
/// checkpoint (its parent's entry) away after `checkpoint` returned `Ok`.
#[test]
fn a_checkpoint_syncs_the_entries_of_the_parents_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let fs = Arc::new(SyncRecorder::default());
    let config = LsmConfig::builder(dir.path())
        .fs(fs.clone())
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    store.put("a", "1").unwrap();
    fs.synced_dirs.lock().unwrap().clear();

    let cp = backups.path().join("new-a").join("new-b").join("cp");
    let info = store.checkpoint(&cp).unwrap();
    assert!(info.seq >= 1);
    let synced = fs.synced_dirs.lock().unwrap().clone();
    // The parent of `cp` is synced (step 6); the new entries `new-b` (in
    // `new-a`) and `new-a` (in `backups`) must be too.
    for created_entry_parent in [backups.path().join("new-a"), backups.path().to_path_buf()] {
        assert!(
            synced.contains(&created_entry_parent),
            "{} holds a directory entry the checkpoint created, never synced",
            created_entry_parent.display()
        );
    }
    let _ = Error::Closed; // keep the import used
}

/// A checkpoint inside the store's own directory: both reopen.
#[test]
fn a_checkpoint_inside_the_store_directory_leaves_both_openable() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    let ks = store.keyspace("x").unwrap();
    ks.put("a", "1").unwrap();
    store.put("d", "1").unwrap();
    let info = store.checkpoint(dir.path().join("cp")).unwrap();
    store.put("d", "2").unwrap();
    store.flush_memtable().unwrap();
    store.close().unwrap();
    drop(store);
    let store = SimpleLsmStore::open(LsmConfig::new(dir.path())).unwrap();
    assert_eq!(store.get("d").unwrap(), Some(b"2".to_vec()));
    store.close().unwrap();
    let copy = SimpleLsmStore::open(LsmConfig::new(&info.dir)).unwrap();
    assert_eq!(copy.get("d").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        copy.keyspace("x").unwrap().get("a").unwrap(),
        Some(b"1".to_vec())
    );
}

#[test]
fn a_checkpoint_named_like_a_store_file_inside_the_store_is_refused() {
    checkpoint_named_like_a_store_file_is_refused::<SimpleLsmStore>(
        |err| matches!(err, Error::Io { source, .. } if source.kind() == io::ErrorKind::InvalidInput),
    );
}
