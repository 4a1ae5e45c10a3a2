//! Durability promise 5: after a failed WAL fsync, a failed append (ENOSPC)
//! or a failed manifest sync, the write is not acknowledged, the store
//! refuses writes but keeps serving reads, and earlier acknowledged data is
//! intact after reopening.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};

fn faulty() -> Arc<FaultyFileSystem> {
    FaultyFileSystem::new(OsFileSystem::shared())
}

fn open(dir: &Path, fs: Arc<FaultyFileSystem>) -> SimpleLsmStore {
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

/// The error of the write whose WAL fsync (or append) failed: the I/O
/// error itself, naming the WAL segment, with no offset (not corruption).
fn assert_wal_io_error(err: &Error) {
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(!err.is_corruption() && !err.is_closed() && !err.is_locked());
    let path = err.path().expect("an I/O error names its file");
    assert_eq!(
        path.extension().and_then(|e| e.to_str()),
        Some("wal"),
        "{err}"
    );
    assert_eq!(err.offset(), None);
}

#[test]
fn failed_wal_fsync_refuses_writes_keeps_reads_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    let store = open(dir.path(), Arc::clone(&fs));
    store.put("a", "1").unwrap();
    store.put("b", "2").unwrap();
    fs.fail_syncs(true);
    let err = store
        .put("c", "3")
        .expect_err("a write whose fsync failed was acknowledged");
    assert_wal_io_error(&err);
    fs.fail_syncs(false);
    let err = store
        .put("d", "4")
        .expect_err("writes must stay refused after a failed fsync");
    assert!(err.is_poisoned(), "{err}");
    assert!(
        store.flush_memtable().unwrap_err().is_poisoned(),
        "a flush after a failed WAL fsync must be refused as poisoned"
    );
    assert!(store.stats().unwrap().poisoned.is_some());
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
    let fs = faulty();
    let store = open(dir.path(), Arc::clone(&fs));
    store.put("a", "1").unwrap();
    fs.fail_appends(true);
    let err = store.put("b", "2").unwrap_err();
    assert!(
        err.to_string().contains("28") || err.to_string().to_lowercase().contains("space"),
        "{err}"
    );
    assert_wal_io_error(&err);
    fs.fail_appends(false);
    let err = store.put("c", "3").unwrap_err();
    assert!(err.is_poisoned(), "{err}");
    drop(store);
    let store = reopen_plain(dir.path());
    assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("c").unwrap(), None);
}

#[test]
fn failed_manifest_sync_during_flush_poisons_writes_but_not_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fs = faulty();
    fs.target(Some("MANIFEST"));
    let store = open(dir.path(), Arc::clone(&fs));
    for i in 0..100u32 {
        store.put(format!("k{i:03}"), "v").unwrap();
    }
    fs.fail_syncs(true);
    let err = store.flush_memtable().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(
        err.path()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("MANIFEST")),
        "{err}"
    );
    fs.fail_syncs(false);
    let err = store.put("after", "x").unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    assert!(err.is_poisoned());
    assert_eq!(store.get("k050").unwrap(), Some(b"v".to_vec()));
    drop(store);
    let store = reopen_plain(dir.path());
    for i in 0..100u32 {
        assert_eq!(store.get(format!("k{i:03}")).unwrap(), Some(b"v".to_vec()));
    }
}

