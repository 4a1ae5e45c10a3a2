//! The write protocol: a write returns after the WAL append, before the
//! memtable applies it; `wait_for_seq` fences reads; visibility is a
//! prefix; close drains the queue and refuses later writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lsm_store_async::{AsyncLsmStore, Error, SyncMode, WriteBatch, WriteOptions};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn write_returns_before_the_memtable_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    let before = store.put("k0", "v0").unwrap();
    assert!(store.wait_for_seq(before, LONG));

    let core = store.hold_core_lock();
    let seq = store.put("k1", "v1").unwrap();
    assert_eq!(seq, before + 1, "the WAL assigned the next sequence number");
    assert!(
        !store.wait_for_seq(seq, Duration::from_millis(50)),
        "applied while the core lock was held"
    );
    assert_eq!(
        store.get("k1").unwrap(),
        None,
        "a read saw an unapplied write"
    );
    assert_eq!(store.visible_seq(), before);
    drop(core);

    assert!(store.wait_for_seq(seq, LONG));
    assert_eq!(store.get("k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(store.queued_writes(), 0);
}

/// A write that waited for an fdatasync is applied by its writer, beside
/// the applier if the core lock is taken (here held, as by an applier that
/// is away), instead of being queued; visibility stays a prefix.
#[test]
fn a_write_that_waited_for_a_sync_is_applied_by_its_writer_even_without_the_core_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    let one = |key: &str| {
        let mut batch = WriteBatch::new();
        batch.put(key.as_bytes(), b"v");
        batch
    };
    let core = store.hold_core_lock();

    let synced = store.write_with(&one("a"), &WriteOptions::SYNC).unwrap();
    assert_eq!(store.visible_seq(), synced, "applied and published at once");
    assert_eq!(store.get("a").unwrap(), Some(b"v".to_vec()));

    // (The applier may take a queued write off the queue and then wait for
    // the core lock, so the queue's length proves nothing here.)
    let unsynced = store.put("b", "v").unwrap();
    assert_eq!(
        store.visible_seq(),
        synced,
        "an unsynced write waits for the applier"
    );
    let bytes = store.stats().unwrap().memtable_bytes;
    let synced_after = store.write_with(&one("c"), &WriteOptions::SYNC).unwrap();
    assert!(
        store.stats().unwrap().memtable_bytes > bytes,
        "the later synced write was applied"
    );
    assert_eq!(
        store.visible_seq(),
        synced,
        "the unapplied write before it holds it back"
    );
    assert_eq!(store.get("c").unwrap(), None);
    drop(core);

    assert!(store.wait_for_seq(synced_after, LONG));
    assert!(unsynced < synced_after);
    assert_eq!(store.get("b").unwrap(), Some(b"v".to_vec()));
    assert_eq!(store.get("c").unwrap(), Some(b"v".to_vec()));
}

