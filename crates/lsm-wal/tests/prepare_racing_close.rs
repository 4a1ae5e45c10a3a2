//! `close` frees the blocks reserved past the ends of the current and the
//! prepared segment (64 MiB a segment by default). A `prepare_next_segment`
//! still creating its file when `close` ran reserved them after `close`
//! looked: they stayed taken until a later flush deleted the segment.
//! (Found by a review.) Real files: the test reads the blocks the segment
//! holds on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use lsm_core::fs::{FileLock, FileSystem, RandomAccessFile, SharedFileSystem, WritableFile};
use lsm_core::OsFileSystem;
use lsm_wal::{segment_path, SyncMode, WalOptions, WalWriter};

const SEGMENT_BYTES: u64 = 8 << 20;

/// Holds the creation of segment 2 until the test lets it go.
#[derive(Debug)]
struct GatedCreate {
    inner: SharedFileSystem,
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
}

impl FileSystem for GatedCreate {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        if path == segment_path(path.parent().unwrap(), 2) {
            if let Some(entered) = self.entered.lock().unwrap().take() {
                entered.send(()).unwrap();
            }
            if let Some(release) = self.release.lock().unwrap().take() {
                release.recv().unwrap();
            }
        }
        self.inner.create(path)
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

fn allocated_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

#[test]
fn a_segment_prepared_while_close_ran_keeps_no_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let fs: SharedFileSystem = Arc::new(GatedCreate {
        inner: OsFileSystem::shared(),
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(Some(release_rx)),
    });
    let options = WalOptions {
        sync_mode: SyncMode::Always,
        segment_bytes: SEGMENT_BYTES,
        ..WalOptions::default()
    };
    let wal = Arc::new(WalWriter::create(fs, dir.path(), 1, 1, options).unwrap());
    // Reservations are a hint: without fallocate there is nothing to free.
    if allocated_bytes(&segment_path(dir.path(), 1)) < SEGMENT_BYTES / 2 {
        eprintln!("skipped: this file system does not reserve blocks");
        return;
    }
    let preparing = {
        let wal = Arc::clone(&wal);
        std::thread::spawn(move || wal.prepare_next_segment())
    };
    entered_rx.recv().unwrap();
    wal.close().unwrap();
    release_tx.send(()).unwrap();
    preparing.join().unwrap().unwrap();

    let current = allocated_bytes(&segment_path(dir.path(), 1));
    let prepared = allocated_bytes(&segment_path(dir.path(), 2));
    assert!(current < 1 << 20, "segment 1 still holds {current} bytes");
    assert!(
        prepared < 1 << 20,
        "segment 2, prepared while close ran, still holds {prepared} bytes"
    );
}
