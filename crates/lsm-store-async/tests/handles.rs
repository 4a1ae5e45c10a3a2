//! `AsyncLsmStore` as a cloneable handle, `wait_for_seq_async` (the fence
//! as a runtime-agnostic `Future`), `open_read_only`, and durability on
//! demand (`write_with`, `sync`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{block_on, dir_contents, SlowWalSyncs};
use lsm_core::fault::FaultyFileSystem;
use lsm_core::{OsFileSystem, SharedFileSystem};
use lsm_store_async::{AsyncLsmStore, LsmConfig, SyncMode, WriteBatch, WriteOptions};

const LONG: Duration = Duration::from_secs(30);

fn open(dir: &std::path::Path) -> AsyncLsmStore {
    AsyncLsmStore::open(common::small(dir).build().unwrap()).unwrap()
}

fn batch(key: &str, value: &str) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(key.as_bytes(), value.as_bytes());
    batch
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

const THREADS: usize = 8;
const PER_THREAD: usize = 300;

/// Eight threads, each with its own clone, write through enough data for
/// several flushes and compactions, fencing every other write with the
/// blocking `wait_for_seq` and the rest with `wait_for_seq_async` under a
/// minimal executor, and read each write back after its fence. Every clone
/// then sees every thread's writes.
#[test]
fn clones_share_one_store_and_the_future_fences_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    let key = format!("t{t}-{i:04}");
                    let seq = store
                        .put(&key, format!("{key}-{}", "x".repeat(40)))
                        .unwrap();
                    if i % 2 == 0 {
                        block_on(store.wait_for_seq_async(seq)).unwrap();
                    } else {
                        assert!(store.wait_for_seq(seq, LONG));
                    }
                    assert!(store.get(&key).unwrap().is_some(), "{key} after its fence");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let other = store.clone();
    drop(store);
    for t in 0..THREADS {
        let seen = other
            .range(format!("t{t}-")..format!("t{t}."))
            .unwrap()
            .count();
        assert_eq!(seen, PER_THREAD, "thread {t}'s keys");
    }
    let stats = other.stats().unwrap();
    assert!(stats.flushes > 0, "{stats:?}");
    assert_eq!(stats.poisoned, None);
    other.close().unwrap();
}

/// `close` through one clone closes the store for every clone.
#[test]
fn close_on_any_clone_closes_every_clone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let seq = store.put("a", "1").unwrap();
    let clones: Vec<AsyncLsmStore> = (0..3).map(|_| store.clone()).collect();
    clones[1].close().unwrap();
    for clone in clones.iter().chain([&store]) {
        assert!(clone.get("a").unwrap_err().is_closed());
        assert!(clone.put("b", "2").unwrap_err().is_closed());
        assert!(clone.sync().unwrap_err().is_closed());
        assert!(clone.flush_memtable().unwrap_err().is_closed());
        assert!(clone.stats().unwrap_err().is_closed());
        assert!(clone.wait_for_seq(seq, LONG), "applied before the close");
        clone.close().unwrap();
    }
    let reopened = open(dir.path());
    assert_eq!(reopened.get("a").unwrap(), Some(b"1".to_vec()));
    reopened.close().unwrap();
}

/// The background threads do not keep the store alive: dropping the last
/// clone (on another thread here) applies what is queued, joins them and
/// releases the lock before the drop returns, so the directory reopens at
/// once, with every write. A future still waiting (it holds the engine,
/// not the store) resolves with `Closed` and does not keep the lock.
#[test]
fn dropping_the_last_clone_releases_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let clones: Vec<AsyncLsmStore> = (0..4).map(|_| store.clone()).collect();
    let mut last = 0;
    for (i, clone) in clones.iter().enumerate() {
        last = clone.put(format!("k{i}"), "v").unwrap();
    }
    let mut pending = store.wait_for_seq_async(last + 100);
    let (count, waker) = {
        let count = Arc::new(CountingWaker::default());
        (Arc::clone(&count), Waker::from(count))
    };
    assert!(poll_once(&mut pending, &waker).is_pending());
    drop(store);
    let mut clones = clones.into_iter();
    let final_clone = clones.next().unwrap();
    drop(clones);
    let err = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap_err();
    assert!(err.is_locked(), "one clone still holds the store: {err}");
    assert!(poll_once(&mut pending, &waker).is_pending());

    std::thread::spawn(move || drop(final_clone))
        .join()
        .unwrap();
    let reopened = open(dir.path());
    for i in 0..4 {
        assert_eq!(reopened.get(format!("k{i}")).unwrap(), Some(b"v".to_vec()));
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "the close woke it");
    match poll_once(&mut pending, &waker) {
        Poll::Ready(Err(err)) => assert!(err.is_closed(), "{err}"),
        other => panic!("expected Closed, got {other:?}"),
    }
    reopened.close().unwrap();
}