/// Under `SyncMode::Always` every write waits for a sync, so every write is
/// applied by its writer; `WriteOptions::NO_SYNC` still queues.
#[test]
fn under_sync_mode_always_writes_are_applied_by_their_writers() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .wal_sync(SyncMode::Always)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let core = store.hold_core_lock();
    let seq = store.put("a", "v").unwrap();
    assert_eq!(store.visible_seq(), seq, "applied and published at once");
    let mut batch = WriteBatch::new();
    batch.put(b"b", b"v");
    let unsynced = store.write_with(&batch, &WriteOptions::NO_SYNC).unwrap();
    assert_eq!(
        store.visible_seq(),
        seq,
        "a write that skipped its sync waits for the applier"
    );
    drop(core);
    assert!(store.wait_for_seq(unsynced, LONG));
    assert_eq!(store.get("b").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn queued_writes_become_visible_in_wal_order_as_one_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    let core = store.hold_core_lock();
    let mut batch = WriteBatch::new();
    batch.put(b"a", b"1").put(b"b", b"2").delete(b"c");
    let first = store.put("c", "0").unwrap();
    let last = store.write(&batch).unwrap();
    assert_eq!(last, first + 3, "a batch takes one sequence number per op");
    assert_eq!(store.get("c").unwrap(), None);
    drop(core);
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(store.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(
        store.get("c").unwrap(),
        None,
        "the batch's delete came after the put"
    );
}

/// The applier holding the core lock stands for an applier that is away
/// (descheduled, freezing, or waiting for the flusher to make room). With
/// the default `apply_lock_timeout` (zero) a writer that finds the queue
/// full applies at once; with a timeout, after waiting it.
#[test]
fn with_the_queue_full_writers_apply_themselves_until_the_memtable_is_overfull_then_block() {
    assert_eq!(
        common::small(Path::new("unused"))
            .build()
            .unwrap()
            .apply_lock_timeout,
        Duration::ZERO,
        "the default does not wait"
    );
    for timeout in [None, Some(Duration::from_millis(1))] {
        queue_full_then_overfull(timeout);
    }
}

/// A thread putting keys `k000..` with `value_len`-byte values, `puts` of
/// them; it returns the last sequence number and sets the flag when done.
fn spawn_writer(
    store: &Arc<AsyncLsmStore>,
    puts: u32,
    value_len: usize,
) -> (std::thread::JoinHandle<u64>, Arc<AtomicBool>) {
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = Arc::clone(store);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = 0;
            for i in 0..puts {
                last = store
                    .put(format!("k{i:03}"), vec![b'v'; value_len])
                    .unwrap();
            }
            done.store(true, Ordering::SeqCst);
            last
        })
    };
    (writer, done)
}

