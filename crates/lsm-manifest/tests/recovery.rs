//! Manifest recovery and failure behaviour, through the public API and the
//! real file system (plus a wrapper that fails syncs on demand).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lsm_core::fs::{FileLock, RandomAccessFile, WritableFile};
use lsm_core::{FileSystem, InternalKey, OsFileSystem, SharedFileSystem, ValueKind};
use lsm_manifest::{
    manifest_file_name, read_manifest, read_manifest_file, table_file_name, Error, FileMeta,
    Manifest, RecoveredState, Version, VersionEdit, CURRENT_FILE_NAME,
};

const LEVELS: usize = 4;

fn table(number: u64, lo: &str, hi: &str, seq: u64) -> FileMeta {
    FileMeta {
        number,
        file_bytes: 100 * number,
        smallest: InternalKey::new(lo.as_bytes(), seq, ValueKind::Put),
        largest: InternalKey::new(hi.as_bytes(), seq, ValueKind::Delete),
        min_seq: seq,
        max_seq: seq,
        entries: 10,
        tombstones: 1,
    }
}

fn open(dir: &Path) -> (Manifest, RecoveredState) {
    Manifest::open(OsFileSystem::shared(), dir, LEVELS).unwrap()
}

fn open_err(dir: &Path) -> Error {
    Manifest::open(OsFileSystem::shared(), dir, LEVELS).unwrap_err()
}

fn live_manifest(dir: &Path) -> PathBuf {
    let current = std::fs::read_to_string(dir.join(CURRENT_FILE_NAME)).unwrap();
    dir.join(current.trim_end())
}

/// Logs a flush (one L0 table), then a compaction (L0 table to L1), then
/// another flush; returns the version after each edit.
fn log_three_edits(manifest: &mut Manifest) -> Vec<Arc<Version>> {
    let a = manifest.new_file_number();
    let v1 = manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(a, "a", "m", 10))],
            last_seq: Some(10),
            wal_segment: Some(2),
            ..VersionEdit::default()
        })
        .unwrap();
    let b = manifest.new_file_number();
    let v2 = manifest
        .log_and_apply(VersionEdit {
            removed: vec![(0, a)],
            added: vec![(1, table(b, "a", "m", 10))],
            ..VersionEdit::default()
        })
        .unwrap();
    let c = manifest.new_file_number();
    let v3 = manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(c, "k", "z", 20))],
            last_seq: Some(20),
            wal_segment: Some(3),
            ..VersionEdit::default()
        })
        .unwrap();
    vec![v1, v2, v3]
}

#[test]
fn fresh_open_creates_an_empty_catalog_and_current() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, recovered) = open(dir.path());
    assert_eq!(recovered.version.num_levels(), LEVELS);
    assert_eq!(recovered.version.num_files(), 0);
    assert_eq!((recovered.last_seq, recovered.wal_segment), (0, 0));
    assert_eq!(
        recovered.source, None,
        "a fresh catalog is read from no file"
    );
    assert_eq!(manifest.manifest_number(), 1);
    assert_eq!(
        recovered.next_file_number, 1,
        "read before the new manifest took 1"
    );
    assert_eq!(manifest.next_file_number(), 2);
    assert_eq!(
        live_manifest(dir.path()),
        dir.path().join(manifest_file_name(1))
    );
}

#[test]
fn reopen_recovers_identical_version_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    let versions = log_three_edits(&mut manifest);
    let spare = manifest.new_file_number(); // allocated, never logged
    let before = (
        manifest.last_seq(),
        manifest.wal_segment(),
        manifest.manifest_number(),
    );
    drop(manifest);

    let (manifest, recovered) = open(dir.path());
    assert_eq!(*recovered.version, *versions[2]);
    assert_eq!(*manifest.current(), *versions[2]);
    assert_eq!((recovered.last_seq, recovered.wal_segment), (20, 3));
    assert_eq!(
        (manifest.last_seq(), manifest.wal_segment()),
        (before.0, before.1)
    );
    assert!(manifest.manifest_number() > before.2);
    assert_eq!(
        recovered.next_file_number,
        manifest.manifest_number(),
        "the new manifest takes the first unallocated number"
    );
    assert!(
        manifest.next_file_number() > manifest.manifest_number(),
        "the new manifest's number is taken"
    );
    // Every logged table number is behind the counter; the unlogged spare
    // may be handed out again.
    let max_table = recovered
        .version
        .all_files()
        .map(|(_, f)| f.number)
        .max()
        .unwrap();
    assert!(recovered.next_file_number > max_table);
    assert!(spare >= max_table);
    // The old manifest is gone; only the live one remains.
    let manifests: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("MANIFEST-"))
        .collect();
    assert_eq!(manifests, [manifest_file_name(manifest.manifest_number())]);

    // And a second reopen agrees too.
    drop(manifest);
    let (_, again) = open(dir.path());
    assert_eq!(*again.version, *versions[2]);
    assert_eq!(again.last_seq, 20);
}

