//! `Manifest::create_from_version`: the catalog of a new store (a
//! checkpoint) holding exactly one version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lsm_core::{InternalKey, OsFileSystem, ValueKind};
use lsm_manifest::{
    manifest_file_name, FileMeta, Manifest, VersionEdit, CURRENT_FILE_NAME, CURRENT_TEMP_FILE_NAME,
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

/// The version written is the one recovered, with the given `last_seq`
/// and `wal_segment`, no newest WAL segment (so no segment is required),
/// a next file number past every table and past the manifest's own
/// number; `CURRENT` names the manifest and no temp file is left.
#[test]
fn the_new_catalog_recovers_as_exactly_that_version() {
    let source = tempfile::tempdir().unwrap();
    let (mut manifest, _) = Manifest::open(OsFileSystem::shared(), source.path(), LEVELS).unwrap();
    let a = manifest.new_file_number();
    let b = manifest.new_file_number();
    let version = manifest
        .log_and_apply(VersionEdit {
            added: vec![(0, table(a, "k", "z", 20)), (2, table(b, "a", "m", 10))],
            last_seq: Some(20),
            wal_segment: Some(7),
            newest_wal_segment: Some(8),
            ..VersionEdit::default()
        })
        .unwrap();

    let copy = tempfile::tempdir().unwrap();
    let number = Manifest::create_from_version(
        &OsFileSystem,
        copy.path(),
        &version,
        20,
        7,
        1, // below the tables' numbers: moved past them
    )
    .unwrap();
    assert!(number > b, "manifest {number} reuses a table number");
    assert_eq!(
        std::fs::read_to_string(copy.path().join(CURRENT_FILE_NAME)).unwrap(),
        format!("{}\n", manifest_file_name(number))
    );
    assert!(!copy.path().join(CURRENT_TEMP_FILE_NAME).exists());

    let recovered = Manifest::recover(&OsFileSystem, copy.path(), LEVELS).unwrap();
    assert_eq!(*recovered.version, *version);
    assert_eq!((recovered.last_seq, recovered.wal_segment), (20, 7));
    assert_eq!(recovered.newest_wal_segment, None);
    assert!(recovered.next_file_number > number);
    assert_eq!(
        recovered.source,
        Some(copy.path().join(manifest_file_name(number)))
    );
    assert!(recovered.dropped_tail.is_none());
}