fn queue_full_then_overfull(timeout: Option<Duration>) {
    const PUTS: u32 = 400; // ~60 KiB of entries: far past a 16 KiB memtable
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::small(dir.path()).apply_queue_max(4);
    if let Some(timeout) = timeout {
        config = config.apply_lock_timeout(timeout);
    }
    let config = config.build().unwrap();
    let memtable_bytes = config.memtable_bytes;
    let overfull = memtable_bytes + memtable_bytes / 8;
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let core = store.hold_core_lock();
    // The applier takes a queued write off the queue before it waits for
    // the core lock. Let it take this one first: a write it took later
    // would free a slot for the blocked writer below, a short wait for a
    // slot (a stall) that a late-running applier made the test see.
    store.put("first", "v").unwrap();
    let deadline = Instant::now() + LONG;
    while store.queued_writes() > 0 {
        assert!(Instant::now() < deadline, "the applier never took it");
        std::thread::sleep(Duration::from_millis(1));
    }
    let (writer, done) = spawn_writer(&store, PUTS, 100);
    // The writer fills the queue, then inserts its writes itself (the
    // applier cannot), until the memtable is an eighth over its size.
    while store.queued_writes() < 4 || store.stats().unwrap().memtable_bytes < overfull {
        assert!(
            Instant::now() < deadline,
            "the writer never filled the memtable"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // From there it waits for a slot (backpressure): nothing more goes in.
    // (The write after the one that made it overfull may still be going
    // in when the loop above looks: wait until the size holds still.)
    let mut blocked_at = store.stats().unwrap().memtable_bytes;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = store.stats().unwrap().memtable_bytes;
        if now == blocked_at {
            break;
        }
        assert!(Instant::now() < deadline, "the writer never blocked");
        blocked_at = now;
    }
    assert!(!done.load(Ordering::SeqCst), "400 puts cannot fit");
    assert!(
        blocked_at < memtable_bytes + memtable_bytes / 4,
        "the writer went on past the overfull point: {blocked_at}"
    );
    assert_eq!(store.queued_writes(), 4);
    assert_eq!(
        store.visible_seq(),
        0,
        "the queued first writes hold the watermark back"
    );
    // Applying its writes itself was no stall; a wait for a slot is one
    // (recorded when it ends).
    let stalls = store.stats().unwrap().write_stalls;
    match timeout {
        None => assert_eq!(stalls, 0, "applying inline is not a stall"),
        Some(_) => assert!(stalls >= 1, "the wait in vain for a slot is a stall"),
    }
    drop(core);
    let last = writer.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    let stats = store.stats().unwrap();
    assert!(stats.write_stalls > stalls, "the blocked send is a stall");
    assert!(
        stats.write_stall_nanos >= Duration::from_millis(50).as_nanos() as u64,
        "{stats:?}"
    );
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(store.range(..).unwrap().count(), PUTS as usize + 1);
}

/// The queue holds at most a 32nd of `memtable_bytes` of batches, however
/// many slots `apply_queue_max` gives: past that, a writer whose write the
/// applier cannot take applies it itself, as when the queue is full.
#[test]
fn the_queue_takes_batches_up_to_a_32nd_of_the_memtable_then_writers_apply_themselves() {
    const PUTS: u32 = 400; // ~400 KiB: the memtable keeps room
    const VALUE: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .memtable_bytes(4 << 20)
        .build()
        .unwrap();
    assert!(
        config.apply_queue_max as u32 > PUTS,
        "slots are not the bound"
    );
    let queue_bytes_max = config.memtable_bytes / 32;
    let store = AsyncLsmStore::open(config).unwrap();
    let core = store.hold_core_lock();
    let mut last = 0;
    for i in 0..PUTS {
        last = store.put(format!("k{i:03}"), [b'v'; VALUE]).unwrap();
    }
    let queued = store.queued_writes();
    assert!(queued >= 1, "the first writes were queued");
    assert!(
        queued <= queue_bytes_max / VALUE + 1,
        "{queued} writes of {VALUE} bytes queued past {queue_bytes_max} bytes"
    );
    assert!(
        store.stats().unwrap().memtable_bytes >= (PUTS as usize - queued) * VALUE,
        "the writer applied the rest itself"
    );
    assert_eq!(
        store.visible_seq(),
        0,
        "the queued first writes hold it back"
    );
    drop(core);
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(store.range(..).unwrap().count(), PUTS as usize);
}

/// With the memtable overfull, a writer waits until the queue's bytes drop
/// below their bound before it queues (64 KiB for a small memtable), not
/// only for a slot.
#[test]
fn an_overfull_memtable_holds_writers_back_at_the_queue_bytes_bound() {
    const PUTS: u32 = 40; // 320 KiB: far past the 16 KiB memtable
    const VALUE: usize = 8 << 10;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap());
    let core = store.hold_core_lock();
    let (writer, done) = spawn_writer(&store, PUTS, VALUE);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!done.load(Ordering::SeqCst), "the writer is held back");
    let queued = store.queued_writes();
    assert!(
        (1..=(64 << 10) / VALUE + 1).contains(&queued),
        "{queued} writes of {VALUE} bytes queued"
    );
    drop(core);
    let last = writer.join().unwrap();
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(store.range(..).unwrap().count(), PUTS as usize);
}

/// Once one writer waited `apply_lock_timeout` for a slot in vain, the
/// writers after it apply at once until the applier takes a write again,
/// instead of each waiting the timeout: 20 puts take one timeout, not 15.
#[test]
fn after_one_vain_wait_for_the_applier_writers_apply_without_waiting_again() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .memtable_bytes(1 << 20)
        .apply_queue_max(4)
        .apply_lock_timeout(TIMEOUT)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let core = store.hold_core_lock();
    let started = Instant::now();
    let mut last = 0;
    for i in 0..20u32 {
        last = store.put(format!("k{i:03}"), [b'v'; 100]).unwrap();
    }
    let took = started.elapsed();
    assert!(took >= TIMEOUT, "one writer waited for a slot: {took:?}");
    assert!(
        took < 5 * TIMEOUT,
        "later writers waited again: 20 puts took {took:?}"
    );
    assert!(store.queued_writes() <= 4);
    assert!(
        store.stats().unwrap().memtable_bytes > 0,
        "applied by writers"
    );
    drop(core);
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(store.range(..).unwrap().count(), 20);
}

