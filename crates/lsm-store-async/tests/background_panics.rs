//! A panic in the store's work (here: a file system that panics when the
//! flusher or a compaction worker creates a table, or when anyone creates
//! a WAL segment) poisons the store and releases everyone waiting on the
//! work: no call hangs, later writes get a typed error, `close` returns,
//! and every write acknowledged before is there after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use lsm_core::fault::FaultyFileSystem;
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_async::{AsyncLsmStore, Error, LsmConfig};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `body` on its own thread; panics if it does not finish within
/// `LIMIT` (a hang counts as a failure).
fn within<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(_) => panic!("{what}: did not finish within {LIMIT:?} (hang)"),
    }
}

/// A file system that panics, once armed, when a thread whose name starts
/// with `thread` creates a file whose name ends with `suffix`.
fn panicking_fs(thread: &'static str, suffix: &'static str) -> (SharedFileSystem, Arc<AtomicBool>) {
    let faults = FaultyFileSystem::new(OsFileSystem::shared());
    let armed = Arc::new(AtomicBool::new(false));
    let trigger = Arc::clone(&armed);
    faults.on_create(move |path| {
        let name = std::thread::current().name().unwrap_or("").to_string();
        if trigger.load(Ordering::SeqCst)
            && name.starts_with(thread)
            && path.to_string_lossy().ends_with(suffix)
        {
            panic!("test file system: refusing {} on {name}", path.display());
        }
    });
    (faults as SharedFileSystem, armed)
}

fn key(i: u64) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

/// Reopens `config`'s directory on the plain OS file system and checks
/// that every key in `acknowledged` reads back.
fn assert_all_recovered(dir: &std::path::Path, acknowledged: &[u64]) {
    let store = AsyncLsmStore::open(LsmConfig::new(dir)).unwrap();
    assert!(store.wait_for_seq(store.last_seq(), LIMIT));
    for &i in acknowledged {
        assert_eq!(
            store.get(key(i)).unwrap(),
            Some(key(i)),
            "acknowledged key {i} lost after the panic and a reopen"
        );
    }
    store.close().unwrap();
}

#[test]
fn a_panicking_flusher_poisons_the_store_and_releases_flush_waiters() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, armed) = panicking_fs("lsm-flusher", ".sst");
    let config = common::small(dir.path()).fs(fs).build().unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        store.put(key(i), key(i)).unwrap();
        acknowledged.push(i);
    }
    armed.store(true, Ordering::SeqCst);
    let flushing = Arc::clone(&store);
    let flushed = within("flush_memtable with a panicking flusher", move || {
        flushing.flush_memtable()
    });
    assert!(
        flushed.is_err(),
        "a flush whose thread panicked reported {flushed:?}"
    );
    // Writes now fail (the store is poisoned); none hangs, even once
    // enough of them would have filled the memtables the flusher no
    // longer empties.
    let writing = Arc::clone(&store);
    let refused = within("writes after the flusher panicked", move || {
        (1000..20_000u64).find_map(|i| writing.put(key(i), key(i)).err())
    });
    assert!(
        matches!(refused, Some(Error::Store(ref e)) if e.is_poisoned()),
        "writes after the flusher panicked: {refused:?}"
    );
    let closing = Arc::clone(&store);
    let closed = within("close after the flusher panicked", move || closing.close());
    println!("close after the flusher panicked: {closed:?}");
    drop(store);
    assert_all_recovered(dir.path(), &acknowledged);
}

#[test]
fn a_panicking_compaction_fails_its_job_and_the_store_keeps_no_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let (fs, armed) = panicking_fs("lsm-compaction", ".sst");
    let config = common::small(dir.path())
        .fs(fs)
        .compaction_workers(1)
        // No automatic compaction: the manual one below is the first.
        .l0_trigger(8)
        .build()
        .unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let mut acknowledged = Vec::new();
    for round in 0..3u64 {
        for i in 0..40 {
            // Overlapping rounds: the compaction rewrites, not moves.
            let i = i * 3 + round;
            store.put(key(i), key(i)).unwrap();
            acknowledged.push(i);
        }
        store.flush_memtable().unwrap();
    }
    armed.store(true, Ordering::SeqCst);
    let compacting = Arc::clone(&store);
    let compacted = within(
        "compact_level(0, true) with a panicking worker",
        move || compacting.compact_level(0, true),
    );
    assert!(
        matches!(compacted, Err(Error::CompactionFailed { .. })),
        "a compaction whose worker panicked reported {compacted:?}"
    );
    // The store is poisoned like after any failed compaction: writes and
    // new jobs are refused, and a job queued behind does not wait forever
    // for the worker.
    let err = store.put(b"after", b"panic").unwrap_err();
    assert!(
        matches!(err, Error::Store(ref e) if e.is_poisoned()),
        "{err:?}"
    );
    let scheduling = Arc::clone(&store);
    let second = within("a second compact_level after the panic", move || {
        scheduling.compact_level(1, true)
    });
    assert!(second.is_err(), "{second:?}");
    let closing = Arc::clone(&store);
    let closed = within("close after the worker panicked", move || closing.close());
    println!("close after the worker panicked: {closed:?}");
    drop(store);
    assert_all_recovered(dir.path(), &acknowledged);
}

#[test]
fn a_file_system_panic_in_the_wal_fails_writes_and_leaves_no_writer_waiting() {
    let dir = tempfile::tempdir().unwrap();
    // Every WAL segment creation panics once armed: the applier's, ahead
    // of a rotation, and a writer's, in the rotation itself. The WAL sets
    // its rotation and writer marks around that call, and every other
    // writer waits for them to clear.
    let (fs, armed) = panicking_fs("", ".wal");
    let config = common::small(dir.path()).fs(fs).build().unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    armed.store(true, Ordering::SeqCst);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let store = Arc::clone(&store);
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                for i in 0..50_000u64 {
                    let i = t * 1_000_000 + i;
                    match store.put(key(i), key(i)) {
                        Ok(seq) => acknowledged.lock().unwrap().push((i, seq)),
                        Err(err) => return Some(err),
                    }
                }
                None
            })
        })
        .collect();
    let errors = within("writers after the file system panicked", move || {
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    for err in &errors {
        let err = err
            .as_ref()
            .expect("a writer wrote 50,000 keys past a dead WAL");
        assert!(
            err.is_poisoned() || err.to_string().contains("the file system panicked"),
            "a writer ended with {err:?}"
        );
    }
    // Every acknowledged write becomes visible (queued writes are still
    // applied on a poisoned store).
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty());
    let last_acknowledged = acknowledged.iter().map(|&(_, seq)| seq).max().unwrap();
    let waiting = Arc::clone(&store);
    let visible = within("wait_for_seq after the file system panicked", move || {
        waiting.wait_for_seq(last_acknowledged, Duration::MAX)
    });
    assert!(
        visible,
        "acknowledged write {last_acknowledged} never became visible"
    );
    for &(i, _) in &acknowledged {
        assert_eq!(store.get(key(i)).unwrap(), Some(key(i)), "key {i}");
    }
    let closing = Arc::clone(&store);
    let closed = within("close after the file system panicked", move || {
        closing.close()
    });
    println!("close after the file system panicked: {closed:?}");
    drop(store);
    let keys: Vec<u64> = acknowledged.iter().map(|&(i, _)| i).collect();
    assert_all_recovered(dir.path(), &keys);
}