/// The future is pending while the write sits in the apply queue (the core
/// lock held) and is woken by the applier when the watermark passes it:
/// no polling, no thread of its own.
#[test]
fn the_future_is_woken_when_a_queued_write_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let count = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&count));
    let core = store.hold_core_lock();
    let seq = store.put("queued", "1").unwrap();
    let mut future = store.wait_for_seq_async(seq);
    assert_eq!(future.seq(), seq);
    assert!(poll_once(&mut future, &waker).is_pending());
    assert!(poll_once(&mut future, &waker).is_pending(), "polled again");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "woken before applied");
    drop(core);
    let deadline = std::time::Instant::now() + LONG;
    while count.0.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "never woken");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(
        poll_once(&mut future, &waker),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(store.get("queued").unwrap(), Some(b"1".to_vec()));
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once");
    store.close().unwrap();
}

/// Futures pending when the store closes resolve with `Closed` (also ones
/// blocked in executors on other threads); a future for a write that
/// returned before the close resolves `Ok` even after it.
#[test]
fn futures_pending_at_close_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let seq = store.put("a", "1").unwrap();
    let waiters: Vec<_> = (1..=3)
        .map(|ahead| {
            let future = store.wait_for_seq_async(seq + ahead);
            std::thread::spawn(move || block_on(future))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let closer = {
        let store = store.clone();
        std::thread::spawn(move || store.close())
    };
    closer.join().unwrap().unwrap();
    for waiter in waiters {
        let err = waiter.join().unwrap().unwrap_err();
        assert!(err.is_closed(), "{err}");
    }
    block_on(store.wait_for_seq_async(seq)).unwrap();
}

/// A failed WAL append poisons the store: a future waiting for a sequence
/// number no write will take resolves with the poisoned error instead of
/// hanging. (The failed write's own number is passed: it is published with
/// nothing in it, so writes acknowledged behind it become visible.)
#[test]
fn a_future_pending_when_the_store_is_poisoned_resolves_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let config = common::small(dir.path())
        .fs(fs.clone() as SharedFileSystem)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let seq = store.put("a", "1").unwrap();
    let waiter = {
        let future = store.wait_for_seq_async(seq + 2);
        std::thread::spawn(move || block_on(future))
    };
    std::thread::sleep(Duration::from_millis(20));
    fs.fail_appends(true);
    assert!(store.put("b", "2").is_err());
    let err = waiter.join().unwrap().unwrap_err();
    assert!(err.is_poisoned(), "{err}");
    block_on(store.wait_for_seq_async(seq)).unwrap();
    block_on(store.wait_for_seq_async(seq + 1)).unwrap();
    assert_eq!(store.get("b").unwrap(), None);
    fs.fail_appends(false);
    drop(store);
}

/// `open_read_only` opens a store another handle holds (no lock taken),
/// writes nothing (the listing and every file's bytes are the same before
/// and after, over several opens), and sees the WAL's writes replayed,
/// also ones the holder has not applied yet (queued behind the core lock).
#[test]
fn open_read_only_reads_a_held_store_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No background work while the readers open: a memtable that holds
    // every write and no compaction trigger, so any change is the reader's.
    let quiet = common::small(dir.path())
        .memtable_bytes(1 << 20)
        .l0_trigger(64)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(quiet).unwrap();
    for i in 0..200 {
        store.put(format!("key{i:03}"), "x".repeat(100)).unwrap();
    }
    store.flush_memtable().unwrap();
    let applied = store.put("applied", "1").unwrap();
    assert!(store.wait_for_seq(applied, LONG));
    let core = store.hold_core_lock();
    let queued = store.put("queued", "2").unwrap();
    assert_eq!(store.get("queued").unwrap(), None, "not applied yet");
    let before = dir_contents(dir.path());

    for _ in 0..3 {
        let reader =
            AsyncLsmStore::open_read_only(common::small(dir.path()).build().unwrap()).unwrap();
        assert_eq!(reader.last_seq(), queued);
        assert_eq!(reader.get("applied").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            reader.get("queued").unwrap(),
            Some(b"2".to_vec()),
            "from the WAL"
        );
        assert_eq!(reader.range(..).unwrap().count(), 202);
        assert!(reader.stats().unwrap().total_files() > 0);
    }
    assert_eq!(dir_contents(dir.path()), before, "a read-only open wrote");
    let err = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap_err();
    assert!(err.is_locked(), "the holder keeps its lock: {err}");
    drop(core);
    assert!(store.wait_for_seq(queued, LONG));
    store.close().unwrap();
}

