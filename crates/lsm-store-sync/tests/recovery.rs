//! Open after a crash or damage: what a power cut leaves opens, a hole is a
//! corruption error naming the file, and open deletes nothing that might
//! hold data (it quarantines instead).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lsm_core::OsFileSystem;
use lsm_store_sync::{Error, LsmConfig, SimpleLsmStore, SyncMode};
use lsm_wal::{read_segment, WalOptions, WalWriter};

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(8 * 1024)
        .table_target_bytes(8 * 1024)
        .wal_segment_bytes(4 * 1024)
        .l0_trigger(100) // no compaction: the last manifest edit is a flush
        .num_levels(4)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap()
}

/// Files of `dir` whose name ends with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

fn segment_number(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    lsm_wal::parse_segment_file_name(name).unwrap()
}

/// Every file of the directory tree with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    all
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

/// Writes `n` keys (overwriting the first half once more) and returns the
/// expected contents.
fn fill(store: &SimpleLsmStore, n: u32, round: &str) -> BTreeMap<String, String> {
    let mut model = BTreeMap::new();
    for i in 0..n {
        let value = format!("{round}-{i}-{}", "x".repeat(40));
        store.put(key(i), &value).unwrap();
        model.insert(key(i), value);
    }
    model
}

fn contents(store: &SimpleLsmStore) -> BTreeMap<String, String> {
    store
        .range(..)
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
        })
        .collect()
}

fn expect_corruption(result: Result<SimpleLsmStore, Error>, naming: &Path) -> String {
    match result {
        Err(err) => {
            assert!(err.is_corruption(), "expected corruption, got {err:?}");
            // One shape whichever layer found it, with the file and offset.
            assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
            let path = err.path().expect("a corruption error names its file");
            assert!(err.offset().is_some(), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(
                text.contains(&naming.display().to_string()),
                "error does not name {}: {text}",
                naming.display()
            );
            text
        }
        Ok(_) => panic!("open succeeded on a store with a hole"),
    }
}

/// A store whose WAL has several segments with records (no flush yet).
fn store_with_wal_segments(dir: &Path) -> BTreeMap<String, String> {
    let config = LsmConfig::builder(dir)
        .memtable_bytes(1 << 20)
        .wal_segment_bytes(4 * 1024)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    let mut model = fill(&store, 120, "a");
    model.extend(fill(&store, 60, "b"));
    store.close().unwrap();
    drop(store);
    let segments = files(dir, ".wal");
    let with_records = segments
        .iter()
        .filter(|p| !read_segment(&OsFileSystem, p).unwrap().records.is_empty())
        .count();
    assert!(
        with_records >= 3,
        "want 3+ segments with records: {segments:?}"
    );
    model
}

fn reopen(dir: &Path) -> Result<SimpleLsmStore, Error> {
    let config = LsmConfig::builder(dir)
        .memtable_bytes(1 << 20)
        .wal_segment_bytes(4 * 1024)
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap();
    SimpleLsmStore::open(config)
}

#[test]
fn torn_tail_followed_by_a_prepared_segment_opens_with_the_prefix() {
    // The state a power cut left in the field: the newest segment holding
    // records ends in a torn record, and the next segment, created ahead of
    // a rotation, holds only its header.
    let dir = tempfile::tempdir().unwrap();
    let model = store_with_wal_segments(dir.path());
    let newest = files(dir.path(), ".wal")
        .into_iter()
        .rfind(|p| !read_segment(&OsFileSystem, p).unwrap().records.is_empty())
        .unwrap();
    let records = read_segment(&OsFileSystem, &newest).unwrap().records;
    let last = records.last().unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap();
    file.set_len(last.offset + 7).unwrap();
    let prepared = segment_number(files(dir.path(), ".wal").last().unwrap()) + 1;
    let wal = WalWriter::create(
        OsFileSystem::shared(),
        dir.path(),
        prepared,
        1,
        WalOptions::default(),
    )
    .unwrap();
    drop(wal); // prepared, never written to or closed: header only

    let store = reopen(dir.path()).unwrap();
    let got = contents(&store);
    // Everything but the torn last write (the last "b" overwrite, key 59).
    let mut want = model.clone();
    want.insert(key(59), format!("a-59-{}", "x".repeat(40)));
    assert_eq!(got, want);
    store.close().unwrap();
    drop(store);
    // And it opens again, to the same state.
    let store = reopen(dir.path()).unwrap();
    assert_eq!(contents(&store), want);
}

#[test]
fn a_lost_or_shortened_older_wal_segment_is_corruption_and_open_changes_nothing() {
    for damage in ["delete", "truncate to zero", "cut at a record boundary"] {
        let dir = tempfile::tempdir().unwrap();
        store_with_wal_segments(dir.path());
        let segments: Vec<PathBuf> = files(dir.path(), ".wal")
            .into_iter()
            .filter(|p| !read_segment(&OsFileSystem, p).unwrap().records.is_empty())
            .collect();
        let older = &segments[segments.len() - 2];
        match damage {
            "delete" => std::fs::remove_file(older).unwrap(),
            "truncate to zero" => std::fs::write(older, b"").unwrap(),
            _ => {
                let records = read_segment(&OsFileSystem, older).unwrap().records;
                let file = std::fs::OpenOptions::new().write(true).open(older).unwrap();
                file.set_len(records[records.len() / 2].offset).unwrap();
            }
        }
        let before = snapshot(dir.path());
        // A deleted segment is named; a shortened one shows as a gap at
        // the next segment's first record.
        let named = if damage == "delete" {
            older.clone()
        } else {
            segments[segments.len() - 1].clone()
        };
        let text = expect_corruption(reopen(dir.path()), &named);
        assert!(text.contains("missing"), "{damage}: {text}");
        assert_eq!(snapshot(dir.path()), before, "{damage}: open wrote");
    }
}

#[test]
fn a_lost_newest_wal_segment_the_manifest_recorded_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    fill(&store, 20, "a");
    store.close().unwrap();
    drop(store);
    // The open above recorded creating its segment; delete it.
    let newest = files(dir.path(), ".wal").pop().unwrap();
    std::fs::remove_file(&newest).unwrap();
    expect_corruption(SimpleLsmStore::open(config(dir.path())), &newest);
}