/// A segment that fills before the memtable (here a 4 MiB memtable and
/// 64 KiB segments) would otherwise rotate on a writer's thread, syncing
/// the whole segment and creating the next one there.
#[test]
fn the_applier_prepares_the_next_wal_segment_before_the_current_one_fills() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .memtable_bytes(4 << 20)
        .wal_segment_bytes(64 * 1024)
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    assert_eq!(store.stats().unwrap().wal_segments, 1);
    // 500 records of 122-123 bytes: past seven eighths of the segment
    // (57,344 bytes), short of full (65,536), so the WAL itself has not
    // rotated.
    for i in 0..500u32 {
        store.put(format!("k{i:05}"), [b'v'; 100]).unwrap();
    }
    let deadline = Instant::now() + LONG;
    while store.stats().unwrap().wal_segments < 2 {
        assert!(
            Instant::now() < deadline,
            "the next segment was never prepared"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let stats = store.stats().unwrap();
    assert_eq!(
        stats.wal_segments, 2,
        "the current one and the prepared one"
    );
    assert_eq!(stats.flushes, 0);
    assert!(stats.wal_bytes < 64 * 1024 + 29, "no rotation yet");
}

#[test]
fn wait_for_seq_fences_reads_across_threads() {
    const WRITERS: usize = 4;
    const PER_WRITER: u32 = 600;
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .apply_queue_max(16)
        .build()
        .unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    // Every acknowledged write: seq -> (key, value).
    let acked: Arc<Mutex<BTreeMap<u64, (String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let store = Arc::clone(&store);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    // Each key is written once, so its value is fixed.
                    let (key, value) = (format!("w{t}-{i:05}"), format!("v{t}-{i}"));
                    let seq = store.put(&key, &value).unwrap();
                    acked.lock().unwrap().insert(seq, (key, value));
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            let acked = Arc::clone(&acked);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut checks = 0usize;
                while !stop.load(Ordering::SeqCst) || checks == 0 {
                    let snapshot: Vec<(u64, (String, String))> = acked
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|(s, kv)| (*s, kv.clone()))
                        .collect();
                    let Some(&(target, _)) = snapshot.last() else {
                        std::thread::yield_now();
                        continue;
                    };
                    assert!(
                        store.wait_for_seq(target, LONG),
                        "watermark never reached {target}"
                    );
                    // Every write acknowledged up to `target` is visible.
                    for (seq, (key, value)) in snapshot.iter().rev().take(200) {
                        assert!(*seq <= target);
                        assert_eq!(
                            store.get(key).unwrap().as_deref(),
                            Some(value.as_bytes()),
                            "seq {seq}"
                        );
                    }
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let last = *acked.lock().unwrap().keys().last().unwrap();
    assert!(store.wait_for_seq(last, LONG));
    assert_eq!(
        store.range(..).unwrap().count(),
        WRITERS * PER_WRITER as usize
    );
    // The same state once everything is in tables.
    store.flush_memtable().unwrap();
    assert!(store.stats().unwrap().flushes > 0);
    assert_eq!(
        store.range(..).unwrap().count(),
        WRITERS * PER_WRITER as usize
    );
}

#[test]
fn reads_see_a_prefix_of_each_writers_writes() {
    // Writer threads write keys in increasing order; a reader that sees
    // key i of a writer must see every earlier key of that writer.
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .apply_queue_max(8)
        .build()
        .unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..800u32 {
                    store.put(format!("t{t}-{i:05}"), "v").unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let store = Arc::clone(&store);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let snapshot = store.snapshot().unwrap();
                for t in 0..3 {
                    let keys: Vec<Vec<u8>> = snapshot
                        .range(format!("t{t}-").as_str()..format!("t{t}.").as_str())
                        .unwrap()
                        .map(|r| r.unwrap().0)
                        .collect();
                    for (i, key) in keys.iter().enumerate() {
                        assert_eq!(
                            key,
                            format!("t{t}-{i:05}").as_bytes(),
                            "hole in writer {t}'s writes"
                        );
                    }
                }
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
}

#[test]
fn close_applies_queued_writes_and_refuses_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    for i in 0..500u32 {
        store.put(format!("k{i:04}"), format!("v{i}")).unwrap();
    }
    store.close().unwrap();
    let err = store.put("late", "x").unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(store.schedule_compaction(0).unwrap_err().is_closed());
    assert!(matches!(store.flush_memtable(), Err(e) if e.is_closed()));
    store.close().unwrap(); // idempotent
    drop(store);

    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    assert_eq!(
        store.visible_seq(),
        500,
        "reopen replays the WAL and continues sequence numbers"
    );
    assert_eq!(store.get("k0499").unwrap(), Some(b"v499".to_vec()));
    assert_eq!(store.put("next", "x").unwrap(), 501);
}

#[test]
fn oversized_and_empty_writes_are_refused_before_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    let err = store.write(&WriteBatch::new()).unwrap_err();
    assert!(
        matches!(err, Error::Store(lsm_store_sync::Error::Core(_))),
        "{err}"
    );
    let huge = vec![0u8; lsm_core::MAX_KEY_BYTES + 1];
    let err = store.put(&huge, "v").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Store(lsm_store_sync::Error::Core(
                lsm_core::Error::KeyTooLarge { .. }
            ))
        ),
        "{err}"
    );
    assert_eq!(
        store.last_seq(),
        0,
        "a refused write took a sequence number"
    );
    assert_eq!(store.put("ok", "v").unwrap(), 1);
}

