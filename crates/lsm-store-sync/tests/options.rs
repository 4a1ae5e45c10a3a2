//! The `OPTIONS` file (`docs/format/options.md`): a reopen whose config
//! does not fit the store's files is a configuration error that says what
//! to change; a config that leaves `num_levels` unset uses the stored one;
//! a damaged file is corruption naming it; a store without one (older than
//! the file) opens and gets one; a crash while writing it opens fine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::OsFileSystem;
use lsm_store_sync::{check_store, Error, LsmConfig, LsmConfigBuilder, SimpleLsmStore};

/// The committed fixture: the bytes of an `OPTIONS` file recording
/// `num_levels` 4.
const FIXTURE_4_LEVELS: &[u8] =
    include_bytes!("../../lsm-engine/tests/fixtures/options-v1/OPTIONS");

/// The builder every test starts from; `num_levels` is left unset.
fn builder(dir: &Path) -> LsmConfigBuilder {
    LsmConfig::builder(dir)
        .memtable_bytes(8 * 1024)
        .table_target_bytes(8 * 1024)
        .l0_trigger(100) // compactions only when a test asks
}

fn options_path(dir: &Path) -> PathBuf {
    dir.join("OPTIONS")
}

/// Every file of the directory with its bytes (`LOCK` left out).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && !path.ends_with("LOCK"))
        .map(|path| (path.clone(), std::fs::read(&path).unwrap()))
        .collect()
}

/// A closed store created with 4 levels holding `key000..key199`, with
/// tables on every level down to L3 (the deepest) when `deep`, else on L0
/// only.
fn store_with_4_levels(dir: &Path, deep: bool) {
    let store = SimpleLsmStore::open(builder(dir).num_levels(4).build().unwrap()).unwrap();
    for i in 0..200 {
        store
            .put(format!("key{i:03}"), format!("value{i}"))
            .unwrap();
    }
    store.flush_memtable().unwrap();
    if deep {
        for level in 0..3 {
            store.compact_level(level).unwrap();
        }
        let levels = store.stats().unwrap().levels;
        assert!(levels[3].files > 0, "{levels:?}");
    }
    store.close().unwrap();
}

fn check_contents(store: &SimpleLsmStore) {
    for i in (0..200).step_by(17) {
        assert_eq!(
            store.get(format!("key{i:03}")).unwrap(),
            Some(format!("value{i}").into_bytes())
        );
    }
}

/// The configuration error, its fields and that its text names the option,
/// both values and the fix.
fn expect_incompatible(result: Result<SimpleLsmStore, Error>, stored: &str, requested: &str) {
    match result {
        Err(
            ref err @ Error::IncompatibleOptions {
                option,
                stored: ref got_stored,
                requested: ref got_requested,
                ..
            },
        ) => {
            assert_eq!(option, "num_levels");
            assert_eq!(got_stored, stored);
            assert_eq!(got_requested, requested);
            assert!(!err.is_corruption(), "{err}");
            let text = err.to_string();
            assert!(
                text.contains(&format!("num_levels is {requested}")),
                "{text}"
            );
            assert!(
                text.contains(&format!("set num_levels to {stored}")),
                "{text}"
            );
        }
        Err(err) => panic!("expected IncompatibleOptions, got {err:?}: {err}"),
        Ok(_) => panic!("open succeeded with a config that does not fit"),
    }
}

fn expect_corruption_naming_options<T>(result: Result<T, Error>, dir: &Path, what: &str) {
    match result {
        Err(err) => {
            assert!(
                err.is_corruption(),
                "{what}: expected corruption, got {err:?}"
            );
            let text = err.to_string();
            let path = options_path(dir).display().to_string();
            assert!(text.contains(&path), "{what}: does not name {path}: {text}");
        }
        Ok(_) => panic!("{what}: accepted a damaged OPTIONS file"),
    }
}

#[test]
fn reopening_with_fewer_levels_is_a_configuration_error_naming_both_values() {
    for deep in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        store_with_4_levels(dir.path(), deep);
        let before = snapshot(dir.path());
        let three = builder(dir.path()).num_levels(3).build().unwrap();
        expect_incompatible(SimpleLsmStore::open(three.clone()), "4", "3");
        assert_eq!(snapshot(dir.path()), before, "a failed open changed files");
        let text = SimpleLsmStore::open(three).unwrap_err().to_string();
        assert!(
            text.contains(&options_path(dir.path()).display().to_string()),
            "{text}"
        );
        // More levels, explicitly, is refused as well: the shape is fixed.
        let seven = builder(dir.path()).num_levels(7).build().unwrap();
        expect_incompatible(SimpleLsmStore::open(seven), "4", "7");
        // The value it was created with opens.
        let four = builder(dir.path()).num_levels(4).build().unwrap();
        check_contents(&SimpleLsmStore::open(four).unwrap());
    }
}

