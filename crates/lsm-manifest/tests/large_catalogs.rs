//! Catalogs and edits larger than one record (`MAX_EDIT_BYTES`, 64 MiB):
//! hundreds of tables or range deletes with keys near the key limit. The
//! snapshot that opens every manifest file spans several records, an edit
//! of many range deletes is logged in parts, and damage inside a snapshot
//! is corruption, never a torn tail. (Before, such a store was poisoned by
//! the first rollover and could not be opened again: every open writes a
//! snapshot.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use lsm_core::fault::FaultyFileSystem;
use lsm_core::{InternalKey, OsFileSystem, RangeTombstone, SharedFileSystem, ValueKind};
use lsm_manifest::{
    read_manifest_file, FileMeta, Manifest, Version, VersionEdit, CURRENT_FILE_NAME, MAX_EDIT_BYTES,
};

const LEVELS: usize = 4;

/// Keys of about 60 KiB that sort by `i`.
fn long_key(i: u64, fill: u8) -> Vec<u8> {
    let mut key = format!("{i:08}").into_bytes();
    key.resize(60 * 1024, fill);
    key
}

/// An L1 table holding `long_key(i, a)` to `long_key(i, b)`.
fn table(number: u64, i: u64) -> FileMeta {
    FileMeta {
        number,
        file_bytes: 200_000,
        smallest: InternalKey::new(&long_key(i, b'a'), 5, ValueKind::Put),
        largest: InternalKey::new(&long_key(i, b'b'), 5, ValueKind::Put),
        min_seq: 5,
        max_seq: 5,
        entries: 2,
        tombstones: 0,
    }
}

fn live_manifest(dir: &Path) -> PathBuf {
    let current = std::fs::read_to_string(dir.join(CURRENT_FILE_NAME)).unwrap();
    dir.join(current.trim_end())
}

fn open(dir: &Path) -> Manifest {
    Manifest::open(OsFileSystem::shared(), dir, LEVELS)
        .unwrap()
        .0
}

fn numbers(version: &Version, level: usize) -> Vec<u64> {
    version.files_at(level).iter().map(|f| f.number).collect()
}

/// 600 tables of about 120 KiB of keys each: a 70 MiB snapshot.
fn catalog_of_600_long_key_tables(dir: &Path) -> Vec<u64> {
    let mut manifest = open(dir);
    for batch in 0..12u64 {
        let added = (0..50)
            .map(|j| {
                let number = manifest.new_file_number();
                (1, table(number, batch * 50 + j))
            })
            .collect();
        manifest
            .log_and_apply(VersionEdit {
                added,
                ..VersionEdit::default()
            })
            .unwrap();
    }
    numbers(&manifest.current(), 1)
}

#[test]
fn a_snapshot_over_one_record_spans_several_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let tables = catalog_of_600_long_key_tables(dir.path());
    assert_eq!(tables.len(), 600);
    // Every open starts a new manifest with a snapshot of the catalog.
    let reopened = open(dir.path());
    assert_eq!(numbers(&reopened.current(), 1), tables);
    drop(reopened);
    let dump = read_manifest_file(&OsFileSystem, &live_manifest(dir.path())).unwrap();
    let snapshot_records = dump.records.iter().take_while(|r| r.is_snapshot).count();
    assert!(snapshot_records >= 2, "{snapshot_records} snapshot records");
    assert!(dump
        .records
        .iter()
        .all(|r| r.framed_bytes <= MAX_EDIT_BYTES as u64 + 16));
    // And it reads back through a second reopen.
    assert_eq!(numbers(&open(dir.path()).current(), 1), tables);
}

#[test]
fn damage_inside_a_large_snapshot_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    catalog_of_600_long_key_tables(dir.path());
    drop(open(dir.path()));
    let path = live_manifest(dir.path());
    let dump = read_manifest_file(&OsFileSystem, &path).unwrap();
    let last = dump.records.iter().rfind(|r| r.is_snapshot).unwrap();
    assert!(last.offset > 0, "the snapshot spans several records");
    let original = std::fs::read(&path).unwrap();

    // The file cut inside the snapshot's last record: what a torn tail
    // looks like, but `CURRENT` named the file only once it was whole.
    let cut = (last.offset + last.framed_bytes / 2) as usize;
    std::fs::write(&path, &original[..cut]).unwrap();
    let err = Manifest::recover(&OsFileSystem, dir.path(), LEVELS).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("inside the snapshot"), "{err}");

    // The file ending cleanly after the first record.
    let second = dump.records[1].offset as usize;
    std::fs::write(&path, &original[..second]).unwrap();
    let err = Manifest::recover(&OsFileSystem, dir.path(), LEVELS).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("spans"), "{err}");

    // A flipped byte in a snapshot record that is the last in the file.
    let mut flipped = original.clone();
    flipped[(last.offset + last.framed_bytes / 2) as usize] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    let err = Manifest::recover(&OsFileSystem, dir.path(), LEVELS).unwrap_err();
    assert!(err.is_corruption(), "{err}");

    std::fs::write(&path, &original).unwrap();
    assert!(Manifest::recover(&OsFileSystem, dir.path(), LEVELS).is_ok());
}