/// Under `SyncMode::Never`, a write with `sync: Some(true)` survives a
/// power loss (and the write before it, which its fsync covers); the
/// unsynced write after it does not. Under `Always`, `sync: Some(false)`
/// skips the fsync, and `sync()` makes such writes durable.
#[test]
fn per_write_sync_and_sync_survive_power_loss() {
    let config = |dir: &std::path::Path, fs: &Arc<FaultyFileSystem>, mode| {
        common::small(dir)
            .memtable_bytes(8 << 20)
            .wal_sync(mode)
            .fs(Arc::clone(fs) as SharedFileSystem)
            .build()
            .unwrap()
    };
    let lose_power = |store: AsyncLsmStore, fs: &FaultyFileSystem, dir| {
        std::mem::forget(store); // dies without closing: no final sync
        fs.crash().unwrap();
        AsyncLsmStore::open(common::small(dir).build().unwrap()).unwrap()
    };

    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = AsyncLsmStore::open(config(dir.path(), &fs, SyncMode::Never)).unwrap();
    let syncs = store.stats().unwrap().wal_syncs;
    store.put("before", "1").unwrap();
    store
        .write_with(&batch("synced", "2"), &WriteOptions::SYNC)
        .unwrap();
    store.put("after", "3").unwrap();
    assert_eq!(store.stats().unwrap().wal_syncs, syncs + 1);
    let reopened = lose_power(store, &fs, dir.path());
    assert_eq!(reopened.get("before").unwrap(), Some(b"1".to_vec()));
    assert_eq!(reopened.get("synced").unwrap(), Some(b"2".to_vec()));
    assert_eq!(reopened.get("after").unwrap(), None, "nothing synced it");
    reopened.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = AsyncLsmStore::open(config(dir.path(), &fs, SyncMode::Always)).unwrap();
    store.put("durable", "1").unwrap();
    store
        .write_with(&batch("bulk", "2"), &WriteOptions::NO_SYNC)
        .unwrap();
    let reopened = lose_power(store, &fs, dir.path());
    assert_eq!(reopened.get("durable").unwrap(), Some(b"1".to_vec()));
    assert_eq!(reopened.get("bulk").unwrap(), None, "the unsynced write");
    reopened.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let fs = FaultyFileSystem::new(OsFileSystem::shared());
    let store = AsyncLsmStore::open(config(dir.path(), &fs, SyncMode::Always)).unwrap();
    for i in 0..20 {
        store
            .write_with(&batch(&format!("bulk{i}"), "v"), &WriteOptions::NO_SYNC)
            .unwrap();
    }
    store.sync().unwrap();
    let reopened = lose_power(store, &fs, dir.path());
    for i in 0..20 {
        assert_eq!(
            reopened.get(format!("bulk{i}")).unwrap(),
            Some(b"v".to_vec())
        );
    }
    reopened.close().unwrap();
}

/// Group commit across mixed writes on the async write path: four threads
/// make synced writes while four make unsynced ones (`SyncMode::Never`,
/// WAL fsyncs slowed to 2 ms). The synced writes share fsyncs, and each
/// survives a power loss right after the last returned.
#[test]
fn concurrent_synced_and_unsynced_writers_share_fsyncs() {
    const SYNCED: usize = 4;
    const UNSYNCED: usize = 4;
    const WRITES: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyFileSystem::new(OsFileSystem::shared());
    let fs: SharedFileSystem = Arc::new(SlowWalSyncs {
        inner: faulty.clone(),
        delay: Duration::from_millis(2),
    });
    let config = common::small(dir.path())
        .memtable_bytes(8 << 20)
        .fs(fs)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let syncs = store.stats().unwrap().wal_syncs;
    let start = Arc::new(Barrier::new(SYNCED + UNSYNCED));
    let writers: Vec<_> = (0..SYNCED + UNSYNCED)
        .map(|t| {
            let store = store.clone();
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let synced = t < SYNCED;
                let options = WriteOptions::new().sync(synced);
                start.wait();
                for i in 0..WRITES {
                    let key = format!("{}{t}-{i:02}", if synced { "s" } else { "u" });
                    store.write_with(&batch(&key, "v"), &options).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let fsyncs = store.stats().unwrap().wal_syncs - syncs;
    let synced_writes = (SYNCED * WRITES) as u64;
    assert!(
        (1..synced_writes).contains(&fsyncs),
        "{fsyncs} fsyncs for {synced_writes} synced writes"
    );
    println!("{fsyncs} WAL fsyncs for {synced_writes} synced writes");

    std::mem::forget(store);
    faulty.crash().unwrap();
    let reopened = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    for t in 0..SYNCED {
        for i in 0..WRITES {
            let key = format!("s{t}-{i:02}");
            assert_eq!(reopened.get(&key).unwrap(), Some(b"v".to_vec()), "{key}");
        }
    }
    reopened.close().unwrap();
}

/// `LsmConfig` is re-exported, and `open_read_only` of a directory without
/// a store is an error that creates nothing.
#[test]
fn open_read_only_of_a_missing_store_is_an_error() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nope");
    let err = AsyncLsmStore::open_read_only(LsmConfig::new(&missing)).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(!missing.exists());
}
