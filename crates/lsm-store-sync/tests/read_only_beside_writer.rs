//! A read-only open beside a store that keeps flushing and compacting: the
//! owner deletes WAL segments and tables the manifest version the reader
//! read so far still named (after logging the edit that retires them). The
//! open must not report that healthy store as corrupt ("WAL segment N is
//! missing", "table N is listed but missing"): it reads the newer state
//! instead. Found by a review: a read-only open beside a busy writer failed
//! with such corruption errors most of the time. Likewise a read of the
//! WAL's newest segment that is not atomic against the owner's appends
//! (`read(2)` is not: a slow read can copy a block before the owner wrote a
//! record there and a later block after it wrote the next one) reads as
//! damage the owner's next records contradict: read again, not corruption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, OsFileSystem};
use lsm_store_sync::{LsmConfig, ReadOnlyStore, SimpleLsmStore, SyncMode};

type Hook = Box<dyn FnOnce() + Send>;
/// Given the bytes a read found, returns the bytes it returns.
type ReadHook = Box<dyn FnOnce(&Path, Vec<u8>) -> Vec<u8> + Send>;

/// The OS file system, running a hook once right after the first manifest
/// was read whole: the moment a concurrent owner's flush or compaction
/// makes the version just read out of date.
#[derive(Default)]
struct AfterManifestRead {
    hook: Mutex<Option<Hook>>,
    /// Run once on the first read of a WAL segment.
    wal_hook: Mutex<Option<ReadHook>>,
}

impl std::fmt::Debug for AfterManifestRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterManifestRead")
    }
}

impl FileSystem for AfterManifestRead {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        OsFileSystem.create(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        OsFileSystem.open_read(path)
    }
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let bytes = OsFileSystem.read_all(path)?;
        let wal = path.extension().is_some_and(|ext| ext == "wal");
        if wal {
            let hook = self.wal_hook.lock().unwrap().take();
            if let Some(hook) = hook {
                return Ok(hook(path, bytes));
            }
        }
        let manifest = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("MANIFEST-"));
        if manifest {
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        Ok(bytes)
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

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .l0_trigger(64)
        .num_levels(4)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn value(i: u32) -> String {
    format!("value {i}")
}

/// Right after the reader read the manifest, the owner flushes (retiring
/// the WAL segment the manifest read named) and compacts level 0 (deleting
/// the two tables it listed). The open succeeds and holds every write.
#[test]
fn a_read_only_open_racing_a_flush_and_a_compaction_reads_the_newer_state() {
    let dir = tempfile::tempdir().unwrap();
    let owner = Arc::new(SimpleLsmStore::open(config(dir.path())).unwrap());
    for round in 0..3u32 {
        for i in 0..100 {
            owner.put(format!("k{round}-{i:03}"), value(i)).unwrap();
        }
        if round < 2 {
            owner.flush_memtable().unwrap(); // two L0 tables; round 2 in the WAL
        }
    }
    let fs = Arc::new(AfterManifestRead::default());
    let ran = Arc::new(AtomicBool::new(false));
    {
        let (owner, ran) = (Arc::clone(&owner), Arc::clone(&ran));
        *fs.hook.lock().unwrap() = Some(Box::new(move || {
            owner.flush_memtable().unwrap();
            owner.compact_level(0).unwrap();
            ran.store(true, Ordering::SeqCst);
        }));
    }
    let mut reader_config = config(dir.path());
    reader_config.fs = fs;
    let reader = ReadOnlyStore::open(reader_config);
    assert!(ran.load(Ordering::SeqCst), "the hook never ran");
    let reader = reader.unwrap_or_else(|err| {
        panic!("a read-only open beside a flushing, compacting owner failed: {err}")
    });
    assert_eq!(reader.last_seq(), 300);
    let pairs: Vec<_> = reader
        .range(..)
        .unwrap()
        .map(|item| item.unwrap())
        .collect();
    assert_eq!(pairs.len(), 300);
    for round in 0..3u32 {
        for i in [0, 57, 99] {
            let got = reader.get(format!("k{round}-{i:03}")).unwrap();
            assert_eq!(got, Some(value(i).into_bytes()));
        }
    }
    owner.close().unwrap();
}

/// Under `SyncMode::Always` the newest segment holds zeros written ahead of
/// its records. The reader's read of it is slow: it copies the zeros where
/// the owner's next record R1 goes, the owner writes R1 (synced) and R2
/// (framed knowing R1 is durable), then the read copies the rest: R1's tail
/// and R2. That is a damaged R1 followed by a record saying R1 was durable,
/// which a crash cannot leave; but here nothing is damaged. The open
/// succeeds, holding every write up to some point.
#[test]
fn a_read_only_open_whose_wal_read_overlaps_the_owners_appends_reads_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut owner_config = config(dir.path());
    owner_config.wal_sync = SyncMode::Always;
    let owner = Arc::new(SimpleLsmStore::open(owner_config).unwrap());
    for i in 0..50 {
        owner.put(format!("k{i:03}"), value(i)).unwrap();
    }
    let fs = Arc::new(AfterManifestRead::default());
    let torn = Arc::new(AtomicBool::new(false));
    {
        let (owner, torn) = (Arc::clone(&owner), Arc::clone(&torn));
        *fs.wal_hook.lock().unwrap() = Some(Box::new(move |path: &Path, before: Vec<u8>| {
            owner.put("r1", vec![b'1'; 10_000]).unwrap();
            owner.put("r2", "after r1 was durable").unwrap();
            let after = std::fs::read(path).unwrap();
            // The first byte R1 changed, and 4 KiB into it: the read's
            // copy of the file so far came before R1, the rest after R2.
            let Some(start) = (0..before.len()).find(|&i| before[i] != after[i]) else {
                return before;
            };
            let split = start + 4096;
            if before.len() < after.len() || split >= before.len() {
                return before; // no zeros written ahead: not this case
            }
            torn.store(true, Ordering::SeqCst);
            let mut read = before[..split].to_vec();
            read.extend_from_slice(&after[split..]);
            read
        }));
    }
    let mut reader_config = config(dir.path());
    reader_config.fs = fs;
    let reader = ReadOnlyStore::open(reader_config);
    assert!(torn.load(Ordering::SeqCst), "the read was never torn");
    let reader = reader.unwrap_or_else(|err| {
        panic!("a read-only open whose WAL read overlapped the owner's appends failed: {err}")
    });
    assert_eq!(reader.last_seq(), 52);
    assert_eq!(
        reader.get("r2").unwrap(),
        Some(b"after r1 was durable".to_vec())
    );
    assert_eq!(reader.get("k049").unwrap(), Some(value(49).into_bytes()));
    owner.close().unwrap();
}