/// A store from before `OPTIONS` existed whose manifest has tables on L3:
/// 3 levels is a configuration error asking for at least 4, not the
/// manifest corruption ("version edit does not apply") it used to be.
#[test]
fn a_manifest_deeper_than_num_levels_is_a_configuration_error_without_options() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), true);
    std::fs::remove_file(options_path(dir.path())).unwrap();
    let before = snapshot(dir.path());
    let three = builder(dir.path()).num_levels(3).build().unwrap();
    expect_incompatible(SimpleLsmStore::open(three.clone()), "at least 4", "3");
    let text = SimpleLsmStore::open(three.clone()).unwrap_err().to_string();
    assert!(
        text.contains("MANIFEST-") && text.contains("level 3"),
        "{text}"
    );
    assert!(matches!(
        check_store(&three),
        Err(Error::IncompatibleOptions { .. })
    ));
    assert_eq!(snapshot(dir.path()), before, "a failed open changed files");
}

/// Created with 4 levels, reopened with a config that never set
/// `num_levels` (so 7, the default): the store keeps its 4 levels.
#[test]
fn reopening_with_num_levels_unset_uses_the_stored_value() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), true);
    let config = builder(dir.path()).build().unwrap();
    assert_eq!(config.num_levels, LsmConfig::DEFAULT_NUM_LEVELS);
    assert!(!config.num_levels_is_explicit());
    let store = SimpleLsmStore::open(config).unwrap();
    check_contents(&store);
    assert_eq!(store.stats().unwrap().levels.len(), 4);
    // L3 is still the last level: it cannot be compacted further down.
    assert!(matches!(
        store.compact_level(3),
        Err(Error::InvalidLevel { level: 3, max: 2 })
    ));
    store.close().unwrap();
    assert_eq!(
        std::fs::read(options_path(dir.path())).unwrap(),
        FIXTURE_4_LEVELS
    );
}

#[test]
fn a_damaged_or_truncated_options_file_is_corruption_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), false);
    let path = options_path(dir.path());
    let good = std::fs::read(&path).unwrap();
    let mut flipped_level = good.clone();
    flipped_level[17] ^= 0x01; // num_levels 4 -> 5; the checksum catches it
    let mut flipped_magic = good.clone();
    flipped_magic[0] ^= 0x80;
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("cut to 10 bytes", good[..10].to_vec()),
        ("last byte cut", good[..good.len() - 1].to_vec()),
        ("num_levels flipped", flipped_level),
        ("magic flipped", flipped_magic),
        ("garbage", b"num_levels = 4\n".to_vec()),
        ("one byte appended", [&good[..], &[0]].concat()),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&path, &bytes).unwrap();
        let before = snapshot(dir.path());
        let config = builder(dir.path()).build().unwrap();
        // The same error from the read-only check and from open.
        expect_corruption_naming_options(check_store(&config), dir.path(), what);
        expect_corruption_naming_options(SimpleLsmStore::open(config), dir.path(), what);
        assert_eq!(snapshot(dir.path()), before, "{what}: open changed files");
    }
}

/// A store written before the file existed (no `OPTIONS`) opens as before
/// and gets one recording the levels it was opened with.
#[test]
fn a_store_without_options_opens_and_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), true);
    let path = options_path(dir.path());
    std::fs::remove_file(&path).unwrap();
    let config = builder(dir.path()).num_levels(4).build().unwrap();
    let check = check_store(&config).unwrap();
    assert_eq!((check.num_levels, check.writes_options), (4, true));
    assert!(!path.exists(), "check_store wrote OPTIONS");
    let store = SimpleLsmStore::open(config.clone()).unwrap();
    check_contents(&store);
    assert_eq!(std::fs::read(&path).unwrap(), FIXTURE_4_LEVELS);
    store.close().unwrap();
    let check = check_store(&config).unwrap();
    assert_eq!((check.num_levels, check.writes_options), (4, false));
}

