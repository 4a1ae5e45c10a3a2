//! End-to-end store benchmarks: put (no sync), get hit and miss on a store
//! larger than its memtable, 100-key range scans, one seek forwards
//! (`range(k..).next()`) against one backwards (`range(..=k).next_back()`),
//! and prefix scans both ways.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

const KEYS: u64 = 200_000;
const VALUE: [u8; 100] = [b'v'; 100];

fn key(i: u64) -> [u8; 16] {
    // Spread keys over the space like db_bench's random keys.
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mixed.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(4 << 20)
        .table_target_bytes(4 << 20)
        .base_level_bytes(16 << 20)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

fn filled_store() -> (tempfile::TempDir, SimpleLsmStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    for i in 0..KEYS {
        store.put(key(i), VALUE).unwrap();
    }
    store.flush_memtable().unwrap();
    (dir, store)
}

fn bench_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    let mut i = 0u64;
    group.bench_function("put_nosync_100B", |b| {
        b.iter(|| {
            i += 1;
            store.put(key(i), VALUE).unwrap()
        })
    });
    group.finish();
}

fn bench_reads(c: &mut Criterion) {
    let (_dir, store) = filled_store();
    let stats = store.stats().unwrap();
    assert!(
        stats.total_files() > 1,
        "store should be bigger than its memtable"
    );
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(store.get(key(i)).unwrap().unwrap())
        })
    });
    group.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(store.get(key(i + KEYS)).unwrap())
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("range_100", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % KEYS;
                key(i)
            },
            |start| {
                let n = store.range(start.to_vec()..).unwrap().take(100).count();
                black_box(n)
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("range_100_rev", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % KEYS;
                key(i)
            },
            |end| {
                let n = store.range(..=end).unwrap().rev().take(100).count();
                black_box(n)
            },
            BatchSize::SmallInput,
        )
    });

    // One seek each way, to a key present in the store: the first key at or
    // after it, against the last key at or before it.
    group.throughput(Throughput::Elements(1));
    group.bench_function("seek_forward", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(store.range(key(i)..).unwrap().next().unwrap().unwrap())
        })
    });
    group.bench_function("seek_backward", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(
                store
                    .range(..=key(i))
                    .unwrap()
                    .next_back()
                    .unwrap()
                    .unwrap(),
            )
        })
    });

    // Every key under a one-byte prefix (1/256 of the store), both ways.
    let prefix = [0x42u8];
    let prefixed = store.prefix(prefix).unwrap().count() as u64;
    assert!(prefixed > 500, "{prefixed} keys under the prefix");
    println!("prefix_scan: {prefixed} keys under the prefix");
    group.throughput(Throughput::Elements(prefixed));
    group.bench_function("prefix_scan", |b| {
        b.iter(|| black_box(store.prefix(prefix).unwrap().count()))
    });
    group.bench_function("prefix_scan_rev", |b| {
        b.iter(|| black_box(store.prefix(prefix).unwrap().rev().count()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_put, bench_reads
}
criterion_main!(benches);
