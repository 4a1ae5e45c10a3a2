//! Keyspaces used carelessly, on both stores: churn of creates and drops,
//! calls after close, reads of the internal catalog, huge names. Each was
//! a review finding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use lsm_store_async::AsyncLsmStore;
use lsm_store_sync::{
    KeyspaceId, KvError, KvSnapshot, KvStore, LsmConfig, PinnedRead, SimpleLsmStore, SyncMode,
};

const MEMTABLE_BYTES: usize = 64 * 1024;

fn config(dir: &Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(MEMTABLE_BYTES)
        .wal_segment_bytes(64 * 1024)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

/// Creating and dropping a keyspace writes catalog records into the
/// memtable like any write; they used to never freeze it, so 2,000
/// create/drop pairs grew a 64 KiB memtable to 1.4 MB with no flush (and
/// every later create/drop slowed down with the drops' range deletes).
fn churn_keeps_the_memtable_within_its_budget<S: KvStore + Clone>() {
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(config(dir.path())).unwrap();
    let name = "job-".repeat(60); // 240 bytes
    for _ in 0..2_000 {
        store.open_keyspace(&name).unwrap();
        store.drop_keyspace(&name).unwrap();
    }
    // The async store freezes on its applier and flushes in the
    // background: give them a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stats = loop {
        let stats = store.stats().unwrap();
        if stats.memtable_bytes <= 2 * MEMTABLE_BYTES || Instant::now() > deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        stats.memtable_bytes <= 2 * MEMTABLE_BYTES,
        "the memtable holds {} bytes against a {MEMTABLE_BYTES}-byte budget ({} flushes)",
        stats.memtable_bytes,
        stats.flushes
    );
    assert!(stats.flushes > 0, "2,000 creates and drops never flushed");
    let seq = store.put(b"after", b"churn").unwrap();
    assert!(store.wait_visible(seq, Duration::from_secs(30)));
    assert_eq!(store.get(b"after").unwrap().as_deref(), Some(&b"churn"[..]));
    store.close().unwrap();
}

#[test]
fn keyspace_churn_keeps_the_memtable_within_its_budget_sync() {
    churn_keeps_the_memtable_within_its_budget::<SimpleLsmStore>();
}

#[test]
fn keyspace_churn_keeps_the_memtable_within_its_budget_async() {
    churn_keeps_the_memtable_within_its_budget::<AsyncLsmStore>();
}

/// `keyspace(name)` of an existing name answered from its cache after
/// close, where every other call fails with `Closed`.
fn opening_an_existing_keyspace_after_close_is_closed<S: KvStore + Clone>() {
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(config(dir.path())).unwrap();
    store.open_keyspace("users").unwrap();
    store.close().unwrap();
    let err = store.open_keyspace("users").unwrap_err();
    assert!(err.is_closed(), "{err}");
    let err = store.open_keyspace("new").unwrap_err();
    assert!(err.is_closed(), "{err}");
    // Closed before the name is checked, like every call of a closed store.
    let err = store.open_keyspace(&"x".repeat(300)).unwrap_err();
    assert!(err.is_closed(), "{err}");
    let err = store.drop_keyspace("").unwrap_err();
    assert!(err.is_closed(), "{err}");
}

#[test]
fn opening_an_existing_keyspace_after_close_is_closed_sync() {
    opening_an_existing_keyspace_after_close_is_closed::<SimpleLsmStore>();
}

#[test]
fn opening_an_existing_keyspace_after_close_is_closed_async() {
    opening_an_existing_keyspace_after_close_is_closed::<AsyncLsmStore>();
}

/// Writes naming the catalog's id were refused but reads returned its
/// entries (every keyspace name and the next-id counter).
fn the_catalog_cannot_be_read<S: KvStore + Clone>() {
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(config(dir.path())).unwrap();
    store.open_keyspace("secret-name").unwrap();
    let refused = |err: S::Error| assert!(!err.is_closed() && !err.is_corruption(), "{err}");
    refused(
        store
            .get_in(KeyspaceId::CATALOG, b"secret-name")
            .unwrap_err(),
    );
    match store.range_in(KeyspaceId::CATALOG, Bound::Unbounded, Bound::Unbounded) {
        Ok(entries) => panic!(
            "the catalog was readable: {:?}",
            entries.collect::<Vec<_>>()
        ),
        Err(err) => refused(err),
    }
    let snapshot = store.snapshot().unwrap();
    match snapshot.get_in(KeyspaceId::CATALOG, b"secret-name") {
        Ok(found) => panic!("the catalog was readable through a snapshot: {found:?}"),
        Err(err) => assert!(!err.is_closed(), "{err}"),
    }
    assert!(snapshot
        .range_in(KeyspaceId::CATALOG, Bound::Unbounded, Bound::Unbounded)
        .is_err());
    // The default keyspace still reads as ever.
    assert_eq!(store.get_in(KeyspaceId::DEFAULT, b"x").unwrap(), None);
    store.close().unwrap();
}

/// The pinned point reads (stores and snapshots) too: they still returned
/// a keyspace's id by its name after `get_in` was closed off.
fn the_catalog_cannot_be_read_pinned<S>()
where
    S: KvStore + Clone + PinnedRead<Error = <S as KvStore>::Error>,
    S::Snapshot: PinnedRead<Error = <S as KvStore>::Error>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = S::open(config(dir.path())).unwrap();
    store.open_keyspace("secret-name").unwrap();
    let snapshot = store.snapshot().unwrap();
    let of_store = store.get_pinned_in(KeyspaceId::CATALOG, b"secret-name");
    let of_snapshot = snapshot.get_pinned_in(KeyspaceId::CATALOG, b"secret-name");
    assert!(
        of_store.is_err() && of_snapshot.is_err(),
        "the catalog was readable: store {:?}, snapshot {:?}",
        of_store.ok(),
        of_snapshot.ok()
    );
    store.close().unwrap();
}

#[test]
fn the_catalog_cannot_be_read_pinned_sync() {
    the_catalog_cannot_be_read_pinned::<SimpleLsmStore>();
}

#[test]
fn the_catalog_cannot_be_read_pinned_async() {
    the_catalog_cannot_be_read_pinned::<AsyncLsmStore>();
}

#[test]
fn the_catalog_cannot_be_read_sync() {
    the_catalog_cannot_be_read::<SimpleLsmStore>();
}

#[test]
fn the_catalog_cannot_be_read_async() {
    the_catalog_cannot_be_read::<AsyncLsmStore>();
}

/// A refused 10 MiB name was copied, escaped, into the error (a 10 MB
/// message).
#[test]
fn a_refused_huge_keyspace_name_is_not_copied_into_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let name = "é".repeat(5 << 20);
    let err = store.keyspace(&name).unwrap_err();
    let message = err.to_string();
    assert!(message.len() < 300, "a {}-byte message", message.len());
    assert!(
        message.contains(&format!("({} bytes)", name.len())),
        "{message}"
    );
    let err = store.keyspace_stats(&name).unwrap_err();
    let message = err.to_string();
    assert!(
        message.len() < 300,
        "keyspace_stats: a {}-byte message",
        message.len()
    );
    store.close().unwrap();
}