/// 1,200 range tombstones of about 120 KiB of keys each, flushed in one
/// edit (about 140 MiB) with the table the flush wrote.
#[test]
fn an_edit_of_range_tombstones_over_one_record_is_logged_in_parts() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = open(dir.path());
    let number = manifest.new_file_number();
    let tombstones: Vec<RangeTombstone> = (0..1_200u64)
        .map(|i| RangeTombstone::new(long_key(i, b'a'), long_key(i, b'b'), 10 + i))
        .collect();
    let before = manifest.manifest_bytes();
    let version = manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(number, 5_000))],
            added_range_tombstones: tombstones.clone(),
            last_seq: Some(2_000),
            wal_segment: Some(7),
            ..VersionEdit::default()
        })
        .unwrap();
    assert_eq!(version.range_tombstones().len(), 1_200);
    let path = live_manifest(dir.path());
    let dump = read_manifest_file(&OsFileSystem, &path).unwrap();
    let parts: Vec<_> = dump.records.iter().filter(|r| r.offset >= before).collect();
    assert!(parts.len() >= 3, "{} records", parts.len());
    let (last, ahead) = parts.split_last().unwrap();
    for part in ahead {
        assert!(part.edit.added.is_empty() && part.edit.wal_segment.is_none());
    }
    assert_eq!(last.edit.added.len(), 1);
    assert_eq!(last.edit.wal_segment, Some(7));
    drop(manifest);

    // A crash after the first part: it holds range tombstones only; the
    // table and the WAL position did not join, so the WAL that holds the
    // tombstones is still replayed.
    let original = std::fs::read(&path).unwrap();
    std::fs::write(&path, &original[..parts[1].offset as usize + 10]).unwrap();
    let recovered = Manifest::recover(&OsFileSystem, dir.path(), LEVELS).unwrap();
    assert!(recovered.dropped_tail.is_some());
    let held = recovered.version.range_tombstones().len();
    assert!(held > 0 && held < 1_200, "{held}");
    assert!(recovered.version.files_at(0).is_empty());
    assert!(recovered.wal_segment < 7);

    std::fs::write(&path, &original).unwrap();
    let reopened = open(dir.path());
    let version = reopened.current();
    let held: Vec<RangeTombstone> = version.range_tombstones().tombstones().cloned().collect();
    assert_eq!(held, tombstones);
    assert_eq!(numbers(&version, 0), vec![number]);
    assert_eq!(reopened.wal_segment(), 7);
}

/// Each part of a split edit is fsynced before the next is written: the
/// kernel writes a file's dirty pages back in no particular order, so with
/// one fsync for all of them a power cut could lose a page of an early part
/// and keep a later one, which reads as corruption in the middle of the
/// log, not as a torn tail (found by a review). With a sync per part, only
/// the last part written can be damaged, and it is dropped as a torn tail.
#[test]
fn each_part_of_a_split_edit_is_synced_before_the_next_and_a_torn_last_part_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultyFileSystem::new(OsFileSystem::shared());
    let fs = std::sync::Arc::clone(&faults) as SharedFileSystem;
    let mut manifest = Manifest::open(fs, dir.path(), LEVELS).unwrap().0;
    let number = manifest.new_file_number();
    let tombstones: Vec<RangeTombstone> = (0..1_200u64)
        .map(|i| RangeTombstone::new(long_key(i, b'a'), long_key(i, b'b'), 10 + i))
        .collect();
    let before = manifest.manifest_bytes();
    let syncs = faults.sync_count();
    manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(number, 5_000))],
            added_range_tombstones: tombstones,
            wal_segment: Some(7),
            ..VersionEdit::default()
        })
        .unwrap();
    drop(manifest);
    let path = live_manifest(dir.path());
    let dump = read_manifest_file(&OsFileSystem, &path).unwrap();
    let parts: Vec<_> = dump.records.iter().filter(|r| r.offset >= before).collect();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert_eq!(
        faults.sync_count() - syncs,
        parts.len() as u64,
        "one fsync per part"
    );

    // A power cut while the second part was written: the first is whole
    // (synced), the second lost a page in its middle, the rest never came.
    let original = std::fs::read(&path).unwrap();
    let second = parts[1];
    let mut torn = original[..(second.offset + second.framed_bytes) as usize].to_vec();
    let page = ((second.offset + second.framed_bytes / 2) / 4096 * 4096) as usize;
    torn[page..page + 4096].fill(0);
    std::fs::write(&path, &torn).unwrap();
    let recovered = Manifest::recover(&OsFileSystem, dir.path(), LEVELS).unwrap();
    let dropped = recovered.dropped_tail.expect("the torn part is dropped");
    assert_eq!(dropped.offset, second.offset);
    assert_eq!(
        recovered.version.range_tombstones().len(),
        parts[0].edit.added_range_tombstones.len(),
        "the first part's range tombstones, nothing else"
    );
    assert!(recovered.version.files_at(0).is_empty());
}
