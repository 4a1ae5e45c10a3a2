//! `ReadOnlyStore`: opening writes nothing (every file's bytes and the
//! directory listing stay the same, also with a torn WAL tail, a stray
//! table and no `OPTIONS`, each of which a real open repairs), reads match
//! what a real open returns, and it opens a store another `SimpleLsmStore`
//! holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lsm_store_sync::{LsmConfig, ReadOnlyStore, SimpleLsmStore, SyncMode};

fn small_config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(4096)
        .wal_sync(SyncMode::Always)
        .table_target_bytes(4096)
        .block_bytes(1024)
        .build()
        .unwrap()
}

/// A closed store with tables on several levels, a deleted key, and writes
/// that live only in the WAL.
fn build_store(dir: &Path) {
    let store = SimpleLsmStore::open(small_config(dir)).unwrap();
    for i in 0..300u32 {
        store
            .put(
                format!("key{i:04}"),
                format!("value{i:04}-{}", "x".repeat(30)),
            )
            .unwrap();
    }
    store.delete("key0007").unwrap();
    store.flush_memtable().unwrap();
    for i in 0..5u32 {
        store
            .put(format!("wal{i}"), format!("walvalue{i}"))
            .unwrap();
    }
    store.put("key0010", "overwritten in the WAL").unwrap();
    store.delete("key0011").unwrap();
    store.close().unwrap();
}

/// Every file under `dir` (recursively) with its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn newest(dir: &Path, suffix: &str) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files.pop().unwrap()
}

/// Everything a reader can see: every live pair, some point reads, and
/// the last sequence number.
type Seen = (Vec<(Vec<u8>, Vec<u8>)>, Vec<Option<Vec<u8>>>);

const PROBES: [&str; 6] = ["key0000", "key0007", "key0010", "key0011", "wal3", "nope"];

fn read_only_view(store: &ReadOnlyStore) -> Seen {
    let pairs = store.range(..).unwrap().map(Result::unwrap);
    let gets = PROBES.iter().map(|k| store.get(k).unwrap()).collect();
    (pairs.collect(), gets)
}

fn store_view(store: &SimpleLsmStore) -> Seen {
    let pairs = store.range(..).unwrap().map(Result::unwrap);
    let gets = PROBES.iter().map(|k| store.get(k).unwrap()).collect();
    (pairs.collect(), gets)
}

/// A store with a torn WAL tail, a stray table and no `OPTIONS` (all of
/// which a real open repairs): the read-only open, its reads and its stats
/// change no byte and no name in the directory, and it reports the torn
/// tail and the stray table it left alone.
#[test]
fn opening_read_only_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    build_store(dir.path());
    let wal = newest(dir.path(), ".wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    // The records (and the sync mark `close` wrote) end where the zeros
    // written ahead of them begin.
    let segment = lsm_wal::read_segment(&lsm_core::OsFileSystem, &wal).unwrap();
    let clean_len = segment.records_end;
    let torn_bytes = bytes.len() as u64 + 9 - clean_len;
    bytes.extend_from_slice(&[0x5a; 9]);
    std::fs::write(&wal, bytes).unwrap();
    let table = newest(dir.path(), ".sst");
    std::fs::copy(&table, dir.path().join("999999.sst")).unwrap();
    std::fs::remove_file(dir.path().join("OPTIONS")).unwrap();
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let before = contents(dir.path());

    for _ in 0..3 {
        let store = ReadOnlyStore::open(small_config(dir.path())).unwrap();
        let (pairs, _) = read_only_view(&store);
        assert!(pairs.len() > 290, "{}", pairs.len());
        let stats = store.stats().unwrap();
        assert!(stats.total_files() > 0 && stats.memtable_bytes > 0);
        let check = store.check();
        let torn = check
            .wal_torn_tail
            .as_ref()
            .expect("the torn tail is found");
        assert_eq!(
            (torn.path.as_path(), torn.offset, torn.bytes),
            (wal.as_path(), clean_len, torn_bytes)
        );
        assert_eq!(check.stray_tables, [dir.path().join("999999.sst")]);
        assert!(check.writes_options, "a real open would write OPTIONS");
        drop(store);
    }
    assert_eq!(
        contents(dir.path()),
        before,
        "a read-only open changed the directory"
    );
    assert!(!dir.path().join("LOCK").exists(), "no lock file is created");
}