/// A file system whose WAL `sync_data`, once armed, blocks until the test
/// releases it and then fails with EIO.
#[derive(Debug, Default)]
struct HeldSyncFs {
    state: std::sync::Mutex<HeldSync>,
    changed: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct HeldSync {
    armed: bool,
    entered: usize,
    released: bool,
}

impl HeldSyncFs {
    fn set(&self, f: impl FnOnce(&mut HeldSync)) {
        f(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }
    fn wait(&self, until: impl Fn(&HeldSync) -> bool) {
        let mut state = self.state.lock().unwrap();
        while !until(&state) {
            state = self.changed.wait(state).unwrap();
        }
    }
}

#[derive(Debug)]
struct HeldSyncFile {
    inner: Arc<dyn lsm_core::fs::WritableFile>,
    fs: Arc<HeldSyncFs>,
}

impl lsm_core::fs::WritableFile for HeldSyncFile {
    fn append(&self, data: &[u8]) -> std::io::Result<()> {
        self.inner.append(data)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        if !self.fs.state.lock().unwrap().armed {
            return self.inner.sync_data();
        }
        self.fs.set(|s| s.entered += 1);
        self.fs.wait(|s| s.released);
        Err(std::io::Error::from_raw_os_error(5))
    }
}

#[derive(Debug)]
struct HeldSyncWrapper(Arc<HeldSyncFs>);

impl lsm_core::FileSystem for HeldSyncWrapper {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> std::io::Result<Arc<dyn lsm_core::fs::WritableFile>> {
        Ok(Arc::new(HeldSyncFile {
            inner: OsFileSystem.create(path)?,
            fs: Arc::clone(&self.0),
        }))
    }
    fn open_read(&self, path: &Path) -> std::io::Result<Arc<dyn lsm_core::fs::RandomAccessFile>> {
        OsFileSystem.open_read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        OsFileSystem.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        OsFileSystem.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        OsFileSystem.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        OsFileSystem.sync_dir(dir)
    }
    fn file_size(&self, path: &Path) -> std::io::Result<u64> {
        OsFileSystem.file_size(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        OsFileSystem.truncate(path, len)
    }
    fn exists(&self, path: &Path) -> bool {
        OsFileSystem.exists(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn lsm_core::fs::FileLock>> {
        OsFileSystem.lock(path)
    }
}

#[test]
fn a_writer_behind_a_failed_append_does_not_wait_forever_for_visibility() {
    // Writer A's append claims a sync (its record crosses the EveryBytes
    // threshold) and blocks in it; writer B's small append needs no sync,
    // succeeds with the next sequence number and publishes, then waits for
    // A's range so that its own read would see its write. A's sync fails:
    // A's range is published with nothing in it (A is not acknowledged),
    // so B's wait ends and B's write, in the WAL and the memtable, is
    // acknowledged and visible. (Before, A's range was never published and
    // B returned Poisoned for a write that was made.) Later writes are
    // refused.
    let dir = tempfile::tempdir().unwrap();
    let held = Arc::new(HeldSyncFs::default());
    let config = LsmConfig::builder(dir.path())
        .wal_sync(SyncMode::EveryBytes(512))
        .fs(Arc::new(HeldSyncWrapper(Arc::clone(&held))))
        .build()
        .unwrap();
    let store = Arc::new(SimpleLsmStore::open(config).unwrap());
    held.set(|s| s.armed = true);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let a = {
        let store = Arc::clone(&store);
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(("a", store.put("a", [b'v'; 1024])));
        })
    };
    held.wait(|s| s.entered == 1);
    let b = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let _ = done_tx.send(("b", store.put("b", "small")));
        })
    };
    // B's append needs no sync: it returns, and B waits for A's range.
    assert!(
        done_rx
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "a writer returned while A's sync was held"
    );
    assert_eq!(store.stats().unwrap().last_seq, 2, "B's append did not run");
    held.set(|s| s.released = true);
    let mut results = std::collections::HashMap::new();
    for _ in 0..2 {
        let (who, result) = done_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a writer hung behind a range that is never published");
        results.insert(who, result);
    }
    a.join().unwrap();
    b.join().unwrap();
    let a_err = results["a"]
        .as_ref()
        .expect_err("A's failed sync was acknowledged");
    assert_wal_io_error(a_err);
    let b_seq = *results["b"].as_ref().expect("B's write was made");
    assert_eq!(b_seq, 2);
    assert!(matches!(store.put("c", "x"), Err(Error::Poisoned { .. })));
    assert_eq!(
        store.get("b").unwrap(),
        Some(b"small".to_vec()),
        "B is visible"
    );
    assert_eq!(store.get("a").unwrap(), None, "A is not");
}

/// Writes until the write that fills the memtable runs the inline flush,
/// whose table I/O `fs` fails. Returns the key and value of that write and
/// what its `put` returned.
fn put_until_the_inline_flush_runs(
    store: &SimpleLsmStore,
) -> (String, String, lsm_store_sync::Result<u64>) {
    for i in 0..100_000u32 {
        let (key, value) = (
            format!("k{i:06}"),
            format!("value-{i:06}-{}", "x".repeat(100)),
        );
        let result = store.put(&key, &value);
        // The triggering write is the first after which the store refuses
        // writes (its flush failed), or the first that returned an error.
        if result.is_err() || store.stats().unwrap().poisoned.is_some() {
            return (key, value, result);
        }
    }
    panic!("no put ran a flush");
}

#[test]
fn a_put_whose_inline_flush_fails_returns_ok_and_the_next_write_is_poisoned() {
    for (fault, fail) in [
        (
            "ENOSPC on table append",
            FaultyFileSystem::fail_appends as fn(&FaultyFileSystem, bool),
        ),
        ("EIO on table sync", FaultyFileSystem::fail_syncs),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fs = faulty();
        fs.target(Some(".sst"));
        let store = open(dir.path(), Arc::clone(&fs));
        store.put("before", "1").unwrap();
        fail(&fs, true);
        let (key, value, result) = put_until_the_inline_flush_runs(&store);
        // The write is in the WAL and the memtable: it was written, so it
        // is acknowledged; the maintenance failure is the store's, not the
        // write's.
        let seq = match result {
            Ok(seq) => seq,
            Err(err) => panic!(
                "{fault}: the put that triggered the failing flush returned {err}, \
                 although its write is durable and visible"
            ),
        };
        assert_eq!(store.stats().unwrap().last_seq, seq, "{fault}");
        assert_eq!(
            store.get(&key).unwrap().as_deref(),
            Some(value.as_bytes()),
            "{fault}"
        );
        let err = store.put("after", "x").unwrap_err();
        assert!(err.is_poisoned(), "{fault}: {err}");
        match &err {
            Error::Poisoned { reason } => {
                assert!(reason.contains("flush"), "{fault}: reason {reason:?}")
            }
            other => panic!("{fault}: {other}"),
        }
        assert_eq!(store.get("before").unwrap(), Some(b"1".to_vec()));
        drop(store);
        fail(&fs, false);
        let store = reopen_plain(dir.path());
        assert_eq!(
            store.get(&key).unwrap().as_deref(),
            Some(value.as_bytes()),
            "{fault}: the acknowledged write was lost by the reopen"
        );
        assert_eq!(store.get("after").unwrap(), None, "{fault}");
        store.put("healthy", "again").unwrap();
    }
}
