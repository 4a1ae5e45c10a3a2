//! Values without a copy: `get` against `get_pinned`, and a 100-key scan
//! yielding `Vec` values against one yielding pinned `Bytes` and one
//! lending borrowed slices (`next_borrowed`), on a store
//! whose tables all sit in the block cache (the case pinning is for), with
//! 100-byte and 4 KiB values.
//!
//! `cargo bench -p lsm-benches --bench pinned`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

/// About 2 MiB of 100-byte values, 16 MiB of 4 KiB ones: both fit the
/// 64 MiB block cache.
const SHAPES: [(&str, usize, u64); 2] = [("100B", 100, 20_000), ("4KiB", 4096, 4_000)];

fn key(i: u64) -> [u8; 16] {
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mixed.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A store of `keys` values of `value_bytes`, flushed to tables, every
/// block read once so that the cache holds them all.
fn cached_store(value_bytes: usize, keys: u64) -> (tempfile::TempDir, SimpleLsmStore) {
    let dir = tempfile::tempdir().unwrap();
    let config = LsmConfig::builder(dir.path())
        .memtable_bytes(4 << 20)
        .table_target_bytes(4 << 20)
        .base_level_bytes(16 << 20)
        .block_cache_bytes(64 << 20)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap();
    let store = SimpleLsmStore::open(config).unwrap();
    let value = vec![b'v'; value_bytes];
    for i in 0..keys {
        store.put(key(i), &value).unwrap();
    }
    store.flush_memtable().unwrap();
    assert_eq!(store.iter().unwrap().count() as u64, keys);
    let warm = store.stats().unwrap();
    assert_eq!(store.iter().unwrap().count() as u64, keys);
    let after = store.stats().unwrap();
    assert_eq!(
        after.block_cache_misses, warm.block_cache_misses,
        "a second scan must read only cached blocks"
    );
    (dir, store)
}

fn bench_pinned(c: &mut Criterion) {
    for (name, value_bytes, keys) in SHAPES {
        let (_dir, store) = cached_store(value_bytes, keys);
        let mut group = c.benchmark_group(format!("pinned_{name}"));
        let mut i = 0u64;
        group.throughput(Throughput::Elements(1));
        group.bench_function("get", |b| {
            b.iter(|| {
                i = (i + 7919) % keys;
                black_box(store.get(key(i)).unwrap().unwrap())
            })
        });
        group.bench_function("get_pinned", |b| {
            b.iter(|| {
                i = (i + 7919) % keys;
                black_box(store.get_pinned(key(i)).unwrap().unwrap())
            })
        });
        group.throughput(Throughput::Elements(100));
        group.bench_function("scan_100_vec", |b| {
            b.iter_batched(
                || {
                    i = (i + 7919) % keys;
                    key(i).to_vec()
                },
                |start| {
                    for item in store.range(start..).unwrap().take(100) {
                        black_box(item.unwrap());
                    }
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function("scan_100_pinned", |b| {
            b.iter_batched(
                || {
                    i = (i + 7919) % keys;
                    key(i).to_vec()
                },
                |start| {
                    for item in store.range(start..).unwrap().pinned().take(100) {
                        black_box(item.unwrap());
                    }
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function("scan_100_borrowed", |b| {
            b.iter_batched(
                || {
                    i = (i + 7919) % keys;
                    key(i).to_vec()
                },
                |start| {
                    let mut iter = store.range(start..).unwrap();
                    for _ in 0..100 {
                        let Some(item) = iter.next_borrowed() else {
                            break;
                        };
                        black_box(item.unwrap());
                    }
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
        let stats = store.stats().unwrap();
        println!(
            "pinned_{name}: block cache {} hits, {} misses",
            stats.block_cache_hits, stats.block_cache_misses
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench_pinned
}
criterion_main!(benches);