/// Copies every file of `from` into a fresh temp dir.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
    }
    to
}

/// A store with three logged edits; returns the dir, the versions, and the
/// offset where the last record of the live manifest starts.
fn store_with_three_edits() -> (tempfile::TempDir, Vec<Arc<Version>>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    let versions = log_three_edits(&mut manifest);
    drop(manifest);
    let dump = read_manifest(&OsFileSystem, dir.path()).unwrap();
    assert_eq!(dump.records.len(), 4, "snapshot + three edits");
    assert!(dump.records[0].is_snapshot);
    let last = dump.records.last().unwrap().offset;
    (dir, versions, last)
}

#[test]
fn torn_last_record_is_dropped_on_recovery_at_every_cut() {
    let (base, versions, last_offset) = store_with_three_edits();
    let manifest_path = live_manifest(base.path());
    let len = std::fs::metadata(&manifest_path).unwrap().len();
    for cut in last_offset..len {
        let dir = copy_dir(base.path());
        let path = live_manifest(dir.path());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let dump = read_manifest(&OsFileSystem, dir.path()).unwrap();
        assert_eq!(dump.records.len(), 3, "cut at {cut}");
        assert_eq!(
            dump.dropped_tail.as_ref().map(|t| t.offset),
            (cut > last_offset).then_some(last_offset),
            "cut at {cut}"
        );
        let (manifest, recovered) = open(dir.path());
        assert_eq!(*recovered.version, *versions[1], "cut at {cut}");
        assert_eq!(recovered.last_seq, 10, "cut at {cut}");
        assert_eq!(recovered.wal_segment, 2, "cut at {cut}");
        drop(manifest);
        // The rewritten manifest no longer holds the torn bytes.
        let clean = read_manifest(&OsFileSystem, dir.path()).unwrap();
        assert_eq!(clean.records.len(), 1);
        assert_eq!(clean.dropped_tail, None);
    }
}

#[test]
fn zeroed_and_garbage_tails_are_dropped() {
    let (base, versions, _) = store_with_three_edits();
    for tail in [
        vec![0u8; 4096],
        vec![0xA5; 3],
        b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a".to_vec(),
    ] {
        let dir = copy_dir(base.path());
        let path = live_manifest(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&tail);
        std::fs::write(&path, &bytes).unwrap();
        let (_, recovered) = open(dir.path());
        assert_eq!(*recovered.version, *versions[2]);
    }
}

#[test]
fn flipped_byte_in_last_record_is_dropped_like_a_torn_write() {
    let (base, versions, last_offset) = store_with_three_edits();
    let dir = copy_dir(base.path());
    let path = live_manifest(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[last_offset as usize + 12] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (_, recovered) = open(dir.path());
    assert_eq!(*recovered.version, *versions[1]);
}

#[test]
fn flipped_byte_in_a_middle_record_is_corruption_naming_the_manifest() {
    let (base, _, _) = store_with_three_edits();
    let dump = read_manifest(&OsFileSystem, base.path()).unwrap();
    let middle = &dump.records[2];
    for at in [0, 4, 8, 9, middle.framed_bytes - 1] {
        let dir = copy_dir(base.path());
        let path = live_manifest(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(middle.offset + at) as usize] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let before = std::fs::read_dir(dir.path()).unwrap().count();
        match open_err(dir.path()) {
            Error::Core(lsm_core::Error::Corruption {
                path: named,
                offset,
                ..
            }) => {
                assert_eq!(named, path, "flip at +{at}");
                assert_eq!(offset, middle.offset, "flip at +{at}");
            }
            other => panic!("flip at +{at}: expected corruption, got {other}"),
        }
        let err = read_manifest(&OsFileSystem, dir.path()).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        // Nothing was rewritten: CURRENT still names the damaged manifest.
        assert_eq!(live_manifest(dir.path()), path);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), before);
    }
}

