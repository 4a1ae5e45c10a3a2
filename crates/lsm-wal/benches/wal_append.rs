//! WAL append throughput: no-sync appends, synced appends from one thread,
//! and synced appends from four threads (group commit shares fsyncs).
//!
//! `cargo bench -p lsm-wal -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsm_core::{OsFileSystem, WriteBatch};
use lsm_wal::{SyncMode, WalOptions, WalWriter};

fn batch(i: u64) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(format!("key{i:012}").as_bytes(), [0xAB; 100]);
    batch
}

fn writer(dir: &tempfile::TempDir, sync_mode: SyncMode) -> WalWriter {
    let options = WalOptions {
        sync_mode,
        // Rotate often enough that the bench never builds a huge file.
        segment_bytes: 16 << 20,
        ..WalOptions::default()
    };
    WalWriter::create(OsFileSystem::shared(), dir.path(), 1, 1, options).unwrap()
}

/// Runs `iters` synced appends spread over `threads` threads; returns the
/// wall time.
fn synced_appends(wal: &Arc<WalWriter>, threads: u64, iters: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let wal = Arc::clone(wal);
            let share = iters / threads + u64::from(t < iters % threads);
            scope.spawn(move || {
                for i in 0..share {
                    wal.append_with(&batch(i), true).unwrap();
                }
            });
        }
    });
    start.elapsed()
}

fn bench_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append");
    group.throughput(Throughput::Elements(1));

    let dir = tempfile::tempdir().unwrap();
    let wal = writer(&dir, SyncMode::Never);
    let b = batch(7);
    group.bench_function("no_sync_100B", |bench| {
        bench.iter(|| wal.append(&b).unwrap());
    });
    // The same in a process with a second thread, as a store always has
    // (Linux skips some per-file locking while a process has one thread).
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let other = std::thread::spawn(move || parked.recv());
    group.bench_function("no_sync_100B_two_threads", |bench| {
        bench.iter(|| wal.append(&b).unwrap());
    });
    drop(stop);
    let _ = other.join();
    drop(wal);

    for threads in [1u64, 4] {
        let dir = tempfile::tempdir().unwrap();
        let wal = Arc::new(writer(&dir, SyncMode::Always));
        group.bench_function(format!("synced_100B_{threads}_threads"), |bench| {
            bench.iter_custom(|iters| synced_appends(&wal, threads, iters));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_append
}
criterion_main!(benches);
