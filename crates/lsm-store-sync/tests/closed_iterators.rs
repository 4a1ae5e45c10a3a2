//! Iterators of a closed store: every move after `close` (from either end,
//! owned, pinned or borrowed, of the store, a snapshot or a keyspace)
//! yields `Closed` and ends the iterator, also once the directory was
//! reopened and the new store deleted the tables the old iterator still
//! held; and a move racing the close reports `Closed`, not the missing
//! table. (The async twin is `lsm-store-async/tests/closed_iterators.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, OsFileSystem, SharedFileSystem};
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, StoreIterator, SyncMode};

/// Small tables, one open table at a time and no block cache: an iterator
/// opens each level table (again) when it reaches it.
fn small_tables_config(dir: &Path, fs: SharedFileSystem) -> LsmConfig {
    LsmConfig::builder(dir)
        .fs(fs)
        .memtable_bytes(64 * 1024)
        .table_target_bytes(4096)
        .base_level_bytes(1 << 20)
        .block_bytes(256)
        .l0_trigger(64)
        .num_levels(4)
        .max_open_tables(1)
        .block_cache_bytes(0)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn key(i: usize) -> String {
    format!("key{i:05}")
}

/// The first item is `Closed`, and the iterator ends after it.
fn assert_closed_then_ends<T: std::fmt::Debug>(
    what: &str,
    mut next: impl FnMut() -> Option<Result<T, Error>>,
) {
    match next() {
        Some(Err(err)) if err.is_closed() => {}
        other => panic!("{what}: after close the iterator yielded {other:?}, want Closed"),
    }
    assert!(
        next().is_none(),
        "{what}: the iterator went on after Closed"
    );
}

#[test]
fn every_kind_of_iterator_made_before_close_returns_closed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SimpleLsmStore::open(small_tables_config(dir.path(), OsFileSystem::shared())).unwrap();
    let fruit = store.keyspace("fruit").unwrap();
    for i in 0..300 {
        store.put(key(i), "v").unwrap();
        fruit.put(key(i), "f").unwrap();
    }
    store.flush_memtable().unwrap();
    store.put(key(1000), "in the memtable").unwrap();
    let snapshot = store.snapshot().unwrap();

    // Each has moved once before the close (both ends of one of them).
    let mut forward = store.iter().unwrap();
    assert!(forward.next().unwrap().is_ok());
    let mut backward = store.iter().unwrap();
    assert!(backward.next_back().unwrap().is_ok());
    let mut both = store.iter().unwrap();
    assert!(both.next().unwrap().is_ok());
    assert!(both.next_back().unwrap().is_ok());
    let mut borrowed = store.iter().unwrap();
    assert!(borrowed.next_borrowed().unwrap().is_ok());
    let mut pinned = store.iter().unwrap().pinned();
    assert!(pinned.next().unwrap().is_ok());
    let mut pinned_back = store.iter().unwrap().pinned();
    let (_, kept_value) = pinned_back.next_back().unwrap().unwrap();
    let mut of_snapshot = snapshot.range(key(10)..).unwrap();
    assert!(of_snapshot.next().unwrap().is_ok());
    let mut of_keyspace = fruit.iter().unwrap();
    assert!(of_keyspace.next_back().unwrap().is_ok());
    // Made but never moved.
    let mut unmoved = store.prefix("key").unwrap();

    store.close().unwrap();

    assert_closed_then_ends("next", || forward.next());
    assert_closed_then_ends("next_back", || backward.next_back());
    assert_closed_then_ends("both ends", || both.next_back());
    assert!(both.next().is_none());
    match borrowed.next_borrowed() {
        Some(Err(err)) if err.is_closed() => {}
        other => panic!("next_borrowed: after close yielded {other:?}, want Closed"),
    }
    assert!(borrowed.next_borrowed().is_none());
    assert_closed_then_ends("pinned next", || pinned.next());
    assert_closed_then_ends("pinned next_back", || pinned_back.next_back());
    assert_closed_then_ends("snapshot range", || of_snapshot.next());
    assert_closed_then_ends("keyspace iter", || of_keyspace.next_back());
    assert_closed_then_ends("never moved", || unmoved.next());
    // What was yielded before the close stays valid.
    assert_eq!(kept_value, "in the memtable");
    assert!(snapshot.iter().unwrap_err().is_closed());
}