#[test]
fn damaged_snapshot_record_is_corruption() {
    let (base, _, _) = store_with_three_edits();
    let dir = copy_dir(base.path());
    let path = live_manifest(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let err = open_err(dir.path());
    assert!(err.is_corruption(), "{err}");
}

#[test]
fn garbage_or_dangling_current_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let current = dir.path().join(CURRENT_FILE_NAME);
    for garbage in [&b"hello\n"[..], b"", b"MANIFEST-000001", b"\0\0\0\0"] {
        std::fs::write(&current, garbage).unwrap();
        let err = open_err(dir.path());
        assert!(err.is_corruption(), "{garbage:?}: {err}");
        assert!(err.to_string().contains("CURRENT"), "{err}");
    }
    std::fs::write(&current, "MANIFEST-000099\n").unwrap();
    let err = open_err(dir.path());
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("MANIFEST-000099"), "{err}");
}

#[test]
fn current_naming_a_non_manifest_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    // A file with valid record framing but no manifest magic (as a WAL
    // segment would have).
    let mut bytes = Vec::new();
    lsm_core::record::encode_record(&mut bytes, 1, b"\x01\x02\x03\x05");
    std::fs::write(dir.path().join(manifest_file_name(50)), &bytes).unwrap();
    std::fs::write(dir.path().join(CURRENT_FILE_NAME), "MANIFEST-000050\n").unwrap();
    let err = open_err(dir.path());
    assert!(err.to_string().contains("magic"), "{err}");
    // An empty manifest has no snapshot.
    std::fs::write(dir.path().join(manifest_file_name(50)), b"").unwrap();
    assert!(open_err(dir.path()).is_corruption());
}

#[test]
fn missing_current_with_tables_present_refuses_to_start_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    log_three_edits(&mut manifest);
    drop(manifest);
    std::fs::remove_file(dir.path().join(CURRENT_FILE_NAME)).unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, Error::MissingCurrent { .. }), "{err}");

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join(table_file_name(7)), b"table").unwrap();
    let err = open_err(other.path());
    assert!(matches!(err, Error::MissingCurrent { .. }), "{err}");
}

#[test]
fn leftover_empty_manifest_from_an_interrupted_create_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    std::fs::remove_file(dir.path().join(CURRENT_FILE_NAME)).unwrap();
    std::fs::write(dir.path().join(manifest_file_name(3)), b"").unwrap();
    let (_, recovered) = open(dir.path());
    assert_eq!(recovered.version.num_files(), 0);
    assert!(!dir.path().join(manifest_file_name(3)).exists());
}

#[test]
fn invalid_edits_are_refused_without_writing_or_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    log_three_edits(&mut manifest);
    let bytes = manifest.manifest_bytes();
    let before = manifest.current();
    let bad = [
        VersionEdit {
            removed: vec![(2, 999)],
            ..VersionEdit::default()
        },
        VersionEdit {
            added: vec![(1, table(50, "b", "c", 1))],
            ..VersionEdit::default()
        },
        VersionEdit {
            added: vec![(9, table(51, "b", "c", 1))],
            ..VersionEdit::default()
        },
        VersionEdit {
            added: vec![(0, table(52, "z", "a", 1))],
            ..VersionEdit::default()
        },
        VersionEdit {
            last_seq: Some(u64::MAX),
            ..VersionEdit::default()
        },
        VersionEdit {
            added: vec![(
                0,
                FileMeta {
                    number: u64::MAX,
                    ..table(53, "x", "y", 1)
                },
            )],
            ..VersionEdit::default()
        },
        VersionEdit {
            added: vec![(
                0,
                FileMeta {
                    number: 1 << 56,
                    ..table(54, "x", "y", 1)
                },
            )],
            ..VersionEdit::default()
        },
    ];
    for edit in bad {
        let err = manifest.log_and_apply(edit.clone()).unwrap_err();
        assert!(matches!(err, Error::InvalidEdit { .. }), "{edit:?}: {err}");
    }
    assert!(!manifest.is_poisoned());
    assert_eq!(manifest.manifest_bytes(), bytes);
    assert_eq!(
        std::fs::metadata(live_manifest(dir.path())).unwrap().len(),
        bytes
    );
    assert!(Arc::ptr_eq(&manifest.current(), &before));
    manifest.log_and_apply(VersionEdit::default()).unwrap();
}

