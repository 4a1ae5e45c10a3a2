//! Test helpers: a fault-injecting file system over the real one, and
//! batch builders.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{BatchView, FileSystem, OsFileSystem, SeqNo, WriteBatch};

/// Switches and counters shared by a [`FaultFs`] and every file it opens.
#[derive(Debug, Default)]
pub struct Faults {
    /// `sync_data` calls that reached the file system.
    pub syncs: AtomicU64,
    /// `append` calls that reached the file system.
    pub appends: AtomicU64,
    /// When set, `sync_data` fails with EIO.
    pub fail_sync: AtomicBool,
    /// When set, `append` fails with EIO without writing.
    pub fail_append: AtomicBool,
    /// Extra time each `sync_data` takes, in microseconds, to model a
    /// device whose flush is slow next to a write.
    pub sync_delay_micros: AtomicU64,
    gate: Mutex<Gate>,
    gate_cv: Condvar,
}

#[derive(Debug, Default)]
struct Gate {
    armed: bool,
    blocked: usize,
}

impl Faults {
    /// From now on, `sync_data` blocks until [`Faults::release_syncs`].
    pub fn block_syncs(&self) {
        self.gate.lock().unwrap().armed = true;
    }

    /// Unblocks every blocked `sync_data` and stops blocking.
    pub fn release_syncs(&self) {
        self.gate.lock().unwrap().armed = false;
        self.gate_cv.notify_all();
    }

    /// How many syncs are blocked in the gate right now.
    pub fn blocked(&self) -> usize {
        self.gate.lock().unwrap().blocked
    }

    /// Waits until at least `n` syncs are blocked in the gate.
    pub fn wait_blocked(&self, n: usize) {
        let mut gate = self.gate.lock().unwrap();
        while gate.blocked < n {
            gate = self.gate_cv.wait(gate).unwrap();
        }
    }

    fn pass_gate(&self) {
        let mut gate = self.gate.lock().unwrap();
        if gate.armed {
            gate.blocked += 1;
            self.gate_cv.notify_all();
            while gate.armed {
                gate = self.gate_cv.wait(gate).unwrap();
            }
            gate.blocked -= 1;
        }
    }
}

/// The OS file system with fault switches and call counters.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    pub faults: Arc<Faults>,
}

#[derive(Debug)]
struct FaultFile {
    inner: Arc<dyn WritableFile>,
    faults: Arc<Faults>,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl WritableFile for FaultFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.faults.appends.fetch_add(1, Ordering::SeqCst);
        if self.faults.fail_append.load(Ordering::SeqCst) {
            return Err(eio("write"));
        }
        self.inner.append(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.faults.pass_gate();
        self.faults.syncs.fetch_add(1, Ordering::SeqCst);
        let delay = self.faults.sync_delay_micros.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_micros(delay));
        }
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(eio("fdatasync"));
        }
        self.inner.sync_data()
    }
}

impl FileSystem for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        OsFileSystem.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        Ok(Arc::new(FaultFile {
            inner: OsFileSystem.create(path)?,
            faults: Arc::clone(&self.faults),
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

/// A one-put batch whose key and value name `tag`.
pub fn tagged_batch(tag: u64) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(
        format!("key-{tag}").as_bytes(),
        format!("value-{tag}").as_bytes(),
    );
    batch
}

/// A batch as replayed: its first seqno and its ops `(is_put, key, value)`.
pub type Replayed = (SeqNo, Vec<(bool, Vec<u8>, Vec<u8>)>);

/// Copies a replayed batch out of its view.
pub fn owned(view: BatchView<'_>) -> Replayed {
    let ops = view
        .iter()
        .map(|op| {
            (
                op.kind == lsm_core::OpKind::Put,
                op.key.to_vec(),
                op.value.to_vec(),
            )
        })
        .collect();
    (view.first_seq(), ops)
}

/// The same, for a batch appended with its first seqno.
pub fn owned_batch(batch: &WriteBatch, first_seq: SeqNo) -> Replayed {
    let mut batch = batch.clone();
    batch.set_first_seq(first_seq);
    owned(BatchView::parse(batch.encoded()).unwrap())
}