/// Fills L1 with several tables holding "old", makes an iterator over
/// them and moves it once, then rewrites every key ("new") and compacts:
/// the iterator's tables are obsolete, kept on disk only because it holds
/// them. Returns the iterator and the numbers of its tables.
fn iterator_over_obsolete_tables(
    store: &SimpleLsmStore,
    dir: &Path,
) -> (StoreIterator, BTreeSet<String>) {
    let n = 2000;
    for j in 0..4 {
        for i in (j..n).step_by(4) {
            store.put(key(i), "old").unwrap();
        }
        store.flush_memtable().unwrap();
    }
    store.compact_level(0).unwrap();
    let l1 = store.stats().unwrap().levels[1].files;
    assert!(l1 >= 4, "want several L1 tables, got {l1}");
    let old_tables = table_names(dir);
    let mut iter = store.iter().unwrap();
    assert_eq!(
        iter.next().unwrap().unwrap(),
        (key(0).into_bytes(), b"old".to_vec())
    );
    for i in 0..n {
        store.put(key(i), "new").unwrap();
    }
    store.flush_memtable().unwrap();
    store.compact_level(0).unwrap();
    store.compact_level(1).unwrap();
    (iter, old_tables)
}

fn table_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sst"))
        .collect()
}

/// The reviewer's case: close, reopen (whose recovery deletes the tables
/// only the old iterator referenced), then move the old iterator. Before
/// the fix it kept reading and failed halfway with an I/O `NotFound` on a
/// deleted table.
#[test]
fn a_live_iterator_returns_closed_after_close_and_a_reopen_that_deleted_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let config = || small_tables_config(dir.path(), OsFileSystem::shared());
    let store = SimpleLsmStore::open(config()).unwrap();
    let (mut iter, old_tables) = iterator_over_obsolete_tables(&store, dir.path());
    store.close().unwrap();
    let reopened = SimpleLsmStore::open(config()).unwrap();
    let left = table_names(dir.path());
    assert!(
        old_tables.is_disjoint(&left),
        "the reopen kept some of the old tables: {old_tables:?} / {left:?}"
    );
    assert_closed_then_ends("old iterator", || iter.next());
    assert_eq!(reopened.get(key(7)).unwrap(), Some(b"new".to_vec()));
    assert_eq!(reopened.iter().unwrap().count(), 2000);
}

/// A file system that runs a hook once, in the middle of the first
/// `open_read` of a file it names, before opening it.
#[derive(Default)]
struct HookOnOpen {
    names: Mutex<BTreeSet<String>>,
    #[allow(clippy::type_complexity)]
    hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for HookOnOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookOnOpen").finish_non_exhaustive()
    }
}

impl FileSystem for HookOnOpen {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        OsFileSystem.create(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if self.names.lock().unwrap().contains(&name) {
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
        }
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
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        OsFileSystem.hard_link(from, to)
    }
}

/// The race inside one move: the iterator passed its closed check and goes
/// to open its next table; meanwhile the store closes and the directory is
/// reopened, whose recovery deletes that table. The move must report
/// `Closed`, not an I/O `NotFound` (nor a corruption: nothing is damaged).
#[test]
fn a_move_racing_close_and_reopen_reports_closed_not_the_deleted_table() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(HookOnOpen::default());
    let store = SimpleLsmStore::open(small_tables_config(dir.path(), fs.clone())).unwrap();
    let (mut iter, old_tables) = iterator_over_obsolete_tables(&store, dir.path());
    let reopened = Arc::new(Mutex::new(None));
    {
        let store = store.clone();
        let reopened = Arc::clone(&reopened);
        let dir = dir.path().to_path_buf();
        *fs.hook.lock().unwrap() = Some(Box::new(move || {
            store.close().unwrap();
            let config = small_tables_config(&dir, OsFileSystem::shared());
            *reopened.lock().unwrap() = Some(SimpleLsmStore::open(config).unwrap());
        }));
    }
    *fs.names.lock().unwrap() = old_tables;
    let mut yielded = 1;
    let err = loop {
        match iter.next() {
            Some(Ok(_)) => yielded += 1,
            Some(Err(err)) => break err,
            None => panic!("the iterator ended after {yielded} keys without an error"),
        }
    };
    assert!(fs.hook.lock().unwrap().is_none(), "the hook never ran");
    assert!(
        err.is_closed(),
        "after {yielded} keys the move racing close failed with {err:?}, want Closed"
    );
    assert!(iter.next().is_none());
    let reopened = reopened.lock().unwrap().take().unwrap();
    assert_eq!(reopened.get(key(0)).unwrap(), Some(b"new".to_vec()));
}
