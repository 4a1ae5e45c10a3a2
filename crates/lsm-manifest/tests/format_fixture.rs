//! Committed manifest files of format version 2, to catch accidental format
//! changes: today's writer must produce the same bytes, and today's reader
//! must recover the same catalog from them (a torn copy included).
//!
//! Regenerate (only for an intended format change, with a FORMAT_VERSION
//! bump): `cargo test -p lsm-manifest --test format_fixture -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

use lsm_core::{InternalKey, OsFileSystem, RangeTombstone, ValueKind};
use lsm_manifest::{
    manifest_file_name, read_manifest, FileMeta, Manifest, VersionEdit, CURRENT_FILE_NAME,
};

const LEVELS: usize = 7;

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn table(number: u64, lo: &str, hi: &str, seq: u64) -> FileMeta {
    FileMeta {
        number,
        file_bytes: 1000 + number,
        smallest: InternalKey::new(lo.as_bytes(), seq, ValueKind::Put),
        largest: InternalKey::new(hi.as_bytes(), seq - 1, ValueKind::Delete),
        min_seq: seq - 1,
        max_seq: seq,
        entries: 4,
        tombstones: 1,
    }
}

/// Builds the fixture store in `dir`: a flush, a compaction to L1, and a
/// second flush, all in MANIFEST-000001.
fn build_store(dir: &Path) {
    let (mut manifest, _) = Manifest::open(OsFileSystem::shared(), dir, LEVELS).unwrap();
    let a = manifest.new_file_number();
    manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(a, "apple", "melon", 10))],
            last_seq: Some(10),
            wal_segment: Some(1),
            ..VersionEdit::default()
        })
        .unwrap();
    let b = manifest.new_file_number();
    let c = manifest.new_file_number();
    manifest
        .log_and_apply(VersionEdit {
            removed: vec![(0, a)],
            added: vec![
                (1, table(b, "apple", "fig", 10)),
                (1, table(c, "grape", "melon", 9)),
            ],
            ..VersionEdit::default()
        })
        .unwrap();
    let d = manifest.new_file_number();
    manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(d, "kiwi", "pear", 20))],
            added_range_tombstones: vec![RangeTombstone::new(b"\0b".to_vec(), b"\0d".to_vec(), 15)],
            last_seq: Some(20),
            wal_segment: Some(2),
            ..VersionEdit::default()
        })
        .unwrap();
}

const FILES: [&str; 2] = [CURRENT_FILE_NAME, "MANIFEST-000001"];

#[test]
#[ignore = "writes the committed fixtures; run only for an intended format change"]
fn regenerate_fixtures() {
    let scratch = tempfile::tempdir().unwrap();
    build_store(scratch.path());
    for (name, torn) in [("manifest-v2", false), ("manifest-v2-torn", true)] {
        let out = fixture_dir(name);
        std::fs::create_dir_all(&out).unwrap();
        for file in FILES {
            let mut bytes = std::fs::read(scratch.path().join(file)).unwrap();
            if torn && file != CURRENT_FILE_NAME {
                bytes.truncate(bytes.len() - 5);
            }
            std::fs::write(out.join(file), bytes).unwrap();
        }
    }
}

#[test]
fn todays_writer_produces_the_committed_bytes() {
    let scratch = tempfile::tempdir().unwrap();
    build_store(scratch.path());
    for file in FILES {
        assert_eq!(
            std::fs::read(scratch.path().join(file)).unwrap(),
            std::fs::read(fixture_dir("manifest-v2").join(file)).unwrap(),
            "{file} changed: the on-disk format moved"
        );
    }
}

/// Opens a copy of a fixture: the recovered state and the number of the
/// manifest the open started.
fn open_copy(fixture: &str) -> (tempfile::TempDir, lsm_manifest::RecoveredState, u64) {
    let dir = tempfile::tempdir().unwrap();
    for file in FILES {
        std::fs::copy(fixture_dir(fixture).join(file), dir.path().join(file)).unwrap();
    }
    let (manifest, recovered) = Manifest::open(OsFileSystem::shared(), dir.path(), LEVELS).unwrap();
    (dir, recovered, manifest.manifest_number())
}

fn numbers_at(version: &lsm_manifest::Version, level: usize) -> Vec<u64> {
    version.files_at(level).iter().map(|f| f.number).collect()
}

#[test]
fn version_2_fixture_recovers_the_expected_catalog() {
    let dump = read_manifest(&OsFileSystem, &fixture_dir("manifest-v2")).unwrap();
    assert_eq!(dump.records.len(), 4);
    assert_eq!(dump.dropped_tail, None);
    let (_dir, recovered, started) = open_copy("manifest-v2");
    let v = &recovered.version;
    assert_eq!(v.range_tombstones().covering_seq(b"\0c", 20), Some(15));
    assert_eq!(numbers_at(v, 0), [5]);
    assert_eq!(numbers_at(v, 1), [3, 4]);
    assert_eq!(v.files_at(1)[1].smallest_user_key(), b"grape");
    assert_eq!(v.level_bytes(1), 1003 + 1004);
    assert_eq!((recovered.last_seq, recovered.wal_segment), (20, 2));
    assert_eq!(recovered.next_file_number, 6);
    assert_eq!(started, 6);
    assert_eq!(manifest_file_name(started), "MANIFEST-000006");
}

#[test]
fn torn_version_2_fixture_recovers_the_edit_before_the_tear() {
    let dump = read_manifest(&OsFileSystem, &fixture_dir("manifest-v2-torn")).unwrap();
    assert_eq!(dump.records.len(), 3);
    assert!(dump.dropped_tail.is_some());
    let (_dir, recovered, started) = open_copy("manifest-v2-torn");
    assert_eq!(numbers_at(&recovered.version, 0), Vec::<u64>::new());
    assert!(
        recovered.version.range_tombstones().is_empty(),
        "the torn edit carried it"
    );
    assert_eq!(numbers_at(&recovered.version, 1), [3, 4]);
    assert_eq!((recovered.last_seq, recovered.wal_segment), (10, 1));
    // Table 5's number was never recorded durably, so it may be reused.
    assert!(recovered.dropped_tail.is_some());
    assert_eq!(started, 5);
}

/// A store written before keyspaces (format 1: keys without a keyspace
/// prefix) is refused by name rather than misread.
#[test]
fn version_1_manifest_is_refused_with_a_reason() {
    let err = read_manifest(&OsFileSystem, &fixture_dir("manifest-v1")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("MANIFEST-000001"), "{text}");
    assert!(text.contains("before keyspaces"), "{text}");
}