/// Writes `MANIFEST-000001` holding one snapshot record whose checksum is
/// right, with the given next file number (last sequence number 0, WAL
/// segment 0, no tables), and points `CURRENT` at it. The field tags are
/// those of docs/format/manifest.md.
fn write_manifest_with_next_file_number(dir: &Path, next_file_number: u64) {
    use lsm_core::coding::put_varint64;
    let mut payload = Vec::new();
    put_varint64(&mut payload, 1); // format version
    put_varint64(&mut payload, 2);
    put_varint64(&mut payload, 2); // magic
    payload.extend_from_slice(b"LSMMANIF");
    put_varint64(&mut payload, 3); // next file number
    put_varint64(&mut payload, next_file_number);
    put_varint64(&mut payload, 4); // last sequence number
    put_varint64(&mut payload, 0);
    put_varint64(&mut payload, 5); // WAL segment
    put_varint64(&mut payload, 0);
    let mut record = Vec::new();
    lsm_core::record::encode_record(&mut record, 1, &payload);
    std::fs::write(dir.join(manifest_file_name(1)), &record).unwrap();
    std::fs::write(dir.join(CURRENT_FILE_NAME), b"MANIFEST-000001\n").unwrap();
}

/// A next file number at `u64::MAX` would overflow (a panic in debug
/// builds) or wrap to numbers in use (a truncated live table in release
/// builds) at the next allocation: it is corruption naming the manifest.
#[test]
fn a_next_file_number_past_the_limit_is_corruption_not_an_overflow() {
    for next in [u64::MAX, (1 << 56) + 1] {
        let dir = tempfile::tempdir().unwrap();
        write_manifest_with_next_file_number(dir.path(), next);
        let err = open_err(dir.path());
        assert!(err.is_corruption(), "{next}: {err}");
        assert!(err.to_string().contains("MANIFEST-000001"), "{err}");
    }
    // A number within it opens.
    let dir = tempfile::tempdir().unwrap();
    write_manifest_with_next_file_number(dir.path(), 7);
    let (manifest, recovered) = open(dir.path());
    assert!(recovered.next_file_number >= 7);
    assert!(
        manifest.next_file_number() > 7,
        "open allocated the new manifest's number"
    );
}

#[test]
fn counters_never_move_backwards_and_added_numbers_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    manifest
        .log_and_apply(VersionEdit {
            last_seq: Some(100),
            wal_segment: Some(9),
            // A number the caller did not allocate: the counter skips past it.
            added: vec![(0, table(500, "a", "b", 100))],
            ..VersionEdit::default()
        })
        .unwrap();
    manifest
        .log_and_apply(VersionEdit {
            last_seq: Some(50),
            wal_segment: Some(4),
            ..VersionEdit::default()
        })
        .unwrap();
    assert_eq!((manifest.last_seq(), manifest.wal_segment()), (100, 9));
    assert_eq!(manifest.new_file_number(), 501);
    drop(manifest);
    let (_, recovered) = open(dir.path());
    assert_eq!((recovered.last_seq, recovered.wal_segment), (100, 9));
    assert!(recovered.next_file_number > 500);
}

#[test]
fn large_manifest_rolls_over_to_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    manifest.set_rollover_bytes(600);
    let first = manifest.manifest_number();
    let mut manifests = vec![first];
    for i in 0..30u64 {
        let n = manifest.new_file_number();
        manifest
            .log_and_apply(VersionEdit {
                added: vec![(0, table(n, "a", "b", i))],
                last_seq: Some(i),
                ..VersionEdit::default()
            })
            .unwrap();
        if manifests.last() != Some(&manifest.manifest_number()) {
            manifests.push(manifest.manifest_number());
        }
    }
    assert!(manifests.len() > 1, "rolled over at least once");
    assert!(
        manifests.len() < 8,
        "rolling over is amortized: {manifests:?}"
    );
    assert_eq!(
        live_manifest(dir.path()),
        dir.path()
            .join(manifest_file_name(manifest.manifest_number()))
    );
    assert!(!dir.path().join(manifest_file_name(first)).exists());
    let expected = manifest.current();
    let next = manifest.next_file_number();
    drop(manifest);
    let (_, recovered) = open(dir.path());
    assert_eq!(*recovered.version, *expected);
    assert_eq!(recovered.version.num_files(), 30);
    assert_eq!(recovered.last_seq, 29);
    assert!(recovered.next_file_number >= next);
}

