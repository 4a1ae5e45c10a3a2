//! Reads on a store whose data is partly hidden by range deletes, next to
//! the same reads without any: point gets of live and deleted keys, and a
//! 100-key scan across deleted ranges, with the range tombstones still in
//! the memtable and after they were flushed into the catalog. The cost a
//! range delete adds to a read is one lookup in each layer's range-tombstone
//! set per get, and a few comparisons per key a scan yields.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lsm_store_sync::{LsmConfig, SimpleLsmStore, SyncMode};

const KEYS: u64 = 100_000;
/// Every 10th block of 100 keys is range-deleted: 100 tombstones over 10%
/// of the keys.
const BLOCK: u64 = 100;
const VALUE: [u8; 100] = [b'v'; 100];

fn key(i: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(b"key:");
    k[4..].copy_from_slice(&i.to_be_bytes());
    k
}

fn config(dir: &std::path::Path) -> LsmConfig {
    LsmConfig::builder(dir)
        .memtable_bytes(64 << 20)
        .table_target_bytes(4 << 20)
        .base_level_bytes(16 << 20)
        .wal_sync(SyncMode::Never)
        .build()
        .unwrap()
}

/// A store holding `KEYS` keys in tables, with (when `deletes`) a range
/// delete over every 10th block of 100 keys, flushed (`flushed`) or in the
/// memtable.
fn store(deletes: bool, flushed: bool) -> (tempfile::TempDir, SimpleLsmStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SimpleLsmStore::open(config(dir.path())).unwrap();
    for i in 0..KEYS {
        store.put(key(i), VALUE).unwrap();
    }
    store.flush_memtable().unwrap();
    if deletes {
        for block in (0..KEYS / BLOCK).step_by(10) {
            store
                .delete_range(key(block * BLOCK)..key((block + 1) * BLOCK))
                .unwrap();
        }
        if flushed {
            store.flush_memtable().unwrap();
        }
    }
    (dir, store)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("range_delete");
    group.throughput(Throughput::Elements(1));
    for (name, deletes, flushed) in [
        ("none", false, false),
        ("memtable", true, false),
        ("catalog", true, true),
    ] {
        let (_dir, store) = store(deletes, flushed);
        let mut i = 0u64;
        group.bench_function(format!("get_live/{name}"), |b| {
            b.iter(|| {
                // Blocks 1..=9 of every 10 are live.
                i = (i + 7919) % (KEYS - BLOCK);
                let k = if (i / BLOCK).is_multiple_of(10) {
                    i + BLOCK
                } else {
                    i
                };
                black_box(store.get(key(k)).unwrap())
            })
        });
        let mut j = 0u64;
        group.bench_function(format!("get_deleted/{name}"), |b| {
            b.iter(|| {
                j = (j + 10 * BLOCK) % KEYS;
                black_box(store.get(key(j + 3)).unwrap())
            })
        });
        let mut s = 0u64;
        group.bench_function(format!("scan_100/{name}"), |b| {
            b.iter(|| {
                s = (s + 7919) % (KEYS - 1000);
                let pairs: Vec<_> = store
                    .range(key(s)..)
                    .unwrap()
                    .take(100)
                    .collect::<Result<_, _>>()
                    .unwrap();
                black_box(pairs)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