/// What the read-only store reads equals what a real open of the same files
/// reads right after it (which cuts the torn tail the read-only open leaves
/// in place), and its stats agree on the shape.
#[test]
fn reads_match_a_normal_open() {
    let dir = tempfile::tempdir().unwrap();
    build_store(dir.path());
    let wal = newest(dir.path(), ".wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0x11; 4]);
    std::fs::write(&wal, bytes).unwrap();

    let read_only = ReadOnlyStore::open(small_config(dir.path())).unwrap();
    let seen = read_only_view(&read_only);
    let ro_stats = read_only.stats().unwrap();
    assert_eq!(seen.1[1], None, "key0007 was deleted");
    assert_eq!(seen.1[2].as_deref(), Some(&b"overwritten in the WAL"[..]));
    assert_eq!(seen.1[3], None, "key0011 was deleted in the WAL");
    assert_eq!(seen.1[4].as_deref(), Some(&b"walvalue3"[..]));

    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store_view(&store), seen);
    let stats = store.stats().unwrap();
    assert_eq!(ro_stats.last_seq, stats.last_seq);
    assert_eq!(ro_stats.visible_seq, stats.visible_seq);
    assert_eq!(read_only.last_seq(), stats.last_seq);
    assert_eq!(ro_stats.levels, stats.levels);
    assert_eq!(ro_stats.memtable_bytes, stats.memtable_bytes);
    store.close().unwrap();
}

/// Another `SimpleLsmStore` holds the directory: the read-only open works,
/// sees every acknowledged write, leaves the lock with its holder (a second
/// real open is still refused), and the holder keeps writing.
#[test]
fn opens_a_store_another_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    build_store(dir.path());
    let holder = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    holder.put("live", "1").unwrap();

    let read_only = ReadOnlyStore::open(small_config(dir.path())).unwrap();
    assert_eq!(read_only.get("live").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(read_only.last_seq(), holder.stats().unwrap().last_seq);
    assert_eq!(store_view(&holder), read_only_view(&read_only));
    let err = SimpleLsmStore::open(small_config(dir.path())).unwrap_err();
    assert!(err.is_locked(), "{err}");

    holder.put("live", "2").unwrap();
    assert_eq!(
        read_only.get("live").unwrap().as_deref(),
        Some(&b"1"[..]),
        "the read-only store holds the state of its open"
    );
    let again = ReadOnlyStore::open(small_config(dir.path())).unwrap();
    assert_eq!(again.get("live").unwrap().as_deref(), Some(&b"2"[..]));
    holder.close().unwrap();
}

/// No directory, or a directory without a store: an error naming it, and
/// nothing created.
#[test]
fn a_missing_store_is_an_error_and_nothing_is_created() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nope");
    let err = ReadOnlyStore::open(LsmConfig::new(&missing)).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(!missing.exists());

    let err = ReadOnlyStore::open(LsmConfig::new(parent.path())).unwrap_err();
    assert!(err.to_string().contains("CURRENT not found"), "{err}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

/// A read-only open reads keyspaces as of its open: their names (a
/// dropped one gone), their keys in tables and in the WAL, never the
/// catalog, and keeps reading them while the owner writes on.
#[test]
fn reads_keyspaces_as_of_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(small_config(dir.path())).unwrap();
    let users = store.keyspace("users").unwrap();
    let orders = store.keyspace("orders").unwrap();
    for i in 0..200 {
        users.put(format!("u{i:03}"), format!("user {i}")).unwrap();
        orders.put(format!("o{i:03}"), "order").unwrap();
    }
    store.flush_memtable().unwrap();
    users.put("u999", "only in the WAL").unwrap();
    store.keyspace("temporary").unwrap().put("t", "x").unwrap();
    store.drop_keyspace("temporary").unwrap();

    let read_only = ReadOnlyStore::open(small_config(dir.path())).unwrap();
    assert_eq!(read_only.keyspace_names(), ["orders", "users"]);
    let users_id = read_only.keyspace_id("users").unwrap();
    assert_eq!(users_id, users.id());
    assert_eq!(
        read_only.get_in(users_id, "u007").unwrap().as_deref(),
        Some(&b"user 7"[..])
    );
    assert_eq!(
        read_only.get_in(users_id, "u999").unwrap().as_deref(),
        Some(&b"only in the WAL"[..])
    );
    let keys: Vec<Vec<u8>> = read_only
        .range_in(users_id, "u1".."u2")
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert_eq!(keys.len(), 100);
    assert_eq!(keys[0], b"u100");
    assert!(read_only
        .keyspace_id("temporary")
        .unwrap_err()
        .to_string()
        .contains("temporary"));
    assert_eq!(read_only.get("u007").unwrap(), None, "the default keyspace");
    assert!(read_only
        .get_in(lsm_store_sync::KeyspaceId::CATALOG, "users")
        .is_err());
    assert!(read_only
        .range_in(lsm_store_sync::KeyspaceId::CATALOG, ..)
        .is_err());

    // The owner writes on; the read-only handle keeps the state it opened.
    users.delete("u007").unwrap();
    store.drop_keyspace("orders").unwrap();
    assert!(read_only.get_in(users_id, "u007").unwrap().is_some());
    assert_eq!(read_only.keyspace_names(), ["orders", "users"]);
    store.close().unwrap();
}