#[test]
fn flush_memtable_writes_an_l0_table_and_drop_closes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store =
            AsyncLsmStore::open(common::small(dir.path()).l0_trigger(8).build().unwrap()).unwrap();
        for i in 0..100u32 {
            store.put(format!("k{i:03}"), "v").unwrap();
        }
        store.flush_memtable().unwrap();
        let stats = store.stats().unwrap();
        assert_eq!(stats.levels[0].files, 1);
        assert_eq!(stats.immutable_memtables, 0);
        store.put("after", "flush").unwrap();
        // Dropped without close: Drop closes (threads joined, WAL synced).
    }
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    assert_eq!(store.get("after").unwrap(), Some(b"flush".to_vec()));
    assert_eq!(store.get("k050").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn put_then_wait_for_seq_then_get_sees_the_own_write_from_several_threads() {
    // The async store's read-your-writes recipe, from threads that each
    // rewrite their own key and a shared one: after `wait_for_seq(seq)`
    // returns true, `get` returns the thread's value (own key) or a value
    // from a write at least as new (shared key).
    const WRITERS: usize = 4;
    const ITERATIONS: u32 = 1500;
    let dir = tempfile::tempdir().unwrap();
    let config = common::small(dir.path())
        .apply_queue_max(16)
        .build()
        .unwrap();
    let store = Arc::new(AsyncLsmStore::open(config).unwrap());
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let own = format!("own-{t}");
                // (own write's seq, value read back from the shared key)
                let mut shared_reads = Vec::new();
                for i in 0..ITERATIONS {
                    let value = format!("{t}-{i}");
                    let seq = store.put(&own, &value).unwrap();
                    assert!(store.wait_for_seq(seq, LONG), "fence timed out at {seq}");
                    assert_eq!(
                        store.get(&own).unwrap().as_deref(),
                        Some(value.as_bytes()),
                        "writer {t}: get after the fence missed its own write {seq}"
                    );
                    let seq = store.put("shared", &value).unwrap();
                    assert!(store.wait_for_seq(seq, LONG), "fence timed out at {seq}");
                    shared_reads.push((value, seq, store.get("shared").unwrap()));
                }
                shared_reads
            })
        })
        .collect();
    let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let seq_of: std::collections::HashMap<Vec<u8>, u64> = results
        .iter()
        .flatten()
        .map(|(value, seq, _)| (value.as_bytes().to_vec(), *seq))
        .collect();
    for (value, own_seq, read) in results.iter().flatten() {
        let read_seq = read.as_ref().and_then(|v| seq_of.get(v));
        assert!(
            read_seq.is_some_and(|s| s >= own_seq),
            "after writing {value} at {own_seq} the shared key read {read:?} (seq {read_seq:?})"
        );
    }
}

