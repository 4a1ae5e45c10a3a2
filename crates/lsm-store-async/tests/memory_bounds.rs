//! With many writers of large values, and with the flusher stalled (table
//! creation blocked), the async store holds at most (1 +
//! MAX_IMMUTABLE_MEMTABLES) memtables of about `memtable_bytes` × 9/8 plus
//! one write per writer thread and what the apply queue held (docs/async.md,
//! step 4). Found by a review: writers waited for a queue slot holding
//! their permits, so the overdue freeze could not take the gate, and 16
//! writers of 64 KiB values grew one 1 MiB memtable to 179 MB in 3 s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsm_store_async::{AsyncLsmStore, MAX_IMMUTABLE_MEMTABLES};

const MEMTABLE_BYTES: usize = 1 << 20;

fn stalled_flusher_bound(threads: usize, value_bytes: usize) {
    bound_check(threads, value_bytes, true)
}

fn bound_check(threads: usize, value_bytes: usize, stall: bool) {
    let dir = tempfile::tempdir().unwrap();
    let fs = common::TestFs::new();
    if stall {
        fs.tables.close();
    }
    let config = common::small(dir.path())
        .memtable_bytes(MEMTABLE_BYTES)
        .wal_segment_bytes(64 << 20)
        .table_target_bytes(4 << 20)
        .fs(fs.shared())
        .build()
        .unwrap();
    let store = AsyncLsmStore::open(config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let puts = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let stop = Arc::clone(&stop);
            let puts = Arc::clone(&puts);
            std::thread::spawn(move || {
                let value = vec![t as u8; value_bytes];
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    store.put(format!("t{t}-{i:010}"), &value).unwrap();
                    puts.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut max_mem = 0usize;
    let mut max_frozen = 0usize;
    let mut max_active = 0usize;
    let mut max_imm = 0usize;
    while started.elapsed() < Duration::from_secs(3) {
        let stats = store.stats().unwrap();
        max_mem = max_mem.max(stats.memtable_bytes + stats.immutable_bytes);
        max_frozen = max_frozen.max(stats.immutable_memtables);
        max_active = max_active.max(stats.memtable_bytes);
        max_imm = max_imm.max(stats.immutable_bytes);
        std::thread::sleep(Duration::from_millis(1));
    }
    let queued = store.queued_writes();
    // Let the writers go.
    stop.store(true, Ordering::Relaxed);
    fs.tables.open();
    for w in writers {
        w.join().unwrap();
    }
    // Per memtable, with slack for what is approximate: 9/8 of its size
    // (the overfull point) and an eighth more (the applier drains the
    // queue before it sees the memtable full); one write per writer applied
    // past the overfull check, and one more per writer that counted itself
    // into the queue after checking it; the queue's bytes (at least 64 KiB
    // of batches, which a memtable charges up to a quarter more: each
    // entry's overhead), twice over.
    let write = value_bytes + 128;
    let queue = (MEMTABLE_BYTES / 32).max(64 << 10) * 5 / 4;
    let per_memtable = MEMTABLE_BYTES + MEMTABLE_BYTES / 4 + 2 * threads * write + 2 * queue;
    let bound = (1 + MAX_IMMUTABLE_MEMTABLES) * per_memtable;
    println!(
        "{threads} writers x {value_bytes} B values, flusher stalled {stall}, 3 s: {} puts, max memtables \
         {max_mem} B (bound {bound}), max active {max_active}, max frozen bytes {max_imm}, max frozen {max_frozen}, queued at the end {queued}",
        puts.load(Ordering::Relaxed)
    );
    assert!(max_frozen <= MAX_IMMUTABLE_MEMTABLES);
    assert!(max_mem <= bound, "memtables held {max_mem} B > {bound} B");
    store.close().unwrap();
}

#[test]
fn stalled_flusher_many_writers_small_values() {
    stalled_flusher_bound(8, 100);
}

#[test]
fn stalled_flusher_many_writers_large_values() {
    stalled_flusher_bound(8, 16 << 10);
}

#[test]
fn stalled_flusher_many_writers_huge_values() {
    stalled_flusher_bound(16, 64 << 10);
}

/// Not even a slow flusher is needed: 16 writers of 64 KiB values.
#[test]
fn many_writers_huge_values_free_flusher() {
    bound_check(16, 64 << 10, false);
}