#[test]
fn read_manifest_lists_records_and_writes_nothing() {
    let (dir, versions, last_offset) = store_with_three_edits();
    let listing = |p: &Path| {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = listing(dir.path());
    let dump = read_manifest(&OsFileSystem, dir.path()).unwrap();
    assert_eq!(listing(dir.path()), before);
    assert_eq!(dump.path, live_manifest(dir.path()));
    assert_eq!(dump.records[0].offset, 0);
    for pair in dump.records.windows(2) {
        assert_eq!(pair[0].offset + pair[0].framed_bytes, pair[1].offset);
    }
    assert_eq!(dump.records[3].offset, last_offset);
    assert_eq!(dump.file_bytes, last_offset + dump.records[3].framed_bytes);
    assert_eq!(dump.last_seq, 20);
    assert_eq!(
        dump.version.num_levels(),
        2,
        "trimmed to the deepest used level"
    );
    let want: Vec<u64> = versions[2].all_files().map(|(_, f)| f.number).collect();
    let got: Vec<u64> = dump.version.all_files().map(|(_, f)| f.number).collect();
    assert_eq!(got, want);
    assert_eq!(read_manifest_file(&OsFileSystem, &dump.path).unwrap(), dump);
}

#[test]
fn zero_or_too_many_levels_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for levels in [0, 33] {
        let err = Manifest::open(OsFileSystem::shared(), dir.path(), levels).unwrap_err();
        assert!(matches!(err, Error::InvalidNumLevels { .. }), "{err}");
    }
    assert!(!dir.path().join(CURRENT_FILE_NAME).exists());
}

// ---------------------------------------------------------------------------
// Fault injection: a file system whose syncs fail on demand.

#[derive(Debug, Default)]
struct FailingSyncFs {
    inner: OsFileSystem,
    fail_sync: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FailingSyncFile {
    inner: Arc<dyn WritableFile>,
    fail_sync: Arc<AtomicBool>,
}

impl WritableFile for FailingSyncFile {
    fn append(&self, data: &[u8]) -> io::Result<()> {
        self.inner.append(data)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.inner.sync_data()
    }
}

impl FileSystem for FailingSyncFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn WritableFile>> {
        Ok(Arc::new(FailingSyncFile {
            inner: self.inner.create(path)?,
            fail_sync: Arc::clone(&self.fail_sync),
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
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected directory fsync failure"));
        }
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

fn failing_fs() -> (SharedFileSystem, Arc<AtomicBool>) {
    let fs = FailingSyncFs::default();
    let switch = Arc::clone(&fs.fail_sync);
    (Arc::new(fs), switch)
}

#[test]
fn failed_sync_poisons_the_manifest_and_keeps_the_old_version() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, fail_sync) = failing_fs();
    let (mut manifest, _) = Manifest::open(fs, dir.path(), LEVELS).unwrap();
    let versions = log_three_edits(&mut manifest);

    fail_sync.store(true, Ordering::SeqCst);
    let n = manifest.new_file_number();
    let edit = VersionEdit {
        added: vec![(0, table(n, "a", "b", 30))],
        last_seq: Some(30),
        ..VersionEdit::default()
    };
    let err = manifest.log_and_apply(edit.clone()).unwrap_err();
    match &err {
        Error::Core(lsm_core::Error::Io { path, .. }) => {
            assert!(path.to_string_lossy().contains("MANIFEST-"), "{err}")
        }
        other => panic!("expected an I/O error, got {other}"),
    }
    assert!(manifest.is_poisoned());
    assert_eq!(
        *manifest.current(),
        *versions[2],
        "in-memory version unchanged"
    );
    assert_eq!(manifest.last_seq(), 20);

    // Even once the disk recovers, the manifest stays poisoned.
    fail_sync.store(false, Ordering::SeqCst);
    for later in [edit, VersionEdit::default()] {
        let err = manifest.log_and_apply(later).unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "{err}");
        assert!(err.to_string().contains("injected fsync failure"), "{err}");
    }
}

#[test]
fn failed_sync_during_rollover_poisons_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, fail_sync) = failing_fs();
    let (mut manifest, _) = Manifest::open(fs, dir.path(), LEVELS).unwrap();
    let versions = log_three_edits(&mut manifest);
    let number = manifest.manifest_number();
    manifest.set_rollover_bytes(0);
    fail_sync.store(true, Ordering::SeqCst);
    let err = manifest.log_and_apply(VersionEdit::default()).unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::Io { .. })),
        "{err}"
    );
    assert!(manifest.is_poisoned());
    assert_eq!(manifest.manifest_number(), number);
    assert_eq!(*manifest.current(), *versions[2]);
    let started = manifest.next_file_number();
    assert!(
        dir.path().join(manifest_file_name(started)).exists(),
        "the edit went to a new manifest file, not an append"
    );
    drop(manifest);
    // CURRENT was never switched, so recovery reads the old manifest (and
    // reuses the abandoned file's number, overwriting it).
    assert_eq!(
        live_manifest(dir.path()),
        dir.path().join(manifest_file_name(number))
    );
    let (_, recovered) = open(dir.path());
    assert_eq!(*recovered.version, *versions[2]);
    assert!(!dir.path().join(manifest_file_name(number)).exists());
    let manifests = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("MANIFEST-")
        })
        .count();
    assert_eq!(manifests, 1);
}