#[test]
fn wait_for_seq_accepts_duration_max_as_no_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap());
    let seq = store.put("a", "1").unwrap();
    assert!(store.wait_for_seq(seq, Duration::MAX));
    // Not reached yet when the wait starts: it must wait, not panic.
    let waiter = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.wait_for_seq(seq + 1, Duration::MAX))
    };
    std::thread::sleep(Duration::from_millis(20));
    store.put("b", "2").unwrap();
    assert!(
        waiter.join().unwrap(),
        "wait_for_seq(_, Duration::MAX) returned false"
    );
}

#[test]
fn absurd_config_values_are_refused_at_open_with_the_option_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, lsm_store_async::LsmConfigBuilder)> = vec![
        (
            "apply_queue_max",
            common::small(dir.path()).apply_queue_max(usize::MAX),
        ),
        (
            "apply_queue_max",
            common::small(dir.path()).apply_queue_max(0),
        ),
        (
            "apply_lock_timeout",
            common::small(dir.path()).apply_lock_timeout(Duration::MAX),
        ),
        (
            "compaction_workers",
            common::small(dir.path()).compaction_workers(usize::MAX),
        ),
    ];
    for (option, builder) in cases {
        // The builder refuses it...
        let err = builder.clone().build().unwrap_err();
        assert!(
            matches!(&err, lsm_store_sync::Error::InvalidConfig { option: o, .. } if *o == option),
            "{err}"
        );
        // ...and so does open, for a config assembled by hand.
        let mut config = common::small(dir.path()).build().unwrap();
        match option {
            "apply_queue_max" => config.apply_queue_max = usize::MAX,
            "apply_lock_timeout" => config.apply_lock_timeout = Duration::MAX,
            _ => config.compaction_workers = usize::MAX,
        }
        let err = AsyncLsmStore::open(config).unwrap_err();
        assert!(err.to_string().contains(option), "{err}");
    }
}

#[test]
fn close_releases_the_directory_lock_while_a_snapshot_is_alive() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    for i in 0..500u32 {
        store.put(format!("k{i:04}"), format!("v{i}")).unwrap();
    }
    let snapshot = store.snapshot().unwrap();
    store.close().unwrap();
    // The store handle and its snapshot are alive; the directory is free.
    let second = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    assert_eq!(second.get("k0499").unwrap(), Some(b"v499".to_vec()));
    second.put("next", "x").unwrap();
    let err = snapshot.get("k0001").unwrap_err();
    // Snapshots report the async store's error type too.
    assert!(
        matches!(err, Error::Store(lsm_store_sync::Error::Closed)),
        "{err}"
    );
    assert!(err.is_closed());
    assert!(store.get("k0001").unwrap_err().is_closed());
    drop((snapshot, store));
    second.close().unwrap();
}

#[test]
fn a_second_open_is_a_locked_error_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap();
    let err = AsyncLsmStore::open(common::small(dir.path()).build().unwrap()).unwrap_err();
    assert!(err.is_locked(), "{err}");
    assert!(!err.is_poisoned() && !err.is_closed() && !err.is_corruption());
    assert_eq!(err.path(), Some(dir.path()));
    store.close().unwrap();
}