/// A store whose last manifest edit is a flush whose WAL segments are gone,
/// with more writes in the WAL after it.
fn store_after_flush(dir: &Path) -> BTreeMap<String, String> {
    let store = SimpleLsmStore::open(config(dir)).unwrap();
    let mut model = fill(&store, 100, "a");
    store.flush_memtable().unwrap();
    model.extend(fill(&store, 30, "b"));
    store.close().unwrap();
    drop(store);
    assert!(!files(dir, ".sst").is_empty());
    model
}

fn manifest_path(dir: &Path) -> PathBuf {
    files(dir, "")
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("MANIFEST-")
        })
        .unwrap()
}

#[test]
fn damage_to_the_manifests_last_durable_edit_is_corruption_and_keeps_its_table() {
    let dir = tempfile::tempdir().unwrap();
    store_after_flush(dir.path());
    let manifest = manifest_path(dir.path());
    let dump = lsm_manifest::read_manifest(&OsFileSystem, dir.path()).unwrap();
    let last = dump.records.last().unwrap();
    assert!(
        last.edit.added.iter().any(|(level, _)| *level == 0),
        "the last edit is a flush: {:?}",
        last.edit
    );
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[(last.offset + last.framed_bytes / 2) as usize] ^= 0x40;
    std::fs::write(&manifest, &bytes).unwrap();
    let tables = files(dir.path(), ".sst");
    let before = snapshot(dir.path());

    let text = expect_corruption(SimpleLsmStore::open(config(dir.path())), &manifest);
    assert!(text.contains("last record is damaged"), "{text}");
    assert_eq!(files(dir.path(), ".sst"), tables, "open deleted a table");
    assert_eq!(snapshot(dir.path()), before, "open wrote");
}

#[test]
fn torn_manifest_tail_quarantines_unlisted_tables_instead_of_deleting_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = store_after_flush(dir.path());
    // An unlisted table (as a flush that crashed before its edit leaves),
    // and a torn record at the end of the manifest.
    let table = files(dir.path(), ".sst").pop().unwrap();
    let stray = dir.path().join("009999.sst");
    std::fs::copy(&table, &stray).unwrap();
    let manifest = manifest_path(dir.path());
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 40, 0, 0, 0, 1, 1, 1]);
    std::fs::write(&manifest, &bytes).unwrap();

    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    assert_eq!(contents(&store), model);
    assert!(!stray.exists());
    let quarantine = dir.path().join("quarantine");
    assert!(
        quarantine.join("009999.sst").exists(),
        "stray table not kept"
    );
    let kept_manifest = quarantine.join(manifest.file_name().unwrap());
    assert_eq!(std::fs::read(kept_manifest).unwrap(), bytes);
    store.close().unwrap();
}

#[test]
fn an_unlisted_table_after_an_intact_manifest_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let model = store_after_flush(dir.path());
    let table = files(dir.path(), ".sst").pop().unwrap();
    let stray = dir.path().join("009999.sst");
    std::fs::copy(&table, &stray).unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    assert_eq!(contents(&store), model);
    assert!(!stray.exists());
    assert!(!dir.path().join("quarantine").exists());
}

#[test]
fn a_missing_or_shortened_listed_table_is_corruption_at_open() {
    for damage in ["delete", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        store_after_flush(dir.path());
        let table = files(dir.path(), ".sst").pop().unwrap();
        if damage == "delete" {
            std::fs::remove_file(&table).unwrap();
        } else {
            let len = std::fs::metadata(&table).unwrap().len();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&table)
                .unwrap();
            file.set_len(len - 10).unwrap();
        }
        let before = snapshot(dir.path());
        expect_corruption(SimpleLsmStore::open(config(dir.path())), &table);
        assert_eq!(snapshot(dir.path()), before, "{damage}: open wrote");
    }
}

#[test]
fn reopening_an_idle_store_moves_the_wal_start_and_keeps_the_log_complete() {
    let dir = tempfile::tempdir().unwrap();
    let model = store_after_flush(dir.path());
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    store.flush_memtable().unwrap();
    store.close().unwrap();
    drop(store);
    for _ in 0..3 {
        let store = SimpleLsmStore::open(config(dir.path())).unwrap();
        assert_eq!(contents(&store), model);
        store.close().unwrap();
    }
    // One segment: the one the last open started; the older, empty ones
    // were removed only after the manifest moved past them.
    let segments = files(dir.path(), ".wal");
    assert_eq!(segments.len(), 1, "{segments:?}");
    let dump = lsm_manifest::read_manifest(&OsFileSystem, dir.path()).unwrap();
    let number = segment_number(&segments[0]);
    assert_eq!(dump.wal_segment, number);
    assert_eq!(dump.newest_wal_segment, Some(number));
}