/// `check_store` (what `lsm verify` runs) reads `OPTIONS` too: a mismatch
/// is the same error open returns, and nothing is written.
#[test]
fn check_store_reports_a_mismatch_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), false);
    let before = snapshot(dir.path());
    let three = builder(dir.path()).num_levels(3).build().unwrap();
    match check_store(&three) {
        Err(Error::IncompatibleOptions {
            option,
            stored,
            requested,
            ..
        }) => assert_eq!((option, &*stored, &*requested), ("num_levels", "4", "3")),
        other => panic!("expected IncompatibleOptions, got {other:?}"),
    }
    let unset = check_store(&builder(dir.path()).build().unwrap()).unwrap();
    assert_eq!((unset.num_levels, unset.writes_options), (4, false));
    assert_eq!(snapshot(dir.path()), before, "check_store changed files");
}

/// The first open of a store without `OPTIONS` fails while writing
/// `OPTIONS.tmp` (its fsync fails), then the power goes: the next open
/// works and writes the file. And a leftover `OPTIONS.tmp` next to a good
/// `OPTIONS` (a crash before the rename) is removed.
#[test]
fn a_crash_between_the_temp_file_and_the_rename_opens_fine() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), true);
    let path = options_path(dir.path());
    let temp = dir.path().join("OPTIONS.tmp");
    std::fs::remove_file(&path).unwrap();

    let faulty = FaultyFileSystem::new(OsFileSystem::shared());
    faulty.target(Some("OPTIONS"));
    faulty.fail_syncs(true);
    let config = builder(dir.path())
        .fs(Arc::clone(&faulty) as lsm_core::SharedFileSystem)
        .build()
        .unwrap();
    match SimpleLsmStore::open(config) {
        Err(err) => assert!(err.to_string().contains("OPTIONS.tmp"), "{err}"),
        Ok(_) => panic!("open succeeded though OPTIONS.tmp could not be synced"),
    }
    assert!(temp.exists() && !path.exists());
    // Without the power cut: the unsynced temp file is still there.
    let store = SimpleLsmStore::open(builder(dir.path()).num_levels(4).build().unwrap()).unwrap();
    check_contents(&store);
    assert!(!temp.exists(), "the leftover OPTIONS.tmp was not removed");
    assert_eq!(std::fs::read(&path).unwrap(), FIXTURE_4_LEVELS);
    store.close().unwrap();
    drop(store);

    // With the power cut: the temp file was never made durable.
    std::fs::remove_file(&path).unwrap();
    let config = builder(dir.path())
        .num_levels(4)
        .fs(Arc::clone(&faulty) as lsm_core::SharedFileSystem)
        .build()
        .unwrap();
    assert!(SimpleLsmStore::open(config).is_err());
    faulty.crash().unwrap();
    let store = SimpleLsmStore::open(builder(dir.path()).build().unwrap()).unwrap();
    check_contents(&store);
    assert_eq!(
        store.stats().unwrap().levels.len(),
        7,
        "no OPTIONS: the config's"
    );
    drop(store);

    // A good OPTIONS with a leftover garbage OPTIONS.tmp beside it.
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), false);
    std::fs::write(dir.path().join("OPTIONS.tmp"), b"half-written").unwrap();
    let store = SimpleLsmStore::open(builder(dir.path()).build().unwrap()).unwrap();
    check_contents(&store);
    assert_eq!(store.stats().unwrap().levels.len(), 4);
    assert!(!dir.path().join("OPTIONS.tmp").exists());
}

/// `OPTIONS` recording fewer levels than the manifest uses (the store was
/// opened by a build older than the file with more levels): the two files
/// disagree, which is corruption naming `OPTIONS`, whatever the config.
#[test]
fn options_recording_fewer_levels_than_the_manifest_uses_is_corruption_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    store_with_4_levels(dir.path(), true);
    // The fixture with num_levels 3 and its checksum redone.
    let mut bytes = FIXTURE_4_LEVELS[..18].to_vec();
    bytes[17] = 3;
    let crc = lsm_core::checksum::masked_crc32(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(options_path(dir.path()), &bytes).unwrap();
    let before = snapshot(dir.path());
    for config in [
        builder(dir.path()).build().unwrap(),
        builder(dir.path()).num_levels(3).build().unwrap(),
    ] {
        let err = SimpleLsmStore::open(config.clone()).unwrap_err();
        assert!(err.is_corruption(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&options_path(dir.path()).display().to_string()),
            "{text}"
        );
        assert!(text.contains("level 3"), "{text}");
        assert!(check_store(&config).unwrap_err().is_corruption());
    }
    assert_eq!(snapshot(dir.path()), before, "a failed open changed files");
}