#[test]
fn failed_sync_during_open_is_an_error_and_leaves_the_store_openable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut manifest, _) = open(dir.path());
    let versions = log_three_edits(&mut manifest);
    drop(manifest);
    let (fs, fail_sync) = failing_fs();
    fail_sync.store(true, Ordering::SeqCst);
    let err = Manifest::open(fs, dir.path(), LEVELS).unwrap_err();
    assert!(
        matches!(err, Error::Core(lsm_core::Error::Io { .. })),
        "{err}"
    );
    let (_, recovered) = open(dir.path());
    assert_eq!(*recovered.version, *versions[2]);
}

#[test]
fn manifest_is_send_and_versions_are_shareable() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Manifest>();
    send_sync::<Version>();
    send_sync::<FileMeta>();
    let dir = tempfile::tempdir().unwrap();
    let (manifest, _) = open(dir.path());
    let v = manifest.current();
    let handle = std::thread::spawn(move || v.num_files());
    assert_eq!(handle.join().unwrap(), 0);
}

/// A power cut after a rollover renamed `CURRENT.tmp` over `CURRENT` but
/// before the directory sync that follows: `CURRENT` names the old or the
/// new manifest, and the store recovers (the fault file system undoes a
/// rename whose directory was not synced, so here the old one).
#[test]
fn a_crash_between_the_current_rename_and_the_directory_sync_recovers() {
    use lsm_core::fault::FaultyFileSystem;
    use lsm_core::{InternalKey, SharedFileSystem, ValueKind};
    use lsm_manifest::{FileMeta, VersionEdit};

    let table = |number: u64, seq: u64| FileMeta {
        number,
        file_bytes: 100 * number,
        smallest: InternalKey::new(b"a", seq, ValueKind::Put),
        largest: InternalKey::new(b"b", seq, ValueKind::Put),
        min_seq: seq,
        max_seq: seq,
        entries: 1,
        tombstones: 0,
    };
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let shared: SharedFileSystem = fs.clone();
    let (mut manifest, _) = Manifest::open(shared, dir.path(), 4).unwrap();
    let n = manifest.new_file_number();
    manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(n, 1))],
            last_seq: Some(1),
            ..VersionEdit::default()
        })
        .unwrap();
    manifest.set_rollover_bytes(0);
    let before = manifest.manifest_number();
    // roll_over: create, append, sync, sync_dir (new manifest), then
    // create, append, sync, rename (CURRENT.tmp -> CURRENT); the 9th
    // operation, the directory fsync, fails.
    fs.fail_after(Some(8));
    let n = manifest.new_file_number();
    let err = manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(n, 2))],
            last_seq: Some(2),
            ..VersionEdit::default()
        })
        .unwrap_err();
    fs.fail_after(None);
    assert!(
        std::fs::read_to_string(dir.path().join(CURRENT_FILE_NAME))
            .unwrap()
            .trim_end()
            != format!("MANIFEST-{before:06}"),
        "the rename happened before the failure ({err})"
    );
    drop(manifest);
    fs.crash().unwrap();
    assert!(
        dir.path().join(CURRENT_FILE_NAME).exists(),
        "the simulated power loss removed CURRENT (neither old nor new survived)"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(CURRENT_FILE_NAME))
            .unwrap()
            .trim_end(),
        format!("MANIFEST-{before:06}"),
        "the rename was not undone"
    );
    Manifest::recover(&*fs, dir.path(), 4).unwrap();
}
